/**
 * AES (FIPS-197) in CBC mode, in plain ES5-safe TypeScript: the fallback for boards whose
 * `crypto` module has no AES (the Espruino WiFi and ESP32 builds, per the platform doc). Used only
 * for DC-09 frames (tens of bytes), so a byte-wise implementation is fast enough; audio never goes
 * through here.
 *
 * Tables are computed at first use (no large literals in the bundle). Checked against Node's
 * crypto in test/aes.test.ts.
 */

let SBOX: Uint8Array | undefined;
let INV: Uint8Array | undefined;

function xtime(a: number): number {
  return ((a << 1) ^ (a & 0x80 ? 0x1b : 0)) & 0xff;
}

function tables(): void {
  const sbox = new Uint8Array(256);
  const inv = new Uint8Array(256);
  // Walk the multiplicative group with generator 3 to get inverses, then apply the affine map.
  let p = 1;
  let q = 1;
  do {
    p = p ^ xtime(p); // p *= 3
    q ^= q << 1; // q /= 3
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if (q & 0x80) q ^= 0x09;
    const x = q ^ ((q << 1) | (q >> 7)) ^ ((q << 2) | (q >> 6)) ^ ((q << 3) | (q >> 5)) ^ ((q << 4) | (q >> 4));
    sbox[p] = (x ^ 0x63) & 0xff;
  } while (p !== 1);
  sbox[0] = 0x63;
  for (let i = 0; i < 256; i++) inv[sbox[i]] = i;
  SBOX = sbox;
  INV = inv;
}

function mul(a: number, b: number): number {
  let r = 0;
  while (b) {
    if (b & 1) r ^= a;
    a = xtime(a);
    b >>= 1;
  }
  return r;
}

/** Expanded key: 16 bytes per round key, `rounds + 1` round keys. */
export interface AesKey {
  rounds: number;
  w: Uint8Array;
}

export function expandKey(key: Uint8Array): AesKey {
  if (!SBOX) tables();
  const s = SBOX as Uint8Array;
  const nk = key.length / 4;
  if (nk !== 4 && nk !== 6 && nk !== 8) throw new Error('AES key must be 16, 24 or 32 bytes');
  const rounds = nk + 6;
  const w = new Uint8Array(16 * (rounds + 1));
  w.set(key, 0);
  let rcon = 1;
  for (let i = nk; i < 4 * (rounds + 1); i++) {
    let t0 = w[4 * i - 4];
    let t1 = w[4 * i - 3];
    let t2 = w[4 * i - 2];
    let t3 = w[4 * i - 1];
    if (i % nk === 0) {
      const tmp = t0;
      t0 = s[t1] ^ rcon;
      t1 = s[t2];
      t2 = s[t3];
      t3 = s[tmp];
      rcon = xtime(rcon);
    } else if (nk > 6 && i % nk === 4) {
      t0 = s[t0];
      t1 = s[t1];
      t2 = s[t2];
      t3 = s[t3];
    }
    const b = 4 * (i - nk);
    w[4 * i] = w[b] ^ t0;
    w[4 * i + 1] = w[b + 1] ^ t1;
    w[4 * i + 2] = w[b + 2] ^ t2;
    w[4 * i + 3] = w[b + 3] ^ t3;
  }
  return { rounds: rounds, w: w };
}

function addRoundKey(st: Uint8Array, w: Uint8Array, round: number): void {
  const o = round * 16;
  for (let i = 0; i < 16; i++) st[i] ^= w[o + i];
}

/** Encrypt one 16-byte block in place. State is column-major as in FIPS-197. */
export function encryptBlock(k: AesKey, st: Uint8Array): void {
  const s = SBOX as Uint8Array;
  const t = new Uint8Array(16);
  addRoundKey(st, k.w, 0);
  for (let r = 1; r <= k.rounds; r++) {
    // SubBytes + ShiftRows
    for (let c = 0; c < 4; c++) {
      for (let row = 0; row < 4; row++) t[4 * c + row] = s[st[4 * ((c + row) % 4) + row]];
    }
    if (r < k.rounds) {
      for (let c = 0; c < 4; c++) {
        const a0 = t[4 * c];
        const a1 = t[4 * c + 1];
        const a2 = t[4 * c + 2];
        const a3 = t[4 * c + 3];
        st[4 * c] = xtime(a0) ^ xtime(a1) ^ a1 ^ a2 ^ a3;
        st[4 * c + 1] = a0 ^ xtime(a1) ^ xtime(a2) ^ a2 ^ a3;
        st[4 * c + 2] = a0 ^ a1 ^ xtime(a2) ^ xtime(a3) ^ a3;
        st[4 * c + 3] = xtime(a0) ^ a0 ^ a1 ^ a2 ^ xtime(a3);
      }
    } else {
      st.set(t);
    }
    addRoundKey(st, k.w, r);
  }
}

/** Decrypt one 16-byte block in place. */
export function decryptBlock(k: AesKey, st: Uint8Array): void {
  const inv = INV as Uint8Array;
  const t = new Uint8Array(16);
  addRoundKey(st, k.w, k.rounds);
  for (let r = k.rounds - 1; r >= 0; r--) {
    // InvShiftRows + InvSubBytes
    for (let c = 0; c < 4; c++) {
      for (let row = 0; row < 4; row++) t[4 * ((c + row) % 4) + row] = inv[st[4 * c + row]];
    }
    st.set(t);
    addRoundKey(st, k.w, r);
    if (r > 0) {
      for (let c = 0; c < 4; c++) {
        const a0 = st[4 * c];
        const a1 = st[4 * c + 1];
        const a2 = st[4 * c + 2];
        const a3 = st[4 * c + 3];
        st[4 * c] = mul(a0, 14) ^ mul(a1, 11) ^ mul(a2, 13) ^ mul(a3, 9);
        st[4 * c + 1] = mul(a0, 9) ^ mul(a1, 14) ^ mul(a2, 11) ^ mul(a3, 13);
        st[4 * c + 2] = mul(a0, 13) ^ mul(a1, 9) ^ mul(a2, 14) ^ mul(a3, 11);
        st[4 * c + 3] = mul(a0, 11) ^ mul(a1, 13) ^ mul(a2, 9) ^ mul(a3, 14);
      }
    }
  }
}

function checkCbc(key: Uint8Array, iv: Uint8Array, data: Uint8Array): void {
  if (iv.length !== 16) throw new Error('AES IV must be 16 bytes');
  if (data.length % 16 !== 0) throw new Error('AES-CBC data must be a multiple of 16 bytes');
  if (key.length !== 16 && key.length !== 24 && key.length !== 32)
    throw new Error('AES key must be 16, 24 or 32 bytes');
}

export function aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  checkCbc(key, iv, data);
  const k = expandKey(key);
  const out = new Uint8Array(data.length);
  const st = new Uint8Array(16);
  st.set(iv);
  for (let off = 0; off < data.length; off += 16) {
    for (let i = 0; i < 16; i++) st[i] ^= data[off + i];
    encryptBlock(k, st);
    out.set(st, off);
  }
  return out;
}

export function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  checkCbc(key, iv, data);
  const k = expandKey(key);
  const out = new Uint8Array(data.length);
  const st = new Uint8Array(16);
  const prev = new Uint8Array(16);
  prev.set(iv);
  for (let off = 0; off < data.length; off += 16) {
    st.set(data.subarray(off, off + 16));
    decryptBlock(k, st);
    for (let i = 0; i < 16; i++) out[off + i] = st[i] ^ prev[i];
    prev.set(data.subarray(off, off + 16));
  }
  return out;
}
