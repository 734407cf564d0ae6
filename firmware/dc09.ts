/**
 * SIA DC-09 framing: encoder for the unit's messages and decoder for the receiver's replies, as
 * ../shared/docs/alarm-reporting.md (and docs/reporting.md) describe them.
 *
 *   <LF><crc><0LLL>"<id>"<seq>[R<rcvr>]L<pref>#<acct>[<data>][<xdata>…]_HH:MM:SS,MM-DD-YYYY<CR>
 *
 * Frames are byte strings. Parsing is hand-written (no regex): Espruino's regex engine does not
 * support `?` or `{n}` quantifiers. Nothing here throws on bad input: decoders return `undefined`
 * or a reason.
 */
import type { Crypto } from '../hal/types';
import { fromHex, bytesOf, stringOf } from './bytes';
import { dec, digits, formatTime, parseTime } from './civil-time';

export { formatTime, parseTime } from './civil-time';

export { fromHex };

/** Who a frame is for: account, line prefix, optional receiver number, optional AES key. */
export interface Dc09Target {
  account: string;
  line: string;
  receiver?: string;
  /** AES key as a byte string (16/24/32 bytes); absent = plain frames. */
  key?: string;
}

export interface Dc09Message {
  /** `SIA-DCS`, `ADM-CID` or `NULL`. */
  id: string;
  /** 1…9999. */
  seq: number;
  /** Data block content without brackets, e.g. `#1234|1120 01 001`; '' for NULL. */
  data: string;
  /** Extended data blocks, each with its brackets, e.g. `[V12AB]`. */
  xdata: string;
  /** Message time, UTC ms; required when encrypted. */
  time: number;
}

export interface Dc09Reply {
  /** `ACK`, `NAK`, `DUH` (or anything else the frame names). */
  type: string;
  encrypted: boolean;
  seq: string;
  receiver?: string;
  line: string;
  account: string;
  /** Timestamp carried by the reply (UTC ms), if any. */
  time?: number;
  /**
   * An encrypted reply's decrypted pad and timestamp (padding after it removed): what makes this
   * ACK itself, for the replay check. '' for a plain reply.
   */
  tag: string;
}

/** CRC-16/ARC (poly 0x8005 reflected, init 0): `123456789` → 0xBB3D. */
export function crc16(s: string): number {
  let crc = 0;
  for (let i = 0; i < s.length; i++) {
    crc ^= s.charCodeAt(i) & 0xff;
    for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

function hexN(n: number, width: number): string {
  let s = n.toString(16).toUpperCase();
  while (s.length < width) s = '0' + s;
  return s;
}

/** Wrap a body (from the first `"` to before CR) with LF, CRC, length and CR. */
export function wrapFrame(body: string): string {
  return '\n' + hexN(crc16(body), 4) + '0' + hexN(body.length, 3) + body + '\r';
}

const HEXCHARS = '0123456789ABCDEF';

/** A reply with something after the frame's end (one string: it appears three times). */
const UNEXPECTED = 'unexpected data in reply';
const PAD_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ZERO_IV = new Uint8Array(16);

/** Encrypt `text` (pad prepended so it fills whole blocks) and give upper-case hex. */
function seal(crypto: Crypto, key: string, text: string, sep: string): string {
  const n = 16 - ((text.length + sep.length) % 16);
  const rnd = crypto.randomBytes(n);
  let pad = '';
  for (let i = 0; i < n; i++) pad += PAD_CHARS.charAt(rnd[i] % PAD_CHARS.length);
  return crypto.hex(crypto.aesCbcEncrypt(bytesOf(key), ZERO_IV, bytesOf(pad + sep + text))).toUpperCase();
}

/** Decrypt upper-case hex; `undefined` when it is not whole blocks of hex. */
function unseal(crypto: Crypto, key: string, hex: string): string | undefined {
  const b = fromHex(hex);
  if (!b || b.length === 0 || b.length % 16) return undefined;
  return stringOf(crypto.aesCbcDecrypt(bytesOf(key), ZERO_IV, b));
}

function header(id: string, seq: string, t: Dc09Target): string {
  return '"' + id + '"' + seq + (t.receiver ? 'R' + t.receiver : '') + 'L' + t.line + '#' + t.account + '[';
}

/** Encode one message as a complete frame (encrypted when the target has a key). */
export function encodeMessage(crypto: Crypto, t: Dc09Target, m: Dc09Message): string {
  const seq = dec(m.seq, 4);
  const ts = '_' + formatTime(m.time);
  const isNull = m.id === 'NULL';
  if (!t.key) return wrapFrame(header(m.id, seq, t) + (isNull ? '' : m.data) + ']' + m.xdata + ts);
  const body = isNull ? ']' + ts : m.data + ']' + m.xdata + ts;
  return wrapFrame(header('*' + m.id, seq, t) + seal(crypto, t.key, body, isNull ? '' : '|'));
}

/** Encode a reply frame (the simulated centre's tests and the bench use it). */
export function encodeReply(crypto: Crypto, type: string, seq: string, t: Dc09Target, time?: number): string {
  const ts = time === undefined ? '' : '_' + formatTime(time);
  if (t.key && type === 'ACK') return wrapFrame(header('*ACK', seq, t) + seal(crypto, t.key, ']' + ts, ''));
  return wrapFrame(header(type, seq, t) + ']' + ts);
}

function isHexChar(c: string): boolean {
  return c !== '' && HEXCHARS.indexOf(c.toUpperCase()) >= 0;
}

/** Read a run of hex digits starting at `i`; returns [text, next index]. */
function hexRun(s: string, i: number, max: number): string {
  let j = i;
  while (j < s.length && j - i < max && isHexChar(s.charAt(j))) j++;
  return s.substring(i, j);
}

/**
 * Check a frame's envelope: LF, CRC, length, CR. Returns the body (first `"` to before CR) or a
 * reason it is rejected.
 */
export function openFrame(frame: string): string | { error: string } {
  if (frame.charAt(0) !== '\n' || frame.charAt(frame.length - 1) !== '\r' || frame.length < 10) {
    return { error: 'not a frame' };
  }
  const crcText = frame.substr(1, 4);
  const lenText = frame.substr(5, 4);
  const body = frame.substring(9, frame.length - 1);
  if (hexRun(crcText, 0, 4).length !== 4 || hexRun(lenText, 0, 4).length !== 4 || lenText.charAt(0) !== '0') {
    return { error: 'bad header' };
  }
  if (parseInt(lenText, 16) !== body.length) return { error: 'bad length' };
  if (parseInt(crcText, 16) !== crc16(body)) return { error: 'bad CRC' };
  return body;
}

/**
 * Decode a reply frame. With `key`, an encrypted (`*ACK`) reply is decrypted and its timestamp
 * read. Returns the reply or a reason it is rejected; never throws.
 */
export function decodeReply(crypto: Crypto, frame: string, key?: string): Dc09Reply | { error: string } {
  const body = openFrame(frame);
  if (typeof body !== 'string') return body;
  if (body.charAt(0) !== '"') return { error: 'no id' };
  const q = body.indexOf('"', 1);
  if (q < 0) return { error: 'no id' };
  let id = body.substring(1, q);
  const encrypted = id.charAt(0) === '*';
  if (encrypted) id = id.substr(1);
  let i = q + 1;
  const seq = body.substr(i, 4);
  if (digits(seq, 0, 4) < 0 || seq.length !== 4) return { error: 'bad sequence number' };
  i += 4;
  // R and L in either order (one receiver writes its parse-error NAK as `L0R0`); an R that is
  // not hex (`RNone`, from a receiver that prints a missing number) names no receiver.
  let receiver: string | undefined;
  let line: string | undefined;
  for (let k = 0; k < 2; k++) {
    const c = body.charAt(i);
    if (c === 'R' && receiver === undefined) {
      receiver = body.substr(i + 1, 4) === 'None' ? 'None' : hexRun(body, i + 1, 6);
      if (!receiver) return { error: 'bad receiver number' };
      i += 1 + receiver.length;
    } else if (c === 'L' && line === undefined) {
      line = hexRun(body, i + 1, 6);
      if (!line) return { error: 'bad line prefix' };
      i += 1 + line.length;
    }
  }
  if (line === undefined) return { error: 'no line prefix' };
  let account = '';
  const mark = body.charAt(i);
  if (mark === '#' || mark === 'A') {
    account = hexRun(body, i + 1, 16);
    i += 1 + account.length;
  }
  if (body.charAt(i) !== '[') return { error: 'no data block' };
  let rest = body.substr(i + 1);
  let pad = '';
  if (encrypted) {
    if (!key) return { error: 'encrypted reply but no key' };
    const plain = unseal(crypto, key, rest);
    if (plain === undefined) return { error: 'undecryptable' };
    // The pad ends at the first `]` (`pad]` or `pad|]`, NUL pads too); the pad holds no `]`.
    const end = plain.indexOf(']');
    if (end < 0) return { error: 'undecryptable' };
    pad = plain.substr(0, end);
    rest = plain.substr(end);
  }
  if (rest.charAt(0) !== ']') return { error: UNEXPECTED };
  // Extended-data blocks in a reply are skipped, never acted on (one receiver echoes a [K…] there).
  let j = 1;
  for (let b = 0; b < 4 && rest.charAt(j) === '['; b++) {
    const close = rest.indexOf(']', j);
    if (close < 0) return { error: UNEXPECTED };
    j = close + 1;
  }
  let time: number | undefined;
  let stop = j;
  if (rest.charAt(j) === '_') {
    time = parseTime(rest.substr(j + 1, 19));
    if (time === undefined) return { error: 'bad timestamp' };
    stop = j + 20;
  }
  // Padding after the timestamp (a PKCS#7 block or NULs) only inside the encrypted text.
  const tail = rest.substr(stop);
  if (tail !== '' && !(encrypted && isPadding(tail)))
    return { error: encrypted || rest.charAt(j) === '_' ? 'bad timestamp' : UNEXPECTED };
  const r: Dc09Reply = {
    type: id,
    encrypted: encrypted,
    seq: seq,
    line: line,
    account: account,
    tag: encrypted ? pad + ']' + rest.substring(j, stop) : ''
  };
  if (receiver !== undefined) r.receiver = receiver;
  if (time !== undefined) r.time = time;
  return r;
}

/** Nothing, NUL bytes, or PKCS#7 padding (n bytes of value n, 1-16). */
function isPadding(s: string): boolean {
  const n = s.length;
  if (n === 0) return true;
  const last = s.charCodeAt(n - 1);
  let nul = true;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) !== 0) nul = false;
  if (nul) return n <= 16;
  if (last !== n || n > 16) return false;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) !== last) return false;
  return true;
}

/**
 * Split a TCP byte stream into frames (LF … CR). Bytes before an LF are dropped; a frame longer
 * than `max` is dropped (a receiver reply is well under 200 bytes).
 */
export function createFrameSplitter(max: number) {
  let buf = '';
  return {
    push: function (data: string, onFrame: (frame: string) => void): void {
      buf += data;
      for (;;) {
        const end = buf.indexOf('\r');
        if (end < 0) {
          const start = buf.lastIndexOf('\n');
          buf = start < 0 || buf.length - start > max ? '' : buf.substr(start);
          return;
        }
        const start = buf.lastIndexOf('\n', end);
        const frame = start < 0 ? '' : buf.substring(start, end + 1);
        buf = buf.substr(end + 1);
        if (frame !== '' && frame.length <= max) onFrame(frame);
      }
    }
  };
}

/** Message data block for ADM-CID: `#acct|QCCC PP ZZZ`. */
export function cidData(account: string, qualifier: number, code: number, partition: number, zone: number): string {
  return '#' + account + '|' + qualifier + dec(code, 3) + ' ' + dec(partition, 2) + ' ' + dec(zone, 3);
}

/** Message data block for SIA-DCS: `#acct|Nri<area>/<code><zone>`. */
export function siaData(account: string, code: string, area: number, zone: number): string {
  return '#' + account + '|Nri' + area + '/' + code + dec(zone, 3);
}
