/**
 * The unit's small persistent records (journal, config, state) as a log-structured store on raw
 * NOR flash sectors (the HAL's `FlashArea`), so nothing is written to Storage in service
 * (docs/journal.md, "Flash layout"). It offers the `RecordStore` contract the journal, the config
 * and the state records use.
 *
 * - A sector starts with a 16-byte header `LS01<seq as 8 hex>    `; the one with the highest
 *   `seq` is written, one always stays erased (the spare).
 * - A record is `#` + body length (4 hex) + body + CRC-32 of the body (8 hex), padded with spaces
 *   to whole words. Body: kind (`W` write, `A` append, `E` erase) + name length (2 hex) + name +
 *   (appends: the piece's offset in its file, 8 hex) + data. Written in one go; the CRC tells a
 *   record a power cut tore (it and only it is lost). A record whose length cannot be read ends
 *   the sector for writing: the next record starts a fresh one.
 * - The latest valid write of a name wins; an erase hides everything of the name before it; an
 *   append file is its pieces after its last erase, by offset (a copy of a piece is the piece).
 * - When the written sector is full, the spare becomes the written one; the oldest sector's live
 *   records (latest writes, append pieces of files still there) are copied into it, and then the
 *   oldest is erased: the new spare. A power cut at any moment loses at most the record being
 *   written: until the erase starts, everything is in two places; a half-erased sector is found at
 *   boot (its header no longer reads) and erased again.
 */
import type { AppendFile, Crypto, FlashArea, RecordStore } from '../hal/types';

const HEAD = 16;
const MAGIC = 'LS01';
const NAME_MAX = 28;

function hexN(n: number, w: number): string {
  let s = n.toString(16);
  while (s.length < w) s = '0' + s;
  return s;
}

function storeError(code: string, message: string): Error {
  const e = new Error(message);
  (e as Error & { code: string }).code = code;
  return e;
}

/** Where a record lives: its sector's place in write order, and its offset. Later is greater. */
function orderOf(seq: number, pos: number): number {
  return seq * 65536 + pos;
}

interface Rec {
  kind: string;
  name: string;
  /** An append piece's offset in its file. */
  at: number;
  data: string;
  pos: number;
  /** Bytes the record takes on flash. */
  size: number;
}

export interface FlashStore extends RecordStore {
  /**
   * Erase every sector (decommission): what was erased by name is only hidden until its sector is
   * reclaimed, and a decommissioned unit must not keep its keys on the flash.
   */
  wipe(): void;
  /** Sector erases since boot, where writing stands (for the wear figures), and damaged records found at boot. */
  stats(): { erases: number; sector: number; used: number; damaged: number };
}

export function createFlashStore(flash: FlashArea, crypto: Crypto): FlashStore {
  const N = flash.sectors;
  const SB = flash.sectorBytes;
  /** Each sector's seq (-1: spare or unreadable). */
  const seqs: number[] = [];
  let active = -1;
  let pos = HEAD;
  let erases = 0;
  /** Damaged records found at boot (CRC wrong, not the last write before erased space). */
  const damaged = [0];
  // Index, rebuilt at boot: where each name's latest write is, and where its last erase was.
  let writes: { [name: string]: number[] } = {};
  let erased: { [name: string]: number } = {};
  /** Bytes of each append file (after its last erase), and which files exist. */
  let sizes: { [name: string]: number } = {};

  function isErased(text: string): boolean {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) !== 0xff) return false;
    return true;
  }

  /** The record at `p` in sector `s`; `undefined` at the end; `null` when it cannot be read. */
  function recordAt(s: number, p: number): Rec | undefined | null {
    if (p + 8 > SB) return isErased(flash.read(s, p, SB - p)) ? undefined : null;
    const head = flash.read(s, p, 5);
    if (head === '\xff\xff\xff\xff\xff') return undefined;
    if (head.charAt(0) !== '#') return null;
    const len = parseInt(head.substr(1, 4), 16);
    const size = (5 + len + 8 + 3) & ~3;
    if (!(len >= 3) || p + size > SB) return null;
    const body = flash.read(s, p + 5, len);
    const crc = flash.read(s, p + 5 + len, 8);
    const rec: Rec = { kind: '', name: '', at: 0, data: '', pos: p, size: size };
    if (hexN(crypto.crc32(body), 8) !== crc) return rec; // torn or damaged: skipped, its space kept
    const nl = parseInt(body.substr(1, 2), 16);
    rec.kind = body.charAt(0);
    rec.name = body.substr(3, nl);
    if (rec.kind === 'A') {
      rec.at = parseInt(body.substr(3 + nl, 8), 16);
      rec.data = body.substr(11 + nl);
    } else rec.data = body.substr(3 + nl);
    return rec;
  }

  /**
   * Every readable record of sector `s`, in order, to `fn`; returns where writing may go on.
   * `bad` counts records whose CRC fails, but for the last one before erased space (the write a
   * power cut tore): damage, which the journal reports (300 zone 8).
   */
  function scan(s: number, fn: (r: Rec) => void, bad?: number[]): number {
    let p = HEAD;
    let torn = 0;
    for (;;) {
      const r = recordAt(s, p);
      if (r === undefined) return p;
      if (bad && torn) bad[0] += torn;
      torn = 0;
      if (r === null) return SB; // unreadable from here: nothing more is written in this sector
      if (r.kind !== '') fn(r);
      else torn = 1;
      p += r.size;
    }
  }

  /** Sectors in write order, oldest first. */
  function order(): number[] {
    const out: number[] = [];
    for (let s = 0; s < N; s++) if (seqs[s] >= 0) out.push(s);
    out.sort(function (a, b) {
      return seqs[a] - seqs[b];
    });
    return out;
  }

  function index(s: number, r: Rec): void {
    const at = orderOf(seqs[s], r.pos);
    if (r.kind === 'W') writes[r.name] = [s, r.pos, at];
    else if (r.kind === 'E') {
      delete writes[r.name];
      delete sizes[r.name];
      erased[r.name] = at;
    } else if (r.kind === 'A') {
      const end = r.at + r.data.length;
      if (!(sizes[r.name] >= end)) sizes[r.name] = end;
    }
  }

  function boot(): void {
    for (let s = 0; s < N; s++) {
      // A header a power cut tore (written word by word, so its last word is the check) is no header.
      const h = flash.read(s, 0, HEAD);
      const seq = parseInt(h.substr(4, 8), 16);
      seqs.push(h === header(seq) ? seq : -1);
    }
    let o = order();
    // Every sector in use: a power cut stopped a rotation between its start and its erase. The
    // newest then holds only copies of the oldest's live records, and a torn one may have ended
    // it: it is erased and the rotation done again (the index is built without it).
    const redo = o.length === N;
    if (redo) {
      seqs[o[N - 1]] = -1;
      o = order();
    }
    for (let k = 0; k < o.length; k++) {
      const s = o[k];
      const end = scan(
        s,
        function (r) {
          index(s, r);
        },
        damaged
      );
      if (k === o.length - 1) {
        active = s;
        pos = end;
      }
    }
    // Every sector not in use must be wholly erased: a power cut may have left one half-erased.
    for (let s = 0; s < N; s++) {
      if (seqs[s] >= 0) continue;
      let clean = true;
      for (let p = 0; p < SB && clean; p += 1024) clean = isErased(flash.read(s, p, 1024));
      if (!clean) {
        flash.erase(s);
        erases++;
      }
    }
    if (active < 0) start(0, 1);
    if (redo) rotate(0);
  }

  /** A sector's header: `LS01`, its seq as 8 hex digits, 4 spaces. */
  function header(seq: number): string {
    return MAGIC + hexN(seq, 8) + '    ';
  }

  /** Make sector `s` the written one, numbered `seq`. */
  function start(s: number, seq: number): void {
    flash.write(s, 0, header(seq));
    seqs[s] = seq;
    active = s;
    pos = HEAD;
  }

  function encode(kind: string, name: string, at: number, data: string): string {
    const body = kind + hexN(name.length, 2) + name + (kind === 'A' ? hexN(at, 8) : '') + data;
    let rec = '#' + hexN(body.length, 4) + body + hexN(crypto.crc32(body), 8);
    while (rec.length % 4) rec += ' ';
    return rec;
  }

  /** Write one encoded record where writing stands (the sector has room). */
  function put(rec: string): number[] {
    const at = [active, pos, orderOf(seqs[active], pos)];
    flash.write(active, pos, rec);
    pos += rec.length;
    return at;
  }

  /** Live: the latest write of its name, or a piece of an append file not erased since. */
  function live(s: number, r: Rec): boolean {
    const at = orderOf(seqs[s], r.pos);
    if (r.kind === 'W') {
      const w = writes[r.name];
      return !!w && w[2] === at;
    }
    return r.kind === 'A' && sizes[r.name] !== undefined && !(erased[r.name] > at);
  }

  /**
   * The written sector is full: move on to the spare, carrying the oldest sector's live records
   * (latest writes, pieces of files not erased since), then erase the oldest. What must be carried
   * is measured before the spare is started: a rotation that cannot fit writes nothing, so every
   * sector with a header is always a finished or an interrupted rotation (boot, above).
   */
  function rotate(need: number): void {
    let spare = -1;
    for (let s = 0; s < N && spare < 0; s++) if (seqs[s] < 0) spare = s;
    if (spare < 0) throw storeError('ENOSPC', 'record store: no spare sector');
    const o = order();
    const old = o.length >= N - 1 ? o[0] : -1;
    const carry: Rec[] = [];
    let bytes = need;
    if (old >= 0)
      scan(old, function (r) {
        if (live(old, r)) {
          carry.push(r);
          bytes += r.size;
        }
      });
    if (HEAD + bytes > SB) throw storeError('ENOSPC', 'record store: live records fill a sector');
    start(spare, seqs[o[o.length - 1]] + 1);
    if (old < 0) return;
    for (let i = 0; i < carry.length; i++) {
      const r = carry[i];
      const at = put(encode(r.kind, r.name, r.at, r.data));
      if (r.kind === 'W') writes[r.name] = at;
    }
    // Everything live is now in two places: the oldest sector may go.
    seqs[old] = -1;
    flash.erase(old);
    erases++;
  }

  function append(kind: string, name: string, at: number, data: string): number[] {
    if (name.length < 1 || name.length > NAME_MAX)
      throw storeError('ENAME', 'record name "' + name + '" must be 1-' + NAME_MAX + ' characters');
    const rec = encode(kind, name, at, data);
    if (rec.length > SB - HEAD)
      throw storeError('ENOSPC', 'record of ' + rec.length + ' bytes is larger than a sector');
    if (pos + rec.length > SB) rotate(rec.length);
    const where = put(rec);
    const r: Rec = { kind: kind, name: name, at: at, data: '', pos: where[1], size: rec.length };
    r.data = data;
    index(active, r);
    return where;
  }

  /** An append file's pieces after its last erase, by offset, joined. */
  function pieces(name: string): string {
    if (sizes[name] === undefined) return '';
    const got: string[] = [];
    const ats: number[] = [];
    const o = order();
    for (let k = 0; k < o.length; k++) {
      const s = o[k];
      scan(s, function (r) {
        if (r.kind === 'A' && r.name === name && !(erased[name] > orderOf(seqs[s], r.pos)) && ats.indexOf(r.at) < 0) {
          ats.push(r.at);
          got.push(r.data);
        }
      });
    }
    // Pieces arrive in offset order except copies carried forward: sort them into place.
    const idx: number[] = [];
    for (let i = 0; i < ats.length; i++) idx.push(i);
    idx.sort(function (a, b) {
      return ats[a] - ats[b];
    });
    let out = '';
    for (let i = 0; i < idx.length; i++) out += got[idx[i]];
    return out;
  }

  boot();

  return {
    maxName: NAME_MAX,
    read: function (name) {
      const w = writes[name];
      if (!w) return undefined;
      const r = recordAt(w[0], w[1]);
      return r && r.kind === 'W' ? r.data : undefined;
    },
    write: function (name, data) {
      append('W', name, 0, data);
    },
    erase: function (name) {
      if (writes[name] || sizes[name] !== undefined) append('E', name, 0, '');
    },
    list: function (prefix) {
      const out: string[] = [];
      for (const k in writes) if (k.indexOf(prefix) === 0) out.push(k);
      for (const k in sizes) if (k.indexOf(prefix) === 0 && out.indexOf(k) < 0) out.push(k);
      out.sort();
      return out;
    },
    free: function () {
      return SB - pos + (N - order().length) * (SB - HEAD);
    },
    appendFile: function (name): AppendFile {
      return {
        append: function (data: string) {
          const at = sizes[name] || 0;
          append('A', name, at, data);
        },
        read: function () {
          return pieces(name);
        },
        size: function () {
          return sizes[name] || 0;
        },
        erase: function () {
          if (writes[name] || sizes[name] !== undefined) append('E', name, 0, '');
        }
      };
    },
    wipe: function () {
      for (let k = 0; k < N; k++) {
        seqs[k] = -1;
        flash.erase(k);
        erases++;
      }
      writes = {};
      erased = {};
      sizes = {};
      start(0, 1);
    },
    stats: function () {
      return { erases: erases, sector: active, used: pos, damaged: damaged[0] | 0 };
    }
  };
}
