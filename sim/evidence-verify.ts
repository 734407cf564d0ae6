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
 * Hostile input: the folder may have been crafted by someone who wants the verifier to crash, hang
 * or run out of memory, or to print a misleading report. So every file is opened only when it is a
 * regular file no larger than any real recording makes it; manifest.json's JSON shape is bounded
 * before it is parsed, and JSON naming a key twice in one object is refused (`key-repeated`: which
 * value counts would depend on the reader); every manifest and chunk-record field is checked for
 * type and range (times, counts, rates, lengths — see LIMITS) before it is used, and counts against
 * what the WAV can hold; the WAV is read piecewise, never whole; each report lists at most
 * LIMITS.listedProblems problems; names and paths are printed with control characters escaped; and
 * a recording whose check throws anyway is reported as `internal-error` (no stack trace) while the
 * others are still checked.
 * Every problem has a stable reason code (FailureCode) printed before its text.
 *
 * Usage: npm run evidence:verify -- DIR [--key HEX] [--keys FILE.json] [--no-signature]
 *   DIR: a recording folder (holds manifest.json) or any folder above recordings.
 *   --key HEX: the 64-hex-digit evidence key (for every recording); --keys FILE: unit id → key.
 *   Without a key for a recording its signature is NOT checked, which counts as a failure.
 *   --no-signature: check everything but the signature (no key may be given). Such a recording is
 *   reported `CHAIN OK, SIGNATURE NOT CHECKED`, never `VERIFIED`: its audio, hashes and chain are
 *   consistent, but nothing proves the unit made them.
 * Exit code: 0 every recording passed (VERIFIED, or CHAIN OK with --no-signature); 1 a recording
 * failed or the folder search hit its limits; 2 usage error or nothing found.
 *
 * Card mode: npm run evidence:verify -- --card DIR (--key HEX | --keys FILE.json [--unit ID])
 *   DIR: the folder of a unit's microSD card holding its spool files: `RRRRSS.EVD` segments of
 *   sealed records and the `RRRRA.REC`/`RRRRB.REC` state (not authenticated: shown, never trusted).
 *   Every seal is opened (MAC under K_mac, AES-256-CBC under K_enc, the zero padding, `h`), then the
 *   chain, the indices and the sample positions between the chunks on the card are checked. A
 *   recording that passes is `CARD OK: N chunks sealed and intact`, never VERIFIED: the card holds
 *   no signed manifest and the unit erases what the server confirmed, so this proves the chunks
 *   on the card, not a complete recording. The last record of a segment cut short (the chunk being
 *   written at a power cut) is a note (`seal-truncated`), not a failure. The seal is opened here
 *   by code written apart from the server's (sim/evidence-server.ts).
 *   Exit code: 0 every recording CARD OK (or empty), 1 one failed, 2 usage error or no spool file.
 * Keys and audio content are never printed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';

const ZERO_HASH = '0'.repeat(64);
const HASH_RE = /^[0-9a-f]{64}$/;
const KEY_RE = /^[0-9a-fA-F]{64}$/;
/** The unit id (`unitId` in the unit's configuration). */
const UNIT_RE = /^[A-Za-z0-9-]{1,24}$/;
const RID_RE = /^[0-9a-f]{4}$/;
const GAP_WHYS = ['boot', 'mic', 'spool', 'full'];
const ENDS = ['', 'stop', 'max'];
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
  'final',
  'sig'
];
const RECORD_KEYS = ['r', 'i', 's', 'n', 't', 'w', 'h', 'p', 'c'];
const WAV_HEADER = 44;

/** The unit's recording limits (firmware/config.ts ranges, docs/evidence.md). */
const MIN_RATE = 4000; // audio.rate 4000–16000 Hz
const MAX_RATE = 16000;
const MAX_CHUNK_S = 4; // audio.chunkMs 250–4000 ms: a chunk holds at most rate × 4 samples
const MAX_RECORDING_S = 14400 + 10 + MAX_CHUNK_S; // audio.maxS 14400 s, preMs 10 s, one chunk more
const MAX_SAMPLES = MAX_RATE * MAX_RECORDING_S;
/** 14400 s in 250 ms chunks is 57,600 chunks; short chunks (before gaps) get twice that and more. */
const MAX_CHUNKS = 1 << 17;

/** Bounds on everything the verifier reads, counts, prints and searches. */
export const LIMITS = {
  /** Largest recording extent, samples (16 kHz for 14,414 s: 230,624,000). */
  maxSamples: MAX_SAMPLES,
  /** Most chunks (`n`, chunk records listed) and most declared gaps. */
  maxChunks: MAX_CHUNKS,
  maxGaps: MAX_CHUNKS,
  /** Wall times (`start`, `w`) and unit times (`t`): 0 … 2100-01-01T00:00:00Z in ms. 0 is allowed:
   * a unit whose clock was never set counts from 1970. */
  maxTimeMs: Date.UTC(2100, 0, 1),
  /** manifest.json: 48 MiB holds 131,072 chunk records (~310 bytes each at the largest values). */
  manifestBytes: 48 * 1024 * 1024,
  /** manifest.json nests 4 deep ({ manifest { gaps [ {…} ] } }), and holds at most this many
   * objects/arrays and commas (9 per record, 3 per gap). */
  jsonDepth: 4,
  jsonContainers: 2 * MAX_CHUNKS + 8,
  jsonCommas: 12 * MAX_CHUNKS + 64,
  /** recording.wav: the 44-byte header, the largest extent and a pad byte. */
  wavBytes: WAV_HEADER + MAX_SAMPLES + 1,
  /** RIFF chunks walked in a WAV before giving up (the server writes 2). */
  wavChunks: 16,
  /** The --keys file. */
  keysBytes: 1024 * 1024,
  /** Problems listed per recording (the rest are counted by reason code). */
  listedProblems: 100,
  /** Folder search: folders visited, entries read, depth below DIR, recordings. */
  walkFolders: 200_000,
  walkEntries: 2_000_000,
  walkDepth: 32,
  walkRecordings: 50_000
} as const;

/** The reason codes, stable: scripts may match them. */
export type FailureCode =
  | 'missing-file' // manifest.json or recording.wav absent
  | 'not-a-file' // a folder, FIFO, device … where a file should be
  | 'unreadable' // the file exists but cannot be read (permissions, I/O)
  | 'file-too-large' // larger than any recording makes it (LIMITS)
  | 'bad-json' // manifest.json is not JSON, or not shaped like the format (depth, size)
  | 'key-repeated' // a JSON object names a key twice: readers keeping the first or the last value disagree
  | 'bad-structure' // not {"manifest":{…},"chunks":[…]}, or too many chunk records
  | 'bad-manifest' // a manifest field of the wrong type or out of range, or inconsistent
  | 'bad-chunk-record' // a chunk record of the wrong shape, type or range
  | 'chunk-missing'
  | 'chunk-repeated'
  | 'chunk-out-of-order'
  | 'chunk-beyond-n'
  | 'chunk-overlap' // a chunk's samples overlap an earlier chunk's (its hash is not checked)
  | 'bad-wav' // the WAV header or layout, or its length against the recording's extent
  | 'audio-mismatch' // a chunk's hash does not match the WAV, or its samples lie beyond it
  | 'chain-broken'
  | 'chain-head' // the chain does not end at the manifest's head
  | 'continuity' // sample positions do not follow from the chunk sizes and declared gaps
  | 'gap-not-silent'
  | 'signature-invalid'
  | 'signature-not-checked' // no key for the unit (and --no-signature not given)
  | 'internal-error' // the verifier itself failed on this recording (a bug): not verified
  // Card mode (--card): the unit's spool files.
  | 'seal-record' // a sealed record's header line is not one (not JSON, a field's type or range, too long)
  | 'seal-mac' // the seal's MAC "m" is wrong: not sealed with this key, or altered
  | 'seal-padding' // the plaintext after the n audio bytes is not zeros
  | 'seal-truncated'; // a ciphertext shorter than its record says (on a card: a note when it is a segment's torn last record)

export interface Failure {
  code: FailureCode;
  /** Readable as is; names and field names from the files are escaped and shortened. */
  message: string;
}

/**
 * `verified`: every check passed, the signature included. `chain-ok-signature-not-checked`: every
 * check passed but the signature was not checked (--no-signature): the recording is consistent,
 * nothing proves who made it. `failed`: at least one problem.
 */
export type Verdict = 'verified' | 'chain-ok-signature-not-checked' | 'failed';
export const VERDICT_TEXT: Record<Verdict, string> = {
  verified: 'VERIFIED',
  'chain-ok-signature-not-checked': 'CHAIN OK, SIGNATURE NOT CHECKED',
  failed: 'FAILED'
};

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
  /** Why the signature was not checked: no key for the unit, or --no-signature. */
  signatureSkipped?: 'no key' | 'not asked';
}

export interface VerifyResult {
  /** No problem found. Not proof of origin on its own: see `verdict`. */
  ok: boolean;
  verdict: Verdict;
  /** Each failure listed (at most LIMITS.listedProblems), in a fixed order (file structure, chunk by
   * chunk, then the manifest), readable as is: `failures[k].message`. */
  problems: string[];
  failures: Failure[];
  /** Problems found beyond those listed, by reason code. */
  omitted: number;
  omittedByCode: Partial<Record<FailureCode, number>>;
  summary: RecordingSummary;
}

export interface VerifyOptions {
  /** Do not check the signature (a key given is ignored); the verdict is then never `verified`. */
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

const sha256 = (data: string | Uint8Array) => crypto.createHash('sha256').update(data).digest('hex');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
const isHash = (v: unknown): v is string => typeof v === 'string' && HASH_RE.test(v);
const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const range = (s: number, n: number) => `samples ${s}..${s + n - 1}`;

/**
 * Text from the files (field names, error texts, paths) made safe to print: control, line-breaking
 * and bidirectional characters escaped, so a crafted name cannot forge report lines; shortened to
 * `max` characters.
 */
export function printable(s: string, max = Infinity): string {
  const short = s.length > max ? `${s.slice(0, max)}…` : s;
  return short.replace(
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  );
}
/** A name from the files in quotes: `"` and `\\` escaped too, so the quotes show where it ends. */
const quoted = (s: string) =>
  `"${printable((s.length > 40 ? `${s.slice(0, 40)}…` : s).replace(/["\\]/g, (c) => `\\${c}`))}"`;
/** A value from the files, shown in a message: numbers as they are, anything else by type. */
const shown = (v: unknown) =>
  typeof v === 'number'
    ? String(v)
    : typeof v === 'string'
      ? quoted(v)
      : v === null
        ? 'null'
        : Array.isArray(v)
          ? 'an array'
          : typeof v;

/** The signed string: documented key order, no whitespace, without `sig`. */
export function canonicalManifest(m: Omit<Manifest, 'sig'>): string {
  const gaps = m.gaps.map(
    (g) => `{"i":${JSON.stringify(g.i)},"s":${JSON.stringify(g.s)},"why":${JSON.stringify(g.why)}}`
  );
  return (
    `{"v":${JSON.stringify(m.v)},"unit":${JSON.stringify(m.unit)},"r":${JSON.stringify(m.r)},` +
    `"rate":${JSON.stringify(m.rate)},"bits":${JSON.stringify(m.bits)},"trig":${JSON.stringify(m.trig)},` +
    `"start":${JSON.stringify(m.start)},"n":${JSON.stringify(m.n)},"samples":${JSON.stringify(m.samples)},` +
    `"head":${JSON.stringify(m.head)},"gaps":[${gaps.join(',')}],"end":${JSON.stringify(m.end)},` +
    `"final":${JSON.stringify(m.final)}}`
  );
}

/** A recording's problems: the first LIMITS.listedProblems kept, the rest counted by code. */
class Problems {
  readonly list: Failure[] = [];
  omitted = 0;
  readonly omittedByCode: Partial<Record<FailureCode, number>> = {};
  add(code: FailureCode, message: string): void {
    if (this.list.length < LIMITS.listedProblems) this.list.push({ code, message });
    else {
      this.omitted++;
      this.omittedByCode[code] = (this.omittedByCode[code] ?? 0) + 1;
    }
  }
  /** Take over another list's problems, after this one's. */
  absorb(other: Problems): void {
    for (const f of other.list) this.add(f.code, f.message);
    for (const [code, k] of Object.entries(other.omittedByCode) as [FailureCode, number][]) {
      this.omitted += k;
      this.omittedByCode[code] = (this.omittedByCode[code] ?? 0) + k;
    }
  }
  get count(): number {
    return this.list.length + this.omitted;
  }
}

/** Manifest fields: type and range of each, before any is used. Returns false when it cannot be used. */
function checkManifest(m: Record<string, unknown>, probs: Problems): boolean {
  const before = probs.count;
  const need = (ok: boolean, msg: string) => {
    if (!ok) probs.add('bad-manifest', `manifest ${msg}`);
  };
  need(m.v === 1, `"v" is ${shown(m.v)}, not 1`);
  need(
    typeof m.unit === 'string' && UNIT_RE.test(m.unit),
    `"unit" is ${shown(m.unit)}, not a unit id (1-24 letters, digits or "-")`
  );
  need(
    typeof m.r === 'string' && RID_RE.test(m.r) && m.r !== '0000',
    `"r" is ${shown(m.r)}, not a recording id (4 lowercase hex digits, 0001..ffff)`
  );
  need(
    isCount(m.rate, MIN_RATE, MAX_RATE),
    `"rate" is ${shown(m.rate)}, not a rate the unit records (${MIN_RATE}..${MAX_RATE} Hz, whole)`
  );
  need(m.bits === 8, `"bits" is ${shown(m.bits)}, not 8`);
  need(isCount(m.trig, 0, MAX_SAMPLES), `"trig" is ${shown(m.trig)}, not a sample index (0..${MAX_SAMPLES})`);
  need(
    isCount(m.start, 0, LIMITS.maxTimeMs),
    `"start" is ${shown(m.start)}, not a plausible time (0..${LIMITS.maxTimeMs} ms, before 2100)`
  );
  need(isCount(m.n, 0, MAX_CHUNKS), `"n" is ${shown(m.n)}, not a chunk count (0..${MAX_CHUNKS})`);
  need(isCount(m.samples, 0, MAX_SAMPLES), `"samples" is ${shown(m.samples)}, not a sample count (0..${MAX_SAMPLES})`);
  need(isHash(m.head), '"head" is not 64 lowercase hex digits');
  need(typeof m.end === 'string' && ENDS.includes(m.end), `"end" is ${shown(m.end)}, not "", "stop" or "max"`);
  need(typeof m.final === 'boolean', `"final" is ${shown(m.final)}, not true or false`);
  need(isHash(m.sig), '"sig" is missing or not 64 lowercase hex digits');
  if (!Array.isArray(m.gaps)) need(false, `"gaps" is ${shown(m.gaps)}, not an array`);
  else if (m.gaps.length > LIMITS.maxGaps)
    need(false, `"gaps" lists ${m.gaps.length} gaps, more than ${LIMITS.maxGaps}`);
  else {
    m.gaps.forEach((g: unknown, k) => {
      const ok =
        isObject(g) &&
        Object.keys(g).length === 3 &&
        isCount(g.i, 0, MAX_CHUNKS) &&
        isCount(g.s, 0, MAX_SAMPLES) &&
        typeof g.why === 'string' &&
        GAP_WHYS.includes(g.why);
      need(ok, `gap ${k} is not {"i":chunk,"s":samples (0..${MAX_SAMPLES}),"why":${GAP_WHYS.join('|')}}`);
    });
  }
  for (const k of Object.keys(m))
    need(MANIFEST_KEYS.includes(k), `has an unknown field ${quoted(k)} (not covered by the signature)`);
  // Counts against each other: n chunks of at least one sample each.
  if (probs.count === before && (m.n as number) > (m.samples as number)) {
    need(false, `"n" is ${m.n} chunks, more than its ${m.samples} samples can hold (a chunk is at least 1 sample)`);
  }
  return probs.count === before;
}

/** A chunk record's shape, types and ranges; undefined when it can be used. */
function recordProblem(o: unknown, rid: string, rate: number): string | undefined {
  if (!isObject(o)) return `is ${shown(o)}, not an object`;
  for (const k of RECORD_KEYS) if (!has(o, k)) return `missing "${k}"`;
  for (const k of Object.keys(o)) if (!RECORD_KEYS.includes(k)) return `unknown field ${quoted(k)}`;
  if (!isCount(o.i, 0, MAX_CHUNKS - 1)) return `"i" is ${shown(o.i)}, not a chunk index (0..${MAX_CHUNKS - 1})`;
  if (o.r !== rid) return `"r" is not the manifest's recording ${rid}`;
  if (!isCount(o.s, 0, MAX_SAMPLES)) return `"s" is ${shown(o.s)}, not a sample index (0..${MAX_SAMPLES})`;
  if (!isCount(o.n, 1, rate * MAX_CHUNK_S))
    return `"n" is ${shown(o.n)}, not a chunk length (1..${rate * MAX_CHUNK_S} samples at ${rate} Hz)`;
  if (!isCount(o.t, 0, LIMITS.maxTimeMs))
    return `"t" is ${shown(o.t)}, not a plausible unit time (0..${LIMITS.maxTimeMs} ms)`;
  if (!isCount(o.w, 0, LIMITS.maxTimeMs))
    return `"w" is ${shown(o.w)}, not a plausible time (0..${LIMITS.maxTimeMs} ms, before 2100)`;
  for (const k of ['h', 'p', 'c']) if (!isHash(o[k])) return `"${k}" is not 64 lowercase hex digits`;
  return undefined;
}

interface OpenFile {
  fd: number;
  size: number;
}

/**
 * Open `file` for reading only if it is a regular file of at most `maxBytes` (a FIFO would block
 * the read forever, a device never end). Problems are reported under `label`.
 */
function openRegular(file: string, label: string, maxBytes: number, probs: Problems): OpenFile | undefined {
  const code = (e: unknown) => (e as NodeJS.ErrnoException).code;
  const kind = (st: fs.Stats) =>
    st.isDirectory()
      ? 'a folder'
      : st.isFIFO()
        ? 'a FIFO'
        : st.isSocket()
          ? 'a socket'
          : st.isCharacterDevice() || st.isBlockDevice()
            ? 'a device'
            : 'not a regular file';
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') probs.add('missing-file', `${label} missing`);
    else probs.add('unreadable', `${label} unreadable (${code(e) ?? 'error'})`);
    return undefined;
  }
  const check = (s: fs.Stats) => {
    if (!s.isFile()) return (probs.add('not-a-file', `${label} is ${kind(s)}, not a file`), false);
    if (s.size > maxBytes)
      return (
        probs.add('file-too-large', `${label} is ${s.size} bytes, more than any recording makes it (${maxBytes})`),
        false
      );
    return true;
  };
  if (!check(st)) return undefined;
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    probs.add('unreadable', `${label} unreadable (${code(e) ?? 'error'})`);
    return undefined;
  }
  try {
    st = fs.fstatSync(fd); // what was opened, in case the name was swapped since the stat
    if (check(st)) return { fd, size: st.size };
  } catch (e) {
    probs.add('unreadable', `${label} unreadable (${code(e) ?? 'error'})`);
  }
  fs.closeSync(fd);
  return undefined;
}

/** Up to `len` bytes at `pos` (fewer at the end of the file). */
function readAt(f: OpenFile, pos: number, len: number): Buffer {
  const buf = Buffer.allocUnsafe(Math.max(0, Math.min(len, f.size - pos)));
  let got = 0;
  while (got < buf.length) {
    const k = fs.readSync(f.fd, buf, got, buf.length - got, pos + got);
    if (k === 0) break;
    got += k;
  }
  return buf.subarray(0, got);
}

/**
 * The JSON's shape, scanned before it is parsed: nesting depth, objects/arrays and commas outside
 * strings. A crafted file of 48 MiB of `[[[[…` or `{},{},…` would otherwise cost JSON.parse
 * gigabytes and many seconds. Returns a problem, or undefined.
 */
function jsonShapeProblem(buf: Buffer): string | undefined {
  let depth = 0;
  let containers = 0;
  let commas = 0;
  let inString = false;
  for (let k = 0; k < buf.length; k++) {
    const b = buf[k]!;
    if (inString) {
      if (b === 0x5c)
        k++; // backslash: skip the escaped character
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) {
      if (++depth > LIMITS.jsonDepth) return `nests deeper than the format's ${LIMITS.jsonDepth} levels`;
      if (++containers > LIMITS.jsonContainers) return `holds more than ${LIMITS.jsonContainers} objects and arrays`;
    } else if (b === 0x7d || b === 0x5d) depth--;
    else if (b === 0x2c && ++commas > LIMITS.jsonCommas) return `holds more than ${LIMITS.jsonCommas} values`;
  }
  return undefined;
}

/**
 * The first key that one JSON object names twice, and where (the index in `text` of that key's
 * second occurrence), or undefined. JSON.parse keeps the last value and says nothing, while
 * another reader may keep the first: `{"trig":99999999,"trig":8000}` would show two trigger times
 * under one signature (the signature is checked over the parsed values). One pass over the text,
 * linear in its length: strings (and their escapes) are skipped, so a key inside a string value
 * is not one; keys are compared as JSON.parse reads them (`"tr\u0069g"` is `"trig"`); only the
 * keys of the objects open at the point reached are held. Meant for text that JSON.parse accepted;
 * anything else gives an answer without throwing, in the same bounds.
 */
export function repeatedJsonKey(text: string): { key: string; at: number } | undefined {
  /** Per open object or array (undefined): the keys named so far. */
  const open: (Set<string> | undefined)[] = [];
  let keyNext = false;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c === 0x22) {
      const from = k;
      let escaped = false;
      for (k++; k < text.length; k++) {
        const d = text.charCodeAt(k);
        if (d === 0x5c) {
          escaped = true;
          k++; // the escaped character: never the string's end
        } else if (d === 0x22) break;
      }
      const keys = open[open.length - 1];
      if (keyNext && keys) {
        let key = text.slice(from + 1, k);
        if (escaped) {
          try {
            key = JSON.parse(text.slice(from, k + 1)) as string;
          } catch {
            // not JSON: compared as written
          }
        }
        if (keys.has(key)) return { key, at: from };
        keys.add(key);
      }
      keyNext = false;
    } else if (c === 0x7b) {
      open.push(new Set());
      keyNext = true;
    } else if (c === 0x5b) {
      open.push(undefined);
      keyNext = false;
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      keyNext = false;
    } else if (c === 0x2c) keyNext = open[open.length - 1] !== undefined;
    else if (c === 0x3a) keyNext = false;
  }
  return undefined;
}

interface WavData {
  /** Offset of sample 0 in the file, and the data chunk's length in samples. */
  offset: number;
  length: number;
}

/** Check the WAV's structure, reading only its chunk headers; returns where its samples are. */
function readWav(f: OpenFile, rate: number, probs: Problems): WavData | undefined {
  const head = readAt(f, 0, 12);
  if (head.length < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') {
    probs.add('bad-wav', 'recording.wav: not a RIFF/WAVE file');
    return undefined;
  }
  if (head.readUInt32LE(4) !== f.size - 8) {
    probs.add('bad-wav', `recording.wav: RIFF size says ${head.readUInt32LE(4) + 8} bytes, the file has ${f.size}`);
  }
  let pos = 12;
  let fmtSeen = false;
  for (let walked = 0; pos + 8 <= f.size; walked++) {
    if (walked >= LIMITS.wavChunks) {
      probs.add('bad-wav', `recording.wav: more than ${LIMITS.wavChunks} RIFF chunks before the audio`);
      return undefined;
    }
    const ch = readAt(f, pos, 8);
    if (ch.length < 8) break;
    const id = ch.toString('latin1', 0, 4);
    const size = ch.readUInt32LE(4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (fmtSeen) probs.add('bad-wav', 'recording.wav: two "fmt " chunks');
      fmtSeen = true;
      const fmt = readAt(f, body, 16);
      if (size < 16 || fmt.length < 16) {
        probs.add('bad-wav', 'recording.wav: "fmt " chunk too short');
        return undefined;
      }
      const format = fmt.readUInt16LE(0);
      const channels = fmt.readUInt16LE(2);
      const wavRate = fmt.readUInt32LE(4);
      const byteRate = fmt.readUInt32LE(8);
      const align = fmt.readUInt16LE(12);
      const bits = fmt.readUInt16LE(14);
      if (format !== 1) probs.add('bad-wav', `recording.wav: format ${format}, not PCM (1)`);
      if (channels !== 1) probs.add('bad-wav', `recording.wav: ${channels} channels, not mono`);
      if (bits !== 8) probs.add('bad-wav', `recording.wav: ${bits}-bit samples, not 8-bit`);
      if (wavRate !== rate) probs.add('bad-wav', `recording.wav: rate ${wavRate} Hz, the manifest says ${rate} Hz`);
      if (byteRate !== wavRate || align !== 1)
        probs.add('bad-wav', 'recording.wav: byte rate or block align inconsistent with 8-bit mono');
      if (format !== 1 || channels !== 1 || bits !== 8) return undefined;
    } else if (id === 'data') {
      if (!fmtSeen) {
        probs.add('bad-wav', 'recording.wav: "data" before "fmt "');
        return undefined;
      }
      const length = Math.min(size, f.size - body);
      if (length < size)
        probs.add('bad-wav', `recording.wav: data chunk says ${size} samples, the file holds ${length}`);
      const after = body + length + (length & 1);
      if (length & 1 && after <= f.size && readAt(f, body + length, 1)[0] !== 0)
        probs.add('bad-wav', 'recording.wav: the pad byte after the audio is not 0');
      if (after < f.size) probs.add('bad-wav', `recording.wav: ${f.size - after} bytes after the audio data`);
      return { offset: body, length };
    } else {
      probs.add('bad-wav', `recording.wav: unexpected ${quoted(id)} chunk`);
    }
    pos = body + size + (size & 1);
  }
  probs.add('bad-wav', 'recording.wav: no data chunk');
  return undefined;
}

/** The unit's evidence key for a recording, or undefined. */
type KeyFor = (unit: string) => Buffer | undefined;

function verifyOne(dir: string, keyFor: KeyFor, opts: VerifyOptions): VerifyResult {
  const probs = new Problems();
  const summary: RecordingSummary = { dir, chunks: 0, gaps: [], signature: 'not checked' };
  const done = () => resultOf(probs, summary);

  // manifest.json: a regular file of bounded size and JSON shape, then parsed.
  const mf = openRegular(path.join(dir, 'manifest.json'), 'manifest.json', LIMITS.manifestBytes, probs);
  if (!mf) return done();
  let text: Buffer;
  try {
    text = readAt(mf, 0, mf.size);
  } catch (e) {
    probs.add('unreadable', `manifest.json unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    return done();
  } finally {
    fs.closeSync(mf.fd);
  }
  const shape = jsonShapeProblem(text);
  if (shape) {
    probs.add('bad-json', `manifest.json ${shape}`);
    return done();
  }
  const json = text.toString('utf8');
  let stored: unknown;
  try {
    stored = JSON.parse(json);
  } catch {
    probs.add('bad-json', 'manifest.json is not valid JSON');
    return done();
  }
  const twice = repeatedJsonKey(json);
  if (twice) {
    probs.add(
      'key-repeated',
      `manifest.json names the key ${quoted(twice.key)} twice in one object (at character ${twice.at}): ` +
        'a reader keeping the first value would see another recording than one keeping the last'
    );
    return done();
  }
  if (!isObject(stored) || !isObject(stored.manifest) || !Array.isArray(stored.chunks)) {
    probs.add('bad-structure', 'manifest.json is not {"manifest":{…},"chunks":[…]}');
    return done();
  }
  if (stored.chunks.length > MAX_CHUNKS) {
    probs.add('bad-structure', `manifest.json lists ${stored.chunks.length} chunk records, more than ${MAX_CHUNKS}`);
    return done();
  }
  for (const k of Object.keys(stored)) {
    if (k !== 'manifest' && k !== 'chunks')
      probs.add('bad-structure', `manifest.json has an unknown field ${quoted(k)}`);
  }
  if (!checkManifest(stored.manifest, probs)) return done();
  const m = stored.manifest as unknown as Manifest;
  const chunks: unknown[] = stored.chunks;
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
    chunks: chunks.length,
    gaps: m.gaps.map((g) => ({ i: g.i, s: g.s, why: g.why, seconds: g.s / m.rate }))
  });

  // The WAV's header now (its problems are listed after the chunk list's), so that counts in the
  // manifest are held against what the file can hold before anything is counted out.
  const wavProbs = new Problems();
  const wav = openRegular(path.join(dir, 'recording.wav'), 'recording.wav', LIMITS.wavBytes, wavProbs);
  try {
    let data: WavData | undefined;
    try {
      if (wav) data = readWav(wav, m.rate, wavProbs);
    } catch (e) {
      wavProbs.add('unreadable', `recording.wav unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (data && m.n > data.length) {
      probs.add(
        'bad-manifest',
        `manifest "n" is ${m.n} chunks; recording.wav's ${data.length} samples cannot hold them (a chunk is at least 1 sample)`
      );
      probs.absorb(wavProbs);
      return done();
    }
    checkRecording(m, chunks, wav, data, wavProbs, probs, summary);
  } finally {
    if (wav) fs.closeSync(wav.fd);
  }

  // The signature.
  const key = opts.noSignature ? undefined : keyFor(m.unit);
  if (key) {
    const expect = crypto.createHmac('sha256', key).update(canonicalManifest(m), 'latin1').digest();
    const got = Buffer.from(m.sig, 'hex');
    const valid = got.length === expect.length && crypto.timingSafeEqual(got, expect);
    summary.signature = valid ? 'valid' : 'invalid';
    if (!valid) probs.add('signature-invalid', 'signature invalid');
  } else if (opts.noSignature) {
    summary.signatureSkipped = 'not asked';
  } else {
    summary.signatureSkipped = 'no key';
    probs.add('signature-not-checked', 'signature NOT checked (no key)');
  }
  return done();
}

/** The chunk list, the WAV against it, chunk by chunk, and the chain's end. */
function checkRecording(
  m: Manifest,
  chunks: unknown[],
  wav: OpenFile | undefined,
  data: WavData | undefined,
  wavProbs: Problems,
  probs: Problems,
  summary: RecordingSummary
): void {
  if (m.final !== (m.end !== '')) probs.add('bad-manifest', `manifest "final" is ${m.final} but "end" is "${m.end}"`);
  if (m.final && m.trig > m.samples)
    probs.add('bad-manifest', `manifest: trigger sample ${m.trig} is beyond the recording's ${m.samples} samples`);
  if (m.n === 0 && m.head !== ZERO_HASH) probs.add('bad-manifest', 'manifest: "head" is not 64 zeros though n is 0');
  const gapSum = new Map<number, number>();
  const gapWhy = new Map<number, string[]>();
  m.gaps.forEach((g, k) => {
    if (g.i > m.n) probs.add('bad-manifest', `manifest: gap ${k} is before chunk ${g.i}, beyond the ${m.n} chunks`);
    gapSum.set(g.i, (gapSum.get(g.i) ?? 0) + g.s);
    // In place: a copy per gap would cost gaps² when many share a chunk (131,072 gaps: 100 s).
    const whys = gapWhy.get(g.i);
    if (whys) whys.push(g.why);
    else gapWhy.set(g.i, [g.why]);
  });
  /** The reasons of the gaps before chunk i, shortened: a crafted list may hold 131,072. */
  const whysBefore = (i: number) => {
    const whys = gapWhy.get(i) ?? [];
    return whys.length <= 4 ? whys.join('+') : `${whys.slice(0, 4).join('+')}+… (${whys.length} gaps)`;
  };
  const gapBefore = (i: number) => gapSum.get(i) ?? 0;

  // Chunk records: well-formed, indices 0 … n-1 in order, once each.
  const byIndex = new Map<number, ChunkRecord>();
  let prevListed: ChunkRecord | undefined;
  chunks.forEach((o: unknown, k) => {
    const p = recordProblem(o, m.r, m.rate);
    if (p) {
      const which = isObject(o) && isCount(o.i, 0, MAX_CHUNKS - 1) ? ` (chunk ${o.i})` : '';
      return void probs.add('bad-chunk-record', `chunk list entry ${k}${which}: ${p}`);
    }
    const rec = o as ChunkRecord;
    if (byIndex.has(rec.i)) probs.add('chunk-repeated', `chunk ${rec.i} repeated`);
    else byIndex.set(rec.i, rec);
    if (rec.i >= m.n) probs.add('chunk-beyond-n', `chunk ${rec.i} beyond the manifest's n (${m.n})`);
    if (prevListed && rec.i < prevListed.i)
      probs.add('chunk-out-of-order', `chunks ${rec.i} and ${prevListed.i} out of order`);
    prevListed = rec;
  });
  // n ≤ LIMITS.maxChunks and ≤ the WAV's length (checked before): a bounded count.
  for (let i = 0; i < m.n; i++) if (!byIndex.has(i)) probs.add('chunk-missing', `chunk ${i} missing`);
  const last = byIndex.get(m.n - 1);
  const extent = Math.max(m.samples, last ? last.s + last.n : 0);
  summary.samples = extent;
  summary.durationS = extent / m.rate;

  // The WAV.
  probs.absorb(wavProbs);
  if (data && data.length !== extent) {
    probs.add(
      'bad-wav',
      data.length > extent
        ? `recording.wav: ${data.length - extent} samples beyond the recording's extent (${extent})`
        : `recording.wav: ${data.length} samples, the recording's extent is ${extent}`
    );
  }
  const samplesAt = (s: number, n: number) => readAt(wav!, data!.offset + s, n);
  /** Whether every sample in s … s+n-1 is 128, read in blocks. */
  const silent = (s: number, n: number) => {
    for (let k = 0; k < n; k += 65536)
      if (samplesAt(s + k, Math.min(65536, n - k)).some((b) => b !== 128)) return false;
    return true;
  };

  // Chunk by chunk: audio hash, chain, continuity, the gap before it. Audio is hashed only in
  // ascending, non-overlapping order, so no more than the WAV's length is ever read.
  const indices = [...byIndex.keys()].sort((a, b) => a - b);
  let hashedEnd = 0;
  let hashedBy = -1;
  for (const i of indices) {
    const rec = byIndex.get(i)!;
    if (data) {
      if (rec.s + rec.n > data.length) {
        probs.add(
          'audio-mismatch',
          `chunk ${i}: audio beyond the end of the WAV (${range(rec.s, rec.n)}, the WAV has ${data.length})`
        );
      } else if (rec.s < hashedEnd) {
        probs.add(
          'chunk-overlap',
          `chunk ${i}: ${range(rec.s, rec.n)} overlap chunk ${hashedBy}'s audio (its hash not checked)`
        );
      } else {
        if (sha256(samplesAt(rec.s, rec.n)) !== rec.h)
          probs.add('audio-mismatch', `chunk ${i}: audio hash mismatch (${range(rec.s, rec.n)})`);
        hashedEnd = rec.s + rec.n;
        hashedBy = i;
      }
    }
    const prev = i > 0 ? byIndex.get(i - 1) : undefined;
    if (sha256(`${rec.p}:${rec.r}:${rec.i}:${rec.s}:${rec.n}:${rec.t}:${rec.w}:${rec.h}`) !== rec.c) {
      probs.add('chain-broken', `chain broken at chunk ${i} (its "c" does not match its record)`);
    } else if (i === 0 && rec.p !== ZERO_HASH) {
      probs.add('chain-broken', 'chain broken at chunk 0 (its "p" is not 64 zeros)');
    } else if (prev && rec.p !== prev.c) {
      probs.add('chain-broken', `chain broken at chunk ${i} (its "p" is not chunk ${i - 1}'s "c")`);
    }
    const gap = gapBefore(i);
    if (i === 0 || prev) {
      const expect = (prev ? prev.s + prev.n : 0) + gap;
      if (rec.s !== expect) {
        probs.add(
          'continuity',
          `chunk ${i}: starts at sample ${rec.s}, continuity with the declared gaps puts it at ${expect}`
        );
      } else if (gap > 0 && data) {
        const from = rec.s - gap;
        if (!silent(from, Math.min(gap, Math.max(0, data.length - from)))) {
          probs.add('gap-not-silent', `gap before chunk ${i} (${whysBefore(i)}, ${range(from, gap)}) is not silent`);
        }
      }
    }
  }

  // The chain ends at the manifest's head; the extent is the last chunk's end.
  if (last) {
    if (last.c !== m.head)
      probs.add('chain-head', `chain does not end at the manifest's head (chunk ${m.n - 1}'s "c" differs)`);
    if (m.samples !== last.s + last.n) {
      probs.add('continuity', `manifest: "samples" is ${m.samples}, chunk ${m.n - 1} ends at ${last.s + last.n}`);
    }
  }
}

function resultOf(probs: Problems, summary: RecordingSummary): VerifyResult {
  const ok = probs.count === 0;
  return {
    ok,
    verdict: !ok ? 'failed' : summary.signature === 'valid' ? 'verified' : 'chain-ok-signature-not-checked',
    problems: probs.list.map((f) => f.message),
    failures: probs.list,
    omitted: probs.omitted,
    omittedByCode: probs.omittedByCode,
    summary
  };
}

/** The verdict for a recording whose check threw: a bug in the verifier, reported without a stack. */
function internalError(dir: string, e: unknown): VerifyResult {
  const probs = new Problems();
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  probs.add(
    'internal-error',
    `the verifier failed on this recording, so nothing about it is proven (${printable(what, 200)})`
  );
  return resultOf(probs, { dir, chunks: 0, gaps: [], signature: 'not checked' });
}

/** Verify one recording folder with a key per unit; never throws. */
function verifyDir(dir: string, keyFor: KeyFor, opts: VerifyOptions): VerifyResult {
  try {
    return verifyOne(dir, keyFor, opts);
  } catch (e) {
    return internalError(dir, e);
  }
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
  return verifyDir(path.resolve(dir), () => k, opts);
}

export interface FoundRecordings {
  /** Recording folders (holding an entry named manifest.json), sorted. */
  dirs: string[];
  /** Set when the search stopped at one of LIMITS.walk*: the list is then incomplete. */
  stopped?: string;
}

/**
 * Recording folders at or beneath `dir`, within LIMITS.walk* (folders, entries, depth,
 * recordings). Symbolic links to folders are not followed (no loops); a recording folder's
 * subfolders are not searched.
 */
export function searchRecordingDirs(dir: string): FoundRecordings {
  const found: string[] = [];
  let folders = 0;
  let entries = 0;
  let stopped: string | undefined;
  const stop = (why: string) => {
    stopped ??= why;
    return false;
  };
  const walk = (d: string, depth: number): boolean => {
    if (++folders > LIMITS.walkFolders) return stop(`more than ${LIMITS.walkFolders} folders`);
    const names: string[] = [];
    const subdirs: string[] = [];
    try {
      const h = fs.opendirSync(d);
      try {
        for (let e = h.readSync(); e; e = h.readSync()) {
          if (++entries > LIMITS.walkEntries) return stop(`more than ${LIMITS.walkEntries} folder entries`);
          names.push(e.name);
          if (e.isDirectory()) subdirs.push(e.name);
        }
      } finally {
        h.closeSync();
      }
    } catch {
      return true; // an unreadable folder holds no recording we can check
    }
    if (names.includes('manifest.json')) {
      if (found.length >= LIMITS.walkRecordings) return stop(`more than ${LIMITS.walkRecordings} recordings`);
      found.push(d);
      return true;
    }
    if (subdirs.length && depth >= LIMITS.walkDepth) return stop(`folders nested more than ${LIMITS.walkDepth} deep`);
    for (const s of subdirs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
      if (!walk(path.join(d, s), depth + 1)) return false;
    return true;
  };
  walk(path.resolve(dir), 0);
  return stopped ? { dirs: found, stopped } : { dirs: found };
}

/** Recording folders at or beneath `dir` (a folder holding manifest.json), sorted. */
export function findRecordingDirs(dir: string): string[] {
  return searchRecordingDirs(dir).dirs;
}

const secs = (x: number) => `${x.toFixed(3)} s`;

/** The report's list of problems: a heading with the count, each one, then how many more were left out. */
function listFailures(
  lines: string[],
  heading: string,
  r: { failures: { code: string; message: string }[]; omitted: number; omittedByCode: Record<string, number> }
): void {
  const total = r.failures.length + r.omitted;
  lines.push(`  ${heading} (${total} problem${total === 1 ? '' : 's'}):`);
  for (const f of r.failures) lines.push(`    ${f.code}: ${f.message}`);
  if (r.omitted) {
    const by = Object.entries(r.omittedByCode)
      .map(([c, k]) => `${c} ×${k}`)
      .join(', ');
    lines.push(`    … and ${r.omitted} more problem${r.omitted === 1 ? '' : 's'} not listed (${by})`);
  }
}

/** The readable report for one recording. */
export function formatReport(r: VerifyResult): string {
  const s = r.summary;
  const lines: string[] = [];
  lines.push(`Recording ${s.unit ?? '?'} / ${s.rid ?? '?'}   (${printable(s.dir)})`);
  if (s.rate !== undefined) {
    lines.push(`  rate ${s.rate} Hz, 8-bit mono; duration ${secs(s.durationS ?? 0)} (${s.samples} samples)`);
    lines.push(`  chunks ${s.chunks} listed, manifest n = ${s.n}`);
    lines.push(`  start ${s.startIso}; trigger at ${secs(s.trigS ?? 0)}`);
    if (s.gaps.length === 0) lines.push('  gaps: none');
    for (const g of s.gaps.slice(0, LIMITS.listedProblems))
      lines.push(`  gap before chunk ${g.i}: ${g.s} samples (${secs(g.seconds)}), ${g.why}`);
    if (s.gaps.length > LIMITS.listedProblems) lines.push(`  … and ${s.gaps.length - LIMITS.listedProblems} more gaps`);
    lines.push(`  end: ${s.end === '' ? '(still recording)' : s.end}; ${s.final ? 'final' : 'NOT final'}`);
    const skipped = s.signatureSkipped === 'not asked' ? 'NOT checked (--no-signature)' : 'NOT checked (no key)';
    lines.push(`  signature: ${s.signature === 'not checked' ? skipped : s.signature}`);
  }
  if (r.verdict === 'verified') lines.push(`  ${VERDICT_TEXT.verified}`);
  else if (r.verdict === 'chain-ok-signature-not-checked') {
    lines.push(`  ${VERDICT_TEXT['chain-ok-signature-not-checked']}`);
    lines.push('    the WAV, every chunk hash, the chain and the sample continuity check out, but the manifest');
    lines.push('    signature was not checked: nothing proves the unit made this recording, or its times and trigger');
  } else {
    listFailures(lines, 'FAILED', r);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Card mode: the sealed spool files on a unit's microSD card (docs/evidence.md "Keys and the
// seal", "Spool files"). Written from the document, apart from the evidence server's opener.

/** A sealed record's header line: the chunk record, then `v` (IV) and `m` (MAC). */
const SEALED_KEYS = [...RECORD_KEYS, 'v', 'm'];
const IV_RE = /^[0-9a-f]{32}$/;
const SEGMENT_RE = /^([0-9a-f]{4})([0-9a-f]{2})\.evd$/i;
const STATE_RE = /^([0-9a-f]{4})([ab])\.rec$/i;

/** Bounds for card mode (with LIMITS). */
export const CARD_LIMITS = {
  /** A header line, newline excluded: a real one is under 400 bytes. */
  sealLineBytes: 1024,
  /** A chunk: at most 16 kHz × 4 s samples. */
  maxChunkSamples: MAX_RATE * MAX_CHUNK_S,
  /** A segment file: every sample of the longest recording, and a header line per chunk. */
  segmentBytes: MAX_SAMPLES + MAX_CHUNKS * (1024 + 1 + 16),
  /** A state file (`RRRRA.REC`): its gaps list is the only part that grows. */
  stateBytes: 8 * 1024 * 1024,
  /** Sealed records read per recording. */
  maxRecords: MAX_CHUNKS,
  /** Entries read in the card folder. */
  folderEntries: LIMITS.walkEntries,
  /** Keys tried per recording (from --keys) and records they are tried on. */
  keyProbeRecords: 16,
  /** Notes listed per recording, and sample gaps listed. */
  listedNotes: 20
} as const;

export interface SealKeySet {
  /** HMAC-SHA-256(K, "seal:enc"). */
  enc: Buffer;
  /** HMAC-SHA-256(K, "seal:mac"). */
  mac: Buffer;
  /** HMAC-SHA-256(K, "server:reply"). */
  rep: Buffer;
}

/** The keys derived from a unit's evidence key K (32 bytes, or 64 hex digits). */
export function deriveSealKeys(key: Buffer | string): SealKeySet {
  const k = typeof key === 'string' ? (KEY_RE.test(key) ? Buffer.from(key, 'hex') : Buffer.alloc(0)) : key;
  if (k.length !== 32) throw new Error('evidence key must be 32 bytes (64 hex digits)');
  const derive = (label: string) => crypto.createHmac('sha256', k).update(label, 'latin1').digest();
  return { enc: derive('seal:enc'), mac: derive('seal:mac'), rep: derive('server:reply') };
}

export interface SealedRecord extends ChunkRecord {
  v: string;
  m: string;
}

export type SealOpening =
  | { ok: true; record: SealedRecord; audio: Buffer }
  | { ok: false; code: FailureCode; message: string; record?: SealedRecord };

/** A sealed header's fields: shape, types and ranges; undefined when it can be used. */
function sealedRecordProblem(o: unknown, rid: string | undefined, maxN: number): string | undefined {
  if (!isObject(o)) return `is ${shown(o)}, not an object`;
  for (const k of SEALED_KEYS) if (!has(o, k)) return `missing "${k}"`;
  for (const k of Object.keys(o)) if (!SEALED_KEYS.includes(k)) return `unknown field ${quoted(k)}`;
  if (typeof o.r !== 'string' || !RID_RE.test(o.r)) return `"r" is ${shown(o.r)}, not a recording id`;
  if (rid !== undefined && o.r !== rid) return `"r" is ${shown(o.r)}, not the file's recording ${rid}`;
  if (!isCount(o.i, 0, MAX_CHUNKS - 1)) return `"i" is ${shown(o.i)}, not a chunk index (0..${MAX_CHUNKS - 1})`;
  if (!isCount(o.s, 0, MAX_SAMPLES)) return `"s" is ${shown(o.s)}, not a sample index (0..${MAX_SAMPLES})`;
  if (!isCount(o.n, 1, maxN)) return `"n" is ${shown(o.n)}, not a chunk length (1..${maxN} samples)`;
  if (!isCount(o.t, 0, LIMITS.maxTimeMs))
    return `"t" is ${shown(o.t)}, not a plausible unit time (0..${LIMITS.maxTimeMs} ms)`;
  if (!isCount(o.w, 0, LIMITS.maxTimeMs))
    return `"w" is ${shown(o.w)}, not a plausible time (0..${LIMITS.maxTimeMs} ms, before 2100)`;
  for (const k of ['h', 'p', 'c']) if (!isHash(o[k])) return `"${k}" is not 64 lowercase hex digits`;
  if (typeof o.v !== 'string' || !IV_RE.test(o.v)) return '"v" (the IV) is not 32 lowercase hex digits';
  if (!isHash(o.m)) return '"m" (the MAC) is not 64 lowercase hex digits';
  return undefined;
}

/**
 * Open one sealed record: its header line (a trailing newline is dropped) and its ciphertext.
 * In order: the line's fields, `c` recomputed from the record, the ciphertext's length
 * (16 × ceil(n / 16)), `m` = HMAC-SHA-256(K_mac, bin(c) ‖ IV ‖ SHA-256(ct)) compared in constant
 * time, AES-256-CBC decryption under K_enc, zeros after the n audio bytes, SHA-256 of the audio
 * against `h`. `rid`: the recording the file belongs to. Never throws for bad input.
 */
export function openSeal(
  key: Buffer | string | SealKeySet,
  line: string | Uint8Array,
  ct: Uint8Array,
  rid?: string,
  maxN: number = CARD_LIMITS.maxChunkSamples
): SealOpening {
  const keys = typeof key === 'object' && !Buffer.isBuffer(key) ? key : deriveSealKeys(key);
  let text = typeof line === 'string' ? line : Buffer.from(line).toString('latin1');
  if (text.endsWith('\n')) text = text.slice(0, -1);
  if (text.length > CARD_LIMITS.sealLineBytes)
    return { ok: false, code: 'seal-record', message: `header line longer than ${CARD_LIMITS.sealLineBytes} bytes` };
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return { ok: false, code: 'seal-record', message: 'header line is not JSON' };
  }
  const twice = repeatedJsonKey(text);
  if (twice) {
    return {
      ok: false,
      code: 'key-repeated',
      message: `header line names the key ${quoted(twice.key)} twice: a reader keeping the first value would see another record than one keeping the last`
    };
  }
  const p = sealedRecordProblem(o, rid, maxN);
  if (p) return { ok: false, code: 'seal-record', message: `header line: ${p}` };
  const rec = o as SealedRecord;
  const record: SealedRecord = {
    r: rec.r,
    i: rec.i,
    s: rec.s,
    n: rec.n,
    t: rec.t,
    w: rec.w,
    h: rec.h,
    p: rec.p,
    c: rec.c,
    v: rec.v,
    m: rec.m
  };
  const fail = (code: FailureCode, message: string): SealOpening => ({ ok: false, code, message, record });
  if (
    sha256(`${record.p}:${record.r}:${record.i}:${record.s}:${record.n}:${record.t}:${record.w}:${record.h}`) !==
    record.c
  ) {
    return fail('chain-broken', 'its "c" does not match its record');
  }
  const want = 16 * Math.ceil(record.n / 16);
  if (ct.length < want) return fail('seal-truncated', `${ct.length} of its ${want} bytes of ciphertext`);
  if (ct.length > want) return fail('seal-record', `${ct.length} bytes of ciphertext, its record says ${want}`);
  const iv = Buffer.from(record.v, 'hex');
  const expect = crypto
    .createHmac('sha256', keys.mac)
    .update(Buffer.from(record.c, 'hex'))
    .update(iv)
    .update(crypto.createHash('sha256').update(ct).digest())
    .digest();
  const got = Buffer.from(record.m, 'hex');
  if (got.length !== expect.length || !crypto.timingSafeEqual(got, expect))
    return fail('seal-mac', 'seal MAC wrong (another key, or the record or ciphertext altered)');
  const d = crypto.createDecipheriv('aes-256-cbc', keys.enc, iv);
  d.setAutoPadding(false);
  const plain = Buffer.concat([d.update(ct), d.final()]);
  for (let k = record.n; k < plain.length; k++)
    if (plain[k] !== 0) return fail('seal-padding', `the plaintext after its ${record.n} audio bytes is not zeros`);
  const audio = plain.subarray(0, record.n);
  if (sha256(audio) !== record.h) return fail('audio-mismatch', 'its audio does not match its hash "h"');
  return { ok: true, record, audio };
}

export type CardNoteCode = 'seal-truncated' | 'not-on-card' | 'state' | 'wrong-key';

export interface CardNote {
  code: CardNoteCode;
  message: string;
}

export interface CardSegment {
  /** Segment number (the `SS` of `RRRRSS.EVD`) and file name. */
  seg: number;
  name: string;
  bytes: number;
  /** Complete records read. */
  records: number;
  /** Bytes of a torn last record (0: none). */
  torn: number;
}

/** The newest readable state copy (not authenticated: shown, compared, never trusted). */
export interface CardState {
  file: string;
  q: number;
  n?: number;
  ns?: number;
  up?: number;
  end?: string;
  fin?: boolean;
  hd?: string;
  gaps?: { i: number; s: number }[];
}

export type CardVerdict = 'card-ok' | 'card-empty' | 'failed';
export const CARD_VERDICT_TEXT: Record<CardVerdict, string> = {
  'card-ok': 'CARD OK',
  'card-empty': 'CARD EMPTY',
  failed: 'CARD FAILED'
};

export interface CardRecordingResult {
  dir: string;
  rid: string;
  ok: boolean;
  verdict: CardVerdict;
  /** The unit whose key opened the seals (from --keys), when known. */
  unit?: string;
  keyFrom?: '--key' | '--keys';
  segments: CardSegment[];
  /** Chunks whose seal opened and that are intact. */
  chunks: number;
  first?: number;
  last?: number;
  /** First and last sample held, and samples missing before a chunk (from the chunks' `s`). */
  fromSample?: number;
  toSample?: number;
  missingBefore: { i: number; s: number }[];
  state?: CardState;
  notes: CardNote[];
  problems: string[];
  failures: Failure[];
  omitted: number;
  omittedByCode: Partial<Record<FailureCode, number>>;
}

export interface CardVerifyOptions {
  /** One key for every recording (--key). */
  key?: Buffer;
  /** Unit id → key (--keys): the unit whose key opens a recording's seals is named. */
  keys?: Map<string, Buffer>;
  /** Only this unit's key from `keys`. */
  unit?: string;
}

export interface CardReport {
  dir: string;
  recordings: CardRecordingResult[];
  /** Folder entries that are not spool files. */
  ignored: number;
  /** Set when the folder listing stopped at its bound. */
  stopped?: string;
}

/** One record as read off a segment: complete (line and ciphertext), or the segment's torn tail. */
interface RawRecord {
  seg: number;
  name: string;
  pos: number;
  line: string;
  ct: Buffer;
}

/**
 * Read a segment's records one at a time (bounded reads: a line, then its ciphertext), calling
 * `visit` for each complete one until it returns false. A torn tail is a note; a line that cannot
 * be framed stops the segment with a problem.
 */
function readSegment(
  f: OpenFile,
  seg: CardSegment,
  maxN: number,
  probs: Problems,
  notes: CardNote[],
  visit: (r: RawRecord) => boolean
): boolean {
  let pos = 0;
  const where = (p: number) => `segment ${printable(seg.name)} byte ${p}`;
  while (pos < f.size) {
    const head = readAt(f, pos, CARD_LIMITS.sealLineBytes + 1);
    const nl = head.indexOf(0x0a);
    const atEnd = pos + head.length >= f.size;
    const claimed = /"i":(\d{1,6})[,}]/.exec(head.toString('latin1', 0, nl < 0 ? head.length : nl));
    const chunk = claimed ? `chunk ${claimed[1]}` : 'its chunk index not readable';
    const torn = (have: number, of: string) => {
      seg.torn = f.size - pos;
      notes.push({
        code: 'seal-truncated',
        message: `${where(pos)}: the segment's last record is torn (${chunk}, ${have} bytes of ${of}): the chunk being written at a power cut, not counted`
      });
    };
    if (nl < 0) {
      if (atEnd && head.length <= CARD_LIMITS.sealLineBytes) return (torn(head.length, 'a header line'), true);
      probs.add(
        'seal-record',
        `${where(pos)}: no header line end within ${CARD_LIMITS.sealLineBytes} bytes; the rest of the segment (${f.size - pos} bytes) is not read`
      );
      return true;
    }
    const line = head.toString('latin1', 0, nl);
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      o = undefined;
    }
    if (!isObject(o) || !isCount(o.n, 1, maxN)) {
      const why = !isObject(o) ? 'not a sealed record line' : `"n" is ${shown(o.n)}, not a chunk length (1..${maxN})`;
      probs.add(
        'seal-record',
        `${where(pos)} (${chunk}): ${why}; the rest of the segment (${f.size - pos} bytes) is not read`
      );
      return true;
    }
    const want = 16 * Math.ceil(o.n / 16);
    const ctPos = pos + nl + 1;
    if (ctPos + want > f.size) return (torn(f.size - pos, `${nl + 1 + want}`), true);
    const ct = readAt(f, ctPos, want);
    seg.records++;
    if (!visit({ seg: seg.seg, name: seg.name, pos, line, ct })) return false;
    pos = ctPos + want;
  }
  return true;
}

/** The newest state copy that parses (the higher `q`), or undefined. */
function readCardState(dir: string, files: string[], notes: CardNote[]): CardState | undefined {
  let best: CardState | undefined;
  for (const name of files) {
    const sp = new Problems();
    const f = openRegular(path.join(dir, name), printable(name), CARD_LIMITS.stateBytes, sp);
    if (!f) {
      for (const x of sp.list) notes.push({ code: 'state', message: `${x.message}: not read (${x.code})` });
      continue;
    }
    let o: unknown;
    try {
      const text = readAt(f, 0, f.size);
      o = jsonShapeProblem(text) ? undefined : JSON.parse(text.toString('latin1'));
    } catch {
      o = undefined; // a torn copy: the other one counts
    } finally {
      fs.closeSync(f.fd);
    }
    if (!isObject(o) || !isCount(o.q)) continue;
    const st: CardState = { file: name, q: o.q };
    if (isCount(o.n, 0, MAX_CHUNKS)) st.n = o.n;
    if (isCount(o.ns, 0, MAX_SAMPLES)) st.ns = o.ns;
    if (isCount(o.up, 0, MAX_CHUNKS)) st.up = o.up;
    if (typeof o.end === 'string' && ENDS.includes(o.end)) st.end = o.end;
    if (typeof o.fin === 'boolean') st.fin = o.fin;
    if (isHash(o.hd)) st.hd = o.hd;
    if (
      Array.isArray(o.gaps) &&
      o.gaps.length <= LIMITS.maxGaps &&
      o.gaps.every((g) => isObject(g) && isCount(g.i, 0, MAX_CHUNKS) && isCount(g.s, 0, MAX_SAMPLES))
    ) {
      st.gaps = (o.gaps as { i: number; s: number }[]).map((g) => ({ i: g.i, s: g.s }));
    }
    if (!best || st.q > best.q) best = st;
  }
  return best;
}

/** Check one recording's spool files: open every seal, then indices, chain and positions. */
function verifyCardRecording(
  dir: string,
  rid: string,
  segFiles: { seg: number; name: string }[],
  stateFiles: string[],
  opts: CardVerifyOptions
): CardRecordingResult {
  const probs = new Problems();
  const notes: CardNote[] = [];
  const segments: CardSegment[] = segFiles.map((s) => ({ seg: s.seg, name: s.name, bytes: 0, records: 0, torn: 0 }));
  const result = (extra: Partial<CardRecordingResult>): CardRecordingResult => {
    const ok = probs.count === 0;
    const r: CardRecordingResult = {
      dir,
      rid,
      ok,
      verdict: !ok ? 'failed' : (extra.chunks ?? 0) > 0 ? 'card-ok' : 'card-empty',
      segments,
      chunks: 0,
      missingBefore: [],
      notes: notes.slice(0, CARD_LIMITS.listedNotes),
      problems: probs.list.map((f) => f.message),
      failures: probs.list,
      omitted: probs.omitted,
      omittedByCode: probs.omittedByCode,
      ...extra
    };
    if (notes.length > CARD_LIMITS.listedNotes)
      r.notes.push({
        code: notes[CARD_LIMITS.listedNotes]!.code,
        message: `… and ${notes.length - CARD_LIMITS.listedNotes} more notes`
      });
    return r;
  };
  const state = readCardState(dir, stateFiles, notes);
  const maxN = CARD_LIMITS.maxChunkSamples;

  /** Read every segment in order, calling `visit` for each complete record. */
  const eachRecord = (visit: (r: RawRecord) => boolean, quiet: boolean) => {
    const p = quiet ? new Problems() : probs;
    const n: CardNote[] = quiet ? [] : notes;
    for (const seg of segments) {
      if (!quiet) Object.assign(seg, { bytes: 0, records: 0, torn: 0 });
      else seg.records = 0;
      const f = openRegular(path.join(dir, seg.name), `segment ${printable(seg.name)}`, CARD_LIMITS.segmentBytes, p);
      if (!f) continue;
      try {
        if (!quiet) seg.bytes = f.size;
        if (!readSegment(f, seg, maxN, p, n, visit)) return;
      } catch (e) {
        p.add(
          'unreadable',
          `segment ${printable(seg.name)} unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})`
        );
      } finally {
        fs.closeSync(f.fd);
      }
    }
  };

  // Which key: --key alone, or the --keys entry (or --key) whose MAC opens the first records.
  const candidates: { unit?: string; key: Buffer; from: '--key' | '--keys' }[] = [];
  for (const [unit, key] of opts.keys ?? [])
    if (opts.unit === undefined || unit === opts.unit) candidates.push({ unit, key, from: '--keys' });
  if (opts.key) candidates.push({ key: opts.key, from: '--key' });
  let chosen = candidates.length === 1 ? candidates[0] : undefined;
  if (candidates.length > 1) {
    const sets = candidates.map((c) => deriveSealKeys(c.key));
    let probed = 0;
    eachRecord((r) => {
      for (let k = 0; k < sets.length; k++) {
        const o = openSeal(sets[k]!, r.line, r.ct, rid, maxN);
        if (
          o.ok ||
          (o.code !== 'seal-mac' && o.code !== 'seal-record' && o.code !== 'key-repeated' && o.code !== 'chain-broken')
        ) {
          chosen = candidates[k];
          return false;
        }
      }
      return ++probed < CARD_LIMITS.keyProbeRecords;
    }, true);
    if (!chosen && probed > 0) {
      probs.add(
        'seal-mac',
        `no key given opens this recording's seals (${candidates.length} keys tried on its first ${probed} records): the card is another unit's, or altered`
      );
      return result({ state });
    }
    chosen ??= candidates[0];
  }
  if (!chosen) {
    probs.add(
      'seal-mac',
      opts.unit !== undefined ? `no key for unit ${quoted(opts.unit)} in --keys` : 'no key to open the seals'
    );
    return result({ state });
  }
  const keys = deriveSealKeys(chosen.key);

  // Every record, in segment order: open its seal, then follow the indices, chain and positions.
  let prev: SealedRecord | undefined;
  let broken = false;
  let opened = 0;
  let read = 0;
  let macFailures = 0;
  let first: number | undefined;
  let firstSample: number | undefined;
  const seen = new Set<number>();
  const missingBefore: { i: number; s: number }[] = [];
  // The samples the state declares left out before each chunk, summed once: the state is not
  // authenticated, and summing its list at every gap would cost (gaps on the card) × (its gaps).
  let stateGaps: Map<number, number> | undefined;
  if (state?.gaps) {
    stateGaps = new Map();
    for (const g of state.gaps) stateGaps.set(g.i, (stateGaps.get(g.i) ?? 0) + g.s);
  }
  eachRecord((r) => {
    if (++read > CARD_LIMITS.maxRecords) {
      probs.add('bad-structure', `more than ${CARD_LIMITS.maxRecords} sealed records: the rest is not read`);
      return false;
    }
    const at = `segment ${printable(r.name)} byte ${r.pos}`;
    const o = openSeal(keys, r.line, r.ct, rid, maxN);
    if (!o.ok) {
      const which = o.record ? `chunk ${o.record.i}` : 'a record';
      if (o.code === 'seal-mac') macFailures++;
      probs.add(o.code, `${which} (${at}): ${o.message}`);
      broken = true;
      return true;
    }
    const rec = o.record;
    opened++;
    if (!prev) {
      first = rec.i;
      firstSample = rec.s;
      if (rec.i === 0 && rec.p !== ZERO_HASH)
        probs.add('chain-broken', 'chain broken at chunk 0 (its "p" is not 64 zeros)');
      if (rec.i > 0) {
        const up =
          state?.up !== undefined ? ` (the state says the server has confirmed up to chunk ${state.up - 1})` : '';
        notes.push({
          code: 'not-on-card',
          message: `chunks 0..${rec.i - 1} are not on the card: the unit erases a segment once the server has confirmed every chunk in it${up}; the chain is checked from chunk ${rec.i}`
        });
      }
    } else if (seen.has(rec.i)) {
      probs.add('chunk-repeated', `chunk ${rec.i} repeated (${at})`);
    } else if (rec.i < prev.i) {
      probs.add('chunk-out-of-order', `chunks ${rec.i} and ${prev.i} out of order (${at})`);
    } else {
      if (!broken && rec.i > prev.i + 1)
        probs.add(
          'chunk-missing',
          `chunk${rec.i - prev.i > 2 ? 's' : ''} ${prev.i + 1}${rec.i - prev.i > 2 ? `..${rec.i - 1}` : ''} missing (before ${at})`
        );
      else if (!broken && rec.p !== prev.c)
        probs.add('chain-broken', `chain broken at chunk ${rec.i} (its "p" is not chunk ${prev.i}'s "c")`);
      const end = prev.s + prev.n;
      if (rec.s < end)
        probs.add('chunk-overlap', `chunk ${rec.i}: ${range(rec.s, rec.n)} overlap chunk ${prev.i}'s audio`);
      else if (rec.i === prev.i + 1 && rec.s > end) {
        if (missingBefore.length < CARD_LIMITS.listedNotes) missingBefore.push({ i: rec.i, s: rec.s - end });
        const declared =
          stateGaps && state?.n !== undefined && rec.i < state.n ? (stateGaps.get(rec.i) ?? 0) : undefined;
        if (declared !== undefined && declared !== rec.s - end) {
          notes.push({
            code: 'state',
            message: `before chunk ${rec.i} the chunks leave ${rec.s - end} samples out, the state declares ${declared}`
          });
        }
      }
    }
    seen.add(rec.i);
    if (!prev || rec.i > prev.i) {
      prev = rec;
      broken = false;
    }
    return true;
  }, false);

  if (opened === 0 && macFailures > 0 && macFailures === probs.list.filter((f) => f.code === 'seal-mac').length) {
    notes.push({ code: 'wrong-key', message: "no seal opened: is this the unit's key?" });
  }
  if (state && prev) {
    if (state.n !== undefined && state.n > prev.i + 1) {
      notes.push({
        code: 'state',
        message: `the state says ${state.n} chunks were recorded; the last intact chunk on the card is ${prev.i}`
      });
    }
    if (state.n !== undefined && state.n === prev.i + 1 && state.hd !== undefined && state.hd !== prev.c) {
      notes.push({ code: 'state', message: `the state's chain head is not chunk ${prev.i}'s "c"` });
    }
  }
  const extra: Partial<CardRecordingResult> = { chunks: opened, missingBefore, keyFrom: chosen.from };
  if (chosen.unit !== undefined) extra.unit = chosen.unit;
  if (state) extra.state = state;
  if (prev && first !== undefined)
    Object.assign(extra, { first, last: prev.i, fromSample: firstSample, toSample: prev.s + prev.n - 1 });
  return result(extra);
}

/** Verify the spool files in a card folder (not its subfolders); never throws for bad files. */
export function verifyCardDir(dir: string, opts: CardVerifyOptions): CardReport {
  const abs = path.resolve(dir);
  const segs = new Map<string, { seg: number; name: string }[]>();
  const states = new Map<string, string[]>();
  let ignored = 0;
  let entries = 0;
  let stopped: string | undefined;
  const h = fs.opendirSync(abs);
  try {
    for (let e = h.readSync(); e; e = h.readSync()) {
      if (++entries > CARD_LIMITS.folderEntries) {
        stopped = `more than ${CARD_LIMITS.folderEntries} folder entries`;
        break;
      }
      const s = SEGMENT_RE.exec(e.name);
      const st = STATE_RE.exec(e.name);
      if (s) {
        const rid = s[1]!.toLowerCase();
        const list = segs.get(rid) ?? [];
        list.push({ seg: parseInt(s[2]!, 16), name: e.name });
        segs.set(rid, list);
      } else if (st) {
        const rid = st[1]!.toLowerCase();
        const list = states.get(rid);
        if (list) list.push(e.name);
        else states.set(rid, [e.name]);
      } else ignored++;
    }
  } finally {
    h.closeSync();
  }
  const recordings: CardRecordingResult[] = [];
  for (const rid of [...segs.keys()].sort()) {
    const list = segs.get(rid)!.sort((a, b) => a.seg - b.seg || (a.name < b.name ? -1 : 1));
    try {
      recordings.push(verifyCardRecording(abs, rid, list, states.get(rid) ?? [], opts));
    } catch (e) {
      const probs = new Problems();
      const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      probs.add(
        'internal-error',
        `the verifier failed on this recording, so nothing about it is proven (${printable(what, 200)})`
      );
      recordings.push({
        dir: abs,
        rid,
        ok: false,
        verdict: 'failed',
        segments: [],
        chunks: 0,
        missingBefore: [],
        notes: [],
        problems: probs.list.map((f) => f.message),
        failures: probs.list,
        omitted: 0,
        omittedByCode: {}
      });
    }
  }
  const report: CardReport = { dir: abs, recordings, ignored };
  if (stopped) report.stopped = stopped;
  return report;
}

/** The readable report for one recording on a card. */
export function formatCardReport(r: CardRecordingResult): string {
  const lines: string[] = [];
  lines.push(`Card recording ${r.rid}   (${printable(r.dir)})`);
  if (r.keyFrom)
    lines.push(
      `  key: ${r.unit !== undefined ? `unit ${quoted(r.unit)} (from --keys)` : '--key (the card does not name the unit)'}`
    );
  const segs = r.segments.map(
    (s) =>
      `${printable(s.name)} (${s.records} record${s.records === 1 ? '' : 's'}, ${s.bytes} bytes${s.torn ? `, torn tail of ${s.torn}` : ''})`
  );
  lines.push(
    `  segments: ${segs.length ? segs.slice(0, CARD_LIMITS.listedNotes).join(', ') : 'none'}${segs.length > CARD_LIMITS.listedNotes ? `, … ${segs.length - CARD_LIMITS.listedNotes} more` : ''}`
  );
  if (r.first !== undefined) {
    lines.push(
      `  chunks on the card: ${r.first}..${r.last} (${r.chunks} intact), samples ${r.fromSample}..${r.toSample}`
    );
    if (r.missingBefore.length)
      lines.push(
        `  samples left out between chunks: ${r.missingBefore.map((g) => `${g.s} before chunk ${g.i}`).join(', ')}`
      );
  }
  if (r.state) {
    const s = r.state;
    const field = (k: string, v: unknown) =>
      v === undefined ? '' : `, ${k} ${typeof v === 'string' ? quoted(v) : String(v)}`;
    lines.push(
      `  state (not authenticated, informative): ${printable(s.file)} q ${s.q}${field('n', s.n)}${field('next sample', s.ns)}${field('up', s.up)}${field('end', s.end)}${field('fin', s.fin)}`
    );
  } else lines.push('  state: no readable state file (informative only)');
  for (const n of r.notes) lines.push(`  note ${n.code}: ${n.message}`);
  if (r.verdict === 'card-ok') {
    lines.push(`  ${CARD_VERDICT_TEXT['card-ok']}: ${r.chunks} chunk${r.chunks === 1 ? '' : 's'} sealed and intact`);
    lines.push(
      `    proven: each chunk's seal (its MAC under the unit's key: sealed by a holder of the key, unaltered since),`
    );
    lines.push(
      `    its audio against its hash, the chain from chunk ${r.first} to chunk ${r.last}, and the sample positions between them.`
    );
    lines.push(
      '    not proven: that the recording is complete or ended (the card holds no signed manifest, and the unit'
    );
    lines.push(
      "    erases what the server confirmed). The evidence is the server's copy: npm run evidence:verify -- DIR"
    );
  } else if (r.verdict === 'card-empty') {
    lines.push(`  ${CARD_VERDICT_TEXT['card-empty']}: no complete sealed chunk on the card`);
  } else {
    listFailures(lines, CARD_VERDICT_TEXT.failed, r);
  }
  return lines.join('\n');
}

/** `--card DIR`: returns the exit code. */
function runCard(dir: string, opts: CardVerifyOptions, out: (s: string) => void, err: (s: string) => void): number {
  let isDir = false;
  try {
    isDir = fs.statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) return (err(`${printable(dir)}: no such folder`), 2);
  const report = verifyCardDir(dir, opts);
  if (report.recordings.length === 0) {
    return (
      err(`${printable(dir)}: no spool file (RRRRSS.EVD) found${report.stopped ? ` (${report.stopped})` : ''}`),
      2
    );
  }
  let failed = 0;
  for (const r of report.recordings) {
    if (r.verdict === 'failed') failed++;
    out(formatCardReport(r) + '\n');
  }
  const total = report.recordings.length;
  if (report.stopped) {
    err(`walk-limit: the card folder listing stopped early (${report.stopped})`);
    out(
      `walk-limit: the card folder listing stopped early (${report.stopped}): spool files beyond it were NOT checked.`
    );
  }
  if (failed) out(`${failed} of ${total} card recording(s) FAILED.`);
  else {
    out(
      `${total} of ${total} card recording(s) ${CARD_VERDICT_TEXT['card-ok']} or empty: the chunks on the card are sealed and intact. ` +
        "Not the final evidence: verify the server's copy."
    );
  }
  return failed || report.stopped ? 1 : 0;
}

const USAGE =
  'usage: npm run evidence:verify -- DIR [--key HEX] [--keys FILE.json] [--no-signature]\n' +
  '       npm run evidence:verify -- --card DIR (--key HEX | --keys FILE.json [--unit ID])';

/** The command line; returns the exit code. */
export function main(
  argv: string[],
  out: (s: string) => void = console.log,
  err: (s: string) => void = console.error
): number {
  try {
    return run(argv, out, err);
  } catch (e) {
    err(
      `internal-error: the verifier failed (${printable(e instanceof Error ? `${e.name}: ${e.message}` : String(e), 200)})`
    );
    return 2;
  }
}

function run(argv: string[], out: (s: string) => void, err: (s: string) => void): number {
  let dir: string | undefined;
  let key: string | undefined;
  let keysFile: string | undefined;
  let noSignature = false;
  let card: string | undefined;
  let unit: string | undefined;
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k]!;
    if (a === '--key' || a === '--keys' || a === '--card' || a === '--unit') {
      const v = argv[++k];
      if (v === undefined) return (err(`${a} needs a value\n${USAGE}`), 2);
      if (a === '--key') key = v;
      else if (a === '--keys') keysFile = v;
      else if (a === '--card') card = v;
      else unit = v;
    } else if (a === '--no-signature') noSignature = true;
    else if (a === '--help' || a === '-h') return (out(USAGE), 0);
    else if (a.startsWith('-')) return (err(`unknown option ${printable(a, 40)}\n${USAGE}`), 2);
    else if (dir === undefined) dir = a;
    else return (err(`only one DIR\n${USAGE}`), 2);
  }
  if (card !== undefined && dir !== undefined) return (err(`--card DIR takes no other folder\n${USAGE}`), 2);
  if (card !== undefined && noSignature)
    return (err(`--card opens the seals with the unit's key: --no-signature does not apply\n${USAGE}`), 2);
  if (card !== undefined && key === undefined && keysFile === undefined) {
    return (err(`--card needs --key or --keys: without the unit's key nothing on the card can be opened\n${USAGE}`), 2);
  }
  if (unit !== undefined && (card === undefined || keysFile === undefined))
    return (err(`--unit picks a key from --keys in --card mode\n${USAGE}`), 2);
  if (dir === undefined && card === undefined) return (err(USAGE), 2);
  if (noSignature && (key !== undefined || keysFile !== undefined)) {
    return (err(`--no-signature checks no signature: give it without --key or --keys\n${USAGE}`), 2);
  }
  if (key !== undefined && !KEY_RE.test(key)) return (err('--key must be 64 hex digits'), 2);
  const keys = new Map<string, Buffer>();
  if (keysFile !== undefined) {
    const kf = printable(keysFile);
    const kp = new Problems();
    const f = openRegular(keysFile, `--keys ${kf}`, LIMITS.keysBytes, kp);
    let obj: unknown;
    if (f) {
      try {
        obj = JSON.parse(readAt(f, 0, f.size).toString('utf8'));
      } catch {
        kp.add('bad-json', `--keys ${kf}: not readable JSON`);
      } finally {
        fs.closeSync(f.fd);
      }
    }
    if (kp.count) return (err(kp.list.map((p) => p.message).join('\n')), 2);
    if (!isObject(obj)) return (err(`--keys ${kf}: must map unit id to key`), 2);
    for (const [unit, v] of Object.entries(obj)) {
      if (typeof v !== 'string' || !KEY_RE.test(v))
        return (err(`--keys ${kf}: the key for unit ${quoted(unit)} is not 64 hex digits`), 2);
      keys.set(unit, Buffer.from(v, 'hex'));
    }
  }
  const one = key === undefined ? undefined : Buffer.from(key, 'hex');
  if (card !== undefined) {
    if (unit !== undefined && !keys.has(unit)) return (err(`--unit ${quoted(unit)}: no such unit in --keys`), 2);
    const opts: CardVerifyOptions = { keys };
    if (one) opts.key = one;
    if (unit !== undefined) opts.unit = unit;
    return runCard(card, opts, out, err);
  }
  if (dir === undefined) return (err(USAGE), 2);
  const keyFor: KeyFor = (unit) => (keys.has(unit) ? keys.get(unit) : one);
  let isDir = false;
  try {
    isDir = fs.statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) return (err(`${printable(dir)}: no such folder`), 2);
  const found = searchRecordingDirs(dir);
  if (found.dirs.length === 0 && !found.stopped)
    return (err(`${printable(dir)}: no recording (manifest.json) found`), 2);
  let failed = 0;
  let unsigned = 0;
  for (const d of found.dirs) {
    let text: string;
    let r: VerifyResult;
    try {
      r = verifyDir(d, keyFor, { noSignature });
      text = formatReport(r);
    } catch (e) {
      r = internalError(d, e);
      text = `Recording ? / ?   (${printable(d)})\n  FAILED (1 problem):\n    internal-error: ${r.problems[0]}`;
    }
    if (r.verdict === 'failed') failed++;
    else if (r.verdict === 'chain-ok-signature-not-checked') unsigned++;
    out(text + '\n');
  }
  const total = found.dirs.length;
  if (found.stopped) {
    err(
      `walk-limit: the search for recordings stopped early (${found.stopped}); point the verifier at a smaller folder`
    );
    out(
      `walk-limit: the search for recordings stopped early (${found.stopped}): recordings beyond the first ${total} were NOT checked.`
    );
  }
  if (failed) out(`${failed} of ${total} recording(s) FAILED verification.`);
  else if (unsigned) {
    out(
      `${unsigned} of ${total} recording(s) ${VERDICT_TEXT['chain-ok-signature-not-checked']} (--no-signature): ` +
        'consistent with their hashes and chain, not proven to come from the unit.'
    );
  } else if (!found.stopped) out(`All ${total} recording(s) VERIFIED.`);
  return failed || found.stopped ? 1 : 0;
}
