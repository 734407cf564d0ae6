import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import { createSimHal, SimHal } from '../sim/hal';
import { createUploader } from '../firmware/uploader';
import type { Recorder, RecState } from '../firmware/recorder';
import type { HttpRequest, HttpResponse, Link } from '../hal/types';
import { useFakeTime } from './support/fake-time';
import fc from 'fast-check';

const START = Date.UTC(2026, 10, 23, 12, 0, 0);
const KEY = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const sha = (b: Uint8Array | string) => crypto.createHash('sha256').update(b).digest('hex');
const mac = (text: string) => crypto.createHmac('sha256', Buffer.from(KEY, 'hex')).update(text).digest('hex');

describe('uploader: what it sends, what it frees, which stop commands it obeys (scripted server)', () => {
  const t = useFakeTime(START);
  let sim: SimHal;
  let st: RecState;
  let ended: string;
  let requests: HttpRequest[];
  let reply: (req: HttpRequest) => HttpResponse;
  let busy: boolean;
  let stop: () => void;

  beforeEach(() => {
    sim = createSimHal();
    ended = '';
    requests = [];
    busy = false;
    const audio = new Uint8Array(4000).map((_, k) => k & 255);
    const h = sha(audio);
    const zero = '0'.repeat(64);
    const c = sha(`${zero}:0001:0:0:4000:100:${START}:${h}`);
    sim.hal.storage.spool.write('00010000.PCM', audio);
    sim.hal.storage.spool.write('00010000.CHK', JSON.stringify({ r: '0001', i: 0, s: 0, n: 4000, t: 100, w: START, h, p: zero, c }));
    st = { q: 1, r: '0001', rate: 8000, cs: 4000, trig: 0, start: START, n: 1, ns: 4000, hd: c, up: 0, gaps: [], end: '', fin: false };
    const recorder = {
      states: () => [st],
      save: () => {},
      ref: () => 'SIM-0001-0001',
      end: (why: string) => (ended = why),
      onWork: () => {}
    } as unknown as Recorder;
    const link: Link = {
      path: 'wifi',
      status: () => ({ up: true, signal: 60 }),
      onStatus: () => {},
      connect: () => {
        throw new Error('not used');
      },
      request: (req, done) => {
        requests.push(req);
        const res = reply(req);
        Promise.resolve().then(() => done(res));
      }
    };
    const up = createUploader({
      clock: sim.hal.clock,
      crypto: sim.hal.crypto,
      spool: sim.hal.storage.spool,
      links: { wifi: link },
      log: sim.hal.log,
      unit: 'SIM-0001',
      evidence: { host: '127.0.0.1', port: 1, cert: '-----BEGIN CERTIFICATE-----\n', key: KEY, batch: 4 },
      recorder,
      busy: () => busy
    });
    stop = () => up.stop();
  });
  afterEach(() => {
    stop();
    sim.shutdown();
  });

  const confirm = (extra: object = {}) => (req: HttpRequest): HttpResponse => ({
    status: 200,
    body: JSON.stringify({ have: 1, ok: [{ i: 0, h: sha(new Uint8Array(4000).map((_, k) => k & 255)) }], ...extra })
  });
  async function settle(ms = 100): Promise<void> {
    for (let i = 0; i < 10; i++) {
      t.clock.tick(ms / 10);
      await Promise.resolve();
      await Promise.resolve();
    }
  }

  it('sends the signed manifest and the chunk, pinned to the configured certificate, and frees it on a confirmed hash', async () => {
    reply = confirm();
    await settle();
    assert.equal(requests.length, 1);
    const req = requests[0];
    assert.equal(req.path, '/v1/evidence/SIM-0001/0001');
    assert.match(req.cert, /BEGIN CERTIFICATE/);
    const body = Buffer.concat(req.body.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
    const nl = body.indexOf(10);
    const manifest = JSON.parse(body.subarray(0, nl).toString('latin1'));
    const { sig, ...signed } = manifest;
    assert.equal(sig, mac(JSON.stringify(signed)), 'HMAC over the manifest exactly as sent, sig removed');
    assert.deepEqual(Object.keys(signed), ['v', 'unit', 'r', 'rate', 'bits', 'trig', 'start', 'n', 'samples', 'head', 'gaps', 'end', 'final']);
    assert.equal(sim.world.spool.blobs.has('00010000.PCM'), false, 'freed once confirmed');
    assert.equal(st.up, 1);
  });

  it('server replies fuzzed (300 seeded: garbage, wrong shapes, huge, truncated JSON, odd statuses): nothing throws, nothing freed, the end stays unset', async () => {
    const good = JSON.stringify({ have: 1, ok: [{ i: 0, h: sha(new Uint8Array(4000).map((_, k) => k & 255)) }] });
    const bodies = fc.sample(
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
        fc.nat({ max: good.length - 1 }).map((n) => good.slice(0, n)),
        fc.record({ have: fc.anything(), ok: fc.anything(), stop: fc.anything() }).map((v) => JSON.stringify(v)),
        fc.constant('{' + '"a":'.repeat(5000))
      ),
      { numRuns: 300, seed: 11 }
    );
    const statuses = fc.sample(fc.constantFrom(0, 200, 201, 302, 400, 409, 413, 500, 503), { numRuns: 300, seed: 12 });
    let k = 0;
    reply = () => {
      const i = k++ % bodies.length;
      return { status: statuses[i], body: bodies[i], error: statuses[i] === 0 ? 'reset' : undefined };
    };
    for (let i = 0; i < 40; i++) await settle(61_000);
    assert.ok(requests.length >= 30, `${requests.length} requests`);
    assert.ok(sim.world.spool.blobs.has('00010000.PCM'), 'nothing freed on a reply that does not confirm the hash');
    assert.equal(st.up, 0);
    assert.equal(ended, '', 'no stop obeyed from junk');
  });

  it('keeps the chunk when the server confirms a different hash, or answers an error', async () => {
    reply = () => ({ status: 200, body: JSON.stringify({ have: 1, ok: [{ i: 0, h: '0'.repeat(64) }] }) });
    await settle();
    reply = () => ({ status: 500, body: '' });
    await settle(5000);
    assert.ok(requests.length >= 2);
    assert.ok(sim.world.spool.blobs.has('00010000.PCM'));
    assert.equal(st.up, 0);
  });

  it('waits while the alarm path has a frame in flight', async () => {
    busy = true;
    reply = confirm();
    await settle(10_000);
    assert.equal(requests.length, 0);
    busy = false;
    await settle(3000);
    assert.equal(requests.length, 1);
  });

  const stops: [string, () => object, string][] = [
    ['authentic and fresh', () => ({ r: '0001', t: Date.now(), m: mac(`stop:SIM-0001:0001:${Date.now()}`) }), 'stop'],
    ['forged MAC', () => ({ r: '0001', t: Date.now(), m: mac(`stop:SIM-0001:0001:${Date.now() + 1}`) }), ''],
    ['replayed from 10 minutes ago', () => ({ r: '0001', t: Date.now() - 600_000, m: mac(`stop:SIM-0001:0001:${Date.now() - 600_000}`) }), ''],
    ['for another recording', () => ({ r: '0002', t: Date.now(), m: mac(`stop:SIM-0001:0002:${Date.now()}`) }), ''],
    ['for another unit', () => ({ r: '0001', t: Date.now(), m: mac(`stop:SIM-0002:0001:${Date.now()}`) }), '']
  ];
  for (const [name, make, expect] of stops) {
    it(`stop command ${name}: ${expect ? 'obeyed' : 'refused'}`, async () => {
      reply = (req) => confirm({ stop: make() })(req);
      await settle();
      assert.equal(ended, expect);
    });
  }
});
