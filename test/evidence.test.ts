import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  startEvidenceServer,
  type EvidenceServer,
  MAX_BODY,
  MAX_REQUEST_LINE,
  MAX_RECORD_LINE,
  MAX_CHUNK_SAMPLES
} from '../sim/evidence-server';
import { verifyRecordingDir, verifyCardDir, formatCardReport } from '../tools/evidence-verify';
import {
  buildRecording,
  cardFiles,
  EvidenceConnection,
  encodeRequest,
  makeRecord,
  newNonce,
  parseReplyFrame,
  replyMacHex,
  requestFor,
  sealRecord,
  sealedBytes,
  sealedFor,
  segmentName,
  send,
  sendBytes,
  sha256,
  signManifest,
  verifyReply,
  type SendResult,
  type TestRecording
} from './support/evidence-client';

const ROOT = path.join(__dirname, '..');
const UNIT = 'SIM-0001';
const UNIT2 = 'SIM-0002';
const KEY = crypto.randomBytes(32).toString('hex');
const KEY2 = crypto.randomBytes(32).toString('hex');
const WRONG_KEY = crypto.randomBytes(32).toString('hex');

/**
 * The main recording: 8 chunks; chunk 2 is short and followed by a microphone gap, chunk 5 comes
 * after a spool gap, the last chunk is odd-sized (so the WAV carries a pad byte).
 */
const SPECS = [
  { n: 4000 },
  { n: 4000 },
  { n: 2500 },
  { n: 4000, gapBefore: { s: 1500, why: 'mic' as const } },
  { n: 4000 },
  { n: 3000, gapBefore: { s: 4000, why: 'spool' as const } },
  { n: 4000 },
  { n: 1233 }
];

const wavData = (file: string) => fs.readFileSync(file).subarray(44, 44 + fs.readFileSync(file).readUInt32LE(40));
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
const writeJson = (file: string, v: unknown) => fs.writeFileSync(file, JSON.stringify(v));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Replace a WAV's samples, keeping a correct 8-bit mono header. */
function rewriteWav(file: string, edit: (samples: Buffer) => Buffer): void {
  const old = fs.readFileSync(file);
  const samples = edit(Buffer.from(wavData(file)));
  const header = Buffer.from(old.subarray(0, 44));
  const pad = samples.length & 1;
  header.writeUInt32LE(36 + samples.length + pad, 4);
  header.writeUInt32LE(samples.length, 40);
  fs.writeFileSync(file, Buffer.concat([header, samples, Buffer.alloc(pad)]));
}

/** All files under a folder, path → content, for "nothing changed" checks. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!fs.existsSync(dir)) return out;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), sha256(fs.readFileSync(p)));
    }
  };
  walk(dir);
  return out;
}

/** A byte of a buffer flipped (a copy). */
const flip = (b: Buffer, at: number, mask = 0x01) => {
  const c = Buffer.from(b);
  c[at] ^= mask;
  return c;
};

/** A sealed chunk whose header line has one field replaced (the rest, MAC included, as sealed). */
const editLine = (s: { line: string; ct: Buffer }, edit: (o: any) => void) => {
  const o = JSON.parse(s.line);
  edit(o);
  return sealedBytes({ line: JSON.stringify(o), ct: s.ct });
};

describe('audio evidence: evidence server over TCP with sealed chunks, and the verifier (docs/evidence.md)', function () {
  this.timeout(120_000);
  let tmp: string;
  let server: EvidenceServer;
  let serverRoot: string;
  const uploads: [string, string, number][] = [];
  const rec1 = buildRecording({ unit: UNIT, rid: '0001', key: KEY, chunks: SPECS, trig: 8000 });
  let goodDir: string;

  /** Send ready-made request bytes on a fresh connection; the reply checked with the unit's key. */
  const exchange = (rec: TestRecording, bytes: Buffer, nonce: string, key = KEY, unit = rec.unit, rid = rec.rid) =>
    sendBytes(server.host, server.port, unit, rid, nonce, bytes, key);
  /** Upload chunks from … to-1 with the manifest as of manifestN chunks. */
  const upload = (rec: TestRecording, from: number, to: number, manifestN = to, end: '' | 'stop' | 'max' = '') => {
    const q = requestFor(rec, KEY, from, to, manifestN, end);
    return exchange(rec, q.bytes, q.nonce);
  };
  const startServer = () => startEvidenceServer({ root: serverRoot, keys: { [UNIT]: KEY, [UNIT2]: KEY2 } });

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'evidence-test-'));
    serverRoot = path.join(tmp, 'server');
    server = await startServer();
    server.onUpload((u, r, have) => uploads.push([u, r, have]));
    goodDir = path.join(serverRoot, UNIT, '0001');
  });

  after(async () => {
    if (server) await server.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('evidence server', () => {
    it('listens on 127.0.0.1 over plain TCP', () => {
      assert.equal(server.host, '127.0.0.1');
      assert.equal(server.url, `tcp://127.0.0.1:${server.port}`);
    });

    it('assembles a multi-chunk recording with declared gaps into a bit-exact WAV, which verifies', async () => {
      const batches: [number, number, '' | 'stop'][] = [
        [0, 2, ''],
        [2, 4, ''],
        [4, 7, ''],
        [7, 8, 'stop']
      ];
      for (const [from, to, end] of batches) {
        const r = await upload(rec1, from, to, to, end);
        assert.ok(r.macOk, JSON.stringify(r.json));
        assert.equal(r.json.q, r.nonce);
        assert.equal(r.json.r, '0001');
        assert.equal(r.json.error, undefined, r.json.error);
        assert.equal(r.json.have, to);
        assert.deepEqual(
          r.json.ok,
          rec1.records.slice(from, to).map((c) => ({ i: c.i, h: c.h }))
        );
        assert.equal(r.json.stop, undefined);
      }
      assert.deepEqual(
        uploads,
        batches.map(([, to]) => [UNIT, '0001', to])
      );

      const wav = fs.readFileSync(path.join(goodDir, 'recording.wav'));
      const extent = rec1.expected.length;
      assert.equal(extent, 32233);
      assert.equal(wav.toString('latin1', 0, 4), 'RIFF');
      assert.equal(wav.readUInt32LE(4), wav.length - 8);
      assert.equal(wav.toString('latin1', 8, 16), 'WAVEfmt ');
      assert.deepEqual(
        [
          wav.readUInt32LE(16),
          wav.readUInt16LE(20),
          wav.readUInt16LE(22),
          wav.readUInt32LE(24),
          wav.readUInt32LE(28),
          wav.readUInt16LE(32),
          wav.readUInt16LE(34)
        ],
        [16, 1, 1, 8000, 8000, 1, 8]
      );
      assert.equal(wav.toString('latin1', 36, 40), 'data');
      assert.equal(wav.readUInt32LE(40), extent);
      assert.equal(wav.length, 44 + extent + 1); // odd extent: one pad byte
      const data = wav.subarray(44, 44 + extent);
      // Sample k is recording sample k: the counter pattern in chunks, 128 in the declared gaps.
      const inGap = (k: number) => (k >= 10500 && k < 12000) || (k >= 20000 && k < 24000);
      for (let k = 0; k < extent; k++) {
        if (data[k] !== (inGap(k) ? 128 : k & 255)) assert.fail(`sample ${k} is ${data[k]}`);
      }
      assert.ok(data.equals(rec1.expected));

      const stored = readJson(path.join(goodDir, 'manifest.json'));
      assert.deepEqual(Object.keys(stored), ['manifest', 'chunks']);
      assert.deepEqual(stored.manifest, rec1.manifest(8, 'stop'));
      assert.deepEqual(stored.chunks, rec1.records); // the records as documented: no IV, no MAC

      const [info] = server.recordings().filter((r) => r.rid === '0001');
      assert.equal(info!.unit, UNIT);
      assert.equal(info!.chunks, 8);
      assert.equal(info!.have, 8);
      assert.equal(info!.signatureOk, true);
      assert.equal(info!.dir, goodDir);
      assert.equal((info!.manifest as { final: boolean }).final, true);

      const v = verifyRecordingDir(goodDir, KEY);
      assert.deepEqual(v.problems, []);
      assert.equal(v.ok, true);
      assert.equal(v.summary.chunks, 8);
      assert.equal(v.summary.samples, extent);
      assert.equal(v.summary.signature, 'valid');
      assert.deepEqual(
        v.summary.gaps.map((g) => [g.i, g.s, g.why]),
        [
          [3, 1500, 'mic'],
          [5, 4000, 'spool']
        ]
      );
    });

    it('accepts a re-upload of stored chunks idempotently, confirms them again and keeps the newer manifest', async () => {
      const before = snapshot(goodDir);
      let r = await upload(rec1, 6, 8, 8, 'stop');
      assert.ok(r.macOk);
      assert.deepEqual(r.json, {
        q: r.nonce,
        r: '0001',
        have: 8,
        ok: [6, 7].map((i) => ({ i, h: rec1.records[i]!.h }))
      });
      // An older manifest (n = 2) with chunks 0-1 again: confirmed, the stored final manifest stays.
      r = await upload(rec1, 0, 2, 2);
      assert.ok(r.macOk);
      assert.deepEqual(r.json, {
        q: r.nonce,
        r: '0001',
        have: 8,
        ok: [0, 1].map((i) => ({ i, h: rec1.records[i]!.h }))
      });
      // A replayed non-final manifest with as many chunks does not undo the final one.
      r = await upload(rec1, 7, 8, 8, '');
      assert.ok(r.macOk);
      assert.equal(r.json.have, 8);
      assert.deepEqual(snapshot(goodDir), before);
      assert.equal(readJson(path.join(goodDir, 'manifest.json')).manifest.final, true);
    });

    it('refuses a bad hash, a broken chain, a skipped index and malformed requests with an authenticated error; nothing stored is lost', async () => {
      const rec = buildRecording({
        unit: UNIT,
        rid: '0002',
        key: KEY,
        chunks: [4000, 4000, 4000, 4000, 4000, 100].map((n) => ({ n }))
      });
      const ok = await upload(rec, 0, 3);
      assert.ok(ok.macOk);
      assert.equal(ok.json.have, 3);
      const dir = path.join(serverRoot, UNIT, '0002');
      const before = snapshot(dir);
      const rejectedBefore = server.rejected().length;
      const m5 = rec.manifest(5);
      const r3 = rec.records[3]!;
      const a3 = rec.audio[3]!;
      const seal3 = sealRecord(r3, a3, KEY);
      const seal4 = sealRecord(rec.records[4]!, rec.audio[4]!, KEY);
      const req = (manifest: object | string, chunks: (ReturnType<typeof sealRecord> | Buffer)[]) =>
        encodeRequest(UNIT, '0002', '@', manifest, chunks);

      // Framed requests, refused: each gets an error reply on the same connection, which stays open.
      const cases: [string, Buffer, RegExp][] = [];
      const flipped = Buffer.from(a3);
      flipped[100] ^= 1;
      cases.push([
        'bad hash (sealed as it is)',
        req(m5, [sealRecord(r3, flipped, KEY)]),
        /chunk 3: audio does not match "h"/
      ]);
      cases.push([
        'c not the chain of its record',
        req(m5, [sealRecord({ ...r3, c: 'f'.repeat(64) }, a3, KEY)]),
        /chunk 3: "c" is not SHA-256/
      ]);
      const broken = makeRecord({ ...r3, p: sha256('not chunk 2') });
      cases.push([
        'broken chain',
        req(m5, [sealRecord(broken, a3, KEY)]),
        /chunk 3: "p" is not the chain value of chunk 2/
      ]);
      cases.push(['skipped index', req(m5, [seal4]), /chunk 4 does not continue: the server expects chunk 3/]);
      const other = Buffer.alloc(4000, 7);
      const conflicting = makeRecord({ ...rec.records[1]!, h: sha256(other) });
      cases.push([
        'a different hash for a stored index',
        req(m5, [sealRecord(conflicting, other, KEY)]),
        /chunk 1 is already stored with a different hash/
      ]);
      const overlap = makeRecord({ ...r3, s: r3.s - 10 });
      cases.push([
        'overlapping samples',
        req(m5, [sealRecord(overlap, a3, KEY)]),
        /chunk 3: starts at sample 11990, inside chunk 2/
      ]);
      cases.push(['records not consecutive', req(m5, [seal3, seal3]), /not consecutive/]);
      cases.push(['manifest not JSON', req('{"v":1,', []), /manifest is not valid JSON/]);
      const { samples: _drop, ...noSamples } = m5;
      cases.push(['manifest field missing', req(noSamples, []), /manifest: missing "samples"/]);
      cases.push([
        'manifest signed with another key',
        req(signManifest({ ...m5 }, WRONG_KEY), [seal3]),
        /manifest: signature "sig" is invalid/
      ]);
      cases.push([
        'manifest altered after signing',
        req({ ...m5, trig: m5.trig + 1 }, [seal3]),
        /manifest: signature "sig" is invalid/
      ]);
      const badHead = signManifest({ ...rec.manifest(3), head: rec.records[1]!.c }, KEY);
      cases.push([
        'manifest head not the chain',
        req(badHead, []),
        /manifest: "head" is not the chain value of chunk 2/
      ]);
      const { w: _w, ...noW } = rec.records[4]!;
      cases.push([
        'record field missing',
        req(m5, [sealedBytes({ line: JSON.stringify({ ...noW, v: seal4.iv, m: seal4.m }), ct: seal4.ct })]),
        /chunk 4: missing "w"/
      ]);
      cases.push([
        'chunk beyond the manifest n',
        req(rec.manifest(4), [seal4]),
        /chunk 4 is beyond the manifest's n=4/
      ]);
      cases.push([
        'record of another recording',
        req(m5, [sealRecord(makeRecord({ ...rec.records[4]!, r: '0009' }), rec.audio[4]!, KEY)]),
        /"r" does not match/
      ]);
      // The seal: one flipped byte of ciphertext or header, or another key's MAC.
      cases.push([
        'ciphertext byte flipped',
        req(m5, [sealedBytes({ line: seal3.line, ct: flip(seal3.ct, 1234) })]),
        /chunk 3: seal MAC "m" is wrong/
      ]);
      cases.push([
        'last ciphertext byte flipped',
        req(m5, [sealedBytes({ line: seal3.line, ct: flip(seal3.ct, seal3.ct.length - 1, 0x80) })]),
        /chunk 3: seal MAC "m" is wrong/
      ]);
      cases.push([
        'IV byte flipped',
        req(m5, [editLine(seal3, (o) => (o.v = (o.v[0] === '0' ? '1' : '0') + o.v.slice(1)))]),
        /chunk 3: seal MAC "m" is wrong/
      ]);
      cases.push([
        'MAC byte flipped',
        req(m5, [editLine(seal3, (o) => (o.m = o.m.slice(0, 63) + (o.m[63] === '0' ? '1' : '0')))]),
        /chunk 3: seal MAC "m" is wrong/
      ]);
      cases.push(['header time changed', req(m5, [editLine(seal3, (o) => (o.t += 1))]), /chunk 3: "c" is not SHA-256/]);
      cases.push([
        'header time and c changed (c no longer sealed)',
        req(m5, [
          sealedBytes({
            line: JSON.stringify({ ...makeRecord({ ...r3, t: r3.t + 1 }), v: seal3.iv, m: seal3.m }),
            ct: seal3.ct
          })
        ]),
        /chunk 3: seal MAC "m" is wrong/
      ]);
      cases.push([
        'sealed with another key',
        req(m5, [sealRecord(r3, a3, WRONG_KEY)]),
        /chunk 3: seal MAC "m" is wrong/
      ]);
      const r5 = rec.records[5]!; // 100 samples: 12 bytes of padding
      const padded = Buffer.concat([rec.audio[5]!, Buffer.alloc(12, 0x55)]);
      cases.push([
        'padding not zero',
        req(rec.manifest(6), [sealRecord(r5, padded, KEY)]),
        /chunk 5: the padding after the 100 audio bytes is not zero/
      ]);
      cases.push([
        'manifest fields in another order (fine)',
        req(Object.fromEntries(Object.entries(m5).reverse()), [seal3]),
        /^$/
      ]);

      const conn = await EvidenceConnection.open(server.host, server.port);
      try {
        for (const [name, template, error] of cases) {
          const nonce = newNonce();
          const bytes = Buffer.from(template.toString('latin1').replace(' @ ', ` ${nonce} `), 'latin1');
          const frame = await conn.request(bytes);
          assert.ok(frame, `${name}: no reply`);
          assert.ok(verifyReply(KEY, UNIT, '0002', nonce, frame), `${name}: reply MAC`);
          if (error.source === '^$') {
            assert.equal(frame.json.error, undefined, `${name}: ${frame.json.error}`);
            assert.equal(frame.json.have, 4, name);
            continue; // chunk 3 stored: the rest of the cases run against 4 chunks held
          }
          assert.match(frame.json.error ?? '', error, name);
          assert.deepEqual(frame.json.ok, [], name);
          assert.equal(frame.json.have, 3, name);
        }
      } finally {
        conn.close();
      }

      // Requests that break the framing: an authenticated error, then the connection is closed.
      const lineOf = (o: object) => Buffer.from(JSON.stringify(o) + '\n', 'latin1');
      const closing: [string, Buffer, RegExp][] = [
        ['n = 0', req(m5, [lineOf({ ...rec.records[4]!, n: 0, v: seal4.iv, m: seal4.m })]), /"n" must be 1\.\.65536/],
        [
          'n too big',
          req(m5, [lineOf({ ...rec.records[4]!, n: 70000, v: seal4.iv, m: seal4.m })]),
          /"n" must be 1\.\.65536/
        ],
        [
          'record line not JSON',
          req(m5, [Buffer.from('{"r":"0002"\n')]),
          /sealed record 1 of the request is not valid JSON/
        ],
        [
          'record without a newline',
          req(m5, [Buffer.alloc(MAX_RECORD_LINE + 10, 0x41)]),
          /no header line within 1024 bytes/
        ],
        ['k over 8', encodeRequest(UNIT, '0002', '@', m5, [], { k: 9 }), /at most 8 sealed records/],
        ['mlen not a number', encodeRequest(UNIT, '0002', '@', m5, [], { mlen: '0x10' }), /must be decimal numbers/],
        ['recording 0000', encodeRequest(UNIT, '0000', '@', m5, []), /recording id must be 0001\.\.ffff/],
        [
          'manifest over the request bound',
          encodeRequest(UNIT, '0002', '@', m5, [], { mlen: MAX_BODY }),
          /request over 1048576 bytes/
        ]
      ];
      for (const [name, template, error] of closing) {
        const nonce = newNonce();
        const bytes = Buffer.from(template.toString('latin1').replace(' @ ', ` ${nonce} `), 'latin1');
        const rid = name === 'recording 0000' ? '0000' : '0002';
        const c = await EvidenceConnection.open(server.host, server.port);
        const frame = await c.request(bytes);
        assert.ok(frame, `${name}: no reply`);
        assert.ok(verifyReply(KEY, UNIT, rid, nonce, frame), `${name}: reply MAC`);
        assert.match(frame.json.error, error, name);
        assert.deepEqual(frame.json.ok, [], name);
        assert.ok(await c.closed(3000), `${name}: connection not closed`);
        c.close();
      }

      // The request line: a unit or recording not matching the manifest, ids the server cannot
      // answer for, and what is not the protocol at all (closed without a reply).
      const lineCases: [string, Buffer, string, string, RegExp | 'closed'][] = [
        [
          'unit mismatch',
          encodeRequest(UNIT2, '0002', '@', m5, [seal3]),
          UNIT2,
          '0002',
          /manifest: "unit" does not match the request's unit SIM-0002/
        ],
        [
          'rid mismatch',
          encodeRequest(UNIT, '0003', '@', m5, [seal3]),
          UNIT,
          '0003',
          /manifest: "r" does not match the request's recording 0003/
        ],
        ['unit not in the keys', encodeRequest('SIM-0009', '0002', '@', m5, [seal3]), 'SIM-0009', '0002', 'closed'],
        ['unit with a path in it', encodeRequest('../../x', '0002', '@', m5, [seal3]), '../../x', '0002', 'closed'],
        ['nonce too short', encodeRequest(UNIT, '0002', 'abcd', m5, [seal3]), UNIT, '0002', 'closed'],
        ['HTTP', Buffer.from(`POST /v1/evidence/${UNIT}/0002 HTTP/1.1\r\nHost: x\r\n\r\n`), UNIT, '0002', 'closed'],
        ['EVD2', Buffer.from(`EVD2 ${UNIT} 0002 ${newNonce()} 2 0\n{}`), UNIT, '0002', 'closed']
      ];
      for (const [name, template, unit, rid, expect] of lineCases) {
        const nonce = newNonce();
        const bytes = Buffer.from(template.toString('latin1').replace(' @ ', ` ${nonce} `), 'latin1');
        const r = await sendBytes(server.host, server.port, unit, rid, nonce, bytes, unit === UNIT2 ? KEY2 : KEY);
        if (expect === 'closed') {
          assert.equal(r.frame, undefined, `${name}: replied`);
          assert.ok(r.closed, `${name}: connection not closed`);
        } else {
          assert.ok(r.macOk, `${name}: reply MAC`);
          assert.match(r.json.error, expect, name);
        }
      }

      // What was stored before is intact: chunks 0-2 as they were, chunk 3 added by the one good request.
      const after = snapshot(dir);
      for (const [f, h] of before) {
        if (f.startsWith('chunks')) assert.equal(after.get(f), h, f);
      }
      const stored = readJson(path.join(dir, 'manifest.json'));
      assert.deepEqual(stored.chunks, rec.records.slice(0, 4));
      assert.ok(wavData(path.join(dir, 'recording.wav')).subarray(0, 16000).equals(rec.expected.subarray(0, 16000)));
      const refused = server.rejected().slice(rejectedBefore);
      assert.equal(refused.length, cases.length - 1 + closing.length + lineCases.length);
      assert.equal(refused.filter((x) => x.replied && !x.closed).length, cases.length - 1 + 2);
      assert.equal(refused.filter((x) => x.replied && x.closed).length, closing.length);
      assert.equal(refused.filter((x) => !x.replied && x.closed).length, lineCases.length - 2);
      assert.ok(
        !fs.existsSync(path.join(serverRoot, 'SIM-0009')) && !fs.existsSync(path.join(serverRoot, UNIT, '0000'))
      );

      // The recording continues normally and verifies.
      const rest = await upload(rec, 4, 6, 6, 'max');
      assert.ok(rest.macOk);
      assert.equal(rest.json.have, 6);
      const v = verifyRecordingDir(dir, KEY);
      assert.deepEqual(v.problems, []);
      assert.ok(wavData(path.join(dir, 'recording.wav')).equals(rec.expected));
    });

    it('a request for a unit it holds no key for gets no reply, and nothing is stored', async () => {
      const stranger = buildRecording({ unit: 'SIM-0077', rid: '0001', key: KEY, chunks: [{ n: 100 }] });
      const q = requestFor(stranger, KEY, 0, 1);
      const r = await sendBytes(server.host, server.port, 'SIM-0077', '0001', q.nonce, q.bytes, KEY);
      assert.equal(r.frame, undefined);
      assert.ok(r.closed);
      assert.equal(
        server.recordings().find((x) => x.unit === 'SIM-0077'),
        undefined
      );
      assert.ok(!fs.existsSync(path.join(serverRoot, 'SIM-0077')));
      const last = server.rejected().at(-1)!;
      assert.deepEqual([last.unit, last.replied, last.closed], ['SIM-0077', false, true]);
      assert.match(last.error, /unknown unit SIM-0077/);
    });

    it('the reply MAC verifies with K_rep only, and binds the nonce, the unit and the recording', async () => {
      const rec = buildRecording({ unit: UNIT, rid: '0008', key: KEY, chunks: [{ n: 500 }, { n: 500 }] });
      const q = requestFor(rec, KEY, 0, 1);
      const captured = await exchange(rec, q.bytes, q.nonce);
      assert.ok(captured.macOk);
      const f = captured.frame!;
      assert.equal(f.len, f.text.length);
      assert.equal(f.raw.toString('latin1'), `EVR1 ${f.len} ${f.mac}\n${f.text}`);
      assert.equal(f.mac, replyMacHex(KEY, UNIT, '0008', q.nonce, f.text));
      // Not under K itself, K_mac or another unit's key; not for another unit or recording.
      assert.notEqual(
        f.mac,
        crypto
          .createHmac('sha256', Buffer.from(KEY, 'hex'))
          .update(`EVR1:${UNIT}:0008:${q.nonce}:${f.text}`)
          .digest('hex')
      );
      assert.equal(verifyReply(KEY2, UNIT, '0008', q.nonce, f), false);
      assert.equal(verifyReply(KEY, UNIT2, '0008', q.nonce, f), false);
      assert.equal(verifyReply(KEY, UNIT, '0009', q.nonce, f), false);
      // Replayed against the next request (its fresh nonce), the captured reply confirms nothing.
      const next = requestFor(rec, KEY, 1, 2);
      assert.notEqual(next.nonce, q.nonce);
      assert.equal(verifyReply(KEY, UNIT, '0008', next.nonce, f), false);
      const answered = await exchange(rec, next.bytes, next.nonce);
      assert.ok(answered.macOk);
      assert.equal(verifyReply(KEY, UNIT, '0008', q.nonce, answered.frame!), false);
      // Any byte of the reply changed: the MAC fails.
      let checked = 0;
      for (let k = 0; k < f.raw.length; k++) {
        const parsed = parseReplyFrame(flip(f.raw, k));
        if (parsed === undefined || typeof parsed === 'string') continue; // not a frame any more: refused too
        assert.equal(verifyReply(KEY, UNIT, '0008', q.nonce, parsed.frame), false, `byte ${k}`);
        checked++;
      }
      assert.ok(checked >= f.len, `${checked} flips checked`);
    });

    it('carries "stop" only in authenticated replies for that recording, until its final manifest', async () => {
      const rec = buildRecording({
        unit: UNIT,
        rid: '0003',
        key: KEY,
        chunks: [{ n: 4000 }, { n: 4000 }, { n: 4000 }]
      });
      let r = await upload(rec, 0, 1);
      assert.equal(r.json.stop, undefined);
      server.requestStop(UNIT, '0003');
      for (const [from, to] of [
        [1, 2],
        [1, 2]
      ]) {
        r = await upload(rec, from!, to!);
        assert.ok(r.macOk);
        assert.equal(r.json.stop, true);
        assert.match(r.frame!.text, /,"stop":true\}$/);
        // The stop cannot be taken out of, or put into, a reply without breaking its MAC.
        const stripped = r.frame!.text.replace(',"stop":true', '');
        assert.equal(
          verifyReply(KEY, UNIT, '0003', r.nonce, { ...r.frame!, text: stripped, json: JSON.parse(stripped) }),
          false
        );
      }
      // An error reply for that recording carries it too (a recording whose upload is stuck can be stopped).
      const badNonce = newNonce();
      const bad = await exchange(
        rec,
        encodeRequest(UNIT, '0003', badNonce, rec.manifest(3), sealedFor(rec, 2, 3, WRONG_KEY)),
        badNonce
      );
      assert.ok(bad.macOk);
      assert.match(bad.json.error, /seal MAC/);
      assert.equal(bad.json.stop, true);
      // Another unit's reply for the same recording id, and another recording of this unit: no stop.
      const twin = buildRecording({ unit: UNIT2, rid: '0003', key: KEY2, chunks: [{ n: 10 }] });
      const tq = requestFor(twin, KEY2, 0, 1);
      const t = await exchange(twin, tq.bytes, tq.nonce, KEY2);
      assert.ok(t.macOk);
      assert.equal(t.json.stop, undefined);
      const rec4 = buildRecording({ unit: UNIT, rid: '0004', key: KEY, chunks: [{ n: 10 }] });
      r = await upload(rec4, 0, 1);
      assert.equal(r.json.stop, undefined);
      // The final manifest ends it.
      r = await upload(rec, 2, 3, 3, 'stop');
      assert.ok(r.macOk);
      assert.equal(r.json.stop, undefined);
      r = await upload(rec, 2, 3, 3, 'stop');
      assert.equal(r.json.stop, undefined);
      server.requestStop(UNIT, '0003'); // an ended recording has nothing to stop
      r = await upload(rec, 2, 3, 3, 'stop');
      assert.equal(r.json.stop, undefined);
    });

    it('serves many requests on one connection, pipelined or one at a time, in order', async () => {
      const rec = buildRecording({
        unit: UNIT,
        rid: '000a',
        key: KEY,
        chunks: Array.from({ length: 6 }, () => ({ n: 1000 }))
      });
      const c = await EvidenceConnection.open(server.host, server.port);
      try {
        const a = requestFor(rec, KEY, 0, 2);
        const f1 = await c.request(a.bytes);
        assert.ok(f1 && verifyReply(KEY, UNIT, '000a', a.nonce, f1));
        const b = requestFor(rec, KEY, 2, 3);
        const d = requestFor(rec, KEY, 3, 6, 6, 'stop');
        c.write(Buffer.concat([b.bytes, d.bytes])); // both at once: answered one after the other
        const f2 = await c.next();
        const f3 = await c.next();
        assert.ok(f2 && verifyReply(KEY, UNIT, '000a', b.nonce, f2));
        assert.ok(f3 && verifyReply(KEY, UNIT, '000a', d.nonce, f3));
        assert.deepEqual([f1.json.have, f2.json.have, f3.json.have], [2, 3, 6]);
        // A request in pieces of a few bytes.
        const e = requestFor(rec, KEY, 5, 6, 6, 'stop');
        for (let k = 0; k < e.bytes.length; k += 97) c.write(e.bytes.subarray(k, k + 97));
        const f4 = await c.next();
        assert.ok(f4 && verifyReply(KEY, UNIT, '000a', e.nonce, f4));
        assert.deepEqual(f4.json.ok, [{ i: 5, h: rec.records[5]!.h }]);
      } finally {
        c.close();
      }
      assert.deepEqual(verifyRecordingDir(path.join(serverRoot, UNIT, '000a'), KEY).problems, []);
    });

    it('injects faults: an error stores nothing, silent answers nothing, lost replies store, down refuses connections, delay', async () => {
      const rec = buildRecording({ unit: UNIT, rid: '0006', key: KEY, chunks: [{ n: 50 }, { n: 50 }] });
      server.faults.error = 'storage offline';
      let r = await upload(rec, 0, 1);
      delete server.faults.error;
      assert.ok(r.macOk);
      assert.equal(r.json.error, 'storage offline');
      assert.deepEqual(r.json.ok, []);
      assert.equal(
        server.recordings().find((x) => x.rid === '0006'),
        undefined
      );

      server.faults.silent = true;
      const c = await EvidenceConnection.open(server.host, server.port);
      const q = requestFor(rec, KEY, 0, 1);
      assert.equal(await c.request(q.bytes, 300), undefined, 'no reply');
      assert.equal(c.ended, false, 'the connection stays open');
      c.close();
      delete server.faults.silent;
      assert.equal(
        server.recordings().find((x) => x.rid === '0006'),
        undefined,
        'nothing stored'
      );

      server.faults.loseReplies = true;
      const lost = requestFor(rec, KEY, 0, 1);
      r = await sendBytes(server.host, server.port, UNIT, '0006', lost.nonce, lost.bytes, KEY, 300);
      delete server.faults.loseReplies;
      assert.equal(r.frame, undefined);
      assert.equal(server.recordings().find((x) => x.rid === '0006')?.have, 1, 'stored though the reply was lost');
      // The unit, never told, sends chunk 0 again with chunk 1: both are confirmed.
      r = await upload(rec, 0, 2);
      assert.ok(r.macOk);
      assert.deepEqual(
        r.json.ok.map((x: { i: number }) => x.i),
        [0, 1]
      );

      server.faults.down = true;
      r = await upload(rec, 0, 2).catch(() => ({ closed: true, macOk: false }) as SendResult);
      server.faults.down = false;
      assert.ok(r.closed && !r.frame);

      server.faults.delayMs = 150;
      const t0 = Date.now();
      r = await upload(rec, 1, 2, 2, 'stop');
      server.faults.delayMs = 0;
      assert.ok(Date.now() - t0 >= 140);
      assert.ok(r.macOk);
      assert.equal(r.json.have, 2);
    });

    it('a restarted server resumes the recordings it finds in its root', async () => {
      const rec = buildRecording({ unit: UNIT, rid: '0007', key: KEY, chunks: [{ n: 300 }, { n: 300 }] });
      assert.ok((await upload(rec, 0, 1)).macOk);
      await server.close();
      server = await startServer();
      const info = server.recordings().find((x) => x.rid === '0007');
      assert.equal(info?.have, 1);
      assert.equal(server.recordings().find((x) => x.rid === '0001')?.signatureOk, true);
      const r = await upload(rec, 0, 2, 2, 'stop');
      assert.ok(r.macOk);
      assert.deepEqual(
        r.json.ok.map((x: { i: number }) => x.i),
        [0, 1]
      );
      assert.deepEqual(verifyRecordingDir(path.join(serverRoot, UNIT, '0007'), KEY).problems, []);
    });

    it('the send() helper: one request, its reply checked', async () => {
      const rec = buildRecording({ unit: UNIT, rid: '000b', key: KEY, chunks: [{ n: 20 }] });
      const r = await send(
        server.host,
        server.port,
        UNIT,
        '000b',
        rec.manifest(1, 'stop'),
        sealedFor(rec, 0, 1, KEY),
        KEY
      );
      assert.ok(r.macOk);
      assert.equal(r.json.have, 1);
      const wrong = await send(
        server.host,
        server.port,
        UNIT,
        '000b',
        rec.manifest(1, 'stop'),
        sealedFor(rec, 0, 1, KEY),
        WRONG_KEY
      );
      assert.equal(wrong.macOk, false, 'checked with the wrong key, the reply does not verify');
    });
  });

  describe('evidence server against slow, garbage and oversize streams', () => {
    let limited: EvidenceServer;
    let root: string;
    before(async () => {
      root = path.join(tmp, 'limited');
      limited = await startEvidenceServer({
        root,
        keys: { [UNIT]: KEY },
        idleMs: 400,
        requestMs: 800,
        maxConnections: 6
      });
    });
    after(async () => {
      await limited?.close();
    });

    /** Write `bytes` in pieces until the server closes the connection; how much it took. */
    async function pour(piece: Buffer, total: number): Promise<{ written: number; closed: boolean; ms: number }> {
      const t0 = Date.now();
      const c = await EvidenceConnection.open(limited.host, limited.port);
      let written = 0;
      while (written < total && !c.ended) {
        c.write(piece);
        written += piece.length;
        await new Promise((r) => setImmediate(r));
        if (c.sock.writableLength > 4 * 1024 * 1024) await sleep(5);
      }
      const closed = await c.closed(3000);
      c.close();
      return { written, closed, ms: Date.now() - t0 };
    }

    it('garbage without a newline is dropped after one request line, without buffering it', async () => {
      const r = await pour(
        Buffer.from(crypto.randomBytes(64 * 1024).map((b) => (b === 0x0a ? 0x20 : b))),
        32 * 1024 * 1024
      );
      assert.ok(r.closed, 'closed');
      assert.ok(r.written < 32 * 1024 * 1024, `the server read all ${r.written} bytes`);
      assert.ok(
        limited.stats().peakBuffered <= MAX_REQUEST_LINE + 64 * 1024,
        `buffered ${limited.stats().peakBuffered}`
      );
      assert.match(limited.rejected().at(-1)!.error, /request line too long/);
    });

    it('a request over MAX_BODY is refused as soon as its lengths say so; the most held is one request', async () => {
      const rec = buildRecording({
        unit: UNIT,
        rid: '0001',
        key: KEY,
        chunks: Array.from({ length: 8 }, () => ({ n: MAX_CHUNK_SAMPLES }))
      });
      // A manifest padded to near the bound, then eight records of 64 KiB: over it at the first record.
      const big = Buffer.alloc(MAX_BODY - 40_000, 0x20);
      const nonce = newNonce();
      const bytes = encodeRequest(
        UNIT,
        '0001',
        nonce,
        Buffer.concat([Buffer.from(JSON.stringify(rec.manifest(8))), big]),
        sealedFor(rec, 0, 8, KEY)
      );
      const c = await EvidenceConnection.open(limited.host, limited.port);
      const frame = await c.request(bytes);
      assert.ok(frame && verifyReply(KEY, UNIT, '0001', nonce, frame));
      assert.match(frame.json.error, /request over 1048576 bytes \(at chunk 0\)/);
      assert.ok(await c.closed());
      c.close();
      assert.ok(limited.stats().peakBuffered <= MAX_BODY + 64 * 1024, `buffered ${limited.stats().peakBuffered}`);
      // Endless ciphertext after a header announcing a huge manifest: refused at the header.
      const c2 = await EvidenceConnection.open(limited.host, limited.port);
      const n2 = newNonce();
      const f2 = await c2.request(Buffer.from(`EVD1 ${UNIT} 0001 ${n2} 999999999 1\n`));
      assert.ok(f2 && verifyReply(KEY, UNIT, '0001', n2, f2));
      assert.match(f2.json.error, /request over/);
      c2.close();
      assert.equal(limited.recordings().length, 0);
    });

    it('closes a client that stops mid-request, and one that trickles a request forever; others are served meanwhile', async () => {
      const rec = buildRecording({ unit: UNIT, rid: '0002', key: KEY, chunks: [{ n: 4000 }, { n: 4000 }] });
      const q = requestFor(rec, KEY, 0, 2);
      // Stops after half the request: closed after idleMs.
      const stalled = await EvidenceConnection.open(limited.host, limited.port);
      stalled.write(q.bytes.subarray(0, 5000));
      // Trickles a byte every 50 ms (never idle): closed after requestMs.
      const slow = await EvidenceConnection.open(limited.host, limited.port);
      let k = 0;
      const trickle = setInterval(() => slow.write(q.bytes.subarray(k, ++k)), 50);
      try {
        // Meanwhile another client is served at once.
        const t0 = Date.now();
        const ok = await sendBytes(limited.host, limited.port, UNIT, '0002', q.nonce, q.bytes, KEY);
        assert.ok(ok.macOk && ok.json.have === 2);
        assert.ok(Date.now() - t0 < 300);
        assert.ok(await stalled.closed(3000), 'the stalled client is closed');
        assert.ok(await slow.closed(3000), 'the trickling client is closed');
      } finally {
        clearInterval(trickle);
        stalled.close();
        slow.close();
      }
      assert.ok(limited.rejected().some((x) => /not complete within 800 ms/.test(x.error)));
    });

    it('refuses connections beyond its bound, and serves again once they are gone', async () => {
      const held = await Promise.all(
        Array.from({ length: 6 }, () => EvidenceConnection.open(limited.host, limited.port))
      );
      await sleep(50);
      const extra = await EvidenceConnection.open(limited.host, limited.port).catch(() => undefined);
      if (extra) assert.ok(await extra.closed(2000), 'the seventh connection is closed');
      for (const c of held) c.close();
      await sleep(100);
      const rec = buildRecording({ unit: UNIT, rid: '0003', key: KEY, chunks: [{ n: 10 }] });
      const q = requestFor(rec, KEY, 0, 1);
      const r = await sendBytes(limited.host, limited.port, UNIT, '0003', q.nonce, q.bytes, KEY);
      assert.ok(r.macOk);
    });

    it('survives clients that reset the connection mid-request', async () => {
      for (let k = 0; k < 20; k++) {
        const s = net.connect({ host: limited.host, port: limited.port });
        await new Promise((r) => s.once('connect', r));
        s.write(`EVD1 ${UNIT} 0004 ${newNonce()} 100 1\n{"v":`);
        s.resetAndDestroy();
      }
      await sleep(50);
      const rec = buildRecording({ unit: UNIT, rid: '0004', key: KEY, chunks: [{ n: 10 }] });
      const q = requestFor(rec, KEY, 0, 1);
      assert.ok((await sendBytes(limited.host, limited.port, UNIT, '0004', q.nonce, q.bytes, KEY)).macOk);
      assert.ok(limited.stats().open <= 1);
    });
  });

  describe('verifier (tools/evidence-verify.ts)', () => {
    let n = 0;
    /** A fresh copy of the good recording to tamper with. */
    const copy = () => {
      const d = path.join(tmp, 'tamper', String(n++), UNIT, '0001');
      fs.cpSync(goodDir, d, { recursive: true });
      return d;
    };
    const wavOf = (d: string) => path.join(d, 'recording.wav');
    const manOf = (d: string) => path.join(d, 'manifest.json');
    const region = (i: number) => [rec1.records[i]!.s, rec1.records[i]!.s + rec1.records[i]!.n] as const;

    it('reports a flipped byte in the WAV as the chunk whose hash it breaks', () => {
      const d = copy();
      const [s, e] = region(4);
      rewriteWav(wavOf(d), (x) => ((x[s + 123] ^= 0x01), x));
      const v = verifyRecordingDir(d, KEY);
      assert.equal(v.ok, false);
      assert.deepEqual(v.problems, [`chunk 4: audio hash mismatch (samples ${s}..${e - 1})`]);
    });

    it('reports a chunk dropped from the chunk list with its audio', () => {
      const d = copy();
      const man = readJson(manOf(d));
      man.chunks.splice(3, 1);
      writeJson(manOf(d), man);
      const [s, e] = region(3);
      rewriteWav(wavOf(d), (x) => Buffer.concat([x.subarray(0, s), x.subarray(e)]));
      const v = verifyRecordingDir(d, KEY);
      assert.equal(v.ok, false);
      assert.equal(v.problems[0], 'chunk 3 missing');
      assert.ok(
        v.problems.includes(`chunk 4: audio hash mismatch (samples ${region(4)[0]}..${region(4)[1] - 1})`),
        v.problems.join('\n')
      );
    });

    it('reports two chunks whose audio was swapped in the WAV', () => {
      const d = copy();
      rewriteWav(wavOf(d), (x) => {
        const a = Buffer.from(x.subarray(0, 4000));
        x.copy(x, 0, 4000, 8000);
        a.copy(x, 4000);
        return x;
      });
      assert.deepEqual(verifyRecordingDir(d, KEY).problems, [
        'chunk 0: audio hash mismatch (samples 0..3999)',
        'chunk 1: audio hash mismatch (samples 4000..7999)'
      ]);
    });

    it('reports two chunk records swapped in the list', () => {
      const d = copy();
      const man = readJson(manOf(d));
      [man.chunks[3], man.chunks[4]] = [man.chunks[4], man.chunks[3]];
      writeJson(manOf(d), man);
      assert.deepEqual(verifyRecordingDir(d, KEY).problems, ['chunks 3 and 4 out of order']);
    });

    it('reports an edited chunk record as a broken chain, and noise in a declared gap', () => {
      const d = copy();
      const man = readJson(manOf(d));
      man.chunks[6].t += 1;
      writeJson(manOf(d), man);
      rewriteWav(wavOf(d), (x) => ((x[21000] = 200), x));
      assert.deepEqual(verifyRecordingDir(d, KEY).problems, [
        'gap before chunk 5 (spool, samples 20000..23999) is not silent',
        'chain broken at chunk 6 (its "c" does not match its record)'
      ]);
    });

    it('reports audio appended beyond the extent and a changed WAV rate', () => {
      const d = copy();
      rewriteWav(wavOf(d), (x) => Buffer.concat([x, Buffer.alloc(5, 128)]));
      const wav = fs.readFileSync(wavOf(d));
      wav.writeUInt32LE(16000, 24);
      wav.writeUInt32LE(16000, 28);
      fs.writeFileSync(wavOf(d), wav);
      assert.deepEqual(verifyRecordingDir(d, KEY).problems, [
        'recording.wav: rate 16000 Hz, the manifest says 8000 Hz',
        "recording.wav: 5 samples beyond the recording's extent (32233)"
      ]);
    });

    it('reports a changed manifest field and a wrong key as an invalid signature', () => {
      const d = copy();
      const man = readJson(manOf(d));
      man.manifest.trig += 8000;
      writeJson(manOf(d), man);
      assert.deepEqual(verifyRecordingDir(d, KEY).problems, ['signature invalid']);
      assert.deepEqual(verifyRecordingDir(goodDir, WRONG_KEY).problems, ['signature invalid']);
      // Re-signing with the right key (what only the unit can do) makes the changed manifest valid.
      const { sig: _sig, ...unsigned } = man.manifest;
      man.manifest = signManifest(unsigned, KEY);
      writeJson(manOf(d), man);
      assert.deepEqual(verifyRecordingDir(d, KEY).problems, []);
    });

    it('fails without a key unless told not to check the signature', () => {
      const v = verifyRecordingDir(goodDir);
      assert.deepEqual(v.problems, ['signature NOT checked (no key)']);
      assert.equal(v.summary.signature, 'not checked');
      assert.equal(verifyRecordingDir(goodDir, undefined, { noSignature: true }).ok, true);
    });
  });

  describe('npm run evidence:verify (CLI)', () => {
    const run = (...args: string[]) =>
      spawnSync(
        path.join(ROOT, 'node_modules', '.bin', 'tsx'),
        [path.join(ROOT, 'tools', 'evidence-verify.ts'), ...args],
        {
          cwd: ROOT,
          encoding: 'utf8'
        }
      );
    let cliRoot: string;

    before(() => {
      cliRoot = path.join(tmp, 'cli');
      fs.cpSync(goodDir, path.join(cliRoot, 'good', UNIT, '0001'), { recursive: true });
      fs.cpSync(path.join(serverRoot, UNIT, '0007'), path.join(cliRoot, 'good', UNIT, '0007'), { recursive: true });
      fs.cpSync(goodDir, path.join(cliRoot, 'bad', UNIT, '0001'), { recursive: true });
      rewriteWav(path.join(cliRoot, 'bad', UNIT, '0001', 'recording.wav'), (x) => ((x[16000 + 5] ^= 0x80), x));
    });

    it('exits 0 on good recordings found beneath a folder, with a readable report and no key in it', () => {
      const r = run(path.join(cliRoot, 'good'), '--key', KEY);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Recording SIM-0001 \/ 0001/);
      assert.match(r.stdout, /Recording SIM-0001 \/ 0007/);
      assert.match(r.stdout, /rate 8000 Hz, 8-bit mono; duration 4\.029 s \(32233 samples\)/);
      assert.match(r.stdout, /start 2025-01-02T03:04:05\.600Z; trigger at 1\.000 s/);
      assert.match(r.stdout, /gap before chunk 3: 1500 samples \(0\.188 s\), mic/);
      assert.match(r.stdout, /end: stop; final/);
      assert.equal(r.stdout.match(/VERIFIED/g)?.length, 3); // two recordings and the total
      assert.ok(!(r.stdout + r.stderr).includes(KEY));
    });

    it('exits 0 for one recording folder with --keys, and with --no-signature', () => {
      const keysFile = path.join(tmp, 'keys.json');
      writeJson(keysFile, { [UNIT]: KEY });
      assert.equal(run(path.join(cliRoot, 'good', UNIT, '0001'), '--keys', keysFile).status, 0);
      assert.equal(run(path.join(cliRoot, 'good'), '--no-signature').status, 0);
    });

    it('exits non-zero on a tampered recording, naming the chunk; and without a key', () => {
      const r = run(cliRoot, '--key', KEY);
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /chunk 4: audio hash mismatch \(samples 16000\.\.19999\)/);
      assert.match(r.stdout, /1 of 3 recording\(s\) FAILED/);
      assert.ok(!(r.stdout + r.stderr).includes(KEY));
      const noKey = run(path.join(cliRoot, 'good'));
      assert.equal(noKey.status, 1);
      assert.match(noKey.stdout, /signature NOT checked \(no key\)/);
      const badKey = run(path.join(cliRoot, 'good'), '--key', 'xyz');
      assert.equal(badKey.status, 2);
      assert.ok(!(badKey.stdout + badKey.stderr).includes('xyz'));
    });
  });

  describe("verifier --card (the spool files on a unit's microSD card)", () => {
    let k = 0;
    const sealed = sealedFor(rec1, 0, 8, KEY);
    const seg = (xs: ({ line: string; ct: Buffer } | Buffer)[]) =>
      Buffer.concat(xs.map((x) => (Buffer.isBuffer(x) ? x : sealedBytes(x))));
    /** A card folder holding these files. */
    const card = (files: Map<string, Buffer>) => {
      const d = path.join(tmp, 'cards', String(k++));
      fs.mkdirSync(d, { recursive: true });
      for (const [f, b] of files) fs.writeFileSync(path.join(d, f), b);
      return d;
    };
    /** Two segments: chunks 0-3 then a torn chunk 4 (a power cut in its append), then 4-7. */
    const twoSegments = (tornBytes = 200) =>
      cardFiles(
        rec1,
        KEY,
        [
          [0, 1, 2, 3],
          [4, 5, 6, 7]
        ],
        { torn: [{ seg: 0, i: 4, bytes: tornBytes }] }
      );
    const key = Buffer.from(KEY, 'hex');
    const only = (d: string, opts: Parameters<typeof verifyCardDir>[1] = { key }) => {
      const rep = verifyCardDir(d, opts);
      assert.equal(rep.recordings.length, 1);
      return rep.recordings[0]!;
    };
    const cli = (...args: string[]) =>
      spawnSync(
        path.join(ROOT, 'node_modules', '.bin', 'tsx'),
        [path.join(ROOT, 'tools', 'evidence-verify.ts'), ...args],
        { cwd: ROOT, encoding: 'utf8' }
      );
    /** The two segments with segment 1's records replaced. */
    const withSegment1 = (xs: ({ line: string; ct: Buffer } | Buffer)[]) => {
      const files = twoSegments();
      files.set(segmentName('0001', 1), seg(xs));
      return files;
    };

    it('opens every seal of a card with a record torn at a power cut: CARD OK, the torn record a note', () => {
      for (const [torn, of] of [
        [200, /200 bytes of a header line/],
        [1000, /1000 bytes of 4\d\d\d\)/]
      ] as const) {
        const r = only(card(twoSegments(torn)));
        assert.deepEqual(r.problems, [], `${torn}`);
        assert.equal(r.verdict, 'card-ok');
        assert.equal(r.ok, true);
        assert.deepEqual([r.chunks, r.first, r.last, r.fromSample, r.toSample], [8, 0, 7, 0, 32232]);
        assert.deepEqual(r.missingBefore, [
          { i: 3, s: 1500 },
          { i: 5, s: 4000 }
        ]);
        assert.deepEqual(
          r.segments.map((s) => [s.name, s.records, s.torn]),
          [
            ['000100.EVD', 4, torn],
            ['000101.EVD', 4, 0]
          ]
        );
        assert.equal(r.notes.length, 1);
        assert.equal(r.notes[0]!.code, 'seal-truncated');
        assert.match(
          r.notes[0]!.message,
          /^segment 000100\.EVD byte \d+: the segment's last record is torn \(chunk 4, /
        );
        assert.match(r.notes[0]!.message, of);
        assert.match(r.notes[0]!.message, /the chunk being written at a power cut, not counted/);
        assert.equal(r.state?.n, 8);
        const text = formatCardReport(r);
        assert.match(text, /\n {2}CARD OK: 8 chunks sealed and intact\n/);
        assert.match(text, /proven: each chunk's seal/);
        assert.match(text, /not proven: that the recording is complete/);
        assert.doesNotMatch(text, /VERIFIED/);
      }
    });

    it('names the chunk and segment of a flipped ciphertext or header byte, a dropped or swapped record, and a wrong key', () => {
      const s = sealed;
      const ctFlip = only(card(withSegment1([s[4]!, { line: s[5]!.line, ct: flip(s[5]!.ct, 10) }, s[6]!, s[7]!])));
      assert.equal(ctFlip.verdict, 'failed');
      assert.deepEqual(
        ctFlip.failures.map((f) => f.code),
        ['seal-mac']
      );
      assert.match(ctFlip.problems[0]!, /^chunk 5 \(segment 000101\.EVD byte \d+\): seal MAC wrong/);

      const lineFlip = only(card(withSegment1([s[4]!, editLine(s[5]!, (o) => (o.w += 1)), s[6]!, s[7]!])));
      assert.deepEqual(
        lineFlip.failures.map((f) => f.code),
        ['chain-broken']
      );
      assert.match(
        lineFlip.problems[0]!,
        /^chunk 5 \(segment 000101\.EVD byte \d+\): its "c" does not match its record/
      );

      const ivFlip = only(
        card(
          withSegment1([
            s[4]!,
            editLine(s[5]!, (o) => (o.v = (o.v[0] === 'f' ? '0' : 'f') + o.v.slice(1))),
            s[6]!,
            s[7]!
          ])
        )
      );
      assert.deepEqual(
        ivFlip.failures.map((f) => f.code),
        ['seal-mac']
      );

      const dropped = only(card(withSegment1([s[4]!, s[6]!, s[7]!])));
      assert.deepEqual(
        dropped.problems.map((p) => p.replace(/byte \d+/, 'byte B')),
        ['chunk 5 missing (before segment 000101.EVD byte B)']
      );
      assert.equal(dropped.failures[0]!.code, 'chunk-missing');

      const swapped = only(card(withSegment1([s[4]!, s[6]!, s[5]!, s[7]!])));
      assert.ok(
        swapped.failures.some((f) => f.code === 'chunk-out-of-order' && /chunks 5 and 6 out of order/.test(f.message)),
        swapped.problems.join('\n')
      );

      const wrong = only(card(twoSegments()), { key: Buffer.from(WRONG_KEY, 'hex') });
      assert.equal(wrong.verdict, 'failed');
      assert.equal(wrong.failures.length, 8);
      assert.ok(wrong.failures.every((f) => f.code === 'seal-mac'));
      assert.ok(wrong.notes.some((n) => n.code === 'wrong-key'));
      assert.equal(wrong.chunks, 0);
    });

    it('checks from the first chunk still on the card when the confirmed segments were erased; an empty recording', () => {
      const files = cardFiles(rec1, KEY, [[], [4, 5, 6, 7]], { up: 4 });
      files.delete(segmentName('0001', 0));
      const r = only(card(files));
      assert.deepEqual(r.problems, []);
      assert.equal(r.verdict, 'card-ok');
      assert.deepEqual([r.first, r.last, r.chunks], [4, 7, 4]);
      assert.ok(
        r.notes.some(
          (n) =>
            n.code === 'not-on-card' && /chunks 0\.\.3 are not on the card.*confirmed up to chunk 3/.test(n.message)
        ),
        JSON.stringify(r.notes)
      );

      const torn = cardFiles(rec1, KEY, [[]], { torn: [{ seg: 0, i: 0, bytes: 50 }], stateN: 0 });
      const e = only(card(torn));
      assert.equal(e.verdict, 'card-empty');
      assert.equal(e.ok, true);
      assert.match(formatCardReport(e), /CARD EMPTY: no complete sealed chunk on the card/);
    });

    it('npm run evidence:verify -- --card: exit codes, the unit found through --keys, no key or audio printed', () => {
      const good = card(twoSegments());
      const r = cli('--card', good, '--key', KEY);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^Card recording 0001 {3}\(/m);
      assert.match(r.stdout, /note seal-truncated: segment 000100\.EVD/);
      assert.match(r.stdout, /CARD OK: 8 chunks sealed and intact/);
      assert.match(r.stdout, /1 of 1 card recording\(s\) CARD OK or empty/);
      assert.doesNotMatch(r.stdout, /VERIFIED/);
      assert.ok(!(r.stdout + r.stderr).includes(KEY));

      // A card with two recordings, one of another unit's whose names are in lower case, and --keys.
      const other = buildRecording({ unit: UNIT2, rid: '00ab', key: KEY2, chunks: [{ n: 100 }, { n: 37 }] });
      const files = twoSegments();
      for (const [f, b] of cardFiles(other, KEY2, [[0, 1]])) files.set(f.toLowerCase(), b);
      const both = card(files);
      const keysFile = path.join(tmp, 'card-keys.json');
      writeJson(keysFile, { [UNIT2]: KEY2, [UNIT]: KEY });
      const m = cli('--card', both, '--keys', keysFile);
      assert.equal(m.status, 0, m.stdout + m.stderr);
      assert.match(m.stdout, /Card recording 0001 .*\n {2}key: unit "SIM-0001" \(from --keys\)/);
      assert.match(m.stdout, /Card recording 00ab .*\n {2}key: unit "SIM-0002" \(from --keys\)/);
      assert.match(m.stdout, /CARD OK: 2 chunks sealed and intact/);
      assert.ok(!(m.stdout + m.stderr).includes(KEY) && !(m.stdout + m.stderr).includes(KEY2));
      const pinned = cli('--card', both, '--keys', keysFile, '--unit', UNIT);
      assert.equal(pinned.status, 1, "the other unit's recording does not open with SIM-0001's key");
      assert.match(pinned.stdout, /Card recording 00ab[\s\S]*CARD FAILED \(2 problems\):\n {4}seal-mac: chunk 0/);

      const tampered = card(
        withSegment1([sealed[4]!, { line: sealed[5]!.line, ct: flip(sealed[5]!.ct, 0) }, sealed[6]!, sealed[7]!])
      );
      const t = cli('--card', tampered, '--key', KEY);
      assert.equal(t.status, 1, t.stdout + t.stderr);
      assert.match(t.stdout, /CARD FAILED \(1 problem\):\n {4}seal-mac: chunk 5 \(segment 000101\.EVD byte \d+\)/);
      assert.match(t.stdout, /1 of 1 card recording\(s\) FAILED\./);

      const noKey = cli('--card', good);
      assert.equal(noKey.status, 2);
      assert.match(noKey.stderr, /--card needs --key or --keys/);
      assert.equal(cli('--card', good, '--no-signature').status, 2);
      assert.equal(cli('--card', good, good, '--key', KEY).status, 2);
      const empty = path.join(tmp, 'cards', 'empty');
      fs.mkdirSync(empty, { recursive: true });
      const none = cli('--card', empty, '--key', KEY);
      assert.equal(none.status, 2);
      assert.match(none.stderr, /no spool file \(RRRRSS\.EVD\) found/);
    });
  });
});
