/**
 * The sim clock: HAL time on Node timers, so `sinon.useFakeTimers()` can drive hours of unit time
 * in milliseconds. Every timer is tracked so a power cut can drop them all at once.
 */
import type { Clock, TimerId } from '../hal/types';

export interface SimClock extends Clock {
  /** Cancel every pending timer (power cut). */
  shutdown(): void;
  /** Number of pending timers (for leak checks). */
  pending(): number;
  /** Where an exception thrown by a callback goes (the firmware's `onUncaught`); unset: thrown on. */
  uncaught: ((e: unknown) => void) | undefined;
  /** Run a callback as the event loop would: an exception goes to `uncaught`. */
  run(fn: () => void): void;
}

/**
 * `wallOffsetMs` shifts the unit's wall clock from the host's (a drifted or unset clock).
 */
export function createSimClock(options: { wallOffsetMs?: number } = {}): SimClock {
  const bootAt = Date.now();
  let offset = options.wallOffsetMs ?? 0;
  let nextId = 1;
  const timers = new Map<TimerId, { handle: NodeJS.Timeout; repeat: boolean }>();
  let dead = false;

  const clock: SimClock = {
    uncaught: undefined,
    run(fn: () => void) {
      try {
        fn();
      } catch (e) {
        if (!clock.uncaught) throw e;
        clock.uncaught(e);
      }
    },
    now: () => Date.now() - bootAt,
    wall: () => Date.now() + offset,
    setWall(utcMs: number) {
      offset = utcMs - Date.now();
    },
    after(ms: number, fn: () => void): TimerId {
      if (dead) return 0;
      const id = nextId++;
      const handle = setTimeout(
        () => {
          timers.delete(id);
          clock.run(fn);
        },
        Math.max(0, ms)
      );
      timers.set(id, { handle, repeat: false });
      return id;
    },
    every(ms: number, fn: () => void): TimerId {
      if (dead) return 0;
      if (!(ms > 0)) throw new Error('every() needs a period > 0 ms');
      const id = nextId++;
      const handle = setInterval(() => clock.run(fn), ms);
      timers.set(id, { handle, repeat: true });
      return id;
    },
    cancel(id: TimerId) {
      const t = timers.get(id);
      if (!t) return;
      if (t.repeat) clearInterval(t.handle);
      else clearTimeout(t.handle);
      timers.delete(id);
    },
    shutdown() {
      dead = true;
      for (const t of timers.values()) {
        if (t.repeat) clearInterval(t.handle);
        else clearTimeout(t.handle);
      }
      timers.clear();
    },
    pending: () => timers.size
  };
  return clock;
}
