/**
 * Evidence upload (docs/evidence.md, "Upload (plain TCP, either path)"): recordings' sealed chunks
 * go to the evidence server over plain TCP through the HAL `Link` the alarms use (Wi-Fi when it is
 * up, else the cellular modem's own sockets), oldest first, a batch per request with the signed
 * manifest in front. A reply counts only with its MAC under the unit's key, bound to the fresh
 * nonce of the request it answers; a chunk leaves the card only on such a confirmation of its
 * hash. Alarm and supervision traffic go first: nothing is sent while an event is pending or in
 * flight.
 */
import type { Clock, Connection, Crypto, Link, LogSink, Spool } from '../hal/types';
import type { EvidenceConfig } from './config';
import type { Recorder, RecState } from './recorder';
import { readHead, segmentName } from './recorder';
import { sameBytes } from './bytes';
import type { SealKeys } from './seal';

export interface UploaderDeps {
  clock: Clock;
  crypto: Crypto;
  spool: Spool;
  links: { wifi?: Link; cellular?: Link };
  log: LogSink;
  unit: string;
  evidence: EvidenceConfig;
  keys: SealKeys;
  recorder: Recorder;
  /** True while the alarm path has work (events pending or frames in flight). */
  busy: () => boolean;
  /** True while memory is short: one chunk per request instead of `evidence.batch`. */
  lean?: () => boolean;
  /** Free memory, in the HAL's units (variables on Espruino): a batch takes what it leaves room for. */
  freeVars?: () => number;
}

/**
 * Memory one chunk of a request holds on the Espruino WiFi until it is sent (its header line and
 * what is kept of it; the ciphertext is read from the card a piece at a time), and what a request
 * must leave free (issue #17: a batch of 2 read beside a recording ran the release interpreter out
 * of memory).
 */
const VARS_PER_CHUNK = 120;
const UPLOAD_RESERVE = 1200;
/**
 * Ciphertext is read from the card and written this much at a time, the next piece only once the
 * link says the last one left (`onSent`): a 4 KB chunk held whole as a string is ~450 variables
 * on the release interpreter, a piece ~165. One SIM800 `CIPSEND` (at-sockets.ts MAX_SEND).
 */
const PIECE = 1460;
/** A link that never says a piece left (no `onSent`) is written on after this, ms. */
const SENT_MS = 5000;

export interface UploaderStatus {
  /** Chunks confirmed by the server since boot. */
  sent: number;
  /** Requests that failed since boot. */
  failures: number;
  /** The last failure's reason ('' when the last request succeeded). */
  last: string;
  /** A request is in flight. */
  inflight: boolean;
  /** Evidence bytes written over cellular since boot. */
  cellularBytes: number;
}

export interface Uploader {
  status(): UploaderStatus;
  stop(): void;
}

/** Retry pauses after a failure, ms. */
const BACKOFF_MIN = 2000;
const BACKOFF_MAX = 60000;
/** While waiting for the alarm path or a path to come up, look again this often, ms. */
const POLL_MS = 2000;
/** Bound on one request's exchange, ms. */
const REPLY_MS = 30000;
/** An idle connection closes after this, ms. */
const IDLE_MS = 20000;
/** A reply longer than this is refused (it confirms at most 8 chunks). */
const REPLY_MAX = 2048;

/** The manifest in its signed form: keys in the documented order, no whitespace. */
export function manifestText(unit: string, st: RecState): string {
  return JSON.stringify({
    v: 1,
    unit: unit,
    r: st.r,
    rate: st.rate,
    bits: 8,
    trig: st.trig,
    start: st.start,
    n: st.n,
    samples: st.ns,
    head: st.hd,
    gaps: st.gaps,
    end: st.end,
    final: st.end !== ''
  });
}

interface Sent {
  st: RecState;
  nonce: string;
  first: number;
  final: boolean;
  hashes: string[];
  /** Offset after each record sent, in segment `st.us`. */
  ends: number[];
}

export function createUploader(d: UploaderDeps): Uploader {
  const clock = d.clock;
  const ev = d.evidence;
  const k = d.keys;
  let timer = -1;
  let stopped = false;
  let backoff = BACKOFF_MIN;
  let sent = 0;
  let failures = 0;
  let last = '';
  let cellularBytes = 0;

  let conn: Connection | undefined;
  let connLink: Link | undefined;
  let open = false;
  let req: Sent | undefined;
  let reply = '';
  let replyTimer = -1;
  let idleTimer = -1;
  /**
   * What the request still has to write, in order: text, or a piece of a record's ciphertext on
   * the card (`[segment, offset, length]`), read only when it is its turn.
   */
  let out: (string | [string, number, number])[] = [];
  /** A piece was written and the link has not yet said it left. */
  let waiting = false;
  let sentTimer = -1;

  function schedule(ms: number): void {
    if (stopped) return;
    if (timer >= 0) clock.cancel(timer);
    timer = clock.after(ms, function () {
      timer = -1;
      tick();
    });
  }

  /** Wi-Fi when up; else cellular when up and the recording is under its cellular cap. */
  function link(st: RecState): Link | undefined {
    const w = d.links.wifi;
    if (w && w.status().up) return w;
    const c = d.links.cellular;
    const cap = (ev.cellularKB || 0) * 1024;
    if (c && c.status().up && (cap === 0 || st.cb < cap)) return c;
    return undefined;
  }

  /** The recording with something to send, oldest first. */
  function next(): RecState | undefined {
    const all = d.recorder.states();
    for (let i = 0; i < all.length; i++) {
      const st = all[i];
      if (st.up < st.n || (st.end !== '' && !st.fin)) return st;
    }
    return undefined;
  }

  function drop(): void {
    clock.cancel(idleTimer);
    clock.cancel(replyTimer);
    const c = conn;
    conn = undefined;
    connLink = undefined;
    open = false;
    out = [];
    waiting = false;
    clock.cancel(sentTimer);
    if (c) c.close();
  }

  function fail(why: string): void {
    req = undefined;
    failures++;
    last = why;
    drop();
    d.log.write('warn', 'evidence upload failed: ' + why + '; retry in ' + backoff / 1000 + ' s');
    schedule(backoff);
    backoff = Math.min(backoff * 2, BACKOFF_MAX);
  }

  function noReply(): void {
    replyTimer = -1;
    if (req) fail('no reply');
  }

  /** Write what the request has left, up to and including one piece of ciphertext. */
  function pump(): void {
    while (open && conn && req && !waiting && out.length > 0) {
      const x = out.shift()!;
      let s: string | undefined;
      if (typeof x === 'string') s = x;
      else {
        s = d.spool.readAt(x[0], x[1], x[2]);
        if (s === undefined || s.length !== x[2]) {
          d.log.write('error', 'chunk of recording ' + req.st.r + ' unreadable on the spool at ' + x[1]);
          fail('chunk unreadable');
          return;
        }
        waiting = true;
        clock.cancel(sentTimer);
        sentTimer = clock.after(SENT_MS, sentNow);
      }
      if (connLink === d.links.cellular) {
        req.st.cb += s.length;
        cellularBytes += s.length;
      }
      if (!conn.write(s)) {
        fail('connection closed');
        return;
      }
    }
  }

  function sentNow(): void {
    clock.cancel(sentTimer);
    sentTimer = -1;
    waiting = false;
    pump();
  }

  function connect(l: Link): void {
    connLink = l;
    const mine = l.connect(
      { host: ev.host, port: ev.port, transport: 'tcp', timeoutMs: REPLY_MS },
      {
        onOpen: function () {
          if (conn !== mine) return;
          open = true;
          pump();
        },
        onSent: function () {
          if (conn === mine && waiting) sentNow();
        },
        onData: function (data: string) {
          if (conn !== mine) return;
          reply += data;
          if (reply.length > REPLY_MAX + 100) fail('reply too long');
          else if (req) parseReply();
        },
        onClose: function (err?: string) {
          if (conn !== mine) return;
          conn = undefined;
          open = false;
          if (req) fail('closed' + (err ? ': ' + err : ''));
        }
      }
    );
    conn = mine;
  }

  /**
   * The records to send from where chunk `up` starts: consecutive, within one segment. A segment
   * with nothing more to read at the upload point, when a later one exists, is done: it goes.
   */
  function records(st: RecState, max: number): { h: string; line: string; at: number; len: number; next: number }[] {
    const got: { h: string; line: string; at: number; len: number; next: number }[] = [];
    for (;;) {
      let off = st.uo;
      const seg = segmentName(st.r, st.us);
      for (let i = 0; i < max && st.up + i < st.n; i++) {
        const x = readHead(d.spool, seg, off);
        if (!x || x.h.i !== st.up + i) break;
        got.push({ h: x.h.h, line: JSON.stringify(x.h) + '\n', at: x.at, len: x.len, next: x.next });
        off = x.next;
      }
      if (got.length > 0 || st.us >= st.sg || st.up >= st.n) return got;
      // Nothing (more) in this segment: every chunk in it is confirmed, so it is freed.
      d.spool.erase(seg);
      st.us++;
      st.uo = 0;
      d.recorder.save(st);
    }
  }

  function tick(): void {
    if (req || stopped) return;
    const st = next();
    if (!st) {
      if (conn && idleTimer < 0) {
        idleTimer = clock.after(IDLE_MS, function () {
          idleTimer = -1;
          if (!req) drop();
        });
      }
      return;
    }
    const l = link(st);
    const room = d.freeVars ? Math.floor((d.freeVars() - UPLOAD_RESERVE) / VARS_PER_CHUNK) : ev.batch;
    // Alarms and the capture come first: a request starts only with room for a chunk beside the
    // reserve; the card keeps the rest until memory returns (at the latest when the recording ends).
    if (!l || d.busy() || room < 1) {
      schedule(POLL_MS);
      return;
    }
    clock.cancel(idleTimer);
    idleTimer = -1;
    if (conn && connLink !== l) drop();
    if (!prepare(st, room)) return;
    // The reply timer and the connection's handlers are made by functions of createUploader's, not
    // here or in prepare(): Espruino keeps a closure's whole defining scope, and a single-use
    // function is substituted at its call (terser), so a closure made in tick or prepare would keep
    // the request's manifest and records alive as long as the connection (docs/espruino-notes.md).
    replyTimer = clock.after(REPLY_MS, noReply);
    if (!conn) connect(l);
    else pump();
  }

  /** Build the request for `st` (`req`, and what it will write, `out`); false if it cannot be read. */
  function prepare(st: RecState, room: number): boolean {
    const recs = records(st, d.lean && d.lean() ? 1 : Math.min(ev.batch, room));
    if (recs.length === 0 && st.up < st.n && !(st.end !== '' && st.up >= st.n)) {
      // A chunk the recorder counted cannot be read back from the card: it cannot be sent.
      d.log.write('error', 'chunk ' + st.r + ':' + st.up + ' unreadable on the spool');
      fail('chunk unreadable');
      return false;
    }
    const m = manifestText(d.unit, st);
    const signed = m.substr(0, m.length - 1) + ',"sig":"' + d.crypto.hex(d.crypto.hmacSha256(k.sig, m)) + '"}';
    const nonce = d.crypto.hex(d.crypto.randomBytes(16));
    const r: Sent = {
      st: st,
      nonce: nonce,
      first: st.up,
      final: st.end !== '' && st.up + recs.length >= st.n,
      hashes: [],
      ends: []
    };
    req = r;
    reply = '';
    const seg = segmentName(st.r, st.us);
    out = ['EVD1 ' + d.unit + ' ' + st.r + ' ' + nonce + ' ' + signed.length + ' ' + recs.length + '\n', signed];
    waiting = false;
    for (let i = 0; i < recs.length; i++) {
      r.hashes.push(recs[i].h);
      r.ends.push(recs[i].next);
      out.push(recs[i].line);
      for (let o = 0; o < recs[i].len; o += PIECE) out.push([seg, recs[i].at + o, Math.min(PIECE, recs[i].len - o)]);
    }
    return true;
  }

  /** `EVR1 <len> <mac>\n<len bytes of JSON>`: act on it once whole and authentic. */
  function parseReply(): void {
    const r = req as Sent;
    const nl = reply.indexOf('\n');
    if (nl < 0) {
      if (reply.length > 120) fail('bad reply');
      return;
    }
    const f = reply.substr(0, nl).split(' ');
    const len = parseInt(f[1], 10);
    if (f.length !== 3 || f[0] !== 'EVR1' || !(len >= 2 && len <= REPLY_MAX) || f[2].length !== 64) {
      fail('bad reply');
      return;
    }
    if (reply.length < nl + 1 + len) return;
    const text = reply.substr(nl + 1, len);
    reply = reply.substr(nl + 1 + len);
    const mac = d.crypto.hex(d.crypto.hmacSha256(k.rep, 'EVR1:' + d.unit + ':' + r.st.r + ':' + r.nonce + ':' + text));
    if (!sameBytes(mac, f[2])) {
      // Not from anyone with the key, or not for this request: nothing in it counts.
      fail('reply not authentic');
      return;
    }
    let body: { q?: string; r?: string; ok?: { i: number; h: string }[]; stop?: boolean; error?: string } | undefined;
    try {
      body = JSON.parse(text);
    } catch (e) {
      body = undefined;
    }
    if (!body || body.q !== r.nonce || body.r !== r.st.r) {
      fail('bad reply');
      return;
    }
    clock.cancel(replyTimer);
    replyTimer = -1;
    req = undefined;
    answered(r, body);
  }

  function answered(r: Sent, body: { ok?: { i: number; h: string }[]; stop?: boolean; error?: string }): void {
    const st = r.st;
    const ok = body.ok || [];
    let up = st.up;
    for (let i = 0; i < ok.length; i++) {
      const at = ok[i].i - r.first;
      if (ok[i].i === up && at >= 0 && at < r.hashes.length && ok[i].h === r.hashes[at]) {
        st.uo = r.ends[at];
        up++;
        sent++;
      }
    }
    const progressed = up > st.up;
    st.up = up;
    // Done once the server holds every chunk and has the final manifest (sent in this request).
    if (r.final && st.up >= st.n && !body.error) st.fin = true;
    if (progressed || st.fin) d.recorder.save(st);
    if (body.stop === true) {
      if (d.recorder.ref() === d.unit + '-' + st.r) {
        d.log.write('info', 'recording ' + st.r + ' stopped by the centre');
        d.recorder.end('stop');
      }
    }
    if (body.error) {
      fail('server: ' + String(body.error).substr(0, 60));
      return;
    }
    backoff = BACKOFF_MIN;
    last = '';
    if (!progressed && !st.fin && r.hashes.length > 0) {
      fail('server confirmed nothing');
      return;
    }
    schedule(0);
  }

  d.recorder.onWork(function () {
    if (!req && timer < 0) schedule(0);
  });
  schedule(0);

  return {
    status: function () {
      return { sent: sent, failures: failures, last: last, inflight: req !== undefined, cellularBytes: cellularBytes };
    },
    stop: function () {
      stopped = true;
      if (timer >= 0) clock.cancel(timer);
      timer = -1;
      req = undefined;
      drop();
    }
  };
}
