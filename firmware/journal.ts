/**
 * The persistent journal: every event the unit must not lose is appended here before anything
 * else happens to it. Format and limits: docs/journal.md.
 *
 * A record is one line `JSON~CRC\n` in an append-only segment file `j.<n>`. Reading skips (and
 * counts) any line whose CRC or JSON is wrong, so a bit flip or a write cut by a power failure
 * loses that line only, never the records around it.
 */
import type { Clock, Crypto, RecordStore, AppendFile } from '../hal/types';

/**
 * The fields of each kind of record (docs/journal.md, docs/reporting.md): the one place a kind is
 * defined. Types only: nothing of this reaches the image.
 */
export interface RecordFields {
  /** A boot: firmware, board, reset cause (and the fault before it), unit. */
  boot: { fw: string; board: string; cause: string; why: string; unit: string };
  /** A part of the boot that failed (`w`) and why. */
  'boot-fail': { w: string; e: string };
  /** Lines skipped at open. */
  'jrn-bad': { lines: number };
  /** A config refused (problem codes). */
  'cfg-bad': { why: string };
  /** A config stored: unit, first 16 hex of its SHA-256. */
  cfg: { unit: string; h: string };
  /** Whether any receiver can be reached (1) or none (0). */
  reach: { ok: number };
  /** A receiver configured without encryption. */
  insecure: Record<string, never>;
  /** Decommissioned: forced, recordings not uploaded. */
  retire: { forced: boolean; recordings: number };
  /** DC-09 sequence numbers reserved up to `to`. */
  sq: { to: number };
  /** An event: sequence number, Contact ID code, qualifier, zone, extended data, bound route. */
  ev: { n: number; c: number; q: number; z: number; x?: string; o?: number };
  /** Event `r` delivered on route `p` (`f`: the form, when not the full one). */
  ok: { r: number; p: number; f?: number };
  /** Event `r` given up on route `p`. */
  fail: { r: number; p: number; f?: number };
  /** Event `r` refused in a form by route `p`. */
  duh: { r: number; p: number };
  /** A loop that stopped turning. */
  hung: { w: string };
  /** An exception caught at a callback boundary. */
  fault: { w: string; e: string };
}

export type RecordKind = keyof RecordFields;

/** What every record has: `i` is unique and increasing across reboots. */
interface RecordBase {
  /** Sequence number, 1, 2, 3, … for the unit's lifetime. */
  i: number;
  /** `Clock.now()` when written, ms since that boot. */
  u: number;
  /** Wall clock when written, UTC ms (as the unit believed it). */
  t: number;
}

/** A record of one kind. */
export type RecordOf<K extends RecordKind> = RecordBase & { k: K } & RecordFields[K];

/** A journal record: a union discriminated on its kind `k`. */
export type JournalRecord = { [K in RecordKind]: RecordOf<K> }[RecordKind];

/** Journals a record where the journal may not exist yet, or failed to open (late-bound: nothing is written then). */
export type RecordSink = <K extends RecordKind>(kind: K, fields: RecordFields[K]) => void;

export interface JournalOptions {
  /** Bytes per segment before a new one is started. */
  segmentBytes: number;
  /** Segments kept; the oldest is dropped past this, after `retain` has chosen what to carry. */
  maxSegments: number;
  /**
   * Called with the records of a segment about to be dropped; the records it returns are copied
   * forward (same `i`) before the segment is erased. Default: none are kept.
   */
  retain?: (records: JournalRecord[]) => JournalRecord[];
}

export interface Journal {
  /** Append a record; returns it. Throws (code ENOSPC) only when storage is full even after rotation. */
  append<K extends RecordKind>(kind: K, fields: RecordFields[K]): RecordOf<K>;
  /** All readable records in order of `i`. */
  records(): JournalRecord[];
  /** Lines that failed their check when the journal was opened. */
  corruptAtOpen(): number;
  /** The next sequence number. */
  nextIndex(): number;
}

const PREFIX = 'j.';

function hex8(n: number): string {
  let s = (n >>> 0).toString(16);
  while (s.length < 8) s = '0' + s;
  return s;
}

/** Keep a line 7-bit printable so it can never contain 0xFF or a newline. */
function asciiOnly(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}

export function encodeRecord(crypto: Crypto, rec: JournalRecord): string {
  const body = asciiOnly(JSON.stringify(rec));
  return body + '~' + hex8(crypto.crc32(body)) + '\n';
}

/** Parse one line (without `\n`); `undefined` when it fails its check. */
export function decodeRecord(crypto: Crypto, line: string): JournalRecord | undefined {
  const cut = line.lastIndexOf('~');
  if (cut < 0 || line.length - cut !== 9) return undefined;
  const body = line.substr(0, cut);
  if (hex8(crypto.crc32(body)) !== line.substr(cut + 1)) return undefined;
  let rec: unknown;
  try {
    rec = JSON.parse(body);
  } catch (e) {
    return undefined;
  }
  if (typeof rec !== 'object' || rec === null) return undefined;
  const r = rec as JournalRecord;
  if (typeof r.i !== 'number' || typeof r.k !== 'string') return undefined;
  return r;
}

function segmentNumbers(store: RecordStore): number[] {
  const names = store.list(PREFIX);
  const nums: number[] = [];
  for (let i = 0; i < names.length; i++) {
    const n = parseInt(names[i].substr(PREFIX.length), 10);
    if (n >= 0 && PREFIX + n === names[i]) nums.push(n);
  }
  nums.sort(function (a, b) {
    return a - b;
  });
  return nums;
}

interface Segment {
  n: number;
  file: AppendFile;
}

export function createJournal(store: RecordStore, clock: Clock, crypto: Crypto, options: JournalOptions): Journal {
  const segments: Segment[] = [];
  let corrupt = 0;
  let next = 1;
  /** A cut write left the current segment without a final newline: start the next append afresh. */
  let needsNewline = false;

  /** Parse a segment from flash; records are not kept in RAM (a 16 KB journal would not fit). */
  function parse(seg: Segment, onBad?: () => void): JournalRecord[] {
    const text = seg.file.read();
    const lines = text.split('\n');
    const out: JournalRecord[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (lines[i] === '') continue;
      const rec = decodeRecord(crypto, lines[i]);
      if (rec) out.push(rec);
      else if (onBad) onBad();
    }
    return out;
  }

  /**
   * The segments on flash, the next record number, whether the last line is unfinished. A function
   * of its own: Espruino keeps a function's whole scope alive while any closure made in it lives,
   * so the parsed records and the tail's text must not be variables of createJournal (issue #17,
   * helper heap study: ~230 variables held after a boot with a journal).
   */
  function scan(): void {
    const found = segmentNumbers(store);
    for (let i = 0; i < found.length; i++) {
      const seg: Segment = { n: found[i], file: store.appendFile(PREFIX + found[i]) };
      segments.push(seg);
      const recs = parse(seg, function () {
        corrupt++;
      });
      for (let r = 0; r < recs.length; r++) if (recs[r].i >= next) next = recs[r].i + 1;
    }
    if (segments.length > 0) {
      const tail = segments[segments.length - 1].file.read();
      needsNewline = tail.length > 0 && tail.charAt(tail.length - 1) !== '\n';
    }
  }
  scan();

  function current(): Segment {
    if (segments.length === 0) {
      segments.push({ n: 0, file: store.appendFile(PREFIX + 0) });
      needsNewline = false;
    }
    return segments[segments.length - 1];
  }

  function write(seg: Segment, rec: JournalRecord): void {
    const line = encodeRecord(crypto, rec);
    try {
      seg.file.append(needsNewline ? '\n' + line : line);
    } catch (e) {
      // A failed append may have left part of the line in flash: start the next one afresh.
      needsNewline = true;
      throw e;
    }
    needsNewline = false;
  }

  function dropOldest(): boolean {
    if (segments.length < 2) return false;
    const old = segments[0];
    const keep = options.retain ? options.retain(parse(old)) : [];
    const cur = segments[segments.length - 1];
    for (let i = 0; i < keep.length; i++) write(cur, keep[i]);
    old.file.erase();
    segments.shift();
    return true;
  }

  function rotate(): void {
    const n = current().n + 1;
    segments.push({ n: n, file: store.appendFile(PREFIX + n) });
    needsNewline = false;
    while (segments.length > options.maxSegments && dropOldest()) {
      // dropOldest carries the retained records into the new segment
    }
  }

  function append<K extends RecordKind>(kind: K, fields: RecordFields[K]): RecordOf<K> {
    // Built as plain fields; the types say what each kind holds (nothing of them is in the image).
    const rec: { [f: string]: unknown } = { i: next, k: kind, u: Math.round(clock.now()), t: Math.round(clock.wall()) };
    if (fields) {
      const keys = Object.keys(fields);
      for (let i = 0; i < keys.length; i++) {
        if (keys[i] !== 'i' && keys[i] !== 'k' && keys[i] !== 'u' && keys[i] !== 't') {
          rec[keys[i]] = (fields as unknown as { [f: string]: unknown })[keys[i]];
        }
      }
    }
    if (current().file.size() >= options.segmentBytes) rotate();
    try {
      write(current(), rec as unknown as JournalRecord);
    } catch (e) {
      // Full: make room by dropping the oldest segment (carrying what must stay), then try once more.
      if (!dropOldest()) throw e;
      write(current(), rec as unknown as JournalRecord);
    }
    next++;
    return rec as unknown as RecordOf<K>;
  }

  function records(): JournalRecord[] {
    const seen: Record<string, boolean> = {};
    const out: JournalRecord[] = [];
    for (let s = 0; s < segments.length; s++) {
      const recs = parse(segments[s]);
      for (let r = 0; r < recs.length; r++) {
        const key = String(recs[r].i);
        if (!seen[key]) {
          seen[key] = true;
          out.push(recs[r]);
        }
      }
    }
    out.sort(function (a, b) {
      return a.i - b.i;
    });
    return out;
  }

  return {
    append: append,
    records: records,
    corruptAtOpen: function () {
      return corrupt;
    },
    nextIndex: function () {
      return next;
    }
  };
}
