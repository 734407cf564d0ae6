import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { useFakeTime } from './support/fake-time';
import { createRig, Rig, cid } from '../sim/alarm-rig';
import { encodeReply, openFrame } from '../firmware/dc09';
import { keyBytes } from '../firmware/config';
import { createSimCrypto } from '../sim/crypto';
import { SIM_KEYS } from '../sim/default-config';
import type { Config } from '../firmware/config';
import { loose } from './support/loose-record';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

describe('alarm path: a press becomes an acknowledged alarm at the centre', function () {
  this.timeout(120_000);
  const fake = useFakeTime(T0);
  let rig: Rig;
  const make = async (tweak?: (c: Config) => void) => (rig = await createRig(() => fake.clock, tweak));
  afterEach(async () => rig && (await rig.close()));

  /** Press and hold; returns fake `now` when the hold qualified. */
  async function hold(ms = 2000): Promise<number> {
    const before = rig.unit!.app.status().triggers;
    rig.unit!.sim.world.button.press(ms);
    await rig.until(() => rig.unit!.app.status().triggers > before, 5000);
    return fake.clock.now;
  }
  const panics = () => rig.alarms().filter((e) => e.cid?.code === '120' && e.cid.qualifier === 1);
  const okFor = (code: number) => {
    const recs = rig.unit!.app.journal.records();
    const ev = recs.filter((r) => r.k === 'ev' && r.c === code);
    return ev.map((e) => recs.find((r) => r.k === 'ok' && r.r === e.i));
  };

  it('a press is acknowledged (encrypted ADM-CID), journalled first and marked delivered, then confirmed on the LED', async () => {
    await make();
    const u = rig.boot();
    await rig.run(1000);
    const ledBefore = u.sim.world.led.history.length;
    const at = await hold();
    await rig.until(() => panics().length === 1 && u.app.status().pending === 0, 10_000);
    const [p] = panics();
    assert.equal(cid(p), '1 120 001');
    assert.ok(p.encrypted);
    assert.equal(p.account, '1234');
    assert.ok(p.at - at < 1000, `acknowledged ${p.at - at} ms after the trigger`);
    const recs = u.app.journal.records();
    const ev = recs.find((r) => r.k === 'ev' && r.c === 120)!;
    assert.equal(String(loose(ev).n).padStart(4, '0'), p.seq, 'the journalled sequence number is the one sent');
    const ok = recs.find((r) => r.k === 'ok' && r.r === ev.i)!;
    assert.ok(ok.i > ev.i, 'journalled before, delivered after');
    await rig.run(1000);
    assert.ok(u.sim.world.led.history.length > ledBefore, 'the acknowledgement is shown');
    assert.equal(u.sim.world.buzzer.history.length, 0, 'silent');
    assert.equal(rig.primary.rejected().length, 0);
  });

  it('with the primary path cut, the alarm is acknowledged via the secondary inside 10 s', async () => {
    await make();
    const u = rig.boot();
    await rig.run(2000);
    u.sim.world.paths.wifi!.cut();
    const at = await hold();
    const took = await rig.until(() => panics().length === 1, 15_000);
    assert.equal(panics().length, 1);
    assert.ok(rig.secondary.alarms().some((e) => e.cid?.code === '120'));
    assert.ok(panics()[0].at - at <= 10_000, `took ${panics()[0].at - at} ms`);
    assert.ok(took <= 10_000);
  });

  it('with the primary receiver silent (link up, no replies), the panic went on the secondary at once: a silent primary costs nothing', async () => {
    await make();
    const u = rig.boot();
    await rig.run(2000);
    rig.primary.faults.drop = Infinity;
    const at = await hold();
    await rig.until(() => panics().length === 1, 15_000);
    const p = panics()[0];
    assert.ok(rig.secondary.alarms().includes(p));
    assert.ok(p.at - at < 1000, `took ${p.at - at} ms`);
    assert.equal(u.app.status().pending, 0);
    const ev = u.app.journal.records().find((r) => r.k === 'ev' && r.c === 120)!;
    assert.equal(p.seq, String(loose(ev).n).padStart(4, '0'), 'the journal number on both routes');
  });

  it('an urgent event goes on both routes at once under one number; the centre keeps one, the unit settles both', async () => {
    await make();
    const u = rig.boot();
    await rig.run(2000);
    await hold();
    await rig.until(() => u.app.status().pending === 0 && u.app.status().inflight === 0, 10_000);
    const copies = [...rig.primary.events(), ...rig.secondary.events()].filter((e) => e.cid?.code === '120');
    assert.equal(copies.length, 2, 'one copy per route');
    assert.equal(copies[0].seq, copies[1].seq);
    assert.equal(rig.alarms().filter((e) => e.cid?.code === '120').length, 1, 'one alarm at the centre');
    const recs = u.app.journal.records();
    assert.equal(
      recs.filter((r) => r.k === 'ok').length,
      recs.filter((r) => r.k === 'ev').length,
      'each event settled once'
    );
    await rig.run(30_000);
    assert.equal(
      copies.length,
      [...rig.primary.events(), ...rig.secondary.events()].filter((e) => e.cid?.code === '120').length,
      'no resend after delivery'
    );
  });

  it('with both receivers down for 10 minutes, the alarm is delivered after they return, once', async () => {
    await make();
    const u = rig.boot();
    await rig.run(2000);
    rig.primary.faults.down = true;
    rig.secondary.faults.down = true;
    await hold();
    await rig.run(10 * 60_000, 1000);
    assert.equal(panics().length, 0);
    assert.ok(u.app.status().pending >= 1);
    rig.primary.faults.down = false;
    rig.secondary.faults.down = false;
    const took = await rig.until(() => u.app.status().pending === 0, 120_000);
    assert.equal(panics().length, 1);
    assert.ok(took <= 31_000, `delivered ${took} ms after the receivers returned (retry cap 30 s)`);
    assert.ok(
      panics()[0].xdata.some((x) => x.startsWith('H')),
      'a late event carries its own time'
    );
  });

  it('a power cut between the journal write and the send still ends in delivery after boot, same number', async () => {
    await make();
    const u = rig.boot();
    await rig.run(2000);
    u.sim.world.button.press(2000);
    // Step fake time without letting any socket I/O happen, until the panic is journalled.
    while (u.app.status().triggers === 0) fake.clock.tick(10);
    const ev = u.app.journal.records().find((r) => r.k === 'ev' && r.c === 120)!;
    u.powerCut();
    await rig.until(() => panics().length === 1 && rig.unit!.app.status().pending === 0, 20_000);
    assert.equal(panics()[0].seq, String(loose(ev).n).padStart(4, '0'));
    assert.equal(rig.alarms().filter((e) => e.cid?.code === '120').length, 1);
  });

  it('a reboot mid-retry still ends in delivery, with the same sequence number and no duplicate', async () => {
    await make();
    const u = rig.boot();
    await rig.run(2000);
    rig.primary.faults.drop = Infinity;
    rig.secondary.faults.drop = Infinity;
    await hold();
    await rig.run(25_000, 500);
    const ev = u.app.journal.records().find((r) => r.k === 'ev' && r.c === 120)!;
    u.sim.world.power.unplug();
    u.powerCut();
    rig.primary.faults.drop = 0;
    rig.secondary.faults.drop = 0;
    await rig.until(() => panics().length === 1 && rig.unit!.app.status().pending === 0, 30_000);
    assert.deepEqual(
      panics().map((e) => e.seq),
      [String(loose(ev).n).padStart(4, '0')]
    );
    const seqs = rig.alarms().map((e) => e.seq);
    assert.equal(new Set(seqs).size, seqs.length, 'no number used twice');
  });

  it('a NAK corrects the unit clock and the same frame is resent', async () => {
    await make();
    const u = rig.boot({ wallOffsetMs: -15 * 60_000 });
    await rig.until(() => u.app.status().pending === 0, 20_000);
    const naks = rig.primary.events().filter((e) => e.reply === 'NAK');
    assert.ok(naks.length >= 1, 'the drifted clock was refused first');
    assert.ok(Math.abs(u.sim.hal.clock.wall() - Date.now()) < 2000, 'clock corrected');
    const resets = rig.primary.events().filter((e) => e.cid?.code === '305');
    assert.deepEqual(
      resets.map((e) => e.reply),
      ['NAK', 'ACK']
    );
    assert.equal(resets[0].seq, resets[1].seq);
    assert.deepEqual(
      resets[0].xdata.map((x) => x[0]),
      resets[1].xdata.map((x) => x[0]),
      'the same form: the time was the problem'
    );
    assert.ok(u.sim.world.log.some((l) => /clock corrected/.test(l.message)));
  });

  it('a NAK whose time agrees with the unit clock is not about time: the event goes again at once, same number, leaner', async () => {
    await make();
    const u = rig.boot();
    await rig.run(2000);
    rig.primary.faults.nak = 1;
    rig.secondary.faults.down = true;
    await hold();
    await rig.until(() => u.app.status().pending === 0, 10_000);
    const tries = rig.primary.events().filter((e) => e.cid?.code === '120');
    assert.deepEqual(
      tries.map((e) => e.reply),
      ['NAK', 'ACK']
    );
    assert.equal(tries[0].seq, tries[1].seq);
    assert.ok(tries[1].at - tries[0].at < 1000, 'resent at once, not after a backoff');
    assert.equal(tries[0].xdata.length, 2, 'first in full: the recording reference and the event time');
    assert.deepEqual(
      tries[1].xdata.map((x) => x[0]),
      ['V'],
      'then with one block: the recording reference'
    );
    const recs = u.app.journal.records();
    const ev = recs.find((r) => r.k === 'ev' && r.c === 120)!;
    assert.equal(
      loose(recs.find((r) => r.k === 'ok' && r.r === ev.i)).f,
      1,
      'the journal says which form was delivered'
    );
  });

  it('forged ACKs (wrong key) and ACKs naming another sequence number are not acknowledgements', async () => {
    await make((c) => (c.report.receivers = [c.report.receivers[0]]));
    const u = rig.boot();
    await rig.run(2000);
    const log = () => u.sim.world.log.map((l) => l.message).join('\n');
    for (const [knob, why] of [
      // A wrong key decrypts to garbage: refused as undecryptable, or (rarely) for its garbled timestamp.
      ['wrongKey', /reply ignored: (undecryptable|bad timestamp|timestamp outside)/],
      ['wrongSeq', /reply ignored: names another frame/]
    ] as const) {
      rig.primary.faults[knob] = 2;
      const before = okFor(120).length;
      await hold();
      await rig.run(8000, 250);
      assert.match(log(), why);
      assert.equal(okFor(120)[before], undefined, `${knob}: not delivered on a forged reply`);
      assert.equal(u.app.status().pending, 1);
      await rig.until(() => okFor(120)[before] !== undefined, 60_000);
      assert.equal(rig.primary.faults[knob], 0, 'settled only by the genuine ACK after the forgeries');
      u.sim.world.log.length = 0;
      await rig.run(1000);
    }
  });

  it('a replayed old ACK (right key and number, stale time) is not an acknowledgement', async () => {
    await make();
    const crypto = createSimCrypto();
    const key = keyBytes(SIM_KEYS.primary) as string;
    // A rogue receiver that answers every frame with a genuine-looking ACK recorded an hour ago.
    const rogue = net.createServer((s) => {
      s.on('data', (d) => {
        const body = openFrame(d.toString('latin1'));
        if (typeof body !== 'string') return;
        const seq = body.slice(body.indexOf('"', 1) + 1, body.indexOf('"', 1) + 5);
        s.write(
          encodeReply(crypto, 'ACK', seq, { account: '1234', line: '1', receiver: '1', key }, Date.now() - 3600_000)
        );
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => rogue.listen(0, '127.0.0.1', r));
    try {
      rig.config.report.receivers = [
        { ...rig.config.report.receivers[0], port: (rogue.address() as net.AddressInfo).port }
      ];
      const u = rig.boot();
      await rig.run(2000);
      await hold();
      await rig.run(20_000, 250);
      assert.ok(u.sim.world.log.some((l) => /timestamp outside the window/.test(l.message)));
      assert.equal(okFor(120)[0], undefined, 'never marked delivered');
      assert.ok(u.app.status().pending >= 2);
    } finally {
      rig.unit?.shutdown();
      rig.unit = undefined;
      await new Promise<void>((r) => rogue.close(() => r()));
    }
  });

  it('a DUH is answered by the event in its minimal form, same number, not by the same frame', async () => {
    await make();
    const u = rig.boot();
    await rig.run(3000);
    rig.primary.faults.duh = 1;
    rig.secondary.faults.duh = 1;
    await hold();
    await rig.run(15_000);
    const tries = [...rig.primary.events(), ...rig.secondary.events()].filter((e) => e.cid?.code === '120');
    assert.deepEqual(tries.map((e) => e.reply).sort(), ['ACK', 'ACK', 'DUH', 'DUH']);
    for (const t of tries.filter((e) => e.reply === 'DUH')) assert.equal(t.xdata.length, 2, 'refused in full');
    for (const t of tries.filter((e) => e.reply === 'ACK'))
      assert.deepEqual(
        t.xdata.map((x) => x[0]),
        ['V'],
        'resent leaner'
      );
    assert.equal(new Set(tries.map((e) => e.seq)).size, 1, 'one number');
    assert.equal(u.app.status().pending, 0);
    assert.equal(rig.alarms().filter((e) => e.cid?.code === '354').length, 0, 'delivered: no trouble');
  });

  it('a receiver that refuses the event in every form: 354 over the route that works, the event stays owed and backs off, 3 354 once delivered', async () => {
    await make();
    const u = rig.boot();
    await rig.run(3000);
    // The primary refuses 120 in any form (DUH); the secondary is down.
    rig.primary.faults.duhCodes = ['120'];
    rig.secondary.faults.down = true;
    await hold();
    await rig.until(() => u.app.journal.records().some((r) => r.k === 'duh'), 20_000);
    await rig.until(() => rig.primary.alarms().some((e) => cid(e) === '1 354 001' || cid(e) === '1 354 002'), 40_000);
    assert.equal(u.app.status().pending >= 1, true, 'the panic is still owed');
    await rig.run(300_000, 1000);
    // Each refusal goes through the forms (full, one block, minimal), then waits 1, 2, 4 … s.
    const full = rig.primary
      .events()
      .filter((e) => e.cid?.code === '120' && e.xdata.length === 2)
      .map((e) => e.at);
    const gaps = full.slice(1).map((t, i) => t - full[i]);
    assert.ok(full.length >= 5 && full.length <= 10, `${full.length} rounds in 5 minutes: backing off, not spinning`);
    for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i] >= gaps[i - 1], `gaps grow: ${gaps.join(', ')} ms`);
    rig.secondary.faults.down = false;
    await rig.until(() => rig.secondary.alarms().some((e) => e.cid?.code === '120'), 60_000);
    await rig.until(() => rig.alarms().some((e) => cid(e) === '3 354 002' || cid(e) === '3 354 001'), 30_000);
    assert.equal(rig.alarms().filter((e) => e.cid?.code === '120' && e.cid.qualifier === 1).length, 1);
  });
});
