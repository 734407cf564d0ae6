import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEvidenceServer, EvidenceServer } from '../sim/evidence-server';
import { parseWav } from '../sim/wav';
import { generators } from '../sim/mic';
import { verifyRecordingDir } from '../tools/evidence-verify';
import { useFakeTime } from './support/fake-time';
import { createRig, Rig, cid } from '../sim/alarm-rig';
import { PRE_RING } from '../firmware/recorder';

const START = Date.UTC(2026, 10, 23, 12, 0, 0);
const EVKEY = '6c61622d6f6e6c792d65766964656e63652d6b65792d33322d62797465732121';
const UNIT = 'SIM-0001';

describe('evidence upload: sealed chunks over plain TCP to the simulated evidence server, on either path', function () {
  this.timeout(120_000);
  const t = useFakeTime(START);
  let root: string;
  let server: EvidenceServer;
  let rig: Rig;

  beforeEach(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'evidence-'));
    server = await startEvidenceServer({ root, keys: { [UNIT]: EVKEY } });
  });
  afterEach(async () => {
    await rig?.close();
    await server.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function boot(maxS: number, batch = 4): Promise<Rig> {
    rig = await createRig(
      () => t.clock,
      (c) => {
        c.audio.maxS = maxS;
        c.evidence = { host: '127.0.0.1', port: server.port, key: EVKEY, batch, cellularKB: 0 };
      }
    );
    const u = rig.boot();
    u.sim.world.mic.source(generators.counter());
    return rig;
  }
  async function hold(r: Rig): Promise<void> {
    r.unit!.sim.world.button.press(2000);
    await r.run(2100);
  }
  const uploaded = (r: Rig) => r.unit!.app.status().stored === 0;

  it('a batch takes only what free memory leaves room for: the configured batch, one chunk per request when memory is short, none beside the reserve until memory returns', async () => {
    const r = await boot(120, 4);
    const paths = r.unit!.sim.world.paths;
    await r.run(8000);
    await hold(r);
    // A backlog: both paths cut for 10 s (20 chunks wait), then back with plenty of memory.
    const backlog = async () => {
      paths.wifi!.cut();
      paths.cellular!.cut();
      await r.run(10_000);
      const before = { requests: server.stats().requests, up: r.unit!.app.recorder.states()[0].up };
      paths.wifi!.restore();
      paths.cellular!.restore();
      await r.run(15_000);
      return {
        requests: server.stats().requests - before.requests,
        chunks: r.unit!.app.recorder.states()[0].up - before.up
      };
    };
    const roomy = await backlog();
    assert.ok(
      roomy.chunks > 1.5 * roomy.requests,
      `${roomy.chunks} chunks in ${roomy.requests} requests: batches of up to 4`
    );
    // 1,400 free: room for no more than one chunk beside the 1,200 kept free (firmware/uploader.ts)
    r.unit!.sim.world.memory.free = 1400;
    const tight = await backlog();
    assert.ok(tight.chunks > 10, `${tight.chunks} chunks went`);
    assert.equal(tight.chunks, tight.requests, 'one chunk per request');
    // 1,000 free: no room beside the reserve; the card keeps the chunks, and they go once memory returns.
    r.unit!.sim.world.memory.free = 1000;
    const none = await backlog();
    assert.equal(none.requests, 0, 'nothing starts while memory is short');
    r.unit!.sim.world.memory.free = 4000;
    await r.run(15_000);
    const st = r.unit!.app.recorder.states()[0];
    assert.ok(st.n - st.up <= 2, `the backlog went once memory returned (${st.n - st.up} chunks left)`);
  });

  it('a recording is uploaded as it is made, assembled bit-exact into a WAV, verified, and freed from the card', async () => {
    const r = await boot(60);
    await r.run(8000);
    await hold(r);
    await r.run(62_000);
    assert.equal(r.unit!.app.status().recording, '', 'ended at the 60 s maximum');
    await r.until(() => uploaded(r), 30_000);
    assert.ok(uploaded(r), 'every chunk and the final manifest confirmed');
    assert.deepEqual(
      [...r.unit!.sim.world.spool.blobs.keys()],
      [PRE_RING],
      'the card holds nothing but the pre-trigger ring (sealed, rewritten while idle)'
    );

    const [rec] = server.recordings();
    assert.equal(rec.rid, '0001');
    assert.equal(rec.signatureOk, true);
    const result = verifyRecordingDir(rec.dir, EVKEY);
    assert.deepEqual(result.problems, []);
    assert.equal(result.ok, true);
    const wav = parseWav(fs.readFileSync(path.join(rec.dir, 'recording.wav')));
    assert.equal(wav.rate, 8000);
    assert.ok(wav.samples.length >= 64 * 8000, `${wav.samples.length / 8000} s`);
    let breaks = 0;
    for (let k = 1; k < wav.samples.length; k++) if (wav.samples[k] !== ((wav.samples[k - 1] + 1) & 255)) breaks++;
    assert.equal(breaks, 0, 'the counter pattern runs unbroken from the first pre-trigger sample to the end');
    // The operator's reference: the panic frame named the recording.
    const panic = r.alarms().find((e) => cid(e) === '1 120 001');
    assert.ok(panic?.xdata.includes(`V${UNIT}-0001`), `xdata ${panic?.xdata}`);
  });

  it('with Wi-Fi cut the recording goes out over the cellular modem and verifies bit-exact; the alarm went first', async () => {
    const r = await boot(60);
    await r.run(5000);
    const world = r.unit!.sim.world;
    world.paths.wifi!.cut();
    await hold(r);
    await r.run(62_000);
    await r.until(() => uploaded(r), 60_000);
    assert.ok(uploaded(r), 'every chunk and the final manifest confirmed over cellular');
    const up = r.unit!.app.uploader!.status();
    assert.ok(up.cellularBytes > 60 * 8000, `${up.cellularBytes} evidence bytes over cellular`);
    assert.equal(world.paths.wifi!.up, false, 'Wi-Fi stayed cut: nothing else could carry it');
    const [rec] = server.recordings();
    const v = verifyRecordingDir(rec.dir, EVKEY);
    assert.deepEqual(v.problems, []);
    const wav = parseWav(fs.readFileSync(path.join(rec.dir, 'recording.wav')));
    let breaks = 0;
    for (let k = 1; k < wav.samples.length; k++) if (wav.samples[k] !== ((wav.samples[k - 1] + 1) & 255)) breaks++;
    assert.equal(breaks, 0, 'bit-exact over cellular');
    assert.ok(
      r.secondary.alarms().some((e) => cid(e) === '1 120 001'),
      'the panic went over cellular too'
    );
  });

  it("a server without the unit's key (a rogue server or access point) gets sealed bytes it cannot open, confirms nothing, frees nothing", async () => {
    await server.close();
    fs.rmSync(root, { recursive: true, force: true });
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'evidence-'));
    // The same unit id, another key: its replies are MAC'd with the wrong key, its seals do not open.
    server = await startEvidenceServer({ root, keys: { [UNIT]: 'ff'.repeat(32) } });
    const r = await boot(60);
    await r.run(3000);
    await hold(r);
    await r.run(15_000);
    const u = r.unit!;
    const up = u.app.uploader!.status();
    assert.equal(up.sent, 0, 'nothing confirmed');
    assert.ok(up.failures > 0);
    assert.ok(
      [...u.sim.world.spool.blobs.keys()].some((n) => n.endsWith('.EVD')),
      'the audio stays on the card'
    );
    assert.equal(server.recordings().filter((x) => x.chunks > 0).length, 0, 'the rogue server could store nothing');
  });

  it('the centre stops the recording with an authenticated command', async () => {
    const r = await boot(1800);
    await r.run(5000);
    await hold(r);
    await r.run(10_000);
    server.requestStop(UNIT, '0001');
    await r.until(() => r.unit!.app.status().recording === '', 10_000);
    assert.equal(r.unit!.app.status().recording, '');
    await r.until(() => uploaded(r), 30_000);
    const [rec] = server.recordings();
    assert.equal(rec.manifest?.end, 'stop');
    assert.equal(verifyRecordingDir(rec.dir, EVKEY).ok, true);
  });

  it('a 10-minute outage mid-recording, with a power cut in it: alarms go first, then the whole recording uploads', async () => {
    const r = await boot(400);
    await r.run(5000);
    await hold(r);
    await r.run(20_000);
    const world = r.unit!.sim.world;
    world.paths.wifi!.cut();
    world.paths.cellular!.cut();
    await r.run(60_000);
    await hold(r); // a second press while nothing gets out
    await r.run(200_000);
    r.unit!.powerCut();
    await r.run(340_000);
    assert.ok(r.unit!.app.status().stored > 0, 'the recording waits on the card');
    const before = server.recordings()[0].have;
    const firstUpload: number[] = [];
    server.onUpload(() => firstUpload.push(Date.now()));
    const restoredAt = Date.now();
    world.paths.wifi!.restore();
    world.paths.cellular!.restore();
    await r.until(() => uploaded(r), 120_000);
    assert.ok(uploaded(r));
    const [rec] = server.recordings();
    assert.ok(rec.have > before);
    const v = verifyRecordingDir(rec.dir, EVKEY);
    assert.deepEqual(v.problems, []);
    assert.equal(rec.manifest?.end, 'max');
    assert.deepEqual(
      rec.manifest?.gaps.map((g) => g.why),
      ['boot'],
      'the power cut is the only gap, and it is declared'
    );
    // The press made during the outage reached the centre before the first upload after it.
    const panics = r.alarms().filter((e) => cid(e) === '1 120 001');
    assert.equal(panics.length, 2);
    assert.ok(panics[1].at >= restoredAt);
    assert.ok(firstUpload.length > 0 && panics[1].at <= firstUpload[0], 'alarm traffic first');
  });
});
