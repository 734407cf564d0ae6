import { strict as assert } from 'node:assert';
import { useFakeTime } from './support/fake-time';
import { createSimHal } from '../sim/hal';
import { generators } from '../sim/mic';
import { encodeWav, parseWav } from '../sim/wav';

describe('sim microphone', () => {
  const time = useFakeTime();

  it('delivers fixed-size blocks at the configured rate, fed samples first, gap-free', () => {
    const sim = createSimHal();
    const got: number[] = [];
    sim.world.mic.source(generators.counter());
    sim.hal.microphone.start({ rate: 8000, blockSize: 256, onBlock: (b) => got.push(...b) });
    time.clock.tick(1000);
    assert.equal(got.length, 8000 - (8000 % 256), '31 blocks of 256 in one second at 8 kHz');
    for (let i = 0; i < got.length; i++) assert.equal(got[i], i & 255);
    sim.shutdown();
  });

  it('plays fed samples (e.g. a WAV) before the background source', () => {
    const sim = createSimHal();
    const wav = parseWav(encodeWav(new Uint8Array([1, 2, 3, 4, 5]), 8000));
    sim.world.mic.feed(wav.samples);
    const blocks: Uint8Array[] = [];
    sim.hal.microphone.start({ rate: 8000, blockSize: 16, onBlock: (b) => blocks.push(b.slice()) });
    time.clock.tick(2);
    assert.deepEqual([...blocks[0].subarray(0, 7)], [1, 2, 3, 4, 5, 128, 128]);
    sim.shutdown();
  });

  it('reports overruns the world injects', () => {
    const sim = createSimHal();
    const overruns: number[] = [];
    sim.hal.microphone.start({ rate: 8000, blockSize: 80, onBlock: (_b, o) => overruns.push(o) });
    time.clock.tick(10);
    sim.world.mic.overrun(2);
    time.clock.tick(20);
    assert.deepEqual(overruns, [0, 2, 0]);
    sim.shutdown();
  });

  it('refuses a second start and bad options', () => {
    const sim = createSimHal();
    const o = { rate: 8000, blockSize: 64, onBlock: () => {} };
    sim.hal.microphone.start(o);
    assert.throws(() => sim.hal.microphone.start(o), /already running/);
    sim.hal.microphone.stop();
    assert.throws(() => sim.hal.microphone.start({ ...o, rate: 10 }), /rate/);
    sim.shutdown();
  });

  it('reads 16-bit WAV files as 8-bit and refuses stereo', () => {
    const h = encodeWav(new Uint8Array(0), 8000);
    const pcm16 = Buffer.alloc(4);
    pcm16.writeInt16LE(-32768, 0);
    pcm16.writeInt16LE(32767, 2);
    const w16 = Buffer.concat([h, pcm16]);
    w16.writeUInt16LE(16, 34);
    w16.writeUInt32LE(4, 40);
    assert.deepEqual([...parseWav(w16).samples], [0, 255]);
    const stereo = Buffer.from(h);
    stereo.writeUInt16LE(2, 22);
    assert.throws(() => parseWav(stereo), /channels/);
  });
});
