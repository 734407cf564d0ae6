import { strict as assert } from 'node:assert';
import { createJournal, encodeRecord, decodeRecord, JournalRecord } from '../firmware/journal';
import { SimFlash, createSimRecordStore } from '../sim/flash';
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

  it('makes room when storage is full by dropping the oldest segment', () => {
    const flash = new SimFlash(3 * 4096);
    const j = open(flash, { segmentBytes: 3000, maxSegments: 10 });
    for (let n = 0; n < 200; n++) j.append('poll', { n, pad: 'x'.repeat(40) });
    const recs = j.records();
    assert.equal(recs[recs.length - 1].n, 199);
    assert.ok(flash.used() <= flash.capacity);
  });
});
