/**
 * A simulated evidence server on plain TCP (node:net, 127.0.0.1), speaking the protocol of
 * docs/evidence.md ("Upload (plain TCP, either path)"). It is written independently of the
 * firmware's recorder, seal and uploader, straight from the document and with Node's crypto, so
 * that the two cross-check each other.
 *
 * On each connection it reads requests one at a time, incrementally and within fixed bounds:
 *
 *     EVD1 <unit> <rid> <nonce> <mlen> <k>\n <mlen bytes of signed manifest> k × <sealed record>
 *
 * A request for a unit whose key it does not hold, or a stream that is not the protocol, cannot be
 * answered with an authenticated reply: the connection is closed. Otherwise every request gets
 *
 *     EVR1 <len> <mac>\n<len bytes of JSON {"q","r","have","ok",["stop"],["error"]}>
 *
 * with `mac` = HMAC-SHA-256(K_rep, `EVR1:<unit>:<rid>:<nonce>:<JSON>`). Each seal is opened
 * (`m` checked in constant time, AES-256-CBC decrypted with K_enc, the first `n` bytes taken, `h`
 * checked), the manifest signature checked, then the chain and continuity against what is held;
 * a request is all or nothing: it is checked in full before anything is stored. A request that
 * breaks the framing (a line too long, a length out of bounds) is answered with an error and the
 * connection closed; one that is framed but refused is answered with an error and the connection
 * stays open for the next.
 *
 * Per recording, under `<root>/<unit>/<rid>/`:
 * - `chunks/NNNNN.pcm` and `chunks/NNNNN.json`: each accepted chunk's samples and its record;
 * - `recording.wav`: the recording assembled (declared gaps and audio not yet received are 128);
 * - `manifest.json`: `{"manifest": <latest signed manifest>, "chunks": [<records in order>]}`.
 *
 * Faults (down, error, silent, loseReplies, delayMs) are set through the mutable `faults` object.
 * Keys and audio are never printed.
 */
import * as net from 'node:net';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';

/** Largest request: the request line, the manifest and every sealed record. */
export const MAX_BODY = 1024 * 1024;
/** Largest chunk: a chunk is one slot of the unit's audio ring (at most 16 kHz × 4 s = 64,000). */
export const MAX_CHUNK_SAMPLES = 65536;
/** Most sealed records in one request (`evidence.batch` is 1-8). */
export const MAX_BATCH = 8;
/** Longest request line (`EVD1 …\n`); a real one is at most 78 bytes. */
export const MAX_REQUEST_LINE = 128;
/** Longest sealed record header line (`{"r":…,"m":…}\n`); a real one is under 400 bytes. */
export const MAX_RECORD_LINE = 1024;
/**
 * Largest recording extent the server will assemble (2^26 samples: 2.3 h at 8 kHz, well above
 * `audio.maxS`), so a bogus manifest cannot make it allocate without bound.
 */
export const MAX_SAMPLES = 1 << 26;
/** Defaults: a connection silent this long is closed; a request must arrive whole within this. */
export const IDLE_MS = 30_000;
export const REQUEST_MS = 120_000;
export const MAX_CONNECTIONS = 32;

const ZERO_HASH = '0'.repeat(64);
const GAP_WHYS = ['boot', 'mic', 'spool', 'full'];
const ENDS = ['', 'stop', 'max'];
const UNIT_RE = /^[A-Za-z0-9-]{1,24}$/;
const RID_RE = /^[0-9a-f]{4}$/;
const HASH_RE = /^[0-9a-f]{64}$/;
const NONCE_RE = /^[0-9a-f]{32}$/;
const IV_RE = /^[0-9a-f]{32}$/;
const DECIMAL_RE = /^(0|[1-9][0-9]{0,8})$/;
const MANIFEST_KEYS = [
  'v',
  'unit',
  'r',
  'rate',
  'bits',
  'trig',
  'start',
  'n',
  'samples',
  'head',
  'gaps',
  'end',
  'final'
];
const RECORD_KEYS = ['r', 'i', 's', 'n', 't', 'w', 'h', 'p', 'c'];
const SEALED_KEYS = [...RECORD_KEYS, 'v', 'm'];
const WAV_HEADER = 44;

export interface EvidenceGap {
  i: number;
  s: number;
  why: string;
}

/** The signed manifest as received (key order as documented, `sig` last). */
export interface EvidenceManifest {
  v: number;
  unit: string;
  r: string;
  rate: number;
  bits: number;
  trig: number;
  start: number;
  n: number;
  samples: number;
  head: string;
  gaps: EvidenceGap[];
  end: string;
  final: boolean;
  sig: string;
}

/** A chunk record as stored (the sealed record without `v` and `m`). */
export interface ChunkRecord {
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

export interface EvidenceRecording {
  unit: string;
  rid: string;
  /** Chunks stored. */
  chunks: number;
  /** Next chunk index the server expects. */
  have: number;
  manifest?: EvidenceManifest;
  /** The stored manifest's signature checked with the unit's key; absent when the key is unknown
   * (a recording found in `root` for a unit not in `keys`). */
  signatureOk?: boolean;
  dir: string;
}

export interface EvidenceRejected {
  at: number;
  /** As named in the request line ('' when the line did not parse). */
  unit: string;
  rid: string;
  error: string;
  /** An authenticated error reply was sent. */
  replied: boolean;
  /** The connection was closed (framing lost, unknown unit, not the protocol). */
  closed: boolean;
}

export interface EvidenceFaults {
  /** Refuse connections: sockets are destroyed as they arrive (and open ones at their next byte). */
  down: boolean;
  /** Answer every request with this error (authenticated; nothing is stored). */
  error?: string;
  /** Read every request and never answer (nothing is stored): a black hole. */
  silent?: boolean;
  /** Handle and store every request, but never send the reply (a reply lost on the way back). */
  loseReplies?: boolean;
  /** Delay every reply by this many ms (after the request was handled). */
  delayMs: number;
}

export interface EvidenceServerStats {
  /** Connections open now, and accepted in all. */
  open: number;
  accepted: number;
  /** Connections closed for breaking a bound or the protocol (including unknown units). */
  closedForLimits: number;
  /** Most bytes any connection held buffered at once (bounded by MAX_BODY + one read). */
  peakBuffered: number;
  /** Requests read whole. */
  requests: number;
}

export interface EvidenceServer {
  readonly host: string;
  readonly port: number;
  /** `tcp://127.0.0.1:PORT` */
  readonly url: string;
  faults: EvidenceFaults;
  /** Recordings that had an accepted upload (or were found in `root` at start). */
  recordings(): EvidenceRecording[];
  /**
   * Queue a stop for a recording: every authenticated reply for it carries `"stop":true` (error
   * replies too) until its final manifest is stored. Ignored for a recording that has already ended.
   */
  requestStop(unit: string, rid: string): void;
  rejected(): EvidenceRejected[];
  stats(): EvidenceServerStats;
  /** Called after each accepted request. */
  onUpload(fn: (unit: string, rid: string, have: number) => void): void;
  close(): Promise<void>;
}

export interface EvidenceServerOptions {
  /** Folder holding `<unit>/<rid>/`; created when absent. Recordings already there are resumed. */
  root: string;
  /** Unit id → 64-hex-digit evidence key. A unit not listed cannot be authenticated: its
   * connections are closed. */
  keys: { [unit: string]: string };
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port. */
  port?: number;
  /** A connection that sends nothing for this long is closed (default IDLE_MS). */
  idleMs?: number;
  /** A request must arrive whole within this long of its first byte (default REQUEST_MS). */
  requestMs?: number;
  /** Connections open at once (default MAX_CONNECTIONS); more are refused. */
  maxConnections?: number;
}

// ---------------------------------------------------------------------------------------------
// The seal and the reply MAC: pure functions (the known-answer vectors of docs/evidence.md).

export interface SealKeys {
  /** `K` itself: the manifest signature. */
  sig: Buffer;
  /** HMAC-SHA-256(K, "seal:enc"): AES-256-CBC of the audio. */
  enc: Buffer;
  /** HMAC-SHA-256(K, "seal:mac"): the seal's MAC. */
  mac: Buffer;
  /** HMAC-SHA-256(K, "server:reply"): the server's replies. */
  rep: Buffer;
}

const sha256 = (data: string | Uint8Array) => crypto.createHash('sha256').update(data).digest('hex');
const hmacRaw = (key: Buffer, data: string | Uint8Array) =>
  crypto
    .createHmac('sha256', key)
    .update(typeof data === 'string' ? Buffer.from(data, 'latin1') : data)
    .digest();
const hmac = (key: Buffer, text: string) => hmacRaw(key, text).toString('hex');
const sameHex = (a: string, b: string) => {
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  return x.length === y.length && crypto.timingSafeEqual(x, y);
};

/** The keys derived from a unit's 64-hex-digit evidence key. */
export function sealKeys(keyHex: string): SealKeys {
  if (!/^[0-9a-fA-F]{64}$/.test(keyHex)) throw new Error('evidence key must be 64 hex digits');
  const sig = Buffer.from(keyHex, 'hex');
  return { sig, enc: hmacRaw(sig, 'seal:enc'), mac: hmacRaw(sig, 'seal:mac'), rep: hmacRaw(sig, 'server:reply') };
}

const keysOf = (k: string | SealKeys) => (typeof k === 'string' ? sealKeys(k) : k);

/** The chain value of a record: SHA-256 of `p:r:i:s:n:t:w:h`. */
function chainOf(rec: ChunkRecord): string {
  return sha256(`${rec.p}:${rec.r}:${rec.i}:${rec.s}:${rec.n}:${rec.t}:${rec.w}:${rec.h}`);
}

/** The reply's MAC: hex HMAC-SHA-256(K_rep, `EVR1:<unit>:<rid>:<nonce>:<json>`). */
export function replyMac(key: string | SealKeys, unit: string, rid: string, nonce: string, json: string): string {
  return hmac(keysOf(key).rep, `EVR1:${unit}:${rid}:${nonce}:${json}`);
}

/** The exact string the unit signs: documented key order, no whitespace, no `sig`. */
function canonicalManifest(m: EvidenceManifest): string {
  return JSON.stringify({
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
  });
}

/** Whether a (well-formed) manifest's `sig` is HMAC-SHA-256(K, its canonical string). */
export function manifestSignatureOk(key: string | SealKeys, m: EvidenceManifest): boolean {
  return typeof m.sig === 'string' && sameHex(hmac(keysOf(key).sig, canonicalManifest(m)), m.sig);
}

/** A refusal: the words of the `error` reply. `close`: the framing is lost, close the connection. */
class Refusal extends Error {
  constructor(
    message: string,
    readonly close = false
  ) {
    super(message);
  }
}
const bad = (msg: string) => new Refusal(msg);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
/** Text from the request, made safe for an error message: printable ASCII only, shortened. */
const safe = (s: string, max = 40) => {
  const short = s.length > max ? `${s.slice(0, max)}...` : s;
  return short.replace(/[^\x20-\x7e]/g, '?');
};

function parseJson(text: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad(`${what} is not valid JSON`);
  }
  if (!isObject(v)) throw bad(`${what} is not a JSON object`);
  return v;
}

/** Every documented key present, no other key (the order is not checked: the MAC and the
 * signature cover values, not the text). */
function checkKeys(o: Record<string, unknown>, keys: string[], what: string): void {
  for (const k of keys) if (!(k in o)) throw bad(`${what}: missing "${k}"`);
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw bad(`${what}: unknown field "${safe(k)}"`);
}

function validateManifest(o: Record<string, unknown>, unit: string, rid: string): EvidenceManifest {
  checkKeys(o, [...MANIFEST_KEYS, 'sig'], 'manifest');
  if (o.v !== 1) throw bad('manifest: "v" must be 1');
  if (o.unit !== unit) throw bad(`manifest: "unit" does not match the request's unit ${unit}`);
  if (o.r !== rid) throw bad(`manifest: "r" does not match the request's recording ${rid}`);
  if (!isCount(o.rate, 1, 1_000_000)) throw bad('manifest: "rate" must be a positive integer (Hz)');
  if (o.bits !== 8) throw bad('manifest: "bits" must be 8');
  if (!isCount(o.trig)) throw bad('manifest: "trig" must be a sample index (integer >= 0)');
  if (!isCount(o.start)) throw bad('manifest: "start" must be a wall time in ms (integer >= 0)');
  if (!isCount(o.n, 0, 0x10000)) throw bad('manifest: "n" must be a chunk count 0..65536');
  if (!isCount(o.samples, 0, MAX_SAMPLES)) throw bad(`manifest: "samples" must be an integer 0..${MAX_SAMPLES}`);
  if (typeof o.head !== 'string' || !HASH_RE.test(o.head))
    throw bad('manifest: "head" must be 64 lowercase hex digits');
  if (o.n === 0 && o.head !== ZERO_HASH) throw bad('manifest: "head" must be 64 zeros when "n" is 0');
  if (!Array.isArray(o.gaps)) throw bad('manifest: "gaps" must be an array');
  o.gaps.forEach((g: unknown, k) => {
    if (!isObject(g)) throw bad(`manifest: gap ${k} is not an object`);
    checkKeys(g, ['i', 's', 'why'], `manifest: gap ${k}`);
    if (!isCount(g.i, 0, 0x10000)) throw bad(`manifest: gap ${k}: "i" must be a chunk index`);
    if (!isCount(g.s, 0, MAX_SAMPLES)) throw bad(`manifest: gap ${k}: "s" must be a sample count`);
    if (typeof g.why !== 'string' || !GAP_WHYS.includes(g.why)) {
      throw bad(`manifest: gap ${k}: "why" must be one of ${GAP_WHYS.join(', ')}`);
    }
  });
  if (typeof o.end !== 'string' || !ENDS.includes(o.end)) throw bad('manifest: "end" must be "", "stop" or "max"');
  if (typeof o.final !== 'boolean') throw bad('manifest: "final" must be true or false');
  if (o.final !== (o.end !== '')) throw bad('manifest: "final" must be true exactly when "end" is set');
  if (typeof o.sig !== 'string' || !HASH_RE.test(o.sig)) throw bad('manifest: "sig" must be 64 lowercase hex digits');
  return o as unknown as EvidenceManifest;
}

/** A sealed record's header fields: types and ranges. `what` names it in errors. */
function validateSealedRecord(
  o: Record<string, unknown>,
  rid: string | undefined,
  what: string
): ChunkRecord & { v: string; m: string } {
  checkKeys(o, SEALED_KEYS, what);
  if (typeof o.r !== 'string' || !RID_RE.test(o.r))
    throw bad(`${what}: "r" must be a recording id (4 lowercase hex digits)`);
  if (rid !== undefined && o.r !== rid) throw bad(`${what}: "r" does not match the request's recording ${rid}`);
  if (!isCount(o.i, 0, 0xffff)) throw bad(`${what}: "i" must be a chunk index 0..65535`);
  if (!isCount(o.s, 0, MAX_SAMPLES)) throw bad(`${what}: "s" must be a sample index 0..${MAX_SAMPLES}`);
  if (!isCount(o.n, 1, MAX_CHUNK_SAMPLES)) throw bad(`${what}: "n" must be 1..${MAX_CHUNK_SAMPLES}`);
  if (o.s + o.n > MAX_SAMPLES) throw bad(`${what}: ends beyond ${MAX_SAMPLES} samples`);
  if (!isCount(o.t)) throw bad(`${what}: "t" must be a unit time in ms (integer >= 0)`);
  if (!isCount(o.w)) throw bad(`${what}: "w" must be a wall time in ms (integer >= 0)`);
  for (const k of ['h', 'p', 'c'] as const) {
    if (typeof o[k] !== 'string' || !HASH_RE.test(o[k] as string))
      throw bad(`${what}: "${k}" must be 64 lowercase hex digits`);
  }
  if (typeof o.v !== 'string' || !IV_RE.test(o.v)) throw bad(`${what}: "v" must be the IV, 32 lowercase hex digits`);
  if (typeof o.m !== 'string' || !HASH_RE.test(o.m)) throw bad(`${what}: "m" must be 64 lowercase hex digits`);
  return o as unknown as ChunkRecord & { v: string; m: string };
}

/** Bytes of ciphertext that follow a header line for `n` audio bytes: 16 × ceil(n / 16). */
export const sealedLength = (n: number) => 16 * Math.ceil(n / 16);

export type OpenedSeal =
  { ok: true; record: ChunkRecord; iv: string; m: string; audio: Buffer } | { ok: false; error: string };

/** Open a seal, throwing a Refusal naming the chunk. */
function openOrRefuse(
  keys: SealKeys,
  line: string,
  ct: Buffer,
  rid: string | undefined,
  label: string
): { record: ChunkRecord; iv: string; m: string; audio: Buffer } {
  const o = parseJson(line, label);
  const what = isCount(o.i, 0, 0xffff) ? `chunk ${o.i}` : label;
  const rec = validateSealedRecord(o, rid, what);
  const record: ChunkRecord = {
    r: rec.r,
    i: rec.i,
    s: rec.s,
    n: rec.n,
    t: rec.t,
    w: rec.w,
    h: rec.h,
    p: rec.p,
    c: rec.c
  };
  if (chainOf(record) !== record.c) throw bad(`${what}: "c" is not SHA-256 of p:r:i:s:n:t:w:h`);
  const L = sealedLength(record.n);
  if (ct.length !== L) throw bad(`${what}: ${ct.length} bytes of ciphertext, ${L} expected for n=${record.n}`);
  const iv = Buffer.from(rec.v, 'hex');
  const mac = hmacRaw(
    keys.mac,
    Buffer.concat([Buffer.from(record.c, 'hex'), iv, crypto.createHash('sha256').update(ct).digest()])
  );
  const got = Buffer.from(rec.m, 'hex');
  if (got.length !== mac.length || !crypto.timingSafeEqual(got, mac))
    throw bad(`${what}: seal MAC "m" is wrong (not sealed with this unit's key, or altered)`);
  const d = crypto.createDecipheriv('aes-256-cbc', keys.enc, iv);
  d.setAutoPadding(false);
  const plain = Buffer.concat([d.update(ct), d.final()]);
  const audio = plain.subarray(0, record.n);
  for (let k = record.n; k < plain.length; k++)
    if (plain[k] !== 0) throw bad(`${what}: the padding after the ${record.n} audio bytes is not zero`);
  if (sha256(audio) !== record.h) throw bad(`${what}: audio does not match "h"`);
  return { record, iv: rec.v, m: rec.m, audio };
}

/**
 * Open one sealed record (docs/evidence.md "Keys and the seal"): the header line (without or with
 * its newline) and the ciphertext. Checks the fields, `c` against the record, the ciphertext's
 * length, `m` (constant time), decrypts, the zero padding and `h`. Pure: nothing is stored.
 */
export function openSealed(
  key: string | SealKeys,
  headerLine: string | Uint8Array,
  ct: Uint8Array,
  rid?: string
): OpenedSeal {
  let line = typeof headerLine === 'string' ? headerLine : Buffer.from(headerLine).toString('latin1');
  if (line.endsWith('\n')) line = line.slice(0, -1);
  try {
    return { ok: true, ...openOrRefuse(keysOf(key), line, Buffer.from(ct), rid, 'sealed record') };
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, error: e.message };
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Requests and recordings.

interface Request {
  unit: string;
  rid: string;
  nonce: string;
  manifest: Buffer;
  records: { line: string; ct: Buffer }[];
}

interface Upload {
  manifest: EvidenceManifest;
  chunks: { rec: ChunkRecord; audio: Buffer }[];
}

/** Open and check a request in itself (not yet against what is stored). */
function parseRequest(req: Request, keys: SealKeys): Upload {
  const manifest = validateManifest(parseJson(req.manifest.toString('latin1'), 'manifest'), req.unit, req.rid);
  if (!manifestSignatureOk(keys, manifest))
    throw bad('manifest: signature "sig" is invalid (not signed with this unit\'s key, or altered)');
  const chunks: Upload['chunks'] = [];
  req.records.forEach(({ line, ct }, k) => {
    const { record, audio } = openOrRefuse(keys, line, ct, req.rid, `sealed record ${k + 1} of the request`);
    const prev = chunks[chunks.length - 1];
    if (prev && record.i !== prev.rec.i + 1)
      throw bad(`chunk records not consecutive (${record.i} after ${prev.rec.i})`);
    if (record.i >= manifest.n) throw bad(`chunk ${record.i} is beyond the manifest's n=${manifest.n}`);
    chunks.push({ rec: record, audio });
  });
  return { manifest, chunks };
}

interface Recording {
  unit: string;
  rid: string;
  dir: string;
  manifest?: EvidenceManifest;
  signatureOk?: boolean;
  records: ChunkRecord[];
  /** Assembled samples (grows with the extent), 128 where nothing was received. */
  audio: Buffer;
  stopQueued: boolean;
}

const chunkName = (i: number) => String(i).padStart(5, '0');

/** Write a file whole, never leaving a torn one behind. */
function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

function wavImage(samples: Buffer, rate: number): Buffer {
  const pad = samples.length & 1;
  const h = Buffer.alloc(WAV_HEADER);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + samples.length + pad, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate, 28); // byte rate: 1 byte per sample
  h.writeUInt16LE(1, 32); // block align
  h.writeUInt16LE(8, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(samples.length, 40);
  return Buffer.concat([h, samples, Buffer.alloc(pad)]);
}

/** Bytes received on a connection, held until a whole line or field is there. */
class Inbox {
  private bufs: Buffer[] = [];
  size = 0;
  push(b: Buffer): void {
    this.bufs.push(b);
    this.size += b.length;
  }
  /** Offset of the first newline within the first `max` bytes, or -1. */
  newline(max: number): number {
    let base = 0;
    for (const b of this.bufs) {
      const k = b.subarray(0, Math.max(0, max - base)).indexOf(0x0a);
      if (k >= 0) return base + k;
      base += b.length;
      if (base >= max) break;
    }
    return -1;
  }
  /** Remove and return the first `n` bytes (n ≤ size). */
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const b = this.bufs[0]!;
      const k = Math.min(b.length, n - got);
      b.copy(out, got, 0, k);
      got += k;
      if (k === b.length) this.bufs.shift();
      else this.bufs[0] = b.subarray(k);
    }
    this.size -= n;
    return out;
  }
  clear(): void {
    this.bufs = [];
    this.size = 0;
  }
}

/** An ASCII-only JSON text (non-ASCII escaped), so its byte length is its length. */
const asciiJson = (v: unknown) =>
  JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

export async function startEvidenceServer(opts: EvidenceServerOptions): Promise<EvidenceServer> {
  const root = path.resolve(opts.root);
  fs.mkdirSync(root, { recursive: true });
  const keys = new Map<string, SealKeys>();
  for (const [unit, hex] of Object.entries(opts.keys ?? {})) {
    if (!UNIT_RE.test(unit)) throw new Error(`unit id '${safe(unit)}' must be 1-24 letters, digits or "-"`);
    if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex))
      throw new Error(`evidence key for unit '${unit}' must be 64 hex digits`);
    keys.set(unit, sealKeys(hex));
  }
  const host = opts.host ?? '127.0.0.1';
  const idleMs = opts.idleMs ?? IDLE_MS;
  const requestMs = opts.requestMs ?? REQUEST_MS;

  const faults: EvidenceFaults = { down: false, delayMs: 0 };
  const recs = new Map<string, Recording>();
  const rejects: EvidenceRejected[] = [];
  const listeners: ((unit: string, rid: string, have: number) => void)[] = [];
  const sockets = new Set<net.Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const stats: EvidenceServerStats = { open: 0, accepted: 0, closedForLimits: 0, peakBuffered: 0, requests: 0 };
  let closed = false;

  const extentOf = (r: Recording): number => {
    const last = r.records[r.records.length - 1];
    return Math.max(r.manifest?.samples ?? 0, last ? last.s + last.n : 0);
  };

  function ensureAudio(r: Recording, extent: number): void {
    if (r.audio.length >= extent) return;
    const grown = Buffer.alloc(Math.max(extent, Math.min(MAX_SAMPLES, r.audio.length * 2)), 128);
    r.audio.copy(grown);
    r.audio = grown;
  }

  function checkSignature(r: Recording): void {
    const key = keys.get(r.unit);
    if (key && r.manifest) r.signatureOk = manifestSignatureOk(key, r.manifest);
    else delete r.signatureOk;
  }

  /** Resume a recording a previous server run left in `root` (its manifest.json and chunk files). */
  function load(unit: string, rid: string): Recording {
    const dir = path.join(root, unit, rid);
    const r: Recording = { unit, rid, dir, records: [], audio: Buffer.alloc(0), stopQueued: false };
    const file = path.join(dir, 'manifest.json');
    if (!fs.existsSync(file)) return r;
    let stored: { manifest?: EvidenceManifest; chunks?: ChunkRecord[] };
    try {
      stored = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      throw new Error(`${file} is unreadable: move the recording away to start it again`);
    }
    if (stored.manifest) r.manifest = stored.manifest;
    for (const rec of stored.chunks ?? []) {
      const audio = fs.readFileSync(path.join(dir, 'chunks', `${chunkName(rec.i)}.pcm`));
      if (rec.i !== r.records.length || sha256(audio) !== rec.h) {
        throw new Error(`${dir}: stored chunk ${rec.i} is inconsistent: move the recording away to start it again`);
      }
      ensureAudio(r, rec.s + rec.n);
      audio.copy(r.audio, rec.s);
      r.records.push(rec);
    }
    checkSignature(r);
    return r;
  }

  function recordingFor(unit: string, rid: string): Recording {
    const id = `${unit}/${rid}`;
    let r = recs.get(id);
    if (!r) {
      r = load(unit, rid);
      recs.set(id, r);
    }
    return r;
  }

  for (const unit of fs.readdirSync(root)) {
    if (!UNIT_RE.test(unit) || !fs.statSync(path.join(root, unit)).isDirectory()) continue;
    for (const rid of fs.readdirSync(path.join(root, unit))) {
      if (RID_RE.test(rid) && fs.existsSync(path.join(root, unit, rid, 'manifest.json'))) recordingFor(unit, rid);
    }
  }

  function persist(r: Recording, fresh: { rec: ChunkRecord; audio: Buffer }[]): void {
    const chunkDir = path.join(r.dir, 'chunks');
    fs.mkdirSync(chunkDir, { recursive: true });
    for (const { rec, audio } of fresh) {
      writeAtomic(path.join(chunkDir, `${chunkName(rec.i)}.pcm`), audio);
      writeAtomic(path.join(chunkDir, `${chunkName(rec.i)}.json`), JSON.stringify(rec));
    }
    const extent = extentOf(r);
    writeAtomic(path.join(r.dir, 'recording.wav'), wavImage(r.audio.subarray(0, extent), r.manifest!.rate));
    writeAtomic(path.join(r.dir, 'manifest.json'), JSON.stringify({ manifest: r.manifest, chunks: r.records }));
  }

  /** Check a request against what is held, then store it. Returns the chunks to confirm. */
  function accept(req: Request, key: SealKeys): { i: number; h: string }[] {
    const up = parseRequest(req, key);
    const r = recordingFor(req.unit, req.rid);
    if (r.manifest && r.manifest.rate !== up.manifest.rate) {
      throw bad(`manifest: "rate" ${up.manifest.rate} differs from the stored ${r.manifest.rate}`);
    }
    const ok: { i: number; h: string }[] = [];
    const fresh: Upload['chunks'] = [];
    for (const chunk of up.chunks) {
      const { rec } = chunk;
      const have = r.records.length + fresh.length;
      const held = rec.i < r.records.length ? r.records[rec.i]! : undefined;
      if (held) {
        if (held.h !== rec.h) throw bad(`chunk ${rec.i} is already stored with a different hash`);
        if (held.c !== rec.c) throw bad(`chunk ${rec.i} is already stored with a different record`);
        ok.push({ i: rec.i, h: rec.h });
        continue;
      }
      if (rec.i !== have) throw bad(`chunk ${rec.i} does not continue: the server expects chunk ${have}`);
      const prev = have > 0 ? (fresh[fresh.length - 1]?.rec ?? r.records[have - 1]!) : undefined;
      if (!prev && rec.p !== ZERO_HASH) throw bad('chunk 0: "p" must be 64 zeros');
      if (prev && rec.p !== prev.c) throw bad(`chunk ${rec.i}: "p" is not the chain value of chunk ${prev.i}`);
      if (prev && rec.s < prev.s + prev.n) {
        throw bad(`chunk ${rec.i}: starts at sample ${rec.s}, inside chunk ${prev.i} (ends at ${prev.s + prev.n})`);
      }
      fresh.push(chunk);
      ok.push({ i: rec.i, h: rec.h });
    }
    // The manifest's head against the chain held (a signed manifest that contradicts the chunks).
    const m = up.manifest;
    const at = m.n - 1;
    const headRec = at < 0 ? undefined : at < r.records.length ? r.records[at] : fresh.find((f) => f.rec.i === at)?.rec;
    if (headRec && headRec.c !== m.head) throw bad(`manifest: "head" is not the chain value of chunk ${at}`);

    // All checked: store. A manifest with fewer chunks, or a non-final one in place of a final one
    // with as many (a replayed older request), does not replace the stored one.
    const old = r.manifest;
    if (!old || m.n > old.n || (m.n === old.n && (m.final || !old.final))) r.manifest = m;
    for (const { rec, audio } of fresh) {
      ensureAudio(r, rec.s + rec.n);
      audio.copy(r.audio, rec.s);
      r.records.push(rec);
    }
    ensureAudio(r, extentOf(r));
    checkSignature(r);
    if (r.manifest!.final) r.stopQueued = false;
    persist(r, fresh);
    return ok;
  }

  /** The reply frame for a request: `EVR1 <len> <mac>\n<json>`. */
  function replyFrame(
    unit: string,
    rid: string,
    nonce: string,
    body: { ok: { i: number; h: string }[]; error?: string }
  ): Buffer {
    const r = recs.get(`${unit}/${rid}`);
    const payload: { q: string; r: string; have: number; ok: { i: number; h: string }[]; stop?: true; error?: string } =
      {
        q: nonce,
        r: rid,
        have: r ? r.records.length : 0,
        ok: body.ok
      };
    if (r?.stopQueued && !r.manifest?.final) payload.stop = true;
    if (body.error !== undefined) payload.error = body.error.slice(0, 300);
    const json = asciiJson(payload);
    const mac = replyMac(keys.get(unit)!, unit, rid, nonce, json);
    return Buffer.from(`EVR1 ${json.length} ${mac}\n${json}`, 'latin1');
  }

  function reject(unit: string, rid: string, error: string, replied: boolean, closes: boolean): void {
    rejects.push({ at: Date.now(), unit, rid, error, replied, closed: closes });
    if (rejects.length > 10_000) rejects.splice(0, rejects.length - 10_000);
  }

  /** Serve one connection: requests one at a time, read incrementally within the bounds. */
  function serve(sock: net.Socket): void {
    const inbox = new Inbox();
    type Phase = 'line' | 'manifest' | 'record' | 'ct' | 'busy' | 'closing';
    let phase: Phase = 'line';
    let req: Request | undefined;
    let remaining = 0; // records still to read
    let need = 0; // bytes wanted in the 'manifest' and 'ct' phases
    let pendingLine = '';
    let bytes = 0; // bytes of the current request so far
    let startedAt = 0; // real time of the current request's first byte
    const now = () => Number(process.hrtime.bigint() / 1_000_000n);

    sock.setNoDelay(true);
    sock.setTimeout(idleMs, () => sock.destroy());

    /** Stop serving this connection; reply an error first when the request can be answered. */
    const drop = (error: string, answer: boolean) => {
      if (phase === 'closing') return;
      const canAnswer = answer && req !== undefined && keys.has(req.unit) && !closed;
      phase = 'closing';
      inbox.clear();
      stats.closedForLimits++;
      reject(req?.unit ?? '', req?.rid ?? '', error, canAnswer, true);
      if (canAnswer && !faults.silent) {
        sock.end(replyFrame(req!.unit, req!.rid, req!.nonce, { ok: [], error }));
        sock.setTimeout(2000, () => sock.destroy()); // a client that keeps the socket half-open
      } else sock.destroy();
    };

    /** Ready for the next request (the caller's pump loop goes on reading). */
    const nextRequest = () => {
      phase = 'line';
      req = undefined;
      startedAt = 0;
    };

    const answer = (frame: Buffer | undefined) => {
      if (!frame || faults.silent || faults.loseReplies) return nextRequest();
      if (!(faults.delayMs > 0)) {
        sock.write(frame);
        return nextRequest();
      }
      sock.pause(); // one request at a time: the next waits in the socket until this one is answered
      const t = setTimeout(() => {
        timers.delete(t);
        if (closed || sock.destroyed || phase !== 'busy') return;
        sock.write(frame);
        nextRequest();
        sock.resume();
        pump();
      }, faults.delayMs);
      timers.add(t);
    };

    /** A whole request has arrived. */
    const handle = (q: Request) => {
      stats.requests++;
      phase = 'busy';
      if (faults.silent) return answer(undefined);
      const key = keys.get(q.unit)!;
      if (faults.error !== undefined) {
        reject(q.unit, q.rid, `fault injected: ${faults.error}`, true, false);
        return answer(replyFrame(q.unit, q.rid, q.nonce, { ok: [], error: faults.error }));
      }
      let frame: Buffer;
      try {
        const ok = accept(q, key);
        frame = replyFrame(q.unit, q.rid, q.nonce, { ok });
        const have = recs.get(`${q.unit}/${q.rid}`)!.records.length;
        for (const fn of listeners) {
          try {
            fn(q.unit, q.rid, have);
          } catch {
            // a listener's failure must not stop the server
          }
        }
      } catch (e) {
        const error = e instanceof Refusal ? e.message : `server error: ${(e as Error).message}`;
        reject(q.unit, q.rid, error, true, false);
        frame = replyFrame(q.unit, q.rid, q.nonce, { ok: [], error });
      }
      answer(frame);
    };

    /** The request line: `EVD1 <unit> <rid> <nonce> <mlen> <k>`. */
    const requestLine = (line: string) => {
      const f = line.split(' ');
      if (f.length !== 6 || f[0] !== 'EVD1') return drop('not an EVD1 request line', false);
      const [, unit, rid, nonce, mlen, k] = f as [string, string, string, string, string, string];
      if (!UNIT_RE.test(unit) || !RID_RE.test(rid) || !NONCE_RE.test(nonce))
        return drop('request line: unit, recording id or nonce malformed', false);
      req = { unit, rid, nonce, manifest: Buffer.alloc(0), records: [] };
      if (!keys.has(unit)) return drop(`unknown unit ${unit}: no key to authenticate it`, false);
      if (rid === '0000') return drop('request line: recording id must be 0001..ffff', true);
      if (!DECIMAL_RE.test(mlen) || !DECIMAL_RE.test(k))
        return drop('request line: <mlen> and <k> must be decimal numbers', true);
      if (Number(k) > MAX_BATCH)
        return drop(`request line: k=${k}, at most ${MAX_BATCH} sealed records per request`, true);
      if (bytes + Number(mlen) > MAX_BODY)
        return drop(`request over ${MAX_BODY} bytes (manifest of ${mlen} bytes)`, true);
      remaining = Number(k);
      need = Number(mlen);
      phase = 'manifest';
    };

    /** A sealed record's header line: enough of it to know its ciphertext's length. */
    const recordLine = (line: string) => {
      const which = `sealed record ${req!.records.length + 1} of the request`;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch {
        return drop(`${which} is not valid JSON`, true);
      }
      if (!isObject(o)) return drop(`${which} is not a JSON object`, true);
      const what = isCount(o.i, 0, 0xffff) ? `chunk ${o.i}` : which;
      if (!isCount(o.n, 1, MAX_CHUNK_SAMPLES)) return drop(`${what}: "n" must be 1..${MAX_CHUNK_SAMPLES}`, true);
      const L = sealedLength(o.n);
      if (bytes + L > MAX_BODY) return drop(`request over ${MAX_BODY} bytes (at ${what})`, true);
      pendingLine = line;
      need = L;
      phase = 'ct';
    };

    const pump = () => {
      for (;;) {
        if (phase === 'busy' || phase === 'closing') return;
        if (phase === 'line' || phase === 'record') {
          const max = phase === 'line' ? MAX_REQUEST_LINE : MAX_RECORD_LINE;
          if (phase === 'line' && inbox.size === 0) return;
          if (phase === 'line' && !startedAt) startedAt = now();
          const nl = inbox.newline(max);
          if (nl < 0) {
            if (inbox.size >= max) {
              return drop(
                phase === 'line'
                  ? 'request line too long (not an EVD1 request)'
                  : `sealed record ${req!.records.length + 1}: no header line within ${max} bytes`,
                phase === 'record'
              );
            }
            return;
          }
          if (phase === 'record' && bytes + nl + 1 > MAX_BODY) return drop(`request over ${MAX_BODY} bytes`, true);
          bytes += nl + 1;
          const line = inbox.take(nl + 1).toString('latin1', 0, nl);
          if (phase === 'line') requestLine(line);
          else recordLine(line);
          continue;
        }
        // 'manifest' or 'ct': a known number of bytes.
        if (inbox.size < need) return;
        const data = inbox.take(need);
        bytes += need;
        if (phase === 'manifest') req!.manifest = data;
        else req!.records.push({ line: pendingLine, ct: data });
        if (remaining > 0) {
          remaining--;
          phase = 'record';
          continue;
        }
        const q = req!;
        bytes = 0;
        handle(q);
      }
    };

    sock.on('data', (d: Buffer) => {
      if (phase === 'closing') return; // read and dropped: the connection is going
      if (faults.down || closed) return void sock.destroy();
      if (startedAt && now() - startedAt > requestMs) return drop(`request not complete within ${requestMs} ms`, true);
      inbox.push(d);
      if (inbox.size > stats.peakBuffered) stats.peakBuffered = inbox.size;
      pump();
    });
    sock.on('error', () => sock.destroy());
  }

  const server = net.createServer((sock) => {
    if (faults.down || closed) return void sock.destroy();
    stats.accepted++;
    stats.open++;
    sockets.add(sock);
    sock.on('close', () => {
      stats.open--;
      sockets.delete(sock);
    });
    serve(sock);
  });
  server.maxConnections = opts.maxConnections ?? MAX_CONNECTIONS;

  await new Promise<void>((resolve, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  server.on('error', () => {}); // a failed accept is the client's problem, not a crash
  const port = (server.address() as net.AddressInfo).port;

  return {
    host,
    port,
    url: `tcp://${host}:${port}`,
    faults,
    recordings: () =>
      [...recs.values()]
        .filter((r) => r.manifest)
        .map((r) => ({
          unit: r.unit,
          rid: r.rid,
          chunks: r.records.length,
          have: r.records.length,
          ...(r.manifest ? { manifest: JSON.parse(JSON.stringify(r.manifest)) as EvidenceManifest } : {}),
          ...(r.signatureOk !== undefined ? { signatureOk: r.signatureOk } : {}),
          dir: r.dir
        })),
    requestStop(unit, rid) {
      if (!UNIT_RE.test(unit) || !RID_RE.test(rid)) throw new Error(`no such recording id: ${unit}/${rid}`);
      const r = recordingFor(unit, rid);
      r.stopQueued = !r.manifest?.final; // an ended recording has nothing to stop
    },
    rejected: () => [...rejects],
    stats: () => ({ ...stats }),
    onUpload(fn) {
      listeners.push(fn);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  };
}
