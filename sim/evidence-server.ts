/**
 * A simulated evidence server on real HTTPS (node:https, 127.0.0.1). It is written independently
 * of the firmware's recorder and uploader, straight from docs/evidence.md, so that the two
 * cross-check each other: it takes `POST /v1/evidence/<unit>/<rid>` bodies (the signed manifest
 * line, then chunk record lines each followed by its raw samples), validates them strictly, checks
 * every chunk's hash and the hash chain, and keeps per recording, under `<root>/<unit>/<rid>/`:
 *
 * - `chunks/NNNNN.pcm` and `chunks/NNNNN.json`: each accepted chunk's samples and its record;
 * - `recording.wav`: the recording assembled (declared gaps and audio not yet received are 128);
 * - `manifest.json`: `{"manifest": <latest signed manifest>, "chunks": [<records in order>]}`.
 *
 * A request is all or nothing: it is checked in full against what the server holds before anything
 * is stored. 400 = the body is malformed or inconsistent in itself; 409 = it does not continue
 * what the server holds (the reply carries `have`); 413 = body over 1 MiB. Faults (down, a fixed
 * status, delay) are set through the mutable `faults` object. Keys and audio are never printed.
 */
import * as https from 'node:https';
import type * as http from 'node:http';
import type * as net from 'node:net';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';

/** Largest accepted request body. */
export const MAX_BODY = 1024 * 1024;
/** Largest chunk: a chunk is one slot of the unit's audio ring, and no board has 64 KiB for it. */
export const MAX_CHUNK_SAMPLES = 65536;
/**
 * Largest recording extent the server will assemble (2^26 samples: 2.3 h at 8 kHz, well above
 * `audio.maxS`), so a bogus manifest cannot make it allocate without bound.
 */
export const MAX_SAMPLES = 1 << 26;
const ZERO_HASH = '0'.repeat(64);
const GAP_WHYS = ['boot', 'mic', 'spool', 'full'];
const ENDS = ['', 'stop', 'max'];
const UNIT_RE = /^[A-Za-z0-9-]{1,24}$/;
const RID_RE = /^[0-9a-f]{4}$/;
const HASH_RE = /^[0-9a-f]{64}$/;
const MANIFEST_KEYS = ['v', 'unit', 'r', 'rate', 'bits', 'trig', 'start', 'n', 'samples', 'head', 'gaps', 'end', 'final'];
const RECORD_KEYS = ['r', 'i', 's', 'n', 't', 'w', 'h', 'p', 'c'];
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
  /** The stored manifest's signature checked with the unit's key; absent when the key is unknown. */
  signatureOk?: boolean;
  dir: string;
}

export interface EvidenceRejected {
  at: number;
  status: number;
  error: string;
  path: string;
}

export interface EvidenceFaults {
  /** Refuse connections: sockets are destroyed as they arrive. */
  down: boolean;
  /** Reply this HTTP status to every request (nothing is stored). */
  status?: number;
  /** Delay every reply by this many ms (after the request was handled). */
  delayMs: number;
}

export interface EvidenceServer {
  readonly port: number;
  /** `https://127.0.0.1:PORT` */
  readonly url: string;
  faults: EvidenceFaults;
  /** Recordings that had an accepted upload (or were found in `root` at start). */
  recordings(): EvidenceRecording[];
  /**
   * Queue a stop for a recording: every reply for it carries `stop` (when the unit's key is known)
   * until its final manifest is stored. Ignored for a recording that has already ended.
   */
  requestStop(unit: string, rid: string): void;
  rejected(): EvidenceRejected[];
  /** Called after each accepted request. */
  onUpload(fn: (unit: string, rid: string, have: number) => void): void;
  close(): Promise<void>;
}

export interface EvidenceServerOptions {
  /** Folder holding `<unit>/<rid>/`; created when absent. Recordings already there are resumed. */
  root: string;
  /** PEM certificate and key (see sim/tls.ts). */
  cert: string;
  key: string;
  /** Unit id → 64-hex-digit evidence key: enables signature checks and stop commands. */
  keys?: { [unit: string]: string };
  /** Default 0: an ephemeral port. */
  port?: number;
}

/** An error that becomes the HTTP reply. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
  }
}
const bad = (msg: string) => new Refusal(400, msg);
const conflict = (msg: string) => new Refusal(409, msg);

const sha256 = (data: string | Uint8Array) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer, text: string) => crypto.createHmac('sha256', key).update(text, 'latin1').digest('hex');

/** The chain value of a record: SHA-256 of `p:r:i:s:n:t:w:h`. */
function chainOf(rec: ChunkRecord): string {
  return sha256(`${rec.p}:${rec.r}:${rec.i}:${rec.s}:${rec.n}:${rec.t}:${rec.w}:${rec.h}`);
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

function signatureValid(m: EvidenceManifest, key: Buffer): boolean {
  const expect = Buffer.from(hmac(key, canonicalManifest(m)), 'latin1');
  const got = Buffer.from(m.sig, 'latin1');
  return expect.length === got.length && crypto.timingSafeEqual(expect, got);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;

function parseJsonLine(text: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad(`${what} is not valid JSON`);
  }
  if (!isObject(v)) throw bad(`${what} is not a JSON object`);
  return v;
}

/** Every documented key present, no other key. */
function checkKeys(o: Record<string, unknown>, keys: string[], what: string): void {
  for (const k of keys) if (!(k in o)) throw bad(`${what}: missing "${k}"`);
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw bad(`${what}: unknown field "${k}"`);
}

function validateManifest(o: Record<string, unknown>, unit: string, rid: string): EvidenceManifest {
  checkKeys(o, [...MANIFEST_KEYS, 'sig'], 'manifest');
  if (o.v !== 1) throw bad('manifest: "v" must be 1');
  if (o.unit !== unit) throw bad(`manifest: "unit" does not match the URL's unit ${unit}`);
  if (o.r !== rid) throw bad(`manifest: "r" does not match the URL's recording ${rid}`);
  if (!isCount(o.rate, 1, 1_000_000)) throw bad('manifest: "rate" must be a positive integer (Hz)');
  if (o.bits !== 8) throw bad('manifest: "bits" must be 8');
  if (!isCount(o.trig)) throw bad('manifest: "trig" must be a sample index (integer >= 0)');
  if (!isCount(o.start)) throw bad('manifest: "start" must be a wall time in ms (integer >= 0)');
  if (!isCount(o.n, 0, 0x10000)) throw bad('manifest: "n" must be a chunk count 0..65536');
  if (!isCount(o.samples, 0, MAX_SAMPLES)) throw bad(`manifest: "samples" must be an integer 0..${MAX_SAMPLES}`);
  if (typeof o.head !== 'string' || !HASH_RE.test(o.head)) throw bad('manifest: "head" must be 64 lowercase hex digits');
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

function validateRecord(o: Record<string, unknown>, rid: string, what: string): ChunkRecord {
  checkKeys(o, RECORD_KEYS, what);
  if (o.r !== rid) throw bad(`${what}: "r" does not match the URL's recording ${rid}`);
  if (!isCount(o.i, 0, 0xffff)) throw bad(`${what}: "i" must be a chunk index 0..65535`);
  if (!isCount(o.s, 0, MAX_SAMPLES)) throw bad(`${what}: "s" must be a sample index 0..${MAX_SAMPLES}`);
  if (!isCount(o.n, 1, MAX_CHUNK_SAMPLES)) throw bad(`${what}: "n" must be 1..${MAX_CHUNK_SAMPLES}`);
  if (o.s + o.n > MAX_SAMPLES) throw bad(`${what}: ends beyond ${MAX_SAMPLES} samples`);
  if (!isCount(o.t)) throw bad(`${what}: "t" must be a unit time in ms (integer >= 0)`);
  if (!isCount(o.w)) throw bad(`${what}: "w" must be a wall time in ms (integer >= 0)`);
  for (const k of ['h', 'p', 'c'] as const) {
    if (typeof o[k] !== 'string' || !HASH_RE.test(o[k] as string)) throw bad(`${what}: "${k}" must be 64 lowercase hex digits`);
  }
  return o as unknown as ChunkRecord;
}

interface Upload {
  manifest: EvidenceManifest;
  chunks: { rec: ChunkRecord; audio: Buffer }[];
}

/** Parse and check a body in itself (not yet against what is stored). */
function parseBody(body: Buffer, unit: string, rid: string): Upload {
  const nl = body.indexOf(0x0a);
  if (nl < 0) throw bad('body must start with the signed manifest JSON and a newline');
  const manifest = validateManifest(parseJsonLine(body.toString('latin1', 0, nl), 'manifest'), unit, rid);
  const chunks: Upload['chunks'] = [];
  let pos = nl + 1;
  while (pos < body.length) {
    const what = `chunk record ${chunks.length + 1} of the body`;
    const end = body.indexOf(0x0a, pos);
    if (end < 0) throw bad(`${what} has no newline (body truncated?)`);
    const o = parseJsonLine(body.toString('latin1', pos, end), what);
    const rec = validateRecord(o, rid, `chunk ${typeof o.i === 'number' ? o.i : '?'}`);
    pos = end + 1;
    if (body.length - pos < rec.n) {
      throw bad(`chunk ${rec.i}: body truncated (${body.length - pos} of ${rec.n} sample bytes)`);
    }
    const audio = body.subarray(pos, pos + rec.n);
    pos += rec.n;
    if (sha256(audio) !== rec.h) throw bad(`chunk ${rec.i}: audio does not match "h"`);
    if (chainOf(rec) !== rec.c) throw bad(`chunk ${rec.i}: "c" is not SHA-256 of p:r:i:s:n:t:w:h`);
    const prev = chunks[chunks.length - 1];
    if (prev && rec.i !== prev.rec.i + 1) throw bad(`chunk records not consecutive (${rec.i} after ${prev.rec.i})`);
    if (rec.i >= manifest.n) throw bad(`chunk ${rec.i} is beyond the manifest's n=${manifest.n}`);
    chunks.push({ rec, audio });
  }
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

export async function startEvidenceServer(opts: EvidenceServerOptions): Promise<EvidenceServer> {
  const root = path.resolve(opts.root);
  fs.mkdirSync(root, { recursive: true });
  const keys = new Map<string, Buffer>();
  for (const [unit, hex] of Object.entries(opts.keys ?? {})) {
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`evidence key for unit '${unit}' must be 64 hex digits`);
    keys.set(unit, Buffer.from(hex, 'hex'));
  }

  const faults: EvidenceFaults = { down: false, delayMs: 0 };
  const recs = new Map<string, Recording>();
  const rejects: EvidenceRejected[] = [];
  const listeners: ((unit: string, rid: string, have: number) => void)[] = [];
  const sockets = new Set<net.Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
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
    if (key && r.manifest) r.signatureOk = signatureValid(r.manifest, key);
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

  /** Check an upload against what is held, then store it. Returns the reply. */
  function accept(unit: string, rid: string, body: Buffer): object {
    const up = parseBody(body, unit, rid);
    const r = recordingFor(unit, rid);
    if (r.manifest && r.manifest.rate !== up.manifest.rate) {
      throw conflict(`manifest: "rate" ${up.manifest.rate} differs from the stored ${r.manifest.rate}`);
    }
    const ok: { i: number; h: string }[] = [];
    const fresh: Upload['chunks'] = [];
    for (const chunk of up.chunks) {
      const { rec } = chunk;
      const have = r.records.length + fresh.length;
      const held = rec.i < r.records.length ? r.records[rec.i]! : undefined;
      if (held) {
        if (held.h !== rec.h) throw conflict(`chunk ${rec.i} is already stored with a different hash`);
        if (held.c !== rec.c) throw conflict(`chunk ${rec.i} is already stored with a different record`);
        ok.push({ i: rec.i, h: rec.h });
        continue;
      }
      if (rec.i !== have) throw conflict(`chunk ${rec.i} does not continue: the server expects chunk ${have}`);
      const prev = have > 0 ? (fresh[fresh.length - 1]?.rec ?? r.records[have - 1]!) : undefined;
      if (!prev && rec.p !== ZERO_HASH) throw conflict('chunk 0: "p" must be 64 zeros');
      if (prev && rec.p !== prev.c) throw conflict(`chunk ${rec.i}: "p" is not the chain value of chunk ${prev.i}`);
      if (prev && rec.s < prev.s + prev.n) {
        throw conflict(`chunk ${rec.i}: starts at sample ${rec.s}, inside chunk ${prev.i} (ends at ${prev.s + prev.n})`);
      }
      fresh.push(chunk);
      ok.push({ i: rec.i, h: rec.h });
    }

    // All checked: store.
    if (!r.manifest || up.manifest.n >= r.manifest.n) r.manifest = up.manifest;
    for (const { rec, audio } of fresh) {
      ensureAudio(r, rec.s + rec.n);
      audio.copy(r.audio, rec.s);
      r.records.push(rec);
    }
    ensureAudio(r, extentOf(r));
    checkSignature(r);
    if (r.manifest.final) r.stopQueued = false;
    persist(r, fresh);

    const have = r.records.length;
    const reply: { have: number; ok: typeof ok; stop?: { r: string; t: number; m: string } } = { have, ok };
    const key = keys.get(unit);
    if (r.stopQueued && key) {
      const t = Date.now();
      reply.stop = { r: rid, t, m: hmac(key, `stop:${unit}:${rid}:${t}`) };
    }
    for (const fn of listeners) {
      try {
        fn(unit, rid, have);
      } catch {
        // a listener's failure must not stop the server
      }
    }
    return reply;
  }

  function send(req: http.IncomingMessage, res: http.ServerResponse, status: number, payload: object): void {
    if ('error' in payload) {
      rejects.push({ at: Date.now(), status, error: String((payload as { error: unknown }).error), path: req.url ?? '' });
    }
    const text = JSON.stringify(payload);
    const write = () => {
      if (res.destroyed || closed) return;
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (!(faults.delayMs > 0)) return write();
    const t = setTimeout(() => {
      timers.delete(t);
      write();
    }, faults.delayMs);
    timers.add(t);
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    if (faults.status !== undefined) return send(req, res, faults.status, { error: `fault injected: status ${faults.status}` });
    const m = /^\/v1\/evidence\/([^/?#]+)\/([^/?#]+)$/.exec(req.url ?? '');
    if (!m) return send(req, res, 404, { error: 'not found: use POST /v1/evidence/<unit>/<rid>' });
    if (req.method !== 'POST') return send(req, res, 405, { error: 'method not allowed: use POST' });
    const unit = m[1]!;
    const rid = m[2]!;
    if (!UNIT_RE.test(unit)) return send(req, res, 400, { error: 'URL: unit must be 1-24 letters, digits or "-"' });
    if (!RID_RE.test(rid) || rid === '0000') return send(req, res, 400, { error: 'URL: recording id must be 4 lowercase hex digits, 0001..ffff' });
    const type = req.headers['content-type'];
    if (type !== undefined && type.split(';')[0]!.trim().toLowerCase() !== 'application/octet-stream') {
      return send(req, res, 415, { error: 'content-type must be application/octet-stream' });
    }
    try {
      send(req, res, 200, accept(unit, rid, body));
    } catch (e) {
      if (e instanceof Refusal) {
        const held = recs.get(`${unit}/${rid}`);
        send(req, res, e.status, e.status === 409 ? { error: e.message, have: held ? held.records.length : 0 } : { error: e.message });
      } else {
        send(req, res, 500, { error: `server error: ${(e as Error).message}` });
      }
    }
  }

  const server = https.createServer({ cert: opts.cert, key: opts.key }, (req, res) => {
    if (faults.down || closed) return void req.socket.destroy();
    const parts: Buffer[] = [];
    let size = 0;
    let drained = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size <= MAX_BODY) parts.push(d);
      else if ((drained += d.length) > 16 * MAX_BODY) req.socket.destroy(); // not worth reading further
    });
    req.on('error', () => req.socket.destroy());
    req.on('end', () => {
      if (faults.down || closed) return void req.socket.destroy();
      if (size > MAX_BODY) return send(req, res, 413, { error: `body over ${MAX_BODY} bytes` });
      handle(req, res, Buffer.concat(parts));
    });
  });
  server.on('connection', (sock: net.Socket) => {
    if (faults.down || closed) return void sock.destroy();
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  server.on('tlsClientError', () => {}); // a client that does not trust us: its problem, not a crash

  await new Promise<void>((resolve, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', fail);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    url: `https://127.0.0.1:${port}`,
    faults,
    recordings: () =>
      [...recs.values()].filter((r) => r.manifest).map((r) => ({
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
