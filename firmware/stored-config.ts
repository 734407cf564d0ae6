/**
 * The unit's config as it is kept in the record store (docs/journal.md, "Flash layout"): two
 * copies, `cfg.a` then `cfg.b`, each `<version>:<config JSON>`. One module for reading it at boot
 * (firmware/main.ts for the network settings, firmware/app.ts for the rest) and for replacing it
 * (the installer service).
 *
 * - Replace: copy A with the next version, read back, then copy B. A power cut at any point boots
 *   either the old config (A torn: its CRC fails, both copies still hold the old one) or the
 *   verified new one (A whole).
 * - Read: the highest version that parses and passes validation in either copy; the other copy is
 *   then repaired from it, so one damaged copy (a flipped bit) costs nothing. The validation is the
 *   full check (firmware/config-check.ts) when the installer module can be loaded; without it, a
 *   copy whose CRC held (the store's) and whose schema version is this firmware's is taken: it
 *   passed the full check when it was written.
 */
import type { LogSink, RecordStore } from '../hal/types';
import type { Config } from './config';
import { CONFIG_VERSION, defaultConfig } from './config';
import type { InstallerModule } from './installer-module';
import { errorText } from './guard';

/** `true` when a parsed config may be used (the full check, or nothing better). */
export type ConfigCheck = (c: unknown) => boolean;

export const CONFIG_A = 'cfg.a';
export const CONFIG_B = 'cfg.b';
/** The console password. Kept in flash because Espruino keeps it in RAM only: set again at boot. */
export const PASSWORD_RECORD = 'pwd';

export interface StoredConfig {
  /** The config in force; null when neither copy holds a valid one (never undefined: Espruino 2v29). */
  config: Config | null;
  /** Its JSON exactly as it was sent (the installer reports its SHA-256). */
  text: string;
  version: number;
  /** Copies that were damaged, stale or missing and were written again (0, 1 or 2). */
  repaired: number;
}

function parse(raw: string | undefined, check?: ConfigCheck): { v: number; text: string; config: Config } | undefined {
  if (raw === undefined) return undefined;
  const colon = raw.indexOf(':');
  const v = parseInt(raw.substr(0, colon), 10);
  if (!(v >= 1)) return undefined;
  const text = raw.substr(colon + 1);
  let c: unknown;
  try {
    c = JSON.parse(text);
  } catch (e) {
    return undefined;
  }
  const ok = check ? check(c) : typeof c === 'object' && c !== null && (c as Config).version === CONFIG_VERSION;
  return ok ? { v: v, text: text, config: c as Config } : undefined;
}

/** Read the config (repairing a damaged copy), each copy validated by `check` when given. */
export function readStoredConfig(store: RecordStore, check?: ConfigCheck): StoredConfig {
  const rawA = store.read(CONFIG_A);
  const rawB = store.read(CONFIG_B);
  const a = parse(rawA, check);
  // Two equal copies (the usual case) are parsed once: a parsed config is ~200 variables, and
  // the installer's info request reads it beside the loaded installer module (issue #17).
  const b = rawB === rawA ? a : parse(rawB, check);
  const best = a && (!b || a.v >= b.v) ? a : b;
  if (!best) return { config: null, text: '', version: 0, repaired: 0 };
  let repaired = 0;
  const raw = best.v + ':' + best.text;
  try {
    if (!a || a.v !== best.v) {
      store.write(CONFIG_A, raw);
      repaired++;
    }
    if (!b || b.v !== best.v) {
      store.write(CONFIG_B, raw);
      repaired++;
    }
  } catch (e) {
    // A repair that cannot be written leaves the good copy: still the config in force.
  }
  return { config: best.config || null, text: best.text || '', version: best.v || 0, repaired: repaired };
}

/**
 * Replace the config with `text` (already validated by the caller): copy A, read back, copy B.
 * Throws when copy A cannot be written or read back (the old config then stays in force).
 */
export function writeStoredConfig(store: RecordStore, text: string): void {
  const now = readStoredConfig(store);
  const raw = now.version + 1 + ':' + text;
  store.write(CONFIG_A, raw);
  if (store.read(CONFIG_A) !== raw) throw new Error('read-back differs');
  // From here the new config is the one in force; copy B is repaired at the next read if this fails.
  try {
    store.write(CONFIG_B, raw);
  } catch (e) {
    // see above
  }
}

/** Remove both copies (decommission). */
export function eraseStoredConfig(store: RecordStore): void {
  store.erase(CONFIG_A);
  store.erase(CONFIG_B);
}

/**
 * The config to boot on, checked by the installer module when it loads: `given` if it passes, else
 * the stored copy (which without the module is taken on its CRC and schema version), else the
 * factory one. `rejected`: the problem codes of a `given` config that failed the check. Its own
 * function so that no closure of the running unit holds the module (every `var` of createApp lives
 * as long as any of its closures does).
 */
export function bootConfig(
  front: { module(): InstallerModule | string },
  records: RecordStore,
  given: Config | undefined,
  audioBytes: number,
  log: LogSink
): { cfg: Config; rejected: string } {
  let cfg: Config = defaultConfig();
  let rejected = '';
  try {
    const m = front.module();
    const problems = given !== undefined && typeof m !== 'string' ? m.checkConfig(given, audioBytes) : [];
    if (given !== undefined && problems.length === 0) cfg = given;
    else {
      if (given !== undefined && typeof m !== 'string') rejected = m.problemCodes(problems);
      cfg =
        readStoredConfig(
          records,
          typeof m === 'string'
            ? undefined
            : function (c: unknown) {
                return m.checkConfig(c, audioBytes).length === 0;
              }
        ).config || cfg;
    }
  } catch (e) {
    log.write('error', 'config unreadable: factory defaults (' + errorText(e) + ')');
  }
  return { cfg: cfg, rejected: rejected };
}
