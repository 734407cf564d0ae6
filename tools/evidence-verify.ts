/**
 * The independent evidence verifier: checks recordings kept by the evidence server (per recording
 * a folder with `recording.wav` and `manifest.json`) against docs/evidence.md, without trusting
 * the server or the unit. It is written from the document alone (it imports nothing from the
 * firmware or the simulator) so it cross-checks both.
 *
 * Checks per recording: the WAV header (RIFF/WAVE, PCM, mono, 8-bit, the manifest's rate, data
 * length = the recording's extent, nothing after the audio); chunk indices 0 … n-1 in order, none
 * missing or repeated; each chunk's SHA-256 over the WAV samples s … s+n-1; the hash chain from 64
 * zeros (every `c` recomputed, every `p` = the previous `c`) ending at the manifest's `head`;
 * sample continuity with the declared gaps; gap regions silent (128); the manifest's HMAC-SHA-256
 * signature under the unit's evidence key.
 *
 * Usage: npm run evidence:verify -- DIR [--key HEX] [--keys FILE.json] [--no-signature]
 *   DIR: a recording folder (holds manifest.json) or any folder above recordings.
 *   --key HEX: the 64-hex-digit evidence key (for every recording); --keys FILE: unit id → key.
 *   Without a key for a recording its signature is NOT checked, which counts as a failure unless
 *   --no-signature is given.
 * Exit code: 0 every recording verified; 1 a recording failed; 2 usage error or nothing found.
 * Keys and audio content are never printed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';

const ZERO_HASH = '0'.repeat(64);
const HASH_RE = /^[0-9a-f]{64}$/;
const KEY_RE = /^[0-9a-fA-F]{64}$/;
const GAP_WHYS = ['boot', 'mic', 'spool', 'full'];
const ENDS = ['', 'stop', 'max'];

export interface GapSummary {
  /** The chunk the gap comes before. */
  i: number;
  /** Missing samples. */
  s: number;
  why: string;
  seconds: number;
}

export interface RecordingSummary {
  dir: string;
  unit?: string;
  rid?: string;
  rate?: number;
  /** The recording's extent in samples (gaps included) and in seconds. */
  samples?: number;
  durationS?: number;
  /** Chunk records listed in manifest.json. */
  chunks: number;
  /** Chunks the manifest declares (`n`). */
  n?: number;
  /** Wall time of sample 0, UTC ms and ISO. */
  start?: number;
  startIso?: string;
  /** Trigger position, samples and seconds from sample 0. */
  trig?: number;
  trigS?: number;
  gaps: GapSummary[];
  end?: string;
  final?: boolean;
  signature: 'valid' | 'invalid' | 'not checked';
}

export interface VerifyResult {
  ok: boolean;
  /** Each failure, in a fixed order (file structure, chunk by chunk, then the manifest), readable as is. */
  problems: string[];
  summary: RecordingSummary;
}

export interface VerifyOptions {
  /** Do not count a signature that could not be checked (no key) as a failure. */
  noSignature?: boolean;
}

interface Gap {
  i: number;
  s: number;
  why: string;
}

interface Manifest {
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
  gaps: Gap[];
  end: string;
  final: boolean;
  sig: string;
}

interface ChunkRecord {
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

const sha256 = (data: string | Uint8Array) => crypto.createHash('sha256').update(data).digest('hex');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const isHash = (v: unknown): v is string => typeof v === 'string' && HASH_RE.test(v);
const range = (s: number, n: number) => `samples ${s}..${s + n - 1}`;

/** The signed string: documented key order, no whitespace, without `sig`. */
export function canonicalManifest(m: Omit<Manifest, 'sig'>): string {
  const gaps = m.gaps.map((g) => `{"i":${JSON.stringify(g.i)},"s":${JSON.stringify(g.s)},"why":${JSON.stringify(g.why)}}`);
  return (
    `{"v":${JSON.stringify(m.v)},"unit":${JSON.stringify(m.unit)},"r":${JSON.stringify(m.r)},` +
    `"rate":${JSON.stringify(m.rate)},"bits":${JSON.stringify(m.bits)},"trig":${JSON.stringify(m.trig)},` +
    `"start":${JSON.stringify(m.start)},"n":${JSON.stringify(m.n)},"samples":${JSON.stringify(m.samples)},` +
    `"head":${JSON.stringify(m.head)},"gaps":[${gaps.join(',')}],"end":${JSON.stringify(m.end)},` +
    `"final":${JSON.stringify(m.final)}}`
  );
}

/** Manifest fields: returns the problems (empty when the manifest can be used). */
function manifestProblems(m: Record<string, unknown>): string[] {
  const out: string[] = [];
  const need = (ok: boolean, msg: string) => {
    if (!ok) out.push(`manifest: ${msg}`);
  };
  need(m.v === 1, '"v" is not 1');
  need(typeof m.unit === 'string' && m.unit !== '', '"unit" missing or not a string');
  need(typeof m.r === 'string' && /^[0-9a-f]{4}$/.test(m.r) && m.r !== '0000', '"r" is not a recording id (4 lowercase hex digits)');
  need(isCount(m.rate, 1), '"rate" is not a positive integer');
  need(m.bits === 8, '"bits" is not 8');
  need(isCount(m.trig), '"trig" is not a sample index');
  need(isCount(m.start), '"start" is not a wall time in ms');
  need(isCount(m.n), '"n" is not a chunk count');
  need(isCount(m.samples), '"samples" is not a sample count');
  need(isHash(m.head), '"head" is not 64 lowercase hex digits');
  need(typeof m.end === 'string' && ENDS.includes(m.end), '"end" is not "", "stop" or "max"');
  need(typeof m.final === 'boolean', '"final" is not true or false');
  need(isHash(m.sig), '"sig" missing or not 64 lowercase hex digits');
  if (!Array.isArray(m.gaps)) need(false, '"gaps" is not an array');
  else {
    m.gaps.forEach((g: unknown, k) => {
      const ok = isObject(g) && isCount(g.i) && isCount(g.s) && typeof g.why === 'string' && GAP_WHYS.includes(g.why);
      need(ok, `gap ${k} is not {"i":chunk,"s":samples,"why":${GAP_WHYS.join('|')}}`);
    });
  }
  const known = ['v', 'unit', 'r', 'rate', 'bits', 'trig', 'start', 'n', 'samples', 'head', 'gaps', 'end', 'final', 'sig'];
  for (const k of Object.keys(m)) need(known.includes(k), `unknown field "${k}" (not covered by the signature)`);
  return out;
}

function recordProblem(o: unknown, rid: string): string | undefined {
  if (!isObject(o)) return 'not an object';
  for (const k of ['r', 'i', 's', 'n', 't', 'w', 'h', 'p', 'c']) if (!(k in o)) return `missing "${k}"`;
  for (const k of Object.keys(o)) if (!['r', 'i', 's', 'n', 't', 'w', 'h', 'p', 'c'].includes(k)) return `unknown field "${k}"`;
  if (!isCount(o.i)) return '"i" is not a chunk index';
  if (o.r !== rid) return `"r" is not the manifest's recording ${rid}`;
  if (!isCount(o.s) || !isCount(o.n, 1) || !isCount(o.t) || !isCount(o.w)) return '"s", "n", "t" or "w" is not a whole number (n >= 1)';
  if (!isHash(o.h) || !isHash(o.p) || !isHash(o.c)) return '"h", "p" or "c" is not 64 lowercase hex digits';
  return undefined;
}

interface WavData {
  /** Offset of sample 0 in the file, and the data chunk's length in samples. */
  offset: number;
  length: number;
}

/** Check the WAV's structure; returns where its samples are, or undefined when they cannot be found. */
function readWav(buf: Buffer, rate: number, problems: string[]): WavData | undefined {
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') {
    problems.push('recording.wav: not a RIFF/WAVE file');
    return undefined;
  }
  if (buf.readUInt32LE(4) !== buf.length - 8) {
    problems.push(`recording.wav: RIFF size says ${buf.readUInt32LE(4) + 8} bytes, the file has ${buf.length}`);
  }
  let pos = 12;
  let fmtSeen = false;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('latin1', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (fmtSeen) problems.push('recording.wav: two "fmt " chunks');
      fmtSeen = true;
      if (size < 16 || body + 16 > buf.length) {
        problems.push('recording.wav: "fmt " chunk too short');
        return undefined;
      }
      const format = buf.readUInt16LE(body);
      const channels = buf.readUInt16LE(body + 2);
      const wavRate = buf.readUInt32LE(body + 4);
      const byteRate = buf.readUInt32LE(body + 8);
      const align = buf.readUInt16LE(body + 12);
      const bits = buf.readUInt16LE(body + 14);
      if (format !== 1) problems.push(`recording.wav: format ${format}, not PCM (1)`);
      if (channels !== 1) problems.push(`recording.wav: ${channels} channels, not mono`);
      if (bits !== 8) problems.push(`recording.wav: ${bits}-bit samples, not 8-bit`);
      if (wavRate !== rate) problems.push(`recording.wav: rate ${wavRate} Hz, the manifest says ${rate} Hz`);
      if (byteRate !== wavRate || align !== 1) problems.push('recording.wav: byte rate or block align inconsistent with 8-bit mono');
      if (format !== 1 || channels !== 1 || bits !== 8) return undefined;
    } else if (id === 'data') {
      if (!fmtSeen) {
        problems.push('recording.wav: "data" before "fmt "');
        return undefined;
      }
      const length = Math.min(size, buf.length - body);
      if (length < size) problems.push(`recording.wav: data chunk says ${size} samples, the file holds ${length}`);
      const after = body + length + (length & 1);
      if (length & 1 && after <= buf.length && buf[body + length] !== 0) problems.push('recording.wav: the pad byte after the audio is not 0');
      if (after < buf.length) problems.push(`recording.wav: ${buf.length - after} bytes after the audio data`);
      return { offset: body, length };
    } else {
      problems.push(`recording.wav: unexpected "${id.replace(/[^\x20-\x7e]/g, '?')}" chunk`);
    }
    pos = body + size + (size & 1);
  }
  problems.push('recording.wav: no data chunk');
  return undefined;
}

function verifyOne(dir: string, key: Buffer | undefined, opts: VerifyOptions): VerifyResult {
  const problems: string[] = [];
  const summary: RecordingSummary = { dir, chunks: 0, gaps: [], signature: 'not checked' };
  const done = () => ({ ok: problems.length === 0, problems, summary });

  // manifest.json
  let stored: unknown;
  try {
    stored = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  } catch (e) {
    problems.push((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'manifest.json missing' : 'manifest.json is not valid JSON');
    return done();
  }
  if (!isObject(stored) || !isObject(stored.manifest) || !Array.isArray(stored.chunks)) {
    problems.push('manifest.json is not {"manifest":{…},"chunks":[…]}');
    return done();
  }
  const mp = manifestProblems(stored.manifest);
  if (mp.length) {
    problems.push(...mp);
    return done();
  }
  const m = stored.manifest as unknown as Manifest;
  Object.assign(summary, {
    unit: m.unit,
    rid: m.r,
    rate: m.rate,
    n: m.n,
    start: m.start,
    startIso: new Date(m.start).toISOString(),
    trig: m.trig,
    trigS: m.trig / m.rate,
    end: m.end,
    final: m.final,
    chunks: stored.chunks.length,
    gaps: m.gaps.map((g) => ({ i: g.i, s: g.s, why: g.why, seconds: g.s / m.rate }))
  });
  if (m.final !== (m.end !== '')) problems.push(`manifest: "final" is ${m.final} but "end" is "${m.end}"`);
  if (m.final && m.trig > m.samples) problems.push(`manifest: trigger sample ${m.trig} is beyond the recording's ${m.samples} samples`);
  if (m.n === 0 && m.head !== ZERO_HASH) problems.push('manifest: "head" is not 64 zeros though n is 0');
  m.gaps.forEach((g, k) => {
    if (g.i > m.n) problems.push(`manifest: gap ${k} is before chunk ${g.i}, beyond the ${m.n} chunks`);
  });
  const gapBefore = (i: number) => m.gaps.filter((g) => g.i === i).reduce((a, g) => a + g.s, 0);

  // Chunk records: well-formed, indices 0 … n-1 in order, once each.
  const byIndex = new Map<number, ChunkRecord>();
  let prevListed: ChunkRecord | undefined;
  stored.chunks.forEach((o: unknown, k) => {
    const p = recordProblem(o, m.r);
    if (p) return void problems.push(`chunk list entry ${k}${isObject(o) && isCount(o.i) ? ` (chunk ${o.i})` : ''}: ${p}`);
    const rec = o as ChunkRecord;
    if (byIndex.has(rec.i)) problems.push(`chunk ${rec.i} repeated`);
    else byIndex.set(rec.i, rec);
    if (rec.i >= m.n) problems.push(`chunk ${rec.i} beyond the manifest's n (${m.n})`);
    if (prevListed && rec.i < prevListed.i) problems.push(`chunks ${rec.i} and ${prevListed.i} out of order`);
    prevListed = rec;
  });
  for (let i = 0; i < m.n; i++) if (!byIndex.has(i)) problems.push(`chunk ${i} missing`);
  const last = byIndex.get(m.n - 1);
  const extent = Math.max(m.samples, last ? last.s + last.n : 0);
  summary.samples = extent;
  summary.durationS = extent / m.rate;

  // The WAV.
  let wav: Buffer | undefined;
  let data: WavData | undefined;
  try {
    wav = fs.readFileSync(path.join(dir, 'recording.wav'));
  } catch (e) {
    problems.push((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'recording.wav missing' : 'recording.wav unreadable');
  }
  if (wav) data = readWav(wav, m.rate, problems);
  if (data && data.length !== extent) {
    problems.push(
      data.length > extent
        ? `recording.wav: ${data.length - extent} samples beyond the recording's extent (${extent})`
        : `recording.wav: ${data.length} samples, the recording's extent is ${extent}`
    );
  }
  const samplesAt = (s: number, n: number) => wav!.subarray(data!.offset + s, data!.offset + s + n);

  // Chunk by chunk: audio hash, chain, continuity, the gap before it.
  const indices = [...byIndex.keys()].sort((a, b) => a - b);
  for (const i of indices) {
    const rec = byIndex.get(i)!;
    if (data) {
      if (rec.s + rec.n > data.length) {
        problems.push(`chunk ${i}: audio beyond the end of the WAV (${range(rec.s, rec.n)}, the WAV has ${data.length})`);
      } else if (sha256(samplesAt(rec.s, rec.n)) !== rec.h) {
        problems.push(`chunk ${i}: audio hash mismatch (${range(rec.s, rec.n)})`);
      }
    }
    const prev = i > 0 ? byIndex.get(i - 1) : undefined;
    if (sha256(`${rec.p}:${rec.r}:${rec.i}:${rec.s}:${rec.n}:${rec.t}:${rec.w}:${rec.h}`) !== rec.c) {
      problems.push(`chain broken at chunk ${i} (its "c" does not match its record)`);
    } else if (i === 0 && rec.p !== ZERO_HASH) {
      problems.push('chain broken at chunk 0 (its "p" is not 64 zeros)');
    } else if (prev && rec.p !== prev.c) {
      problems.push(`chain broken at chunk ${i} (its "p" is not chunk ${i - 1}'s "c")`);
    }
    const gap = gapBefore(i);
    if (i === 0 || prev) {
      const expect = (prev ? prev.s + prev.n : 0) + gap;
      if (rec.s !== expect) {
        problems.push(`chunk ${i}: starts at sample ${rec.s}, continuity with the declared gaps puts it at ${expect}`);
      } else if (gap > 0 && data) {
        const from = rec.s - gap;
        const region = samplesAt(from, Math.min(gap, Math.max(0, data.length - from)));
        if (region.some((b) => b !== 128)) {
          const why = m.gaps.filter((g) => g.i === i).map((g) => g.why).join('+');
          problems.push(`gap before chunk ${i} (${why}, ${range(from, gap)}) is not silent`);
        }
      }
    }
  }

  // The chain ends at the manifest's head; the extent is the last chunk's end.
  if (last) {
    if (last.c !== m.head) problems.push(`chain does not end at the manifest's head (chunk ${m.n - 1}'s "c" differs)`);
    if (m.samples !== last.s + last.n) {
      problems.push(`manifest: "samples" is ${m.samples}, chunk ${m.n - 1} ends at ${last.s + last.n}`);
    }
  }

  // The signature.
  if (key) {
    const expect = crypto.createHmac('sha256', key).update(canonicalManifest(m), 'latin1').digest();
    const got = Buffer.from(m.sig, 'hex');
    const valid = got.length === expect.length && crypto.timingSafeEqual(got, expect);
    summary.signature = valid ? 'valid' : 'invalid';
    if (!valid) problems.push('signature invalid');
  } else if (!opts.noSignature) {
    problems.push('signature NOT checked (no key)');
  }
  return done();
}

/** Verify one recording folder. `key`: the unit's evidence key (64 hex digits, or its 32 bytes). */
export function verifyRecordingDir(dir: string, key?: string | Buffer, opts: VerifyOptions = {}): VerifyResult {
  let k: Buffer | undefined;
  if (typeof key === 'string') {
    if (!KEY_RE.test(key)) throw new Error('evidence key must be 64 hex digits');
    k = Buffer.from(key, 'hex');
  } else if (key) {
    if (key.length !== 32) throw new Error('evidence key must be 32 bytes');
    k = key;
  }
  return verifyOne(path.resolve(dir), k, opts);
}

/** Recording folders at or beneath `dir` (a folder holding manifest.json), sorted. */
export function findRecordingDirs(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    if (fs.existsSync(path.join(d, 'manifest.json'))) return void found.push(d);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.isDirectory()) walk(path.join(d, e.name));
    }
  };
  walk(path.resolve(dir));
  return found;
}

const secs = (x: number) => `${x.toFixed(3)} s`;

/** The readable report for one recording. */
export function formatReport(r: VerifyResult): string {
  const s = r.summary;
  const lines: string[] = [];
  lines.push(`Recording ${s.unit ?? '?'} / ${s.rid ?? '?'}   (${s.dir})`);
  if (s.rate !== undefined) {
    lines.push(`  rate ${s.rate} Hz, 8-bit mono; duration ${secs(s.durationS ?? 0)} (${s.samples} samples)`);
    lines.push(`  chunks ${s.chunks} listed, manifest n = ${s.n}`);
    lines.push(`  start ${s.startIso}; trigger at ${secs(s.trigS ?? 0)}`);
    if (s.gaps.length === 0) lines.push('  gaps: none');
    for (const g of s.gaps) lines.push(`  gap before chunk ${g.i}: ${g.s} samples (${secs(g.seconds)}), ${g.why}`);
    lines.push(`  end: ${s.end === '' ? '(still recording)' : s.end}; ${s.final ? 'final' : 'NOT final'}`);
    lines.push(`  signature: ${s.signature === 'not checked' ? 'NOT checked (no key)' : s.signature}`);
  }
  if (r.ok) lines.push('  VERIFIED');
  else {
    lines.push(`  FAILED (${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}):`);
    for (const p of r.problems) lines.push(`    ${p}`);
  }
  return lines.join('\n');
}

const USAGE = 'usage: npm run evidence:verify -- DIR [--key HEX] [--keys FILE.json] [--no-signature]';

/** The command line; returns the exit code. */
export function main(argv: string[], out: (s: string) => void = console.log, err: (s: string) => void = console.error): number {
  let dir: string | undefined;
  let key: string | undefined;
  let keysFile: string | undefined;
  let noSignature = false;
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k]!;
    if (a === '--key' || a === '--keys') {
      const v = argv[++k];
      if (v === undefined) return err(`${a} needs a value\n${USAGE}`), 2;
      if (a === '--key') key = v;
      else keysFile = v;
    } else if (a === '--no-signature') noSignature = true;
    else if (a === '--help' || a === '-h') return out(USAGE), 0;
    else if (a.startsWith('-')) return err(`unknown option ${a}\n${USAGE}`), 2;
    else if (dir === undefined) dir = a;
    else return err(`only one DIR\n${USAGE}`), 2;
  }
  if (dir === undefined) return err(USAGE), 2;
  if (key !== undefined && !KEY_RE.test(key)) return err('--key must be 64 hex digits'), 2;
  const keys = new Map<string, string>();
  if (keysFile !== undefined) {
    let obj: unknown;
    try {
      obj = JSON.parse(fs.readFileSync(keysFile, 'utf8'));
    } catch {
      return err(`--keys ${keysFile}: not readable JSON`), 2;
    }
    if (!isObject(obj)) return err(`--keys ${keysFile}: must map unit id to key`), 2;
    for (const [unit, v] of Object.entries(obj)) {
      if (typeof v !== 'string' || !KEY_RE.test(v)) return err(`--keys ${keysFile}: the key for unit ${unit} is not 64 hex digits`), 2;
      keys.set(unit, v);
    }
  }
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return err(`${dir}: no such folder`), 2;
  const dirs = findRecordingDirs(dir);
  if (dirs.length === 0) return err(`${dir}: no recording (manifest.json) found`), 2;
  let failed = 0;
  for (const d of dirs) {
    let unit: unknown;
    try {
      unit = JSON.parse(fs.readFileSync(path.join(d, 'manifest.json'), 'utf8'))?.manifest?.unit;
    } catch {
      unit = undefined;
    }
    const k = (typeof unit === 'string' ? keys.get(unit) : undefined) ?? key;
    const r = verifyRecordingDir(d, k, { noSignature });
    if (!r.ok) failed++;
    out(formatReport(r) + '\n');
  }
  out(failed === 0 ? `All ${dirs.length} recording(s) VERIFIED.` : `${failed} of ${dirs.length} recording(s) FAILED verification.`);
  return failed === 0 ? 0 : 1;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
