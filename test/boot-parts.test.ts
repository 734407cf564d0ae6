import { strict as assert } from 'node:assert';
import sinon from 'sinon';
import { createSimClock } from '../sim/clock';
import { createHealth, resetReport } from '../firmware/health';
import { createRamStore } from '../firmware/store';
import type { System } from '../hal/types';
import { firstThen } from '../firmware/guard';
import type { RecordSink } from '../firmware/journal';

/**
 * The pieces the boot is made of, alone: a part that fails costs only itself and is journalled; a
 * boot that never reaches its end says so on the next turn (300 zone 6); the panic's alarm is
 * raised whatever the recording does; the 305 says why the unit reset.
 */
describe('boot parts (health.part), the trigger net and the reset report', () => {
  let fake: sinon.SinonFakeTimers;
  beforeEach(() => (fake = sinon.useFakeTimers({ now: Date.UTC(2026, 11, 3) })));
  const stops: { stop(): void }[] = [];
  afterEach(() => {
    while (stops.length) stops.pop()!.stop();
    fake.restore();
  });

  function rig(journalThrows = false) {
    const lines: string[] = [];
    const records: [string, unknown][] = [];
    const reports: number[][] = [];
    const journal: RecordSink = (kind, fields) => {
      if (journalThrows) throw new Error('store full');
      records.push([kind, fields]);
    };
    const clock = createSimClock();
    const system = { memory: () => ({ free: 8000, total: 8190 }), restart: () => undefined } as unknown as System;
    const boot = createHealth({
      clock,
      log: { write: (level, m) => lines.push(level + ' ' + m) },
      records: createRamStore(),
      watchdog: { enable: () => undefined, kick: () => undefined },
      system,
      watchdogS: 20,
      journal,
      report: (c, q, z) => reports.push([c, q, z])
    });
    stops.push(boot);
    return { boot, lines, records, reports, clock };
  }

  it('a part that throws gives undefined, is logged and journalled (its reason cut to 60), and the next part runs', () => {
    const r = rig();
    const long = 'x'.repeat(80);
    assert.equal(
      r.boot.part('recorder', () => {
        throw new Error(long);
      }),
      undefined
    );
    assert.equal(
      r.boot.part('uploader', () => 42),
      42
    );
    assert.deepEqual(r.lines, ['error recorder failed at boot: ' + long]);
    assert.deepEqual(r.records, [['boot-fail', { w: 'recorder', e: 'x'.repeat(60) }]]);
  });

  it('a journal that refuses the record does not stop the boot', () => {
    const r = rig(true);
    assert.equal(
      r.boot.part('inputs', () => {
        throw new Error('ADC busy');
      }),
      undefined
    );
    assert.equal(
      r.boot.part('service', () => 'up'),
      'up'
    );
  });

  it('a boot that has not reached its end by the next turn says where it stopped: logged, journalled, 300 zone 6', async () => {
    const r = rig();
    r.boot.part('reporter', () => 1);
    r.boot.part('recorder', () => 2);
    assert.deepEqual(r.reports, [], 'nothing before the turn ends');
    await fake.tickAsync(0);
    assert.deepEqual(r.reports, [[300, 1, 6]]);
    assert.deepEqual(r.records, [['boot-fail', { w: 'recorder', e: 'interrupted' }]]);
    assert.ok(r.lines.includes('error boot cut short in recorder'));
  });

  it('a boot that reached its end reports nothing', async () => {
    const r = rig();
    r.boot.part('recorder', () => 2);
    r.boot.booted();
    await fake.tickAsync(0);
    assert.deepEqual([r.reports, r.records, r.lines], [[], [], []]);
    r.boot.stop();
    assert.equal(r.clock.pending(), 0, 'no timer left but the watchdog kick, stopped');
  });

  it('firstThen: `then` runs once, after `first`, and no timer is left behind', async () => {
    const clock = createSimClock();
    const order: string[] = [];
    firstThen(
      clock,
      () => order.push('first'),
      () => order.push('then')
    );
    assert.deepEqual(order, ['first', 'then']);
    assert.equal(clock.pending(), 0);
    await fake.tickAsync(10);
    assert.deepEqual(order, ['first', 'then']);
  });

  it('firstThen: a `first` that throws still lets `then` run, once, and the exception goes on', async () => {
    const clock = createSimClock();
    let thens = 0;
    assert.throws(
      () =>
        firstThen(
          clock,
          () => {
            throw new Error('card gone');
          },
          () => thens++
        ),
      /card gone/
    );
    await fake.tickAsync(10);
    assert.equal(thens, 1);
    assert.equal(clock.pending(), 0);
  });

  it('resetReport: the zone per cause, the reason as printable text cut to 48, a blocked loop named', () => {
    const seen: unknown[][] = [];
    const report = (...a: unknown[]) => seen.push(a);
    resetReport('power', '', report);
    resetReport('watchdog', '', report);
    resetReport('watchdog', 'hung reporter: no reply', report);
    resetReport('software', 'fault in "battery"\n{x}', report);
    resetReport('brownout', '', report);
    resetReport('software', 'y'.repeat(70), report);
    assert.deepEqual(seen, [
      [305, 1, 1, undefined],
      [305, 1, 2, 'Iwatchdog: main loop blocked'],
      [305, 1, 2, 'Iwatchdog: hung reporter: no reply'],
      [305, 1, 3, 'Isoftware: fault in  battery   x '],
      [305, 1, 0, undefined],
      [305, 1, 3, 'Isoftware: ' + 'y'.repeat(48)]
    ]);
  });
});
