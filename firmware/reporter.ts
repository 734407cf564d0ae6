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
import type { Journal, JournalRecord } from './journal';
import { Dc09Target, encodeMessage, cidData, siaData, formatTime } from './dc09';
import { createChannel, Channel, ChannelResult } from './channel';
import { siaCode, isUrgent, CID } from './events';

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
  onDelivered: (rec: JournalRecord) => void;
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
  report(code: number, qualifier: number, zone: number, xdata?: string, only?: number): JournalRecord;
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

interface Try {
  next: number;
  fails: number;
  naks: number;
  duh: boolean;
}

interface Pending {
  rec: JournalRecord;
  at: number;
  urgent: boolean;
  tries: Try[];
  /** Loaded from the journal at boot (an earlier boot's event). */
  old: boolean;
}

interface Route {
  index: number;
  name: string;
  ch: Channel;
  link?: Link;
  target: Dc09Target;
  failed: boolean;
  fails: number;
  lastOk: number;
  retryAt: number;
  naks: number;
  /** A NAK'd link test is resent with its own number. */
  again: number;
}

/** Sequence numbers are reserved in blocks in the journal, so a reboot never reuses one. */
const SEQ_BLOCK = 50;
const MAX_NAKS = 3;

function nextSeq(n: number): number {
  return n >= 9999 ? 1 : n + 1;
}

function backoff(fails: number, cap: number): number {
  let d = 1000;
  for (let i = 1; i < fails && d < cap; i++) d *= 2;
  return d < cap ? d : cap;
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
  let wakeTimer = -1;
  let wakeAt = -1;
  let testTimer = -1;

  // Sequence state from the journal: continue after the last reservation.
  let seq = 1;
  let left = 0;
  let reservedTo = 0;
  // Espruino closures keep their whole scope alive: both are emptied once boot has used them.
  let done: { [i: string]: boolean } = {};
  let all = d.history;
  for (let j = 0; j < all.length; j++) {
    const r = all[j];
    if (r.k === 'sq') {
      reservedTo = r.to as number;
      seq = nextSeq(reservedTo);
    } else if (r.k === 'ok' || r.k === 'fail') done[String(r.r)] = true;
  }

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
    if (!target.key) log.write('error', name + ' receiver is UNENCRYPTED: lab use only, reports can be read and forged');
    const route: Route = {
      index: index,
      name: name,
      link: link,
      target: target,
      failed: false,
      fails: 0,
      lastOk: -1,
      retryAt: 0,
      naks: 0,
      again: 0,
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
        name: name
      })
    };
    if (link) {
      link.onStatus(function (s) {
        if (!s.up || stopped) return;
        // The bearer is back: try everything on this route now rather than after the backoff.
        route.retryAt = 0;
        for (let i = 0; i < pending.length; i++) pending[i].tries[index].next = 0;
        pump();
      });
    }
    return route;
  }

  function linkUp(r: Route): boolean {
    return !!r.link && r.link.status().up;
  }

  function addPending(rec: JournalRecord, old: boolean): void {
    const tries: Try[] = [];
    // A route-bound event counts as refused on the other routes: never sent there, and settled as
    // failed when its own route refuses it.
    const only = rec.o;
    for (let i = 0; i < routes.length; i++) tries.push({ next: 0, fails: 0, naks: 0, duh: only !== undefined && only !== i });
    const p: Pending = { rec: rec, at: clock.now(), urgent: isUrgent(rec.c as number), tries: tries, old: old };
    // Urgent events (hold-up, tamper, cancel) go ahead of the rest; otherwise journal order.
    let k = pending.length;
    while (k > 0 && p.urgent && !pending[k - 1].urgent) k--;
    pending.splice(k, 0, p);
  }

  function eligibleAt(p: Pending, r: Route): number {
    if (r.index === 0) return p.at;
    const primary = routes[0];
    if (primary.failed || !linkUp(primary) || p.tries[0].duh) return p.at;
    return p.at + (p.urgent ? rep.failoverMs : rep.slowFailoverMs);
  }

  function pollInterval(r: Route): number {
    if (r.index === 0) return sup.primaryS * 1000;
    return (routes[0].failed ? sup.degradedS : sup.secondaryS) * 1000;
  }

  /** A valid answer to a frame sent at `sentAt`: the supervision interval runs from the send. */
  function routeAnswered(r: Route, sentAt: number): void {
    r.fails = 0;
    r.retryAt = 0;
    r.lastOk = sentAt;
    if (r.failed) {
      r.failed = false;
      log.write('info', r.name + ' path restored');
      report(CID.COMMS, 3, r.index + 1);
    }
  }

  function routeFailed(r: Route, why: string): void {
    r.fails++;
    log.write('warn', r.name + ' path: ' + why + ' (' + r.fails + ' in a row)');
    if (r.fails >= sup.failAfter && !r.failed) {
      r.failed = true;
      log.write('error', r.name + ' path failed');
      report(CID.COMMS, 1, r.index + 1);
    }
  }

  function remove(p: Pending): void {
    const k = pending.indexOf(p);
    if (k >= 0) pending.splice(k, 1);
  }

  function settled(p: Pending, kind: string, r: Route): void {
    remove(p);
    try {
      journal.append(kind, { r: p.rec.i, p: r.index });
    } catch (e) {
      log.write('error', 'journal: cannot mark event ' + p.rec.i + ' ' + kind);
    }
  }

  function frameFor(p: Pending, r: Route): string {
    const rec = p.rec;
    const c = rec.c as number;
    const q = rec.q as number;
    const z = rec.z as number;
    // The time the event happened, in every frame: this boot's events on the (possibly since
    // corrected) clock, earlier boots' events as journalled. Constant across resends.
    const at = p.old ? (rec.t as number) : clock.wall() - (clock.now() - (rec.u as number));
    const h = at > 0 ? '[H' + formatTime(at) + ']' : '';
    const acct = r.target.account;
    const data = rep.format === 'sia' ? siaData(acct, siaCode(c, q), 1, z) : cidData(acct, q, c, 1, z);
    return encodeMessage(d.crypto, r.target, {
      id: rep.format === 'sia' ? 'SIA-DCS' : 'ADM-CID',
      seq: rec.n as number,
      data: data,
      xdata: (rec.x ? '[' + rec.x + ']' : '') + h,
      time: clock.wall()
    });
  }

  let centre: { wall: number; at: number } | undefined;

  function heard(res: ChannelResult): void {
    if (res.time !== undefined) centre = { wall: res.time, at: clock.now() };
  }

  function nakTime(res: ChannelResult): void {
    if (res.time !== undefined && res.time > 1.5e12) {
      clock.setWall(res.time);
      log.write('warn', 'clock corrected from receiver NAK');
    }
  }

  function sendEvent(r: Route, p: Pending): void {
    const n = p.rec.n as number;
    const s = ('000' + n).slice(-4);
    const sentAt = clock.now();
    r.ch.send(frameFor(p, r), s, function (res: ChannelResult) {
      if (stopped) return;
      const t = p.tries[r.index];
      heard(res);
      if (pending.indexOf(p) < 0) {
        // Already settled on the other route.
        if (res.kind === 'ack') routeAnswered(r, sentAt);
      } else if (res.kind === 'ack') {
        // Settle before anything else can report (and pump) from here: it must not be sent again.
        settled(p, 'ok', r);
        log.write('info', 'event ' + s + ' (' + p.rec.c + ') acknowledged via ' + r.name);
        routeAnswered(r, sentAt);
        d.onDelivered(p.rec);
      } else if (res.kind === 'nak' && t.naks < MAX_NAKS) {
        t.naks++;
        routeAnswered(r, sentAt);
        nakTime(res);
        t.next = 0;
      } else if (res.kind === 'duh') {
        routeAnswered(r, sentAt);
        t.duh = true;
        log.write('error', 'event ' + s + ' refused (DUH) by ' + r.name);
        journal.append('duh', { r: p.rec.i, p: r.index });
        let open = false;
        for (let i = 0; i < p.tries.length; i++) if (!p.tries[i].duh) open = true;
        if (!open) {
          settled(p, 'fail', r);
          if (p.rec.c !== CID.FAIL) report(CID.FAIL, 1, r.index + 1);
        }
      } else {
        t.fails++;
        t.naks = 0;
        t.next = clock.now() + backoff(t.fails, rep.retryMaxMs);
        routeFailed(r, res.why || 'no valid answer');
      }
      pump();
    });
  }

  function sendNull(r: Route): void {
    const s = r.again || takeSeq();
    r.again = 0;
    const sentAt = clock.now();
    const digits = ('000' + s).slice(-4);
    const frame = encodeMessage(d.crypto, r.target, { id: 'NULL', seq: s, data: '', xdata: '', time: clock.wall() });
    r.ch.send(frame, digits, function (res: ChannelResult) {
      if (stopped) return;
      heard(res);
      if (res.kind === 'fail') {
        r.naks = 0;
        routeFailed(r, res.why || 'no valid answer');
        r.retryAt = clock.now() + Math.min(pollInterval(r), backoff(r.fails + 2, rep.retryMaxMs));
      } else {
        if (res.kind === 'nak' && r.naks < MAX_NAKS) {
          r.naks++;
          nakTime(res);
          routeAnswered(r, sentAt);
          r.lastOk = -1;
          r.again = s;
        } else {
          r.naks = 0;
          routeAnswered(r, sentAt);
        }
      }
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
      let chosen: Pending | undefined;
      for (let k = 0; k < pending.length && !chosen; k++) {
        const p = pending[k];
        const t = p.tries[ri];
        if (t.duh) continue;
        const at = Math.max(eligibleAt(p, r), t.next);
        if (at <= now) chosen = p;
        else if (at < wake) wake = at;
      }
      if (chosen) {
        sendEvent(r, chosen);
        continue;
      }
      const due = Math.max(r.lastOk < 0 ? 0 : r.lastOk + pollInterval(r), r.retryAt);
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

  function report(code: number, qualifier: number, zone: number, xdata?: string, only?: number): JournalRecord {
    const fields: { [k: string]: unknown } = { n: takeSeq(), c: code, q: qualifier, z: zone };
    if (xdata) fields.x = xdata;
    if (only !== undefined) fields.o = only;
    let rec: JournalRecord;
    try {
      rec = journal.append('ev', fields);
    } catch (e) {
      // Storage is full even after rotation: deliver from memory rather than lose the event.
      log.write('error', 'journal full: event ' + code + ' kept in memory only');
      fields.i = 0;
      fields.k = 'ev';
      fields.u = clock.now();
      fields.t = clock.wall();
      rec = fields as JournalRecord;
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
  for (let j = 0; j < all.length; j++) {
    if (all[j].k === 'ev' && !done[String(all[j].i)]) addPending(all[j], true);
  }
  all = [];
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
      return centre;
    },
    stuck: function () {
      const now = clock.now();
      for (let i = 0; i < routes.length; i++) {
        const t = routes[i].ch.since();
        if (t >= 0 && now - t > rep.ackTimeoutMs + 30000) return routes[i].name;
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
        out.push({ path: rep.receivers[i].path, ok: !routes[i].failed, lastOk: routes[i].lastOk });
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
