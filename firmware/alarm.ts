/**
 * The alarm, as a pure state machine: `alarmStep` returns the next state and the effects as data;
 * `createAlarmRunner` performs them (timers on the HAL clock, reports, indicator).
 *
 * - A qualifying hold raises a panic; further holds during the alarm are reported again and
 *   restart nothing.
 * - During an alarm, a tap sequence ends `tapGapMs` after the last tap. `cancelTaps` taps send a
 *   cancel (406); `duressTaps` taps send duress (121). Both look the same on the unit. Neither
 *   ends the alarm locally, stops the recording or withdraws what was sent.
 * - The alarm restores (`3 <panic>`) `alarmS` after it began.
 * - Silent throughout: the only sign is the indicator once the centre has acknowledged.
 */
import type { Clock } from '../hal/types';
import { CID } from './events';
import { interpret, Machine } from './machine';
import type { JournalRecord } from './journal';

export interface AlarmSettings {
  panicCode: number;
  cancelTaps: number;
  duressTaps: number;
  tapGapMs: number;
  alarmMs: number;
  /** Show the acknowledgement pattern. */
  confirm: boolean;
}

export interface AlarmState {
  mode: 'idle' | 'alarm';
  /** A cancel or duress gesture was made during this alarm. */
  cancelled: boolean;
  /** Taps counted in the current sequence. */
  taps: number;
}

export type AlarmEvent =
  | { type: 'trigger' }
  | { type: 'tap' }
  | { type: 'gap' }
  | { type: 'expire' }
  | { type: 'delivered'; code: number; qualifier: number };

export type AlarmEffect =
  | { type: 'report'; code: number; qualifier: number; zone: number }
  | { type: 'timer'; name: 'gap' | 'expire'; ms: number }
  | { type: 'cancelTimer'; name: 'gap' | 'expire' }
  | { type: 'indicate'; pattern: 'confirm' | 'gesture' | 'off' }
  | { type: 'began' }
  | { type: 'ended' };

export interface AlarmResult {
  state: AlarmState;
  effects: AlarmEffect[];
}

export const ALARM_IDLE: AlarmState = { mode: 'idle', cancelled: false, taps: 0 };

/**
 * The alarm to resume at boot: active if the journal's last panic (`panicCode`) has no restore
 * after it (the unit stopped during the alarm); undefined when none was active.
 */
export function resumedAlarm(records: JournalRecord[], panicCode: number): AlarmState | undefined {
  let active = false;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r.k === 'ev' && r.c === panicCode) active = r.q === 1;
  }
  return active ? { mode: 'alarm', cancelled: false, taps: 0 } : undefined;
}

/** Zone/user number the unit reports its button and its user as. */
export const BUTTON_ZONE = 1;

export function alarmStep(s: AlarmState, ev: AlarmEvent, c: AlarmSettings): AlarmResult {
  const panic: AlarmEffect = { type: 'report', code: c.panicCode, qualifier: 1, zone: BUTTON_ZONE };
  if (ev.type === 'trigger') {
    if (s.mode === 'alarm') {
      return {
        state: { mode: 'alarm', cancelled: s.cancelled, taps: 0 },
        effects: [{ type: 'cancelTimer', name: 'gap' }, panic]
      };
    }
    return {
      state: { mode: 'alarm', cancelled: false, taps: 0 },
      effects: [panic, { type: 'timer', name: 'expire', ms: c.alarmMs }, { type: 'began' }]
    };
  }
  if (s.mode !== 'alarm') return { state: s, effects: [] };
  if (ev.type === 'tap') {
    if (c.cancelTaps === 0 && c.duressTaps === 0) return { state: s, effects: [] };
    return {
      state: { mode: 'alarm', cancelled: s.cancelled, taps: s.taps + 1 },
      effects: [{ type: 'timer', name: 'gap', ms: c.tapGapMs }]
    };
  }
  if (ev.type === 'gap') {
    const next: AlarmState = { mode: 'alarm', cancelled: s.cancelled, taps: 0 };
    let code = 0;
    if (c.duressTaps > 0 && s.taps === c.duressTaps) code = CID.DURESS;
    else if (c.cancelTaps > 0 && s.taps === c.cancelTaps) code = CID.CANCEL;
    if (code === 0) return { state: next, effects: [] };
    next.cancelled = true;
    return {
      state: next,
      effects: [
        { type: 'indicate', pattern: 'off' },
        { type: 'report', code: code, qualifier: 1, zone: BUTTON_ZONE }
      ]
    };
  }
  if (ev.type === 'expire') {
    return {
      state: ALARM_IDLE,
      effects: [
        { type: 'cancelTimer', name: 'gap' },
        { type: 'report', code: c.panicCode, qualifier: 3, zone: BUTTON_ZONE },
        { type: 'indicate', pattern: 'off' },
        { type: 'ended' }
      ]
    };
  }
  // delivered
  if (!c.confirm || ev.qualifier !== 1) return { state: s, effects: [] };
  if (ev.code === c.panicCode && !s.cancelled) return { state: s, effects: [{ type: 'indicate', pattern: 'confirm' }] };
  if (ev.code === CID.CANCEL || ev.code === CID.DURESS)
    return { state: s, effects: [{ type: 'indicate', pattern: 'gesture' }] };
  return { state: s, effects: [] };
}

export interface AlarmRunner {
  dispatch(ev: AlarmEvent): void;
  state(): AlarmState;
  stop(): void;
}

export interface AlarmHandlers {
  report(code: number, qualifier: number, zone: number): void;
  indicate(pattern: 'confirm' | 'gesture' | 'off'): void;
  /** The alarm began / ended (the recorder hooks here). */
  began(): void;
  ended(): void;
}

/** Run `alarmStep` (./machine.ts) and perform its effects. `initial` resumes an alarm found in the journal at boot. */
export function createAlarmRunner(clock: Clock, c: AlarmSettings, h: AlarmHandlers, initial?: AlarmState): AlarmRunner {
  const timers: { [name: string]: number } = { gap: -1, expire: -1 };
  const m: Machine<AlarmState, AlarmEvent> = interpret(alarmStep, c, initial || ALARM_IDLE, function (fx: AlarmEffect) {
    if (fx.type === 'report') h.report(fx.code, fx.qualifier, fx.zone);
    else if (fx.type === 'timer') arm(fx.name, fx.ms);
    else if (fx.type === 'cancelTimer') {
      clock.cancel(timers[fx.name]);
      timers[fx.name] = -1;
    } else if (fx.type === 'indicate') h.indicate(fx.pattern);
    else if (fx.type === 'began') h.began();
    else h.ended();
  });

  function arm(name: 'gap' | 'expire', ms: number): void {
    clock.cancel(timers[name]);
    timers[name] = clock.after(ms, function () {
      timers[name] = -1;
      m.send({ type: name });
    });
  }

  if (initial && initial.mode === 'alarm') arm('expire', c.alarmMs);

  return {
    dispatch: m.send,
    state: m.state,
    stop: function () {
      clock.cancel(timers.gap);
      clock.cancel(timers.expire);
    }
  };
}
