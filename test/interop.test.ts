import { strict as assert } from 'node:assert';
import { useFakeTime } from './support/fake-time';
import { createRig, Rig, cid } from '../sim/alarm-rig';
import { RECEIVER_QUIRKS } from '../sim/centre';
import type { CentreEvent } from '../sim/centre';

/**
 * Receivers in the field (docs/reporting.md): every receiver profile, on both receivers, against a
 * whole unit whose clock starts 15 s fast. Each of {reset, link test, panic, panic with the
 * recording reference, cancel, duress, restore} is acknowledged within 10 s of being raised, none
 * is lost, and no event reaches the centre under two numbers.
 */
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
const PROFILES = ['standard', ...Object.keys(RECEIVER_QUIRKS)];

describe('interop: every receiver profile x every kind of event', function () {
  this.timeout(120_000);
  const fake = useFakeTime(T0);
  let rig: Rig;
  afterEach(async () => rig && (await rig.close()));

  for (const profile of PROFILES) {
    it(`${profile}: reset, link test, panic, panic + recording reference, cancel, duress, restore: each acknowledged within 10 s, once, one number`, async () => {
      rig = await createRig(
        () => fake.clock,
        (c) => {
          c.alarmS = 60;
          c.gestures.cancelTaps = 3;
          c.gestures.duressTaps = 5;
        },
        { primary: profile, secondary: profile }
      );
      const u = rig.boot({ wallOffsetMs: 15_000 });
      const acked = (code: string, q: number, after: number) =>
        rig.alarms().filter((e) => e.cid?.code === code && e.cid.qualifier === q && e.at >= after);
      const within = async (what: string, cond: () => boolean) => {
        const took = await rig.until(cond, 10_000);
        assert.ok(cond(), `${profile}: ${what} not acknowledged within 10 s`);
        return took;
      };

      await within('the reset (305)', () => acked('305', 1, 0).length === 1);
      // Supervision: a link test each way, and the path still counted alive.
      await rig.run(100_000, 1000);
      const nulls = rig.primary.events().filter((e) => e.id === 'NULL');
      assert.ok(nulls.length >= 1, `${profile}: link tests sent`);
      assert.ok(
        u.app.status().routes.every((r) => r.ok),
        `${profile}: no path reported failed`
      );
      assert.equal(rig.alarms().filter((e) => e.cid?.code === '350').length, 0, `${profile}: no communication trouble`);

      const hold = async () => {
        const n = u.app.status().triggers;
        u.sim.world.button.press(2000);
        await rig.until(() => u.app.status().triggers > n, 5000);
        const at = fake.clock.now;
        await rig.run(1000, 100);
        return at;
      };
      const taps = async (n: number) => {
        for (let i = 0; i < n; i++) {
          u.sim.world.button.press(200);
          await rig.run(400, 50);
        }
        await rig.run(1600, 100);
        return fake.clock.now;
      };

      let at = await hold();
      await within('the panic', () => acked('120', 1, at).length === 1);
      // A second hold during the alarm names the recording.
      at = await hold();
      await within('the panic with the recording reference', () => acked('120', 1, at).length === 1);
      const withRef = [...rig.primary.events(), ...rig.secondary.events()].filter(
        (e) => e.cid?.code === '120' && e.reply === 'ACK' && e.at >= at
      );
      assert.ok(
        withRef.some((e) => e.xdata.some((x) => x.startsWith('V'))),
        `${profile}: the recording reference reached the centre`
      );
      at = await taps(3);
      await within('the cancel (406)', () => acked('406', 1, at - 2000).length === 1);
      at = await taps(5);
      await within('the duress (121)', () => acked('121', 1, at - 2000).length === 1);
      await rig.run(60_000, 500);
      await within('the restore (3 120)', () => acked('120', 3, 0).length === 1);
      await rig.until(() => u.app.status().pending === 0, 30_000);
      assert.equal(u.app.status().pending, 0, `${profile}: nothing owed`);

      // Nothing lost, nothing twice under another number.
      const recs = u.app.journal.records();
      const events = recs.filter((r) => r.k === 'ev');
      for (const ev of events) {
        assert.ok(
          recs.some((r) => r.k === 'ok' && r.r === ev.i),
          `${profile}: event ${ev.c} delivered`
        );
      }
      const all: CentreEvent[] = [...rig.primary.events(), ...rig.secondary.events()].filter(
        (e) => e.id !== 'NULL' && e.reply === 'ACK'
      );
      const byEvent = new Map<string, Set<string>>();
      for (const e of all) {
        const k = cid(e);
        const seqs = byEvent.get(k) ?? new Set();
        seqs.add(e.seq);
        byEvent.set(k, seqs);
      }
      for (const ev of events) {
        const k = `${ev.q} ${ev.c} ${String(ev.z).padStart(3, '0')}`;
        const seqs = [...(byEvent.get(k) ?? [])];
        const mine = events
          .filter((x) => `${x.q} ${x.c} ${String(x.z).padStart(3, '0')}` === k)
          .map((x) => String(x.n).padStart(4, '0'));
        for (const s of seqs)
          assert.ok(
            mine.includes(s),
            `${profile}: ${k} reached the centre under ${s}, a number the unit never gave it`
          );
      }
      assert.ok(
        Math.abs(u.sim.hal.clock.wall() - Date.now()) <= 5000,
        `${profile}: the clock within 5 s of the receivers'`
      );
    });
  }
});
