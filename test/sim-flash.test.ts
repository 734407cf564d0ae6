import { strict as assert } from 'node:assert';
import { SimFlash, createSimRecordStore } from '../sim/flash';

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
});
