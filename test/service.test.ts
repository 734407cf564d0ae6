import { strict as assert } from 'node:assert';
import { createSimClock } from '../sim/clock';
import { SimFlash, createSimRecordStore } from '../sim/flash';
import { createServiceWatch, parseDay } from '../firmware/service';
import { createSimUnit, SimUnit } from '../sim/unit';
import { simDefaultConfig } from '../sim/default-config';
import { validateConfig } from '../firmware/config-words';
import { useFakeTime } from './support/fake-time';

const DAY = 86_400_000;
const START = Date.UTC(2026, 10, 23, 9, 0, 0);

describe('service period: reminders before the end, overdue after it, never disabled', () => {
  const t = useFakeTime(START);

  it('reads service dates strictly', () => {
    assert.equal(parseDay('2026-11-23'), Date.UTC(2026, 10, 23));
    assert.equal(parseDay('2028-02-29'), Date.UTC(2028, 1, 29));
    for (const bad of ['2026-02-30', '2026-13-01', '26-11-23', '2026/11/23', '', 20261123])
      assert.equal(parseDay(bad), undefined, String(bad));
    const c = simDefaultConfig();
    c.service.start = '2026-02-30';
    assert.deepEqual(
      validateConfig(c).map((p) => p.field),
      ['service.start']
    );
    c.service.start = '2026-11-23';
    c.service.days = 0;
    assert.deepEqual(
      validateConfig(c).map((p) => p.field),
      ['service.days']
    );
  });

  it('over seven simulated months: 616 at 14 days and 1 day left, then daily while overdue; a restart repeats nothing', () => {
    const flash = new SimFlash();
    const reports: { day: number; zone: number }[] = [];
    const report = (code: number, q: number, zone: number) => {
      assert.deepEqual([code, q], [616, 1]);
      reports.push({ day: Math.round((Date.now() - Date.UTC(2026, 10, 23)) / DAY), zone });
    };
    let clock = createSimClock();
    let watch = createServiceWatch(clock, createSimRecordStore(flash), { start: '2026-11-23', days: 182 }, report);
    t.clock.tick(175 * DAY);
    assert.deepEqual(reports, [{ day: 168, zone: 14 }]);
    // A restart on day 175: nothing is repeated.
    watch.stop();
    clock.shutdown();
    clock = createSimClock();
    watch = createServiceWatch(clock, createSimRecordStore(flash), { start: '2026-11-23', days: 182 }, report);
    t.clock.tick(30 * DAY);
    watch.stop();
    clock.shutdown();
    assert.deepEqual(reports.slice(0, 3), [
      { day: 168, zone: 14 },
      { day: 181, zone: 1 },
      { day: 182, zone: 0 }
    ]);
    const overdue = reports.filter((r) => r.zone === 0);
    assert.deepEqual(
      overdue.map((r) => r.day),
      Array.from({ length: 24 }, (_, k) => 182 + k),
      'one a day from the end (day 182) to the last day run (205)'
    );
  });

  it('a unit whose period has ended still raises and journals an alarm', () => {
    const c = simDefaultConfig();
    c.service.start = '2026-05-01'; // 182 days ended on 2026-10-30
    const u: SimUnit = createSimUnit(c, { micOff: true });
    try {
      t.clock.tick(1000);
      const evs = () =>
        u.app.journal
          .records()
          .filter((r) => r.k === 'ev')
          .map((r) => `${r.q} ${r.c} ${r.z}`);
      assert.ok(evs().includes('1 616 0'), 'reported overdue at boot');
      assert.ok((u.app.service.daysLeft() ?? 0) < 0);
      u.sim.world.button.press(2000);
      t.clock.tick(3000);
      assert.ok(evs().includes('1 120 1'), 'the panic still works');
      t.clock.tick(DAY);
      assert.equal(evs().filter((e) => e === '1 616 0').length, 2, 'and it says so again the next day');
    } finally {
      u.shutdown();
    }
  });
});
