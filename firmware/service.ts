/**
 * The service period (issue #5): a unit is installed for a set number of days from its start date
 * (six months by default). It reminds the centre 14 days and 1 day before the end, and once the
 * end has passed it reports itself overdue once a day. It never disables anything: an overdue unit
 * protects exactly as before.
 *
 * Reports: Contact ID 616 (service request), zone = days left (14, 1), zone 0 when overdue
 * (docs/service.md). Progress is kept in the internal-flash record `svc.json`, so a restart never
 * repeats a reminder.
 */
import type { Clock, RecordStore } from '../hal/types';
import { parseTime, formatTime } from './civil-time';

export const SERVICE_CODE = 616;
const DAY = 86400000;
/** Reminders, in days before the end. */
const REMIND = [14, 1];
/** The wall clock is trusted only once it reads later than this (2017): before, it was never set. */
const CLOCK_SET = 1.5e12;
const RECORD = 'svc.json';

/** `YYYY-MM-DD` → UTC ms of its midnight; `undefined` unless it is a real date. */
export function parseDay(s: unknown): number | undefined {
  if (typeof s !== 'string' || s.length !== 10 || s.charAt(4) !== '-' || s.charAt(7) !== '-') return undefined;
  const tail = s.substr(5, 2) + '-' + s.substr(8, 2) + '-' + s.substr(0, 4);
  const ms = parseTime('00:00:00,' + tail);
  return ms !== undefined && formatTime(ms).substr(9) === tail ? ms : undefined;
}

export interface ServiceWatch {
  /** Days until the end (negative when overdue); undefined before commissioning or a set clock. */
  daysLeft(): number | undefined;
  /** Look now (also runs hourly). */
  check(): void;
  stop(): void;
}

export function createServiceWatch(
  clock: Clock,
  records: RecordStore,
  service: { start: string; days: number },
  report: (code: number, qualifier: number, zone: number) => void
): ServiceWatch {
  const start = parseDay(service.start);
  const end = start === undefined ? undefined : start + service.days * DAY;
  let done: { s: string; r: number[]; od: number } = { s: service.start, r: [], od: -1 };
  try {
    const kept = JSON.parse(records.read(RECORD) || 'null');
    if (kept && kept.s === service.start) done = kept;
  } catch (e) {
    // unreadable: start afresh (at worst a reminder is repeated)
  }

  function save(): void {
    try {
      records.write(RECORD, JSON.stringify(done));
    } catch (e) {
      // flash full: the reminder may repeat after a restart, which is harmless
    }
  }

  function left(): number | undefined {
    const now = clock.wall();
    return end === undefined || now < CLOCK_SET ? undefined : (end - now) / DAY;
  }

  function check(): void {
    const l = left();
    if (l === undefined) return;
    if (l <= 0) {
      const day = Math.floor(clock.wall() / DAY);
      if (done.od !== day) {
        done.od = day;
        save();
        report(SERVICE_CODE, 1, 0);
      }
      return;
    }
    // The nearest reminder due; one that is due with it (the clock was set late) is moot.
    let due = -1;
    for (let i = 0; i < REMIND.length; i++) if (l <= REMIND[i] && (due < 0 || REMIND[i] < due)) due = REMIND[i];
    if (due < 0 || done.r.indexOf(due) >= 0) return;
    for (let i = 0; i < REMIND.length; i++)
      if (REMIND[i] >= due && done.r.indexOf(REMIND[i]) < 0) done.r.push(REMIND[i]);
    save();
    report(SERVICE_CODE, 1, due);
  }

  const timer = clock.every(3600000, check);
  check();
  return {
    daysLeft: left,
    check: check,
    stop: function () {
      clock.cancel(timer);
    }
  };
}
