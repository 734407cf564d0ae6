import { strict as assert } from 'node:assert';
import { useFakeTime } from './support/fake-time';
import { createRig, Rig } from '../sim/alarm-rig';
import * as net from 'node:net';
import { SimModem } from '../sim/modem';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

/**
 * The device's own cellular driver (hal/espruino/cellular.ts) on the sim serial port, against the
 * AT modem emulator (sim/modem.ts), whose sockets reach the simulated secondary receiver for real.
 * Wi-Fi is cut so every alarm must cross the modem.
 */
describe('cellular modem recovery: the device driver against an AT modem emulator', function () {
  this.timeout(120_000);
  const fake = useFakeTime(T0);
  let rig: Rig;
  let modem: SimModem;
  afterEach(async () => rig && (await rig.close()));

  async function start(opts: { off?: boolean } = {}) {
    rig = await createRig(() => fake.clock);
    modem = new SimModem(opts);
    const u = rig.boot({ modem, micOff: true });
    u.sim.world.paths.wifi!.cut();
    return u;
  }
  const cellUp = () => !!rig.unit!.sim.hal.links.cellular!.status().up;
  const viaSecondary = (code: string) =>
    rig.secondary.alarms().filter((e) => e.cid?.code === code && e.cid.qualifier === 1).length;

  async function panicGetsThrough(): Promise<number> {
    const before = viaSecondary('120');
    const t = fake.clock.now;
    rig.unit!.sim.world.button.press(2000);
    await rig.until(() => viaSecondary('120') > before, 60_000);
    assert.equal(viaSecondary('120'), before + 1, 'the panic reached the secondary receiver through the modem');
    return fake.clock.now - t;
  }

  it('powers an off modem on, registers, and carries an alarm over it with its signal reported', async () => {
    await start({ off: true });
    await rig.until(cellUp, 60_000);
    assert.ok(cellUp());
    assert.equal(modem.powerOns, 1);
    assert.ok(modem.commands.includes('AT+CIICR'));
    assert.equal(rig.unit!.sim.hal.links.cellular!.status().rssiDbm, -73); // CSQ 20
    const ms = await panicGetsThrough();
    assert.ok(ms < 15_000, `${ms} ms`);
  });

  it('a 4 KB write (an evidence chunk) crosses in sends of at most 1,460 bytes, the SIM800 limit, intact and in order', async () => {
    const got: Buffer[] = [];
    const peers: net.Socket[] = [];
    const server = net.createServer((c) => {
      peers.push(c);
      c.on('data', (d) => got.push(d));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      await start();
      await rig.until(cellUp, 60_000);
      const data = Array.from({ length: 4000 }, (_, i) => String.fromCharCode(i & 255)).join('');
      let closed: string | undefined = 'open';
      const conn = rig.unit!.sim.hal.links.cellular!.connect(
        { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, transport: 'tcp', timeoutMs: 10_000 },
        { onOpen: () => assert.ok(conn.write(data)), onData: () => undefined, onClose: (e) => (closed = e) }
      );
      await rig.until(() => Buffer.concat(got).length >= 4000, 30_000);
      assert.equal(Buffer.concat(got).toString('latin1'), data);
      assert.equal(closed, 'open', 'the connection stays up');
      const port = (server.address() as net.AddressInfo).port;
      const link = modem.commands.find((c) => c.startsWith('AT+CIPSTART=') && c.endsWith(',' + port))!.charAt(12);
      const sends = modem.commands
        .filter((c) => c.startsWith('AT+CIPSEND=' + link + ','))
        .map((c) => Number(c.split(',')[1]));
      assert.deepEqual(sends, [1460, 1460, 1080]);
      conn.close();
    } finally {
      for (const p of peers) p.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it('a send the modem never answers: the socket is closed in the modem, and the next connection reaches its own server, not the old one', async () => {
    const got: Record<string, string> = { a: '', b: '' };
    const peers: net.Socket[] = [];
    const serve = (k: 'a' | 'b') =>
      net.createServer((c) => {
        peers.push(c);
        c.on('data', (d) => (got[k] += d.toString('latin1')));
      });
    const a = serve('a');
    const b = serve('b');
    await Promise.all([a, b].map((x) => new Promise<void>((r) => x.listen(0, '127.0.0.1', () => r()))));
    const portOf = (x: net.Server) => (x.address() as net.AddressInfo).port;
    try {
      await start();
      await rig.until(cellUp, 60_000);
      const link = rig.unit!.sim.hal.links.cellular!;
      let first: string | undefined = 'open';
      const c1 = link.connect(
        { host: '127.0.0.1', port: portOf(a), transport: 'tcp', timeoutMs: 10_000 },
        {
          onOpen: () => {
            // The modem takes the next send in and never answers it (lost on a bad line).
            modem.faults.ignore = { prefix: 'AT+CIPSEND', count: 1 };
            assert.ok(c1.write('to-a'));
          },
          onData: () => undefined,
          onClose: (e) => (first = e)
        }
      );
      await rig.until(() => first !== 'open', 30_000);
      assert.equal(first, 'send failed');
      let opened = false;
      const c2 = link.connect(
        { host: '127.0.0.1', port: portOf(b), transport: 'tcp', timeoutMs: 10_000 },
        { onOpen: () => (opened = c2.write('to-b')), onData: () => undefined, onClose: () => undefined }
      );
      await rig.until(() => got.b.length >= 4 || got.a.includes('to-b'), 30_000);
      assert.ok(opened);
      assert.equal(got.b, 'to-b', 'the bytes reach the server they were meant for');
      assert.equal(got.a, '', 'and never the old peer');
      const linkA = modem.commands.find((c) => c.startsWith('AT+CIPSTART=') && c.endsWith(',' + portOf(a)))!.charAt(12);
      assert.ok(modem.commands.includes('AT+CIPCLOSE=' + linkA), 'the failed socket was closed in the modem');
      c2.close();
    } finally {
      for (const p of peers) p.destroy();
      await Promise.all([a, b].map((x) => new Promise((r) => x.close(r))));
    }
  });

  it('AT command timeouts: the path goes down and comes back without a power cycle', async () => {
    await start();
    await rig.until(cellUp, 60_000);
    modem.faults.ignore = { prefix: 'AT+CREG?', count: 1 }; // the next supervision poll goes unanswered
    await rig.until(() => !cellUp(), 40_000);
    assert.ok(!cellUp(), 'a timeout takes the path down');
    assert.equal(modem.faults.ignore.count, 0);
    await rig.until(cellUp, 60_000);
    assert.ok(cellUp(), 'and it comes back');
    assert.equal(modem.powerOffs, 0, 'one timeout is not a dead modem');
    await panicGetsThrough();
  });

  it('a modem that stops answering is power-cycled through its key and re-registers; the alarm goes through', async () => {
    await start();
    await rig.until(cellUp, 60_000);
    modem.hang();
    await rig.until(() => modem.powerOffs === 1 && modem.powerOns === 1 && cellUp(), 180_000);
    assert.deepEqual([modem.powerOffs, modem.powerOns, cellUp()], [1, 1, true]);
    await panicGetsThrough();
  });

  it('the network drops the data context but the modem stays registered: +PDP: DEACT takes the path down, bring-up runs again, the alarm goes through', async () => {
    await start();
    await rig.until(cellUp, 60_000);
    const shuts = modem.commands.filter((c) => c === 'AT+CIPSHUT').length;
    modem.pdpDeact();
    await rig.until(() => !cellUp(), 5_000);
    assert.ok(!cellUp(), 'down within 5 s of +PDP: DEACT');
    await rig.until(cellUp, 60_000);
    assert.ok(cellUp());
    assert.equal(modem.commands.filter((c) => c === 'AT+CIPSHUT').length, shuts + 1, 'bring-up again, from AT+CIPSHUT');
    assert.equal(modem.powerOffs, 0);
    await panicGetsThrough();
  });

  it('the modem restarts by itself (a supply dip) and says nothing, as an autobauding SIM800 does: the poll finds the data context gone, and the alarm goes through', async () => {
    await start();
    await rig.until(cellUp, 60_000);
    modem.restart();
    // Registered again 5 s later: only AT+CIFSR (ERROR: no context, single-connection mode) tells.
    await rig.until(() => !cellUp(), 45_000);
    assert.ok(!cellUp(), 'down within one 30 s poll');
    await rig.until(cellUp, 60_000);
    assert.ok(cellUp());
    await panicGetsThrough();
  });

  it('the modem restarts and says so (RDY, Call Ready, SMS Ready): the path goes down at once and comes back', async () => {
    await start();
    await rig.until(cellUp, 60_000);
    const t = fake.clock.now;
    modem.restart({ urc: true });
    await rig.until(() => !cellUp(), 10_000);
    assert.ok(!cellUp());
    assert.ok(fake.clock.now - t < 10_000, `${fake.clock.now - t} ms`);
    await rig.until(cellUp, 60_000);
    await panicGetsThrough();
  });

  it('deregistration: the path is reported down, the modem re-registers when the network returns', async () => {
    await start();
    await rig.until(cellUp, 60_000);
    modem.deregister({ backAfterMs: 45_000 });
    await rig.until(() => !cellUp(), 40_000);
    assert.ok(!cellUp());
    await rig.until(cellUp, 120_000);
    assert.ok(cellUp());
    assert.equal(modem.powerOffs, 0);
    await panicGetsThrough();
  });

  it('a registration that never comes back by itself is cured by a power cycle', async () => {
    await start();
    await rig.until(cellUp, 60_000);
    modem.deregister({ stuck: true });
    await rig.until(() => modem.powerOffs >= 1 && cellUp(), 300_000);
    assert.ok(modem.powerOffs >= 1 && cellUp(), `power offs ${modem.powerOffs}, up ${cellUp()}`);
    await panicGetsThrough();
  });
});
