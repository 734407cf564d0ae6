/**
 * Evidence upload (docs/evidence.md): recordings' chunks go to the evidence server over HTTPS with
 * its certificate pinned, oldest first, a batch per request with the signed manifest in front.
 * A chunk leaves the spool only when the server confirms its hash. Alarm and supervision traffic
 * go first: nothing is sent while an event is pending or in flight.
 */
import type { Clock, Crypto, Link, LogSink, Spool } from '../hal/types';
import type { EvidenceConfig } from './config';
import type { Recorder, RecState } from './recorder';
import { chunkName, hexOf } from './recorder';
import { fromHex } from './dc09';

export interface UploaderDeps {
  clock: Clock;
  crypto: Crypto;
  spool: Spool;
  links: { wifi?: Link; cellular?: Link };
  log: LogSink;
  unit: string;
  evidence: EvidenceConfig;
  recorder: Recorder;
  /** True while the alarm path has work (events pending or frames in flight). */
  busy: () => boolean;
  /** True while memory is short: one chunk per request instead of `evidence.batch`. */
  lean?: () => boolean;
}

export interface UploaderStatus {
  /** Chunks confirmed by the server since boot. */
  sent: number;
  /** Requests that failed since boot. */
  failures: number;
  /** The last failure's reason ('' when the last request succeeded). */
  last: string;
  /** A request is in flight. */
  inflight: boolean;
}

export interface Uploader {
  status(): UploaderStatus;
  stop(): void;
}

const API = '/v1/evidence/';
/** Retry pauses after a failure, ms. */
const BACKOFF_MIN = 2000;
const BACKOFF_MAX = 60000;
/** While waiting for the alarm path or a path to come up, look again this often, ms. */
const POLL_MS = 2000;
/** A stop command must be this fresh, ms. */
const STOP_WINDOW_MS = 120000;

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

export function createUploader(d: UploaderDeps): Uploader {
  const clock = d.clock;
  const ev = d.evidence;
  const key = fromHex(ev.key) as Uint8Array;
  let timer = -1;
  let inflight = false;
  let stopped = false;
  let backoff = BACKOFF_MIN;
  let sent = 0;
  let failures = 0;
  let last = '';

  function schedule(ms: number): void {
    if (stopped) return;
    if (timer >= 0) clock.cancel(timer);
    timer = clock.after(ms, function () {
      timer = -1;
      tick();
    });
  }

  function link(): Link | undefined {
    const w = d.links.wifi;
    if (w && w.status().up) return w;
    const c = d.links.cellular;
    if (c && c.status().up) return c;
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

  function fail(why: string): void {
    failures++;
    last = why;
    d.log.write('warn', 'evidence upload failed: ' + why + '; retry in ' + backoff / 1000 + ' s');
    schedule(backoff);
    backoff = Math.min(backoff * 2, BACKOFF_MAX);
  }

  function tick(): void {
    if (inflight || stopped) return;
    const st = next();
    if (!st) return;
    const l = link();
    if (!l || d.busy()) {
      schedule(POLL_MS);
      return;
    }
    const body: (string | Uint8Array)[] = [];
    const m = manifestText(d.unit, st);
    body.push(m.substr(0, m.length - 1) + ',"sig":"' + hexOf(d.crypto.hmacSha256(key, m)) + '"}\n');
    const hashes: string[] = [];
    const end = Math.min(st.n, st.up + (d.lean && d.lean() ? 1 : ev.batch));
    for (let i = st.up; i < end; i++) {
      const name = chunkName(st.r, i);
      const rec = d.spool.readText(name + '.CHK');
      const pcm = d.spool.readText(name + '.PCM');
      let h = '';
      try {
        h = rec === undefined ? '' : JSON.parse(rec).h;
      } catch (e) {
        h = '';
      }
      if (rec === undefined || pcm === undefined || !h) {
        // Unreadable on the card: it cannot be sent. The verifier will name it missing.
        d.log.write('error', 'chunk ' + name + ' unreadable on the spool: skipped');
        if (i === st.up) {
          st.up++;
          d.recorder.save(st);
        }
        break;
      }
      body.push(rec + '\n', pcm);
      hashes.push(h);
    }
    const first = st.up;
    const final = st.end !== '';
    inflight = true;
    l.request(
      {
        host: ev.host,
        port: ev.port,
        method: 'POST',
        path: API + d.unit + '/' + st.r,
        headers: { 'Content-Type': 'application/octet-stream' },
        body: body,
        cert: ev.cert,
        timeoutMs: 30000
      },
      function (res) {
        inflight = false;
        if (stopped) return;
        try {
          answered(st, first, final, hashes, res.status, res.body, res.error);
        } catch (e) {
          fail('bad reply');
        }
      }
    );
  }

  function answered(st: RecState, first: number, final: boolean, hashes: string[], status: number, text: string, error?: string): void {
    if (status !== 200) {
      fail(status === 0 ? error || 'no answer' : 'HTTP ' + status);
      return;
    }
    const reply = JSON.parse(text) as { ok?: { i: number; h: string }[]; stop?: { r: string; t: number; m: string } };
    const ok = reply.ok || [];
    let up = st.up;
    for (let i = 0; i < ok.length; i++) {
      const k = ok[i].i - first;
      if (k >= 0 && k < hashes.length && ok[i].h === hashes[k] && ok[i].i === up) {
        const name = chunkName(st.r, up);
        d.spool.erase(name + '.PCM');
        d.spool.erase(name + '.CHK');
        up++;
        sent++;
      }
    }
    const progressed = up > st.up;
    st.up = up;
    // Done once the server holds every chunk and has the final manifest (sent in this request).
    if (final && st.up >= st.n) st.fin = true;
    if (progressed || st.fin) d.recorder.save(st);
    if (reply.stop) checkStop(st, reply.stop);
    backoff = BACKOFF_MIN;
    last = '';
    if (!progressed && !st.fin && hashes.length > 0) {
      fail('server confirmed nothing');
      return;
    }
    schedule(0);
  }

  function checkStop(st: RecState, s: { r: string; t: number; m: string }): void {
    const want = hexOf(d.crypto.hmacSha256(key, 'stop:' + d.unit + ':' + s.r + ':' + s.t));
    const ref = d.recorder.ref();
    if (want !== s.m || s.r !== st.r || ref !== d.unit + '-' + s.r || Math.abs(clock.wall() - s.t) > STOP_WINDOW_MS) {
      d.log.write('warn', 'stop command refused (not authentic, not fresh, or not for this recording)');
      return;
    }
    d.log.write('info', 'recording ' + s.r + ' stopped by the centre');
    d.recorder.end('stop');
  }

  d.recorder.onWork(function () {
    if (!inflight && timer < 0) schedule(0);
  });
  schedule(0);

  return {
    status: function () {
      return { sent: sent, failures: failures, last: last, inflight: inflight };
    },
    stop: function () {
      stopped = true;
      if (timer >= 0) clock.cancel(timer);
      timer = -1;
    }
  };
}
