/**
 * The unit's configuration: its shape, the factory defaults and the validation the unit runs on
 * every config it is given (the installer tool runs the same function before sending one).
 *
 * Validation never throws: it returns one problem per bad field, naming the field and why, so an
 * installer sees every mistake at once and the unit keeps its previous valid config.
 */

export interface IndicatorConfig {
  /** Pattern shown once the alarm is acknowledged: `blink` (three short blinks, repeated) or `off`. */
  confirm: 'blink' | 'off';
  /** Brief LED flash at boot so an installer sees the unit start. */
  bootFlash: boolean;
}

export interface Config {
  /** Schema version of this config object. */
  version: number;
  /** Installer-visible unit id (letters, digits, `-`), 1–24 characters. */
  unitId: string;
  /** Monitoring account: 3–16 hexadecimal digits (SIA DC-09). */
  account: string;
  /** How long the button must be held to raise an alarm, ms; 0 means on press. 0–5000. */
  holdMs: number;
  indicator: IndicatorConfig;
  /** Hardware watchdog timeout, s (5–60); the firmware kicks it while healthy. */
  watchdogS: number;
}

export const CONFIG_VERSION = 1;

/**
 * Factory defaults: a unit that is not yet commissioned still records presses and shows them.
 * `unitId` and `account` are placeholders an installer must replace.
 */
export function defaultConfig(): Config {
  return {
    version: CONFIG_VERSION,
    unitId: 'UNCOMMISSIONED',
    account: '0000',
    holdMs: 1500,
    indicator: { confirm: 'blink', bootFlash: true },
    watchdogS: 20
  };
}

/** One reason a config was refused. */
export interface ConfigProblem {
  field: string;
  reason: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !(v instanceof Array);
}

function checkInt(
  problems: ConfigProblem[],
  field: string,
  v: unknown,
  min: number,
  max: number,
  unit: string
): void {
  if (typeof v !== 'number' || v !== v || Math.floor(v) !== v) {
    problems.push({ field: field, reason: 'must be a whole number of ' + unit });
  } else if (v < min || v > max) {
    problems.push({ field: field, reason: 'must be from ' + min + ' to ' + max + ' ' + unit + ', got ' + v });
  }
}

function checkPattern(problems: ConfigProblem[], field: string, v: unknown, re: RegExp, what: string): void {
  if (typeof v !== 'string' || !re.test(v)) {
    problems.push({ field: field, reason: 'must be ' + what });
  }
}

/** Check every field of a candidate config. An empty list means it is valid. */
export function validateConfig(c: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!isObject(c)) {
    problems.push({ field: '(config)', reason: 'must be a JSON object' });
    return problems;
  }
  if (c.version !== CONFIG_VERSION) {
    problems.push({ field: 'version', reason: 'must be ' + CONFIG_VERSION });
  }
  checkPattern(problems, 'unitId', c.unitId, /^[A-Za-z0-9-]{1,24}$/, '1-24 letters, digits or "-"');
  checkPattern(problems, 'account', c.account, /^[0-9A-Fa-f]{3,16}$/, '3-16 hexadecimal digits');
  checkInt(problems, 'holdMs', c.holdMs, 0, 5000, 'ms');
  checkInt(problems, 'watchdogS', c.watchdogS, 5, 60, 's');
  const ind = c.indicator;
  if (!isObject(ind)) {
    problems.push({ field: 'indicator', reason: 'must be an object' });
  } else {
    if (ind.confirm !== 'blink' && ind.confirm !== 'off') {
      problems.push({ field: 'indicator.confirm', reason: 'must be "blink" or "off"' });
    }
    if (typeof ind.bootFlash !== 'boolean') {
      problems.push({ field: 'indicator.bootFlash', reason: 'must be true or false' });
    }
  }
  const known = ['version', 'unitId', 'account', 'holdMs', 'indicator', 'watchdogS'];
  const keys = Object.keys(c);
  for (let i = 0; i < keys.length; i++) {
    if (known.indexOf(keys[i]) < 0) problems.push({ field: keys[i], reason: 'is not a known setting' });
  }
  return problems;
}

/** Problems as one readable message, e.g. for an installer's screen. */
export function describeProblems(problems: ConfigProblem[]): string {
  const parts: string[] = [];
  for (let i = 0; i < problems.length; i++) parts.push(problems[i].field + ' ' + problems[i].reason);
  return parts.join('; ');
}
