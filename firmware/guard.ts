/**
 * Every callback the firmware hands to the HAL goes through `guard`: on the device an exception in
 * a timer or watch callback prints "Uncaught" and leaves the program in whatever state it was in,
 * so the firmware catches at each boundary and decides what to do (see docs/faults.md).
 */
import type { Clock, LogSink } from '../hal/types';

export type FaultHandler = (where: string, error: unknown) => void;

/** Describe a thrown value in one line, without its stack (no secrets are ever in messages). */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string') {
    return (e as { message: string }).message;
  }
  return String(e);
}

/**
 * Run `first`, then `then` whatever happens to `first`. Running out of memory on the board
 * interrupts the event rather than throwing (no `finally` runs), so a timer set before `first`
 * runs `then` on the next turn if this one dies; it is cancelled when `first` ends. `then` runs once.
 */
export function firstThen(clock: Clock, first: () => void, then: () => void): void {
  let ran = false;
  const once = function () {
    if (ran) return;
    ran = true;
    then();
  };
  const net = clock.after(0, once);
  try {
    first();
  } finally {
    clock.cancel(net);
    once();
  }
}

export interface Guard {
  /** Wrap a callback so an exception is logged and reported, never escapes. */
  wrap<A extends unknown[]>(where: string, fn: (...args: A) => void): (...args: A) => void;
  /** Faults seen since boot. */
  count(): number;
}

export function createGuard(log: LogSink, onFault: FaultHandler): Guard {
  let faults = 0;
  return {
    wrap: function <A extends unknown[]>(where: string, fn: (...args: A) => void) {
      return function () {
        try {
          // eslint-disable-next-line prefer-rest-params
          fn.apply(undefined, arguments as unknown as A);
        } catch (e) {
          faults++;
          log.write('error', 'fault in ' + where + ': ' + errorText(e));
          try {
            onFault(where, e);
          } catch (e2) {
            log.write('error', 'fault handler failed: ' + errorText(e2));
          }
        }
      } as unknown as (...args: A) => void;
    },
    count: function () {
      return faults;
    }
  };
}
