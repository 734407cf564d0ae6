/**
 * A simulated installation site for the installer tools (`--sim`) and their tests: a monitoring
 * centre with a primary receiver (TCP over Wi-Fi) and a secondary (UDP over cellular), an evidence
 * server (sealed chunks over TCP), and a unit fresh from the factory (no firmware
 * image, factory config) on the sim HAL, in a room with ambient noise.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Config } from '../firmware/config';
import type { SimCentre } from './centre';
import { simDefaultConfig, createLabCentres, SIM_KEYS } from './default-config';
import { startEvidenceServer, EvidenceServer } from './evidence-server';
import { generators } from './mic';
import { createSimUnit, SimUnit } from './unit';
import type { SimHalOptions } from './hal';

export interface SimSite {
  unit: SimUnit;
  centres: SimCentre[];
  evidence: EvidenceServer;
  evidenceDir: string;
  /** The config an installer would bring for this unit (service start left for the tool to set). */
  config: Config;
  close(): Promise<void>;
}

export async function createSimSite(options: SimHalOptions = {}): Promise<SimSite> {
  const config = simDefaultConfig();
  const centres: SimCentre[] = await createLabCentres(config.account);
  const evidenceDir = fs.mkdtempSync(path.join(os.tmpdir(), 'site-evidence-'));
  const evidence = await startEvidenceServer({ root: evidenceDir, keys: { [config.unitId]: SIM_KEYS.evidence } });
  const full = simDefaultConfig(
    {
      primary: { port: centres[0].tcpPort, transport: 'tcp' },
      secondary: { port: centres[1].udpPort, transport: 'udp' }
    },
    { port: evidence.port }
  );
  // A card big enough for a full-length recording, as a commissioned unit must have.
  const unit = createSimUnit(undefined, { spoolBytes: 64 * 1024 * 1024, ...options });
  unit.sim.world.mic.source(generators.noise(12, 7));
  return {
    unit,
    centres,
    evidence,
    evidenceDir,
    config: full,
    async close() {
      unit.shutdown();
      for (const c of centres) await c.close();
      await evidence.close();
      fs.rmSync(evidenceDir, { recursive: true, force: true });
    }
  };
}
