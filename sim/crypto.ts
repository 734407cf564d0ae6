/** The HAL crypto contract on Node's crypto and zlib. */
import * as nodeCrypto from 'node:crypto';
import * as zlib from 'node:zlib';
import type { Crypto } from '../hal/types';

function bytes(data: string | Uint8Array): Buffer {
  return typeof data === 'string'
    ? Buffer.from(data, 'latin1')
    : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function aes(decrypt: boolean, key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  if (key.length !== 16 && key.length !== 24 && key.length !== 32)
    throw new Error('AES key must be 16, 24 or 32 bytes');
  if (iv.length !== 16) throw new Error('AES IV must be 16 bytes');
  if (data.length % 16 !== 0) throw new Error('AES-CBC data must be a multiple of 16 bytes');
  const name = `aes-${key.length * 8}-cbc`;
  const c = decrypt ? nodeCrypto.createDecipheriv(name, key, iv) : nodeCrypto.createCipheriv(name, key, iv);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

export function createSimCrypto(): Crypto {
  return {
    sha256: (data) => new Uint8Array(nodeCrypto.createHash('sha256').update(bytes(data)).digest()),
    hmacSha256: (key, data) => new Uint8Array(nodeCrypto.createHmac('sha256', bytes(key)).update(bytes(data)).digest()),
    aesCbcEncrypt: (key, iv, data, out) => {
      const ct = aes(false, key, iv, data);
      if (!out) return ct;
      out.set(ct);
      return out.subarray(0, ct.length);
    },
    aesCbcDecrypt: (key, iv, data) => aes(true, key, iv, data),
    randomBytes: (n) => new Uint8Array(nodeCrypto.randomBytes(n)),
    crc32: (data) => zlib.crc32(Buffer.from(data, 'latin1')) >>> 0,
    hex: (data) => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex')
  };
}
