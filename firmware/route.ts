/**
 * What one route does with the outcome of one exchange, as a pure machine with one step per kind
 * of exchange (`eventStep`, `linkTestStep`), run on `advance` (firmware/machine.ts): the reporter
 * (which keeps the I/O, the journal and the timers) steps each route's state with the exchange's
 * outcome and performs the effects, the first of which, for an event's exchange, is the next state
 * of that event's delivery on the route. Policy: docs/reporting.md, "Delivery", "Receivers in the
 * field".
 *
 * - Any well-formed reply (ACK, NAK, DUH) proves the path alive; only a valid ACK delivers.
 * - A NAK that a clock correction cured is answered by the same frame at once, once. A NAK the
 *   clock does not explain, or a DUH, means the receiver refuses the frame's content: the event
 *   goes again, same number, in a leaner form (full → one extended block → minimal). A receiver
 *   that refuses even the minimal form has refused the event: it backs off like any retry.
 * - Silence, a refused connection or a reply that does not acknowledge count as failed
 *   exchanges; `failAfter` in a row mark the route failed (350), one answer restores it.
 */

import { copyOf } from './machine';

/** Forms of an event's frame, fullest first. */
export const FULL = 0;
/** One extended-data block: the event's own (`[V…]` recording, `[I…]` reason), else `[H…]`. */
export const SINGLE = 1;
/** No extended data: account, code, qualifier, partition, zone, message time. */
export const MINIMAL = 2;

/** Refused frames back off up to this, whatever `retryMaxMs` says: a refusal is not a fault that clears in seconds. */
export const REFUSED_MAX_MS = 600000;

export interface RouteState {
  /** Reported failed (1 350) and not yet restored. */
  failed: boolean;
  /** Exchanges in a row that got no well-formed reply. */
  fails: number;
  /** `Clock.now()` when the last answered exchange was sent; -1: none this boot. */
  lastOk: number;
  /** No link test before this (a failed one backs off). */
  retryAt: number;
  /** A link test to send again with this number at once (a NAK the clock cured); 0: none. */
  again: number;
  /** The leanest form this receiver has needed this boot: later events start there. */
  form: number;
}

export interface TryState {
  /** Not before this `Clock.now()`. */
  next: number;
  /** Failed or refused tries in a row (the backoff). */
  fails: number;
  /** NAKs the clock cured, in a row, for the current form. */
  naks: number;
  form: number;
  /** Refused even in its minimal form the last time; the route is still tried after the backoff. */
  refused: boolean;
  /** Not for this route (an event bound to another route: the installer's per-path 601). */
  barred: boolean;
}

export interface RouteSettings {
  failAfter: number;
  retryMaxMs: number;
  /** Link-test interval of this route now, ms. */
  pollMs: number;
}

/**
 * The reply, as the channel and the clock saw it. `cured`: the NAK's time moved the unit's clock
 * (a resend may now pass); a NAK whose time agrees with the clock, has none, or cannot be believed
 * is not cured.
 */
export type Outcome =
  { kind: 'ack' } | { kind: 'nak'; cured: boolean } | { kind: 'duh' } | { kind: 'fail'; why: string };

export type RouteEffect =
  /** The event's delivery on this route is now `tr` (an event's exchange: the first effect). */
  | { type: 'try'; tr: TryState }
  /** The event is delivered, in this form. */
  | { type: 'delivered'; form: number }
  /** This route refused the event even in its minimal form. */
  | { type: 'refused' }
  /** The event goes out again in a leaner form. */
  | { type: 'leaner'; form: number }
  /** Report communication trouble on this route (1) or its end (3). */
  | { type: 'trouble'; qualifier: number }
  /** A failed exchange, for the log. */
  | { type: 'failed'; why: string };

/**
 * The route machine's events: an exchange ended. Its steps, one per kind of exchange, are
 * `eventStep` and `linkTestStep`, run on `advance` (firmware/machine.ts) with the route's
 * settings at the time.
 */
export interface EventExchange {
  /** The event's delivery on this route before the exchange. */
  tr: TryState;
  o: Outcome;
  /** The event's extended-data blocks in its full form. */
  blocks: number;
  now: number;
  /** `Clock.now()` at the send. */
  sentAt: number;
}

export interface TestExchange {
  o: Outcome;
  now: number;
  sentAt: number;
  /** The link test's number. */
  seq: number;
}

export interface RouteResult {
  state: RouteState;
  effects: RouteEffect[];
}

/** A route as it starts at boot. */
export function newRoute(): RouteState {
  return { failed: false, fails: 0, lastOk: -1, retryAt: 0, again: 0, form: FULL };
}

export function backoff(fails: number, cap: number): number {
  let d = 1000;
  for (let i = 1; i < fails && d < cap; i++) d *= 2;
  return d < cap ? d : cap;
}

/** The form after `form` for an event with `blocks` extended-data blocks; -1: none leaner. */
export function leaner(form: number, blocks: number): number {
  if (form === FULL && blocks > 1) return SINGLE;
  if (form < MINIMAL && blocks > 0) return MINIMAL;
  return -1;
}

/** The form a fresh try starts in on a route that has needed `routeForm`. */
export function firstForm(routeForm: number, blocks: number): number {
  if (blocks === 0) return MINIMAL;
  if (blocks === 1 && routeForm === SINGLE) return FULL;
  return routeForm;
}

export function newTry(route: RouteState, blocks: number, barred: boolean): TryState {
  return { next: 0, fails: 0, naks: 0, form: firstForm(route.form, blocks), refused: false, barred: barred };
}

/** Any well-formed reply: the route is alive (and restored if it was failed). */
function answered(r: RouteState, sentAt: number, fx: RouteEffect[]): RouteState {
  const n = copyOf(r);
  if (r.failed) fx.push({ type: 'trouble', qualifier: 3 });
  n.failed = false;
  n.fails = 0;
  n.lastOk = sentAt;
  n.retryAt = 0;
  return n;
}

function unanswered(r: RouteState, why: string, c: RouteSettings, fx: RouteEffect[]): RouteState {
  const n = copyOf(r);
  n.fails++;
  fx.push({ type: 'failed', why: why });
  if (!r.failed && n.fails >= c.failAfter) {
    n.failed = true;
    fx.push({ type: 'trouble', qualifier: 1 });
  }
  return n;
}

/** An event frame's exchange ended. */
export function eventStep(r: RouteState, x: EventExchange, c: RouteSettings): RouteResult {
  const t = x.tr;
  const o = x.o;
  const blocks = x.blocks;
  const now = x.now;
  // The delivery's next state first, then the event's own effects, then the route's: the event
  // is settled before anything reports. (`tr` is final before any effect is performed.)
  const tr = copyOf(t);
  const fx: RouteEffect[] = [{ type: 'try', tr: tr }];
  const rfx: RouteEffect[] = [];
  let route: RouteState;
  if (o.kind === 'fail') {
    tr.fails++;
    tr.naks = 0;
    tr.next = now + backoff(tr.fails, c.retryMaxMs);
    route = unanswered(r, o.why, c, rfx);
  } else {
    route = answered(r, x.sentAt, rfx);
    tr.next = now;
    if (o.kind === 'ack') {
      // Learn what this receiver takes: later events start in that form this boot.
      if (blocks > 0 && t.form > route.form) route.form = t.form;
      fx.push({ type: 'delivered', form: t.form });
      tr.fails = 0;
      tr.naks = 0;
      tr.refused = false;
    } else if (o.kind === 'nak' && o.cured && t.naks === 0) tr.naks = 1;
    else {
      // The receiver refuses this frame's content.
      tr.naks = 0;
      const f = leaner(t.form, blocks);
      if (f >= 0) {
        tr.form = f;
        fx.push({ type: 'leaner', form: f });
      } else {
        tr.fails++;
        tr.next = now + backoff(tr.fails, REFUSED_MAX_MS);
        // After the backoff, start again from the form this route is known to take: a refusal can pass.
        tr.form = firstForm(route.form, blocks);
        tr.refused = true;
        fx.push({ type: 'refused' });
      }
    }
  }
  return { state: route, effects: fx.concat(rfx) };
}

/**
 * A link test's exchange ended. A NAK the clock cured is followed by the same link test at once;
 * any other answer ends it: a receiver that NAKs link tests is alive.
 */
export function linkTestStep(r: RouteState, x: TestExchange, c: RouteSettings): RouteResult {
  const o = x.o;
  const fx: RouteEffect[] = [];
  if (o.kind === 'fail') {
    const route = unanswered(r, o.why, c, fx);
    route.again = 0;
    const wait = backoff(route.fails + 2, c.retryMaxMs);
    route.retryAt = x.now + (wait < c.pollMs ? wait : c.pollMs);
    return { state: route, effects: fx };
  }
  const route = answered(r, x.sentAt, fx);
  route.again = 0;
  if (o.kind === 'nak' && o.cured && r.again === 0) {
    route.again = x.seq;
    route.lastOk = -1;
  }
  return { state: route, effects: fx };
}

/**
 * When an event becomes due on a route. Urgent events go on every route at once (after
 * `urgentLagMs`, 0 by default), under the one number, so a silent primary costs nothing; other
 * events go to the secondary only after `slowMs` without an ACK, or at once when the primary
 * cannot take them (down, failed, refused or barred).
 */
export function dueAt(
  at: number,
  ri: number,
  urgent: boolean,
  primaryOut: boolean,
  urgentLagMs: number,
  slowMs: number
): number {
  if (ri === 0 || primaryOut) return at;
  return at + (urgent ? urgentLagMs : slowMs);
}

/**
 * Whether no route can deliver an event now: each has refused it, is barred from it or is failed,
 * and at least one refused it. That is a failure to communicate the event (354).
 */
export function undeliverable(tries: TryState[], routes: RouteState[]): boolean {
  let refused = false;
  for (let i = 0; i < tries.length; i++) {
    if (tries[i].refused) refused = true;
    else if (!tries[i].barred && !routes[i].failed) return false;
  }
  return refused;
}
