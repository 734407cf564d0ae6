/**
 * The installer tool's `--port` path (tools/installer-link.ts serialTransport, through the Espruino
 * tools' own Node socket code) against boards played by a TCP server here: a unit running our
 * firmware whose USB leaves the bus at a reset, and a bare Espruino fresh from the factory. The
 * whole path against the release interpreter is `npm run test:espruino` (tools/espruino-wifi.ts).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Session, serialTransport } from '../tools/installer-link';
import {
  FLASH_ATTEMPTS,
  PATHS_WAIT_MS,
  commission,
  simSiteActions,
  buildFirmware,
  readConfigFile,
  CommissionResult,
  Site
} from '../tools/commission';
import { createSimSite, SimSite } from '../sim/site';
import type { Config } from '../firmware/config';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface FakeBoard {
  port: number;
  /** Every line the host sent. */
  lines: string[];
  connections: number;
  /** A reset: the USB device leaves the bus (the host's connection is dropped). */
  reset(): void;
  close(): Promise<void>;
}

/** A console on TCP answering line by line: `bare` plays an Espruino with no firmware of ours. */
async function fakeBoard(bare: boolean): Promise<FakeBoard> {
  let client: net.Socket | undefined;
  const board: FakeBoard = {
    port: 0,
    lines: [],
    connections: 0,
    reset: () => client?.destroy(),
    close: () => new Promise((r) => server.close(() => r()))
  };
  const server = net.createServer((s) => {
    board.connections++;
    client = s;
    let buf = '';
    s.on('error', () => undefined);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        board.lines.push(line);
        const id = /"id":(\d+)|id:(\d+)/.exec(line);
        const n = id ? Number(id[1] ?? id[2]) : 0;
        if (bare && line.startsWith('\x10I('))
          s.write('Uncaught ReferenceError: "I" is not defined\r\n    at REPL (:1:1)\r\n>');
        else if (bare && line.startsWith('\x10print("@I "'))
          s.write(
            `>@I {"id":${n},"ok":true,"board":"ESPRUINOWIFI","fw":"none (Espruino 2v29)","commissioned":false}\r\n>`
          );
        else if (!bare && line.startsWith('\x10I('))
          s.write(`\x1b[J@I {"unit":"U1","board":"ESPRUINOWIFI","commissioned":false,"id":${n},"ok":true}\r\n>`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  board.port = (server.address() as net.AddressInfo).port;
  return board;
}

function portConfig(): Config {
  return {
    ...(readConfigFile(path.join(__dirname, '..', 'examples', 'unit.json')) as Config),
    unitId: 'PORT-0001'
  } as Config;
}

describe('installer --port: the Espruino tools’ connection code against a console on TCP', function () {
  this.timeout(60000);

  it('asks and is answered through the tools; a reset drops the connection and the transport opens it again', async () => {
    const b = await fakeBoard(false);
    const s = new Session(await serialTransport(`tcp://127.0.0.1:${b.port}`, { openMs: 3000 }));
    try {
      const first = await s.request('info', {}, { timeoutMs: 3000 });
      assert.equal(first.ok, true);
      assert.equal(first.unit, 'U1');
      b.reset();
      await sleep(100);
      // Written while the port is away: not sent, so no answer; the tool asks again.
      const after = await s.waitForUnit(8000);
      assert.equal(after.ok, true, 'the unit answers once the port is back');
      assert.equal(b.connections, 2, 'one reconnection');
    } finally {
      await s.close();
      await b.close();
    }
  });

  it('a port nobody listens on gives a clear error within its time, not a hang', async () => {
    const b = await fakeBoard(false);
    const port = b.port;
    await b.close();
    const t0 = Date.now();
    await assert.rejects(
      serialTransport(`tcp://127.0.0.1:${port}`, { openMs: 800 }),
      /cannot open tcp:\/\/127\.0\.0\.1:\d+ \(no answer within 0\.8 s\)/
    );
    assert.ok(Date.now() - t0 < 5000);
  });

  it('a bare Espruino (no firmware of ours) is found as such: the tool asks its board, never types the password, and flashes it', async () => {
    const b = await fakeBoard(true);
    const port = `tcp://127.0.0.1:${b.port}`;
    const flashed: string[] = [];
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'port-'));
    const log: string[] = [];
    const password = 'Bare-Board-pw1';
    const site: Site = {
      connect: async () => new Session(await serialTransport(port, { openMs: 3000 })),
      flash: async (board) => {
        flashed.push(board);
        throw new Error('no tools flash here');
      },
      pressButton: async () => undefined,
      sawIndicator: async () => false
    };
    try {
      const r = await commission({
        config: portConfig(),
        installerId: 'T',
        password,
        site,
        firmware: async () => {
          const f = path.join(outDir, 'fw.img');
          fs.writeFileSync(f, 'image');
          return f;
        },
        outDir,
        log: (l) => log.push(l)
      });
      assert.ok(
        log.some((l) => /Connect\.+ ok: board ESPRUINOWIFI, firmware none \(Espruino 2v29\), not commissioned/.test(l)),
        log.join('\n')
      );
      assert.deepEqual(flashed, Array(FLASH_ATTEMPTS).fill('ESPRUINOWIFI'), 'flashed, and once more after a failure');
      assert.ok(
        log.some((l) =>
          new RegExp(`Firmware\\.+ FAIL flashed ${FLASH_ATTEMPTS} times, never verified: no tools flash here`).test(l)
        ),
        log.join('\n')
      );
      assert.equal(r.ok, false);
      assert.equal(r.untouched, true);
      assert.ok(!b.lines.some((l) => l.includes(password)), 'the password never reached the bare REPL');
    } finally {
      await b.close();
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  });
});

/** Commission the simulated site's unit with its own config, the installer's actions changed by `tweak`. */
async function commissionSim(
  tweak: (site: SimSite, actions: Site) => void
): Promise<{ r: CommissionResult; log: string[] }> {
  const site = await createSimSite();
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'port-sim-'));
  try {
    const actions = simSiteActions(site);
    tweak(site, actions);
    const log: string[] = [];
    const r = await commission({
      config: site.config,
      installerId: 'T',
      password: 'Install3r-Pass',
      site: actions,
      firmware: buildFirmware,
      outDir,
      log: (l) => log.push(l)
    });
    return { r, log };
  } finally {
    await site.close();
    fs.rmSync(outDir, { recursive: true, force: true });
  }
}

describe('installer: an image the unit does not verify is flashed once more (sim site)', function () {
  this.timeout(120000);

  it('a corrupted first flash: the unit reports another SHA-256, the tool flashes again and goes on', async () => {
    let n = 0;
    const { r, log } = await commissionSim((site, actions) => {
      const flash = actions.flash;
      actions.flash = async (board, file) => {
        await flash(board, file);
        // A glitch on the line: one byte of the first image arrives wrong.
        if (++n === 1) site.unit.sim.world.image![100] ^= 0x20;
      };
    });
    assert.equal(n, 2);
    const fw = log.find((l) => /Firmware\.+/.test(l)) ?? '';
    assert.match(
      fw,
      /flashed ESPRUINOWIFI .* verified \(attempt 2: the unit then reported image [0-9a-f]{16}…, not [0-9a-f]{16}…\)/
    );
    assert.equal(r.ok, true, log.join('\n'));
  });
});

describe('installer: a path still joining after the restart is waited for (sim site)', function () {
  this.timeout(120000);

  it('Wi-Fi cut as the steps begin and back 8 s later: the paths step asks again and passes', async () => {
    const { r, log } = await commissionSim((site, actions) => {
      const press = actions.pressButton;
      // The path drops as the steps begin, and returns 8 s later (after the paths step first asks).
      actions.pressButton = async () => {
        site.unit.sim.world.paths.wifi!.cut();
        setTimeout(() => site.unit.sim.world.paths.wifi!.restore(), 8000);
        await press();
      };
    });
    assert.ok(
      log.some((l) => /Paths up and signal\.+ PASS wifi up/.test(l)),
      log.join('\n')
    );
    assert.equal(r.ok, true, log.join('\n'));
    assert.ok(PATHS_WAIT_MS >= 8000);
  });
});
