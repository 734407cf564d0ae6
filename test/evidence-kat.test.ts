/**
 * The known-answer vectors of docs/evidence.md ("Known-answer vectors"), checked by each
 * implementation written from the document with Node crypto: the evidence server's opener
 * (sim/evidence-server.ts), the verifier's card-mode opener (tools/evidence-verify.ts) and the test
 * client's sealer (test/support/evidence-client.ts). Each must give the exact hex values of the
 * document, and refuse the vectors with any one byte flipped. (The firmware's own seal is checked
 * against the same values in test/seal.test.ts.)
 */
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { manifestSignatureOk, openSealed, replyMac, sealKeys, type EvidenceManifest } from '../sim/evidence-server';
import { canonicalManifest, deriveSealKeys, openSeal, verifyCardDir } from '../tools/evidence-verify';
import {
  ZERO_HASH,
  deriveKeys,
  makeRecord,
  parseReplyFrame,
  replyMacHex,
  sealRecord,
  sealedBytes,
  sha256,
  signManifest,
  verifyReply,
  type ClientManifest
} from './support/evidence-client';

// The vectors, as docs/evidence.md gives them.
const K = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
const K_ENC = '18cf51e6ca05b80becac4138a201472cf000627fa1e6228b474cf3e04c18a1a5';
const K_MAC = '5f9c262e1dd11406139e68acf21fbe2f30ff26e6845bb237a3a823cfeded1629';
const K_REP = 'd6528b5c41ff0c6bdcf9a043b2bf1bc700e0966342cee3aca240fdae001fc658';
const CHUNKS = [
  {
    r: '0001',
    i: 0,
    s: 0,
    n: 32,
    t: 1000,
    w: 1767225600000,
    iv: 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf',
    h: '630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd',
    c: 'd0b8f9a718fb7c65d526bcdb2c4fea71c7fe3bde8f503449bae898b1d2ea5843',
    ct: 'ee2dc2135d9d75ade57a09cfc9db16a798c755479511cfbd34be8fe3b4f57079',
    m: '3d9dcf3c637eb8471afd8bd5cca3013255c8221c097f1574dc241a66020146d6'
  },
  {
    r: '0001',
    i: 1,
    s: 32,
    n: 20,
    t: 1004,
    w: 1767225600004,
    iv: 'b0b1b2b3b4b5b6b7b8b9babbbcbdbebf',
    h: 'd3e80a69ca1aeffab9dca2943dfa2af79425f293e36bf7747390e519632a703e',
    c: 'f67dda3956bcae824d1016d89a4857ac6ca973d2d625647c668d5f38dcca1d08',
    ct: '1bb15c8584d96c789c8e760faa5effa51509e9d2c01c3998d25bd039fb357673',
    m: '2c12614aad31d3ccf651e3391e74c2dde100351edba5cb6221827a41810f5785'
  }
];
const P = [ZERO_HASH, CHUNKS[0]!.c];
/** Sample k of the recording is (s + k) mod 256. */
const audioOf = (c: (typeof CHUNKS)[number]) => Buffer.from(Array.from({ length: c.n }, (_, k) => (c.s + k) & 255));
/** The header line of each chunk, in full. */
const LINES = CHUNKS.map(
  (c, k) =>
    `{"r":"${c.r}","i":${c.i},"s":${c.s},"n":${c.n},"t":${c.t},"w":${c.w},"h":"${c.h}","p":"${P[k]}","c":"${c.c}","v":"${c.iv}","m":"${c.m}"}`
);
const MANIFEST =
  '{"v":1,"unit":"KAT-1","r":"0001","rate":8000,"bits":8,"trig":16,"start":1767225600000,"n":2,"samples":52,' +
  '"head":"f67dda3956bcae824d1016d89a4857ac6ca973d2d625647c668d5f38dcca1d08","gaps":[],"end":"stop","final":true}';
const SIG = '53a3ef80c42e579537aad55aed323ce47e1fc695a52341b44f9d4229f448e8b2';
const NONCE = '00112233445566778899aabbccddeeff';
const REPLY = `{"q":"${NONCE}","r":"0001","have":2,"ok":[{"i":0,"h":"${CHUNKS[0]!.h}"},{"i":1,"h":"${CHUNKS[1]!.h}"}],"stop":true}`;
const REPLY_MAC = '00f8d5cde15d5866493403061b627d2231cfc0ede800eb87e6708cb5268700a2';

/** Every copy of `b` with one byte flipped (each bit pattern given, default the low bit). */
function* flips(b: Buffer, masks = [0x01]): Generator<[number, number, Buffer]> {
  for (let k = 0; k < b.length; k++) {
    for (const mask of masks) {
      const c = Buffer.from(b);
      c[k] ^= mask;
      yield [k, mask, c];
    }
  }
}
const MASKS = [0x01, 0x20, 0x80];
const ct = (k: number) => Buffer.from(CHUNKS[k]!.ct, 'hex');
const line = (k: number) => Buffer.from(LINES[k]!, 'latin1');

describe('known-answer vectors of docs/evidence.md', () => {
  it("the document's vectors are consistent among themselves (chunk 0's chain value is chunk 1's \"p\", the head of the manifest)", () => {
    assert.equal(JSON.parse(MANIFEST).head, CHUNKS[1]!.c);
    assert.equal(LINES[1]!.includes(`"p":"${CHUNKS[0]!.c}"`), true);
    CHUNKS.forEach((c, k) => assert.equal(sha256(audioOf(c)), c.h, `chunk ${k}`));
  });

  describe('the evidence server (sim/evidence-server.ts)', () => {
    it('derives K_enc, K_mac and K_rep', () => {
      const keys = sealKeys(K);
      assert.deepEqual(
        [keys.enc.toString('hex'), keys.mac.toString('hex'), keys.rep.toString('hex'), keys.sig.toString('hex')],
        [K_ENC, K_MAC, K_REP, K]
      );
    });

    it('opens both chunks: the audio, every field', () => {
      CHUNKS.forEach((c, k) => {
        const o = openSealed(K, LINES[k]!, ct(k), '0001');
        assert.ok(o.ok, o.ok ? '' : o.error);
        assert.ok(o.audio.equals(audioOf(c)));
        assert.deepEqual(o.record, { r: c.r, i: c.i, s: c.s, n: c.n, t: c.t, w: c.w, h: c.h, p: P[k], c: c.c });
        assert.equal(o.iv, c.iv);
        assert.equal(o.m, c.m);
        assert.ok(openSealed(K, `${LINES[k]}\n`, ct(k)).ok, 'with its newline');
      });
    });

    it('refuses each chunk with any one byte of its header line or ciphertext flipped, another key, or another recording', () => {
      for (const k of [0, 1]) {
        for (const [at, mask, l] of flips(line(k), MASKS))
          assert.equal(openSealed(K, l, ct(k)).ok, false, `chunk ${k} line byte ${at} ^${mask}`);
        for (const [at, mask, x] of flips(ct(k), MASKS))
          assert.equal(openSealed(K, LINES[k]!, x).ok, false, `chunk ${k} ct byte ${at} ^${mask}`);
        assert.equal(openSealed(K.replace(/^00/, '01'), LINES[k]!, ct(k)).ok, false);
        assert.equal(openSealed(K, LINES[k]!, ct(k), '0002').ok, false);
        assert.equal(openSealed(K, LINES[k]!, ct(k).subarray(0, 16)).ok, false, 'ciphertext cut short');
      }
      const o = openSealed(K, LINES[0]!, Buffer.from(CHUNKS[0]!.ct.replace(/^ee/, 'ef'), 'hex'));
      assert.ok(!o.ok && /seal MAC "m" is wrong/.test(o.error));
    });

    it('checks the manifest signature, and refuses it with any one byte flipped', () => {
      const m = { ...JSON.parse(MANIFEST), sig: SIG } as EvidenceManifest;
      assert.ok(manifestSignatureOk(K, m));
      for (const [at, mask, x] of flips(Buffer.from(SIG, 'latin1')))
        assert.equal(manifestSignatureOk(K, { ...m, sig: x.toString('latin1') }), false, `sig byte ${at} ^${mask}`);
      for (const [at, , x] of flips(Buffer.from(MANIFEST, 'latin1'))) {
        let o: EvidenceManifest;
        try {
          o = { ...JSON.parse(x.toString('latin1')), sig: SIG };
        } catch {
          continue; // not JSON any more
        }
        if (!Array.isArray(o.gaps)) continue;
        assert.equal(manifestSignatureOk(K, o), false, `manifest byte ${at}`);
      }
    });

    it('gives the reply MAC, which changes with any one byte of the reply, the nonce, the unit or the recording', () => {
      assert.equal(replyMac(K, 'KAT-1', '0001', NONCE, REPLY), REPLY_MAC);
      assert.equal(replyMac(sealKeys(K), 'KAT-1', '0001', NONCE, REPLY), REPLY_MAC);
      for (const [at, , x] of flips(Buffer.from(REPLY, 'latin1')))
        assert.notEqual(replyMac(K, 'KAT-1', '0001', NONCE, x.toString('latin1')), REPLY_MAC, `byte ${at}`);
      assert.notEqual(replyMac(K, 'KAT-1', '0001', NONCE.replace(/^00/, '01'), REPLY), REPLY_MAC);
      assert.notEqual(replyMac(K, 'KAT-2', '0001', NONCE, REPLY), REPLY_MAC);
      assert.notEqual(replyMac(K, 'KAT-1', '0002', NONCE, REPLY), REPLY_MAC);
    });
  });

  describe("the verifier's card mode (tools/evidence-verify.ts)", () => {
    it('derives K_enc, K_mac and K_rep', () => {
      const keys = deriveSealKeys(K);
      assert.deepEqual(
        [keys.enc.toString('hex'), keys.mac.toString('hex'), keys.rep.toString('hex')],
        [K_ENC, K_MAC, K_REP]
      );
      assert.deepEqual(deriveSealKeys(Buffer.from(K, 'hex')).mac.toString('hex'), K_MAC);
    });

    it('opens both chunks', () => {
      CHUNKS.forEach((c, k) => {
        const o = openSeal(K, LINES[k]!, ct(k), '0001');
        assert.ok(o.ok, o.ok ? '' : `${o.code}: ${o.message}`);
        assert.ok(o.audio.equals(audioOf(c)));
        assert.deepEqual(o.record, {
          r: c.r,
          i: c.i,
          s: c.s,
          n: c.n,
          t: c.t,
          w: c.w,
          h: c.h,
          p: P[k],
          c: c.c,
          v: c.iv,
          m: c.m
        });
      });
    });

    it('refuses each chunk with any one byte flipped, naming why', () => {
      for (const k of [0, 1]) {
        for (const [at, mask, l] of flips(line(k), MASKS))
          assert.equal(openSeal(K, l, ct(k)).ok, false, `chunk ${k} line byte ${at} ^${mask}`);
        for (const [at, mask, x] of flips(ct(k), MASKS)) {
          const o = openSeal(K, LINES[k]!, x);
          assert.ok(!o.ok && o.code === 'seal-mac', `chunk ${k} ct byte ${at} ^${mask}`);
        }
      }
      const codeOf = (o: ReturnType<typeof openSeal>) => (o.ok ? 'ok' : o.code);
      assert.equal(codeOf(openSeal(K, LINES[0]!.replace('"t":1000', '"t":1001'), ct(0))), 'chain-broken');
      assert.equal(codeOf(openSeal(K, LINES[0]!.replace('"v":"a0', '"v":"a1'), ct(0))), 'seal-mac');
      assert.equal(codeOf(openSeal(K, LINES[0]!, ct(0).subarray(0, 16))), 'seal-truncated');
      assert.equal(codeOf(openSeal(K, LINES[0]!.replace('"r":"0001"', '"R":"0001"'), ct(0))), 'seal-record');
      assert.equal(codeOf(openSeal(K.replace(/1f$/, '1e'), LINES[0]!, ct(0))), 'seal-mac');
    });

    it("gives the manifest's signed string and signature", () => {
      const m = JSON.parse(MANIFEST);
      assert.equal(canonicalManifest(m), MANIFEST);
      assert.equal(crypto.createHmac('sha256', Buffer.from(K, 'hex')).update(canonicalManifest(m)).digest('hex'), SIG);
    });

    it('reads the two chunks as a card: CARD OK', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kat-card-'));
      try {
        fs.writeFileSync(
          path.join(dir, '000100.EVD'),
          Buffer.concat([0, 1].map((k) => sealedBytes({ line: LINES[k]!, ct: ct(k) })))
        );
        const [r] = verifyCardDir(dir, { key: Buffer.from(K, 'hex') }).recordings;
        assert.deepEqual(r!.problems, []);
        assert.equal(r!.verdict, 'card-ok');
        assert.deepEqual([r!.chunks, r!.first, r!.last, r!.toSample], [2, 0, 1, 51]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('the test client (test/support/evidence-client.ts)', () => {
    it('derives K_enc, K_mac and K_rep', () => {
      const keys = deriveKeys(K);
      assert.deepEqual(
        [keys.enc.toString('hex'), keys.mac.toString('hex'), keys.rep.toString('hex')],
        [K_ENC, K_MAC, K_REP]
      );
    });

    it('makes the records, seals them to the exact ciphertext, MAC and header line', () => {
      CHUNKS.forEach((c, k) => {
        const rec = makeRecord({ r: c.r, i: c.i, s: c.s, n: c.n, t: c.t, w: c.w, h: sha256(audioOf(c)), p: P[k]! });
        assert.equal(rec.h, c.h);
        assert.equal(rec.c, c.c);
        const s = sealRecord(rec, audioOf(c), K, c.iv);
        assert.equal(s.ct.toString('hex'), c.ct);
        assert.equal(s.m, c.m);
        assert.equal(s.iv, c.iv);
        assert.equal(s.line, LINES[k]);
        assert.ok(sealedBytes(s).equals(Buffer.concat([line(k), Buffer.from('\n'), ct(k)])));
        assert.notEqual(sealRecord(rec, audioOf(c), K).iv, c.iv, 'a fresh IV when none is given');
      });
    });

    it('signs the manifest', () => {
      const { sig, ...m } = { ...JSON.parse(MANIFEST), sig: '' } as ClientManifest;
      void sig;
      const signed = signManifest(m, K);
      assert.equal(signed.sig, SIG);
      assert.equal(JSON.stringify(signed), `${MANIFEST.slice(0, -1)},"sig":"${SIG}"}`);
    });

    it('verifies the reply, and refuses it with any one byte flipped, another nonce, unit or recording', () => {
      assert.equal(replyMacHex(K, 'KAT-1', '0001', NONCE, REPLY), REPLY_MAC);
      const frameBytes = Buffer.from(`EVR1 ${REPLY.length} ${REPLY_MAC}\n${REPLY}`, 'latin1');
      const parsed = parseReplyFrame(frameBytes);
      assert.ok(parsed && typeof parsed !== 'string');
      assert.ok(verifyReply(K, 'KAT-1', '0001', NONCE, parsed.frame));
      assert.equal(parsed.frame.json.stop, true);
      let checked = 0;
      for (const [at, mask, x] of flips(frameBytes, MASKS)) {
        const p = parseReplyFrame(x);
        if (p === undefined || typeof p === 'string') continue; // not a reply frame: refused too
        assert.equal(verifyReply(K, 'KAT-1', '0001', NONCE, p.frame), false, `byte ${at} ^${mask}`);
        checked++;
      }
      assert.ok(checked > REPLY.length * 2, `${checked}`);
      assert.equal(verifyReply(K, 'KAT-1', '0001', NONCE.replace(/ff$/, 'fe'), parsed.frame), false);
      assert.equal(verifyReply(K, 'KAT-2', '0001', NONCE, parsed.frame), false);
      assert.equal(verifyReply(K, 'KAT-1', '0002', NONCE, parsed.frame), false);
      assert.equal(verifyReply(K.replace(/^00/, '01'), 'KAT-1', '0001', NONCE, parsed.frame), false);
    });
  });

  it('the three openers agree on chunks sealed with random IVs by the client', () => {
    for (let k = 0; k < 20; k++) {
      const key = crypto.randomBytes(32).toString('hex');
      const n = 1 + crypto.randomInt(4000);
      const audio = crypto.randomBytes(n);
      const rec = makeRecord({ r: 'beef', i: k, s: k * 4000, n, t: k, w: k, h: sha256(audio), p: sha256(String(k)) });
      const s = sealRecord(rec, audio, key);
      const a = openSealed(key, s.line, s.ct, 'beef');
      const b = openSeal(key, s.line, s.ct, 'beef');
      assert.ok(a.ok && a.audio.equals(audio), `server, n=${n}`);
      assert.ok(b.ok && b.audio.equals(audio), `verifier, n=${n}`);
    }
  });
});
