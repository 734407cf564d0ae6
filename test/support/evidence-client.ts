/**
 * A test-side evidence uploader, written from docs/evidence.md with Node crypto and independent of
 * the firmware: it cuts a recording into chunk records (hash, chain), signs manifests, encodes
 * upload bodies and POSTs them over HTTPS with the server's certificate as the only CA.
 */
import * as crypto from 'node:crypto';
import * as https from 'node:https';

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

/** An upload body: manifest line, then each record line followed by its samples. */
export function encodeBody(manifest: object, chunks: { record: object; audio: Uint8Array }[]): Buffer {
  const parts: Buffer[] = [Buffer.from(JSON.stringify(manifest) + '\n', 'latin1')];
  for (const c of chunks) {
    parts.push(Buffer.from(JSON.stringify(c.record) + '\n', 'latin1'));
    parts.push(Buffer.from(c.audio));
  }
  return Buffer.concat(parts);
}

/** Body for chunks `from` … `to-1` of a recording, with the manifest as of `manifestN` chunks (default `to`). */
export function bodyFor(rec: TestRecording, from: number, to: number, manifestN = to, end: '' | 'stop' | 'max' = ''): Buffer {
  const chunks = [];
  for (let i = from; i < to; i++) chunks.push({ record: rec.records[i]!, audio: rec.audio[i]! });
  return encodeBody(rec.manifest(manifestN, end), chunks);
}

export interface PostResult {
  status: number;
  json: any;
}

/** POST a body over HTTPS trusting only `ca`. */
export function post(
  url: string,
  ca: string,
  urlPath: string,
  body: Buffer,
  headers: { [k: string]: string } = { 'content-type': 'application/octet-stream' }
): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${url}${urlPath}`,
      { method: 'POST', ca, headers: { ...headers, 'content-length': String(body.length) }, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
        res.on('error', reject);
      }
    );
    req.on('error', reject);
    req.end(body);
  });
}

export const uploadPath = (unit: string, rid: string) => `/v1/evidence/${unit}/${rid}`;
