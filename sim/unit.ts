/**
 * A whole simulated unit: the real firmware (`createApp`) on the sim HAL, restarted by the world
 * after a power cut, a watchdog reset or a software restart.
 */
import { createApp, App } from '../firmware/app';
import type { Config } from '../firmware/config';
import { createSimHal, SimHal, SimHalOptions } from './hal';

export interface SimUnit {
  sim: SimHal;
  /** The firmware of the current boot (of the last one that finished, after one stopped short). */
  readonly app: App;
  /** Cut power and let the unit boot again from flash; returns the new boot's app. */
  powerCut(): App;
  /** End the simulation (stops every timer and socket). */
  shutdown(): void;
}

const INTERRUPTED = Symbol('interrupted');

/**
 * The sim's stand-in for 2v29 running out of memory: the interpreter stops the code running
 * ("Execution Interrupted") where it is, no `catch` or `finally` of it does anything, and the
 * timers and watches already set go on. Thrown from a sim HAL call, this value gets through every
 * catch of the firmware's (reading its message or turning it into text throws it again), and a boot
 * it stops ends there: the unit runs on with what that boot had set up.
 */
export function outOfMemory(): never {
  const oom: { [INTERRUPTED]: true; message: string; toString(): string } = {
    [INTERRUPTED]: true,
    get message(): string {
      throw oom;
    },
    toString(): string {
      throw oom;
    }
  };
  throw oom;
}

function interrupted(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { [INTERRUPTED]?: true })[INTERRUPTED] === true;
}

export function createSimUnit(config?: Config, options: SimHalOptions = {}): SimUnit {
  const sim = createSimHal(options);
  let app = createApp(sim.hal, config);
  sim.onBoot((hal) => {
    try {
      app = createApp(hal, config);
    } catch (e) {
      // A boot stopped short (outOfMemory): `app` stays the last boot's that finished.
      if (!interrupted(e)) throw e;
    }
  });
  return {
    sim,
    get app() {
      return app;
    },
    powerCut() {
      sim.powerCut();
      return app;
    },
    shutdown() {
      sim.shutdown();
    }
  };
}
