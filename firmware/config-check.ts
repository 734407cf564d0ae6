/**
 * The check the unit runs on every config it is given (the installer tool runs the same function
 * before sending one). It is part of the installer module (firmware/installer-module.ts), kept
 * outside the boot image and loaded only while it is used.
 *
 * Validation never throws: it returns one problem per bad field, naming the field and why, so an
 * installer sees every mistake at once and the unit keeps its previous valid config.
 *
 * Regexes here avoid `?` and `{n,m}`: Espruino's engine never matches them (docs/espruino-notes.md).
 */
import { parseDay } from './service';
import { CONFIG_VERSION, HEX, MAX_CHUNK_BYTES, audioRing, defaultConfig, keyBytes } from './config';
import type { AudioConfig } from './config';

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

function isHex(v: unknown, min: number, max: number): boolean {
  return typeof v === 'string' && v.length >= min && v.length <= max && HEX.test(v);
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
  for (let i = 0; i < keys.length; i++)
    if (known.indexOf(keys[i]) < 0) problems.push({ field: at + '.' + keys[i], reason: 'unknown' });
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
    if (isObject(model[want[i]]) && keys.indexOf(want[i]) < 0)
      problems.push({ field: prefix + want[i], reason: 'object' });
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

  // One entry at a time: split(',') would hold all 23 strings (~85 variables) at the check's peak.
  for (let at = 0; at < RANGES.length;) {
    let next = RANGES.indexOf(',', at);
    if (next < 0) next = RANGES.length;
    const f = RANGES.substring(at, next).split(' ');
    at = next + 1;
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
      for (let i = 0; i < rs.length; i++)
        checkReceiver(problems, rs[i], 'report.receivers[' + i + ']', rep.labUnencrypted === true);
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
    else if (ring.chunk > MAX_CHUNK_BYTES) {
      // Not on top of a rate or a chunk length already out of range: one problem, named once.
      let named = false;
      for (let i = 0; i < problems.length; i++)
        if (problems[i].field === 'audio.rate' || problems[i].field === 'audio.chunkMs') named = true;
      if (!named) bad('audio.chunkMs', 'chunkmax:' + ring.chunk + ':' + MAX_CHUNK_BYTES);
    } else if (audioBytes !== undefined && ring.bytes > audioBytes) {
      bad('audio', 'ring:' + ring.bytes + ':' + ring.bytes / ring.chunk + ':' + audioBytes);
    }
  }

  const svc = c.service as Obj;
  if (isObject(svc) && svc.start !== '' && parseDay(svc.start) === undefined) bad('service.start', 'day');

  const ev = c.evidence;
  if (ev !== undefined) {
    if (!isObject(ev)) bad('evidence', 'object');
    else {
      if (typeof ev.host !== 'string' || ev.host.length > 63 || !/^[A-Za-z0-9.-]+$/.test(ev.host))
        bad('evidence.host', 'host');
      if (!isNumber(ev.port) || Math.floor(ev.port) !== ev.port || ev.port < 1 || ev.port > 65535)
        bad('evidence.port', 'port');
      if (!isHex(ev.key, 64, 64)) bad('evidence.key', 'hex64');
      if (!isNumber(ev.batch) || Math.floor(ev.batch) !== ev.batch || ev.batch < 1 || ev.batch > 8)
        bad('evidence.batch', 'batch');
      if (
        !isNumber(ev.cellularKB) ||
        Math.floor(ev.cellularKB) !== ev.cellularKB ||
        ev.cellularKB < 0 ||
        ev.cellularKB > 1000000
      ) {
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
