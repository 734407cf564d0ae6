import { strict as assert } from 'node:assert';
import { alarmStep, ALARM_IDLE, AlarmState, AlarmEvent, AlarmSettings, resumedAlarm } from '../firmware/alarm';
import type { JournalRecord } from '../firmware/journal';
import { createInputMonitor } from '../firmware/monitors';
import { createSimClock } from '../sim/clock';
import { useFakeTime } from './support/fake-time';

const S: AlarmSettings = {
  panicCode: 120,
  cancelTaps: 3,
  duressTaps: 4,
  tapGapMs: 1500,
  alarmMs: 1_800_000,
  confirm: true
};
const alarm = (taps = 0, cancelled = false): AlarmState => ({ mode: 'alarm', cancelled, taps });
const fx = (s: AlarmState, ev: AlarmEvent, c = S) =>
  alarmStep(s, ev, c).effects.map((e) =>
    e.type === 'report'
      ? `report ${e.qualifier} ${e.code}`
      : e.type === 'timer'
        ? `timer ${e.name} ${e.ms}`
        : e.type === 'cancelTimer'
          ? `cancel ${e.name}`
          : e.type === 'indicate'
            ? `indicate ${e.pattern}`
            : e.type
  );

describe('alarm state machine (pure)', () => {
  const table: [string, AlarmState, AlarmEvent, AlarmState, string[], AlarmSettings?][] = [
    [
      'a hold raises the panic and starts the alarm clock',
      ALARM_IDLE,
      { type: 'trigger' },
      alarm(),
      ['report 1 120', 'timer expire 1800000', 'began']
    ],
    [
      'another hold during the alarm is reported again, restarting nothing',
      alarm(2),
      { type: 'trigger' },
      alarm(),
      ['cancel gap', 'report 1 120']
    ],
    [
      'a hold after a cancel is a new panic report; the cancel stays on record',
      alarm(0, true),
      { type: 'trigger' },
      alarm(0, true),
      ['cancel gap', 'report 1 120']
    ],
    ['taps outside an alarm do nothing', ALARM_IDLE, { type: 'tap' }, ALARM_IDLE, []],
    ['a tap during an alarm is counted', alarm(1), { type: 'tap' }, alarm(2), ['timer gap 1500']],
    [
      'three taps cancel (406); the alarm itself stays',
      alarm(3),
      { type: 'gap' },
      alarm(0, true),
      ['indicate off', 'report 1 406']
    ],
    [
      'four taps send duress (121) and look the same',
      alarm(4),
      { type: 'gap' },
      alarm(0, true),
      ['indicate off', 'report 1 121']
    ],
    ['two taps are nothing', alarm(2), { type: 'gap' }, alarm(0), []],
    [
      'no gestures configured: taps are ignored',
      alarm(0),
      { type: 'tap' },
      alarm(0),
      [],
      { ...S, cancelTaps: 0, duressTaps: 0 }
    ],
    [
      'the alarm restores after its time',
      alarm(0, true),
      { type: 'expire' },
      ALARM_IDLE,
      ['cancel gap', 'report 3 120', 'indicate off', 'ended']
    ],
    [
      'acknowledged panic shows the confirmation',
      alarm(),
      { type: 'delivered', code: 120, qualifier: 1 },
      alarm(),
      ['indicate confirm']
    ],
    [
      'acknowledged cancel and duress show the same sign',
      alarm(0, true),
      { type: 'delivered', code: 121, qualifier: 1 },
      alarm(0, true),
      ['indicate gesture']
    ],
    [
      'a late panic ack after a cancel shows nothing',
      alarm(0, true),
      { type: 'delivered', code: 120, qualifier: 1 },
      alarm(0, true),
      []
    ],
    [
      'confirmation off: nothing shown',
      alarm(),
      { type: 'delivered', code: 120, qualifier: 1 },
      alarm(),
      [],
      { ...S, confirm: false }
    ],
    ['other acknowledgements show nothing', alarm(), { type: 'delivered', code: 305, qualifier: 1 }, alarm(), []],
    [
      'silent panic code is configurable (122)',
      ALARM_IDLE,
      { type: 'trigger' },
      alarm(),
      ['report 1 122', 'timer expire 1800000', 'began'],
      { ...S, panicCode: 122 }
    ]
  ];
  for (const [name, from, ev, to, effects, c] of table) {
    it(name, () => {
      assert.deepEqual(alarmStep(from, ev, c ?? S).state, to);
      assert.deepEqual(fx(from, ev, c ?? S), effects);
    });
  }
});

describe('supervised input (settle time and hourly limit)', () => {
  const fake = useFakeTime(0);
  it('reports a change that holds, ignores one that does not, and limits reports per hour', () => {
    const clock = createSimClock();
    const got: [number, boolean][] = [];
    const m = createInputMonitor(clock, 1000, 2, (a) => got.push([clock.now(), a]));
    m.set(true);
    fake.clock.tick(500);
    m.set(false); // a blip shorter than the settle time
    fake.clock.tick(5000);
    assert.deepEqual(got, []);
    m.set(true);
    fake.clock.tick(1000);
    m.set(false);
    fake.clock.tick(1000);
    m.set(true);
    fake.clock.tick(1000);
    assert.deepEqual(
      got.map((g) => g[1]),
      [true, false],
      'third report held back by the limit'
    );
    fake.clock.tick(3600_000);
    assert.deepEqual(
      got.map((g) => g[1]),
      [true, false, true],
      'sent when the hour allows, as it still stands'
    );
    assert.equal(m.reported(), true);
    m.stop();
    clock.shutdown();
  });
});

describe('the alarm resumed at boot (pure)', () => {
  let n = 0;
  const ev = (c: number, q: number): JournalRecord => ({ k: 'ev', i: ++n, u: 0, t: 0, n, c, q, z: 1 });
  const ok = (r: number): JournalRecord => ({ k: 'ok', i: ++n, u: 0, t: 0, r, p: 0 });
  it('a panic without its restore: resumed active, not cancelled; with it, or with none: not', () => {
    assert.deepEqual(resumedAlarm([ev(305, 1), ev(120, 1), ok(2)], 120), { mode: 'alarm', cancelled: false, taps: 0 });
    assert.equal(resumedAlarm([ev(120, 1), ev(406, 1), ev(120, 3)], 120), undefined);
    assert.equal(resumedAlarm([], 120), undefined);
    assert.equal(resumedAlarm([ev(120, 3), ev(120, 1)], 120)?.mode, 'alarm', 'the last one counts');
  });
  it('only the configured panic code counts', () => {
    assert.equal(resumedAlarm([ev(120, 1)], 122), undefined);
    assert.equal(resumedAlarm([ev(122, 1)], 122)?.mode, 'alarm');
  });
});
