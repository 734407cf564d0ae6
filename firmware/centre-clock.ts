/**
 * The unit's wall clock as its receivers see it, and the time checks that keep a forged or replayed
 * reply from passing for an acknowledgement. Shared by every route (one wall clock).
 *
 * - The clock is trusted once an encrypted ACK (only a key holder can make one) has set it this
 *   boot; every accepted ACK then keeps it within about a second of the centre's.
 * - An encrypted ACK is taken at most once (its decrypted pad and time are remembered while they
 *   stay in the window), its time is inside the window around the exchange (±10 s on a trusted
 *   clock; the standard's -20/+40 s seen from the unit before), and accepted ACK times never go
 *   back further than the window. An authentic ACK ahead of a clock never set moves it forward.
 * - A NAK is not authenticated: it may set a clock that was never trusted (not before what the
 *   journal says it has already seen), it may move a trusted clock only within the window of
 *   what the last authenticated time predicts, and never to an implausible year.
 * Numbers: docs/reporting.md, "Clock".
 */
import type { Clock, LogSink } from '../hal/types';

/** Receivers in the field accept message times within ±10 s of their clock: the tightest seen. */
export const WINDOW_MS = 10000;
/**
 * The standard's window (a receiver takes message times from 40 s before to 20 s after its clock):
 * on a clock no centre has set yet, an ACK may be that far from the unit's clock.
 */
const LOOSE_EARLY_MS = 20000;
const LOOSE_LATE_MS = 40000;
/** A NAK whose time is this close to the unit's clock did not complain about the time. */
export const AGREE_MS = 3000;
/** Plausible wall-clock times for a unit in service: 2025-01-01 to 2045-01-01 (UTC). */
export const MIN_WALL = 1735689600000;
export const MAX_WALL = 2366841600000;
/** A trusted clock may drift this much (per ms elapsed) from its last authenticated setting. */
const DRIFT = 0.0001;
const REMEMBER = 16;

export interface CentreClock {
  /**
   * An ACK that decrypted with the unit's key (`tag`: its decrypted pad and time) or, for a plain
   * route, a plain one (`tag` ''). `sentWall`: when the frame went, on the clock as it reads now
   * (a step made by another reply since counts). Returns '' when
   * it acknowledges, `resync` when it was authentic and ahead of a clock no centre has set yet (the
   * clock takes its time: send again), or why it is refused.
   */
  ack(time: number | undefined, tag: string, sentWall: number): string;
  /**
   * A NAK's time. `frameNow`: what the wall clock would read now on the clock the frame was sent
   * by (its time plus the time since). `true` when the NAK was about the frame's time and the
   * clock now agrees with the receiver's (moved by this NAK or already by another reply): a
   * resend may pass.
   */
  nak(time: number | undefined, frameNow: number): boolean;
  /** The centre's time from the last reply believed, and `Clock.now()` then. */
  last(): { wall: number; at: number } | undefined;
  trusted(): boolean;
}

/** `floor`: the latest wall time the journal holds; the clock is never set before it (less the window). */
export function createCentreClock(clock: Clock, floor: number, log: LogSink): CentreClock {
  let authWall = 0;
  let authAt = -1;
  let newest = 0;
  const seen: string[] = [];
  const seenAt: number[] = [];
  /** The newest time among ACKs dropped from memory for its size (0: none). */
  let forgot = 0;
  let last: { wall: number; at: number } | undefined;
  if (floor > MIN_WALL && floor < MAX_WALL && clock.wall() < floor) clock.setWall(floor);

  function plausible(t: number | undefined): boolean {
    return t !== undefined && t >= MIN_WALL && t < MAX_WALL && t >= floor - WINDOW_MS;
  }

  /** Set the clock to a reply's time (whole seconds, so the centre is half a second on). */
  function follow(t: number): void {
    const want = t + 500;
    const off = clock.wall() - want;
    if (off > 1000 || off < -1000) clock.setWall(want);
  }

  function trust(t: number): void {
    follow(t);
    authWall = t + 500;
    authAt = clock.now();
    last = { wall: t, at: clock.now() };
  }

  function remember(tag: string, t: number): void {
    seen.push(tag);
    seenAt.push(t);
    while (seen.length > REMEMBER || (seen.length > 0 && seenAt[0] < newest - 2 * WINDOW_MS)) {
      // Forgotten for the count while it could still pass the window: nothing that old is taken
      // again (a genuine ACK of the same second is refused once; the resend after it passes).
      if (seen.length > REMEMBER && seenAt[0] > forgot) forgot = seenAt[0];
      seen.shift();
      seenAt.shift();
    }
  }

  return {
    ack: function (time, tag, sentWall) {
      if (tag === '') {
        // A plain route (lab only): nothing to authenticate; its time is believed like a NAK's.
        if (time !== undefined && plausible(time)) last = { wall: time, at: clock.now() };
        return '';
      }
      if (time === undefined) return 'no timestamp';
      if (!plausible(time)) return 'timestamp implausible';
      if (seen.indexOf(tag) >= 0 || time <= forgot) return 'replayed';
      if (time < newest - WINDOW_MS) return 'older than an ACK already taken';
      // Whole-second stamps: the centre's time is up to a second after the one it writes.
      const early = sentWall - 1000 - (authAt >= 0 ? WINDOW_MS : LOOSE_EARLY_MS);
      const late = clock.wall() + (authAt >= 0 ? WINDOW_MS : LOOSE_LATE_MS);
      if (time < early || time > late) {
        // Only forward, and only a clock no centre has set: an old ACK replayed can never move it.
        if (authAt >= 0 || time < early) return 'timestamp outside the window';
        // Authentic and new, and the clock is behind it: take its time, send the frame again.
        remember(tag, time);
        if (time > newest) newest = time;
        trust(time);
        log.write('warn', 'clock set from an encrypted ACK');
        return 'resync';
      }
      remember(tag, time);
      if (time > newest) newest = time;
      trust(time);
      return '';
    },
    nak: function (time, frameNow) {
      if (!plausible(time)) return false;
      const t = time as number;
      // The frame's time agreed with the receiver's: the NAK is about something else.
      if (t - frameNow <= AGREE_MS && frameNow - t <= AGREE_MS) return false;
      const off = t - clock.wall();
      if (off <= AGREE_MS && off >= -AGREE_MS) return true;
      if (authAt >= 0) {
        const expect = authWall + (clock.now() - authAt);
        const slack = WINDOW_MS + (clock.now() - authAt) * DRIFT;
        if (t - expect > slack || expect - t > slack) {
          log.write('warn', 'NAK time ignored: not near the authenticated time');
          return false;
        }
      }
      follow(t);
      last = { wall: t, at: clock.now() };
      log.write('warn', 'clock corrected from receiver NAK');
      return true;
    },
    last: function () {
      return last;
    },
    trusted: function () {
      return authAt >= 0;
    }
  };
}
