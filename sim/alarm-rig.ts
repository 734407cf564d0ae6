/**
 * A unit on the sim HAL reporting to two simulated receivers over loopback, driven by sinon fake
 * timers. Fake time advances in steps no longer than `step`; whenever the unit has a frame waiting
 * for a reply, real I/O is given time to complete before fake time moves on, so an ACK is never
 * "late" only because the test jumped over it.
 */
import type * as sinon from 'sinon';
import type { SimCentre, CentreEvent } from './centre';
import { createSimUnit, SimUnit } from './unit';
import { simDefaultConfig, createLabCentres } from './default-config';
import type { Config } from '../firmware/config';
import type { SimHalOptions } from './hal';

export interface Rig {
  primary: SimCentre;
  secondary: SimCentre;
  config: Config;
  unit?: SimUnit;
  boot(options?: SimHalOptions): SimUnit;
  /** Advance fake time by `ms`, letting real socket I/O finish along the way. */
  run(ms: number, step?: number): Promise<void>;
  /** Run until `cond()` or `ms` of fake time; returns the fake ms it took. */
  until(cond: () => boolean, ms: number): Promise<number>;
  /** Non-NULL, non-duplicate events both receivers acknowledged, in order. */
  alarms(): CentreEvent[];
  close(): Promise<void>;
}

const immediate = () => new Promise<void>((r) => setImmediate(r));

export async function createRig(
  clock: () => sinon.SinonFakeTimers,
  tweak?: (c: Config) => void,
  profiles?: { primary?: string; secondary?: string }
): Promise<Rig> {
  const [primary, secondary] = await createLabCentres('1234', profiles);
  // An evidence key to seal recordings with, and no evidence server (port 1 is never open):
  // recordings stay on the card, where the tests read them.
  const config = simDefaultConfig(
    {
      primary: { port: primary.tcpPort, transport: 'tcp' },
      secondary: { port: secondary.udpPort, transport: 'udp' }
    },
    { port: 1 }
  );
  if (tweak) tweak(config);

  async function io(rig: Rig): Promise<void> {
    const uploading = () => !!rig.unit?.app.uploader?.status().inflight;
    if (!rig.unit || (rig.unit.app.status().inflight === 0 && !uploading())) {
      await immediate();
      return;
    }
    for (let i = 0; i < 400 && rig.unit.app.status().inflight > 0; i++) await immediate();
    // An HTTPS exchange (TLS handshake included) needs real time: up to 5 s of it.
    const until = performance.now() + 5000;
    while (uploading() && performance.now() < until) await immediate();
  }

  const rig: Rig = {
    primary,
    secondary,
    config,
    boot(options = {}) {
      rig.unit = createSimUnit(config, options);
      return rig.unit;
    },
    async run(ms, step = 250) {
      const c = clock();
      const end = c.now + ms;
      await io(rig);
      while (c.now < end) {
        c.tick(Math.min(step, end - c.now));
        await io(rig);
      }
    },
    async until(cond, ms) {
      const c = clock();
      const start = c.now;
      while (!cond() && c.now - start < ms) await rig.run(50, 50);
      return c.now - start;
    },
    alarms() {
      const seen = new Set<string>();
      const out: CentreEvent[] = [];
      for (const e of [...primary.alarms(), ...secondary.alarms()].sort((a, b) => a.at - b.at)) {
        if (seen.has(e.seq)) continue;
        seen.add(e.seq);
        out.push(e);
      }
      return out;
    },
    async close() {
      rig.unit?.shutdown();
      await primary.close();
      await secondary.close();
    }
  };
  return rig;
}

/** `1 120 001`-style summary of a Contact ID event. */
export function cid(e: CentreEvent): string {
  return e.cid ? `${e.cid.qualifier} ${e.cid.code} ${e.cid.zone}` : `sia ${e.sia?.code} ${e.sia?.zone}`;
}
