import { strict as assert } from 'node:assert';
import { useFakeTime } from './support/fake-time';
import { createRig, Rig, cid } from '../sim/alarm-rig';
import type { Config } from '../firmware/config';

const T0 = Date.UTC(2026, 10, 23, 0, 0, 0);
const HOUR = 3600_000;

describe('alarm path: every code reaches the centre with the right qualifier', function () {
  this.timeout(300_000);
  const fake = useFakeTime(T0);
  let rig: Rig;
  afterEach(async () => rig && (await rig.close()));

  async function scenario(format: 'cid' | 'sia'): Promise<string[]> {
    rig = await createRig(
      () => fake.clock,
      (c: Config) => {
        c.report.format = format;
        c.alarmS = 120;
        c.gestures.cancelTaps = 3;
        c.gestures.duressTaps = 4;
        c.inputs.mainsDelayS = 5;
        c.supervision.testReportH = 1;
      }
    );
    const u = rig.boot();
    const w = u.sim.world;
    await rig.run(2000);
    const taps = async (n: number) => {
      for (let i = 0; i < n; i++) {
        w.button.press(200);
        await rig.run(500);
      }
      await rig.run(3000);
    };
    w.button.press(2000);
    await rig.run(4000);
    await taps(3); // cancel
    await taps(4); // duress
    await rig.run(120_000); // alarm restores
    w.tamper.open();
    await rig.run(3000);
    w.tamper.close();
    await rig.run(3000);
    w.power.unplug();
    await rig.run(10_000);
    w.power.plug();
    await rig.run(10_000);
    w.power.setBattery(3.1);
    await rig.run(5 * 60_000, 1000);
    w.power.setBattery(4.1);
    await rig.run(5 * 60_000, 1000);
    w.paths.wifi!.cut();
    await rig.run(4 * 60_000, 1000);
    w.paths.wifi!.restore();
    await rig.run(HOUR, 1000);
    return rig.alarms().map(cid);
  }

  it('ADM-CID: 305, 120, 406, 121, restore 120, 137, 301, 302 (each with restore), 350/restore, 602', async () => {
    const got = await scenario('cid');
    for (const want of [
      '1 305 001',
      '1 120 001',
      '1 406 001',
      '1 121 001',
      '3 120 001',
      '1 137 000',
      '3 137 000',
      '1 301 000',
      '3 301 000',
      '1 302 000',
      '3 302 000',
      '1 350 001',
      '3 350 001',
      '1 602 000'
    ]) {
      assert.ok(got.includes(want), `${want} missing from ${got.join(', ')}`);
    }
    const order = (x: string) => got.indexOf(x);
    assert.ok(
      order('1 120 001') < order('1 406 001') &&
        order('1 406 001') < order('1 121 001') &&
        order('1 121 001') < order('3 120 001')
    );
    const trouble = rig.secondary.alarms().map(cid);
    assert.ok(trouble.includes('1 350 001'), 'the failed primary is reported over the secondary');
    assert.equal(rig.unit!.app.status().pending, 0);
  });

  it('SIA-DCS: the same events as YW, PA, OC, HA, PH, TA/TR, AT/AR, YT/YR, YC/YK, RP', async () => {
    const got = await scenario('sia');
    for (const want of ['YW', 'PA', 'OC', 'HA', 'PH', 'TA', 'TR', 'AT', 'AR', 'YT', 'YR', 'YC', 'YK', 'RP']) {
      assert.ok(
        got.some((g) => g.startsWith(`sia ${want} `)),
        `${want} missing from ${got.join(', ')}`
      );
    }
  });

  it('a flapping tamper switch sends at most 3 reports an hour, and the final state once the hour allows', async () => {
    rig = await createRig(() => fake.clock);
    const u = rig.boot();
    await rig.run(2000);
    for (let i = 0; i < 20; i++) {
      u.sim.world.tamper.open();
      await rig.run(1500, 500);
      u.sim.world.tamper.close();
      await rig.run(1500, 500);
    }
    u.sim.world.tamper.open();
    await rig.run(10 * 60_000, 1000);
    const tamper = () =>
      rig
        .alarms()
        .filter((e) => e.cid?.code === '137')
        .map(cid);
    assert.equal(tamper().length, 3, tamper().join(', '));
    await rig.run(HOUR, 2000);
    assert.equal(tamper().at(-1), '1 137 000', 'the case is open: that is what the centre ends up knowing');
  });
});

describe('alarm path: 7 simulated days of supervision (EN 50136-1 DP4 defaults)', function () {
  this.timeout(600_000);
  const fake = useFakeTime(T0);
  let rig: Rig;
  afterEach(async () => rig && (await rig.close()));

  it('gives NULL link tests every 90 s on the primary, every 5 h on the secondary, and one 602 a day', async () => {
    rig = await createRig(() => fake.clock);
    rig.boot({ micOff: true }); // a week of audio blocks would dominate the run
    await rig.run(7 * 24 * HOUR + 60_000, 4000);
    const p = rig.primary.events();
    const s = rig.secondary.events();
    const nullsP = p.filter((e) => e.id === 'NULL').length;
    const nullsS = s.filter((e) => e.id === 'NULL').length;
    const tests = rig.alarms().filter((e) => e.cid?.code === '602').length;
    console.log(`      7 days: primary ${nullsP} NULL, secondary ${nullsS} NULL, ${tests} periodic tests`);
    // 604,800 s / 90 s = 6,720 intervals; the daily 602 and the boot 305 stand in for a poll.
    assert.ok(nullsP >= 6712 && nullsP <= 6721, `primary polls ${nullsP}`);
    // 604,800 s / 18,000 s = 33.6: one at boot, then 33.
    assert.equal(nullsS, 34);
    assert.equal(tests, 7);
    let worst = 0;
    for (let i = 1; i < p.length; i++) worst = Math.max(worst, p[i].at - p[i - 1].at);
    // The centre stamps a frame when the test lets I/O run, up to one 4 s step after it was sent.
    assert.ok(worst <= 94_000, `longest silence on the primary ${worst} ms`);
  });
});
