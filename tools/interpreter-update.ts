/**
 * `npm run interpreter-update -- --port PORT --before` and `… --after FILE --config unit.json`:
 * around an update of the Espruino interpreter itself (the Espruino WiFi's DFU flashing), which
 * erases Storage and flash sectors 1-3: the boot image, the installer module, the record store with
 * the config, the journal and the password (docs/installer.md, "Updating the Espruino interpreter").
 *
 * - `--before`: refuses while the unit owes the centre an event or holds a recording not yet
 *   uploaded (an update then would lose them). Otherwise it writes `<unit>-update.json` (in `--out`,
 *   default `commissioning/`): the unit id, its stored config's SHA-256 and service start. Keys never
 *   leave the unit: the installer keeps the unit's config file, as for commissioning.
 * - `--after FILE --config unit.json`: the same config is given back (its service start kept, and its
 *   SHA-256 must be the one saved: any other config is refused before the unit is touched), by a full
 *   commissioning run: flash, module, config, self-test, signed report, lock.
 *
 * The password comes from INSTALLER_PASSWORD or --password-file, the installer id from --installer
 * or INSTALLER_ID. Exit status: 0 done; 1 refused or the unit did not answer (the reason is printed);
 * 2 bad arguments.
 *
 * Run `--before` just before the update: an event raised after it is not in the record's check, and
 * the update erases it. `--after` warns when the record is more than an hour old.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../firmware/config';
import {
  commission,
  buildFirmware,
  outDirProblem,
  portSiteActions,
  readConfigFile,
  readPassword,
  Site
} from './commission';
import { explain, parseOptions, readJsonFile } from './installer-link';

/** What `--before` keeps: enough to check that the config given back is the one the unit ran. */
export interface UpdateRecord {
  v: 1;
  unit: string;
  account: string;
  board: string;
  fw: string;
  configSha256: string;
  serviceStart: string;
  savedAt: string;
}

export interface UpdateResult {
  ok: boolean;
  reason?: string;
  hint?: string;
  file?: string;
}

function sha256(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

/** The record's file for a unit, in `outDir`. */
export function updateFile(outDir: string, unit: string): string {
  return path.join(outDir, `${unit.replace(/[^A-Za-z0-9-]/g, '_')}-update.json`);
}

export async function beforeUpdate(
  site: Site,
  o: { password: string; outDir: string; log?: (l: string) => void }
): Promise<UpdateResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  // The folder first: a record that cannot be written must not leave the installer believing it is kept.
  const outProblem = outDirProblem(o.outDir);
  if (outProblem) {
    log(`${outProblem}: nothing asked of the unit (give --out with a folder that can be written)`);
    return { ok: false, reason: outProblem };
  }
  const s = await site.connect();
  let unlocked = false;
  try {
    let info = await s.request('info', {}, { timeoutMs: 2000 });
    if (!info.ok && info.error === 'no-answer' && (unlocked = await s.unlock(o.password)))
      info = await s.request('info');
    if (!info.ok) {
      const e = explain(info);
      log(`the unit does not answer: ${e.reason}; nothing done`);
      return { ok: false, reason: e.reason, hint: e.hint };
    }
    const refuse = (reason: string, hint: string): UpdateResult => {
      log(`REFUSED: ${reason}`);
      log(`  what to do: ${hint}`);
      return { ok: false, reason, hint };
    };
    if (typeof info.pending !== 'number' || typeof info.serviceStart !== 'string')
      return refuse(
        'the unit does not say what it owes the centre (a firmware older than this tool)',
        'commission it with this tool first, then run --before again'
      );
    if (info.pending > 0)
      return refuse(
        `the unit owes the centre ${info.pending} event(s): an update now would erase them`,
        'restore the unit’s paths to the centre (Wi-Fi, cellular) and wait until they are delivered'
      );
    if (Number(info.recordings) > 0)
      return refuse(
        `${String(info.recordings)} recording(s) are on the unit and not yet uploaded: an update erases what says where they are`,
        'let the upload finish (the evidence server must be reachable), then run --before again'
      );
    const rec: UpdateRecord = {
      v: 1,
      unit: String(info.unit),
      account: String(info.account),
      board: String(info.board),
      fw: String(info.fw),
      configSha256: String(info.configSha256),
      serviceStart: info.serviceStart,
      savedAt: new Date().toISOString()
    };
    const file = updateFile(o.outDir, rec.unit);
    fs.writeFileSync(file, JSON.stringify(rec, null, 2) + '\n');
    log(
      `unit ${rec.unit} (account ${rec.account}) owes nothing and holds no recording: safe to update its interpreter`
    );
    log(`kept ${file}: the config's SHA-256 and its service start (${rec.serviceStart || 'not commissioned'}); no key`);
    log(
      'the update erases the image, the config and the console password: the unit does not protect until --after has run'
    );
    return { ok: true, file };
  } finally {
    // The unit goes on protecting until the update: its console is left locked, as it was found.
    if (unlocked) {
      const l = await s.request('lock', {}, { timeoutMs: 2000 });
      if (!l.ok) log(`WARNING: the console could not be locked again (${explain(l).reason}): lock it before leaving`);
    }
    await s.close();
  }
}

/** The config to give back: the file's, with the service start the unit had; or why not. */
export function restoredConfig(record: unknown, config: Config): { config: Config } | { reason: string } {
  const r = record as Partial<UpdateRecord> | null;
  if (
    !r ||
    typeof r !== 'object' ||
    r.v !== 1 ||
    typeof r.configSha256 !== 'string' ||
    typeof r.serviceStart !== 'string'
  )
    return { reason: 'not a record written by --before' };
  const c: Config = JSON.parse(JSON.stringify(config));
  if (c.unitId !== r.unit) return { reason: `the config is for unit ${c.unitId}, the record for ${String(r.unit)}` };
  c.service.start = r.serviceStart;
  if (sha256(JSON.stringify(c)) !== r.configSha256)
    return { reason: `not the config unit ${String(r.unit)} ran before the update (its SHA-256 differs)` };
  return { config: c };
}

export async function afterUpdate(
  site: Site,
  o: {
    record: unknown;
    config: Config;
    password: string;
    installerId: string;
    outDir: string;
    firmware?: (board: string) => Promise<string>;
    log?: (l: string) => void;
  }
): Promise<UpdateResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const c = restoredConfig(o.record, o.config);
  if ('reason' in c) {
    log(`REFUSED: ${c.reason}: nothing sent to the unit`);
    return { ok: false, reason: c.reason, hint: 'give the config file the unit was commissioned with' };
  }
  const saved = Date.parse(String((o.record as UpdateRecord).savedAt));
  if (!(Date.now() - saved < 3600000))
    log('warning: the record is more than an hour old: anything the unit raised after it was erased by the update');
  const r = await commission({
    config: c.config,
    installerId: o.installerId,
    password: o.password,
    site,
    firmware: o.firmware ?? buildFirmware,
    outDir: o.outDir,
    log
  });
  return r.ok ? { ok: true } : { ok: false, reason: r.error };
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const opts = parseOptions(argv, {
    port: 'value',
    before: 'flag',
    after: 'value',
    config: 'value',
    installer: 'value',
    'password-file': 'value',
    out: 'value'
  });
  const port = typeof opts.port === 'string' ? opts.port : undefined;
  if (!port) throw new Error('give --port PORT');
  if ((opts.before === true) === (opts.after !== undefined)) throw new Error('give --before, or --after FILE');
  const password = readPassword(opts, false);
  const outDir = typeof opts.out === 'string' ? opts.out : 'commissioning';
  const site = portSiteActions(port);
  if (opts.before === true) {
    if (opts.config !== undefined) throw new Error('--before takes no --config (no key leaves the unit)');
    const r = await beforeUpdate(site, { password, outDir });
    return r.ok ? 0 : 1;
  }
  if (typeof opts.config !== 'string') throw new Error('--after needs --config with the unit’s config file');
  const installerId = typeof opts.installer === 'string' ? opts.installer : process.env.INSTALLER_ID;
  if (!installerId) throw new Error('give --installer ID (or INSTALLER_ID)');
  const record = readJsonFile(opts.after as string, 'the update record');
  const config = readConfigFile(opts.config) as Config;
  const r = await afterUpdate(site, { record, config, password, installerId, outDir });
  return r.ok ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(`interpreter-update: ${(e as Error).message}`);
      process.exit(2);
    }
  );
}
