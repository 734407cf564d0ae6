import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';
import * as zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import * as sinon from 'sinon';
import { createFlashStore } from '../firmware/flash-store';
import { createSimCrypto } from '../sim/crypto';
import { aesSizes } from './support/aes-spare';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const build = require('../build.js') as {
  buildBoard(
    board: string,
    o: { quiet: boolean }
  ): Promise<{ file: string; bytes: number; image: string; imageBytes: number; budget: number }>;
  imageFile(board: string): string;
  BUDGETS: Record<string, number>;
};
const ROOT = path.join(__dirname, '..');
const SHARED_BOARDS = path.join(ROOT, '..', 'shared', 'boards');

describe('build.js: Espruino-ready bundles', function () {
  this.timeout(120_000);

  for (const board of Object.keys(build.BUDGETS)) {
    it(`${board}: bundles, lowers to ES5, passes the gate and fits its budget`, async () => {
      const r = await build.buildBoard(board, { quiet: true });
      assert.ok(fs.existsSync(r.file) && fs.existsSync(r.image));
      assert.ok(r.imageBytes > 1000 && r.imageBytes <= r.budget, `image ${r.imageBytes} bytes, budget ${r.budget}`);
      // Pretokenising shrinks the image (Espruino's lexer tokens replace keywords and literals).
      assert.ok(r.imageBytes < r.bytes * 0.95, `image ${r.imageBytes} B vs bundle ${r.bytes} B`);
      // One composition file per board: this board's alone is in the image, and no driver only
      // another board names (the source map lists every file the bundle holds).
      const sources: string[] = JSON.parse(fs.readFileSync(r.file + '.map', 'utf8')).sources;
      const boardFiles = sources.filter((f) => /hal\/espruino\/boards\//.test(f)).map((f) => path.basename(f, '.ts'));
      const own = { ESPRUINOWIFI: 'espruino-wifi', PICO_R1_3: 'pico', MDBT42Q: 'mdbt42q', LINUX: 'linux' }[board];
      assert.deepEqual(boardFiles, [own]);
      const has = (m: string) => sources.some((f) => f.endsWith(`hal/espruino/${m}.ts`));
      assert.equal(has('esp8266'), board === 'ESPRUINOWIFI', 'the ESP8266 driver only on the Espruino WiFi');
      assert.equal(
        has('aes'),
        board === 'PICO_R1_3' || board === 'MDBT42Q',
        'the JavaScript AES only without native AES'
      );
      assert.equal(has('linux'), board === 'LINUX', 'the Linux console and benchmark microphone only on LINUX');
      if (!has('aes')) {
        // The AES spare run (hal/espruino/crypto.ts) survives the minifier: taken again after each
        // piece, into its variable. terser drops a variable that is only written, and then the
        // image allocates the run and lets it go at once.
        const { piece, spare } = aesSizes();
        assert.ok(spare > piece, 'AES_PIECE and AES_SPARE read from hal/espruino/crypto.ts');
        const js = fs.readFileSync(r.file, 'utf8');
        assert.match(js, new RegExp(`[\\w$]=new Uint8Array\\(${spare}\\)`), 'the spare is assigned, not dropped');
      }
      assert.equal(
        has('cellular'),
        board === 'ESPRUINOWIFI' || board === 'PICO_R1_3',
        'the modem driver only where a modem is wired'
      );
    });
  }

  it('fails a bundle over its size budget, saying so', async () => {
    const saved = build.BUDGETS.LINUX;
    build.BUDGETS.LINUX = 1000;
    try {
      await assert.rejects(build.buildBoard('LINUX', { quiet: true }), /over its budget of 1000/);
    } finally {
      build.BUDGETS.LINUX = saved;
    }
  });

  it('the CLI refuses an unknown board and option with a clear message', () => {
    const r = spawnSync(process.execPath, ['build.js', '--board', 'NOPE'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown board NOPE; known: ESPRUINOWIFI/);
  });

  const boards = fs.existsSync(SHARED_BOARDS)
    ? fs
        .readdirSync(SHARED_BOARDS)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5))
    : [];
  for (const board of boards) {
    it(`--out for ${board}: the Espruino tools write offline exactly the code that would be sent`, () => {
      const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fw-out-')), 'upload.js');
      const r = spawnSync(process.execPath, ['build.js', '--board', board, '--out', out], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 90_000
      });
      assert.equal(r.status, 0, r.stderr + r.stdout);
      const sent = fs.readFileSync(out, 'utf8');
      // The upload writes the bundle into Storage as .bootcde in chunks, then starts it.
      const chunks = [...sent.matchAll(/require\("Storage"\)\.write\("\.bootcde",atob\("([A-Za-z0-9+/=]+)"\)/g)].map(
        (m) => Buffer.from(m[1], 'base64')
      );
      assert.ok(chunks.length > 0, 'no .bootcde writes in the output');
      // What is stored is the pretokenised boot image, byte for byte.
      assert.ok(
        Buffer.concat(chunks).equals(fs.readFileSync(build.imageFile(board))),
        'stored bytes differ from the boot image'
      );
      assert.match(sent, /\nload\(\)\s*$/);
    });
  }
  if (boards.length === 0) it.skip('--out (no ../shared/boards beside the checkout)');
});

/**
 * A minimal Espruino in a Node vm context: enough of the interpreter's API for the LINUX bundle
 * (Storage with StorageFiles, timers on sinon's fake clock, console keys). It runs the shipped,
 * minified file, so wiring mistakes in the bundle show up here in CI without the real binary.
 */
function fakeEspruino(clock: sinon.SinonFakeTimers) {
  const files = new Map<string, string>();
  const out: string[] = [];
  let keys: ((d: string) => void) | undefined;
  const storage = {
    read: (n: string) => files.get(n),
    write: (n: string, d: string) => (files.set(n, d), true),
    erase: (n: string) => files.delete(n),
    list: () => [...files.keys()],
    getFree: () => 200_000 - [...files.values()].reduce((a, b) => a + b.length, 0),
    getStats: () => ({
      freeBytes: 200_000 - [...files.values()].reduce((a, b) => a + b.length, 0),
      trashBytes: 0,
      fileBytes: 0,
      fileCount: files.size,
      trashCount: 0
    }),
    compact: () => {},
    open: (n: string, mode: string) => {
      let pos = 0;
      return {
        read: (len: number) => {
          const s = (files.get(n) ?? '').slice(pos, pos + len);
          pos += s.length;
          return s.length ? s : undefined;
        },
        write: (d: string) => {
          if (mode === 'r') throw new Error('read-only');
          files.set(n, (files.get(n) ?? '') + d);
        },
        erase: () => files.delete(n),
        getLength: () => (files.get(n) ?? '').length
      };
    }
  };
  // The host file system the Linux build keeps its spool in (the folder AUDIO), in memory.
  const disk = new Map<string, Buffer>();
  const dirs = new Set<string>();
  const bytes = (d: string | Uint8Array) => (typeof d === 'string' ? Buffer.from(d, 'latin1') : Buffer.from(d));
  const fs = {
    readdirSync: (p: string) =>
      dirs.has(p) ? [...disk.keys()].filter((k) => k.startsWith(p + '/')).map((k) => k.slice(p.length + 1)) : undefined,
    mkdirSync: (p: string) => (dirs.add(p), true),
    statSync: (p: string) => (disk.has(p) ? { size: disk.get(p)!.length } : undefined),
    writeFileSync: (p: string, d: string | Uint8Array) => (disk.set(p, bytes(d)), true),
    appendFileSync: (p: string, d: string | Uint8Array) => (
      disk.set(p, Buffer.concat([disk.get(p) ?? Buffer.alloc(0), bytes(d)])),
      true
    ),
    readFileSync: (p: string) => disk.get(p)?.toString('latin1'),
    unlinkSync: (p: string) => disk.delete(p)
  };
  const openFile = (p: string, mode: string) => {
    let pos = 0;
    return {
      seek: (n: number) => void (pos = n),
      read: (n: number) => {
        const b = (disk.get(p) ?? Buffer.alloc(0)).subarray(pos, pos + n);
        pos += b.length;
        return b.length ? b.toString('latin1') : undefined;
      },
      write: (d: string | Uint8Array) => (mode === 'a' ? fs.appendFileSync(p, d) : fs.writeFileSync(p, d), d.length),
      close: () => {}
    };
  };
  // The Linux build's flash: a 256 KB file at 0x10000000 in 1 KB pages, not memory-mapped.
  const FLASH_AT = 0x10000000;
  const flashBytes = Buffer.alloc(256 * 1024, 0xff);
  const Flash = {
    getFree: () => [{ addr: FLASH_AT, length: flashBytes.length }],
    getPage: (a: number) => ({ addr: a - ((a - FLASH_AT) % 1024), length: 1024 }),
    erasePage: (a: number) =>
      flashBytes.fill(0xff, a - FLASH_AT - ((a - FLASH_AT) % 1024), a - FLASH_AT - ((a - FLASH_AT) % 1024) + 1024),
    write: (d: string, a: number) => {
      const b = Buffer.from(d, 'latin1');
      for (let i = 0; i < b.length; i++) flashBytes[a - FLASH_AT + i] &= b[i];
    },
    read: (n: number, a: number) => new Uint8Array(flashBytes.subarray(a - FLASH_AT, a - FLASH_AT + n))
  };
  const modules: Record<string, unknown> = {
    Storage: storage,
    Flash,
    fs,
    crypto: { SHA256: () => new ArrayBuffer(32) }
  };
  const ctx: Record<string, unknown> = {
    getTime: () => Date.now() / 1000,
    setTimeout: (fn: () => void, ms: number) => clock.setTimeout(fn, ms),
    setInterval: (fn: () => void, ms: number) => clock.setInterval(fn, ms),
    clearTimeout: (id: number) => clock.clearTimeout(id as any),
    clearInterval: (id: number) => clock.clearInterval(id as any),
    console: { log: (...a: unknown[]) => out.push(a.join(' ')) },
    E: {
      CRC32: (s: string) => zlib.crc32(Buffer.from(s, 'latin1')),
      hwRand: () => 42,
      setConsole: () => {},
      toArrayBuffer: (s: string) => new Uint8Array(Buffer.from(s, 'latin1')).buffer,
      toString: (a: Uint8Array) => Buffer.from(a).toString('latin1'),
      toUint8Array: (s: string) => new Uint8Array(Buffer.from(s, 'latin1')),
      mapInPlace: (from: Uint8Array, to: Uint16Array, map: Uint16Array) => from.forEach((v, i) => (to[i] = map[v])),
      // The LINUX profile's microphone checks its loop's arrays are flat (hal/espruino/linux.ts): a flat array has an address.
      getAddressOf: () => 0x20000000,
      openFile
    },
    LoopbackA: {},
    LoopbackB: { on: () => {} },
    USB: { on: (_e: string, fn: (d: string) => void) => (keys = fn), write: () => {} },
    process: { memory: () => ({ free: 4000, total: 5000 }), on: () => undefined, env: { BOARD: 'LINUX' } },
    quit: () => {},
    Date,
    JSON,
    Math
  };
  ctx.global = ctx;
  ctx.require = (name: string) => {
    if (!(name in modules)) throw new Error(`module ${name} not in the fake`);
    return modules[name];
  };
  /** The record store's area, as the device HAL places it: the top 48 KB of the flash file. */
  const area = {
    sectorBytes: 16 * 1024,
    sectors: 3,
    erase: () => undefined,
    write: () => undefined,
    read: (sec: number, off: number, n: number) =>
      flashBytes
        .subarray(
          flashBytes.length - 48 * 1024 + sec * 16 * 1024 + off,
          flashBytes.length - 48 * 1024 + sec * 16 * 1024 + off + n
        )
        .toString('latin1')
  };
  return { ctx: vm.createContext(ctx), files, out, area, key: (k: string) => keys && keys(k) };
}

describe('the shipped LINUX bundle, run on a minimal Espruino API in Node', () => {
  it('boots, journals, and raises a panic on a held press from the console', async () => {
    await build.buildBoard('LINUX', { quiet: true });
    const clock = sinon.useFakeTimers({ now: Date.UTC(2026, 10, 23), toFake: ['Date'] });
    try {
      const esp = fakeEspruino(clock);
      vm.runInContext(fs.readFileSync(path.join(ROOT, 'dist', 'firmware-linux.js'), 'utf8'), esp.ctx);
      assert.ok(
        esp.out.some((l) => /^info boot \S+ unit UNCOMMISSIONED on LINUX$/.test(l)),
        esp.out.join('\n')
      );
      clock.tick(500);
      esp.key('p');
      clock.tick(1400);
      assert.ok(!esp.out.some((l) => l.includes('panic')));
      clock.tick(200);
      esp.key('r');
      assert.ok(
        esp.out.some((l) => /^info panic: button held 1500 ms$/.test(l)),
        esp.out.join('\n')
      );
      // The journal is in the record store on raw flash (nothing was written to Storage).
      assert.deepEqual([...esp.files.keys()], [], 'Storage untouched in service');
      const journal = createFlashStore(esp.area, createSimCrypto()).appendFile('j.0').read();
      const recs = journal
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l.slice(0, l.lastIndexOf('~'))));
      // Uncommissioned, no receiver: it shows and journals that it can report to no one.
      assert.deepEqual(
        recs.map((r) => (r.k === 'ev' ? `ev${r.c}/${r.q}` : r.k)),
        ['boot', 'reach', 'sq', 'ev305/1', 'ev120/1']
      );
    } finally {
      clock.restore();
    }
  });
});
