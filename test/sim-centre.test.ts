import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import * as crypto from 'node:crypto';
import { createSimCentre, crc16, frameBody, parseKey, SimCentre } from '../sim/centre';

// ---- a tiny independent DC-09 encoder/decoder for the tests ----

function crc(s: string): number {
  let c = 0;
  for (const ch of Buffer.from(s, 'latin1')) {
    c ^= ch;
    for (let i = 0; i < 8; i++) c = c & 1 ? (c >> 1) ^ 0xa001 : c >> 1;
  }
  return c;
}
const h4 = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
const wrap = (body: string) => `\n${h4(crc(body))}${h4(body.length)}${body}\r`;
const two = (n: number) => String(n).padStart(2, '0');
const stamp = (ms = Date.now()) => {
  const d = new Date(ms);
  return `_${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())},${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}-${d.getUTCFullYear()}`;
};
const stampMs = (ts: string) => {
  const m = /^_(\d\d):(\d\d):(\d\d),(\d\d)-(\d\d)-(\d{4})$/.exec(ts);
  assert.ok(m, `timestamp ${ts}`);
  return Date.UTC(+m[6]!, +m[4]! - 1, +m[5]!, +m[1]!, +m[2]!, +m[3]!);
};
function aes(key: Buffer, data: Buffer, dec: boolean): Buffer {
  const alg = `aes-${key.length * 8}-cbc`;
  const iv = Buffer.alloc(16);
  const c = dec ? crypto.createDecipheriv(alg, key, iv) : crypto.createCipheriv(alg, key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}
/** Encrypt `text` with a pad of the given filler so that the whole fills 16-byte blocks. */
function seal(key: Buffer, text: string, fill = 'x'): string {
  const pad = fill.repeat(16 - (text.length % 16) || 16);
  return aes(key, Buffer.from(pad + text, 'latin1'), false)
    .toString('hex')
    .toUpperCase();
}
function plain(
  id: string,
  seq: string,
  acct: string,
  data: string,
  o: { r?: string; l?: string; x?: string; ts?: string } = {}
) {
  return wrap(
    `"${id}"${seq}${o.r !== undefined ? 'R' + o.r : ''}L${o.l ?? '0'}#${acct}[${data}]${o.x ?? ''}${o.ts ?? ''}`
  );
}
function sealed(
  key: Buffer,
  id: string,
  seq: string,
  acct: string,
  data: string,
  o: { r?: string; x?: string; ts?: string; nullBar?: boolean } = {}
) {
  const ts = o.ts ?? stamp();
  const inner = id === 'NULL' && !o.nullBar ? `]${ts}` : `|${data}]${o.x ?? ''}${ts}`;
  return wrap(`"*${id}"${seq}${o.r !== undefined ? 'R' + o.r : ''}L0#${acct}[${seal(key, inner)}`);
}
/** Split received text into frames and check each frame's CRC and length. */
function replies(text: string): { body: string; crcOk: boolean }[] {
  return [...text.matchAll(/\n([0-9A-F]{4})0([0-9A-F]{3})([^\r]*)\r/g)].map((m) => ({
    body: m[3]!,
    crcOk: parseInt(m[1]!, 16) === crc(m[3]!) && parseInt(m[2]!, 16) === m[3]!.length
  }));
}

const HEXKEY = '000102030405060708090A0B0C0D0E0F';
const KEY = Buffer.from(HEXKEY, 'hex');
const ASCIIKEY = 'abcdefghijklmnopqrstuvwx'; // 24 chars: AES-192

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(3);
  }
};

describe('sim centre: SIA DC-09 receiver', () => {
  let centre: SimCentre;
  const clients = new Set<net.Socket | dgram.Socket>();

  /** A TCP client collecting everything the centre sends. */
  async function tcp() {
    const s = net.connect(centre.tcpPort, centre.host);
    clients.add(s);
    let got = '';
    let closed = false;
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => (closed = true));
    await new Promise<void>((r, f) => {
      s.once('connect', () => r());
      s.once('close', () => f(new Error('refused')));
    });
    return {
      send: (t: string) => s.write(Buffer.from(t, 'latin1')),
      got: () => replies(got),
      closed: () => closed,
      wait: async (n: number) => {
        await until(() => replies(got).length >= n);
        return replies(got);
      }
    };
  }
  async function udp() {
    const s = dgram.createSocket('udp4');
    clients.add(s);
    let got: string[] = [];
    s.on('message', (m) => got.push(m.toString('latin1')));
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return {
      send: (t: string) => s.send(Buffer.from(t, 'latin1'), centre.udpPort, centre.host),
      got: () => got.flatMap(replies),
      wait: async (n: number) => {
        await until(() => got.length >= n);
        return got.flatMap(replies);
      }
    };
  }
  /** One frame over TCP, expecting exactly one reply. */
  async function ask(frame: string) {
    const c = await tcp();
    c.send(frame);
    const [r] = await c.wait(1);
    return r!;
  }
  /** Send a frame that should get no reply, then a NULL that must; check only the NULL was answered. */
  async function expectSilence(frame: string, acct = '1234') {
    const c = await tcp();
    c.send(frame);
    c.send(plain('NULL', '0099', acct, ''));
    await c.wait(1);
    await sleep(20);
    assert.deepEqual(
      c.got().map((r) => r.body.slice(0, 11)),
      ['"ACK"0099L0']
    );
  }

  beforeEach(async () => {
    centre = await createSimCentre({
      accounts: [
        { account: '1234' },
        { account: 'ABCD', key: HEXKEY },
        { account: '5678', key: ASCIIKEY, keyFormat: 'ascii' },
        { account: '9999' }
      ]
    });
  });
  afterEach(async () => {
    for (const c of clients) {
      if (c instanceof net.Socket) c.destroy();
      else c.close();
    }
    clients.clear();
    await centre.close();
  });

  it('frames the doc vectors: CRC-16/ARC and length', () => {
    assert.equal(crc('123456789'), 0xbb3d);
    assert.equal(crc16('123456789'), 0xbb3d);
    const vectors: [string, string][] = [
      ['"SIA-DCS"0001L0#1234[#1234|Nri1/PA001]_12:00:00,01-01-2025', '7A82003A'],
      ['"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]', 'F4D20029'],
      ['"NAK"0000R0L0A0[]_16:20:01,09-24-2025', 'E4410025']
    ];
    for (const [body, head] of vectors) {
      assert.equal(wrap(body), `\n${head}${body}\r`);
      assert.equal(frameBody(body), `\n${head}${body}\r`);
    }
  });

  it('parses keys: hex, ascii, auto-detected, and rejects bad lengths', () => {
    assert.deepEqual(parseKey(HEXKEY), KEY);
    assert.equal(parseKey('a'.repeat(48), 'hex').length, 24);
    assert.equal(parseKey('k'.repeat(32)).toString(), 'k'.repeat(32));
    assert.equal(parseKey('0'.repeat(32), 'ascii').length, 32);
    assert.throws(() => parseKey('abc'), /16, 24 or 32/);
    assert.throws(() => parseKey('z'.repeat(32), 'hex'), /32, 48 or 64 hex/);
    assert.throws(() => parseKey('k'.repeat(20), 'ascii'), /ASCII/);
  });

  it('ACKs a plain ADM-CID frame echoing seq, R, L and account', async () => {
    const seen: string[] = [];
    centre.onEvent((e) => seen.push(e.seq));
    const r = await ask(plain('ADM-CID', '0042', '1234', '#1234|1120 01 001', { r: 'F3', l: '77', x: '[V12AB]' }));
    assert.ok(r.crcOk);
    assert.match(r.body, /^"ACK"0042RF3L77#1234\[\]_\d\d:\d\d:\d\d,\d\d-\d\d-\d{4}$/);
    const [e] = centre.events();
    assert.deepEqual(
      {
        id: e!.id,
        enc: e!.encrypted,
        r: e!.receiver,
        l: e!.line,
        data: e!.data,
        x: e!.xdata,
        cid: e!.cid,
        reply: e!.reply,
        t: e!.transport
      },
      {
        id: 'ADM-CID',
        enc: false,
        r: 'F3',
        l: '77',
        data: '#1234|1120 01 001',
        x: ['V12AB'],
        cid: { qualifier: 1, code: '120', partition: '01', zone: '001' },
        reply: 'ACK',
        t: 'tcp'
      }
    );
    assert.equal(e!.timestamp, undefined);
    assert.deepEqual(seen, ['0042']);
    assert.equal(centre.alarms().length, 1);
    // no R in the frame: none in the reply; lower-case CRC/length hex accepted
    const body = '"ADM-CID"0043L0#1234[#1234|3120 01 001]';
    const r2 = await ask(`\n${h4(crc(body)).toLowerCase()}${h4(body.length).toLowerCase()}${body}\r`);
    assert.match(r2.body, /^"ACK"0043L0#1234\[\]_/);
  });

  it('answers an encrypted frame with an encrypted ACK that decrypts with the key and carries the current time', async () => {
    const r = await ask(
      sealed(KEY, 'ADM-CID', '0007', 'abcd', '#ABCD|1120 01 001', { r: '1', x: '[H12:00:00,01-01-2025]' })
    );
    assert.ok(r.crcOk);
    const m = /^"\*ACK"0007R1L0#abcd\[([0-9A-F]+)$/.exec(r.body);
    assert.ok(m, r.body);
    const text = aes(KEY, Buffer.from(m[1]!, 'hex'), true).toString('latin1');
    const tm = /^([^|[\]]{1,16})\](_.*)$/.exec(text);
    assert.ok(tm, 'pad + "]" + timestamp');
    assert.ok(Math.abs(stampMs(tm[2]!) - Date.now()) < 2000);
    const e = centre.events()[0]!;
    assert.equal(e.encrypted, true);
    assert.equal(e.data, '#ABCD|1120 01 001');
    assert.deepEqual(e.xdata, ['H12:00:00,01-01-2025']);
    assert.ok(Math.abs(e.timestamp! - Date.now()) < 2000);
  });

  it('decrypts SIA-DCS with an ASCII AES-192 key, and both encrypted NULL forms', async () => {
    const k = Buffer.from(ASCIIKEY, 'latin1');
    const c = await tcp();
    c.send(sealed(k, 'SIA-DCS', '0001', '5678', '#5678|Nri2/HA003'));
    c.send(sealed(k, 'NULL', '0002', '5678', ''));
    c.send(sealed(k, 'NULL', '0003', '5678', '', { nullBar: true }));
    const rs = await c.wait(3);
    assert.deepEqual(
      rs.map((r) => r.body.slice(0, 10)),
      ['"*ACK"0001', '"*ACK"0002', '"*ACK"0003']
    );
    const [sia, n1, n2] = centre.events();
    assert.deepEqual(sia!.sia, { code: 'HA', zone: '003', area: '2' });
    assert.equal(n1!.data, '');
    assert.equal(n2!.data, '');
    assert.deepEqual(
      centre.alarms().map((e) => e.seq),
      ['0001']
    );
  });

  it('NAKs a message time outside the window with the centre time', async () => {
    const r = await ask(plain('SIA-DCS', '0005', '1234', '#1234|Nri1/PA001', { ts: stamp(Date.now() - 60000) }));
    const m = /^"NAK"0000R0L0A0\[\](_.*)$/.exec(r.body);
    assert.ok(m && r.crcOk, r.body);
    assert.ok(Math.abs(stampMs(m[1]!) - Date.now()) < 2000);
    const r2 = await ask(
      sealed(KEY, 'ADM-CID', '0006', 'ABCD', '#ABCD|1120 01 001', { ts: stamp(Date.now() + 30000) })
    );
    assert.match(r2.body, /^"NAK"0000R0L0A0\[\]_/);
    assert.deepEqual(
      centre.events().map((e) => e.reply),
      ['NAK', 'NAK']
    );
    assert.equal(centre.alarms().length, 0);
    // inside the window (39 s behind) is fine
    const r3 = await ask(plain('SIA-DCS', '0005', '1234', '#1234|Nri1/PA001', { ts: stamp(Date.now() - 39000) }));
    assert.match(r3.body, /^"ACK"0005L0#1234\[\]/);
    assert.equal(centre.alarms().length, 1);
  });

  it('gives no reply to a bad CRC or a bad length, and records them', async () => {
    const good = plain('ADM-CID', '0001', '1234', '#1234|1120 01 001');
    await expectSilence(good.replace(/^\n..../, '\n0000'));
    await expectSilence(good.replace('0001L0', '0001L00'));
    await expectSilence('\nnonsense\r');
    assert.deepEqual(
      centre.rejected().map((r) => r.reason),
      ['bad crc', 'bad length', 'unparseable']
    );
    assert.equal(centre.events().filter((e) => e.id !== 'NULL').length, 0);
  });

  it('replies DUH to an unknown code or a data block it cannot read', async () => {
    const r = await ask(plain('ADM-CID', '0010', '1234', '#1234|1123 01 001', { r: '2' }));
    assert.ok(r.crcOk);
    assert.match(r.body, /^"DUH"0010R2L0#1234\[\]/);
    assert.match((await ask(plain('SIA-DCS', '0011', '1234', '#1234|NRR|Atest'))).body, /^"DUH"0011L0#1234\[\]/);
    assert.match((await ask(plain('ADM-CID', '0012', '1234', 'garbage'))).body, /^"DUH"0012/);
    assert.match((await ask(sealed(KEY, 'SIA-DCS', '0013', 'ABCD', '#ABCD|NZZ1'))).body, /^"DUH"0013L0#ABCD\[\]_/);
    assert.equal(centre.alarms().length, 0);
  });

  it('flags a resend as duplicate, ACKs it again and counts the alarm once', async () => {
    const f = plain('ADM-CID', '0020', '1234', '#1234|1120 01 001');
    const c = await tcp();
    c.send(f);
    await c.wait(1);
    c.send(f);
    c.send(plain('ADM-CID', '0021', '1234', '#1234|1120 01 001'));
    const rs = await c.wait(3);
    assert.deepEqual(
      rs.map((r) => r.body.slice(0, 9)),
      ['"ACK"0020', '"ACK"0020', '"ACK"0021']
    );
    assert.deepEqual(
      centre.events().map((e) => e.duplicate),
      [false, true, false]
    );
    assert.deepEqual(
      centre.alarms().map((e) => e.seq),
      ['0020', '0021']
    );
    // NULL frames are never duplicates
    c.send(plain('NULL', '0030', '1234', ''));
    c.send(plain('NULL', '0030', '1234', ''));
    await c.wait(5);
    assert.deepEqual(
      centre
        .events()
        .slice(3)
        .map((e) => e.duplicate),
      [false, false]
    );
  });

  it('answers two frames in one TCP chunk and a frame split across two writes', async () => {
    const c = await tcp();
    c.send(plain('NULL', '0001', '1234', '') + plain('ADM-CID', '0002', '1234', '#1234|1602 00 000'));
    assert.deepEqual(
      (await c.wait(2)).map((r) => r.body.slice(0, 9)),
      ['"ACK"0001', '"ACK"0002']
    );
    const f = plain('SIA-DCS', '0003', '1234', '#1234|Nri1/PA001/ti12:00', { ts: stamp() });
    c.send(f.slice(0, 20));
    await sleep(20);
    c.send(f.slice(20));
    const rs = await c.wait(3);
    assert.match(rs[2]!.body, /^"ACK"0003L0#1234\[\]/);
    assert.deepEqual(centre.events()[2]!.sia, { code: 'PA', zone: '001', area: '1' });
  });

  it('works over UDP, replying to the sender', async () => {
    const u = await udp();
    u.send(sealed(KEY, 'NULL', '0001', 'ABCD', ''));
    u.send(plain('ADM-CID', '0002', '1234', '#1234|1301 00 000'));
    const rs = await u.wait(2);
    assert.deepEqual(rs.map((r) => r.body.slice(0, 6)).sort(), ['"*ACK"', '"ACK"0']);
    assert.ok(rs.every((r) => r.crcOk));
    assert.ok(centre.events().every((e) => e.transport === 'udp'));
  });

  it('gives nothing to encrypted frames it cannot take, and to plain frames for keyed accounts', async () => {
    await expectSilence(sealed(KEY, 'ADM-CID', '0001', 'EEEE', '#EEEE|1120 01 001'));
    await expectSilence(sealed(KEY, 'ADM-CID', '0001', '9999', '#9999|1120 01 001'));
    await expectSilence(sealed(Buffer.alloc(16, 7), 'ADM-CID', '0001', 'ABCD', '#ABCD|1120 01 001'));
    await expectSilence(wrap(`"*ADM-CID"0001L0#ABCD[${seal(KEY, '|#ABCD|1120 01 001]')}`));
    await expectSilence(plain('ADM-CID', '0001', 'ABCD', '#ABCD|1120 01 001'));
    await expectSilence(plain('ADM-CID', '0001', 'EEEE', '#EEEE|1120 01 001'));
    assert.deepEqual(
      centre.rejected().map((r) => r.reason),
      [
        'unknown account',
        'no key',
        'decrypt failed',
        'missing timestamp',
        'plain frame for encrypted account',
        'unknown account'
      ]
    );
    assert.ok(centre.rejected().every((r) => r.raw.length <= 200 && !r.raw.includes(HEXKEY)));
  });

  describe('fault knobs', () => {
    const cid = (seq: string) => plain('ADM-CID', seq, '1234', '#1234|1120 01 001');

    it('down: TCP connections are destroyed and UDP is ignored', async () => {
      centre.faults.down = true;
      const s = net.connect(centre.tcpPort, centre.host);
      clients.add(s);
      s.on('error', () => {});
      let got = 0;
      s.on('data', () => got++);
      s.write(cid('0001'));
      await new Promise((r) => s.once('close', r));
      assert.equal(got, 0);
      const u = await udp();
      u.send(cid('0001'));
      await sleep(50);
      assert.equal(u.got().length, 0);
      centre.faults.down = false;
      assert.match((await ask(cid('0002'))).body, /^"ACK"0002/);
      assert.deepEqual(
        centre.events().map((e) => e.seq),
        ['0002']
      );
    });

    it('drop ignores that many valid frames', async () => {
      centre.faults.drop = 2;
      const c = await tcp();
      c.send(cid('0001') + cid('0002') + cid('0003'));
      const rs = await c.wait(1);
      await sleep(20);
      assert.deepEqual(
        rs.map((r) => r.body.slice(0, 9)),
        ['"ACK"0003']
      );
      assert.equal(centre.faults.drop, 0);
      assert.deepEqual(
        centre.alarms().map((e) => e.seq),
        ['0003']
      );
    });

    it('delayMs holds the reply back', async () => {
      centre.faults.delayMs = 120;
      const t0 = Date.now();
      await ask(cid('0001'));
      assert.ok(Date.now() - t0 >= 100);
    });

    it('nak and duh answer the next frames regardless of content', async () => {
      centre.faults.nak = 1;
      centre.faults.duh = 1;
      const c = await tcp();
      c.send(cid('0001') + cid('0002') + cid('0003'));
      const rs = await c.wait(3);
      assert.deepEqual(
        rs.map((r) => r.body.slice(0, 9)),
        ['"NAK"0000', '"DUH"0002', '"ACK"0003']
      );
      assert.deepEqual(
        centre.events().map((e) => e.reply),
        ['NAK', 'DUH', 'ACK']
      );
    });

    it('garble corrupts the reply CRC', async () => {
      centre.faults.garble = 1;
      const c = await tcp();
      c.send(cid('0001') + cid('0002'));
      const rs = await c.wait(2);
      assert.deepEqual(
        rs.map((r) => r.crcOk),
        [false, true]
      );
    });

    it('wrongKey forges an encrypted ACK; wrongSeq echoes seq + 1', async () => {
      centre.faults.wrongKey = 1;
      const r = await ask(sealed(KEY, 'ADM-CID', '0001', 'ABCD', '#ABCD|1120 01 001'));
      const text = aes(KEY, Buffer.from(/\[([0-9A-F]+)$/.exec(r.body)![1]!, 'hex'), true).toString('latin1');
      assert.doesNotMatch(text, /\]_\d\d:\d\d:\d\d,\d\d-\d\d-\d{4}$/);
      centre.faults.wrongSeq = 2;
      assert.match((await ask(cid('0005'))).body, /^"ACK"0006L0#1234/);
      assert.match((await ask(cid('9999'))).body, /^"ACK"0001L0#1234/);
      assert.match((await ask(cid('0007'))).body, /^"ACK"0007L0#1234/);
    });
  });
});
