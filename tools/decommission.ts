/**
 * `npm run decommission -- --port PORT [--force]`: take a unit out of service. The unit refuses
 * while a recording is not yet uploaded, unless forced with the installer password; it reports the
 * decommission to the centre (308) and waits for the ACK, then erases keys, config and evidence and
 * restarts in its factory state. The password comes from INSTALLER_PASSWORD or --password-file
 * (the console is locked, so nothing happens without it).
 *
 *   --sim   a demonstration on a simulated site: commission a unit, raise an alarm whose recording
 *           cannot upload, see decommission refused, then force it with the password.
 *
 * Exit status: 0 decommissioned; 1 refused (the reason is printed); 2 no unit or bad arguments.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Session, explain, parseOptions, fsWords } from './installer-link';
import { commission, simSiteActions, buildFirmware, Site, MODULE_IMG } from './commission';

export interface DecommissionResult {
  ok: boolean;
  reason?: string;
  hint?: string;
  erased?: number;
}

export async function decommission(
  site: Site,
  o: { password: string; force: boolean; log?: (l: string) => void }
): Promise<DecommissionResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const s: Session = await site.connect();
  // A unit without its installer module is given this build's (when it is built).
  if (fs.existsSync(MODULE_IMG)) s.module = MODULE_IMG;
  try {
    let info = await s.request('info', {}, { timeoutMs: 2000 });
    if (!info.ok && !(await s.unlock(o.password))) {
      log('the unit does not answer and the password does not unlock its console: nothing done');
      return { ok: false, reason: 'console locked' };
    }
    info = await s.request('info');
    log(
      `unit ${String(info.unit)} (account ${String(info.account)}), ${String(info.recordings)} recording(s) not yet uploaded`
    );
    const r = await s.request('decommission', o.force ? { force: true, password: o.password } : {}, {
      timeoutMs: 75000,
      progress: (p) => log(`  … ${p}`)
    });
    if (!r.ok) {
      const e = explain(r);
      log(`REFUSED: ${e.reason}`);
      log(`  what to do: ${e.hint}`);
      // Leave the console as the installer found it.
      await s.request('lock', {}, { timeoutMs: 2000 });
      return { ok: false, reason: e.reason, hint: e.hint };
    }
    log(
      `decommissioned: ${r.reported ? 'reported to the centre (308, acknowledged)' : 'NOT acknowledged by the centre (forced)'}; ${String(r.erased)} stored item(s) erased${r.recordingsDiscarded ? `, ${String(r.recordingsDiscarded)} unuploaded recording(s) discarded (forced)` : ''}`
    );
    // It restarts 300 ms after this reply (firmware/installer.ts): ask only once it has.
    await new Promise((r) => setTimeout(r, 1500));
    const after = await s.waitForUnit(15000);
    if (after.ok)
      log(
        `after restart: unit ${String(after.unit)}, ${after.commissioned ? 'still commissioned (!)' : 'factory state'}, console ${after.locked ? 'locked' : 'open'}, ${String(after.spoolFiles)} file(s) on the card`
      );
    return { ok: true, erased: r.erased as number };
  } finally {
    await s.close();
  }
}

async function simDemo(): Promise<number> {
  const { createSimSite } = await import('../sim/site');
  const site = await createSimSite();
  const password = 'sim-installer-pw';
  const quiet: string[] = [];
  try {
    const actions = simSiteActions(site);
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'decommission-demo-'));
    console.log('1. commissioning a simulated unit (npm run commission -- --sim shows this step by step)');
    const c = await commission({
      config: site.config,
      installerId: 'SIM-INSTALLER',
      password,
      site: actions,
      firmware: buildFirmware,
      outDir,
      log: (l) => quiet.push(l)
    });
    console.log(`   ${c.report?.result ?? c.error}`);
    console.log('2. the evidence server goes away, then the panic button is held: a recording waits on the unit');
    await site.evidence.close();
    site.unit.sim.world.button.press(2000);
    await new Promise((r) => setTimeout(r, 4000));
    console.log('3. decommission without --force');
    await decommission(actions, { password, force: false });
    console.log('4. decommission --force (with the installer password)');
    const r = await decommission(actions, { password, force: true });
    fs.rmSync(outDir, { recursive: true, force: true });
    return r.ok ? 0 : 1;
  } finally {
    await site.close().catch(() => undefined);
  }
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  // Every option that takes a value needs one: a missing value is an error, never a default.
  const opts = parseOptions(argv, { port: 'value', sim: 'flag', force: 'flag', 'password-file': 'value' });
  if (opts.sim === true) {
    if (Object.keys(opts).length > 1) throw new Error('--sim is a demonstration and takes no other option');
    return simDemo();
  }
  const port = typeof opts.port === 'string' ? opts.port : undefined;
  if (!port) throw new Error('give --port PORT (or --sim for a demonstration)');
  const file = opts['password-file'];
  let password = process.env.INSTALLER_PASSWORD;
  if (typeof file === 'string') {
    try {
      password = fs.readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new Error(`the password file ${file} cannot be read (${fsWords(e)})`);
    }
  }
  if (!password) throw new Error('give the installer password in INSTALLER_PASSWORD or --password-file FILE');
  const { portSiteActions } = await import('./commission');
  const r = await decommission(portSiteActions(port), { password, force: opts.force === true });
  return r.ok ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(`decommission: ${(e as Error).message}`);
      process.exit(2);
    }
  );
}
