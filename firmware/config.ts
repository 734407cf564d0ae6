/**
 * The unit's configuration: its shape, the factory defaults and the validation the unit runs on
 * every config it is given (the installer tool runs the same function before sending one).
 *
 * Validation never throws: it returns one problem per bad field, naming the field and why, so an
 * installer sees every mistake at once and the unit keeps its previous valid config.
 *
 * Regexes here avoid `?` and `{n,m}`: Espruino's engine never matches them (docs/espruino-notes.md).
 */

import { parseDay } from './service';

export interface IndicatorConfig {
  /** Pattern shown once the centre has acknowledged an alarm: `blink` or `off`. */
  confirm: 'blink' | 'off';
  /** Brief LED flash at boot so an installer sees the unit start. */
  bootFlash: boolean;
}

/** One monitoring-centre receiver reached over one path. */
export interface ReceiverConfig {
  /** Bearer: `wifi` or `cellular`. */
  path: 'wifi' | 'cellular';
  /** Receiver host name or IPv4 address. */
  host: string;
  port: number;
  transport: 'tcp' | 'udp';
  /** Account at this receiver (3–16 hex digits); default: the unit's `account`. */
  account?: string;
  /** DC-09 receiver number `R` (1–6 hex digits); omitted from frames when absent. */
  receiver?: string;
  /** DC-09 line prefix `L` (1–6 hex digits). */
  line: string;
  /**
   * AES key: 32/48/64 hex digits (binary key) or a 16/24/32-character string (its ASCII bytes).
   * Never logged. Absent only with `report.labUnencrypted`.
   */
  key?: string;
  /** How to read `key` when it could be either (a 32-character hex string): default `hex`. */
  keyFormat?: 'hex' | 'ascii';
}

export interface ReportConfig {
  /** Data format: `cid` (ADM-CID, Contact ID) or `sia` (SIA-DCS). */
  format: 'cid' | 'sia';
  /** `[primary, secondary]`; empty on an uncommissioned unit (events are journalled, not sent). */
  receivers: ReceiverConfig[];
  /** Lab only: allow receivers without a key. The unit then warns at every boot and connection. */
  labUnencrypted: boolean;
  /** Wait for a reply to one frame, ms (1000–30000). */
  ackTimeoutMs: number;
  /**
   * Urgent events (hold-up, duress, tamper, cancel) go to the secondary this long after the
   * primary, ms (0–9000); 0 (the default): on every route at once, so a silent primary costs
   * nothing. The one sequence number lets the centre keep one copy.
   */
  failoverMs: number;
  /** Other events go to the secondary after this long without an ACK, ms (1000–3600000). */
  slowFailoverMs: number;
  /** Longest pause between retries of one event on one path, ms (1000–600000). */
  retryMaxMs: number;
  /** Contact ID code for a panic: 120 (panic) or 122 (silent panic). */
  panicCode: number;
}

export interface SupervisionConfig {
  /** NULL link test interval on the primary path, s (10–90000). */
  primaryS: number;
  /** NULL link test interval on the secondary path, s (10–90000). */
  secondaryS: number;
  /** Secondary interval while the primary path is failed, s (10–90000). */
  degradedS: number;
  /** Failed link tests in a row before a path is reported failed (1–10). */
  failAfter: number;
  /** Periodic test report (602) interval, hours (0 = off, 1–168). */
  testReportH: number;
}

export interface GestureConfig {
  /** Taps (short presses) that cancel an active alarm (406); 0 = no cancel gesture. 2–9. */
  cancelTaps: number;
  /** Taps that send duress (121) while looking exactly like a cancel; 0 = none. 2–9. */
  duressTaps: number;
  /** A tap sequence ends this long after the last release, ms (300–5000). */
  tapGapMs: number;
}

export interface InputsConfig {
  /** Mains must stay lost (or back) this long before it is reported, s (0–3600). */
  mainsDelayS: number;
  /** Battery below this is low, V (2–20); it must rise 0.2 V above it to restore. */
  lowBatteryV: number;
  /** Tamper must stay open (or closed) this long before it is reported, ms (0–9000). */
  tamperMs: number;
  /** At most this many reports per input per hour; later changes wait for the hour (1–20). */
  perHour: number;
}

/** Audio capture (docs/evidence.md). */
export interface AudioConfig {
  /** Sample rate, Hz (4000–16000); 8-bit mono. */
  rate: number;
  /** Audio kept from before the alarm is recognised, ms (0–10000). */
  preMs: number;
  /** Chunk duration, ms (250–4000): the unit of hashing, spooling and upload. */
  chunkMs: number;
  /** Longest recording, s (60–14400). */
  maxS: number;
}

/** The evidence server the recordings go to, over TCP on either path (set at commissioning). */
export interface EvidenceConfig {
  /** Server host name or IPv4 address. */
  host: string;
  port: number;
  /**
   * Per-unit evidence key (64 hex digits = 32 bytes): seals every chunk, signs manifests and
   * authenticates the server's replies (docs/evidence.md). Never logged.
   */
  key: string;
  /** Chunks per upload request (1–8). */
  batch: number;
  /** Evidence sent over cellular per recording, KB (0 = no cap: it is an emergency); the rest waits for Wi-Fi. */
  cellularKB: number;
}

/** The service period (docs/service.md). */
export interface ServiceConfig {
  /** First day of service, `YYYY-MM-DD` (UTC), set at commissioning; '' = not yet commissioned. */
  start: string;
  /** Length of the service period, days (1–730; 182 = six months). */
  days: number;
}

export interface NetworkConfig {
  wifi?: { ssid: string; password: string };
  apn?: string;
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
  /** How long an alarm stays active before its restore is sent, s (60–86400). */
  alarmS: number;
  indicator: IndicatorConfig;
  /** Hardware watchdog timeout, s (5–60); the firmware kicks it while healthy. */
  watchdogS: number;
  report: ReportConfig;
  supervision: SupervisionConfig;
  gestures: GestureConfig;
  inputs: InputsConfig;
  audio: AudioConfig;
  service: ServiceConfig;
  /** Absent until commissioned: recordings then stay on the spool until it is set. */
  evidence?: EvidenceConfig;
  network?: NetworkConfig;
}

export const CONFIG_VERSION = 4;

/**
 * Factory defaults: a unit that is not yet commissioned still records presses and shows them, and
 * journals its events for delivery once receivers are configured. `unitId` and `account` are
 * placeholders an installer must replace. Timings follow EN 50136-1 DP4 and EN 50131-1.
 */
export function defaultConfig(): Config {
  return {
    version: CONFIG_VERSION,
    unitId: 'UNCOMMISSIONED',
    account: '0000',
    holdMs: 1500,
    alarmS: 1800,
    indicator: { confirm: 'blink', bootFlash: true },
    watchdogS: 20,
    report: {
      format: 'cid',
      receivers: [],
      labUnencrypted: false,
      ackTimeoutMs: 5000,
      failoverMs: 0,
      slowFailoverMs: 60000,
      retryMaxMs: 30000,
      panicCode: 120
    },
    supervision: { primaryS: 90, secondaryS: 18000, degradedS: 90, failAfter: 2, testReportH: 24 },
    gestures: { cancelTaps: 3, duressTaps: 0, tapGapMs: 1500 },
    inputs: { mainsDelayS: 60, lowBatteryV: 3.6, tamperMs: 1000, perHour: 3 },
    audio: { rate: 8000, preMs: 4000, chunkMs: 500, maxS: 1800 },
    service: { start: '', days: 182 }
  };
}

/**
 * One reason a config was refused: the field, and a short code (the words are in
 * firmware/config-words.ts, which only the tools and the simulator load: the image carries none).
 */
export interface ConfigProblem {
  field: string;
  reason: string;
}

type Obj = { [k: string]: unknown };

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !(v instanceof Array);
}

const HEX = /^[0-9A-Fa-f]+$/;

function isHex(v: unknown, min: number, max: number): boolean {
  return typeof v === 'string' && v.length >= min && v.length <= max && HEX.test(v);
}

/**
 * The key's bytes as a byte string, or why it is unusable (a code: config-words.ts has the words).
 * Hex when `format` says so or when it is 32/48/64 hex digits; otherwise the ASCII bytes of a
 * 16/24/32-character string.
 */
export function keyBytes(key: unknown, format?: unknown): string | { error: string } {
  if (typeof key !== 'string') return { error: 'key-type' };
  const n = key.length;
  const hexLen = n === 32 || n === 48 || n === 64;
  if (format === 'hex' || (format === undefined && hexLen && HEX.test(key))) {
    if (!hexLen || !HEX.test(key)) return { error: 'key-hex' };
    let out = '';
    for (let i = 0; i < n; i += 2) out += String.fromCharCode(parseInt(key.substr(i, 2), 16));
    return out;
  }
  if (format !== undefined && format !== 'ascii') return { error: 'key-format' };
  if (n !== 16 && n !== 24 && n !== 32) return { error: 'key-length' };
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c < 32 || c > 126) return { error: 'key-ascii' };
  }
  return key;
}

/**
 * Numeric settings as `path min max unit`, one per comma (kept as one string: on the device a
 * table of objects would cost far more memory than it saves code).
 */
export const RANGES =
  'holdMs 0 5000 ms,alarmS 60 86400 s,watchdogS 5 60 s,' +
  'report.ackTimeoutMs 1000 30000 ms,report.failoverMs 0 9000 ms,report.slowFailoverMs 1000 3600000 ms,' +
  'report.retryMaxMs 1000 600000 ms,supervision.primaryS 10 90000 s,supervision.secondaryS 10 90000 s,' +
  'supervision.degradedS 10 90000 s,supervision.failAfter 1 10 tests,supervision.testReportH 0 168 h,' +
  'gestures.cancelTaps 0 9 taps,gestures.duressTaps 0 9 taps,gestures.tapGapMs 300 5000 ms,' +
  'inputs.mainsDelayS 0 3600 s,inputs.tamperMs 0 9000 ms,inputs.perHour 1 20 reports,' +
  'audio.rate 4000 16000 Hz,audio.preMs 0 10000 ms,audio.chunkMs 250 4000 ms,audio.maxS 60 14400 s,' +
  'service.days 1 730 days';

/**
 * Samples per chunk, and the ring's slots: the pre-trigger chunks plus the one filling. No slack
 * slot is needed: at a trigger the pre-trigger chunks go to the spool at once, and the slots they
 * free then absorb a slow card (docs/evidence.md).
 */
export function audioRing(a: AudioConfig): { chunk: number; slots: number; bytes: number } {
  const chunk = (a.rate * a.chunkMs) / 1000;
  const slots = Math.ceil(a.preMs / a.chunkMs) + 1;
  return { chunk: chunk, slots: slots, bytes: chunk * slots };
}

function isIPv4(h: string): boolean {
  const p = h.split('.');
  if (p.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const n = Number(p[i]);
    if (p[i] === '' || p[i].length > 3 || !(n >= 0 && n <= 255) || String(n) !== p[i]) return false;
  }
  return true;
}

function printable(v: unknown, min: number, max: number): boolean {
  if (typeof v !== 'string' || v.length < min || v.length > max) return false;
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) < 32 || v.charCodeAt(i) > 126) return false;
  return true;
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && v === v;
}

/**
 * An object's own keys, and `__proto__` when it has another prototype: Espruino's JSON and object
 * literals make a `__proto__` key the prototype (Object.keys never lists it), whose fields would
 * pass every check and then be missing from the stored text.
 */
function keysOf(o: Obj): string[] {
  const k = Object.keys(o);
  if (Object.getPrototypeOf(o) !== Object.prototype) k.push('__proto__');
  return k;
}

/** Every key of `o` not among `names` (space-separated) is an unknown setting `<at>.<key>`. */
function only(problems: ConfigProblem[], o: Obj, names: string, at: string): void {
  const keys = keysOf(o);
  const known = names.split(' ');
  for (let i = 0; i < keys.length; i++) if (known.indexOf(keys[i]) < 0) problems.push({ field: at + '.' + keys[i], reason: 'unknown' });
}

/**
 * Compare a candidate's keys with the defaults': unknown keys (`constructor`, `toString`... too:
 * only the model's own keys are known) and missing sections are problems.
 */
function checkKeys(problems: ConfigProblem[], c: Obj, model: Obj, prefix: string): void {
  const keys = keysOf(c);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const m = model.hasOwnProperty(k) ? model[k] : undefined;
    if (m === undefined && !(prefix === '' && (k === 'network' || k === 'evidence'))) {
      problems.push({ field: prefix + k, reason: 'unknown' });
    } else if (isObject(m) && !isObject(c[k])) {
      problems.push({ field: prefix + k, reason: 'object' });
    } else if (isObject(m)) {
      checkKeys(problems, c[k] as Obj, m, prefix + k + '.');
    }
  }
  const want = Object.keys(model);
  for (let i = 0; i < want.length; i++) {
    if (isObject(model[want[i]]) && keys.indexOf(want[i]) < 0) problems.push({ field: prefix + want[i], reason: 'object' });
  }
}

function get(c: Obj, path: string): unknown {
  const parts = path.split('.');
  let v: unknown = c;
  for (let i = 0; i < parts.length && isObject(v); i++) v = (v as Obj)[parts[i]];
  return parts.length > 1 && !isObject(c[parts[0]]) ? undefined : v;
}

function checkReceiver(problems: ConfigProblem[], r: unknown, at: string, lab: boolean): void {
  function bad(f: string, reason: string): void {
    problems.push({ field: at + '.' + f, reason: reason });
  }
  if (!isObject(r)) {
    problems.push({ field: at, reason: 'object' });
    return;
  }
  if (r.path !== 'wifi' && r.path !== 'cellular') bad('path', 'path');
  if (typeof r.host !== 'string' || r.host.length > 63 || !/^[A-Za-z0-9.-]+$/.test(r.host)) bad('host', 'host');
  if (!isNumber(r.port) || Math.floor(r.port) !== r.port || r.port < 1 || r.port > 65535) bad('port', 'port');
  if (r.transport !== 'tcp' && r.transport !== 'udp') bad('transport', 'transport');
  else if (r.transport === 'udp' && typeof r.host === 'string' && !isIPv4(r.host)) {
    bad('host', 'udp-ipv4');
  }
  if (r.account !== undefined && !isHex(r.account, 3, 16)) bad('account', 'account');
  if (r.receiver !== undefined && !isHex(r.receiver, 1, 6)) bad('receiver', 'hex6');
  if (!isHex(r.line, 1, 6)) bad('line', 'hex6');
  if (r.key === undefined) {
    if (!lab) bad('key', 'key-required');
  } else {
    const kb = keyBytes(r.key, r.keyFormat);
    if (typeof kb !== 'string') bad('key', kb.error);
  }
  only(problems, r, 'path host port transport account receiver line key keyFormat', at);
}

/**
 * Check every field of a candidate config. An empty list means it is valid. `audioBytes` is the
 * board's RAM budget for the audio ring (the HAL's `system.audioBytes`); omitted: not checked.
 */
export function checkConfig(c: unknown, audioBytes?: number): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  function bad(field: string, reason: string): void {
    problems.push({ field: field, reason: reason });
  }
  if (!isObject(c)) {
    bad('(config)', 'object');
    return problems;
  }
  if (c.version !== CONFIG_VERSION) bad('version', 'version');
  checkKeys(problems, c, defaultConfig() as unknown as Obj, '');
  if (typeof c.unitId !== 'string' || c.unitId.length > 24 || !/^[A-Za-z0-9-]+$/.test(c.unitId)) {
    bad('unitId', 'unit');
  }
  if (!isHex(c.account, 3, 16)) bad('account', 'account');

  const ranges = RANGES.split(',');
  for (let i = 0; i < ranges.length; i++) {
    const f = ranges[i].split(' ');
    const v = get(c, f[0]);
    const min = Number(f[1]);
    const max = Number(f[2]);
    if (!isNumber(v) || Math.floor(v) !== v) bad(f[0], 'whole');
    else if (v < min || v > max) bad(f[0], 'range:' + v);
  }
  const lowV = get(c, 'inputs.lowBatteryV');
  if (!isNumber(lowV) || lowV < 2 || lowV > 20) bad('inputs.lowBatteryV', 'volts');

  const ind = c.indicator as Obj;
  if (isObject(ind)) {
    if (ind.confirm !== 'blink' && ind.confirm !== 'off') bad('indicator.confirm', 'confirm');
    if (typeof ind.bootFlash !== 'boolean') bad('indicator.bootFlash', 'bool');
  }

  const rep = c.report as Obj;
  if (isObject(rep)) {
    if (rep.format !== 'cid' && rep.format !== 'sia') bad('report.format', 'format');
    if (typeof rep.labUnencrypted !== 'boolean') bad('report.labUnencrypted', 'bool');
    if (rep.panicCode !== 120 && rep.panicCode !== 122) bad('report.panicCode', 'panic');
    const rs = rep.receivers;
    if (!(rs instanceof Array) || rs.length > 2) {
      bad('report.receivers', 'receivers');
    } else {
      for (let i = 0; i < rs.length; i++) checkReceiver(problems, rs[i], 'report.receivers[' + i + ']', rep.labUnencrypted === true);
    }
  }

  const g = c.gestures as Obj;
  if (isObject(g)) {
    if (g.cancelTaps === 1) bad('gestures.cancelTaps', 'taps');
    if (g.duressTaps === 1) bad('gestures.duressTaps', 'taps');
    if (g.duressTaps !== 0 && g.duressTaps === g.cancelTaps) bad('gestures.duressTaps', 'same-taps');
    if ((g.cancelTaps !== 0 || g.duressTaps !== 0) && c.holdMs === 0) {
      bad('gestures', 'taps-hold');
    }
  }

  const a = c.audio as Obj;
  if (isObject(a) && isNumber(a.rate) && isNumber(a.chunkMs) && isNumber(a.preMs)) {
    const ring = audioRing(a as unknown as AudioConfig);
    if (ring.chunk % 4 !== 0) bad('audio.chunkMs', 'chunk4');
    else if (audioBytes !== undefined && ring.bytes > audioBytes) {
      bad('audio', 'ring:' + ring.bytes + ':' + ring.slots + ':' + audioBytes);
    }
  }

  const svc = c.service as Obj;
  if (isObject(svc) && svc.start !== '' && parseDay(svc.start) === undefined) bad('service.start', 'day');

  const ev = c.evidence;
  if (ev !== undefined) {
    if (!isObject(ev)) bad('evidence', 'object');
    else {
      if (typeof ev.host !== 'string' || ev.host.length > 63 || !/^[A-Za-z0-9.-]+$/.test(ev.host)) bad('evidence.host', 'host');
      if (!isNumber(ev.port) || Math.floor(ev.port) !== ev.port || ev.port < 1 || ev.port > 65535) bad('evidence.port', 'port');
      if (!isHex(ev.key, 64, 64)) bad('evidence.key', 'hex64');
      if (!isNumber(ev.batch) || Math.floor(ev.batch) !== ev.batch || ev.batch < 1 || ev.batch > 8) bad('evidence.batch', 'batch');
      if (!isNumber(ev.cellularKB) || Math.floor(ev.cellularKB) !== ev.cellularKB || ev.cellularKB < 0 || ev.cellularKB > 1000000) {
        bad('evidence.cellularKB', 'cellkb');
      }
      only(problems, ev, 'host port key batch cellularKB', 'evidence');
    }
  }

  const net = c.network;
  if (net !== undefined) {
    if (!isObject(net)) bad('network', 'object');
    else {
      const w = net.wifi;
      if (w !== undefined) {
        if (!isObject(w)) bad('network.wifi', 'wifi');
        else {
          if (!printable(w.ssid, 1, 32)) bad('network.wifi.ssid', 'ssid');
          // WPA2-PSK passphrases are 8-63 characters; '' joins an open network.
          if (w.password !== '' && !printable(w.password, 8, 63)) bad('network.wifi.password', 'wpa');
          only(problems, w, 'ssid password', 'network.wifi');
        }
      }
      if (net.apn !== undefined && (!printable(net.apn, 1, 63) || !/^[A-Za-z0-9.-]+$/.test(net.apn as string))) {
        bad('network.apn', 'apn');
      }
      only(problems, net, 'wifi apn', 'network');
    }
  }
  return problems;
}

/** Problems as one line of fields and codes (the unit's log and journal). */
export function problemCodes(problems: ConfigProblem[]): string {
  const parts: string[] = [];
  for (let i = 0; i < problems.length; i++) parts.push(problems[i].field + ' ' + problems[i].reason);
  return parts.join('; ');
}
