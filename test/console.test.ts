import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { useFakeTime } from './support/fake-time';
import { createRig, Rig, cid } from '../sim/alarm-rig';
import { buildFirmware, MODULE_IMG, moduleSha } from '../tools/commission';
import { MODULE_PIECE } from '../tools/installer-link';
import { UNLOAD_MS } from '../firmware/console';
import type { SimUnit } from '../sim/unit';

/**
 * The installer's console in the boot image (firmware/console.ts): the installer service and the
 * config check live in a module in their own flash sector, loaded only while used. Whatever that
 * sector holds (nothing, a damaged header, another build's module), the unit protects as before;
 * the console says why it cannot serve and which image runs, and takes a module written to it only
 * when it is the one its image names.
 */
const T0 = Date.UTC(2026, 11, 1, 9, 0, 0);

describe('installer module: loaded from its own sector, checked against the image', function () {
  this.timeout(120_000);
  const fake = useFakeTime(T0);
  let rig: Rig;
  let img: Buffer;
  let firmwareImg: string;
  let nextId = 1;
  before(async function () {
    this.timeout(120_000);
    firmwareImg = await buildFirmware('ESPRUINOWIFI');
    img = fs.readFileSync(MODULE_IMG);
  });
  afterEach(async () => rig && (await rig.close()));

  /** One request at the console; the reply the unit printed for it. */
  async function ask(u: SimUnit, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = nextId++;
    const from = u.sim.world.console.output.length;
    u.sim.world.console.send('\x10I(' + JSON.stringify({ id, ...req }) + ')\n');
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    const line = u.sim.world.console.output
      .slice(from)
      .find((l) => l.startsWith('@I ') && JSON.parse(l.slice(3)).id === id);
    assert.ok(line, `no reply to ${String(req.op)}: ${u.sim.world.console.output.slice(from).join(' | ')}`);
    return JSON.parse(line.slice(3));
  }

  /** Boot again on what the code sector now holds, the image expecting this build's module. */
  async function reboot(u: SimUnit, set: (c: SimUnit['sim']['world']['code']) => void): Promise<void> {
    u.sim.world.code.expect = moduleSha(img);
    u.sim.world.image = new Uint8Array(fs.readFileSync(firmwareImg));
    set(u.sim.world.code);
    u.powerCut();
    await rig.run(3000);
  }

  async function panicStillGoes(): Promise<void> {
    const before = rig.alarms().filter((e) => cid(e) === '1 120 001').length;
    rig.unit!.sim.world.button.press(2000);
    await rig.until(() => rig.alarms().filter((e) => cid(e) === '1 120 001').length > before, 15_000);
    assert.ok(rig.alarms().filter((e) => cid(e) === '1 120 001').length > before, 'the panic reached the centre');
  }

  for (const [what, set, why] of [
    ['an erased sector (a fresh board)', (c: SimUnit['sim']['world']['code']) => (c.state = 'absent'), 'absent'],
    [
      'a header that does not read',
      (c: SimUnit['sim']['world']['code']) => (c.bytes = new Uint8Array(c.size).fill(0x41)),
      'damaged'
    ],
    [
      "another build's module",
      (c: SimUnit['sim']['world']['code']) => {
        c.bytes = new Uint8Array(c.size).fill(0xff);
        c.bytes.set(img);
        c.bytes[40] ^= 1; // one bit of the text: not the module this image names
      },
      'other-build'
    ]
  ] as const) {
    it(`${what}: the unit protects on its config; the console answers no-module (${why}) with its image; the right module written to it is taken`, async () => {
      rig = await createRig(() => fake.clock);
      const u = rig.boot();
      await rig.run(2000);
      await reboot(u, set);
      assert.ok(rig.unit!.app.status(), 'booted');
      assert.match(u.sim.world.log.map((l) => l.message).join('\n'), new RegExp(`installer module not loaded: ${why}`));
      const r = await ask(u, { op: 'info' });
      assert.equal(r.ok, false);
      assert.equal(r.error, 'no-module');
      assert.equal(r.why, why);
      assert.equal(r.board, u.sim.hal.system.board);
      assert.match(String(r.fwHash), /^[0-9a-f]{64}$/);
      // The config it was given still runs: the panic goes out under its account.
      await panicStillGoes();
      assert.ok(rig.alarms().every((e) => e.account === rig.config.account));
      // Written in pieces and checked: then the installer answers.
      for (let at = 0; at < img.length; at += MODULE_PIECE) {
        const w = await ask(u, { op: 'code', at, data: img.subarray(at, at + MODULE_PIECE).toString('base64') });
        assert.deepEqual([w.ok, w.at], [true, Math.min(at + MODULE_PIECE, img.length)]);
      }
      assert.equal((await ask(u, { op: 'code', done: true })).ok, true);
      const info = await ask(u, { op: 'info' });
      assert.equal(info.ok, true, JSON.stringify(info));
      assert.equal(info.account, rig.config.account);
    });
  }

  it("a module that is not this image's is refused when written (code-bad), and nothing is served from it", async () => {
    rig = await createRig(() => fake.clock);
    const u = rig.boot();
    await rig.run(2000);
    await reboot(u, (c) => (c.state = 'absent'));
    const bad = Buffer.from(img);
    bad[100] ^= 4;
    for (let at = 0; at < bad.length; at += MODULE_PIECE)
      assert.equal(
        (await ask(u, { op: 'code', at, data: bad.subarray(at, at + MODULE_PIECE).toString('base64') })).ok,
        true
      );
    const done = await ask(u, { op: 'code', done: true });
    assert.deepEqual([done.ok, done.error, done.why], [false, 'code-bad', 'other-build']);
    assert.equal((await ask(u, { op: 'info' })).error, 'no-module');
    // Pieces out of the sector or off a word boundary are refused and write nothing.
    for (const at of [-4, 2, u.sim.world.code.size - 4]) {
      const r = await ask(u, { op: 'code', at, data: Buffer.alloc(8).toString('base64') });
      assert.deepEqual([r.ok, r.error, r.why], [false, 'code-bad', 'range'], `at ${at}`);
    }
    await panicStillGoes();
  });

  it('the module is dropped 30 minutes after the last request and loaded again by the next one', async () => {
    rig = await createRig(() => fake.clock);
    const u = rig.boot();
    await rig.run(2000);
    const code = u.sim.world.code;
    const loads = code.loads;
    assert.equal((await ask(u, { op: 'info' })).ok, true);
    assert.equal(code.loads, loads + 1, 'loaded by the request');
    assert.equal((await ask(u, { op: 'info' })).ok, true);
    assert.equal(code.loads, loads + 1, 'held while the session goes on');
    await rig.run(UNLOAD_MS + 60_000, 5000);
    assert.equal((await ask(u, { op: 'info' })).ok, true);
    assert.equal(code.loads, loads + 2, 'dropped after 30 minutes, loaded again');
  });
});
