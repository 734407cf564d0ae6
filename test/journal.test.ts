import { strict as assert } from 'node:assert';
import { createJournal, encodeRecord, decodeRecord, JournalRecord } from '../firmware/journal';
import { SimFlash, createSimRecordStore } from '../sim/flash';
import { SimNorFlash, SimPowerLoss, createSimFlashArea } from '../sim/nor';
import { createFlashStore } from '../firmware/flash-store';
import { createSimCrypto } from '../sim/crypto';
import type { Clock } from '../hal/types';
import { LooseRecord, looseJournal } from './support/loose-record';

const crypto = createSimCrypto();
function fakeClock(): Clock & { t: number } {
  return {
    t: 1000,
    now() {
      return this.t;
    },
    wall() {
      return 1_700_000_000_000 + this.t;
    },
    setWall() {},
    after: () => 0,
    every: () => 0,
    cancel() {}
  };
}
const open = (flash: SimFlash, opts = { segmentBytes: 4096, maxSegments: 4 }) =>
  looseJournal(createJournal(createSimRecordStore(flash), fakeClock(), crypto, opts));

describe('journal', () => {
  it('encodes a record as one checked line and decodes it back', () => {
    const rec: LooseRecord = { i: 7, k: 'panic', u: 1, t: 2, held: 1500 };
    const line = encodeRecord(crypto, rec as unknown as JournalRecord);
    assert.match(line, /^\{.*\}~[0-9a-f]{8}\n$/);
    assert.deepEqual(decodeRecord(crypto, line.slice(0, -1)), rec);
  });

  it('rejects a line whose CRC, JSON or shape is wrong', () => {
    const line = encodeRecord(crypto, { i: 1, k: 'boot', u: 0, t: 0 } as unknown as JournalRecord).slice(0, -1);
    assert.equal(decodeRecord(crypto, line.replace('boot', 'boom')), undefined);
    assert.equal(decodeRecord(crypto, line.slice(0, -1)), undefined);
    assert.equal(decodeRecord(crypto, 'garbage'), undefined);
    const body = '{"k":"x"}';
    assert.equal(
      decodeRecord(crypto, `${body}~${(crypto.crc32(body) >>> 0).toString(16).padStart(8, '0')}`),
      undefined
    );
  });

  it('keeps records across a reopen and continues the sequence', () => {
    const flash = new SimFlash();
    const j1 = open(flash);
    j1.append('boot');
    j1.append('panic', { held: 1500 });
    const j2 = open(flash);
    assert.deepEqual(
      j2.records().map((r) => [r.i, r.k]),
      [
        [1, 'boot'],
        [2, 'panic']
      ]
    );
    assert.equal(j2.append('boot').i, 3);
  });

  it('never lets a record overwrite the fixed fields', () => {
    const j = open(new SimFlash());
    const r = j.append('panic', { i: 99, k: 'forged', held: 1 });
    assert.equal(r.i, 1);
    assert.equal(r.k, 'panic');
  });

  it('stores only 7-bit text, so no byte 0xFF can reach a StorageFile', () => {
    const flash = new SimFlash();
    open(flash).append('note', { text: 'caf\u00e9 \u00ff' });
    const raw = flash.read('j.0')!;
    assert.ok(!/[^\x0a\x20-\x7e]/.test(raw));
  });

  it('skips a bit-flipped record and keeps its neighbours', () => {
    const flash = new SimFlash();
    const j = open(flash);
    j.append('a');
    j.append('b');
    j.append('c');
    const raw = flash.read('j.0')!;
    flash.flipByte('j.0', raw.indexOf('"b"') + 1, 0x02);
    const j2 = open(flash);
    assert.equal(j2.corruptAtOpen(), 1);
    assert.deepEqual(
      j2.records().map((r) => r.k),
      ['a', 'c']
    );
  });

  it('survives a write cut short by a power failure, and the next record is intact', () => {
    const flash = new SimFlash();
    const j = open(flash);
    j.append('a');
    j.append('b');
    flash.truncate('j.0', flash.read('j.0')!.length - 10);
    const j2 = open(flash);
    assert.equal(j2.corruptAtOpen(), 1);
    j2.append('c');
    const j3 = open(flash);
    assert.deepEqual(
      j3.records().map((r) => r.k),
      ['a', 'c']
    );
    assert.equal(j3.corruptAtOpen(), 1);
  });

  it('an append that fails part-way (full flash) costs only that record', () => {
    const flash = new SimFlash();
    const store = createSimRecordStore(flash);
    let failNext = false;
    const flaky = {
      ...store,
      appendFile(name: string) {
        const f = store.appendFile(name);
        return {
          ...f,
          append(data: string) {
            if (failNext) {
              failNext = false;
              f.append(data.slice(0, 12)); // part of the line reached flash
              throw Object.assign(new Error('storage full'), { code: 'ENOSPC' });
            }
            f.append(data);
          }
        };
      }
    };
    const j = looseJournal(createJournal(flaky, fakeClock(), crypto, { segmentBytes: 4096, maxSegments: 4 }));
    j.append('a');
    failNext = true;
    assert.throws(() => j.append('lost'), /storage full/);
    j.append('b');
    const reopened = open(flash);
    assert.deepEqual(
      reopened.records().map((r) => r.k),
      ['a', 'b']
    );
    assert.equal(reopened.corruptAtOpen(), 1);
  });

  it('rotates segments and drops the oldest, carrying what `retain` keeps', () => {
    const flash = new SimFlash();
    const retain = (recs: LooseRecord[]) => recs.filter((r) => r.k === 'alarm');
    const j = open(flash, { segmentBytes: 300, maxSegments: 2, retain } as any);
    j.append('alarm', { n: 1 });
    for (let n = 0; n < 30; n++) j.append('poll', { n });
    const names = flash.names('j.');
    assert.ok(names.length <= 2, names.join(','));
    const recs = open(flash, { segmentBytes: 300, maxSegments: 2, retain } as any).records();
    assert.equal(recs[0].k, 'alarm', 'the undelivered alarm is carried forward');
    assert.equal(recs[0].i, 1);
    assert.equal(recs[recs.length - 1].n, 29);
  });

  it('on the raw-flash store, power cuts at random words (inside appends, segment drops and sector erases) lose at most the record being written; owed alarms are never lost', () => {
    // 4 KB sectors (the board's are 16 KB): the journal's three segments and what it carries fill
    // about half of one, so the store rotates and erases often.
    const nor = new SimNorFlash(4096, 3);
    let seed = 41;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    /** Alarms not yet delivered (by `n`): the journal must carry them forward when it drops a segment. */
    const owed = new Set<number>();
    const options = {
      segmentBytes: 600,
      maxSegments: 3,
      retain: (recs: LooseRecord[]) => recs.filter((r) => r.k === 'alarm' && owed.has(r.n))
    };
    const reopen = () =>
      looseJournal(
        createJournal(createFlashStore(createSimFlashArea(nor), crypto), fakeClock(), crypto, options as any)
      );
    /** What each successful append wrote, by `n`. */
    const done = new Map<number, string>();
    let j = reopen();
    const landed = { erase: 0, write: 0 };
    for (let n = 0; n < 1500; n++) {
      const kind = rnd(12) === 0 ? 'alarm' : 'poll';
      const armed = rnd(4) === 0;
      // Mostly inside the line being written; now and then far enough on to land in an erase.
      if (armed) nor.cutAfterWords = rnd(5) === 0 ? rnd(3000) : rnd(30);
      try {
        j.append(kind, { n, pad: 'x'.repeat(rnd(30)) });
        nor.cutAfterWords = undefined;
        done.set(n, kind);
        if (kind === 'alarm') owed.add(n);
      } catch (e) {
        if (!(e instanceof SimPowerLoss)) throw e;
        landed[nor.lostIn!]++;
        nor.revive();
        j = reopen();
        const recs = j.records();
        const ns = recs.map((r) => r.n as number);
        for (const a of owed) assert.ok(ns.includes(a), `cut at record ${n}: owed alarm ${a} lost`);
        for (const r of recs) {
          assert.ok(done.get(r.n) === r.k || r.n === n, `cut at record ${n}: record ${r.n} was never written`);
        }
        // The polls kept are every successful one from the oldest kept on: only rotation drops, oldest first.
        const polls = ns.filter((x) => done.get(x) === 'poll');
        const from = Math.min(...polls);
        const expected = [...done.keys()].filter((x) => x >= from && done.get(x) === 'poll');
        assert.deepEqual(polls, expected, `cut at record ${n}: a poll after ${from} was lost`);
        const last = Math.max(-1, ...done.keys());
        if (last >= 0) assert.ok(ns.includes(last), `cut at record ${n}: the last record written (${last}) is gone`);
        if (recs.length) assert.ok(j.nextIndex() > Math.max(...recs.map((r) => r.i)), 'the sequence continues');
      }
      // Delivery: an owed alarm is delivered after a while.
      if (owed.size > 3) owed.delete(Math.min(...owed));
    }
    assert.ok(landed.erase >= 5 && landed.write >= 50, `cuts in erases ${landed.erase}, in writes ${landed.write}`);
    assert.ok(
      nor.erases.every((e) => e > 3),
      `every sector erased several times: ${nor.erases.join(', ')}`
    );
  });

  it('makes room when storage is full by dropping the oldest segment', () => {
    const flash = new SimFlash(3 * 4096);
    const j = open(flash, { segmentBytes: 3000, maxSegments: 10 });
    for (let n = 0; n < 200; n++) j.append('poll', { n, pad: 'x'.repeat(40) });
    const recs = j.records();
    assert.equal(recs[recs.length - 1].n, 199);
    assert.ok(flash.used() <= flash.capacity);
  });
});
