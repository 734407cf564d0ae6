import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

const ROOT = path.join(__dirname, '..');

/** Type-check one snippet under the device settings (tsconfig.device.json); returns tsc's errors. */
function deviceErrors(code: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'device-tsc-'));
  fs.writeFileSync(path.join(dir, 'snippet.ts'), code);
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: path.join(ROOT, 'tsconfig.device.json'),
      compilerOptions: { typeRoots: [path.join(ROOT, 'node_modules', '@types')] },
      include: [],
      files: [path.join(dir, 'snippet.ts'), path.join(ROOT, 'hal', 'platform.d.ts')]
    })
  );
  const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  return r.stdout + r.stderr;
}

describe('device type-checking context (firmware/ and hal/)', function () {
  this.timeout(60_000);

  it('rejects Node APIs and the ES features Espruino lacks, line by line', () => {
    const lines = [
      'const a = Buffer.from("x");',
      'const b = process.argv;',
      'const c = new Map<string, number>();',
      'const d = new Set<number>();',
      'const e = Array.from("ab");',
      'const f = Number.isInteger(1);',
      'const g = Symbol("x");',
      'const h = "abc".codePointAt(0);', // (Object.freeze is ES5 and so type-checks: the build's gate rejects it)
      'const i = __dirname;'
    ];
    const out = deviceErrors(lines.join('\n') + '\nexport {};\n');
    for (let n = 1; n <= lines.length; n++) {
      assert.match(
        out,
        new RegExp(`snippet\\.ts\\(${n},\\d+\\): error`),
        `line ${n} (${lines[n - 1]}) should not compile:\n${out}`
      );
    }
  });

  it('accepts what the interpreter has', () => {
    const out = deviceErrors(
      [
        'const a = new Uint8Array(4); a.fill(1); a.set([2], 1);',
        'const s = "x".padStart(3) + "y".repeat(2); s.startsWith("x");',
        'const o = Object.assign({}, { k: 1 }); Object.keys(o);',
        'Promise.resolve(1).then(function (v) { return v; });',
        '[1, 2].find(function (x) { return x > 1; });',
        'export {};'
      ].join('\n')
    );
    assert.equal(out.trim(), '');
  });
});
