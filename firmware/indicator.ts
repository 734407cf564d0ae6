/**
 * Discreet indicator patterns on the LED (and, where fitted and enabled, the haptic motor).
 * Silent by design: the buzzer is never driven from here.
 *
 * A pattern is a list of durations in ms, alternately on and off, starting with on; it may repeat
 * after a pause. One pattern plays at a time; a new one replaces the old. A standing pattern (the
 * unit cannot report to anyone) plays whenever nothing else does, until it is cleared.
 */
import type { Clock, Indicator } from '../hal/types';

export interface Pattern {
  /** Alternating on/off durations, ms, starting with on. */
  steps: number[];
  /** Pause before repeating, ms; omit to play once. */
  repeatAfterMs?: number;
  /** Stop after this many plays (default: forever when repeating). */
  plays?: number;
}

/** Short flash at boot. */
export const BOOT_FLASH: Pattern = { steps: [150] };
/** Acknowledged by the centre: three short blinks, repeated every 10 s for a minute. */
export const ACK_BLINK: Pattern = { steps: [80, 160, 80, 160, 80], repeatAfterMs: 10000, plays: 6 };
/** A cancel or duress gesture acknowledged by the centre: one short blink (the same for both). */
export const GESTURE_BLINK: Pattern = { steps: [80] };
/**
 * No receiver can be reached (none configured, or every path rated failed): one long glow every
 * 20 s, unlike any acknowledgement, for as long as it lasts (docs/faults.md).
 */
export const NO_REPORT: Pattern = { steps: [1200], repeatAfterMs: 20000 };

export interface IndicatorDriver {
  play(p: Pattern): void;
  /** Stop what plays (the standing pattern, if any, resumes). */
  off(): void;
  /** Set (or, with `undefined`, clear) the standing pattern. */
  standing(p: Pattern | undefined): void;
  /** Whether a pattern is playing. */
  busy(): boolean;
}

export function createIndicatorDriver(clock: Clock, ind: Indicator): IndicatorDriver {
  let timer = -1;
  let pattern: Pattern | undefined;
  let step = 0;
  let played = 0;
  let back: Pattern | undefined;

  function stop(): void {
    if (timer >= 0) clock.cancel(timer);
    timer = -1;
    pattern = undefined;
    ind.led.write(false);
  }

  function start(p: Pattern | undefined): void {
    stop();
    pattern = p;
    step = 0;
    played = 0;
    tick();
  }

  function tick(): void {
    timer = -1;
    const p = pattern;
    if (!p) return;
    if (step < p.steps.length) {
      ind.led.write(step % 2 === 0);
      const ms = p.steps[step];
      step++;
      timer = clock.after(ms, tick);
      return;
    }
    ind.led.write(false);
    played++;
    const limit = p.plays === undefined ? (p.repeatAfterMs === undefined ? 1 : -1) : p.plays;
    if (p.repeatAfterMs === undefined || (limit >= 0 && played >= limit)) {
      pattern = undefined;
      if (back) timer = clock.after(1000, resume);
      return;
    }
    step = 0;
    timer = clock.after(p.repeatAfterMs, tick);
  }

  function resume(): void {
    timer = -1;
    start(back);
  }

  return {
    play: start,
    off: function () {
      start(back);
    },
    standing: function (p: Pattern | undefined) {
      const idle = pattern === undefined || pattern === back;
      back = p;
      if (idle) start(p);
    },
    busy: function () {
      return pattern !== undefined && pattern !== back;
    }
  };
}
