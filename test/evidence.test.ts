import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeTestCertificate, type TestCertificate } from '../sim/tls';
import { startEvidenceServer, type EvidenceServer, MAX_BODY } from '../sim/evidence-server';
import { verifyRecordingDir } from '../tools/evidence-verify';
import {
  buildRecording,
  bodyFor,
  encodeBody,
  hmacHex,
  makeRecord,
  post,
  sha256,
  signManifest,
  uploadPath,
  type TestRecording
} from './support/evidence-client';

const ROOT = path.join(__dirname, '..');
const UNIT = 'SIM-0001';
const KEY = crypto.randomBytes(32).toString('hex');
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

describe('audio evidence: TLS identity, evidence server and verifier (docs/evidence.md)', function () {
  this.timeout(120_000);
  let tmp: string;
  let tls: TestCertificate;
  let server: EvidenceServer;
  let serverRoot: string;
  const uploads: [string, string, number][] = [];
  const rec1 = buildRecording({ unit: UNIT, rid: '0001', key: KEY, chunks: SPECS, trig: 8000 });
  let goodDir: string;

  const send = (rec: TestRecording, body: Buffer, unit = rec.unit, rid = rec.rid) =>
    post(server.url, tls.cert, uploadPath(unit, rid), body);

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'evidence-test-'));
    serverRoot = path.join(tmp, 'server');
    tls = await makeTestCertificate();
    server = await startEvidenceServer({ root: serverRoot, cert: tls.cert, key: tls.key, keys: { [UNIT]: KEY } });
    server.onUpload((u, r, have) => uploads.push([u, r, have]));
    goodDir = path.join(serverRoot, UNIT, '0001');
  });

  after(async () => {
    if (server) await server.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('sim/tls', () => {
    it('makes a self-signed EC P-256 certificate for 127.0.0.1 and localhost', () => {
      const x = new crypto.X509Certificate(tls.cert);
      assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
      assert.equal(x.checkHost('localhost'), 'localhost');
      assert.equal(x.issuer, x.subject);
      assert.equal(x.publicKey.asymmetricKeyType, 'ec');
      assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.equal(tls.fingerprint256, x.fingerprint256);
      assert.ok(x.checkPrivateKey(crypto.createPrivateKey(tls.key)));
    });

    it('the server is reachable only by a client that pins its certificate', async () => {
      const body = bodyFor(rec1, 0, 0, 0);
      await assert.rejects(post(server.url, undefined as unknown as string, '/v1/evidence/SIM-0001/0fff', body), /self[- ]signed/i);
      const other = await makeTestCertificate();
      assert.notEqual(other.fingerprint256, tls.fingerprint256);
      await assert.rejects(post(server.url, other.cert, '/v1/evidence/SIM-0001/0fff', body));
      assert.equal(server.recordings().length, 0);
    });
  });

  describe('evidence server', () => {
    it('assembles a multi-chunk recording with declared gaps into a bit-exact WAV, which verifies', async () => {
      const batches: [number, number, '' | 'stop'][] = [[0, 2, ''], [2, 4, ''], [4, 7, ''], [7, 8, 'stop']];
      for (const [from, to, end] of batches) {
        const r = await send(rec1, bodyFor(rec1, from, to, to, end));
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(r.json.have, to);
        assert.deepEqual(r.json.ok, rec1.records.slice(from, to).map((c) => ({ i: c.i, h: c.h })));
        assert.equal(r.json.stop, undefined);
      }
      assert.deepEqual(uploads, batches.map(([, to]) => [UNIT, '0001', to]));

      const wav = fs.readFileSync(path.join(goodDir, 'recording.wav'));
      const extent = rec1.expected.length;
      assert.equal(extent, 32233);
      assert.equal(wav.toString('latin1', 0, 4), 'RIFF');
      assert.equal(wav.readUInt32LE(4), wav.length - 8);
      assert.equal(wav.toString('latin1', 8, 16), 'WAVEfmt ');
      assert.deepEqual(
        [wav.readUInt32LE(16), wav.readUInt16LE(20), wav.readUInt16LE(22), wav.readUInt32LE(24), wav.readUInt32LE(28), wav.readUInt16LE(32), wav.readUInt16LE(34)],
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
      assert.deepEqual(stored.chunks, rec1.records);

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
      assert.deepEqual(v.summary.gaps.map((g) => [g.i, g.s, g.why]), [[3, 1500, 'mic'], [5, 4000, 'spool']]);
    });

    it('accepts a re-upload of stored chunks idempotently, confirms them again and keeps the newer manifest', async () => {
      const before = snapshot(goodDir);
      let r = await send(rec1, bodyFor(rec1, 6, 8, 8, 'stop'));
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { have: 8, ok: [6, 7].map((i) => ({ i, h: rec1.records[i]!.h })) });
      // An older manifest (n = 2) with chunks 0-1 again: confirmed, the stored final manifest stays.
      r = await send(rec1, bodyFor(rec1, 0, 2, 2));
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { have: 8, ok: [0, 1].map((i) => ({ i, h: rec1.records[i]!.h })) });
      assert.deepEqual(snapshot(goodDir), before);
      assert.equal(readJson(path.join(goodDir, 'manifest.json')).manifest.final, true);
    });

    it('refuses a bad hash, a broken chain, a skipped index and malformed bodies; nothing stored is lost', async () => {
      const rec = buildRecording({ unit: UNIT, rid: '0002', key: KEY, chunks: [4000, 4000, 4000, 4000, 4000, 100].map((n) => ({ n })) });
      const ok = await send(rec, bodyFor(rec, 0, 3));
      assert.equal(ok.status, 200);
      const dir = path.join(serverRoot, UNIT, '0002');
      const before = snapshot(dir);
      const rejectedBefore = server.rejected().length;
      const m5 = rec.manifest(5);
      const r3 = rec.records[3]!;
      const a3 = rec.audio[3]!;

      const cases: [string, Buffer, number, RegExp, string?][] = [];
      const flipped = Buffer.from(a3);
      flipped[100] ^= 1;
      cases.push(['bad hash', encodeBody(m5, [{ record: r3, audio: flipped }]), 400, /chunk 3: audio does not match "h"/]);
      cases.push(['c not the chain of its record', encodeBody(m5, [{ record: { ...r3, c: 'f'.repeat(64) }, audio: a3 }]), 400, /chunk 3: "c"/]);
      const broken = makeRecord({ ...r3, p: sha256('not chunk 2') });
      cases.push(['broken chain', encodeBody(m5, [{ record: broken, audio: a3 }]), 409, /chunk 3: "p" is not the chain value of chunk 2/]);
      cases.push(['skipped index', bodyFor(rec, 4, 5), 409, /chunk 4 does not continue: the server expects chunk 3/]);
      const other = Buffer.alloc(4000, 7);
      const conflicting = makeRecord({ ...rec.records[1]!, h: sha256(other) });
      cases.push(['a different hash for a stored index', encodeBody(m5, [{ record: conflicting, audio: other }]), 409, /chunk 1 is already stored with a different hash/]);
      const overlap = makeRecord({ ...r3, s: r3.s - 10 });
      cases.push(['overlapping samples', encodeBody(m5, [{ record: overlap, audio: a3 }]), 409, /chunk 3: starts at sample 11990, inside chunk 2/]);
      cases.push(['records not consecutive', encodeBody(m5, [{ record: r3, audio: a3 }, { record: r3, audio: a3 }]), 400, /not consecutive/]);
      cases.push(['not JSON', Buffer.from('{"v":1,\n'), 400, /manifest is not valid JSON/]);
      cases.push(['no manifest line', Buffer.from(JSON.stringify(m5)), 400, /signed manifest JSON and a newline/]);
      const { samples: _drop, ...noSamples } = m5;
      cases.push(['manifest field missing', encodeBody(noSamples, []), 400, /manifest: missing "samples"/]);
      const reordered = Object.fromEntries(Object.entries(m5).reverse());
      cases.push(['manifest fields in another order (fine)', encodeBody(reordered, [{ record: r3, audio: a3 }]), 200, /^$/]);
      const { w: _w, ...noW } = rec.records[4]!;
      cases.push(['record field missing', encodeBody(m5, [{ record: noW, audio: rec.audio[4]! }]), 400, /chunk 4: missing "w"/]);
      const full = bodyFor(rec, 4, 5);
      cases.push(['body truncated', full.subarray(0, full.length - 10), 400, /chunk 4: body truncated \(3990 of 4000 sample bytes\)/]);
      cases.push(['record without newline', Buffer.concat([Buffer.from(JSON.stringify(m5) + '\n'), Buffer.from('{"r":"0002"')]), 400, /no newline/]);
      cases.push(['n = 0', encodeBody(m5, [{ record: makeRecord({ ...rec.records[4]!, n: 0 }), audio: Buffer.alloc(0) }]), 400, /"n" must be 1\.\.65536/]);
      cases.push(['n too big', encodeBody(m5, [{ record: makeRecord({ ...rec.records[4]!, n: 70000 }), audio: Buffer.alloc(70000) }]), 400, /"n" must be 1\.\.65536/]);
      cases.push(['chunk beyond the manifest n', bodyFor(rec, 4, 5, 4), 400, /chunk 4 is beyond the manifest's n=4/]);
      cases.push(['record of another recording', encodeBody(m5, [{ record: makeRecord({ ...rec.records[4]!, r: '0009' }), audio: rec.audio[4]! }]), 400, /"r" does not match/]);
      cases.push(['oversize body', Buffer.concat([bodyFor(rec, 4, 5), Buffer.alloc(MAX_BODY)]), 413, /body over 1048576 bytes/]);

      for (const [name, body, status, error] of cases) {
        const r = await send(rec, body);
        assert.equal(r.status, status, `${name}: ${JSON.stringify(r.json)}`);
        if (status === 200) {
          assert.equal(r.json.have, 4, name);
          continue; // chunk 3 stored: the rest of the cases run against 4 chunks held
        }
        assert.match(r.json.error, error, name);
        if (status === 409) assert.equal(typeof r.json.have, 'number', name);
      }
      // URL checks: unit or recording not matching the manifest, bad ids, wrong method, type, path.
      const body4 = bodyFor(rec, 4, 5);
      const urlCases: [string, string, number, RegExp, { [k: string]: string }?][] = [
        ['unit mismatch', uploadPath('SIM-0009', '0002'), 400, /manifest: "unit" does not match/],
        ['rid mismatch', uploadPath(UNIT, '0003'), 400, /manifest: "r" does not match/],
        ['bad rid', uploadPath(UNIT, '0000'), 400, /recording id/],
        ['bad unit', '/v1/evidence/..%2F..%2Fx/0002', 400, /unit must be/],
        ['unknown path', '/v1/other', 404, /not found/],
        ['wrong content type', uploadPath(UNIT, '0002'), 415, /content-type/, { 'content-type': 'text/plain' }]
      ];
      for (const [name, p, status, error, headers] of urlCases) {
        const r = await post(server.url, tls.cert, p, body4, headers);
        assert.equal(r.status, status, `${name}: ${JSON.stringify(r.json)}`);
        assert.match(r.json.error, error, name);
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
      assert.equal(refused.length, cases.length - 1 + urlCases.length);
      assert.deepEqual([...new Set(refused.map((x) => x.status))].sort(), [400, 404, 409, 413, 415]);

      // The recording continues normally and verifies.
      const rest = await send(rec, bodyFor(rec, 4, 6, 6, 'max'));
      assert.equal(rest.status, 200);
      assert.equal(rest.json.have, 6);
      const v = verifyRecordingDir(dir, KEY);
      assert.deepEqual(v.problems, []);
      assert.ok(wavData(path.join(dir, 'recording.wav')).equals(rec.expected));
    });

    it('carries a queued stop with a valid MAC in every reply until the final manifest', async () => {
      const rec = buildRecording({ unit: UNIT, rid: '0003', key: KEY, chunks: [{ n: 4000 }, { n: 4000 }, { n: 4000 }] });
      let r = await send(rec, bodyFor(rec, 0, 1));
      assert.equal(r.json.stop, undefined);
      server.requestStop(UNIT, '0003');
      for (const [from, to] of [[1, 2], [1, 2]]) {
        r = await send(rec, bodyFor(rec, from!, to!));
        assert.equal(r.status, 200);
        const stop = r.json.stop;
        assert.ok(stop, 'stop expected');
        assert.deepEqual(Object.keys(stop), ['r', 't', 'm']);
        assert.equal(stop.r, '0003');
        assert.ok(Number.isSafeInteger(stop.t));
        assert.equal(stop.m, hmacHex(KEY, `stop:${UNIT}:0003:${stop.t}`));
        assert.notEqual(stop.m, hmacHex(WRONG_KEY, `stop:${UNIT}:0003:${stop.t}`));
        assert.notEqual(stop.m, hmacHex(KEY, `stop:${UNIT}:0001:${stop.t}`));
      }
      r = await send(rec, bodyFor(rec, 2, 3, 3, 'stop'));
      assert.equal(r.status, 200);
      assert.equal(r.json.stop, undefined);
      r = await send(rec, bodyFor(rec, 2, 3, 3, 'stop'));
      assert.equal(r.json.stop, undefined);
      // Another recording of the same unit carries no stop.
      const rec4 = buildRecording({ unit: UNIT, rid: '0004', key: KEY, chunks: [{ n: 10 }] });
      r = await send(rec4, bodyFor(rec4, 0, 1));
      assert.equal(r.json.stop, undefined);
    });

    it('sends no stop and checks no signature without the unit key; records a bad signature without refusing', async () => {
      const noKey = buildRecording({ unit: 'SIM-0002', rid: '0001', key: KEY, chunks: [{ n: 100 }, { n: 100 }] });
      await send(noKey, bodyFor(noKey, 0, 1));
      server.requestStop('SIM-0002', '0001');
      const r = await send(noKey, bodyFor(noKey, 1, 2));
      assert.equal(r.status, 200);
      assert.equal(r.json.stop, undefined);
      const info = server.recordings().find((x) => x.unit === 'SIM-0002');
      assert.ok(info && !('signatureOk' in info));

      const forged = buildRecording({ unit: UNIT, rid: '0005', key: WRONG_KEY, chunks: [{ n: 100 }] });
      const f = await send(forged, bodyFor(forged, 0, 1));
      assert.equal(f.status, 200);
      assert.equal(f.json.have, 1);
      assert.equal(server.recordings().find((x) => x.rid === '0005')!.signatureOk, false);
      assert.deepEqual(verifyRecordingDir(path.join(serverRoot, UNIT, '0005'), KEY).problems, ['signature invalid']);
    });

    it('injects faults: a fixed status stores nothing, down refuses connections', async () => {
      const rec = buildRecording({ unit: UNIT, rid: '0006', key: KEY, chunks: [{ n: 50 }] });
      server.faults.status = 500;
      let r = await send(rec, bodyFor(rec, 0, 1));
      assert.equal(r.status, 500);
      delete server.faults.status;
      assert.equal(server.recordings().find((x) => x.rid === '0006'), undefined);
      server.faults.down = true;
      await assert.rejects(send(rec, bodyFor(rec, 0, 1)));
      server.faults.down = false;
      server.faults.delayMs = 20;
      r = await send(rec, bodyFor(rec, 0, 1));
      server.faults.delayMs = 0;
      assert.equal(r.status, 200);
      assert.equal(r.json.have, 1);
    });

    it('a restarted server resumes the recordings it finds in its root', async () => {
      const rec = buildRecording({ unit: UNIT, rid: '0007', key: KEY, chunks: [{ n: 300 }, { n: 300 }] });
      assert.equal((await send(rec, bodyFor(rec, 0, 1))).status, 200);
      await server.close();
      server = await startEvidenceServer({ root: serverRoot, cert: tls.cert, key: tls.key, keys: { [UNIT]: KEY } });
      const info = server.recordings().find((x) => x.rid === '0007');
      assert.equal(info?.have, 1);
      assert.equal(server.recordings().find((x) => x.rid === '0001')?.signatureOk, true);
      const r = await send(rec, bodyFor(rec, 0, 2, 2, 'stop'));
      assert.equal(r.status, 200);
      assert.deepEqual(r.json.ok.map((x: { i: number }) => x.i), [0, 1]);
      assert.deepEqual(verifyRecordingDir(path.join(serverRoot, UNIT, '0007'), KEY).problems, []);
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
      assert.ok(v.problems.includes(`chunk 4: audio hash mismatch (samples ${region(4)[0]}..${region(4)[1] - 1})`), v.problems.join('\n'));
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
        'recording.wav: 5 samples beyond the recording\'s extent (32233)'
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
      spawnSync(path.join(ROOT, 'node_modules', '.bin', 'tsx'), [path.join(ROOT, 'tools', 'evidence-verify.ts'), ...args], {
        cwd: ROOT,
        encoding: 'utf8'
      });
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
});
