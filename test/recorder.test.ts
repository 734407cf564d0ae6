import { strict as assert } from 'node:assert';
import * as nodeCrypto from 'node:crypto';
import { createSimUnit, SimUnit } from '../sim/unit';
import { simDefaultConfig, SIM_KEYS } from '../sim/default-config';
import { generators } from '../sim/mic';
import type { Config } from '../firmware/config';
import type { SimHalOptions } from '../sim/hal';
import { useFakeTime } from './support/fake-time';
import { readSpoolRecording as readSealed, checkSpoolRecording, counterBreaks, readState } from '../tools/spool-reader';
import type { SimSpoolMedia } from '../sim/hal';
import { loose } from './support/loose-record';
import { PRE_RING } from '../firmware/recorder';
import { longestCounterRun } from './support/counter-run';

/** The recording as the card holds it, opened with the unit's evidence key. */
const readSpoolRecording = (m: SimSpoolMedia, rid: string) => readSealed(m, rid, SIM_KEYS.evidence);

const START = Date.UTC(2026, 10, 23, 12, 0, 0);
const RATE = 8000;
const CHUNK = 4000;

describe('audio capture: ring, chunks, chain and spool (sim microphone, no server)', () => {
  const t = useFakeTime(START);
  let unit: SimUnit | undefined;
  afterEach(() => {
    unit?.shutdown();
    unit = undefined;
  });

  function boot(tweak?: (c: Config) => void, options: SimHalOptions = {}): SimUnit {
    // An evidence key (to seal with) and no server (port 1 is never open): chunks stay on the card.
    const c = simDefaultConfig(undefined, { port: 1 });
    if (tweak) tweak(c);
    unit = createSimUnit(c, options);
    unit.sim.world.mic.source(generators.counter());
    return unit;
  }
  /** Hold the button long enough to trigger; returns fake ms when the press began. */
  function hold(u: SimUnit): number {
    const at = Date.now();
    u.sim.world.button.press(2000);
    t.clock.tick(2100);
    return at;
  }

  it('a counter pattern comes out bit-exact across the trigger seam, with 4 s before the alarm', () => {
    const u = boot();
    t.clock.tick(10_000);
    const pressAt = hold(u);
    t.clock.tick(20_000);
    const rid = u.app.status().recording;
    assert.equal(rid, '0001');
    const rec = readSpoolRecording(u.sim.world.spool, rid);
    assert.deepEqual(checkSpoolRecording(rec), []);
    assert.deepEqual(counterBreaks(rec), [], 'every sample in order, none lost or doubled');
    assert.deepEqual(rec.state.gaps, []);
    assert.ok(rec.chunks.length >= 48, `${rec.chunks.length} chunks of 0.5 s`);
    assert.ok(rec.chunks.every((c) => c.rec.n === CHUNK));
    // The trigger was recognised 1.5 s into the press; the ring held at least 4 s before that.
    const recognisedAt = pressAt + 1500 + 25;
    assert.ok(
      rec.chunks[0].rec.w <= recognisedAt - 4000,
      `audio from ${recognisedAt - rec.chunks[0].rec.w} ms before the alarm`
    );
    const pressSample = rec.state.trig;
    const pressWall = rec.state.start + (pressSample * 1000) / RATE;
    assert.ok(Math.abs(pressWall - pressAt) <= 150, `press marked ${pressWall - pressAt} ms from when it began`);
    // Unit time and centre-corrected time advance with the samples.
    for (let i = 1; i < rec.chunks.length; i++) {
      assert.equal(rec.chunks[i].rec.w - rec.chunks[i - 1].rec.w, 500);
      assert.equal(rec.chunks[i].rec.t - rec.chunks[i - 1].rec.t, 500);
    }
  });

  it("each chunk's IV is E(K_enc, nonce): 12 random bytes per boot and a count, so no IV repeats, within a boot or across a power cut", () => {
    const u = boot();
    t.clock.tick(6000);
    hold(u);
    t.clock.tick(5000);
    u.powerCut();
    t.clock.tick(5000);
    const media = u.sim.world.spool;
    const kEnc = nodeCrypto.createHmac('sha256', Buffer.from(SIM_KEYS.evidence, 'hex')).update('seal:enc').digest();
    const nonces: Buffer[] = [];
    for (const name of [...media.blobs.keys()].sort()) {
      if (!name.endsWith('.EVD')) continue;
      const b = Buffer.from(media.blobs.get(name)!);
      for (let off = 0; off < b.length;) {
        const nl = b.indexOf(0x0a, off);
        const h = JSON.parse(b.subarray(off, nl).toString('latin1'));
        // The IV decrypted with the block cipher alone gives back the nonce the unit chose.
        const d = nodeCrypto.createDecipheriv('aes-256-ecb', kEnc, null);
        d.setAutoPadding(false);
        nonces.push(Buffer.concat([d.update(Buffer.from(h.v, 'hex')), d.final()]));
        off = nl + 1 + Math.ceil(h.n / 16) * 16;
      }
    }
    assert.ok(nonces.length >= 25, `${nonces.length} chunks`);
    const boots = new Set(nonces.map((n) => n.subarray(0, 12).toString('hex')));
    assert.equal(boots.size, 2, 'one random prefix per boot');
    assert.equal(new Set(nonces.map((n) => n.toString('hex'))).size, nonces.length, 'no nonce (so no IV) twice');
    for (let i = 1; i < nonces.length; i++) {
      if (!nonces[i].subarray(0, 12).equals(nonces[i - 1].subarray(0, 12))) continue;
      assert.ok(nonces[i].readUInt32BE(12) > nonces[i - 1].readUInt32BE(12), 'the count rises within a boot');
    }
    assert.deepEqual(checkSpoolRecording(readSpoolRecording(media, '0001')), [], 'and every chunk opens and verifies');
  });

  it('the panic report names the recording in DC-09 extended data', () => {
    const u = boot();
    t.clock.tick(5000);
    hold(u);
    const panic = u.app.journal.records().find((r) => r.k === 'ev' && r.c === 120 && r.q === 1);
    assert.equal(loose(panic)?.x, 'VSIM-0001-0001');
  });

  it('a card that stalls shorter than the RAM slack (1 s) loses nothing; a longer stall is a declared gap, never an overwrite', () => {
    const u = boot();
    t.clock.tick(6000);
    hold(u);
    t.clock.tick(3000);
    const media = u.sim.world.spool;
    media.stalled = true;
    // 0.8 s: the SD specification lets a card stay busy up to 500 ms per write; two spare slots of
    // 0.5 s hold the audio meanwhile (firmware/config.ts RAM_SLOTS)
    t.clock.tick(800);
    media.stalled = false;
    t.clock.tick(2000);
    assert.ok(media.busyRefusals > 0, 'the card did refuse writes');
    let rec = readSpoolRecording(media, '0001');
    assert.deepEqual(rec.state.gaps, [], 'a 0.8 s stall is absorbed by the RAM slots');
    assert.deepEqual(counterBreaks(rec), []);
    const before = rec.chunks.map((c) => c.rec.h);

    media.stalled = true;
    t.clock.tick(8000);
    media.stalled = false;
    t.clock.tick(3000);
    rec = readSpoolRecording(media, '0001');
    assert.deepEqual(checkSpoolRecording(rec), []);
    assert.deepEqual(counterBreaks(rec), [], 'the declared gap is exactly the audio dropped');
    assert.equal(rec.state.gaps.length, 1);
    assert.equal(rec.state.gaps[0].why, 'spool');
    assert.ok(rec.state.gaps[0].s > 0 && rec.state.gaps[0].s <= (8000 * RATE) / 1000);
    assert.deepEqual(
      rec.chunks.slice(0, before.length).map((c) => c.rec.h),
      before,
      'chunks already written untouched'
    );
    assert.ok(u.app.recorder.status().droppedBlocks > 0);
  });

  it('idle, the pre-trigger audio waits on the card, sealed, in fixed places rewritten in place', () => {
    const u = boot();
    const media = u.sim.world.spool;
    t.clock.tick(4000);
    const lap = media.blobs.get(PRE_RING)?.length ?? 0;
    assert.equal(lap, 8 * CHUNK, 'one place per pre-trigger chunk (4 s of 0.5 s chunks), AES blocks only: no header');
    const rewrittenBefore = media.rewritten;
    t.clock.tick(60_000);
    assert.equal(media.blobs.get(PRE_RING)?.length, lap, 'the file never grows past its first lap');
    // 120 chunks of 4,000 B a minute, all in place
    assert.equal(media.rewritten - rewrittenBefore, 120 * CHUNK);
    const card = Buffer.from(media.blobs.get(PRE_RING)!);
    assert.ok(longestCounterRun(card) < 16, 'no run of the audio in the clear');
    assert.equal(u.app.recorder.status().recording, '');
    const rid = (hold(u), u.app.status().recording);
    t.clock.tick(6000);
    const rec = readSpoolRecording(media, rid);
    assert.deepEqual(checkSpoolRecording(rec), []);
    assert.deepEqual(counterBreaks(rec), [], 'the chunks from the card join the chunks from RAM without a seam');
    assert.deepEqual(rec.state.gaps, []);
  });

  it('with one RAM slot (the Espruino WiFi short of memory) the recording still holds 4 s before the trigger, seamless', () => {
    const u = boot();
    // 3,000 variables free at boot: the ring gets what is left beside the 2,700 kept (firmware/recorder.ts ringRoom)
    u.sim.world.memory.free = 3000;
    u.powerCut();
    t.clock.tick(10_000);
    assert.ok(u.sim.world.log.some((l) => /audio ring cut to 1 chunks/.test(l.message)));
    const pressAt = hold(u);
    t.clock.tick(10_000);
    const rec = readSpoolRecording(u.sim.world.spool, u.app.status().recording);
    assert.deepEqual(checkSpoolRecording(rec), []);
    assert.deepEqual(rec.state.gaps, []);
    assert.deepEqual(counterBreaks(rec), [], 'every sample in order across the card, the slot and the seam');
    u.sim.world.memory.free = 6000;
    // The trigger is recognised 1.5 s into the press: 4 s of audio before that.
    const recognisedAt = pressAt + 1500;
    assert.ok(recognisedAt - rec.state.start >= 4000, `${recognisedAt - rec.state.start} ms before the trigger`);
  });

  it('no pre-trigger audio (preMs 0) short of memory: the ring is cut to one slot, never raised to two, and the recording is whole', () => {
    // preMs 0 keeps nothing on the card, so the slots are all in RAM. With the ring's room below
    // one chunk (3,000 free: 300 variables beside the 2,700 kept, 3,900 bytes) the recorder took
    // two slots, twice the memory it was cutting: 620 variables on the Espruino WiFi, where the
    // default config's one slot leaves ~150 above the floor at the worst moment.
    const u = boot((c) => (c.audio.preMs = 0));
    u.sim.world.memory.free = 3000;
    u.powerCut();
    t.clock.tick(5000);
    const cut = u.sim.world.log.filter((l) => /audio ring cut to/.test(l.message)).map((l) => l.message);
    assert.deepEqual(cut, ['audio ring cut to 1 chunks to fit 3900 bytes: less slack for a slow card']);
    hold(u);
    t.clock.tick(10_000);
    const rec = readSpoolRecording(u.sim.world.spool, u.app.status().recording);
    u.sim.world.memory.free = 6000;
    assert.deepEqual(checkSpoolRecording(rec), []);
    assert.deepEqual(rec.state.gaps, []);
    assert.deepEqual(counterBreaks(rec), [], 'every sample in order through the one slot');
    assert.ok(rec.chunks.length >= 19, `${rec.chunks.length} chunks of 0.5 s`);
    assert.equal(u.app.recorder.status().droppedBlocks, 0);
  });

  it('a pre-trigger chunk damaged on the card is a declared gap, and the rest of the recording verifies', () => {
    const u = boot();
    const media = u.sim.world.spool;
    t.clock.tick(10_000);
    // The button is held 2 s before the trigger: corrupt a place the recording will take from the card.
    u.sim.world.button.press(2000);
    t.clock.tick(1000);
    const ring = media.blobs.get(PRE_RING)!;
    for (let i = 0; i < CHUNK; i += 64) ring[i] ^= 0x55;
    t.clock.tick(1100);
    t.clock.tick(6000);
    const rec = readSpoolRecording(media, u.app.status().recording);
    assert.deepEqual(checkSpoolRecording(rec), [], 'every chunk written holds its seal and chain');
    assert.deepEqual(
      rec.state.gaps.map((g) => [g.s, g.why]),
      [[CHUNK, 'spool']],
      'exactly the damaged chunk is missing, and said so'
    );
    assert.deepEqual(counterBreaks(rec), [], 'the declared gap is exactly the audio lost');
    assert.ok(u.sim.world.log.some((l) => /chunk .* lost: pre-trigger audio unreadable/.test(l.message)));
  });

  it('a card that refuses the pre-trigger ring costs the pre-trigger audio only: the recording starts from RAM', () => {
    const u = boot();
    const media = u.sim.world.spool;
    media.capacity = 0; // full: the ring cannot be laid out
    t.clock.tick(6000);
    assert.ok(u.sim.world.log.some((l) => /pre-trigger audio not kept on the card: ENOSPC/.test(l.message)));
    media.capacity = 4 * 1024 * 1024;
    const at = hold(u);
    t.clock.tick(6000);
    const rec = readSpoolRecording(media, u.app.status().recording);
    assert.deepEqual(checkSpoolRecording(rec), []);
    assert.deepEqual(counterBreaks(rec), []);
    assert.ok(rec.state.start <= at, 'the RAM slots still give audio from before the press');
  });

  it('a microphone overrun closes the chunk and declares the missing blocks', () => {
    const u = boot();
    t.clock.tick(5000);
    hold(u);
    t.clock.tick(1200);
    u.sim.world.mic.overrun(2);
    t.clock.tick(3000);
    const rec = readSpoolRecording(u.sim.world.spool, '0001');
    assert.deepEqual(checkSpoolRecording(rec), []);
    assert.deepEqual(
      rec.state.gaps.map((g) => [g.s, g.why]),
      [[2 * 1000, 'mic']]
    );
    assert.deepEqual(counterBreaks(rec), []);
    assert.ok(
      rec.chunks.some((c) => c.rec.n < CHUNK),
      'the chunk before the gap is short'
    );
  });

  it('power cuts at random moments each lose at most the chunk being filled, declared, and the recording resumes', () => {
    const u = boot();
    t.clock.tick(5000);
    hold(u);
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const cuts = 12;
    for (let k = 0; k < cuts; k++) {
      t.clock.tick(1000 + Math.floor(rnd() * 4000));
      u.powerCut();
    }
    t.clock.tick(3000);
    assert.equal(u.app.status().recording, '0001', 'the same recording, resumed after every cut');
    const rec = readSpoolRecording(u.sim.world.spool, '0001');
    assert.deepEqual(checkSpoolRecording(rec), []);
    const boots = rec.state.gaps.filter((g) => g.why === 'boot');
    assert.equal(boots.length, cuts, 'every restart is declared');
    for (const g of boots)
      assert.ok(g.s <= CHUNK + 1000, `a restart lost ${g.s} samples: at most the chunk being filled`);
    assert.deepEqual(counterBreaks(rec), [], 'the gaps declared from the clock are exactly the audio lost');
    assert.ok(rec.chunks.length > 60);
  });

  it('torn writes at a power cut: a half-written state copy, a torn append, records appended after the last state', () => {
    const u = boot();
    t.clock.tick(5000);
    hold(u);
    t.clock.tick(4000);
    const media = u.sim.world.spool;
    // 1. The newest state copy torn mid-write: the other copy is used.
    let st = readState(media, '0001')!;
    const newest = `0001${st.q % 2 ? 'A' : 'B'}.REC`;
    media.blobs.set(newest, media.blobs.get(newest)!.slice(0, 20));
    u.powerCut();
    t.clock.tick(3000);
    assert.equal(u.app.status().recording, '0001');
    // 2. An append torn part-way (100 bytes of a chunk reach the card), then the power goes: the
    //    torn tail stays where it is and the recording goes on in the next segment.
    media.tearNextAppend = 100;
    t.clock.tick(700); // (the cut lands inside a chunk: a restart there loses audio, as always on a board)
    u.powerCut();
    t.clock.tick(3000);
    st = readState(media, '0001')!;
    assert.ok(st.sg >= 1, `the recording moved on to segment ${st.sg}`);
    let rec = readSpoolRecording(media, '0001');
    assert.ok(rec.tornSegments.includes('000100.EVD'), 'the torn record is left in segment 00');
    assert.deepEqual(checkSpoolRecording(rec), []);
    assert.deepEqual(counterBreaks(rec), [], 'the torn chunk is a declared gap');
    // 3. Chunks appended after the state was last saved (it is saved every 16): adopted at boot.
    //    (Cut inside a chunk again: the sim boots in no time, so a cut on a chunk's edge loses
    //    nothing, and the one sample a restart always declares would be one too many.)
    t.clock.tick(4100);
    const before = readState(media, '0001')!;
    const stale = `0001${before.q % 2 ? 'A' : 'B'}.REC`;
    media.blobs.delete(stale);
    const rolledBack = readState(media, '0001')!;
    u.powerCut();
    t.clock.tick(3000);
    rec = readSpoolRecording(media, '0001');
    assert.deepEqual(checkSpoolRecording(rec), [], 'chain and continuity intact');
    assert.deepEqual(counterBreaks(rec), []);
    const now = readState(media, '0001')!;
    assert.ok(now.n > rolledBack.n, 'the chunks written after the older state were taken in');
  });

  it('a full card: trouble 300 zone 7, chunks declared lost, nothing overwritten; restore once space returns', () => {
    const u = boot(undefined, { spoolBytes: 60_000 });
    t.clock.tick(5000);
    hold(u);
    t.clock.tick(10_000);
    const media = u.sim.world.spool;
    assert.ok(media.used() <= 60_000);
    const evs = () =>
      u.app.journal
        .records()
        .filter((r) => r.k === 'ev' && r.c === 300)
        .map((r) => [loose(r).q, loose(r).z]);
    assert.deepEqual(evs(), [[1, 7]]);
    const rec = readSpoolRecording(media, '0001');
    assert.deepEqual(checkSpoolRecording(rec), [], 'everything written is intact');
    const kept = rec.chunks.map((c) => c.rec.h);
    // Room on the card again (the server took earlier recordings): recording carries on.
    media.capacity += 40_000;
    t.clock.tick(1500);
    assert.deepEqual(evs(), [
      [1, 7],
      [3, 7]
    ]);
    const after = readSpoolRecording(media, '0001');
    assert.deepEqual(
      after.chunks.slice(0, kept.length).map((c) => c.rec.h),
      kept,
      'nothing written was touched'
    );
    assert.deepEqual(checkSpoolRecording(after), []);
    const full = after.state.gaps.filter((g) => g.why === 'full');
    assert.equal(full.length, 1, 'the lost stretch is one declared gap');
    assert.ok(full[0].s >= (5000 * RATE) / 1000, `${full[0].s} samples lost while full`);
  });

  it('ends at the configured maximum; the next alarm starts a new recording', () => {
    const u = boot((c) => (c.audio.maxS = 60));
    t.clock.tick(5000);
    hold(u);
    t.clock.tick(61_000);
    assert.equal(u.app.status().recording, '');
    const st = readState(u.sim.world.spool, '0001')!;
    assert.equal(st.end, 'max');
    const seconds = st.ns / RATE;
    assert.ok(seconds >= 60 && seconds <= 66, `${seconds} s recorded`);
    hold(u);
    assert.equal(u.app.status().recording, '0002');
  });
});
