/**
 * Alarm reporting: every event is journalled (with its DC-09 sequence number) before it is sent,
 * delivered over a primary and a secondary route, and marked delivered only on a valid ACK.
 * Undelivered events survive reboots in the journal and go out again with the same number.
 * Policy and numbers: docs/reporting.md.
 *
 * The same scheduler supervises each route with NULL link tests, reports a failed route as
 * communication trouble (350) and its recovery, and sends the periodic test report (602).
 */
import type { Clock, Crypto, Link, LogSink } from '../hal/types';
import type { Config, ReceiverConfig } from './config';
import { keyBytes } from './config';
import type { Journal, JournalRecord, RecordFields, RecordOf } from './journal';
import { Dc09Target, encodeMessage, cidData, siaData } from './dc09';
import { formatTime } from './civil-time';
import { createChannel, Channel } from './channel';
import { siaCode, isUrgent, CID } from './events';
import { createCentreClock, CentreClock } from './centre-clock';
import { advance, Held } from './machine';
import {
  Outcome,
  RouteEffect,
  RouteSettings,
  RouteState,
  TryState,
  newRoute,
  FULL,
  SINGLE,
  MINIMAL,
  eventStep,
  linkTestStep,
  dueAt,
  undeliverable,
  newTry
} from './route';

export interface ReporterDeps {
  clock: Clock;
  crypto: Crypto;
  log: LogSink;
  journal: Journal;
  /** The journal's records as read at boot (the app reads them once for everyone). */
  history: JournalRecord[];
  links: { wifi?: Link; cellular?: Link };
  config: Config;
  /** An event was acknowledged (once per event). */
  onDelivered: (rec: RecordOf<'ev'>) => void;
  /** Every route is now rated failed (`false`), or one is no longer (`true`). */
  onReach?: (ok: boolean) => void;
}

export interface RouteStatus {
  path: string;
  /** `false` once `failAfter` exchanges in a row have failed, until one succeeds. */
  ok: boolean;
  /** `Clock.now()` of the last valid answer (-1: none this boot). */
  lastOk: number;
}

export interface Reporter {
  /**
   * Journal an event and start delivering it. Returns its journal record. `only` binds it to one
   * route (its index): the installer's per-path test report (601), delivered there or not at all.
   */
  report(code: number, qualifier: number, zone: number, xdata?: string, only?: number): RecordOf<'ev'>;
  /**
   * Health: the name of a route whose frame has waited for its reply far longer than its own
   * timeout allows (a lost timer or a HAL that never answers), or ''.
   */
  stuck(): string;
  /** The centre's clock from the last timestamped reply: its time and this unit's `now()` then. */
  centreTime(): { wall: number; at: number } | undefined;
  /** Events not yet acknowledged. */
  pending(): number;
  /** Frames waiting for a reply right now. */
  inflight(): number;
  routes(): RouteStatus[];
  /** Journal `retain` hook: keep undelivered events and the live sequence reservation. */
  retain(records: JournalRecord[]): JournalRecord[];
  stop(): void;
}

interface Pending {
  rec: RecordOf<'ev'>;
  at: number;
  urgent: boolean;
  /** Extended-data blocks in the event's full form. */
  blocks: number;
  tries: TryState[];
  /** Loaded from the journal at boot (an earlier boot's event). */
  old: boolean;
  /** Reported as a failure to communicate (354) and not yet delivered. */
  trouble: boolean;
}

/** A route, and its machine's state (`st`, stepped by `eventStep` and `linkTestStep`). */
interface Route extends Held<RouteState> {
  index: number;
  name: string;
  ch: Channel;
  link?: Link;
  target: Dc09Target;
}

/** After boot a path that is not up yet gets this long to come up before it is tried (and can fail). */
const LINK_GRACE_MS = 90000;

/** Sequence numbers are reserved in blocks in the journal, so a reboot never reuses one. */
const SEQ_BLOCK = 50;

function nextSeq(n: number): number {
  return n >= 9999 ? 1 : n + 1;
}

export function createReporter(d: ReporterDeps): Reporter {
  const clock = d.clock;
  const log = d.log;
  const journal = d.journal;
  const rep = d.config.report;
  const sup = d.config.supervision;
  const routes: Route[] = [];
  const pending: Pending[] = [];
  let stopped = false;
  /** Some route is not rated failed (every route starts so). */
  let reachable = true;
  let wakeTimer = -1;
  let wakeAt = -1;
  let testTimer = -1;
  const bootAt = clock.now();

  // Sequence state from the journal: continue after the last reservation.
  let seq = 1;
  let left = 0;
  let reservedTo = 0;
  // The latest wall time the journal has seen: the clock is never set before it.
  let floor = 0;
  // Espruino closures keep their whole scope alive: `done` and the deps' history (the deps object
  // lives as long as the reporter) are emptied once boot has used them.
  let done: { [i: string]: boolean } = {};
  for (let j = 0; j < d.history.length; j++) {
    const r = d.history[j];
    if (r.t > floor) floor = r.t;
    if (r.k === 'sq') {
      reservedTo = r.to as number;
      seq = nextSeq(reservedTo);
    } else if (r.k === 'ok' || r.k === 'fail') done[String(r.r)] = true;
  }
  const times: CentreClock = createCentreClock(clock, floor, log);

  function takeSeq(): number {
    if (left === 0) {
      let to = seq;
      for (let i = 1; i < SEQ_BLOCK; i++) to = nextSeq(to);
      journal.append('sq', { to: to });
      reservedTo = to;
      left = SEQ_BLOCK;
    }
    const s = seq;
    seq = nextSeq(seq);
    left--;
    return s;
  }

  function makeRoute(rc: ReceiverConfig, index: number): Route {
    const name = index === 0 ? 'primary' : 'secondary';
    const link = rc.path === 'wifi' ? d.links.wifi : d.links.cellular;
    const kb = rc.key === undefined ? undefined : keyBytes(rc.key, rc.keyFormat);
    const target: Dc09Target = {
      account: rc.account || d.config.account,
      line: rc.line,
      receiver: rc.receiver,
      key: typeof kb === 'string' ? kb : undefined
    };
    if (!target.key)
      log.write('error', name + ' receiver is UNENCRYPTED: lab use only, reports can be read and forged');
    const route: Route = {
      index: index,
      name: name,
      link: link,
      target: target,
      st: newRoute(),
      ch: createChannel({
        link: link,
        host: rc.host,
        port: rc.port,
        transport: rc.transport,
        target: target,
        ackTimeoutMs: rep.ackTimeoutMs,
        clock: clock,
        crypto: d.crypto,
        log: log,
        times: times,
        name: name
      })
    };
    if (link) {
      link.onStatus(function (s) {
        if (!s.up || stopped) return;
        // The bearer is back: try everything on this route now rather than after the backoff.
        // (A bearer's return is the scheduler's to act on, not a transition: it only brings the
        // backoffs the route machine set forward.)
        route.st.retryAt = 0;
        for (let i = 0; i < pending.length; i++) pending[i].tries[index].next = 0;
        pump();
      });
    }
    return route;
  }

  function linkUp(r: Route): boolean {
    return !!r.link && r.link.status().up;
  }

  function addPending(rec: RecordOf<'ev'>, old: boolean): void {
    const tries: TryState[] = [];
    // Every event carries its time [H…]; some also a recording reference or a reason.
    const blocks = rec.x ? 2 : 1;
    // A route-bound event (the installer's per-path 601) is barred from the other routes.
    const only = rec.o;
    for (let i = 0; i < routes.length; i++) tries.push(newTry(routes[i].st, blocks, only !== undefined && only !== i));
    const p: Pending = {
      rec: rec,
      at: clock.now(),
      urgent: isUrgent(rec.c as number),
      blocks: blocks,
      tries: tries,
      old: old,
      trouble: false
    };
    // Urgent events (hold-up, tamper, cancel) go ahead of the rest; otherwise journal order.
    let k = pending.length;
    while (k > 0 && p.urgent && !pending[k - 1].urgent) k--;
    pending.splice(k, 0, p);
  }

  function eligibleAt(p: Pending, r: Route): number {
    const primary = routes[0];
    const t0 = p.tries[0];
    const out = primary.st.failed || !linkUp(primary) || t0.refused || t0.barred;
    return dueAt(p.at, r.index, p.urgent, out, rep.failoverMs, rep.slowFailoverMs);
  }

  function settings(r: Route): RouteSettings {
    let poll = sup.primaryS;
    if (r.index > 0) poll = routes[0].st.failed ? sup.degradedS : sup.secondaryS;
    return { failAfter: sup.failAfter, retryMaxMs: rep.retryMaxMs, pollMs: poll * 1000 };
  }

  function remove(p: Pending): void {
    const k = pending.indexOf(p);
    if (k >= 0) pending.splice(k, 1);
  }

  function settled(p: Pending, kind: 'ok' | 'fail', r: Route, form: number): void {
    remove(p);
    const f: RecordFields['ok'] = { r: p.rec.i, p: r.index };
    if (form !== FULL) f.f = form;
    try {
      journal.append(kind, f);
    } catch (e) {
      log.write('error', 'journal: cannot mark event ' + p.rec.i + ' ' + kind);
    }
  }

  /** The event's extended data in `form`: everything; its own block (else its time); none. */
  function xdataFor(p: Pending, form: number): string {
    if (form === MINIMAL) return '';
    const rec = p.rec;
    const x = rec.x ? '[' + rec.x + ']' : '';
    if (form === SINGLE && x) return x;
    // The time the event happened: this boot's events on the (possibly since corrected) clock,
    // earlier boots' events as journalled. Constant across resends.
    const at = p.old ? rec.t : clock.wall() - (clock.now() - rec.u);
    const h = at > 0 ? '[H' + formatTime(at) + ']' : '';
    return form === SINGLE ? h : x + h;
  }

  function frameFor(p: Pending, r: Route, form: number): string {
    const rec = p.rec;
    const c = rec.c as number;
    const q = rec.q as number;
    const z = rec.z as number;
    const acct = r.target.account;
    const data = rep.format === 'sia' ? siaData(acct, siaCode(c, q), 1, z) : cidData(acct, q, c, 1, z);
    return encodeMessage(d.crypto, r.target, {
      id: rep.format === 'sia' ? 'SIA-DCS' : 'ADM-CID',
      seq: rec.n as number,
      data: data,
      xdata: xdataFor(p, form),
      time: clock.wall()
    });
  }

  /** An effect on the route itself (the event's own are performed by `sendEvent`). */
  function routeEffect(r: Route, e: RouteEffect): void {
    if (e.type === 'failed') log.write('warn', r.name + ' path: ' + e.why + ' (' + r.st.fails + ' in a row)');
    else if (e.type === 'trouble') {
      log.write(e.qualifier === 1 ? 'error' : 'info', r.name + (e.qualifier === 1 ? ' path failed' : ' path restored'));
      report(CID.COMMS, e.qualifier, r.index + 1);
      let ok = false;
      for (let k = 0; k < routes.length; k++) if (!routes[k].st.failed) ok = true;
      if (ok !== reachable) {
        reachable = ok;
        if (d.onReach) d.onReach(ok);
      }
    }
  }

  /** A failure to communicate (354) for every event no route can deliver now, once each. */
  function checkTrouble(zone: number): void {
    const states: RouteState[] = [];
    for (let i = 0; i < routes.length; i++) states.push(routes[i].st);
    for (let k = 0; k < pending.length; k++) {
      const p = pending[k];
      if (p.trouble || p.rec.c === CID.FAIL || p.rec.o !== undefined || !undeliverable(p.tries, states)) continue;
      p.trouble = true;
      log.write('error', 'event ' + p.rec.n + ' (' + p.rec.c + ') cannot be delivered: reported as 354, still owed');
      report(CID.FAIL, 1, zone);
    }
  }

  function sendEvent(r: Route, p: Pending): void {
    const n = p.rec.n as number;
    const s = ('000' + n).slice(-4);
    const sentAt = clock.now();
    const form = p.tries[r.index].form;
    r.ch.send(frameFor(p, r, form), s, function (o: Outcome) {
      if (stopped) return;
      const live = pending.indexOf(p) >= 0;
      const x = { tr: p.tries[r.index], o: o, blocks: p.blocks, now: clock.now(), sentAt: sentAt };
      advance(r, eventStep, x, settings(r), function (e: RouteEffect) {
        if (e.type === 'try') p.tries[r.index] = e.tr;
        else if (e.type === 'failed' || e.type === 'trouble') routeEffect(r, e);
        else if (!live) return;
        else if (e.type === 'delivered') {
          // Settle before anything else can report (and pump) from here: it must not be sent again.
          settled(p, 'ok', r, e.form);
          log.write(
            'info',
            'event ' +
              s +
              ' (' +
              p.rec.c +
              ') acknowledged via ' +
              r.name +
              (e.form === FULL ? '' : ' in its ' + (e.form === SINGLE ? 'one-block' : 'minimal') + ' form')
          );
          if (e.form === MINIMAL && p.rec.x)
            log.write(
              'warn',
              'event ' + s + ': its ' + (p.rec.x as string).charAt(0) + ' block did not reach the centre'
            );
          if (p.trouble) report(CID.FAIL, 3, r.index + 1);
          d.onDelivered(p.rec);
        } else if (e.type === 'leaner') {
          log.write(
            'warn',
            'event ' +
              s +
              ' refused by ' +
              r.name +
              ': sent again ' +
              (e.form === SINGLE ? 'with one extended block' : 'in its minimal form')
          );
        } else {
          log.write('error', 'event ' + s + ' refused by ' + r.name + ' even in its minimal form');
          if (p.tries[r.index].fails === 1) journal.append('duh', { r: p.rec.i, p: r.index });
          // An event bound to this route (the installer's test) ends here: the installer sees it.
          if (p.tries[r.index].barred === false && p.rec.o === r.index) settled(p, 'fail', r, MINIMAL);
        }
      });
      checkTrouble(r.index + 1);
      pump();
    });
  }

  function sendNull(r: Route): void {
    const s = r.st.again || takeSeq();
    const sentAt = clock.now();
    const digits = ('000' + s).slice(-4);
    const frame = encodeMessage(d.crypto, r.target, { id: 'NULL', seq: s, data: '', xdata: '', time: clock.wall() });
    // (`again` is consumed by the reply: every outcome of a link test sets it anew.)
    r.ch.send(frame, digits, function (o: Outcome) {
      if (stopped) return;
      const x = { o: o, now: clock.now(), sentAt: sentAt, seq: s };
      advance(r, linkTestStep, x, settings(r), function (e: RouteEffect) {
        routeEffect(r, e);
      });
      checkTrouble(r.index + 1);
      pump();
    });
  }

  function pump(): void {
    if (stopped) return;
    const now = clock.now();
    let wake = Infinity;
    for (let ri = 0; ri < routes.length; ri++) {
      const r = routes[ri];
      if (r.ch.busy()) continue;
      // A path still coming up after boot (Wi-Fi joining, the modem registering) is not tried, so
      // it is not rated failed before it had its chance; its coming up wakes this at once.
      if (r.link && !linkUp(r) && now - bootAt < LINK_GRACE_MS) {
        if (bootAt + LINK_GRACE_MS < wake) wake = bootAt + LINK_GRACE_MS;
        continue;
      }
      let chosen: Pending | undefined;
      for (let k = 0; k < pending.length && !chosen; k++) {
        const p = pending[k];
        const t = p.tries[ri];
        if (t.barred) continue;
        const at = Math.max(eligibleAt(p, r), t.next);
        if (at <= now) chosen = p;
        else if (at < wake) wake = at;
      }
      if (chosen) {
        sendEvent(r, chosen);
        continue;
      }
      const st = r.st;
      const due = Math.max(st.lastOk < 0 ? 0 : st.lastOk + settings(r).pollMs, st.retryAt);
      if (due <= now) sendNull(r);
      else if (due < wake) wake = due;
    }
    if (wake === Infinity || wake === wakeAt) return;
    clock.cancel(wakeTimer);
    wakeAt = wake;
    wakeTimer = clock.after(Math.max(0, wake - now), function () {
      wakeAt = -1;
      wakeTimer = -1;
      pump();
    });
  }

  function report(code: number, qualifier: number, zone: number, xdata?: string, only?: number): RecordOf<'ev'> {
    const fields: RecordFields['ev'] = { n: takeSeq(), c: code, q: qualifier, z: zone };
    if (xdata) fields.x = xdata;
    if (only !== undefined) fields.o = only;
    let rec: RecordOf<'ev'>;
    try {
      rec = journal.append('ev', fields);
    } catch (e) {
      // Storage is full even after rotation: deliver from memory rather than lose the event.
      log.write('error', 'journal full: event ' + code + ' kept in memory only');
      rec = fields as RecordOf<'ev'>;
      rec.i = 0;
      rec.k = 'ev';
      rec.u = clock.now();
      rec.t = clock.wall();
    }
    if (routes.length === 0) log.write('warn', 'no receivers configured: event ' + code + ' journalled only');
    addPending(rec, false);
    soon();
    return rec;
  }

  /**
   * Send on the next turn, not inside the caller: the event is journalled and the caller (a button
   * press, the boot) finishes first. On Espruino an out-of-memory error in network code aborts the
   * whole task it happens in, which cannot be caught; measured on the Linux interpreter, a refused
   * connection at boot did that and left the button unwatched (docs/faults.md).
   */
  let soonTimer = -1;
  function soon(): void {
    if (soonTimer >= 0 || stopped) return;
    soonTimer = clock.after(0, function () {
      soonTimer = -1;
      pump();
    });
  }

  for (let i = 0; i < rep.receivers.length; i++) routes.push(makeRoute(rep.receivers[i], i));
  // Undelivered events from before this boot, in journal order.
  for (let j = 0; j < d.history.length; j++) {
    const r = d.history[j];
    if (r.k === 'ev' && !done[String(r.i)]) addPending(r as RecordOf<'ev'>, true);
  }
  d.history = [];
  done = {};
  if (sup.testReportH > 0) {
    testTimer = clock.every(sup.testReportH * 3600000, function () {
      report(CID.PERIODIC_TEST, 1, 0);
    });
  }
  soon();

  return {
    report: report,
    centreTime: function () {
      return times.last();
    },
    stuck: function () {
      const now = clock.now();
      for (let i = 0; i < routes.length; i++) {
        const t = routes[i].ch.since();
        // A frame may go twice (the receiver closed under it): two timeouts, then the grace.
        if (t >= 0 && now - t > 2 * rep.ackTimeoutMs + 30000) return routes[i].name;
      }
      return '';
    },
    pending: function () {
      return pending.length;
    },
    inflight: function () {
      let n = 0;
      for (let i = 0; i < routes.length; i++) if (routes[i].ch.busy()) n++;
      return n;
    },
    routes: function () {
      const out: RouteStatus[] = [];
      for (let i = 0; i < routes.length; i++) {
        out.push({ path: rep.receivers[i].path, ok: !routes[i].st.failed, lastOk: routes[i].st.lastOk });
      }
      return out;
    },
    retain: function (records: JournalRecord[]) {
      const keep: JournalRecord[] = [];
      if (routes.length === 0) return keep;
      for (let i = 0; i < records.length; i++) {
        const r = records[i];
        let open = false;
        for (let k = 0; k < pending.length && r.k === 'ev'; k++) if (pending[k].rec.i === r.i) open = true;
        if (open || (r.k === 'sq' && r.to === reservedTo)) keep.push(r);
      }
      return keep;
    },
    stop: function () {
      stopped = true;
      clock.cancel(wakeTimer);
      clock.cancel(testTimer);
      if (soonTimer >= 0) clock.cancel(soonTimer);
      for (let i = 0; i < routes.length; i++) routes[i].ch.close();
    }
  };
}
