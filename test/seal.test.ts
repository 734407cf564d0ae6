import { strict as assert } from 'node:assert';
import { sealKeys, seal, sealHolds, parseHeader, sealedLength, encryptInPlace } from '../firmware/seal';
import { chainOf } from '../firmware/recorder';
import { manifestText } from '../firmware/uploader';
import { fromHex } from '../firmware/bytes';
import { createSimCrypto } from '../sim/crypto';
import type { RecState } from '../firmware/recorder';

/**
 * The firmware's own seal against the known-answer vectors of docs/evidence.md, on the HAL crypto
 * (Node's here; the same code runs on Espruino's natively): the server's and the verifier's
 * independent openers check the same vectors (test/evidence-kat.test.ts).
 */
const crypto = createSimCrypto();
const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
const K = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
const ZERO = '0'.repeat(64);

const VECTORS = [
  {
    f: { r: '0001', i: 0, s: 0, n: 32, t: 1000, w: 1767225600000, p: ZERO },
    iv: 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf',
    h: '630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd',
    c: 'd0b8f9a718fb7c65d526bcdb2c4fea71c7fe3bde8f503449bae898b1d2ea5843',
    ct: 'ee2dc2135d9d75ade57a09cfc9db16a798c755479511cfbd34be8fe3b4f57079',
    m: '3d9dcf3c637eb8471afd8bd5cca3013255c8221c097f1574dc241a66020146d6'
  },
  {
    f: {
      r: '0001',
      i: 1,
      s: 32,
      n: 20,
      t: 1004,
      w: 1767225600004,
      p: 'd0b8f9a718fb7c65d526bcdb2c4fea71c7fe3bde8f503449bae898b1d2ea5843'
    },
    iv: 'b0b1b2b3b4b5b6b7b8b9babbbcbdbebf',
    h: 'd3e80a69ca1aeffab9dca2943dfa2af79425f293e36bf7747390e519632a703e',
    c: 'f67dda3956bcae824d1016d89a4857ac6ca973d2d625647c668d5f38dcca1d08',
    ct: '1bb15c8584d96c789c8e760faa5effa51509e9d2c01c3998d25bd039fb357673',
    m: '2c12614aad31d3ccf651e3391e74c2dde100351edba5cb6221827a41810f5785'
  }
];

const audioOf = (s: number, n: number) => Uint8Array.from({ length: n }, (_, k) => (s + k) & 0xff);

describe('the seal (firmware/seal.ts) against the known-answer vectors of docs/evidence.md', () => {
  const k = sealKeys(crypto, K);

  it('derives K_enc, K_mac and K_rep from the evidence key', () => {
    assert.equal(hexOf(k.enc), '18cf51e6ca05b80becac4138a201472cf000627fa1e6228b474cf3e04c18a1a5');
    assert.equal(hexOf(k.mac), '5f9c262e1dd11406139e68acf21fbe2f30ff26e6845bb237a3a823cfeded1629');
    assert.equal(hexOf(k.rep), 'd6528b5c41ff0c6bdcf9a043b2bf1bc700e0966342cee3aca240fdae001fc658');
    assert.equal(hexOf(k.sig), K);
  });

  for (const v of VECTORS) {
    it(`chunk ${v.f.i} (${v.f.n} bytes): hash, chain value, ciphertext, MAC and header line byte for byte`, () => {
      const audio = audioOf(v.f.s, v.f.n);
      const h = hexOf(crypto.sha256(audio));
      assert.equal(h, v.h);
      const chain = chainOf(crypto, v.f.p, v.f.r, v.f.i, v.f.s, v.f.n, v.f.t, v.f.w, h);
      assert.equal(hexOf(chain), v.c);
      const out = seal(crypto, k, { ...v.f, h }, chain, audio, fromHex(v.iv));
      assert.equal(hexOf(out.ct), v.ct);
      assert.equal(out.ct.length, sealedLength(v.f.n));
      const head = parseHeader(out.head.slice(0, -1))!;
      assert.equal(head.m, v.m);
      assert.equal(
        out.head,
        JSON.stringify({
          r: v.f.r,
          i: v.f.i,
          s: v.f.s,
          n: v.f.n,
          t: v.f.t,
          w: v.f.w,
          h: v.h,
          p: v.f.p,
          c: v.c,
          v: v.iv,
          m: v.m
        }) + '\n'
      );
      assert.ok(sealHolds(crypto, k, head, out.ct));
      // One flipped bit anywhere in the ciphertext, the IV or the chain value breaks the seal.
      const bad = out.ct.slice();
      bad[bad.length - 1] ^= 1;
      assert.equal(sealHolds(crypto, k, head, bad), false);
      assert.equal(sealHolds(crypto, k, { ...head, v: 'c' + head.v.slice(1) }, out.ct), false);
      assert.equal(sealHolds(crypto, k, { ...head, c: 'e' + head.c.slice(1) }, out.ct), false);
      assert.equal(sealHolds(crypto, sealKeys(crypto, 'ff' + K.slice(2)), head, out.ct), false, 'another unit key');
    });
  }

  it('a fresh random IV per chunk: the same audio never seals to the same bytes', () => {
    const audio = audioOf(0, 4000);
    const chain = crypto.sha256('x');
    const a = seal(crypto, k, { r: '0001', i: 0, s: 0, n: 4000, t: 0, w: 0, h: 'h', p: ZERO }, chain, audio);
    const b = seal(crypto, k, { r: '0001', i: 0, s: 0, n: 4000, t: 0, w: 0, h: 'h', p: ZERO }, chain, audio);
    assert.notEqual(hexOf(a.ct), hexOf(b.ct));
    assert.notEqual(parseHeader(a.head.slice(0, -1))!.v, parseHeader(b.head.slice(0, -1))!.v);
    assert.equal(a.ct.length, 4000, 'a 4,000-byte chunk needs no padding');
  });

  it('sealed in place: the IV made from a nonce in the same CBC call (docs/evidence.md vector), the ciphertext as under that IV', () => {
    // nonce 00 01 … 0f, then chunk 0's 32 audio bytes, encrypted where they lie
    const buf = new Uint8Array(48);
    for (let i = 0; i < 16; i++) buf[i] = i;
    buf.set(audioOf(0, 32), 16);
    const e = encryptInPlace(crypto, k, buf);
    assert.equal(hexOf(e.v), '4c9a548774a62edf97f998f3cb783f7d', 'IV = AES-256(K_enc, nonce)');
    assert.equal(hexOf(e.ct), '548452cc3a9301c7cee3413d73ac8af7e201bbad3d9759ada680629a1bbd6d61');
    assert.equal(hexOf(e.x), '16525d62c965ca20a910128393d63236eb698de62ffbb3b5d5ba106da10027be');
    assert.equal(e.ct.length, 32);
    assert.equal(e.ct.buffer, buf.buffer, 'no copy: views into the slot');
    assert.equal(hexOf(crypto.aesCbcDecrypt(k.enc, e.v, e.ct)), hexOf(audioOf(0, 32)), 'opens as any seal does');
  });

  it('the manifest text and its signature', () => {
    const st = {
      r: '0001',
      rate: 8000,
      trig: 16,
      start: 1767225600000,
      n: 2,
      ns: 52,
      hd: 'f67dda3956bcae824d1016d89a4857ac6ca973d2d625647c668d5f38dcca1d08',
      gaps: [],
      end: 'stop'
    } as unknown as RecState;
    const m = manifestText('KAT-1', st);
    assert.equal(
      m,
      '{"v":1,"unit":"KAT-1","r":"0001","rate":8000,"bits":8,"trig":16,"start":1767225600000,"n":2,"samples":52,"head":"f67dda3956bcae824d1016d89a4857ac6ca973d2d625647c668d5f38dcca1d08","gaps":[],"end":"stop","final":true}'
    );
    assert.equal(
      hexOf(crypto.hmacSha256(k.sig, m)),
      '53a3ef80c42e579537aad55aed323ce47e1fc695a52341b44f9d4229f448e8b2'
    );
  });

  it('the reply MAC the uploader checks', () => {
    const nonce = '00112233445566778899aabbccddeeff';
    const body = `{"q":"${nonce}","r":"0001","have":2,"ok":[{"i":0,"h":"${VECTORS[0].h}"},{"i":1,"h":"${VECTORS[1].h}"}],"stop":true}`;
    assert.equal(
      hexOf(crypto.hmacSha256(k.rep, `EVR1:KAT-1:0001:${nonce}:${body}`)),
      '00f8d5cde15d5866493403061b627d2231cfc0ede800eb87e6708cb5268700a2'
    );
  });

  it('parseHeader refuses what is not a header line', () => {
    for (const bad of [
      '',
      '{',
      'null',
      '[]',
      '{"r":"0001"}',
      JSON.stringify({ r: '0001', i: 0, n: 0, c: 'x', m: 'y', v: 'z' })
    ]) {
      assert.equal(parseHeader(bad), undefined, bad);
    }
  });
});
