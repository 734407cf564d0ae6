/**
 * A test-side evidence uploader, written from docs/evidence.md with Node crypto and independent of
 * the firmware and of sim/evidence-server.ts: it cuts a recording into chunk records (hash, chain),
 * signs manifests, seals chunks (AES-256-CBC under K_enc, then HMAC-SHA-256 under K_mac), encodes
 * `EVD1` requests, sends them over plain TCP and checks the server's `EVR1` replies (MAC under
 * K_rep, bound to the request's nonce, unit and recording). It also lays out a unit's card
 * (`RRRRSS.EVD` segments, `RRRRA.REC` state) for the verifier's card mode.
 */
import * as crypto from 'node:crypto';
import * as net from 'node:net';

export const ZERO_HASH = '0'.repeat(64);

export type GapWhy = 'boot' | 'mic' | 'spool' | 'full';

export interface ClientRecord {
  r: string;
  i: number;
  s: number;
  n: number;
  t: number;
  w: number;
  h: string;
  p: string;
  c: string;
}

export interface ClientGap {
  i: number;
  s: number;
  why: GapWhy;
}

export interface ClientManifest {
  v: 1;
  unit: string;
  r: string;
  rate: number;
  bits: 8;
  trig: number;
  start: number;
  n: number;
  samples: number;
  head: string;
  gaps: ClientGap[];
  end: '' | 'stop' | 'max';
  final: boolean;
  sig: string;
}

export interface ChunkSpec {
  /** Samples in the chunk. */
  n: number;
  /** A declared gap just before this chunk. */
  gapBefore?: { s: number; why: GapWhy };
}

export interface TestRecording {
  unit: string;
  rid: string;
  rate: number;
  records: ClientRecord[];
  /** Each chunk's samples. */
  audio: Buffer[];
  gaps: ClientGap[];
  /** The whole recording as the server should assemble it (gaps 128). */
  expected: Buffer;
  /** The signed manifest once `n` chunks were recorded (default: all), optionally ended. */
  manifest(n?: number, end?: '' | 'stop' | 'max'): ClientManifest;
}

export const sha256 = (data: string | Uint8Array) => crypto.createHash('sha256').update(data).digest('hex');
export const hmacHex = (keyHex: string, text: string) =>
  crypto.createHmac('sha256', Buffer.from(keyHex, 'hex')).update(text, 'latin1').digest('hex');

export function chainOf(rec: Omit<ClientRecord, 'c'>): string {
  return sha256(`${rec.p}:${rec.r}:${rec.i}:${rec.s}:${rec.n}:${rec.t}:${rec.w}:${rec.h}`);
}

/** Sign a manifest: JSON of the fields in documented order, no whitespace; `sig` appended. */
export function signManifest(m: Omit<ClientManifest, 'sig'>, keyHex: string): ClientManifest {
  const ordered = {
    v: m.v,
    unit: m.unit,
    r: m.r,
    rate: m.rate,
    bits: m.bits,
    trig: m.trig,
    start: m.start,
    n: m.n,
    samples: m.samples,
    head: m.head,
    gaps: m.gaps.map((g) => ({ i: g.i, s: g.s, why: g.why })),
    end: m.end,
    final: m.final
  };
  return { ...ordered, sig: hmacHex(keyHex, JSON.stringify(ordered)) };
}

/** Make a record whose `c` matches its other fields. */
export function makeRecord(f: Omit<ClientRecord, 'c'>): ClientRecord {
  return { ...f, c: chainOf(f) };
}

/**
 * Build a recording whose sample k (recording index, gaps included) is `sample(k)` — default the
 * counter pattern `k & 255`; gap samples are lost (128 in the assembled recording).
 */
export function buildRecording(opts: {
  unit: string;
  rid: string;
  key: string;
  chunks: ChunkSpec[];
  rate?: number;
  trig?: number;
  start?: number;
  sample?: (k: number) => number;
}): TestRecording {
  const rate = opts.rate ?? 8000;
  const start = opts.start ?? Date.UTC(2025, 0, 2, 3, 4, 5, 600);
  const sample = opts.sample ?? ((k: number) => k & 255);
  const records: ClientRecord[] = [];
  const audio: Buffer[] = [];
  const gaps: ClientGap[] = [];
  let s = 0;
  let prev = ZERO_HASH;
  opts.chunks.forEach((spec, i) => {
    if (spec.gapBefore) {
      gaps.push({ i, s: spec.gapBefore.s, why: spec.gapBefore.why });
      s += spec.gapBefore.s;
    }
    const bytes = Buffer.alloc(spec.n);
    for (let k = 0; k < spec.n; k++) bytes[k] = sample(s + k);
    const ms = Math.round((s * 1000) / rate);
    const rec = makeRecord({ r: opts.rid, i, s, n: spec.n, t: 50_000 + ms, w: start + ms, h: sha256(bytes), p: prev });
    records.push(rec);
    audio.push(bytes);
    prev = rec.c;
    s += spec.n;
  });
  const expected = Buffer.alloc(s, 128);
  records.forEach((r, i) => audio[i]!.copy(expected, r.s));
  const trig = opts.trig ?? Math.min(s, rate * 4);
  return {
    unit: opts.unit,
    rid: opts.rid,
    rate,
    records,
    audio,
    gaps,
    expected,
    manifest(n = records.length, end = '') {
      const last = records[n - 1];
      return signManifest(
        {
          v: 1,
          unit: opts.unit,
          r: opts.rid,
          rate,
          bits: 8,
          trig,
          start,
          n,
          samples: last ? last.s + last.n : 0,
          head: last ? last.c : ZERO_HASH,
          gaps: gaps.filter((g) => g.i <= n),
          end,
          final: end !== ''
        },
        opts.key
      );
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Keys and the seal (docs/evidence.md "Keys and the seal").

export interface DerivedKeys {
  /** AES-256-CBC of the audio: HMAC-SHA-256(K, "seal:enc"). */
  enc: Buffer;
  /** The seal's MAC: HMAC-SHA-256(K, "seal:mac"). */
  mac: Buffer;
  /** The server's replies: HMAC-SHA-256(K, "server:reply"). */
  rep: Buffer;
}

const hmacBytes = (key: Buffer, data: string | Uint8Array) =>
  crypto
    .createHmac('sha256', key)
    .update(typeof data === 'string' ? Buffer.from(data, 'latin1') : data)
    .digest();

export function deriveKeys(keyHex: string): DerivedKeys {
  const k = Buffer.from(keyHex, 'hex');
  if (k.length !== 32) throw new Error('evidence key must be 32 bytes (64 hex digits)');
  return { enc: hmacBytes(k, 'seal:enc'), mac: hmacBytes(k, 'seal:mac'), rep: hmacBytes(k, 'server:reply') };
}

/** A sealed record: its header line (no newline) and ciphertext. */
export interface SealedChunk {
  record: ClientRecord;
  /** The IV, 32 lowercase hex digits. */
  iv: string;
  /** The seal's MAC, 64 lowercase hex digits. */
  m: string;
  /** `{"r":…,"v":IV,"m":M}` in the documented key order, without the newline. */
  line: string;
  ct: Buffer;
}

/** The header line of a sealed record: the record's keys in order, then `v` and `m`. */
export function sealedLine(rec: ClientRecord, iv: string, m: string): string {
  const o = { r: rec.r, i: rec.i, s: rec.s, n: rec.n, t: rec.t, w: rec.w, h: rec.h, p: rec.p, c: rec.c, v: iv, m };
  return JSON.stringify(o);
}

/**
 * Seal a chunk: plaintext = the audio then zeros up to 16 × ceil(n / 16); ct = AES-256-CBC(K_enc,
 * IV) without padding; m = HMAC-SHA-256(K_mac, bin(c) ‖ IV ‖ SHA-256(ct)). The IV is random unless
 * given (16 bytes, or 32 hex digits). `audio` is sealed as given, even if it does not match the
 * record (to make bad chunks).
 */
export function sealRecord(
  rec: ClientRecord,
  audio: Uint8Array,
  keyHex: string,
  iv?: Uint8Array | string
): SealedChunk {
  const keys = deriveKeys(keyHex);
  const ivb =
    iv === undefined ? crypto.randomBytes(16) : typeof iv === 'string' ? Buffer.from(iv, 'hex') : Buffer.from(iv);
  if (ivb.length !== 16) throw new Error('IV must be 16 bytes');
  const plain = Buffer.alloc(16 * Math.ceil(audio.length / 16));
  Buffer.from(audio).copy(plain);
  const cipher = crypto.createCipheriv('aes-256-cbc', keys.enc, ivb);
  cipher.setAutoPadding(false);
  const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
  const cBin = Buffer.from(rec.c, 'hex');
  const m = hmacBytes(
    keys.mac,
    Buffer.concat([cBin.length === 32 ? cBin : Buffer.alloc(32), ivb, crypto.createHash('sha256').update(ct).digest()])
  ).toString('hex');
  const ivHex = ivb.toString('hex');
  return { record: rec, iv: ivHex, m, line: sealedLine(rec, ivHex, m), ct };
}

/** A sealed record's bytes: header line, newline, ciphertext. */
export function sealedBytes(s: { line: string; ct: Uint8Array }): Buffer {
  return Buffer.concat([Buffer.from(s.line + '\n', 'latin1'), Buffer.from(s.ct)]);
}

/** Chunks `from` … `to-1` of a recording, sealed (random IVs). */
export function sealedFor(rec: TestRecording, from: number, to: number, keyHex: string): SealedChunk[] {
  const out: SealedChunk[] = [];
  for (let i = from; i < to; i++) out.push(sealRecord(rec.records[i]!, rec.audio[i]!, keyHex));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Requests and replies (docs/evidence.md "Upload (plain TCP, either path)").

export const newNonce = () => crypto.randomBytes(16).toString('hex');

/**
 * An `EVD1` request: `EVD1 <unit> <rid> <nonce> <mlen> <k>\n`, the manifest's `mlen` bytes, then
 * each sealed record. The manifest may be an object (sent as JSON), a string or bytes (as is);
 * `k` and `mlen` may be overridden to make malformed requests.
 */
export function encodeRequest(
  unit: string,
  rid: string,
  nonce: string,
  manifest: object | string | Uint8Array,
  chunks: (SealedChunk | Uint8Array)[],
  override: { k?: number | string; mlen?: number | string } = {}
): Buffer {
  const m =
    manifest instanceof Uint8Array
      ? Buffer.from(manifest)
      : Buffer.from(typeof manifest === 'string' ? manifest : JSON.stringify(manifest), 'latin1');
  const parts = chunks.map((c) => (c instanceof Uint8Array ? Buffer.from(c) : sealedBytes(c)));
  const head = `EVD1 ${unit} ${rid} ${nonce} ${override.mlen ?? m.length} ${override.k ?? chunks.length}\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), m, ...parts]);
}

/** The request for chunks `from` … `to-1` with the manifest as of `manifestN` chunks (default `to`). */
export function requestFor(
  rec: TestRecording,
  keyHex: string,
  from: number,
  to: number,
  manifestN = to,
  end: '' | 'stop' | 'max' = '',
  nonce = newNonce()
): { bytes: Buffer; nonce: string; sealed: SealedChunk[] } {
  const sealed = sealedFor(rec, from, to, keyHex);
  return { bytes: encodeRequest(rec.unit, rec.rid, nonce, rec.manifest(manifestN, end), sealed), nonce, sealed };
}

/** The reply's MAC: hex HMAC-SHA-256(K_rep, `EVR1:<unit>:<rid>:<nonce>:<json>`). */
export function replyMacHex(keyHex: string, unit: string, rid: string, nonce: string, json: string): string {
  return hmacBytes(deriveKeys(keyHex).rep, `EVR1:${unit}:${rid}:${nonce}:${json}`).toString('hex');
}

/** One `EVR1 <len> <mac>\n<json>` frame as received. */
export interface ReplyFrame {
  len: number;
  mac: string;
  /** The JSON text exactly as received (what the MAC covers). */
  text: string;
  /** Parsed, or undefined when it is not JSON. */
  json: any;
  /** The frame's bytes. */
  raw: Buffer;
}

/** Take one reply frame off the front of `buf`: the frame and the bytes after it, undefined when
 * incomplete, or an error string when it cannot be a frame. */
export function parseReplyFrame(buf: Buffer): { frame: ReplyFrame; rest: Buffer } | undefined | string {
  const nl = buf.indexOf(0x0a);
  if (nl < 0) return buf.length > 128 ? 'no reply line within 128 bytes' : undefined;
  const m = /^EVR1 (0|[1-9][0-9]{0,6}) ([0-9a-f]{64})$/.exec(buf.toString('latin1', 0, nl));
  if (!m) return 'not an EVR1 reply line';
  const len = Number(m[1]);
  if (buf.length < nl + 1 + len) return undefined;
  const text = buf.toString('latin1', nl + 1, nl + 1 + len);
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return {
    frame: { len, mac: m[2]!, text, json, raw: buf.subarray(0, nl + 1 + len) },
    rest: buf.subarray(nl + 1 + len)
  };
}

/** Whether a reply answers this request: its MAC under K_rep over this unit, recording and nonce
 * is right, and its JSON names the same nonce and recording. */
export function verifyReply(keyHex: string, unit: string, rid: string, nonce: string, frame: ReplyFrame): boolean {
  const expect = Buffer.from(replyMacHex(keyHex, unit, rid, nonce, frame.text), 'latin1');
  const got = Buffer.from(frame.mac, 'latin1');
  if (expect.length !== got.length || !crypto.timingSafeEqual(expect, got)) return false;
  return frame.json !== undefined && frame.json.q === nonce && frame.json.r === rid;
}

/** One TCP connection to the evidence server: requests one at a time, replies in order. */
export class EvidenceConnection {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: ((f: ReplyFrame | undefined) => void)[] = [];
  private frames: ReplyFrame[] = [];
  /** The connection ended (by either side, or an error). */
  ended = false;
  /** Bytes written so far (the server may close before taking them all). */
  written = 0;
  error?: string;

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        const r = parseReplyFrame(this.buf);
        if (r === undefined) break;
        if (typeof r === 'string') {
          this.error = r;
          sock.destroy();
          break;
        }
        this.buf = r.rest;
        const w = this.waiting.shift();
        if (w) w(r.frame);
        else this.frames.push(r.frame);
      }
    });
    const end = () => {
      this.ended = true;
      for (const w of this.waiting.splice(0)) w(undefined);
    };
    sock.on('close', end);
    sock.on('end', () => sock.end());
    sock.on('error', (e) => {
      this.error = e.message;
    });
  }

  static open(host: string, port: number): Promise<EvidenceConnection> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port });
      sock.once('connect', () => {
        sock.off('error', reject);
        resolve(new EvidenceConnection(sock));
      });
      sock.once('error', reject);
    });
  }

  /** Write bytes (a request, or part of one) without waiting for a reply. */
  write(bytes: Uint8Array): void {
    if (this.ended || this.sock.destroyed) return;
    this.written += bytes.length;
    this.sock.write(bytes);
  }

  /** The next reply frame; undefined when the connection ends first or `timeoutMs` passes. */
  next(timeoutMs = 5000): Promise<ReplyFrame | undefined> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      let done = false;
      const finish = (x: ReplyFrame | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(t);
        resolve(x);
      };
      const t = setTimeout(() => {
        const k = this.waiting.indexOf(finish);
        if (k >= 0) this.waiting.splice(k, 1);
        finish(undefined);
      }, timeoutMs);
      this.waiting.push(finish);
    });
  }

  /** Send a request and wait for its reply. */
  request(bytes: Uint8Array, timeoutMs = 5000): Promise<ReplyFrame | undefined> {
    this.write(bytes);
    return this.next(timeoutMs);
  }

  /** Resolves when the connection has ended (or after `timeoutMs`, false). */
  closed(timeoutMs = 5000): Promise<boolean> {
    if (this.ended) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.sock.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

export interface SendResult {
  nonce: string;
  /** The reply frame, if one came. */
  frame?: ReplyFrame;
  /** Its parsed JSON (whether or not the MAC verified: check `macOk`). */
  json?: any;
  /** The reply's MAC verified with K_rep and it names this nonce and recording. */
  macOk: boolean;
  /** The server closed the connection without replying. */
  closed: boolean;
}

/**
 * Send one request over a fresh TCP connection and read the reply. `chunks` are sealed records (or
 * their bytes); the manifest an object, string or bytes. The reply is checked with `keyHex`.
 */
export async function send(
  host: string,
  port: number,
  unit: string,
  rid: string,
  manifest: object | string | Uint8Array,
  chunks: (SealedChunk | Uint8Array)[],
  keyHex: string,
  opts: { nonce?: string; timeoutMs?: number } = {}
): Promise<SendResult> {
  const nonce = opts.nonce ?? newNonce();
  return sendBytes(
    host,
    port,
    unit,
    rid,
    nonce,
    encodeRequest(unit, rid, nonce, manifest, chunks),
    keyHex,
    opts.timeoutMs
  );
}

/** Send ready-made request bytes over a fresh connection; the reply is checked as for `nonce`. */
export async function sendBytes(
  host: string,
  port: number,
  unit: string,
  rid: string,
  nonce: string,
  bytes: Uint8Array,
  keyHex: string,
  timeoutMs = 5000
): Promise<SendResult> {
  const c = await EvidenceConnection.open(host, port);
  try {
    const frame = await c.request(bytes, timeoutMs);
    if (!frame) return { nonce, macOk: false, closed: c.ended };
    return { nonce, frame, json: frame.json, macOk: verifyReply(keyHex, unit, rid, nonce, frame), closed: false };
  } finally {
    c.close();
  }
}

// ---------------------------------------------------------------------------------------------
// A unit's card (docs/evidence.md "Spool files"): for the verifier's card mode.

/** The spool file names of recording `rid`: segment `seg`, state copy `ab`. */
export const segmentName = (rid: string, seg: number) => `${rid}${seg.toString(16).padStart(2, '0')}.EVD`.toUpperCase();
export const stateName = (rid: string, ab: 'A' | 'B') => `${rid}${ab}.REC`.toUpperCase();

/**
 * The files of a recording's card: `segments` lists, per segment, the chunk indices it holds (in
 * order); `torn` appends to a segment the first `bytes` bytes of a sealed chunk (a power cut in
 * the middle of an append). The state copy A says `n` chunks (default: all on the card), `up`
 * the first chunk not confirmed.
 */
export function cardFiles(
  rec: TestRecording,
  keyHex: string,
  segments: number[][],
  opts: {
    torn?: { seg: number; i: number; bytes: number }[];
    up?: number;
    stateN?: number;
    end?: '' | 'stop' | 'max';
  } = {}
): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const offsets: number[] = [];
  segments.forEach((list, seg) => {
    const parts = list.map((i) => sealedBytes(sealRecord(rec.records[i]!, rec.audio[i]!, keyHex)));
    for (const t of opts.torn ?? []) {
      if (t.seg === seg)
        parts.push(sealedBytes(sealRecord(rec.records[t.i]!, rec.audio[t.i]!, keyHex)).subarray(0, t.bytes));
    }
    const data = Buffer.concat(parts);
    offsets.push(data.length);
    files.set(segmentName(rec.rid, seg), data);
  });
  const all = segments.flat();
  const n = opts.stateN ?? (all.length ? Math.max(...all) + 1 : 0);
  const last = rec.records[n - 1];
  const state = {
    q: 3,
    r: rec.rid,
    rate: rec.rate,
    cs: 4000,
    trig: 0,
    start: rec.records[0]?.w ?? 0,
    n,
    ns: last ? last.s + last.n : 0,
    hd: last ? last.c : ZERO_HASH,
    up: opts.up ?? 0,
    gaps: rec.gaps.filter((g) => g.i <= n),
    end: opts.end ?? '',
    fin: false,
    sg: segments.length - 1,
    wo: offsets[offsets.length - 1] ?? 0,
    us: 0,
    uo: 0,
    cb: 0
  };
  files.set(stateName(rec.rid, 'A'), Buffer.from(JSON.stringify(state), 'latin1'));
  return files;
}
