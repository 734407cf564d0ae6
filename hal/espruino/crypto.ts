/**
 * Crypto on the device: SHA-256 and CRC-32 natively; HMAC-SHA-256 composed from native SHA-256;
 * AES-CBC natively where the board's `crypto` has AES (Linux build, Puck.js), else the JavaScript
 * fallback in ./aes.ts (Espruino WiFi, ESP32). Random bytes from the hardware RNG (`E.hwRand`).
 */
import type { Crypto } from '../types';
import { aesCbcEncrypt, aesCbcDecrypt } from './aes';

function toBytes(data: string | Uint8Array): Uint8Array {
  if (typeof data !== 'string') return data;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data.charCodeAt(i);
  return out;
}

export function createEspruinoCrypto(): Crypto {
  const c = global.require('crypto');
  const nativeAes = c.AES;
  let pool: Uint8Array = new Uint8Array(32);
  let counter = 0;

  function sha256(data: string | Uint8Array): Uint8Array {
    return new Uint8Array(c.SHA256(data));
  }

  function hmacSha256(key: Uint8Array, data: string | Uint8Array): Uint8Array {
    const k = key.length > 64 ? sha256(key) : key;
    const block = new Uint8Array(64);
    block.set(k);
    const msg = toBytes(data);
    const inner = new Uint8Array(64 + msg.length);
    for (let i = 0; i < 64; i++) inner[i] = block[i] ^ 0x36;
    inner.set(msg, 64);
    const ih = sha256(inner);
    const outer = new Uint8Array(64 + 32);
    for (let i = 0; i < 64; i++) outer[i] = block[i] ^ 0x5c;
    outer.set(ih, 64);
    return sha256(outer);
  }

  function aes(enc: boolean, key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
    // Typed arrays go in as they are: on Espruino `slice()` of one returns a plain Array.
    if (nativeAes && data.length % 16 === 0 && iv.length === 16) {
      const opts = { iv: iv, mode: 'CBC' as const };
      const r = enc ? nativeAes.encrypt(data, key, opts) : nativeAes.decrypt(data, key, opts);
      if (r) return new Uint8Array(r);
    }
    return enc ? aesCbcEncrypt(key, iv, data) : aesCbcDecrypt(key, iv, data);
  }

  return {
    sha256: sha256,
    hmacSha256: hmacSha256,
    aesCbcEncrypt: function (key, iv, data) {
      return aes(true, key, iv, data);
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
    }
  };
}
