/** The embedded default configuration of the simulated unit (`npm start`). Lab values, no secrets. */
import type { Config } from '../firmware/config';
import { defaultConfig } from '../firmware/config';

export function simDefaultConfig(): Config {
  const c = defaultConfig();
  c.unitId = 'SIM-0001';
  c.account = '1234';
  return c;
}
