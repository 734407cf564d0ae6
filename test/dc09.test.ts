import { strict as assert } from 'node:assert';
import * as nodeCrypto from 'node:crypto';
import fc from 'fast-check';
import {
  crc16,
  wrapFrame,
  encodeMessage,
  encodeReply,
  decodeReply,
  formatTime,
  parseTime,
  createFrameSplitter,
  cidData,
  siaData
} from '../firmware/dc09';
import { keyBytes } from '../firmware/config';
import { createSimCrypto } from '../sim/crypto';

const crypto = createSimCrypto();
const NOON = Date.UTC(2025, 0, 1, 12, 0, 0);

describe('DC-09 codec: the vectors in the reporting doc', () => {
  it('CRC-16/ARC check value', () => assert.equal(crc16('123456789'), 0xbb3d));

  it('plain SIA-DCS example frame, byte for byte', () => {
    const f = encodeMessage(
      crypto,
      { account: '1234', line: '0' },
      { id: 'SIA-DCS', seq: 1, data: '#1234|Nri1/PA001', xdata: '', time: NOON }
    );
    assert.equal(f, '\n7A82003A"SIA-DCS"0001L0#1234[#1234|Nri1/PA001]_12:00:00,01-01-2025\r');
  });

  it('receiver-numbered frame and the NAK vector', () => {
    assert.equal(
      wrapFrame('"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]'),
      '\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r'
    );
    assert.equal(
      wrapFrame('"NAK"0000R0L0A0[]_16:20:01,09-24-2025'),
      '\nE4410025"NAK"0000R0L0A0[]_16:20:01,09-24-2025\r'
    );
    const nak = decodeReply(crypto, '\nE4410025"NAK"0000R0L0A0[]_16:20:01,09-24-2025\r');
    assert.ok(!('error' in nak));
    assert.equal(nak.type, 'NAK');
    assert.equal(nak.time, Date.UTC(2025, 8, 24, 16, 20, 1));
  });

  it('Contact ID and SIA data blocks', () => {
    assert.equal(cidData('1234', 1, 120, 1, 1), '#1234|1120 01 001');
    assert.equal(cidData('1234', 3, 350, 1, 2), '#1234|3350 01 002');
    assert.equal(siaData('1234', 'PA', 1, 1), '#1234|Nri1/PA001');
  });
});

describe('DC-09 codec: encryption', () => {
  for (const [name, key] of [
    ['AES-128 from hex', keyBytes('000102030405060708090A0B0C0D0E0F')],
    ['AES-192 from a 24-character string', keyBytes('lab-only-key-24-chars-ok')],
    ['AES-256 from hex', keyBytes('00'.repeat(31) + 'FF')]
  ] as const) {
    it(`${name}: everything after [ is hex of pad|data]xdata_ts, whole blocks, pad without | [ ]`, () => {
      assert.equal(typeof key, 'string');
      const k = key as string;
      for (let n = 0; n < 40; n++) {
        const data = '#1234|1120 01 001' + 'x'.repeat(n % 17);
        const f = encodeMessage(
          crypto,
          { account: '1234', line: '1', receiver: '2', key: k },
          { id: 'ADM-CID', seq: 42, data, xdata: '[V12]', time: NOON }
        );
        const m = /^\n([0-9A-F]{4})0([0-9A-F]{3})("\*ADM-CID"0042R2L1#1234\[)([0-9A-F]+)\r$/.exec(f);
        assert.ok(m, JSON.stringify(f));
        assert.equal(parseInt(m[2], 16), m[3].length + m[4].length);
        assert.equal(parseInt(m[1], 16), crc16(m[3] + m[4]));
        const d = nodeCrypto.createDecipheriv(`aes-${k.length * 8}-cbc`, Buffer.from(k, 'latin1'), Buffer.alloc(16));
        d.setAutoPadding(false);
        const plain = Buffer.concat([d.update(Buffer.from(m[4], 'hex')), d.final()]).toString('latin1');
        const bar = plain.indexOf('|');
        assert.ok(bar >= 1 && bar <= 16, `pad length ${bar}`);
        assert.ok(!/[|[\]]/.test(plain.slice(0, bar)));
        assert.equal(plain.slice(bar + 1), `${data}][V12]_12:00:00,01-01-2025`);
      }
    });
  }

  it('encrypted NULL is pad]timestamp', () => {
    const k = keyBytes('000102030405060708090A0B0C0D0E0F') as string;
    const f = encodeMessage(
      crypto,
      { account: '1234', line: '0', key: k },
      { id: 'NULL', seq: 7, data: '', xdata: '', time: NOON }
    );
    const hex = f.slice(f.indexOf('[') + 1, -1);
    const d = nodeCrypto.createDecipheriv('aes-128-cbc', Buffer.from(k, 'latin1'), Buffer.alloc(16));
    d.setAutoPadding(false);
    const plain = Buffer.concat([d.update(Buffer.from(hex, 'hex')), d.final()]).toString('latin1');
    assert.match(plain, /^[^|[\]]{1,16}\]_12:00:00,01-01-2025$/);
  });

  it('the two pads of the same message differ (random)', () => {
    const k = keyBytes('000102030405060708090A0B0C0D0E0F') as string;
    const m = { id: 'ADM-CID', seq: 1, data: '#1234|1120 01 001', xdata: '', time: NOON };
    assert.notEqual(
      encodeMessage(crypto, { account: '1234', line: '0', key: k }, m),
      encodeMessage(crypto, { account: '1234', line: '0', key: k }, m)
    );
  });
});

describe('DC-09 codec: properties (fast-check)', () => {
  it('timestamps round-trip from 1970 to 2199', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(2199, 11, 31) / 1000 }), (s) => {
        const ms = s * 1000;
        const t = formatTime(ms);
        const d = new Date(ms);
        const want = `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}:${String(d.getUTCSeconds()).padStart(2, '0')},${String(d.getUTCMonth() + 1).padStart(2, '0')}-${String(d.getUTCDate()).padStart(2, '0')}-${d.getUTCFullYear()}`;
        return t === want && parseTime(t) === ms;
      }),
      { numRuns: 2000 }
    );
  });

  const target = fc.record({
    account: fc.stringMatching(/^[0-9A-F]{3,16}$/),
    line: fc.stringMatching(/^[0-9A-F]{1,6}$/),
    receiver: fc.option(fc.stringMatching(/^[0-9A-F]{1,6}$/), { nil: undefined }),
    key: fc.option(
      fc
        .constantFrom(16, 24, 32)
        .chain((n) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('latin1'))),
      { nil: undefined }
    )
  });

  it('replies round-trip: type, seq, R, L, account, time', () => {
    fc.assert(
      fc.property(
        target,
        fc.integer({ min: 1, max: 9999 }),
        fc.constantFrom('ACK', 'DUH'),
        fc.integer({ min: 0, max: 4e12 / 1000 }),
        (t, seq, type, s) => {
          const digits = String(seq).padStart(4, '0');
          const r = decodeReply(crypto, encodeReply(crypto, type, digits, t, s * 1000), t.key);
          if ('error' in r) return false;
          return (
            r.type === type &&
            r.seq === digits &&
            r.account === t.account &&
            r.line === t.line &&
            r.receiver === t.receiver &&
            r.time === s * 1000 &&
            r.encrypted === (!!t.key && type === 'ACK')
          );
        }
      ),
      { numRuns: 500 }
    );
  });

  it('garbage never throws and is never a reply', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), fc.string({ unit: 'binary', maxLength: 120 }), (a, b) => {
        for (const s of [a, b, `\n${a}\r`, `\n${b}\r`]) {
          const r = decodeReply(crypto, s, 'K'.repeat(16));
          if (!('error' in r)) return false;
        }
        return true;
      }),
      { numRuns: 3000 }
    );
  });

  it('any single changed byte in a valid ACK is refused, or (hex case) changes nothing', () => {
    const k = keyBytes('000102030405060708090A0B0C0D0E0F') as string;
    const t = { account: '1234', line: '1', receiver: '2', key: k };
    const good = encodeReply(crypto, 'ACK', '0042', t, NOON);
    const same = JSON.stringify(decodeReply(crypto, good, k));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const bad = good.slice(0, i) + String.fromCharCode(good.charCodeAt(i) ^ x) + good.slice(i + 1);
        const r = decodeReply(crypto, bad, k);
        return 'error' in r || JSON.stringify(r) === same;
      }),
      { numRuns: 3000 }
    );
  });

  it('the TCP splitter finds every frame however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[A-Z0-9"#[\]]{1,40}$/), { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 10 }),
        (bodies, cuts) => {
          const stream = 'noise' + bodies.map((b) => wrapFrame(b)).join('');
          const got: string[] = [];
          const sp = createFrameSplitter(400);
          let i = 0;
          for (const c of cuts) {
            sp.push(stream.slice(i, i + c), (f) => got.push(f));
            i += c;
          }
          sp.push(stream.slice(i), (f) => got.push(f));
          return JSON.stringify(got) === JSON.stringify(bodies.map((b) => wrapFrame(b)));
        }
      )
    );
  });
});
