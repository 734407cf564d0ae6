/**
 * The simulated microphone: delivers fixed-size 8-bit blocks at the configured rate on HAL time,
 * like Waveform's double buffer on the device. Samples come from what a test fed (`feed`), then
 * from the current generator (silence by default).
 */
import type { Clock, Microphone, MicrophoneOptions } from '../hal/types';

/** A sample source: the n-th sample since the source was set. */
export type SampleGenerator = (n: number) => number;

export const generators = {
  silence: (): SampleGenerator => () => 128,
  /** A counter pattern 0..255 repeating: every sample is identifiable, gaps show at once. */
  counter: (): SampleGenerator => (n) => n & 255,
  /** A sine tone at `hz`, amplitude 0..127. */
  tone:
    (hz: number, rate: number, amplitude = 60): SampleGenerator =>
    (n) =>
      Math.round(128 + amplitude * Math.sin((2 * Math.PI * hz * n) / rate)),
  /** Seeded noise, amplitude 0..127. */
  noise: (amplitude = 20, seed = 1): SampleGenerator => {
    let s = seed >>> 0 || 1;
    return () => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return 128 + ((s % (2 * amplitude + 1)) - amplitude);
    };
  }
};

/** Environment state of the microphone: what the room sounds like. Survives reboots. */
export class SimSound {
  private queue: Uint8Array[] = [];
  private queued = 0;
  private gen: SampleGenerator = generators.silence();
  private genN = 0;
  /** A hung capture (ADC/DMA stopped): running, but no blocks until the next boot resets it. */
  stalled = false;
  /** A broken microphone input: no blocks at all, across reboots too. */
  broken = false;
  /** Blocks to drop before the next delivery (simulates the firmware missing buffers). */
  pendingOverrun = 0;
  /** Total samples the sound has produced (what the room "said"). */
  produced = 0;
  /** Peak-to-peak of the last block delivered, for a level meter. */
  lastLevel = 0;
  /** Host time (ms) up to which the room has been heard; the room goes on while nobody listens. */
  heardUntil = -1;

  /**
   * The room does not pause while the unit is off: skip what was said between the last capture and
   * `nowMs` at `rate` (called when a capture starts).
   */
  resume(nowMs: number, rate: number): void {
    if (this.heardUntil < 0) return;
    const n = Math.max(0, Math.round(((nowMs - this.heardUntil) * rate) / 1000));
    if (n > 0) this.fill(new Uint8Array(n));
  }

  /** Queue exact samples to be heard next (e.g. a WAV file's). */
  feed(samples: Uint8Array): void {
    if (samples.length === 0) return;
    this.queue.push(samples.slice());
    this.queued += samples.length;
  }

  /** Replace the background source (after anything fed). */
  source(gen: SampleGenerator): void {
    this.gen = gen;
    this.genN = 0;
  }

  /** Samples fed but not yet heard. */
  backlog(): number {
    return this.queued;
  }

  /** @internal fill `out` with the next samples. */
  fill(out: Uint8Array): void {
    let i = 0;
    while (i < out.length && this.queue.length > 0) {
      const head = this.queue[0];
      const take = Math.min(head.length, out.length - i);
      out.set(head.subarray(0, take), i);
      i += take;
      this.queued -= take;
      if (take === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(take);
    }
    for (; i < out.length; i++) out[i] = this.gen(this.genN++) & 255;
    this.produced += out.length;
    let lo = 255;
    let hi = 0;
    for (let k = 0; k < out.length; k++) {
      if (out[k] < lo) lo = out[k];
      if (out[k] > hi) hi = out[k];
    }
    this.lastLevel = hi - lo;
  }
}

export function createSimMicrophone(clock: Clock, sound: SimSound): Omit<Microphone, 'measure'> & { dispose(): void } {
  let timer = -1;
  let opts: MicrophoneOptions | undefined;
  const buffers: Uint8Array[] = [];
  let which = 0;

  function stop(): void {
    if (timer >= 0) clock.cancel(timer);
    timer = -1;
    opts = undefined;
  }

  return {
    start(o: MicrophoneOptions) {
      if (opts) throw new Error('microphone already running');
      if (!(o.rate >= 1000 && o.rate <= 48000)) throw new Error(`microphone rate ${o.rate} Hz outside 1000-48000`);
      if (!(o.blockSize >= 16 && o.blockSize <= 16384)) throw new Error(`block size ${o.blockSize} outside 16-16384`);
      opts = o;
      sound.resume(Date.now(), o.rate);
      buffers[0] = new Uint8Array(o.blockSize);
      buffers[1] = new Uint8Array(o.blockSize);
      const period = (o.blockSize * 1000) / o.rate;
      timer = clock.every(period, () => {
        if (!opts || sound.stalled || sound.broken) return;
        let overrun = 0;
        while (sound.pendingOverrun > 0) {
          sound.pendingOverrun--;
          sound.fill(buffers[which]);
          overrun++;
        }
        const b = buffers[which];
        which ^= 1;
        sound.fill(b);
        sound.heardUntil = Date.now();
        opts.onBlock(b, overrun);
      });
    },
    stop,
    running: () => opts !== undefined,
    dispose: stop
  };
}
