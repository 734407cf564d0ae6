/**
 * Audio evidence capture (docs/evidence.md): the microphone runs all the time into a ring of
 * chunk-sized slots allocated once; an alarm turns the pre-trigger slots and everything after them
 * into one recording, chunk by chunk hashed, chained and written to the spool.
 *
 * Device rules kept here: no allocation and no per-sample JavaScript per block (blocks move with
 * `set`; a chunk is hashed and sealed natively from a `subarray` of its slot); one slot written per
 * block so a backlog never stalls the loop; nothing on the spool is ever overwritten to make room.
 * Each chunk is sealed (firmware/seal.ts) and appended to its recording's segment file in one
 * append; nothing on the card reveals audio without the evidence key.
 */
import type { Clock, Crypto, LogSink, Microphone, RecordStore, Spool } from '../hal/types';
import type { AudioConfig } from './config';
import { RAM_SLOTS, audioRing } from './config';
import { SealKeys, sealHolds, parseHeader, sealedLength, encryptInPlace, sealHead } from './seal';

/** A recording's persistent state (`RRRRA.REC` / `RRRRB.REC`). */
export interface RecState {
  /** Write counter: the higher valid copy wins. */
  q: number;
  r: string;
  rate: number;
  /** Samples per (full) chunk. */
  cs: number;
  /** Sample index of the press within the recording. */
  trig: number;
  /** Wall time of sample 0, UTC ms. */
  start: number;
  /** Chunks written. */
  n: number;
  /** Next sample index (the extent so far). */
  ns: number;
  /** Chain head (`c` of chunk n-1). */
  hd: string;
  /** First chunk the server has not confirmed. */
  up: number;
  gaps: { i: number; s: number; why: string }[];
  /** '' while recording; 'stop' | 'max' once ended. */
  end: string;
  /** The server confirmed the final manifest and every chunk. */
  fin: boolean;
  /** Segment being written, and the byte offset after chunk `n - 1` in it. */
  sg: number;
  wo: number;
  /** Segment and byte offset where chunk `up` starts. */
  us: number;
  uo: number;
  /** Evidence bytes sent over cellular (the cap `evidence.cellularKB`). */
  cb: number;
}

export interface RecorderStatus {
  /** Id of the recording in progress; '' when none (never undefined: Espruino 2v29, docs/espruino-notes.md). */
  recording: string;
  /** Recordings on the spool not yet fully uploaded. */
  stored: number;
  /** Blocks dropped because the ring was full (a stalled card), since boot. */
  droppedBlocks: number;
  /** Microphone overruns (blocks), since boot. */
  overruns: number;
}

export interface Recorder {
  /**
   * Start a recording (or keep the one running). `heldMs`: how long ago the press began, so the
   * manifest marks it. Returns the reference carried in DC-09 (`<unit>-<rid>`).
   */
  begin(heldMs: number): string;
  /** The running recording's reference, or '' when idle. */
  ref(): string;
  /** End the running recording (`stop` = authenticated stop from the centre). */
  end(reason: string): void;
  /** Recordings on the spool, oldest first (shared with the uploader). */
  states(): RecState[];
  /** Persist a state the uploader changed; drop it once finished (files erased). */
  save(st: RecState): void;
  /** Called whenever there is something new to upload. */
  onWork(fn: () => void): void;
  /** Health: ms since the last microphone block (0 before the first block is due). */
  silentFor(): number;
  /** Also hand each microphone block to `fn` (the installer's level check); `undefined` stops it. */
  listen(fn: ((block: Uint8Array) => void) | undefined): void;
  status(): RecorderStatus;
  stop(): void;
}

export interface RecorderDeps {
  clock: Clock;
  crypto: Crypto;
  spool: Spool;
  records: RecordStore;
  microphone: Microphone;
  log: LogSink;
  unit: string;
  audio: AudioConfig;
  /** The board's RAM budget for the ring, bytes. */
  audioBytes: number;
  /** Variables free as the recorder is made (the ring is refused when it would leave too few). */
  freeVars?: number;
  /** Trouble reports (full storage: 300 zone 7). */
  report: (code: number, qualifier: number, zone: number) => void;
  /** The seal's keys (`evidence.key`); without them nothing is recorded (nothing to seal with). */
  keys?: SealKeys;
}

/**
 * The pre-trigger ring on the card (docs/evidence.md, "The pre-trigger ring"): fixed places, one
 * per pre-trigger chunk, each holding a chunk encrypted as the seal encrypts it, rewritten in
 * place while the unit is idle.
 */
export const PRE_RING = 'PRE.RNG';
/** Internal-flash record holding the last recording id used. */
const RID_RECORD = 'rec.id';
/** Trouble code and zone for a full audio store (docs/evidence.md). */
const STORE_TROUBLE = 300;
const STORE_ZONE = 7;

function hex4(n: number): string {
  return ('000' + n.toString(16)).slice(-4);
}

/** Spool name of segment `sg` of recording `r`. */
export function segmentName(r: string, sg: number): string {
  return r + ('0' + sg.toString(16)).slice(-2) + '.EVD';
}

/** The chain value of a chunk record (docs/evidence.md), as its 32 bytes. */
export function chainOf(
  crypto: Crypto,
  p: string,
  r: string,
  i: number,
  s: number,
  n: number,
  t: number,
  w: number,
  h: string
): Uint8Array {
  return crypto.sha256(p + ':' + r + ':' + i + ':' + s + ':' + n + ':' + t + ':' + w + ':' + h);
}

/** Longest header line read back (a record's JSON is about 330 bytes). */
const HEAD_MAX = 512;
/** The state is saved at least every this many chunks (boot reads back the rest). */
const SAVE_EVERY = 16;

/**
 * The header of the sealed record at `off` in segment `seg`, where its ciphertext starts (`at`),
 * its length and the offset after it; `undefined` when there is none or the header is torn.
 */
export function readHead(
  spool: Spool,
  seg: string,
  off: number
): { h: import('./seal').ChunkHeader; at: number; len: number; next: number } | undefined {
  const text = spool.readAt(seg, off, HEAD_MAX);
  if (text === undefined) return undefined;
  const nl = text.indexOf('\n');
  if (nl < 0) return undefined;
  const h = parseHeader(text.substr(0, nl));
  if (!h) return undefined;
  const len = sealedLength(h.n);
  return { h: h, at: off + nl + 1, len: len, next: off + nl + 1 + len };
}

/**
 * The sealed record at `off` in segment `seg`: its header, the ciphertext as a byte string and the
 * offset after it; `undefined` when there is none or it is torn.
 */
export function readRecord(
  spool: Spool,
  seg: string,
  off: number
): { h: import('./seal').ChunkHeader; ct: string; next: number } | undefined {
  const x = readHead(spool, seg, off);
  if (!x) return undefined;
  const ct = spool.readAt(seg, x.at, x.len);
  if (ct === undefined || ct.length !== x.len) return undefined;
  return { h: x.h, ct: ct, next: x.next };
}

function errCode(e: unknown): string {
  return e && typeof e === 'object' && typeof (e as { code?: unknown }).code === 'string'
    ? (e as { code: string }).code
    : 'EIO';
}

/** Read a recording's state: the valid copy with the higher counter. */
function readState(spool: Spool, r: string): RecState | undefined {
  let best: RecState | undefined;
  const ab = ['A', 'B'];
  for (let k = 0; k < 2; k++) {
    const text = spool.readText(r + ab[k] + '.REC');
    if (text === undefined) continue;
    let st: RecState | undefined;
    try {
      st = JSON.parse(text) as RecState;
    } catch (e) {
      st = undefined;
    }
    if (st && st.r === r && typeof st.n === 'number' && typeof st.sg === 'number' && (!best || st.q > best.q))
      best = st;
  }
  return best;
}

/** Write the state to the copy the last write did not use. */
function writeState(spool: Spool, st: RecState): void {
  st.q++;
  spool.write(st.r + (st.q % 2 ? 'A' : 'B') + '.REC', JSON.stringify(st));
}

/**
 * Variables the rest of the boot and the unit's worst moment need beside the audio ring (issue
 * #17: the reporter's sockets, the uploader, the inputs and the service come after the recorder,
 * and an alarm in flight with an upload and an installer request must still leave 1,200 free).
 */
export const RING_RESERVE_VARS = 2700;
/** Bytes of one interpreter variable (Espruino's 13-byte JsVar on the boards; flat strings use whole ones). */
const VAR_BYTES = 13;

/**
 * The audio ring's budget: the board's, cut to what the free memory at this point can give beside
 * the reserve. A ring the heap cannot hold would run the boot out of memory (uncatchable on
 * Espruino) and leave the button unwatched; a shorter pre-trigger is logged by the recorder.
 */
export function ringRoom(boardBytes: number, freeVars: number): number {
  return Math.max(0, Math.min(boardBytes, (freeVars - RING_RESERVE_VARS) * VAR_BYTES));
}

/**
 * Variables that must stay free once the ring is made, or the recorder is refused. The ring takes
 * at least one slot whatever `ringRoom` gives (the board's usual boot has 0 bytes of room and
 * 2,700-2,800 free: the reserve is kept with a margin). Measured on the Espruino WiFi image
 * (`ESPRUINO_WIFI_ONLY=oom`, 2,500 variables held before it): ~610 free here, and a one-slot ring
 * (310) that still fitted (preMs 0) left the reporter too little to send the 305 or a panic. The
 * alarm's own floor (issue #17) is the bound: a boot short of it records nothing, and says so.
 */
export const RING_MIN_LEFT = 1200;

/**
 * What the seal needs of each chunk held, `n` of them (the RAM slots, the places on the card): its
 * length (`n`); in `m`, four numbers a chunk: its first sample's index, its unit and wall times,
 * and why samples were lost before it (M_S, M_T, M_W, M_WHY); in `b`, 80 bytes a chunk: the
 * SHA-256 of its audio, its IV and the SHA-256 of its ciphertext once encrypted (B_H, B_V, B_X).
 * Two arrays rather than seven: fewer bytes in the image, fewer variables held.
 */
interface Held {
  n: Uint32Array;
  m: Float64Array;
  b: Uint8Array;
}
const M_T = 1;
const M_W = 2;
const M_WHY = 3;
const B_V = 32;
const B_X = 48;

function held(n: number): Held {
  return { n: new Uint32Array(n), m: new Float64Array(n * 4), b: new Uint8Array(n * 80) };
}

function copyHeld(a: Held, i: number, b: Held, j: number): void {
  b.n[j] = a.n[i];
  b.m.set(a.m.subarray(i * 4, i * 4 + 4), j * 4);
  b.b.set(a.b.subarray(i * 80, i * 80 + 80), j * 80);
}

export function createRecorder(d: RecorderDeps): Recorder {
  const clock = d.clock;
  const spool = d.spool;
  const a = d.audio;
  const ring0 = audioRing(a);
  const cs = ring0.chunk;
  const bs = cs / 4;
  /** Pre-trigger chunks kept: on the card where the spool rewrites in place, else in RAM. */
  const pre = ring0.slots - 1;
  const onCard = !!spool.writeAt && pre > 0 && !!d.keys;
  let slots = onCard ? Math.min(ring0.slots, RAM_SLOTS) : ring0.slots;
  if (slots * cs > d.audioBytes) {
    // Cut, never raised: one slot at least, and one is enough where the spool's writes block (the
    // device's card): the chunk is on the card before the next block is taken. (A floor of two
    // here took twice the memory it was cutting: with preMs 0, 620 variables on the Espruino
    // WiFi, whose heap leaves room for one.)
    slots = Math.max(1, Math.floor(d.audioBytes / cs));
    // The board's usual boot with the pre-trigger audio on the card, or none kept (its heap leaves
    // one slot beside the reserve): no warning at every boot. Pre-trigger audio lost is one.
    const usual = onCard || pre === 0;
    d.log.write(
      usual ? 'info' : 'warn',
      'audio ring cut to ' +
        slots +
        ' chunks to fit ' +
        d.audioBytes +
        ' bytes: ' +
        (usual ? 'less slack for a slow card' : 'less pre-trigger audio')
    );
  }
  /** Full slots kept in RAM while idle (one slot is always the filling one). */
  const keep = slots - 1;
  const blockMs = (bs * 1000) / a.rate;
  /** A chunk's ciphertext: the chunk rounded up to whole AES blocks (a place on the card). */
  const E = sealedLength(cs);
  /** A RAM slot: the nonce its IV is made from, then the chunk (it is encrypted in place, seal.ts encryptInPlace). */
  const R = 16 + E;
  /** The IV nonces of this boot: 12 random bytes, then a count of the chunks encrypted since boot. */
  const nonce = d.keys ? d.crypto.randomBytes(16) : new Uint8Array(16);
  let nonces = 0;
  // Before the ring is made: a ring that fits by a whisker leaves the alarm path starving, and
  // running out later is not catchable on the board (app.ts reports the recorder's failure).
  if (d.freeVars !== undefined && d.freeVars - Math.ceil((slots * R) / VAR_BYTES) < RING_MIN_LEFT)
    throw new Error('no memory for the audio ring (' + d.freeVars + ' free)');

  // The ring in RAM: audio and, per slot, where its first sample sits in time and in the sample count.
  const ring = new Uint8Array(slots * R);
  const ram = held(slots);
  /** A slot is encrypted in place when it leaves RAM (no second buffer: 310 variables on the Espruino WiFi). */
  const sE = new Uint8Array(slots);
  const WHY = ['', 'mic', 'spool', 'boot', 'full'];

  // The pre-trigger ring on the card: place k at byte k * E of PRE_RING, oldest at `preHead`; here
  // only what the seal needs of each.
  const P = onCard ? pre : 0;
  const card = held(P);
  let preHead = 0;
  let preCount = 0;
  /** The card refused the pre-trigger ring (logged once until it takes a chunk again). */
  let preFailed = false;
  let head = 0;
  /** Full slots waiting (oldest at `head`); the filling slot is at head + count. */
  let count = 0;
  /** Samples since boot (including lost ones). */
  let live = 0;
  let lostWhy = 0;
  let dropped = 0;
  let overruns = 0;

  let states: RecState[] = [];
  let cur: RecState | undefined;
  /** Live sample index of the current recording's sample 0; NaN until fixed after a resume. */
  let base = 0;
  /** Full slots still to write after `end` before the recording is closed. */
  let flushing = -1;
  let endWhy = '';
  let maxTimer = -1;
  let full = false;
  /** A dropped chunk's reason, for the gap the next written chunk declares. */
  let pendingWhy = '';
  let work: () => void = function () {};

  /**
   * Chunks appended after the state was last saved (it is saved every SAVE_EVERY chunks): take
   * in every record that continues the chain with its seal intact. A torn tail (the append a
   * power cut interrupted) is left where it is and the recording goes on in the next segment.
   */
  function adoptWritten(st: RecState): void {
    const k = d.keys;
    if (!k) return;
    const seg = segmentName(st.r, st.sg);
    for (;;) {
      const x = readRecord(spool, seg, st.wo);
      if (!x || x.h.i !== st.n || x.h.p !== st.hd || x.h.r !== st.r || !sealHolds(d.crypto, k, x.h, x.ct)) break;
      if (x.h.s > st.ns) st.gaps.push({ i: st.n, s: x.h.s - st.ns, why: 'boot' });
      st.n++;
      st.ns = x.h.s + x.h.n;
      st.hd = x.h.c;
      st.wo = x.next;
    }
    if (spool.size(seg) > st.wo) {
      st.sg++;
      st.wo = 0;
    }
  }

  function persist(st: RecState): void {
    try {
      writeState(spool, st);
    } catch (e) {
      d.log.write('error', 'recording ' + st.r + ' state not saved: ' + errCode(e));
    }
  }

  function trouble(on: boolean): void {
    if (on === full) return;
    full = on;
    d.report(STORE_TROUBLE, on ? 1 : 3, STORE_ZONE);
    d.log.write(on ? 'error' : 'info', on ? 'audio store full: chunks are being lost' : 'audio store writable again');
  }

  /** A slot just filled (or closed early): queue it; when idle keep only the pre-trigger ones. */
  function completed(): void {
    count++;
    // Idle, the pre-trigger audio in RAM: the oldest goes (it rolls on). On the card the full
    // slot waits for the pump; one the card could not take in time goes when a block needs room.
    while (!cur && !onCard && count > keep) dropHead(0);
    if (count < slots) ram.n[(head + count) % slots] = 0;
  }

  /** Close the filling slot early (a gap follows it). */
  function closeFilling(): void {
    if (count < slots && ram.n[(head + count) % slots] > 0) completed();
  }

  /** Let the oldest RAM slot go (written, or lost); the one after it declares the loss when `why`. */
  function dropHead(why: number): void {
    const wasFull = count >= slots;
    head = (head + 1) % slots;
    count--;
    // The ring had no filling slot: the one just freed becomes it.
    if (wasFull) ram.n[(head + count) % slots] = 0;
    if (why && (count > 0 || ram.n[head] > 0)) ram.m[head * 4 + M_WHY] = why;
  }

  /**
   * Idle: move the oldest full RAM slot to the pre-trigger ring on the card, encrypted (the chain
   * and MAC wait for a recording). When the ring is full its oldest entry is the one rewritten.
   */
  function pumpIdle(): void {
    const slot = head;
    const n = ram.n[slot];
    const at = preCount === P ? preHead : (preHead + preCount) % P;
    if (!encryptSlot(slot)) {
      // No memory for the cipher's result just now: this chunk of pre-trigger audio is lost, the
      // unit carries on (an idle chore must never take the unit down).
      dropHead(2);
      return;
    }
    if (preCount === P) {
      // The entry about to be rewritten leaves the ring first: a torn rewrite is never read back.
      preHead = (preHead + 1) % P;
      preCount--;
    }
    try {
      (spool.writeAt as NonNullable<Spool['writeAt']>)(PRE_RING, at * E, [
        ring.subarray(slot * R + 16, slot * R + 16 + sealedLength(n))
      ]);
    } catch (x) {
      const code = errCode(x);
      // Busy: the slot waits in RAM, encrypted, for the next block (only the oldest entry has gone).
      if (code === 'EBUSY') return;
      if (!preFailed) d.log.write('error', 'pre-trigger audio not kept on the card: ' + code);
      preFailed = true;
      dropHead(2);
      return;
    }
    preFailed = false;
    copyHeld(ram, slot, card, at);
    preCount++;
    dropHead(0);
  }

  /**
   * Encrypt a full RAM slot in place, once (docs/evidence.md: the seal's AES-256-CBC, its IV made
   * from the slot's nonce in the same call; the audio's SHA-256 first), padded with zeros to whole
   * AES blocks. False when the cipher could not run.
   */
  function encryptSlot(slot: number): boolean {
    if (sE[slot]) return true;
    const n = ram.n[slot];
    const len = sealedLength(n);
    const buf = ring.subarray(slot * R, slot * R + 16 + len);
    try {
      const h = d.crypto.sha256(buf.subarray(16, 16 + n));
      // A short chunk's tail only: 2v29's fill walks the whole array whatever its start.
      if (len > n) buf.fill(0, 16 + n);
      // Never the same nonce twice under the key: this boot's random bytes and the count.
      nonces++;
      nonce[12] = nonces >>> 24;
      nonce[13] = nonces >>> 16;
      nonce[14] = nonces >>> 8;
      nonce[15] = nonces;
      buf.set(nonce);
      const e = encryptInPlace(d.crypto, d.keys as SealKeys, buf);
      ram.b.set(h, slot * 80);
      ram.b.set(e.v, slot * 80 + B_V);
      ram.b.set(e.x, slot * 80 + B_X);
    } catch (x) {
      return false;
    }
    sE[slot] = 1;
    return true;
  }

  /** Write the oldest chunk (a pre-trigger one from the card, else a full RAM slot) to the recording (at most one per call). */
  function pump(): void {
    if (!cur) {
      if (onCard && count > 0) pumpIdle();
      return;
    }
    if (preCount === 0 && count === 0) return;
    const st = cur;
    const fromCard = preCount > 0;
    const src = fromCard ? card : ram;
    const slot = fromCard ? preHead : head;
    const n = src.n[slot];
    const q = slot * 4;
    const o = slot * 80;
    const s0 = src.m[q];
    const w0 = src.m[q + M_W];
    if (base !== base) {
      // First chunk after a resume: the gap since the last written sample, from the wall clock.
      const expected = st.start + (st.ns * 1000) / st.rate;
      // A restart always loses audio: declare at least one sample even if the clock cannot tell.
      const est = Math.max(1, Math.round(((w0 - expected) * st.rate) / 1000));
      base = s0 - (st.ns + est);
      pendingWhy = 'boot';
    }
    const s = s0 - base;
    const t = Math.round(src.m[q + M_T]);
    const w = Math.round(w0);
    const seg = segmentName(st.r, st.sg);
    if (!fromCard && !encryptSlot(slot)) {
      // No memory for the cipher's result: the chunk is lost and declared, the recording goes on.
      lose(st, 'no memory to seal it', 'spool', false);
      return;
    }
    let c = '';
    let bytes = 0;
    try {
      const x = src.b.subarray(o + B_X, o + 80);
      const len = sealedLength(n);
      // A RAM slot was encrypted once, in place, above (a busy card's next try sends the same
      // bytes); a place on the card is read back and checked against the hash its MAC will cover.
      const ct = fromCard ? spool.readAt(PRE_RING, slot * E, len) : ring.subarray(slot * R + 16, slot * R + 16 + len);
      if (
        ct === undefined ||
        ct.length !== len ||
        (fromCard && d.crypto.hex(d.crypto.sha256(ct)) !== d.crypto.hex(x))
      ) {
        lose(st, 'pre-trigger audio unreadable on the card', 'spool', fromCard);
        return;
      }
      const v = src.b.subarray(o + B_V, o + B_X);
      const h = d.crypto.hex(src.b.subarray(o, o + 32));
      const chain = chainOf(d.crypto, st.hd, st.r, st.n, s, n, t, w, h);
      c = d.crypto.hex(chain);
      const head = sealHead(
        d.crypto,
        d.keys as SealKeys,
        { r: st.r, i: st.n, s: s, n: n, t: t, w: w, h: h, p: st.hd },
        chain,
        v,
        x
      );
      bytes = head.length + ct.length;
      // One append: the header line, then the ciphertext.
      spool.append(seg, [head, ct]);
    } catch (e) {
      const code = errCode(e);
      // The card is busy: the chunk waits for the next block.
      if (code === 'EBUSY') return;
      // Part of the append may have reached the card: the next chunk starts a new segment.
      if (spool.size(seg) > st.wo) {
        st.sg++;
        st.wo = 0;
      }
      trouble(true);
      persist(st);
      lose(st, code, code === 'ENOSPC' ? 'full' : 'spool', fromCard);
      return;
    }
    const gap = s > st.ns;
    if (gap) {
      const why = pendingWhy || WHY[src.m[q + M_WHY]] || 'mic';
      st.gaps.push({ i: st.n, s: s - st.ns, why: why });
    }
    pendingWhy = '';
    st.n++;
    st.ns = s + n;
    st.hd = c;
    st.wo += bytes;
    // Saved every SAVE_EVERY chunks, and at once when a gap is declared (its reason is not in the
    // records, which boot reads back).
    if (gap || st.n % SAVE_EVERY === 0) persist(st);
    trouble(false);
    release(fromCard); // (closes the recording when this was its last chunk)
    work();
  }

  /** The oldest chunk is lost (`what`, logged), the next written one declares the gap (`why`). */
  function lose(st: RecState, what: string, why: string, fromCard: boolean): void {
    d.log.write('error', 'chunk ' + st.r + ':' + st.n + ' lost: ' + what);
    pendingWhy = why;
    release(fromCard);
  }

  /** The oldest chunk has been written (or lost): the pre-trigger entry on the card, or the RAM slot. */
  function release(fromCard: boolean): void {
    if (fromCard) {
      preHead = (preHead + 1) % P;
      preCount--;
    } else dropHead(0);
    if (flushing > 0) flushing--;
    if (flushing === 0) close();
  }

  function close(): void {
    if (!cur) return;
    cur.end = endWhy;
    persist(cur);
    d.log.write('info', 'recording ' + cur.r + ' ended (' + endWhy + '): ' + cur.n + ' chunks');
    cur = undefined;
    flushing = -1;
    while (count > keep) {
      head = (head + 1) % slots;
      count--;
    }
    work();
  }

  let listener: ((block: Uint8Array) => void) | undefined;
  let lastBlock = clock.now();

  /**
   * A microphone block. The audio path's budget is 1/20 of a per-sample loop over the block
   * (issue #16), and 2v29 lexes the whole body of every function it calls, the branches it skips
   * included (docs/footprint.md, "Where a chunk's time goes"): so this body is what every block
   * needs, and what only some blocks need is a call.
   */
  function onBlock(block: Uint8Array, overrun: number): void {
    lastBlock = clock.now();
    if (listener) listener(block);
    if ((overrun > 0 || count >= slots) && !room(overrun)) return;
    const f = (head + count) % slots;
    const at = ram.n[f];
    if (at === 0) opened(f);
    ring.set(block, f * R + 16 + at);
    ram.n[f] = at + bs;
    live += bs;
    if (at + bs >= cs) completed();
    // Only when a chunk waits (pump's body is lexed whole even when it returns at once).
    if (count > 0 || preCount > 0) pump();
  }

  /** Overrun blocks, or no free slot: false when this block is dropped. */
  function room(overrun: number): boolean {
    if (overrun > 0) {
      overruns += overrun;
      live += overrun * bs;
      lostWhy = 1;
      closeFilling();
    }
    if (count >= slots && !cur && onCard) {
      // Idle and the card has not taken the oldest slot: it goes (declared if recorded around).
      dropHead(2);
    } else if (count >= slots) {
      // No free slot: the card has stalled longer than the slack. Drop, never overwrite.
      dropped++;
      live += bs;
      lostWhy = 2;
      pump();
      return false;
    }
    return true;
  }

  /** Slot `f` takes its first block: where it sits in time and in the samples. */
  function opened(f: number): void {
    const q = f * 4;
    ram.m[q] = live;
    ram.m[q + M_T] = lastBlock - blockMs;
    ram.m[q + M_W] = clock.wall() - blockMs;
    ram.m[q + M_WHY] = lostWhy;
    lostWhy = 0;
    sE[f] = 0;
  }

  /** Write every chunk waiting, oldest first, while the card takes them. */
  function flushAll(): void {
    for (let k = preCount + count; k > 0 && cur; k--) {
      const before = preCount + count;
      pump();
      if (preCount + count === before) break;
    }
  }

  function end(reason: string): void {
    if (!cur || flushing >= 0) return;
    if (maxTimer >= 0) clock.cancel(maxTimer);
    maxTimer = -1;
    endWhy = reason;
    closeFilling();
    flushing = preCount + count;
    if (flushing === 0) close();
  }

  // Recordings left on the spool by earlier boots (after every function above is defined:
  // Espruino does not hoist function declarations).
  /** Adopt the recordings on the card; the highest id seen. (A function: its loop's names die with it.) */
  function adoptAll(): number {
    let last = parseInt(d.records.read(RID_RECORD) || '0', 10) || 0;
    const names = spool.list();
    for (let i = 0; i < names.length; i++) {
      const nm = names[i];
      if (nm.length !== 9 || nm.substr(5) !== '.REC' || (nm.charAt(4) !== 'A' && nm.charAt(4) !== 'B')) continue;
      const r = nm.substr(0, 4);
      let known = false;
      for (let k = 0; k < states.length; k++) if (states[k].r === r) known = true;
      const found = known ? undefined : readState(spool, r);
      if (!found) continue;
      const id = parseInt(r, 16);
      if (id > last && id < 0x10000) last = id;
      adoptWritten(found);
      persist(found);
      states.push(found);
    }
    return last;
  }
  let lastId = adoptAll();
  // Resume the newest unfinished recording if it is within its maximum; end the others.
  let newest = -1;
  for (let i = 0; i < states.length; i++) if (states[i].end === '') newest = i;
  for (let i = 0; i < states.length; i++) {
    const st = states[i];
    if (st.end !== '') continue;
    if (i === newest && clock.wall() - st.start < a.maxS * 1000 && st.rate === a.rate && st.cs === cs) {
      cur = st;
      base = NaN;
      d.log.write('warn', 'recording ' + st.r + ' resumed after a restart');
      maxTimer = clock.after(Math.max(0, a.maxS * 1000 - (clock.wall() - st.start)), function () {
        end('max');
      });
    } else {
      st.end = 'max';
      persist(st);
    }
  }

  d.microphone.start({ rate: a.rate, blockSize: bs, onBlock: onBlock });

  return {
    listen: function (fn: ((block: Uint8Array) => void) | undefined) {
      listener = fn;
    },
    silentFor: function () {
      return d.microphone.running() ? clock.now() - lastBlock : 0;
    },
    begin: function (heldMs: number): string {
      if (cur && flushing >= 0) {
        // A new alarm while the last one's audio is being flushed: keep recording.
        flushing = -1;
        maxTimer = clock.after(a.maxS * 1000, function () {
          end('max');
        });
      }
      if (cur) return d.unit + '-' + cur.r;
      if (!d.keys) {
        // Nothing to seal with (no evidence key: not commissioned): no audio is kept in the clear.
        d.log.write('warn', 'no evidence key: not recording');
        return '';
      }
      lastId = lastId >= 0xffff ? 1 : lastId + 1;
      const r = hex4(lastId);
      try {
        d.records.write(RID_RECORD, String(lastId));
      } catch (e) {
        d.log.write('error', 'recording id not saved: ' + errCode(e));
      }
      // The oldest audio: the pre-trigger ring's oldest entry on the card, else a full RAM slot or
      // the one filling (both sit at `head`).
      const first = head;
      const any = ram.n[first] > 0 || count > 0;
      base = preCount > 0 ? card.m[preHead * 4] : any ? ram.m[first * 4] : live;
      const trig = Math.max(0, live - base - Math.round((heldMs * a.rate) / 1000));
      const st: RecState = {
        q: 0,
        r: r,
        rate: a.rate,
        cs: cs,
        trig: trig,
        start:
          preCount > 0
            ? Math.round(card.m[preHead * 4 + M_W])
            : any
              ? Math.round(ram.m[first * 4 + M_W])
              : clock.wall(),
        n: 0,
        ns: 0,
        // The chain's start: 32 zero bytes as hex (docs/evidence.md). Made here, not held as a
        // module-level literal: fewer bytes in the image, and no string held for good.
        hd: '0'.repeat(64),
        up: 0,
        gaps: [],
        end: '',
        fin: false,
        sg: 0,
        wo: 0,
        us: 0,
        uo: 0,
        cb: 0
      };
      cur = st;
      states.push(st);
      persist(st);
      maxTimer = clock.after(a.maxS * 1000, function () {
        end('max');
      });
      d.log.write(
        'info',
        'recording ' + r + ' started, ' + Math.round(((live - base) * 1000) / a.rate) + ' ms before the alarm'
      );
      // Put the pre-trigger audio on the spool on the next turn (this one raises the alarm, and
      // must stay light): after that a power cut loses at most the chunk being filled.
      clock.after(0, flushAll);
      return d.unit + '-' + r;
    },
    ref: function () {
      return cur && flushing < 0 ? d.unit + '-' + cur.r : '';
    },
    end: end,
    states: function () {
      return states;
    },
    save: function (st: RecState) {
      if (st.fin) {
        for (let g = 0; g <= st.sg; g++) spool.erase(segmentName(st.r, g));
        spool.erase(st.r + 'A.REC');
        spool.erase(st.r + 'B.REC');
        const keepList: RecState[] = [];
        for (let i = 0; i < states.length; i++) if (states[i] !== st) keepList.push(states[i]);
        states = keepList;
      } else persist(st);
    },
    onWork: function (fn: () => void) {
      work = fn;
    },
    status: function () {
      return { recording: cur ? cur.r || '' : '', stored: states.length, droppedBlocks: dropped, overruns: overruns };
    },
    stop: function () {
      d.microphone.stop();
      if (maxTimer >= 0) clock.cancel(maxTimer);
    }
  };
}
