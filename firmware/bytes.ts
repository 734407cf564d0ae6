/**
 * Bytes and hex, for every module that needs them (a leaf: imports nothing). Encoding hex is the
 * HAL's (`Crypto.hex`, native on the device); decoding it is rare and lives here.
 */

/** Hex text (either case) → bytes; `undefined` unless it is an even count of hex digits. */
export function fromHex(s: string): Uint8Array | undefined {
  if (s.length % 2 || /[^0-9a-fA-F]/.test(s)) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}

/** A byte string's bytes. */
export function bytesOf(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** Bytes as a byte string. */
export function stringOf(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** Whether two byte strings are equal, in time that does not depend on where they differ. */
export function sameBytes(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}
