/**
 * Supervised inputs (mains, battery, tamper): a change is reported only once it has held for a
 * settle time, and each input sends at most `perHour` reports an hour ("swinger" limit), so a
 * flapping input cannot flood the centre. A change held back by the limit is reported when the
 * hour allows, if it still stands.
 */
import type { Clock } from '../hal/types';

export interface InputMonitor {
  /** Feed the raw state (`true` = trouble/alarm present). */
  set(active: boolean): void;
  /** The state last reported. */
  reported(): boolean;
  stop(): void;
}

const HOUR = 3600000;

export function createInputMonitor(
  clock: Clock,
  settleMs: number,
  perHour: number,
  onReport: (active: boolean) => void
): InputMonitor {
  let raw = false;
  let reported = false;
  let timer = -1;
  const sent: number[] = [];

  function check(): void {
    timer = -1;
    if (raw === reported) return;
    const now = clock.now();
    while (sent.length > 0 && now - sent[0] >= HOUR) sent.shift();
    if (sent.length >= perHour) {
      timer = clock.after(sent[0] + HOUR - now, check);
      return;
    }
    sent.push(now);
    reported = raw;
    onReport(raw);
  }

  return {
    set: function (active: boolean) {
      if (active === raw) return;
      raw = active;
      clock.cancel(timer);
      timer = -1;
      if (raw !== reported) timer = clock.after(settleMs, check);
    },
    reported: function () {
      return reported;
    },
    stop: function () {
      clock.cancel(timer);
    }
  };
}
