/**
 * Hold-to-trigger detection for the panic button, as a pure state machine: `pressStep` returns the
 * next state and the effects to perform, and touches nothing. `createPressRunner` runs it with
 * `interpret` (./machine.ts) and performs the effects with the HAL clock.
 *
 * The HAL already debounces edges; this machine only decides whether a press was held long enough.
 * A hold time of 0 triggers on the press edge itself. A press released early is a tap (gestures).
 */
import type { Clock } from '../hal/types';
import { interpret, Machine } from './machine';

export type PressPhase = 'idle' | 'holding' | 'fired';

export interface PressState {
  phase: PressPhase;
  /** `Clock.now()` of the press edge while holding or fired. */
  downAt: number;
}

export type PressEvent = { type: 'edge'; pressed: boolean; at: number; now: number } | { type: 'timer'; now: number };

export type PressEffect =
  { type: 'arm'; ms: number } | { type: 'disarm' } | { type: 'trigger'; heldMs: number } | { type: 'tap' };

export interface PressResult {
  state: PressState;
  effects: PressEffect[];
}

export const PRESS_IDLE: PressState = { phase: 'idle', downAt: 0 };

export function pressStep(state: PressState, ev: PressEvent, holdMs: number): PressResult {
  if (ev.type === 'edge') {
    if (ev.pressed) {
      if (state.phase !== 'idle') return { state: state, effects: [] };
      if (holdMs <= 0) {
        return { state: { phase: 'fired', downAt: ev.at }, effects: [{ type: 'trigger', heldMs: 0 }] };
      }
      const left = holdMs - (ev.now - ev.at);
      if (left <= 0) {
        return { state: { phase: 'fired', downAt: ev.at }, effects: [{ type: 'trigger', heldMs: ev.now - ev.at }] };
      }
      return { state: { phase: 'holding', downAt: ev.at }, effects: [{ type: 'arm', ms: left }] };
    }
    if (state.phase === 'holding') return { state: PRESS_IDLE, effects: [{ type: 'disarm' }, { type: 'tap' }] };
    return { state: PRESS_IDLE, effects: [] };
  }
  if (state.phase === 'holding') {
    return {
      state: { phase: 'fired', downAt: state.downAt },
      effects: [{ type: 'trigger', heldMs: ev.now - state.downAt }]
    };
  }
  return { state: state, effects: [] };
}

export interface PressRunner {
  /** Feed a debounced edge from the HAL. */
  edge(pressed: boolean, atMs: number): void;
  state(): PressState;
  stop(): void;
}

/**
 * Runs `pressStep` on HAL time; `onTrigger` is called once per qualifying hold, `onTap` once per
 * press released before the hold time.
 */
export function createPressRunner(
  clock: Clock,
  holdMs: number,
  onTrigger: (heldMs: number) => void,
  onTap?: () => void
): PressRunner {
  let timer = -1;
  const m: Machine<PressState, PressEvent> = interpret(pressStep, holdMs, PRESS_IDLE, function (fx: PressEffect) {
    if (fx.type === 'arm') {
      if (timer >= 0) clock.cancel(timer);
      timer = clock.after(fx.ms, function () {
        timer = -1;
        m.send({ type: 'timer', now: clock.now() });
      });
    } else if (fx.type === 'disarm') {
      if (timer >= 0) clock.cancel(timer);
      timer = -1;
    } else if (fx.type === 'tap') {
      if (onTap) onTap();
    } else {
      onTrigger(fx.heldMs);
    }
  });

  return {
    edge: function (pressed: boolean, atMs: number) {
      m.send({ type: 'edge', pressed: pressed, at: atMs, now: clock.now() });
    },
    state: m.state,
    stop: function () {
      if (timer >= 0) clock.cancel(timer);
      timer = -1;
    }
  };
}
