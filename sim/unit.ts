/**
 * A whole simulated unit: the real firmware (`createApp`) on the sim HAL, restarted by the world
 * after a power cut, a watchdog reset or a software restart.
 */
import { createApp, App } from '../firmware/app';
import type { Config } from '../firmware/config';
import { createSimHal, SimHal, SimHalOptions } from './hal';

export interface SimUnit {
  sim: SimHal;
  /** The firmware of the current boot. */
  readonly app: App;
  /** Cut power and let the unit boot again from flash; returns the new boot's app. */
  powerCut(): App;
  /** End the simulation (stops every timer and socket). */
  shutdown(): void;
}

export function createSimUnit(config?: Config, options: SimHalOptions = {}): SimUnit {
  const sim = createSimHal(options);
  let app = createApp(sim.hal, config);
  sim.onBoot((hal) => {
    app = createApp(hal, config);
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
