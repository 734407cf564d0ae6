import { strict as assert } from 'node:assert';
import { SimFlash, StorageError, createSimRecordStore } from '../sim/flash';
import { createJournal } from '../firmware/journal';
import { createSimCrypto } from '../sim/crypto';
import { createSimClock } from '../sim/clock';
import { looseJournal } from './support/loose-record';

describe('sim flash keeps Espruino Storage limits', () => {
  it('refuses names over 28 characters (27 for append files)', () => {
    const s = createSimRecordStore(new SimFlash());
    s.write('a'.repeat(28), 'x');
    assert.throws(() => s.write('a'.repeat(29), 'x'), /1-28 characters/);
    s.appendFile('b'.repeat(27)).append('x');
    assert.throws(() => s.appendFile('b'.repeat(28)), /1-27 characters/);
  });

  it('refuses byte 0xFF in append files and non-byte characters anywhere', () => {
    const s = createSimRecordStore(new SimFlash());
    assert.throws(() => s.appendFile('log').append('ok\xff'), /0xFF/);
    assert.throws(() => s.write('r', '\u0100'), /not a byte/);
    s.write('r', '\xff\x00');
    assert.equal(s.read('r'), '\xff\x00');
  });

  it('fails with ENOSPC at capacity and keeps what was stored', () => {
    const flash = new SimFlash(8192);
    const s = createSimRecordStore(flash);
    s.write('a', 'x'.repeat(4000));
    assert.throws(
      () => s.write('b', 'y'.repeat(5000)),
      (e: any) => e.code === 'ENOSPC'
    );
    assert.equal(s.read('a'), 'x'.repeat(4000));
    assert.equal(s.read('b'), undefined);
  });

  it('counts append files in whole 4 KB chunks, as StorageFile allocates them', () => {
    const flash = new SimFlash();
    createSimRecordStore(flash).appendFile('log').append('x');
    assert.equal(flash.used(), 4096);
  });

  it('does not let an append file be treated as a record or vice versa', () => {
    const s = createSimRecordStore(new SimFlash());
    s.write('cfg', '{}');
    assert.throws(() => s.appendFile('cfg').append('x'), /not an append file/);
  });

  describe("the single page (the Espruino WiFi's 64 KB Storage beside its boot image)", () => {
    // The boot image as the build allows it (its budget), stored as .bootcde.
    const IMAGE = 58_950;
    // All the RAM the running firmware has free at idle on the board (2,683 variables of 13 bytes,
    // docs/bench-last.md), as if it were one piece: far less than the image a compaction must copy.
    const BOARD_RAM = 2_683 * 13;

    it('a state record rewritten in service: the trash fills the space after the image, the compaction it needs cannot be had, and the record is lost', () => {
      const flash = new SimFlash(64 * 1024, BOARD_RAM);
      flash.write('.bootcde', 'i'.repeat(IMAGE));
      let n = 0;
      let error: unknown;
      try {
        for (; n < 1000; n++) flash.write('svc.json', JSON.stringify({ day: n, pad: 'x'.repeat(60) }));
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof StorageError && error.code === 'ENOSPC', String(error));
      assert.match((error as Error).message, /a compaction would need \d+ B of RAM in one piece/);
      assert.ok(n > 20 && n < 100, `failed at rewrite ${n}: within months of daily records`);
      assert.equal(flash.read('svc.json'), undefined, 'the rewrite erased its old copy before it failed');
      assert.equal(flash.read('.bootcde')?.length, IMAGE, 'the image is still there');
      assert.equal(flash.compactions, 0);
      assert.ok(flash.free() < 200, `free reports what a write can have: ${flash.free()}`);
    });

    it('the journal as it once lived in Storage stops within a few hundred records', () => {
      const flash = new SimFlash(64 * 1024, BOARD_RAM);
      flash.write('.bootcde', 'i'.repeat(IMAGE));
      const journal = looseJournal(
        createJournal(createSimRecordStore(flash), createSimClock(), createSimCrypto(), {
          segmentBytes: 2048,
          maxSegments: 2
        })
      );
      let n = 0;
      assert.throws(() => {
        for (; n < 5000; n++) journal.append('poll', { n });
      }, /unable to find or create file|storage full/);
      assert.ok(n < 1000, `the journal stopped after ${n} records`);
    });

    it('with RAM to spare the same rewrites compact and go on; a power cut during a compaction loses every file, the image included', () => {
      const flash = new SimFlash(64 * 1024);
      flash.write('.bootcde', 'i'.repeat(IMAGE));
      for (let n = 0; n < 500; n++) flash.write('svc.json', `{"day":${n}}`);
      assert.ok(flash.compactions > 0, 'compacted');
      assert.equal(flash.read('svc.json'), '{"day":499}');
      flash.cutInCompaction = true;
      assert.throws(() => {
        for (let n = 0; n < 500; n++) flash.write('svc.json', `{"day":${n}}`);
      }, /power lost during a compaction/);
      assert.deepEqual(flash.names(), [], 'Storage wiped');
    });

    it('appends fill their chunk in place; an erase leaves trash that only a compaction reclaims', () => {
      const flash = new SimFlash(16 * 1024, 0);
      const s = createSimRecordStore(flash);
      const f = s.appendFile('log');
      for (let i = 0; i < 100; i++) f.append('line\n');
      assert.equal(flash.used(), 4096, 'one chunk, filled in place');
      assert.equal(flash.trashBytes(), 0);
      f.erase();
      assert.equal(flash.trashBytes(), 4096);
      s.write('a', 'x'.repeat(8000));
      assert.throws(() => s.write('b', 'y'.repeat(4400)), /a compaction would need 8032 B of RAM/);
    });
  });
});
