/**
 * A simulated SIA DC-09 monitoring-centre receiver on real sockets (TCP and UDP). It is written
 * independently of the firmware's encoder, straight from docs/alarm-reporting.md, so that the two
 * cross-check each other. Faults (down, drops, NAK/DUH, garbled or forged replies, delay) are set
 * through the mutable `faults` object. Keys and decrypted content are never printed.
 */
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import * as crypto from 'node:crypto';

export interface CentreAccount {
  /** 3-16 hex digits, compared case-insensitively. */
  account: string;
  /** Absent: this account only sends plain frames. */
  key?: string;
  keyFormat?: 'hex' | 'ascii';
}

export interface CentreFaults {
  down: boolean;
  /** Contact ID codes (or SIA codes) answered with DUH in any form, as a receiver that does not know them. */
  duhCodes: string[];
  drop: number;
  delayMs: number;
  nak: number;
  duh: number;
  garble: number;
  wrongKey: number;
  wrongSeq: number;
}

export interface CentreEvent {
  at: number;
  transport: 'tcp' | 'udp';
  id: string;
  encrypted: boolean;
  seq: string;
  receiver?: string;
  line: string;
  account: string;
  data: string;
  xdata: string[];
  timestamp?: number;
  cid?: { qualifier: number; code: string; partition: string; zone: string };
  sia?: { code: string; zone: string; area?: string };
  duplicate: boolean;
  reply: 'ACK' | 'NAK' | 'DUH' | 'none';
}

export interface Rejected {
  at: number;
  reason: string;
  raw: string;
}

export interface SimCentre {
  readonly tcpPort: number;
  readonly udpPort: number;
  readonly host: string;
  faults: CentreFaults;
  /** The receiver quirks shown now. */
  profile(): ReceiverQuirk[];
  /** Show other quirks from the next frame on (a name, a comma list, `standard`, or a list). */
  setProfile(p: string | readonly string[]): void;
  events(): CentreEvent[];
  alarms(): CentreEvent[];
  rejected(): Rejected[];
  onEvent(fn: (e: CentreEvent) => void): void;
  close(): Promise<void>;
}

/**
 * Behaviours of DC-09 receivers in the field that differ from the standard's letter, each one seen
 * in receiver software this project did not write (docs/reporting.md, "Receivers in the field").
 */
export const RECEIVER_QUIRKS = {
  'one-xdata': 'accepts at most one extended-data block in ADM-CID; NAKs a frame with more',
  'padded-ack': 'encrypted ACK plaintext is a NUL pad, "|]", the timestamp, then a PKCS#7 block of 16 x 0x10',
  'pipe-ack': 'encrypted ACK plaintext has "|]" before the timestamp',
  'nak-null': 'answers NULL link tests with NAK (events are ACKed)',
  'close-after-ack': 'closes the TCP connection right after each ACK',
  'close-30s': 'closes the TCP connection 30 s after its first ACK',
  'window-10s': 'accepts message times within +/-10 s of its clock (not -40/+20 s)',
  'double-nak': 'writes its NAK twice into one write',
  'lower-hex': 'writes the encrypted reply in lower-case hex',
  'nak-bad-crc': 'answers a frame with a bad CRC with NAK (the standard: no reply at all)',
  'zero-pad': 'pads its encrypted ACK with "0" characters (the same bytes for every ACK in one second)',
  'k-block': 'puts a [K…] block (the account key) into its encrypted ACK when the frame had extended data',
  'nak-lr': 'writes its NAK with L before R ("NAK"0000L0R0A0[]…)'
} as const;

export type ReceiverQuirk = keyof typeof RECEIVER_QUIRKS;

/** A receiver profile: a name from RECEIVER_QUIRKS, `standard`, or a list of quirks. */
export function parseProfile(p: string | readonly string[] | undefined): Set<ReceiverQuirk> {
  const names =
    p === undefined ? [] : typeof p === 'string' ? p.split(',').filter((x) => x !== '' && x !== 'standard') : [...p];
  for (const n of names) {
    if (!Object.prototype.hasOwnProperty.call(RECEIVER_QUIRKS, n)) {
      throw new Error(`unknown receiver profile '${n}' (known: standard, ${Object.keys(RECEIVER_QUIRKS).join(', ')})`);
    }
  }
  return new Set(names as ReceiverQuirk[]);
}

export interface SimCentreOptions {
  /** Receiver quirks to show (RECEIVER_QUIRKS); default: none, the standard's letter. */
  profile?: string | readonly string[];
  accounts: CentreAccount[];
  host?: string;
  tcpPort?: number;
  udpPort?: number;
  /** R value put in replies to frames that carried none; unset (default): replies echo the frame. */
  receiver?: string;
  windowBeforeMs?: number;
  windowAfterMs?: number;
  knownCodes?: string[];
  knownSiaCodes?: string[];
}

export const DEFAULT_CID_CODES = [
  '120',
  '121',
  '122',
  '137',
  '144',
  '300',
  '301',
  '302',
  '305',
  '308',
  '350',
  '354',
  '406',
  '601',
  '602',
  '616'
];
export const DEFAULT_SIA_CODES = [
  'PA',
  'PH',
  'HA',
  'HH',
  'TA',
  'TR',
  'AT',
  'AR',
  'YT',
  'YR',
  'YW',
  'YC',
  'YK',
  'OC',
  'RX',
  'RP',
  'YX',
  'YZ'
];
const DUPLICATE_WINDOW_MS = 10 * 60 * 1000;
const MAX_FRAME = 4 + 4 + 0xfff + 2;

/** An AES key from configuration: 32/48/64 hex digits, or the bytes of a 16/24/32-character ASCII string. */
export function parseKey(key: string, format?: 'hex' | 'ascii'): Buffer {
  const isHex = /^[0-9a-fA-F]*$/.test(key) && [32, 48, 64].includes(key.length);
  const isAscii = /^[\x20-\x7e]*$/.test(key) && [16, 24, 32].includes(key.length);
  if (format === 'hex' || (format === undefined && isHex)) {
    if (!isHex) throw new Error(`hex AES key must be 32, 48 or 64 hex digits (got ${key.length} characters)`);
    return Buffer.from(key, 'hex');
  }
  if (format === 'ascii' || format === undefined) {
    if (!isAscii) {
      throw new Error(`ASCII AES key must be 16, 24 or 32 printable ASCII characters (got ${key.length} characters)`);
    }
    return Buffer.from(key, 'latin1');
  }
  throw new Error(`unknown key format '${String(format)}'`);
}

/** CRC-16/ARC: poly 0x8005 reflected (0xA001), init 0, no final XOR. */
export function crc16(text: string): number {
  let crc = 0;
  for (let i = 0; i < text.length; i++) {
    crc ^= text.charCodeAt(i) & 0xff;
    for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0');

/** Wrap a body (from the first `"` to the byte before CR) in LF, CRC, length and CR. */
export function frameBody(body: string): string {
  return `\n${hex(crc16(body), 4)}0${hex(body.length, 3)}${body}\r`;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `_HH:MM:SS,MM-DD-YYYY` in UTC. */
export function formatTimestamp(ms: number): string {
  const d = new Date(ms);
  return (
    `_${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())},` +
    `${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}-${d.getUTCFullYear()}`
  );
}

/** Parse `_HH:MM:SS,MM-DD-YYYY` (UTC) to ms, or undefined when malformed or not a real date. */
export function parseTimestamp(ts: string): number | undefined {
  const m = /^_(\d\d):(\d\d):(\d\d),(\d\d)-(\d\d)-(\d{4})$/.exec(ts);
  if (!m) return undefined;
  const [h, mi, s, mo, d, y] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  return formatTimestamp(ms) === ts ? ms : undefined;
}

const cipherName = (key: Buffer) => `aes-${key.length * 8}-cbc`;

function aes(key: Buffer, data: Buffer, decrypt: boolean): Buffer {
  const iv = Buffer.alloc(16);
  const c = decrypt
    ? crypto.createDecipheriv(cipherName(key), key, iv)
    : crypto.createCipheriv(cipherName(key), key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

const PAD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Random pad of 1-16 safe characters so that pad + text fills whole 16-byte blocks. */
function padFor(text: string, zeros = false): string {
  const n = 16 - (text.length % 16) || 16;
  if (zeros) return '0'.repeat(n);
  const r = crypto.randomBytes(n);
  let p = '';
  for (let i = 0; i < n; i++) p += PAD_ALPHABET[r[i]! % PAD_ALPHABET.length];
  return p;
}

function encryptText(key: Buffer, text: string, zeros = false): string {
  return aes(key, Buffer.from(padFor(text, zeros) + text, 'latin1'), false)
    .toString('hex')
    .toUpperCase();
}

/** Data block parsers: undefined when the block cannot be understood. */
function parseCid(data: string): { qualifier: number; code: string; partition: string; zone: string } | undefined {
  const m = /^#[0-9A-Fa-f]{3,16}\|([136])(\d{3}) (\d{2}) (\d{3})$/.exec(data);
  return m ? { qualifier: Number(m[1]), code: m[2]!, partition: m[3]!, zone: m[4]! } : undefined;
}

function parseSia(data: string): { codes: string[]; sia: { code: string; zone: string; area?: string } } | undefined {
  const m = /^#[0-9A-Fa-f]{3,16}\|N(.+)$/.exec(data);
  if (!m) return undefined;
  let area: string | undefined;
  const events: { code: string; zone: string }[] = [];
  for (const part of m[1]!.split('/')) {
    let p: RegExpExecArray | null;
    if ((p = /^ri(\d{1,4})$/.exec(part))) area = p[1];
    else if (/^(id\d{1,4}|ti\d\d:\d\d|\^[^^]*\^)$/.test(part)) continue;
    else if ((p = /^([A-Z]{2})(\d{0,4})(\^[^^]*\^)?$/.exec(part))) events.push({ code: p[1]!, zone: p[2]! });
    else return undefined;
  }
  const first = events[0];
  if (!first) return undefined;
  return { codes: events.map((e) => e.code), sia: area === undefined ? first : { ...first, area } };
}

interface Header {
  encrypted: boolean;
  id: string;
  seq: string;
  receiver?: string;
  line: string;
  account: string;
  rest: string;
}

const HEADER =
  /^"(\*?)(SIA-DCS|ADM-CID|NULL)"(\d{4})(?:R([0-9A-Fa-f]{1,6}))?L([0-9A-Fa-f]{1,6})#([0-9A-Fa-f]{3,16})\[(.*)$/s;

/** Split `data]` + `[xdata]`… + optional timestamp. */
function parseRest(rest: string): { data: string; xdata: string[]; ts?: string } | undefined {
  const end = rest.indexOf(']');
  if (end < 0) return undefined;
  const data = rest.slice(0, end);
  if (data.includes('[')) return undefined;
  const xdata: string[] = [];
  let i = end + 1;
  while (rest[i] === '[') {
    const close = rest.indexOf(']', i);
    if (close < 0) return undefined;
    const x = rest.slice(i + 1, close);
    if (x.includes('[')) return undefined;
    xdata.push(x);
    i = close + 1;
  }
  const tail = rest.slice(i);
  if (tail === '') return { data, xdata };
  return tail.startsWith('_') ? { data, xdata, ts: tail } : undefined;
}

/** Decrypt the hex after `[` and strip the pad: returns the text in plain form (`data]xdata…_ts`). */
function decryptRest(key: Buffer, hexText: string, isNull: boolean): string | undefined {
  if (!/^(?:[0-9A-Fa-f]{32})+$/.test(hexText)) return undefined;
  let plain: string;
  try {
    plain = aes(key, Buffer.from(hexText, 'hex'), true).toString('latin1');
  } catch {
    return undefined;
  }
  if (!/^[\x20-\x7e]*$/.test(plain)) return undefined;
  const cut = plain.search(/[|\]]/);
  if (cut < 1 || cut > 16 || plain.slice(0, cut).includes('[')) return undefined;
  if (plain[cut] === '|') return plain.slice(cut + 1);
  return isNull ? plain.slice(cut) : undefined;
}

export async function createSimCentre(options: SimCentreOptions): Promise<SimCentre> {
  const host = options.host ?? '127.0.0.1';
  let quirks = parseProfile(options.profile);
  const before = () => options.windowBeforeMs ?? (quirks.has('window-10s') ? 10000 : 40000);
  const after = () => options.windowAfterMs ?? (quirks.has('window-10s') ? 10000 : 20000);
  const cidCodes = new Set(options.knownCodes ?? DEFAULT_CID_CODES);
  const siaCodes = new Set(options.knownSiaCodes ?? DEFAULT_SIA_CODES);
  const accounts = new Map<string, Buffer | undefined>();
  for (const a of options.accounts) {
    if (!/^[0-9A-Fa-f]{3,16}$/.test(a.account)) throw new Error(`account '${a.account}' is not 3-16 hex digits`);
    accounts.set(a.account.toUpperCase(), a.key === undefined ? undefined : parseKey(a.key, a.keyFormat));
  }

  const faults: CentreFaults = {
    down: false,
    duhCodes: [],
    drop: 0,
    delayMs: 0,
    nak: 0,
    duh: 0,
    garble: 0,
    wrongKey: 0,
    wrongSeq: 0
  };
  const log: CentreEvent[] = [];
  const rejects: Rejected[] = [];
  const listeners: ((e: CentreEvent) => void)[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const sockets = new Set<net.Socket>();
  let closed = false;

  const reject = (reason: string, raw: string) => {
    rejects.push({ at: Date.now(), reason, raw: raw.slice(0, 200) });
  };
  const take = (k: 'drop' | 'nak' | 'duh' | 'garble' | 'wrongKey' | 'wrongSeq'): boolean => {
    if (!(faults[k] > 0)) return false;
    faults[k]--;
    return true;
  };

  /** Handle one frame (between LF and CR); returns the reply bytes or undefined for silence. */
  function handle(frame: string, transport: 'tcp' | 'udp'): string | undefined {
    const raw = `\n${frame}\r`;
    const m = /^([0-9A-Fa-f]{4})(0[0-9A-Fa-f]{3})(.*)$/s.exec(frame);
    if (!m) return void reject('unparseable', raw);
    const body = m[3]!;
    if (parseInt(m[2]!, 16) !== body.length) return void reject('bad length', raw);
    if (parseInt(m[1]!, 16) !== crc16(body)) {
      reject('bad crc', raw);
      return quirks.has('nak-bad-crc') ? frameBody(`"NAK"0000R0L0A0[]${formatTimestamp(Date.now())}`) : undefined;
    }
    const h = HEADER.exec(body);
    if (!h) return void reject('unparseable', raw);
    const hd: Header = {
      encrypted: h[1] === '*',
      id: h[2]!,
      seq: h[3]!,
      line: h[5]!,
      account: h[6]!,
      rest: h[7]!,
      ...(h[4] !== undefined ? { receiver: h[4] } : {})
    };
    const acct = hd.account.toUpperCase();
    if (!accounts.has(acct)) return void reject('unknown account', raw);
    const key = accounts.get(acct);
    let rest = hd.rest;
    if (hd.encrypted) {
      if (!key) return void reject('no key', raw);
      const plain = decryptRest(key, rest, hd.id === 'NULL');
      if (plain === undefined) return void reject('decrypt failed', raw);
      rest = plain;
    } else if (key) return void reject('plain frame for encrypted account', raw);
    const parsed = parseRest(rest);
    if (!parsed) return void reject(hd.encrypted ? 'decrypt failed' : 'unparseable', raw);
    let timestamp: number | undefined;
    if (parsed.ts !== undefined) {
      timestamp = parseTimestamp(parsed.ts);
      if (timestamp === undefined) return void reject('bad timestamp', raw);
    } else if (hd.encrypted) return void reject('missing timestamp', raw);

    if (take('drop')) return undefined;
    const now = Date.now();
    const ev: CentreEvent = {
      at: now,
      transport,
      id: hd.id,
      encrypted: hd.encrypted,
      seq: hd.seq,
      ...(hd.receiver !== undefined ? { receiver: hd.receiver } : {}),
      line: hd.line,
      account: hd.account,
      data: parsed.data,
      xdata: parsed.xdata,
      ...(timestamp !== undefined ? { timestamp } : {}),
      duplicate: false,
      reply: 'ACK'
    };
    let understood = true;
    if (hd.id === 'ADM-CID') {
      const cid = parseCid(parsed.data);
      if (cid) ev.cid = cid;
      understood = !!cid && cidCodes.has(cid.code);
    } else if (hd.id === 'SIA-DCS') {
      const s = parseSia(parsed.data);
      if (s) ev.sia = s.sia;
      understood = !!s && s.codes.every((c) => siaCodes.has(c));
    }
    const inWindow = timestamp === undefined || (timestamp >= now - before() && timestamp <= now + after());
    const code = ev.cid?.code ?? ev.sia?.code;
    const tooMuch = quirks.has('one-xdata') && hd.id === 'ADM-CID' && parsed.xdata.length > 1;
    if (take('nak') || !inWindow || tooMuch || (hd.id === 'NULL' && quirks.has('nak-null'))) ev.reply = 'NAK';
    else if (take('duh') || !understood || (code !== undefined && faults.duhCodes.includes(code))) ev.reply = 'DUH';
    else if (hd.id !== 'NULL') {
      // The same account and number (and event) within the window is one message sent again,
      // whatever its extended data: the unit may resend an event in a leaner form.
      const dupKey = JSON.stringify([acct, ev.seq, ev.data]);
      ev.duplicate = log.some(
        (e) =>
          e.reply === 'ACK' &&
          e.id !== 'NULL' &&
          now - e.at <= DUPLICATE_WINDOW_MS &&
          JSON.stringify([e.account.toUpperCase(), e.seq, e.data]) === dupKey
      );
    }
    log.push(ev);
    for (const fn of listeners) {
      try {
        fn(ev);
      } catch {
        // a listener's failure must not stop the receiver
      }
    }

    const ts = formatTimestamp(now);
    const r = hd.receiver ?? options.receiver;
    const tail = `${r !== undefined ? `R${r}` : ''}L${hd.line}#${hd.account}[`;
    let reply: string;
    if (ev.reply === 'NAK') reply = quirks.has('nak-lr') ? `"NAK"0000L0R0A0[]${ts}` : `"NAK"0000R0L0A0[]${ts}`;
    else if (ev.reply === 'DUH') reply = `"DUH"${hd.seq}${tail}]${ts}`;
    else {
      const seq = take('wrongSeq') ? String((Number(hd.seq) % 9999) + 1).padStart(4, '0') : hd.seq;
      if (hd.encrypted && key) {
        const k = take('wrongKey') ? crypto.randomBytes(key.length) : key;
        let hexText: string;
        if (quirks.has('padded-ack')) {
          const text = `|]${ts}`;
          const plain = Buffer.concat([
            Buffer.alloc(16 - (text.length % 16)),
            Buffer.from(text, 'latin1'),
            Buffer.alloc(16, 0x10)
          ]);
          hexText = aes(k, plain, false).toString('hex').toUpperCase();
        } else {
          const kb = quirks.has('k-block') && parsed.xdata.length > 0 ? `[K${key.toString('hex').toUpperCase()}]` : '';
          hexText = encryptText(k, `${quirks.has('pipe-ack') ? '|' : ''}]${kb}${ts}`, quirks.has('zero-pad'));
        }
        reply = `"*ACK"${seq}${tail}${quirks.has('lower-hex') ? hexText.toLowerCase() : hexText}`;
      } else reply = `"ACK"${seq}${tail}]${ts}`;
    }
    let out = frameBody(reply);
    if (take('garble')) out = `\n${hex(crc16(reply) ^ 0xffff, 4)}${out.slice(5)}`;
    if (ev.reply === 'NAK' && quirks.has('double-nak')) out += out;
    return out;
  }

  /** Send a reply now or after faults.delayMs. */
  function respond(reply: string | undefined, send: (b: Buffer) => void): void {
    if (reply === undefined) return;
    const buf = Buffer.from(reply, 'latin1');
    if (!(faults.delayMs > 0)) return send(buf);
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) send(buf);
    }, faults.delayMs);
    timers.add(t);
  }

  const tcp = net.createServer((sock) => {
    if (faults.down || closed) return void sock.destroy();
    sockets.add(sock);
    let buf = '';
    let lifetime: ReturnType<typeof setTimeout> | undefined;
    sock.on('error', () => sock.destroy());
    sock.on('close', () => sockets.delete(sock));
    sock.on('data', (chunk) => {
      if (faults.down) return void sock.destroy();
      buf += chunk.toString('latin1');
      for (;;) {
        const cr = buf.indexOf('\r');
        if (cr < 0) break;
        const lf = buf.lastIndexOf('\n', cr);
        const frame = lf < 0 ? undefined : buf.slice(lf + 1, cr);
        if (frame === undefined) reject('unparseable', buf.slice(0, cr + 1));
        buf = buf.slice(cr + 1);
        if (frame !== undefined) {
          const out = handle(frame, 'tcp');
          const acked = out !== undefined && /"\*?ACK"/.test(out);
          respond(out, (b) => {
            if (sock.destroyed) return;
            sock.write(b);
            if (acked && quirks.has('close-after-ack')) sock.end();
            if (acked && quirks.has('close-30s') && !lifetime) {
              lifetime = setTimeout(() => {
                timers.delete(lifetime!);
                sock.destroy();
              }, 30_000);
              timers.add(lifetime);
            }
          });
        }
      }
      if (buf.length > MAX_FRAME) {
        reject('oversize', buf);
        buf = '';
      }
    });
  });
  const udp = dgram.createSocket('udp4');
  udp.on('error', () => {});
  udp.on('message', (msg, from) => {
    if (faults.down || closed) return;
    const text = msg.toString('latin1');
    const m = /^\n([^\n\r]*)\r$/.exec(text);
    if (!m) return void reject('unparseable', text);
    respond(handle(m[1]!, 'udp'), (b) => udp.send(b, from.port, from.address));
  });

  await new Promise<void>((resolve, fail) => {
    tcp.once('error', fail);
    tcp.listen(options.tcpPort ?? 0, host, () => resolve());
  });
  try {
    await new Promise<void>((resolve, fail) => {
      udp.once('error', fail);
      udp.bind(options.udpPort ?? 0, host, () => resolve());
    });
  } catch (e) {
    tcp.close();
    throw e;
  }

  return {
    tcpPort: (tcp.address() as net.AddressInfo).port,
    udpPort: udp.address().port,
    host,
    faults,
    profile: () => [...quirks],
    setProfile(p) {
      quirks = parseProfile(p);
    },
    events: () => [...log],
    alarms: () => log.filter((e) => e.id !== 'NULL' && !e.duplicate && e.reply === 'ACK'),
    rejected: () => [...rejects],
    onEvent(fn) {
      listeners.push(fn);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => tcp.close(() => r()));
      await new Promise<void>((r) => udp.close(() => r()));
    }
  };
}
