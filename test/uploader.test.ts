import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import fc from 'fast-check';
import { createSimHal, SimHal } from '../sim/hal';
import { createUploader } from '../firmware/uploader';
import { seal, sealKeys } from '../firmware/seal';
import { chainOf, segmentName } from '../firmware/recorder';
import type { Recorder, RecState } from '../firmware/recorder';
import type { ConnectionHandlers, Link, LinkStatus } from '../hal/types';
import { openRecord } from '../tools/spool-reader';
import { useFakeTime } from './support/fake-time';

/**
 * The uploader against a scripted evidence server on a hand-fed connection: what it sends, what
 * it frees (only on an authenticated confirmation of the hash, bound to the request's nonce), which
 * stops it obeys, which path it takes and when it waits. The server side is Node crypto, written
 * from docs/evidence.md.
 */
const START = Date.UTC(2026, 10, 23, 12, 0, 0);
const KEY = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const K = Buffer.from(KEY, 'hex');
const K_REP = crypto.createHmac('sha256', K).update('server:reply').digest();
const sha = (b: Uint8Array | string) => crypto.createHash('sha256').update(b).digest('hex');
const AUDIO = new Uint8Array(4000).map((_, k) => k & 255);
const H = sha(AUDIO);

interface Request {
  unit: string;
  rid: string;
  nonce: string;
  manifest: { [k: string]: unknown };
  records: { line: string; ct: Buffer }[];
  bytes: number;
}

/** Parse what the unit wrote: `EVD1 unit rid nonce mlen k\n`, the manifest, k sealed records. */
function parseRequest(buf: Buffer): Request | undefined {
  const nl = buf.indexOf(10);
  if (nl < 0) return undefined;
  const [tag, unit, rid, nonce, mlen, k] = buf.subarray(0, nl).toString('latin1').split(' ');
  assert.equal(tag, 'EVD1');
  let off = nl + 1 + Number(mlen);
  if (buf.length < off) return undefined;
  const manifest = JSON.parse(buf.subarray(nl + 1, off).toString('latin1'));
  const records: Request['records'] = [];
  for (let i = 0; i < Number(k); i++) {
    const e = buf.indexOf(10, off);
    if (e < 0) return undefined;
    const line = buf.subarray(off, e).toString('latin1');
    const len = Math.ceil(JSON.parse(line).n / 16) * 16;
    if (buf.length < e + 1 + len) return undefined;
    records.push({ line, ct: buf.subarray(e + 1, e + 1 + len) });
    off = e + 1 + len;
  }
  return { unit, rid, nonce, manifest, records, bytes: off };
}

function replyFor(unit: string, rid: string, nonce: string, body: object, key: Buffer = K_REP): string {
  const json = JSON.stringify(body);
  const mac = crypto.createHmac('sha256', key).update(`EVR1:${unit}:${rid}:${nonce}:${json}`).digest('hex');
  return `EVR1 ${json.length} ${mac}\n${json}`;
}

describe('uploader: what it sends, what it frees, which stops it obeys (scripted server, sealed chunks over TCP)', () => {
  const t = useFakeTime(START);
  let sim: SimHal;
  let st: RecState;
  let ended: string;
  let requests: Request[];
  /** The server's answer to each request: bytes, or undefined for silence. */
  let answer: (r: Request) => string | undefined;
  let busy: boolean;
  let stop: () => void;
  let wifi: { up: boolean; bytes: number };
  let cell: { up: boolean; bytes: number };
  let connects: string[];
  /** The fake link never says a write left (no flow control). */
  let silentSent: boolean;
  /** The length of every write, in order. */
  let writes: number[];
  /** The sealed chunk's ciphertext length on the card. */
  let ctLen: number;

  function link(path: 'wifi' | 'cellular', state: { up: boolean; bytes: number }): Link {
    return {
      path,
      status: (): LinkStatus => ({ up: state.up, signal: 60 }),
      onStatus: () => {},
      connect: (_target, h: ConnectionHandlers) => {
        connects.push(path);
        let buf = Buffer.alloc(0);
        let open = true;
        Promise.resolve().then(() => h.onOpen());
        return {
          write: (data: string) => {
            if (!open) return false;
            state.bytes += data.length;
            writes.push(data.length);
            buf = Buffer.concat([buf, Buffer.from(data, 'latin1')]);
            if (!silentSent) Promise.resolve().then(() => open && h.onSent && h.onSent());
            const r = parseRequest(buf);
            if (r) {
              buf = buf.subarray(r.bytes);
              requests.push(r);
              const a = answer(r);
              if (a !== undefined) Promise.resolve().then(() => open && h.onData(a));
            }
            return true;
          },
          close: () => {
            if (!open) return;
            open = false;
            Promise.resolve().then(() => h.onClose());
          }
        };
      }
    };
  }

  beforeEach(() => {
    sim = createSimHal();
    ended = '';
    requests = [];
    connects = [];
    silentSent = false;
    writes = [];
    busy = false;
    wifi = { up: true, bytes: 0 };
    cell = { up: true, bytes: 0 };
    const zero = '0'.repeat(64);
    const chain = chainOf(sim.hal.crypto, zero, '0001', 0, 0, 4000, 100, START, H);
    const sealed = seal(
      sim.hal.crypto,
      sealKeys(sim.hal.crypto, KEY),
      { r: '0001', i: 0, s: 0, n: 4000, t: 100, w: START, h: H, p: zero },
      chain,
      AUDIO
    );
    sim.hal.storage.spool.append(segmentName('0001', 0), [sealed.head, sealed.ct]);
    ctLen = sealed.ct.length;
    st = {
      q: 1,
      r: '0001',
      rate: 8000,
      cs: 4000,
      trig: 0,
      start: START,
      n: 1,
      ns: 4000,
      hd: Buffer.from(chain).toString('hex'),
      up: 0,
      gaps: [],
      end: '',
      fin: false,
      sg: 0,
      wo: sealed.head.length + sealed.ct.length,
      us: 0,
      uo: 0,
      cb: 0
    };
    startUploader(0);
  });
  function startUploader(cellularKB: number): void {
    const recorder = {
      states: () => [st],
      save: () => {},
      ref: () => 'SIM-0001-0001',
      end: (why: string) => (ended = why),
      onWork: () => {}
    } as unknown as Recorder;
    const up = createUploader({
      clock: sim.hal.clock,
      crypto: sim.hal.crypto,
      spool: sim.hal.storage.spool,
      links: { wifi: link('wifi', wifi), cellular: link('cellular', cell) },
      log: sim.hal.log,
      unit: 'SIM-0001',
      evidence: { host: '127.0.0.1', port: 1, key: KEY, batch: 4, cellularKB },
      keys: sealKeys(sim.hal.crypto, KEY),
      recorder,
      busy: () => busy
    });
    stop = () => up.stop();
  }
  afterEach(() => {
    stop();
    sim.shutdown();
  });

  const confirm =
    (extra: object = {}) =>
    (r: Request) =>
      replyFor(r.unit, r.rid, r.nonce, { q: r.nonce, r: r.rid, have: 1, ok: [{ i: 0, h: H }], ...extra });
  async function settle(ms = 100): Promise<void> {
    for (let i = 0; i < 10; i++) {
      t.clock.tick(ms / 10);
      for (let k = 0; k < 5; k++) await Promise.resolve();
    }
  }

  it('sends the signed manifest and the sealed record as the card holds it, and frees it on an authenticated confirmation of its hash', async () => {
    answer = confirm();
    await settle();
    assert.equal(requests.length, 1);
    const r = requests[0];
    assert.equal(r.unit, 'SIM-0001');
    assert.equal(r.rid, '0001');
    assert.match(r.nonce, /^[0-9a-f]{32}$/);
    const { sig, ...signed } = r.manifest;
    assert.equal(
      sig,
      crypto.createHmac('sha256', K).update(JSON.stringify(signed)).digest('hex'),
      'HMAC over the manifest exactly as sent, sig removed'
    );
    assert.deepEqual(Object.keys(signed), [
      'v',
      'unit',
      'r',
      'rate',
      'bits',
      'trig',
      'start',
      'n',
      'samples',
      'head',
      'gaps',
      'end',
      'final'
    ]);
    assert.equal(r.records.length, 1);
    const opened = openRecord(KEY, r.records[0].line, r.records[0].ct);
    assert.ok(typeof opened !== 'string', String(opened));
    assert.deepEqual(Buffer.from(opened.audio), Buffer.from(AUDIO), 'the server opens exactly the audio');
    assert.equal(
      Buffer.from(r.records[0].ct).includes(Buffer.from(AUDIO.subarray(0, 64))),
      false,
      'the audio does not cross the wire in the clear'
    );
    assert.equal(st.up, 1);
    assert.equal(st.uo, st.wo, 'the upload point moved past the record');
  });

  it('reads the ciphertext from the card and writes it a piece (1,460 B) at a time, the next only once the link says the last left', async () => {
    answer = confirm();
    silentSent = true;
    await settle();
    // the request line, the signed manifest, the record's header line, then one piece
    assert.equal(writes.length, 4, `writes before any onSent: ${writes.join(',')}`);
    assert.equal(writes[3], 1460);
    assert.equal(requests.length, 0, 'the rest waits for the link');
    // A link that never says (no flow control) is written on after 5 s a piece.
    await settle(5000);
    assert.equal(writes.length, 5);
    await settle(5000);
    assert.deepEqual(writes.slice(3), [1460, 1460, ctLen - 2 * 1460]);
    assert.equal(requests.length, 1, 'whole and parsed by the server');
    await settle();
    assert.equal(st.up, 1, 'and confirmed');
  });

  it('with a link that says each write left, the whole request goes at once, no write of ciphertext over 1,460 B', async () => {
    answer = confirm();
    await settle();
    assert.equal(requests.length, 1);
    assert.deepEqual(writes.slice(3), [1460, 1460, ctLen - 2 * 1460]);
    assert.equal(st.up, 1);
  });

  it('a fresh nonce per request: a reply captured for one request confirms nothing for the next', async () => {
    let captured = '';
    answer = (r) => {
      if (!captured) {
        captured = replyFor(r.unit, r.rid, r.nonce, { q: r.nonce, r: r.rid, have: 0, ok: [] });
        return replyFor(r.unit, r.rid, r.nonce, { q: r.nonce, r: r.rid, have: 0, ok: [], error: 'busy' });
      }
      // The real one for this request would name its nonce; the replay names the old one.
      return captured.replace(/"have":0,"ok":\[\]/, `"have":1,"ok":[{"i":0,"h":"${H}"}]`);
    };
    await settle();
    await settle(3000);
    assert.ok(requests.length >= 2);
    assert.notEqual(requests[0].nonce, requests[1].nonce);
    assert.equal(st.up, 0, 'nothing freed');
    assert.ok(sim.world.log.some((l) => /reply not authentic/.test(l.message)));
  });

  // Each carries a stop too: only an authentic reply for this recording may stop it.
  const ok0 = { have: 1, ok: [{ i: 0, h: H }], stop: true };
  const forged: [string, (r: Request) => string, string][] = [
    [
      'MAC under another key',
      (r) => replyFor(r.unit, r.rid, r.nonce, { q: r.nonce, r: r.rid, ...ok0 }, crypto.randomBytes(32)),
      ''
    ],
    ['MAC for another unit', (r) => replyFor('SIM-0002', r.rid, r.nonce, { q: r.nonce, r: r.rid, ...ok0 }), ''],
    ['MAC for another recording', (r) => replyFor(r.unit, '0002', r.nonce, { q: r.nonce, r: r.rid, ...ok0 }), ''],
    [
      'authentic but naming another recording',
      (r) => replyFor(r.unit, r.rid, r.nonce, { q: r.nonce, r: '0002', ...ok0 }),
      ''
    ],
    [
      'the JSON changed after the MAC',
      (r) =>
        replyFor(r.unit, r.rid, r.nonce, { q: r.nonce, r: r.rid, ...ok0, have: 0 }).replace('"have":0', '"have":1'),
      ''
    ],
    // The server's own stop counts; its confirmation of a hash the unit did not send does not.
    [
      'authentic, another hash',
      (r) =>
        replyFor(r.unit, r.rid, r.nonce, {
          q: r.nonce,
          r: r.rid,
          have: 1,
          ok: [{ i: 0, h: '0'.repeat(64) }],
          stop: true
        }),
      'stop'
    ]
  ];
  for (const [name, make, stopped] of forged) {
    it(`a confirmation with ${name} frees nothing${stopped ? '' : ' and stops nothing'}`, async () => {
      answer = make;
      await settle();
      await settle(5000);
      assert.ok(requests.length >= 1);
      assert.equal(st.up, 0);
      assert.equal(sim.hal.storage.spool.size(segmentName('0001', 0)) > 0, true, 'the chunk is still on the card');
      assert.equal(ended, stopped);
    });
  }

  it('server replies fuzzed (300 seeded: garbage, wrong shapes, huge, truncated, silence): nothing throws, nothing freed, no stop', async () => {
    const bodies = fc.sample(
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc
          .jsonValue({ maxDepth: 4 })
          .map((v) => `EVR1 ${JSON.stringify(v).length} ${'a'.repeat(64)}\n${JSON.stringify(v)}`),
        fc
          .nat({ max: 200 })
          .map((n) =>
            confirm()({ unit: 'SIM-0001', rid: '0001', nonce: 'x', manifest: {}, records: [], bytes: 0 }).slice(0, n)
          ),
        fc.constant('EVR1 99999999 ' + 'a'.repeat(64) + '\n'),
        fc.constant('x'.repeat(5000))
      ),
      { numRuns: 300, seed: 11 }
    );
    let k = 0;
    answer = () => (k % 7 === 6 ? (k++, undefined) : bodies[k++ % bodies.length]);
    for (let i = 0; i < 40; i++) await settle(61_000);
    assert.ok(requests.length >= 30, `${requests.length} requests`);
    assert.equal(st.up, 0);
    assert.equal(ended, '', 'no stop obeyed from junk');
  });

  it('waits while the alarm path has a frame in flight', async () => {
    busy = true;
    answer = confirm();
    await settle(10_000);
    assert.equal(requests.length, 0);
    busy = false;
    await settle(3000);
    assert.equal(requests.length, 1);
  });

  it('with Wi-Fi down the recording goes over cellular, counted; with a cellular cap reached it waits for Wi-Fi', async () => {
    stop();
    wifi.up = false;
    startUploader(0);
    answer = confirm();
    await settle();
    assert.deepEqual(connects.slice(-1), ['cellular']);
    assert.equal(st.up, 1);
    assert.ok(st.cb > 4000, `${st.cb} bytes over cellular counted against the recording`);
    // A second recording's chunk with a 1 KB cap, already spent: it waits.
    stop();
    st.up = 0;
    st.uo = 0;
    st.cb = 2048;
    const before = requests.length;
    startUploader(1);
    await settle(10_000);
    assert.equal(requests.length, before, 'nothing more over cellular past the cap');
    wifi.up = true;
    await settle(3000);
    assert.equal(requests.length, before + 1);
    assert.deepEqual(connects.slice(-1), ['wifi']);
  });

  const stops: [string, (r: Request) => string, string][] = [
    ['in an authentic reply for this recording', (r) => confirm({ stop: true })(r), 'stop'],
    [
      'in an authentic reply naming another recording',
      (r) => replyFor(r.unit, r.rid, r.nonce, { q: r.nonce, r: '0002', have: 0, ok: [], stop: true }),
      ''
    ],
    [
      'in a reply with a forged MAC',
      (r) =>
        replyFor(r.unit, r.rid, r.nonce, { q: r.nonce, r: r.rid, have: 1, ok: [], stop: true }, crypto.randomBytes(32)),
      ''
    ],
    [
      'in a reply bound to another nonce',
      (r) => replyFor(r.unit, r.rid, 'f'.repeat(32), { q: 'f'.repeat(32), r: r.rid, have: 1, ok: [], stop: true }),
      ''
    ]
  ];
  for (const [name, make, expect] of stops) {
    it(`a stop ${name}: ${expect ? 'obeyed' : 'refused'}`, async () => {
      answer = make;
      await settle();
      assert.equal(ended, expect);
    });
  }
});
