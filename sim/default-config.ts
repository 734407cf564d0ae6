/**
 * The embedded default configuration of the simulated unit (`npm start`): account 1234 reporting
 * ADM-CID to a primary receiver over Wi-Fi (TCP) and a secondary over cellular (UDP), both
 * encrypted with lab keys that exist only in this simulator.
 */
import type { Config, ReceiverConfig } from '../firmware/config';
import { defaultConfig } from '../firmware/config';
import { createSimCentre, SimCentre } from './centre';

/** Lab-only keys shared by the simulated unit and the simulated centre (not secrets). */
export const SIM_KEYS = {
  primary: '000102030405060708090A0B0C0D0E0F',
  secondary: 'lab-only-key-24-chars-ok',
  /** Evidence key signing the simulated unit's manifests (lab only). */
  evidence: '6c61622d6f6e6c792d65766964656e63652d6b65792d33322d62797465732121'
};

export interface SimReceiverPorts {
  primary: { host?: string; port: number; transport?: 'tcp' | 'udp' };
  secondary?: { host?: string; port: number; transport?: 'tcp' | 'udp' };
}

export function simReceivers(ports: SimReceiverPorts): ReceiverConfig[] {
  const out: ReceiverConfig[] = [
    {
      path: 'wifi',
      host: ports.primary.host ?? '127.0.0.1',
      port: ports.primary.port,
      transport: ports.primary.transport ?? 'tcp',
      line: '1',
      receiver: '1',
      key: SIM_KEYS.primary
    }
  ];
  if (ports.secondary) {
    out.push({
      path: 'cellular',
      host: ports.secondary.host ?? '127.0.0.1',
      port: ports.secondary.port,
      transport: ports.secondary.transport ?? 'udp',
      line: '2',
      receiver: '2',
      key: SIM_KEYS.secondary,
      keyFormat: 'ascii'
    });
  }
  return out;
}

/** The simulated evidence server: where it listens. */
export interface SimEvidenceServer {
  port: number;
}

export function simDefaultConfig(ports?: SimReceiverPorts, evidence?: SimEvidenceServer): Config {
  const c = defaultConfig();
  c.unitId = 'SIM-0001';
  c.account = '1234';
  if (ports) c.report.receivers = simReceivers(ports);
  if (evidence)
    c.evidence = { host: '127.0.0.1', port: evidence.port, key: SIM_KEYS.evidence, batch: 2, cellularKB: 0 };
  return c;
}

/**
 * The simulated monitoring centre as the default config expects it: a primary receiver keyed with
 * `SIM_KEYS.primary` (hex) and a secondary keyed with `SIM_KEYS.secondary` (ASCII), on ephemeral
 * loopback ports, both for `account`; each may show a receiver profile (sim/centre.ts RECEIVER_QUIRKS).
 */
export async function createLabCentres(
  account = '1234',
  profiles: { primary?: string; secondary?: string } = {}
): Promise<[SimCentre, SimCentre]> {
  return [
    await createSimCentre({
      accounts: [{ account, key: SIM_KEYS.primary, keyFormat: 'hex' }],
      profile: profiles.primary
    }),
    await createSimCentre({
      accounts: [{ account, key: SIM_KEYS.secondary, keyFormat: 'ascii' }],
      profile: profiles.secondary
    })
  ];
}
