/**
 * Crypto on the device: SHA-256 and CRC-32 natively; HMAC-SHA-256 composed from native SHA-256;
 * AES-CBC natively (the Espruino WiFi and Linux builds have `crypto.AES`), or the JavaScript AES
 * of ./aes.ts, which only the composition files of boards whose build lacks it pass in
 * (hal/espruino/boards/). Random bytes from the hardware RNG (`E.hwRand`).
 */
import type { Crypto } from '../types';

/** A JavaScript AES-CBC (./aes.ts), for a board whose build has no `crypto.AES`. */
export interface JsAes {
  encrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array;
  decrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array;
}

function toBytes(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? E.toUint8Array(data) : data;
}

const AES_PIECE = 1024;
/**
 * A free run kept for the native AES result: the piece's 80 variables and 16 more for what the
 * call and its caller allocate first (2v29 allocates small variables from the head of the free
 * list, and gives a freed run back in address order). Held, the run lets the pieces be 1,024
 * bytes. Measured on 2v29 (docs/footprint.md): a 4,000-byte chunk took 2.67 ms in 256-byte pieces
 * with a spare taken again after each, 1.55 ms in 512-byte pieces (an earlier machine); on the
 * LINUX profile the mean per block fell 13-15% from 512- to 1,024-byte pieces (runs alternated),
 * for 39 variables more held (lowest free at the worst moment 1,349-1,352 on the board).
 */
const AES_SPARE = AES_PIECE + 208;

/** Byte → its two hex digits as one little-endian 16-bit value, for `E.mapInPlace`. */
const HEX_PAIRS = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  // (`1xy`: the byte's two digits after a leading 1; no table of digits held in the image)
  const x = (i + 256).toString(16);
  HEX_PAIRS[i] = x.charCodeAt(1) | (x.charCodeAt(2) << 8);
}

/** `jsAes`: the board's build has no native AES (the Pico's and the MDBT42Q's). */
export function createEspruinoCrypto(jsAes?: JsAes): Crypto {
  const c = global.require('crypto');
  const nativeAes = c.AES;
  const NATIVE_AES = !jsAes;
  let pool: Uint8Array = new Uint8Array(32);
  let counter = 0;
  /** The last native AES call found no free run for its result (see aes). */
  let refused = false;
  /**
   * Held between native AES calls, let go just before one (see AES_SPARE); none without native
   * AES. Taken after the first chunk's first piece, not here: a boot whose evidence part fails for
   * want of memory never seals a chunk, and keeps these 96 variables for the button and the
   * reporter (the board check's "memory short at boot").
   */
  let spare: Uint8Array | undefined;

  function sha256(data: string | Uint8Array): Uint8Array {
    // No free run for the 32-byte result (4 variables, after the interpreter's own garbage
    // collection): undefined, which would make an empty hash. A throw instead, never a wrong
    // hash (not E.defrag: see aes below).
    const r = c.SHA256(data);
    if (!r) throw new Error('no memory for SHA-256');
    return new Uint8Array(r);
  }

  // The keyed pads of the last keys used (the seal's MAC key, the reply key, the evidence key):
  // computed once, so an HMAC is two native SHA-256 and two copies, no JavaScript loop.
  const padKeys: Uint8Array[] = [];
  const pads: Uint8Array[][] = [];
  function padsOf(key: Uint8Array): Uint8Array[] {
    for (let i = 0; i < padKeys.length; i++) if (padKeys[i] === key) return pads[i];
    const k = key.length > 64 ? sha256(key) : key;
    const ip = new Uint8Array(64);
    const op = new Uint8Array(64);
    ip.set(k);
    op.set(k);
    for (let i = 0; i < 64; i++) {
      ip[i] ^= 0x36;
      op[i] ^= 0x5c;
    }
    if (padKeys.length >= 4) {
      padKeys.shift();
      pads.shift();
    }
    padKeys.push(key);
    pads.push([ip, op]);
    return [ip, op];
  }

  function hmacSha256(key: Uint8Array, data: string | Uint8Array): Uint8Array {
    const p = padsOf(key);
    const msg = toBytes(data);
    const inner = new Uint8Array(64 + msg.length);
    inner.set(p[0]);
    inner.set(msg, 64);
    const outer = new Uint8Array(64 + 32);
    outer.set(p[1]);
    outer.set(sha256(inner), 64);
    return sha256(outer);
  }

  /** `piece`: a piece of a chunk (aesInto), whose result may take the spare's run. */
  function aes(enc: boolean, key: Uint8Array, iv: Uint8Array, data: Uint8Array, piece?: boolean): Uint8Array {
    // Typed arrays go in as they are: on Espruino `slice()` of one returns a plain Array.
    if (nativeAes && data.length % 16 === 0 && iv.length === 16) {
      const opts = { iv: iv, mode: 'CBC' as const };
      // Only a chunk's piece: a frame or a reply finds a small run anywhere, and would leave the
      // spare's run unheld until the next chunk.
      if (piece) spare = undefined;
      const r = enc ? nativeAes.encrypt(data, key, opts) : nativeAes.decrypt(data, key, opts);
      if (r) return new Uint8Array(r);
      // No free run as long as the result ("Not enough memory for result": after its own garbage
      // collection the interpreter found no aligned run of the result's variables): the same
      // bytes a block at a time, each result a run of 3 variables, into an array of JavaScript's
      // (which needs no single run). Not E.defrag: it took 578 ms on the Linux build with 4,600
      // variables in use (measured), far longer on the board, with the event loop stopped.
      refused = true;
      if (data.length > 16) {
        const out = new Uint8Array(data.length);
        for (let o = 0; o < data.length; o += 16)
          out.set(aes(enc, key, o ? (enc ? out : data).subarray(o - 16, o) : iv, data.subarray(o, o + 16)), o);
        return out;
      }
    }
    // The JavaScript AES only ships for boards whose build has no native AES (docs/hardware.md).
    if (jsAes) return enc ? jsAes.encrypt(key, iv, data) : jsAes.decrypt(key, iv, data);
    throw new Error('AES failed');
  }

  /**
   * CBC in 1,024-byte pieces into `out`, each piece's IV the last ciphertext block before it: the
   * same bytes as one call, but no allocation bigger than a piece: the native result must be one
   * free run of memory. Measured on 2v29: a 4,000-byte result failed with "Not enough memory for
   * result" in a heap 62% used; on the Espruino WiFi image (issue #17), before the spare run,
   * 2,048-byte pieces failed at idle, 512-byte pieces during a recording (a free run of 40
   * variables could not be found), 256-byte pieces (21) 13-21 times a run, and 128-byte pieces
   * (11) 18 times. With the spare run held (AES_SPARE), 256-byte pieces were refused 0-1 times a
   * run, and 512-byte ones (2026-12-01 to 12-03) and 1,024-byte ones (since) not in the runs so far.
   * After a refusal the rest of the chunk still goes in smaller pieces.
   */
  function aesInto(key: Uint8Array, iv: Uint8Array, data: Uint8Array, out: Uint8Array): Uint8Array {
    let v = iv;
    let piece = AES_PIECE;
    refused = false;
    for (let o = 0; o < data.length;) {
      const end = o + piece < data.length ? o + piece : data.length;
      out.set(aes(true, key, v, data.subarray(o, end), true), o);
      // The result is freed: the run is taken again at once (before anything else can take its
      // first variables from the head of the free list), and held until the next piece.
      if (!spare && NATIVE_AES) spare = new Uint8Array(AES_SPARE);
      v = out.subarray(end - 16, end);
      o = end;
      // After a refused piece the heap has no such run: the rest of the chunk in 64-byte pieces
      // (6 variables), and a block at a time after a second refusal.
      if (refused) piece = piece > 64 ? 64 : 16;
      refused = false;
    }
    return out.subarray(0, data.length);
  }

  return {
    sha256: sha256,
    hmacSha256: hmacSha256,
    aesCbcEncrypt: function (key, iv, data, out) {
      return out ? aesInto(key, iv, data, out) : aes(true, key, iv, data);
    },
    aesCbcDecrypt: function (key, iv, data) {
      return aes(false, key, iv, data);
    },
    randomBytes: function (n) {
      // E.hwRand is ADC noise on STM32 (31 bits) and an unseeded rand() on Linux: stir it, the
      // time and a counter into a SHA-256 pool rather than use it raw.
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i += 32) {
        counter++;
        pool = sha256((E.toString(pool) || '') + E.hwRand() + ',' + E.hwRand() + ',' + getTime() + ',' + counter);
        out.set(pool.subarray(0, Math.min(32, n - i)), i);
      }
      return out;
    },
    crc32: function (data) {
      return E.CRC32(data) >>> 0;
    },
    hex: function (data) {
      const out = new Uint16Array(data.length);
      E.mapInPlace(data, out, HEX_PAIRS, 0);
      return E.toString(new Uint8Array(out.buffer)) || '';
    }
  };
}
