/**
 * Reads a recording straight off a unit's spool (the sim's card here; the layout of a real card's
 * AUDIO folder) and checks it with Node's crypto, independently of the firmware: every sealed
 * record opened with the unit's evidence key (MAC, then AES), the audio, the hash chain, and sample
 * continuity with declared gaps (docs/evidence.md). Used by the tests and `npm run faults`.
 */
import * as crypto from 'node:crypto';
/** What the reader needs of a card: its files (the sim's `SimSpoolMedia`, or a copy of a real card). */
export interface SpoolFiles {
  blobs: Map<string, Uint8Array>;
}
import type { RecState } from '../firmware/recorder';
import type { ChunkRecord } from '../sim/evidence-verify';

export const ZERO_HASH = '0'.repeat(64);
const sha256 = (data: Uint8Array | string) => crypto.createHash('sha256').update(data).digest('hex');

/** A chunk record (docs/evidence.md, "Chunk record"): the verifier's type. */
export type { ChunkRecord };

export function chainOf(rec: Omit<ChunkRecord, 'c'>): string {
  return sha256(`${rec.p}:${rec.r}:${rec.i}:${rec.s}:${rec.n}:${rec.t}:${rec.w}:${rec.h}`);
}

/** The recording's state file, as the firmware defines it (a type only: no firmware code runs here). */
export type SpoolState = RecState;

export interface SpoolRecording {
  state: SpoolState;
  chunks: { rec: ChunkRecord; audio: Uint8Array }[];
  /** Segments whose last record is torn (a power cut or card fault mid-append). */
  tornSegments: string[];
}

export function readState(media: SpoolFiles, rid: string): SpoolState | undefined {
  let best: SpoolState | undefined;
  for (const ab of ['A', 'B']) {
    const b = media.blobs.get(`${rid}${ab}.REC`);
    if (!b) continue;
    try {
      const st = JSON.parse(Buffer.from(b).toString('latin1')) as SpoolState;
      if (!best || st.q > best.q) best = st;
    } catch {
      // a torn copy
    }
  }
  return best;
}

/** The seal's keys from the unit's evidence key (docs/evidence.md, "Keys and the seal"). */
function keysOf(keyHex: string) {
  const k = Buffer.from(keyHex, 'hex');
  const derive = (label: string) => crypto.createHmac('sha256', k).update(label).digest();
  return { enc: derive('seal:enc'), mac: derive('seal:mac') };
}

/** Open one sealed record: its record and audio, or why it does not open. */
export function openRecord(keyHex: string, line: string, ct: Buffer): { rec: ChunkRecord; audio: Uint8Array } | string {
  let h: ChunkRecord & { v: string; m: string };
  try {
    h = JSON.parse(line);
  } catch {
    return 'header is not JSON';
  }
  const k = keysOf(keyHex);
  const iv = Buffer.from(h.v, 'hex');
  const want = crypto
    .createHmac('sha256', k.mac)
    .update(Buffer.concat([Buffer.from(h.c, 'hex'), iv, crypto.createHash('sha256').update(ct).digest()]))
    .digest();
  const got = Buffer.from(h.m, 'hex');
  if (got.length !== 32 || !crypto.timingSafeEqual(want, got)) return 'MAC does not match';
  const d = crypto.createDecipheriv('aes-256-cbc', k.enc, iv);
  d.setAutoPadding(false);
  const plain = Buffer.concat([d.update(ct), d.final()]);
  const { r, i, s, n, t, w, h: hh, p, c } = h;
  return { rec: { r, i, s, n, t, w, h: hh, p, c }, audio: new Uint8Array(plain.subarray(0, n)) };
}

/** Every chunk of `rid` still on the spool, opened with the unit's evidence key, in index order. */
export function readSpoolRecording(media: SpoolFiles, rid: string, keyHex: string): SpoolRecording {
  const state = readState(media, rid);
  if (!state) throw new Error(`no state for recording ${rid}`);
  const chunks: SpoolRecording['chunks'] = [];
  const tornSegments: string[] = [];
  for (const name of [...media.blobs.keys()].sort()) {
    if (!name.startsWith(rid) || !name.endsWith('.EVD')) continue;
    const b = Buffer.from(media.blobs.get(name)!);
    let off = 0;
    while (off < b.length) {
      const nl = b.indexOf(0x0a, off);
      if (nl < 0) {
        tornSegments.push(name);
        break;
      }
      const line = b.subarray(off, nl).toString('latin1');
      let n: number;
      try {
        n = JSON.parse(line).n;
      } catch {
        tornSegments.push(name);
        break;
      }
      const len = Math.ceil(n / 16) * 16;
      if (nl + 1 + len > b.length) {
        tornSegments.push(name);
        break;
      }
      const opened = openRecord(keyHex, line, b.subarray(nl + 1, nl + 1 + len));
      if (typeof opened === 'string') throw new Error(`${name} at ${off}: ${opened}`);
      chunks.push(opened);
      off = nl + 1 + len;
    }
  }
  chunks.sort((a, b) => a.rec.i - b.rec.i);
  return { state, chunks, tornSegments };
}

/**
 * Problems with a complete recording (every chunk from 0 still on the spool): hashes, chain, order,
 * continuity with the declared gaps. Empty when it is sound.
 */
export function checkSpoolRecording(r: SpoolRecording): string[] {
  const out: string[] = [];
  let prevC = ZERO_HASH;
  let next = 0;
  r.chunks.forEach(({ rec, audio }, k) => {
    if (rec.i !== k) out.push(`chunk ${k}: index ${rec.i}`);
    if (audio.length !== rec.n) out.push(`chunk ${k}: ${audio.length} bytes, record says ${rec.n}`);
    if (sha256(audio) !== rec.h) out.push(`chunk ${k}: audio hash mismatch`);
    if (rec.p !== prevC) out.push(`chunk ${k}: chain broken`);
    if (chainOf(rec) !== rec.c) out.push(`chunk ${k}: chain value wrong`);
    const gap = r.state.gaps.filter((g) => g.i === k).reduce((a, g) => a + g.s, 0);
    if (rec.s !== next + gap) out.push(`chunk ${k}: starts at ${rec.s}, expected ${next} + gap ${gap}`);
    next = rec.s + rec.n;
    prevC = rec.c;
  });
  // The state is saved every 16 chunks (and at start, end and resume): the chunks after it are
  // the ones the unit takes in from the card at its next boot.
  const n = r.state.n;
  if (n > r.chunks.length || r.chunks.length - n > 16)
    out.push(`state says ${n} chunks, spool holds ${r.chunks.length}`);
  else if (n > 0) {
    const last = r.chunks[n - 1].rec;
    if (r.state.hd !== last.c) out.push('state head is not chunk n-1');
    if (r.state.ns !== last.s + last.n) out.push(`state extent ${r.state.ns}, chunk n-1 ends at ${last.s + last.n}`);
  }
  return out;
}

/**
 * With a counter pattern (sample k of the room = k & 255) every sample tells its position: the
 * first sample whose value is not the one expected after the previous (plus declared gaps).
 */
export function counterBreaks(r: SpoolRecording): string[] {
  const out: string[] = [];
  let expect = -1;
  let next = 0;
  for (const { rec, audio } of r.chunks) {
    if (expect >= 0) expect = (expect + (rec.s - next)) & 255;
    for (let j = 0; j < audio.length; j++) {
      if (expect >= 0 && audio[j] !== expect) {
        out.push(`chunk ${rec.i} sample ${j}: ${audio[j]}, expected ${expect}`);
        return out;
      }
      expect = (audio[j] + 1) & 255;
    }
    next = rec.s + rec.n;
  }
  return out;
}
