import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { useFakeTime } from './support/fake-time';
import { createSimHal } from '../sim/hal';
import { encodeWav } from '../sim/wav';

describe('sim world handles: mains, battery, tamper, button, power cut', () => {
  const time = useFakeTime();

  it('unplugging mains reaches the HAL after its debounce; a flap shorter than that does not', () => {
    const sim = createSimHal();
    const seen: boolean[] = [];
    sim.hal.power.onMainsChange((p) => seen.push(p));
    sim.world.power.unplug();
    time.clock.tick(20);
    sim.world.power.plug(); // 20 ms flap
    time.clock.tick(200);
    assert.deepEqual(seen, []);
    sim.world.power.unplug();
    time.clock.tick(60);
    assert.deepEqual(seen, [false]);
    assert.equal(sim.hal.power.mainsPresent(), false);
    sim.shutdown();
  });

  it('drains the battery over time and reports volts', () => {
    const sim = createSimHal();
    assert.equal(sim.hal.power.batteryVolts(), 4.1);
    sim.world.power.drain(3.3, 60_000);
    time.clock.tick(30_000);
    assert.ok(Math.abs(sim.hal.power.batteryVolts() - 3.7) < 0.02, String(sim.hal.power.batteryVolts()));
    time.clock.tick(40_000);
    assert.equal(sim.hal.power.batteryVolts(), 3.3);
    sim.shutdown();
  });

  it('opening the tamper switch is reported', () => {
    const sim = createSimHal();
    const seen: boolean[] = [];
    sim.hal.tamper.onChange((o) => seen.push(o));
    sim.world.tamper.open();
    time.clock.tick(100);
    sim.world.tamper.close();
    time.clock.tick(100);
    assert.deepEqual(seen, [true, false]);
    sim.shutdown();
  });

  it('button edges are debounced and carry HAL time', () => {
    const sim = createSimHal({ debounceMs: 25 });
    const edges: [boolean, number][] = [];
    sim.hal.button.onEdge((p, at) => edges.push([p, at]));
    sim.world.button.press(1000);
    time.clock.tick(2000);
    assert.deepEqual(edges, [
      [true, 25],
      [false, 1025]
    ]);
    sim.shutdown();
  });

  it('a power cut keeps flash, the world and its state, and drops the old HAL', () => {
    const sim = createSimHal();
    const old = sim.hal;
    old.storage.flash.write(0, 0, 'keep');
    const seen: boolean[] = [];
    old.button.onEdge((p) => seen.push(p));
    let fired = false;
    old.clock.after(1000, () => (fired = true));
    sim.world.paths.wifi!.cut();
    const fresh = sim.powerCut();
    assert.notEqual(fresh, old);
    assert.equal(fresh.storage.flash.read(0, 0, 4), 'keep');
    assert.equal(fresh.system.resetCause(), 'power');
    assert.equal(fresh.links.wifi!.status().up, false, 'the path is still cut: the world outlives the boot');
    sim.world.button.press(100);
    time.clock.tick(2000);
    assert.equal(fired, false, 'timers of the old boot are gone');
    assert.deepEqual(seen, [], 'the old boot hears nothing');
    assert.deepEqual(sim.world.boots, ['power', 'power']);
    sim.shutdown();
  });

  it('feeds a WAV file to the microphone', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wav-')), 'x.wav');
    fs.writeFileSync(file, encodeWav(new Uint8Array([10, 20, 30]), 8000));
    const sim = createSimHal();
    assert.equal(sim.world.mic.wav(file), 8000);
    const got: number[] = [];
    sim.hal.microphone.start({ rate: 8000, blockSize: 16, onBlock: (b) => got.push(...b.subarray(0, 4)) });
    time.clock.tick(2);
    assert.deepEqual(got, [10, 20, 30, 128]);
    sim.shutdown();
  });
});
