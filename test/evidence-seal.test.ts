import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEvidenceServer, EvidenceServer } from '../sim/evidence-server';
import { generators } from '../sim/mic';
import { SIM_KEYS } from '../sim/default-config';
import { readSpoolRecording, counterBreaks } from '../tools/spool-reader';
import { parseWav } from '../sim/wav';
import { useFakeTime } from './support/fake-time';
import { createRig, Rig } from '../sim/alarm-rig';
import { longestCounterRun } from './support/counter-run';

/**
 * The seal as someone without the key sees it (docs/evidence.md, "Threats"): a card taken out of the
 * unit, and everything that crossed Wi-Fi and cellular, while the room plays a counter pattern
 * (every sample tells its position, so any run of it in the clear would show).
 */
const START = Date.UTC(2026, 10, 23, 12, 0, 0);
const UNIT = 'SIM-0001';

describe('evidence sealed at capture: nothing on the card or the wire reveals audio without the key', function () {
  this.timeout(120_000);
  const t = useFakeTime(START);
  let root: string;
  let server: EvidenceServer;
  let rig: Rig;
  afterEach(async () => {
    await rig?.close();
    await server?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('a card read without the key holds no sample of the counter pattern; with the key every sample is there, in order', async () => {
    rig = await createRig(() => t.clock);
    const u = rig.boot();
    u.sim.world.mic.source(generators.counter());
    await rig.run(6000);
    u.sim.world.button.press(2000);
    await rig.run(30_000);
    const media = u.sim.world.spool;
    const card = Buffer.concat([...media.blobs.values()].map((b) => Buffer.from(b)));
    assert.ok(card.length > 25 * 8000, `${card.length} bytes on the card`);
    // 16 samples in a row would be 2 ms of audio; ciphertext gives runs of 2 or 3 by chance.
    assert.ok(longestCounterRun(card) < 16, `a run of ${longestCounterRun(card)} counter samples on the card`);
    const rec = readSpoolRecording(media, '0001', SIM_KEYS.evidence);
    assert.ok(rec.chunks.length >= 50);
    assert.deepEqual(counterBreaks(rec), [], 'with the key: the audio, bit-exact');
    assert.ok(longestCounterRun(rec.chunks[5].audio) === 4000, 'the control: audio in the clear is one long run');
    assert.throws(
      () => readSpoolRecording(media, '0001', 'ff'.repeat(32)),
      /MAC does not match/,
      'another key opens nothing'
    );
  });

  it('nothing that crossed Wi-Fi or cellular during the upload holds a run of the audio; the server, with the key, assembles it bit-exact', async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'evidence-'));
    server = await startEvidenceServer({ root, keys: { [UNIT]: SIM_KEYS.evidence } });
    rig = await createRig(
      () => t.clock,
      (c) => {
        c.audio.maxS = 60;
        c.evidence = { host: '127.0.0.1', port: server.port, key: SIM_KEYS.evidence, batch: 2, cellularKB: 0 };
      }
    );
    const u = rig.boot();
    u.sim.world.mic.source(generators.counter());
    const wire: Buffer[] = [];
    for (const p of [u.sim.world.paths.wifi!, u.sim.world.paths.cellular!])
      p.tap((_dir, data) => wire.push(Buffer.from(data, 'latin1')));
    await rig.run(5000);
    u.sim.world.button.press(2000);
    await rig.run(20_000);
    u.sim.world.paths.wifi!.cut(); // the rest over cellular
    await rig.run(45_000);
    await rig.until(() => u.app.status().stored === 0, 60_000);
    const all = Buffer.concat(wire);
    assert.ok(all.length > 60 * 8000, `${all.length} bytes crossed the paths`);
    assert.ok(longestCounterRun(all) < 16, `a run of ${longestCounterRun(all)} counter samples on the wire`);
    for (const k of [SIM_KEYS.evidence, Buffer.from(SIM_KEYS.evidence, 'hex').toString('latin1')])
      assert.equal(all.includes(Buffer.from(k, 'latin1')), false, 'no key on the wire');
    const [rec] = server.recordings();
    const wav = parseWav(fs.readFileSync(path.join(rec.dir, 'recording.wav')));
    assert.ok(longestCounterRun(wav.samples) > 60 * 8000, 'the server opened every chunk');
  });
});
