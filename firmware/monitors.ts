/**
 * Supervised inputs (mains, battery, tamper): a change is reported only once it has held for a
 * settle time, and each input sends at most `perHour` reports an hour ("swinger" limit), so a
 * flapping input cannot flood the centre. A change held back by the limit is reported when the
 * hour allows, if it still stands.
 */
import type { Clock, Hal } from '../hal/types';
import { CID } from './events';

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

/** How often the battery is measured, ms. */
const BATTERY_POLL_MS = 60000;
/** A low battery must persist over this many readings before it is reported. */
const BATTERY_SETTLE_MS = 3 * BATTERY_POLL_MS;
/** Hysteresis above the low threshold before a battery restore, V. */
const BATTERY_HYST_V = 0.2;

export interface InputSettings {
  mainsDelayS: number;
  tamperMs: number;
  lowBatteryV: number;
  perHour: number;
}

/**
 * Watch the supervised inputs: mains loss (301), tamper (137), low battery (302, read every
 * minute). `wrap` guards each HAL callback; `report(code, qualifier, zone)` sends.
 */
export function superviseInputs(
  clock: Clock,
  hal: Pick<Hal, 'power' | 'tamper'>,
  inp: InputSettings,
  report: (code: number, qualifier: number, zone: number) => void,
  wrap: <A extends unknown[]>(where: string, fn: (...args: A) => void) => (...args: A) => void
): { stop(): void } {
  const monitors: InputMonitor[] = [];
  function monitor(code: number, settleMs: number): InputMonitor {
    const m = createInputMonitor(clock, settleMs, inp.perHour, function (active: boolean) {
      report(code, active ? 1 : 3, 0);
    });
    monitors.push(m);
    return m;
  }
  const mains = monitor(CID.MAINS, inp.mainsDelayS * 1000);
  const tamper = monitor(CID.TAMPER, inp.tamperMs);
  const battery = monitor(CID.BATTERY, BATTERY_SETTLE_MS);
  hal.power.onMainsChange(
    wrap('mains', function (present: boolean) {
      mains.set(!present);
    })
  );
  hal.tamper.onChange(
    wrap('tamper', function (open: boolean) {
      tamper.set(open);
    })
  );
  const checkBattery = wrap('battery', function () {
    const v = hal.power.batteryVolts();
    if (v < inp.lowBatteryV) battery.set(true);
    else if (v >= inp.lowBatteryV + BATTERY_HYST_V) battery.set(false);
  });
  mains.set(!hal.power.mainsPresent());
  tamper.set(hal.tamper.isOpen());
  checkBattery();
  const timer = clock.every(BATTERY_POLL_MS, checkBattery);
  return {
    stop: function () {
      clock.cancel(timer);
      for (let i = 0; i < monitors.length; i++) monitors[i].stop();
    }
  };
}
