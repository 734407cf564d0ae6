import { strict as assert } from 'node:assert';
import * as nodeCrypto from 'node:crypto';
import * as fc from 'fast-check';
import { aesCbcEncrypt, aesCbcDecrypt, expandKey, encryptBlock } from '../hal/espruino/aes';
import { createEspruinoCrypto } from '../hal/espruino/crypto';
import { createSimCrypto } from '../sim/crypto';
import { aesSizes } from './support/aes-spare';

const hex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

describe('AES fallback (hal/espruino/aes.ts)', () => {
  it('matches the FIPS-197 appendix C vectors for 128, 192 and 256-bit keys', () => {
    const pt = '00112233445566778899aabbccddeeff';
    const cases: [string, string][] = [
      ['000102030405060708090a0b0c0d0e0f', '69c4e0d86a7b0430d8cdb78070b4c55a'],
      ['000102030405060708090a0b0c0d0e0f1011121314151617', 'dda97ca4864cdfe06eaf70a0ec0d7191'],
      ['000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', '8ea2b7ca516745bfeafc49904b496089']
    ];
    for (const [key, ct] of cases) {
      const block = hex(pt);
      encryptBlock(expandKey(hex(key)), block);
      assert.equal(Buffer.from(block).toString('hex'), ct);
    }
  });

  it('agrees with Node crypto for random keys, IVs and messages (both ways)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(16, 24, 32),
        fc.integer({ min: 1, max: 8 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (keyLen, blocks, seed) => {
          const key = nodeCrypto.createHash('sha256').update(seed).digest().subarray(0, keyLen);
          const iv = nodeCrypto.createHash('md5').update(seed).digest();
          const data = nodeCrypto.randomBytes(16 * blocks);
          const c = nodeCrypto.createCipheriv(`aes-${keyLen * 8}-cbc`, key, iv);
          c.setAutoPadding(false);
          const ref = Buffer.concat([c.update(data), c.final()]);
          const mine = aesCbcEncrypt(key, iv, data);
          assert.deepEqual(Buffer.from(mine), ref);
          assert.deepEqual(Buffer.from(aesCbcDecrypt(key, iv, mine)), data);
        }
      ),
      { numRuns: 60 }
    );
  });

  it('refuses wrong key, IV and data lengths', () => {
    assert.throws(() => aesCbcEncrypt(new Uint8Array(15), new Uint8Array(16), new Uint8Array(16)), /16, 24 or 32/);
    assert.throws(() => aesCbcEncrypt(new Uint8Array(16), new Uint8Array(8), new Uint8Array(16)), /IV/);
    assert.throws(() => aesCbcEncrypt(new Uint8Array(16), new Uint8Array(16), new Uint8Array(17)), /multiple of 16/);
  });
});

describe('device crypto (hal/espruino/crypto.ts) on an emulated Espruino crypto module', () => {
  // The device's `crypto` module as measured on the Linux build: SHA256 returns an ArrayBuffer,
  // AES absent on the Espruino WiFi; E.CRC32 and E.hwRand native.
  const g = globalThis as any;
  let saved: { require: unknown; E: unknown; getTime: unknown };
  /** Native AES as the Espruino WiFi and Linux builds have it (a fresh ArrayBuffer per call); `null` = none. */
  let nativeAes: unknown = null;
  let aesCalls: number[] = [];
  /** SHA256 calls still to refuse ("Not enough memory for result": undefined). */
  let shaRefuse = 0;
  before(() => {
    saved = { require: g.require, E: g.E, getTime: g.getTime };
    g.require = (name: string) => {
      if (name !== 'crypto') throw new Error(`unexpected module ${name}`);
      return {
        SHA256: (d: string | Uint8Array) =>
          shaRefuse-- > 0
            ? undefined
            : new Uint8Array(
                nodeCrypto
                  .createHash('sha256')
                  .update(typeof d === 'string' ? Buffer.from(d, 'latin1') : d)
                  .digest()
              ).buffer,
        get AES() {
          return nativeAes ?? undefined;
        }
      };
    };
    g.E = {
      CRC32: (s: string) => createSimCrypto().crc32(s),
      hwRand: () => 7, // as unseeded as the Linux build's: randomBytes must still not repeat
      toString: (a: Uint8Array) => Buffer.from(a).toString('latin1'),
      toUint8Array: (s: string) => new Uint8Array(Buffer.from(s, 'latin1')),
      mapInPlace: (from: Uint8Array, to: Uint16Array, map: Uint16Array) => from.forEach((v, i) => (to[i] = map[v]))
    };
    g.getTime = () => Date.now() / 1000;
  });
  after(() => {
    g.require = saved.require;
    g.E = saved.E;
    g.getTime = saved.getTime;
  });
  beforeEach(() => {
    nativeAes = null;
    aesCalls = [];
  });

  it('a native AES result refused for want of one free run of memory is made a block at a time instead (same bytes, no defragment)', () => {
    let defrags = 0;
    const sizes: number[] = [];
    (g.E as { defrag?: () => void }).defrag = () => defrags++;
    nativeAes = {
      encrypt: (data: Uint8Array, key: Uint8Array, o: { iv: Uint8Array }) => {
        sizes.push(data.length);
        // "Not enough memory for result": the native call returns undefined for a long result
        return data.length > 16 ? undefined : createSimCrypto().aesCbcEncrypt(key, o.iv, data).buffer;
      },
      decrypt: () => undefined
    };
    const key = nodeCrypto.randomBytes(32);
    const iv = nodeCrypto.randomBytes(16);
    const data = nodeCrypto.randomBytes(256);
    const ct = createEspruinoCrypto().aesCbcEncrypt(key, iv, data, new Uint8Array(256));
    assert.deepEqual(Buffer.from(ct), Buffer.from(createSimCrypto().aesCbcEncrypt(key, iv, data)));
    assert.deepEqual(sizes, [256, ...Array(16).fill(16)], 'a refused piece, then its blocks');
    assert.equal(defrags, 0, 'E.defrag stops the event loop for hundreds of ms: never');
    // A 2,048-byte chunk: the first 1,024-byte piece refused, the rest in 64-byte pieces (refused: blocks), then blocks.
    sizes.length = 0;
    const big = nodeCrypto.randomBytes(2048);
    const ct2 = createEspruinoCrypto().aesCbcEncrypt(key, iv, big, new Uint8Array(2048));
    assert.deepEqual(Buffer.from(ct2), Buffer.from(createSimCrypto().aesCbcEncrypt(key, iv, big)));
    assert.deepEqual(sizes.slice(0, 70), [1024, ...Array(64).fill(16), 64, 16, 16, 16, 16]);
    assert.ok(
      sizes.slice(70).every((n) => n === 16),
      'then a block at a time'
    );
    nativeAes = { encrypt: () => undefined, decrypt: () => undefined };
    assert.throws(
      () => createEspruinoCrypto().aesCbcEncrypt(key, iv, data),
      /AES failed/,
      'a refused block: a clear failure'
    );
  });

  it('native AES decrypt refused for a whole reply is made a block at a time (same bytes as Node)', () => {
    const sizes: number[] = [];
    nativeAes = {
      encrypt: () => undefined,
      decrypt: (data: Uint8Array, key: Uint8Array, o: { iv: Uint8Array }) => {
        sizes.push(data.length);
        if (data.length > 16) return undefined;
        const d = nodeCrypto.createDecipheriv(`aes-${key.length * 8}-cbc`, key, o.iv).setAutoPadding(false);
        return new Uint8Array(Buffer.concat([d.update(data), d.final()])).buffer;
      }
    };
    const key = nodeCrypto.randomBytes(16);
    const iv = nodeCrypto.randomBytes(16);
    const plain = nodeCrypto.randomBytes(64);
    const e = nodeCrypto.createCipheriv('aes-128-cbc', key, iv).setAutoPadding(false);
    const ct = Buffer.concat([e.update(plain), e.final()]);
    const got = createEspruinoCrypto().aesCbcDecrypt(new Uint8Array(key), new Uint8Array(iv), new Uint8Array(ct));
    assert.deepEqual(Buffer.from(got), plain);
    assert.deepEqual(sizes, [64, 16, 16, 16, 16]);
  });

  it('a SHA-256 result refused for want of memory throws: never an empty hash, no defragment', () => {
    let defrags = 0;
    (g.E as { defrag?: () => void }).defrag = () => defrags++;
    const want = nodeCrypto.createHash('sha256').update('chunk').digest('hex');
    assert.equal(Buffer.from(createEspruinoCrypto().sha256('chunk')).toString('hex'), want);
    shaRefuse = 1;
    assert.throws(() => createEspruinoCrypto().sha256('chunk'), /no memory for SHA-256/);
    assert.equal(defrags, 0);
    shaRefuse = 0;
  });

  it('HMAC-SHA-256 matches RFC 4231 test case 2 and Node for long keys', () => {
    const c = createEspruinoCrypto();
    const mac = c.hmacSha256(new Uint8Array(Buffer.from('Jefe')), 'what do ya want for nothing?');
    assert.equal(Buffer.from(mac).toString('hex'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    const longKey = nodeCrypto.randomBytes(131);
    const msg = nodeCrypto.randomBytes(300);
    assert.equal(
      Buffer.from(c.hmacSha256(longKey, msg)).toString('hex'),
      nodeCrypto.createHmac('sha256', longKey).update(msg).digest('hex')
    );
  });

  it('native AES into a buffer allocated once: pieces of at most 1,024 bytes, the same bytes as one call; hex natively', () => {
    nativeAes = {
      encrypt: (data: Uint8Array, key: Uint8Array, o: { iv: Uint8Array }) => {
        aesCalls.push(data.length);
        return createSimCrypto().aesCbcEncrypt(key, o.iv, data).buffer;
      },
      decrypt: () => undefined
    };
    const c = createEspruinoCrypto();
    const key = nodeCrypto.randomBytes(32);
    const iv = nodeCrypto.randomBytes(16);
    const data = nodeCrypto.randomBytes(4000);
    const out = new Uint8Array(4000);
    const ct = c.aesCbcEncrypt(key, iv, data, out);
    assert.deepEqual(Buffer.from(ct), Buffer.from(createSimCrypto().aesCbcEncrypt(key, iv, data)));
    assert.ok(ct.buffer === out.buffer, "written into the caller's buffer");
    assert.deepEqual(aesCalls, [1024, 1024, 1024, 928]);
    assert.equal(c.hex(new Uint8Array([0, 1, 0xab, 0xff])), '0001abff');
    assert.throws(
      () => {
        nativeAes = { encrypt: () => undefined, decrypt: () => undefined };
        createEspruinoCrypto().aesCbcEncrypt(key, iv, data);
      },
      /AES failed/,
      'no JavaScript AES in an Espruino WiFi image: a failure is a failure'
    );
  });

  it("takes the AES spare run only once a chunk's piece is sealed: a frame never takes it, and a boot that seals nothing never holds it", () => {
    nativeAes = {
      encrypt: (data: Uint8Array, key: Uint8Array, o: { iv: Uint8Array }) =>
        createSimCrypto().aesCbcEncrypt(key, o.iv, data).buffer,
      decrypt: () => undefined
    };
    const { piece, spare } = aesSizes();
    assert.ok(spare > piece && piece > 0, 'AES_PIECE and AES_SPARE read from hal/espruino/crypto.ts');
    const made: number[] = [];
    const Real = globalThis.Uint8Array;
    globalThis.Uint8Array = new Proxy(Real, {
      construct(t, args: unknown[]) {
        if (typeof args[0] === 'number') made.push(args[0]);
        return Reflect.construct(t, args);
      }
    });
    try {
      const c = createEspruinoCrypto();
      const key = nodeCrypto.randomBytes(32);
      const iv = nodeCrypto.randomBytes(16);
      assert.ok(!made.includes(spare), 'not at creation');
      c.aesCbcEncrypt(key, iv, nodeCrypto.randomBytes(64));
      assert.ok(!made.includes(spare), 'not for a DC-09 frame');
      c.aesCbcEncrypt(key, iv, nodeCrypto.randomBytes(4000), new Real(4000));
      assert.ok(made.includes(spare), 'taken once a chunk has been sealed');
    } finally {
      globalThis.Uint8Array = Real;
    }
  });

  it('a board without native AES (its composition file passes the JavaScript AES) uses it; random bytes have the length asked', () => {
    const c = createEspruinoCrypto({ encrypt: aesCbcEncrypt, decrypt: aesCbcDecrypt });
    const key = nodeCrypto.randomBytes(32);
    const iv = nodeCrypto.randomBytes(16);
    const data = nodeCrypto.randomBytes(48);
    assert.deepEqual(
      Buffer.from(c.aesCbcEncrypt(key, iv, data)),
      Buffer.from(createSimCrypto().aesCbcEncrypt(key, iv, data))
    );
    assert.equal(c.randomBytes(7).length, 7);
    const a = Buffer.from(c.randomBytes(48));
    const b = Buffer.from(c.randomBytes(48));
    assert.notDeepEqual(a, b, 'a constant hardware source still gives fresh bytes');
    assert.equal(a.length, 48);
    assert.equal(c.crc32('123456789'), 0xcbf43926);
  });
});
