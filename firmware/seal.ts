/**
 * The seal on every chunk of evidence (docs/evidence.md, "Keys and the seal"): AES-256-CBC with a
 * fresh random IV, then HMAC-SHA-256 over the chain value, the IV and the ciphertext's hash, with
 * keys derived from the unit's evidence key. Native crypto only: no per-sample JavaScript.
 */
import type { Crypto } from '../hal/types';
import { fromHex } from './bytes';

export interface SealKeys {
  /** The evidence key itself: signs manifests. */
  sig: Uint8Array;
  enc: Uint8Array;
  mac: Uint8Array;
  /** Authenticates the evidence server's replies. */
  rep: Uint8Array;
}

/** The record of one chunk (docs/evidence.md, "Chunk record"), as sealed. */
export interface ChunkHeader {
  r: string;
  i: number;
  s: number;
  n: number;
  t: number;
  w: number;
  h: string;
  p: string;
  c: string;
  /** IV, hex. */
  v: string;
  /** MAC, hex. */
  m: string;
}

/** Keys from the 64-hex-digit evidence key. */
export function sealKeys(crypto: Crypto, keyHex: string): SealKeys {
  const k = fromHex(keyHex) as Uint8Array;
  return {
    sig: k,
    enc: crypto.hmacSha256(k, 'seal:enc'),
    mac: crypto.hmacSha256(k, 'seal:mac'),
    rep: crypto.hmacSha256(k, 'server:reply')
  };
}

/** Ciphertext bytes for `n` audio bytes (zero-padded to whole AES blocks). */
export function sealedLength(n: number): number {
  return Math.ceil(n / 16) * 16;
}

/** The MAC of a chunk: over its chain value, its IV and its ciphertext's SHA-256 (`x`). */
function macOf(crypto: Crypto, k: SealKeys, chain: Uint8Array, iv: Uint8Array, x: Uint8Array): string {
  const m = new Uint8Array(80);
  m.set(chain, 0);
  m.set(iv, 32);
  m.set(x, 48);
  return crypto.hex(crypto.hmacSha256(k.mac, m));
}

/**
 * The encryption half of the seal under a given IV or a random one (the known-answer tests and
 * `seal`; the recorder seals in place with `encryptInPlace`): AES-256-CBC into `out`, and the
 * ciphertext's SHA-256, which the MAC covers. `sealHead` finishes the seal once the chunk's chain
 * value is known, without touching the ciphertext again.
 */
export function encryptChunk(
  crypto: Crypto,
  k: SealKeys,
  audio: Uint8Array,
  iv?: Uint8Array,
  out?: Uint8Array
): { v: Uint8Array; ct: Uint8Array; x: Uint8Array } {
  const len = sealedLength(audio.length);
  let plain = audio;
  if (len !== audio.length) {
    // Only a short chunk (before a gap, at the end) needs a padded copy.
    plain = new Uint8Array(len);
    plain.set(audio);
  }
  const v = iv || crypto.randomBytes(16);
  const ct = crypto.aesCbcEncrypt(k.enc, v, plain, out);
  return { v: v, ct: ct, x: crypto.sha256(ct) };
}

/** The zero IV of the one CBC call that makes a chunk's IV from its nonce (encryptInPlace). */
const ZERO_IV = new Uint8Array(16);

/**
 * Encrypt a chunk where it lies: `buf` is a nonce (16 bytes, never used twice under the key), then
 * the plaintext (whole AES blocks). One CBC call under a zero IV over both turns the nonce into
 * E(K_enc, nonce), the chunk's IV, and the plaintext into its ciphertext under that IV: the same
 * bytes as AES-256-CBC(K_enc, IV, plaintext), so nothing changes for the server or the verifier.
 * This is NIST SP 800-38A's first method for an unpredictable CBC IV (Appendix C: the forward
 * cipher, under the same key, applied to a nonce), and it spares the seal a random draw per chunk
 * (docs/evidence.md, "Keys and the seal"). Returns the IV and the ciphertext, both views into
 * `buf`, and the ciphertext's SHA-256, which the MAC covers.
 */
export function encryptInPlace(
  crypto: Crypto,
  k: SealKeys,
  buf: Uint8Array
): { v: Uint8Array; ct: Uint8Array; x: Uint8Array } {
  crypto.aesCbcEncrypt(k.enc, ZERO_IV, buf, buf);
  const ct = buf.subarray(16);
  return { v: buf.subarray(0, 16), ct: ct, x: crypto.sha256(ct) };
}

/** The header line (with its newline) of a chunk encrypted under IV `v` whose ciphertext hashes to `x`. */
export function sealHead(
  crypto: Crypto,
  k: SealKeys,
  f: { r: string; i: number; s: number; n: number; t: number; w: number; h: string; p: string },
  chain: Uint8Array,
  v: Uint8Array,
  x: Uint8Array
): string {
  const head: ChunkHeader = {
    r: f.r,
    i: f.i,
    s: f.s,
    n: f.n,
    t: f.t,
    w: f.w,
    h: f.h,
    p: f.p,
    c: crypto.hex(chain),
    v: crypto.hex(v),
    m: macOf(crypto, k, chain, v, x)
  };
  return JSON.stringify(head) + '\n';
}

/**
 * Seal a chunk: `audio` is its `n` bytes, `chain` the 32 bytes of its chain value `c`. Returns the
 * header line (with its newline) and the ciphertext, written into `out` when given (a buffer the
 * caller allocated once, at least `sealedLength(n)` bytes: no big allocation per chunk, which a
 * fragmented heap may refuse). `iv` is for the known-answer tests only.
 */
export function seal(
  crypto: Crypto,
  k: SealKeys,
  f: { r: string; i: number; s: number; n: number; t: number; w: number; h: string; p: string },
  chain: Uint8Array,
  audio: Uint8Array,
  iv?: Uint8Array,
  out?: Uint8Array
): { head: string; ct: Uint8Array } {
  const e = encryptChunk(crypto, k, audio, iv, out);
  return { head: sealHead(crypto, k, f, chain, e.v, e.x), ct: e.ct };
}

/** Whether a header's MAC matches its ciphertext (byte string or bytes). */
export function sealHolds(crypto: Crypto, k: SealKeys, h: ChunkHeader, ct: Uint8Array | string): boolean {
  const chain = fromHex(h.c);
  const iv = fromHex(h.v);
  if (!chain || chain.length !== 32 || !iv || iv.length !== 16 || ct.length !== sealedLength(h.n)) return false;
  return macOf(crypto, k, chain, iv, crypto.sha256(ct)) === h.m;
}

/** A header line parsed, or `undefined` when it is not one. */
export function parseHeader(line: string): ChunkHeader | undefined {
  let h: ChunkHeader | undefined;
  try {
    h = JSON.parse(line);
  } catch (e) {
    return undefined;
  }
  if (
    !h ||
    typeof h !== 'object' ||
    typeof h.r !== 'string' ||
    typeof h.i !== 'number' ||
    typeof h.n !== 'number' ||
    typeof h.c !== 'string' ||
    typeof h.m !== 'string' ||
    typeof h.v !== 'string'
  )
    return undefined;
  if (!(h.n > 0) || h.n > 65536) return undefined;
  return h;
}
