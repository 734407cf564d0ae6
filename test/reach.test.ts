import { strict as assert } from 'node:assert';
import { useFakeTime } from './support/fake-time';
import { createRig, Rig, cid } from '../sim/alarm-rig';
import { createIndicatorDriver, ACK_BLINK, NO_REPORT } from '../firmware/indicator';
import { createSimClock } from '../sim/clock';
import { SimOutput } from '../sim/hal';

/**
 * A unit that cannot report to anyone shows it (issue #17): no receiver configured, or every path
 * rated failed. The indicator plays `NO_REPORT` (one long glow every 20 s) whenever nothing else
 * plays, the journal has a `reach` record at each change, `status().reach` is false, and the unit
 * keeps journalling and retrying what it has.
 */
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

/** Lit intervals (ms) in an output's history from `from` on. */
function glows(out: SimOutput, from = 0, to = Infinity): number[] {
  const lit: number[] = [];
  let on = -1;
  for (const h of out.history) {
    if (h.at < from || h.at > to) continue;
    if (h.on) on = h.at;
    else if (on >= 0) {
      lit.push(h.at - on);
      on = -1;
    }
  }
  return lit;
}

describe('a unit that cannot report to anyone shows it', function () {
  this.timeout(120_000);
  const fake = useFakeTime(T0);
  let rig: Rig | undefined;
  afterEach(async () => {
    if (rig) await rig.close();
    rig = undefined;
  });

  it('both receivers silent: every path rated failed, the long glow, a reach record; all back: delivered, the glow stops', async () => {
    const r = (rig = await createRig(() => fake.clock));
    const u = r.boot();
    await r.run(5000);
    assert.equal(u.app.status().reach, true, 'reachable while the centre answers');
    r.primary.faults.down = true;
    r.secondary.faults.down = true;
    u.sim.world.button.press(2000);
    // failAfter (2) failed exchanges on each route at its poll period, then the 350s.
    await r.run(12 * 60_000, 1000);
    const st = u.app.status();
    assert.equal(st.reach, false, 'status says no one can be reached');
    assert.ok(st.pending > 0, 'the panic is still owed');
    const down = u.app.journal.records().filter((x) => x.k === 'reach');
    assert.deepEqual(
      down.map((x) => x.ok),
      [0],
      'journalled once, as unreachable'
    );
    const since = down[0].u as number;
    const lit = glows(u.sim.world.led, since);
    assert.ok(lit.filter((ms) => ms >= 1000).length >= 3, `the long glow repeats (lit ${lit.join(',')})`);
    assert.match(u.sim.world.log.map((l) => l.message).join('\n'), /no receiver can be reached/);

    r.primary.faults.down = false;
    r.secondary.faults.down = false;
    await r.until(() => r.alarms().some((e) => cid(e) === '1 120 001'), 10 * 60_000);
    assert.ok(
      r.alarms().some((e) => cid(e) === '1 120 001'),
      'the owed panic is delivered once a receiver answers'
    );
    await r.run(60_000, 1000);
    assert.equal(u.app.status().reach, true);
    assert.deepEqual(
      u.app.journal
        .records()
        .filter((x) => x.k === 'reach')
        .map((x) => x.ok),
      [0, 1]
    );
    const back = u.app.journal.records().filter((x) => x.k === 'reach')[1].u as number;
    const after = glows(u.sim.world.led, back + 25_000);
    assert.ok(
      after.every((ms) => ms < 1000),
      `no long glow once reachable (lit ${after.join(',')})`
    );
  });

  it('a config without receivers: shown from the boot on, and a panic is still journalled', async () => {
    const r = (rig = await createRig(
      () => fake.clock,
      (c) => void (c.report.receivers = [])
    ));
    const u = r.boot();
    await r.run(2000);
    assert.equal(u.app.status().reach, false);
    u.sim.world.button.press(2000);
    await r.run(70_000, 500);
    assert.ok(
      u.app.journal.records().some((x) => x.k === 'ev' && x.c === 120),
      'the panic is journalled'
    );
    assert.ok(glows(u.sim.world.led).filter((ms) => ms >= 1000).length >= 3, 'the long glow plays');
    assert.ok(u.app.journal.records().some((x) => x.k === 'reach' && x.ok === 0));
  });

  it('the standing pattern gives way to an acknowledgement and comes back after it', () => {
    const clock = createSimClock();
    const led = new SimOutput();
    const ind = createIndicatorDriver(clock, {
      led: {
        write(on) {
          if (on === led.level) return;
          led.level = on;
          led.history.push({ at: clock.now(), on });
        },
        read: () => led.level
      }
    });
    ind.standing(NO_REPORT);
    fake.clock.tick(5000);
    assert.deepEqual(glows(led), [1200]);
    ind.play(ACK_BLINK);
    assert.equal(ind.busy(), true);
    fake.clock.tick(60_000);
    // Six plays 10 s apart, ~0.56 s each: over by 5 s + 53.4 s.
    const during = glows(led, 5000, 5000 + 53_500);
    assert.equal(during.filter((ms) => ms === 80).length, 18, 'the acknowledgement plays whole (3 blinks x 6)');
    assert.ok(
      during.every((ms) => ms === 80),
      'no long glow over it'
    );
    fake.clock.tick(60_000);
    assert.ok(
      glows(led, 65_000).some((ms) => ms === 1200),
      'the standing pattern resumes'
    );
    ind.standing(undefined);
    const n = led.history.length;
    fake.clock.tick(60_000);
    assert.equal(led.level, false);
    assert.ok(led.history.length <= n + 1, 'cleared: nothing more plays');
  });
});
