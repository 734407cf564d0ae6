/**
 * Reads a recording straight off a simulated spool and checks it with Node's crypto, independently
 * of the firmware: chunk records, audio, the hash chain, and sample continuity with declared gaps.
 */
import type { SimSpoolMedia } from '../../sim/hal';
import type { RecState } from '../../firmware/recorder';
import { ClientRecord, ZERO_HASH, sha256, chainOf } from './evidence-client';

export type ChunkRecord = ClientRecord;

/** The recording's state file, as the firmware defines it (a type only: no firmware code runs here). */
export type SpoolState = RecState;

export interface SpoolRecording {
  state: SpoolState;
  chunks: { rec: ChunkRecord; audio: Uint8Array }[];
}


export function readState(media: SimSpoolMedia, rid: string): SpoolState | undefined {
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

/** Every chunk of `rid` still on the spool (from `first`), in index order. */
export function readSpoolRecording(media: SimSpoolMedia, rid: string): SpoolRecording {
  const state = readState(media, rid);
  if (!state) throw new Error(`no state for recording ${rid}`);
  const chunks: SpoolRecording['chunks'] = [];
  for (const name of [...media.blobs.keys()].sort()) {
    if (!name.startsWith(rid) || !name.endsWith('.CHK')) continue;
    const rec = JSON.parse(Buffer.from(media.blobs.get(name)!).toString('latin1')) as ChunkRecord;
    const audio = media.blobs.get(name.replace('.CHK', '.PCM'));
    if (!audio) throw new Error(`${name} has no audio`);
    chunks.push({ rec, audio });
  }
  return { state, chunks };
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
  if (r.chunks.length !== r.state.n) out.push(`state says ${r.state.n} chunks, spool holds ${r.chunks.length}`);
  if (r.state.hd !== prevC) out.push('state head is not the last chunk');
  if (r.state.ns !== next) out.push(`state extent ${r.state.ns}, chunks end at ${next}`);
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
