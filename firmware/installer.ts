/**
 * The installer's service on the unit: the requests the installer tool sends over the console
 * (tools/commission.ts, tools/decommission.ts; protocol in docs/installer.md).
 *
 * Every request is `{id, op, ...}`; every answer is one `@I` line `{id, ok, ...figures}`; when not
 * ok, `error` is a short code (e.g. `mic-silent`) with the figures behind it, and the tool turns it
 * into a sentence and a hint (tools/installer-link.ts: the words cost flash on the unit; every code
 * is in firmware/installer-codes.ts). Long steps send `{id, progress: <code>}` lines first. A
 * request over MAX_REQUEST characters is refused; of a request only its numeric id is echoed, and
 * for a refused config the names of at most 20 fields. Nothing here ever puts a key, a password
 * or audio into a reply or the log: `info` gives a hash of the config, and `sign` returns a MAC,
 * never the key.
 */
import type { Hal, RecordStore } from '../hal/types';
import { readStoredConfig, writeStoredConfig, CONFIG_A, CONFIG_B, PASSWORD_RECORD } from './stored-config';
import type { Config } from './config';
import { checkConfig, problemCodes } from './config-check';
import type { Journal, RecordOf } from './journal';
import type { Reporter } from './reporter';
import type { Recorder } from './recorder';
import { CID } from './events';
import { errorText } from './guard';
import { FIRMWARE_VERSION } from './version';
import type { InstallerError, InstallerProgress } from './installer-codes';

/**
 * A config is checked only with this much memory free (variables), counted once the request is
 * parsed. Measured on the release interpreter (a heap filled to a given free count, then the bad
 * default config evaluated as a line and checked): ~200 variables parsed, ~475 at the check's
 * peak, so ~275 more than parsed; the unit's own transients beside it reach ~600 at idle (the
 * card ring's seal and write, the radios): 875 (issue #17). Refused, the installer tries again.
 */
export const CONFIG_MIN_FREE = 1000;

/**
 * The longest request taken, as JSON characters: the largest valid config request is ~1,800. A
 * longer one is refused with `too-long` and nothing of it is echoed (docs/installer.md).
 */
export const MAX_REQUEST = 4000;
/** At most this many config problems are answered and journalled (the tool checks them all first). */
const MAX_PROBLEMS = 20;

/** How long the path test waits for the receiver's ACK to its 601, ms. */
const REPORT_WAIT_MS = 60000;
/** How long decommission waits for the centre to acknowledge the 308, ms. */
const RETIRE_WAIT_MS = 60000;
/** The indicator test: three long blinks, unlike anything the unit shows otherwise. */
const TEST_BLINK = { steps: [400, 300, 400, 300, 400] };
/** The clock is set from the centre when it is off by more than this, ms. */
const CLOCK_SLACK_MS = 1000;

export interface InstallerDeps {
  hal: Hal;
  /** The record store (config, password, state): firmware/flash-store.ts. */
  records: RecordStore;
  config: Config;
  reporter: Reporter;
  /** Undefined when it did not start (no card, an unreadable one, or a boot cut short): the alarm runs without audio. */
  recorder: Recorder | undefined;
  journal: Journal;
  /** Play the indicator test pattern. */
  blink(p: { steps: number[] }): void;
  /** Stop the whole firmware (before erasing storage). */
  halt(): void;
}

export interface Installer {
  /** One request from the console (firmware/console.ts takes them and hands them here). */
  request(req: unknown): void;
  /** A button edge: `true` when the button self-test took it (it then raises no alarm). */
  button(pressed: boolean, atMs: number): boolean;
  /** An event was acknowledged by a receiver. */
  delivered(rec: RecordOf<'ev'>): void;
  stop(): void;
}

type Req = { [k: string]: unknown };

/** The config as it may be shown: every secret replaced by whether it is set. */
export function configSummary(c: Config): { [k: string]: unknown } {
  const s = JSON.parse(JSON.stringify(c));
  const rs = s.report.receivers;
  for (let i = 0; i < rs.length; i++) {
    rs[i].key = rs[i].key ? 'set' : 'none';
    delete rs[i].keyFormat;
  }
  if (s.evidence) s.evidence.key = 'set';
  if (s.network && s.network.wifi) s.network.wifi.password = s.network.wifi.password ? 'set' : 'none';
  return s;
}

/** A console password Espruino accepts: 8–20 printable ASCII characters, no spaces (the tool checks it too). */
export function passwordOk(p: unknown): boolean {
  if (typeof p !== 'string' || p.length < 8 || p.length > 20) return false;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  return true;
}

export function createInstaller(d: InstallerDeps): Installer {
  const hal = d.hal;
  const clock = hal.clock;
  const records = d.records;
  const cfg = d.config;
  let stopped = false;
  let buttonTest: { id: unknown; downAt: number; timer: number } | undefined;
  const waits: { n: number; fn: () => void }[] = [];

  function send(o: Req): void {
    if (!stopped) hal.console.reply(JSON.stringify(o));
  }
  function ok(id: unknown, o: Req): void {
    o.id = id;
    o.ok = true;
    send(o);
  }
  function fail(id: unknown, error: InstallerError, o?: Req): void {
    const r: Req = o || {};
    r.id = id;
    r.ok = false;
    r.error = error;
    send(r);
  }
  /**
   * Recordings kept on the card and not yet uploaded; -1: unknown (no recorder, or the card
   * cannot be read: `readable` false).
   */
  function waiting(readable: boolean): number {
    return d.recorder && readable ? d.recorder.states().length : -1;
  }
  /**
   * The card's files, or -1 when it cannot be read (no card). The board's spool lists nothing
   * then, as 2v29's `fs` gives it nothing; `capacity` throws the card's own error.
   */
  function spoolFiles(): number {
    try {
      hal.storage.spool.capacity();
      return hal.storage.spool.list().length;
    } catch (e) {
      return -1;
    }
  }

  /** A progress line of a long step: a code and its figures (the tool has the words). */
  function say(id: unknown, what: InstallerProgress, o: Req): void {
    o.id = id;
    o.progress = what;
    send(o);
  }

  /** Deliver `code` (bound to `route`, or any) and call `done` with the ms it took or -1. */
  function deliver(
    code: number,
    zone: number,
    route: number | undefined,
    waitMs: number,
    done: (ms: number) => void
  ): number {
    const t0 = clock.now();
    const rec = d.reporter.report(code, 1, zone, undefined, route);
    let timer = -1;
    const w = {
      n: rec.n as number,
      fn: function () {
        clock.cancel(timer);
        done(clock.now() - t0);
      }
    };
    waits.push(w);
    timer = clock.after(waitMs, function () {
      const k = waits.indexOf(w);
      if (k >= 0) waits.splice(k, 1);
      done(-1);
    });
    return rec.n as number;
  }

  function info(id: unknown): void {
    const image = hal.system.firmwareImage();
    const files = spoolFiles();
    ok(id, {
      unit: cfg.unitId,
      account: cfg.account,
      board: hal.system.board,
      fw: FIRMWARE_VERSION,
      fwHash: image ? hal.crypto.hex(hal.crypto.sha256(image)) : '',
      commissioned: cfg.service.start !== '',
      locked: !!records.read(PASSWORD_RECORD),
      recordings: waiting(files >= 0),
      // Events still owed to the centre, and the service start: an interpreter update erases both
      // (tools/interpreter-update.ts refuses while any is owed and gives the start back after).
      pending: d.reporter.pending(),
      serviceStart: cfg.service.start,
      spoolFiles: files,
      time: clock.wall(),
      // The stored config's hash, not its text: a long reply overflows the console (docs/installer.md).
      configSha256: hal.crypto.hex(hal.crypto.sha256(readStoredConfig(records).text))
    });
  }

  function configure(id: unknown, c: unknown, password: unknown, old: unknown): void {
    const problems = checkConfig(c, hal.system.audioBytes);
    if (problems.length > 0) {
      // Bounded: a request full of unknown keys must not become a long reply or journal record.
      problems.splice(MAX_PROBLEMS, problems.length);
      d.journal.append('cfg-bad', { why: problemCodes(problems) });
      fail(id, 'config-refused', { problems: problems });
      return;
    }
    // The password, when the request brings one, is stored before the config: no moment (a power
    // cut, a pulled cable) leaves a configured unit that boots with its console open.
    if (password !== undefined && !setPassword(id, password, old)) return;
    const text = JSON.stringify(c);
    try {
      // Two copies, the new one verified before the second goes (firmware/stored-config.ts): a
      // power cut at any point boots the old config or the verified new one.
      writeStoredConfig(records, text);
    } catch (e) {
      fail(id, 'config-store', { why: (e as Error).message || String(e), flashFree: records.free() });
      return;
    }
    const digest = hal.crypto.hex(hal.crypto.sha256(text));
    d.journal.append('cfg', { unit: (c as Config).unitId, h: digest.substr(0, 16) });
    ok(id, { restart: true, configSha256: digest });
    // Apply by restarting: every part of the firmware is built from one config at boot.
    clock.after(300, function () {
      hal.system.restart();
    });
  }

  function testButton(id: unknown, timeoutMs: number): void {
    if (buttonTest) clock.cancel(buttonTest.timer);
    const t = { id: id, downAt: -1, timer: -1 };
    buttonTest = t;
    say(id, 'button', { waitedMs: timeoutMs });
    t.timer = clock.after(timeoutMs, function () {
      if (buttonTest !== t) return;
      buttonTest = undefined;
      fail(id, 'button-timeout', { waitedMs: timeoutMs });
    });
  }

  function testMic(id: unknown, ms: number): void {
    const rec = d.recorder;
    if (!rec) {
      fail(id, 'no-recorder');
      return;
    }
    let blocks = 0;
    let samples = 0;
    let sum = 0;
    let sq = 0;
    let clipped = 0;
    rec.listen(function (block: Uint8Array) {
      const m = hal.microphone.measure(block);
      blocks++;
      samples += block.length;
      sum += m.mean * block.length;
      sq += m.rms * m.rms * block.length;
      clipped += m.clipped;
    });
    say(id, 'mic', { ms: ms });
    clock.after(ms, function () {
      rec.listen(undefined);
      if (blocks === 0) {
        fail(id, 'mic-none', { blocks: 0 });
        return;
      }
      const mean = sum / samples;
      const rms = Math.sqrt(sq / samples);
      const dbfs = rms > 0 ? Math.round((200 * Math.log(rms / 128)) / Math.LN10) / 10 : -99;
      const figures: Req = {
        blocks: blocks,
        samples: samples,
        mean: Math.round(mean * 10) / 10,
        rms: Math.round(rms * 100) / 100,
        dbfs: dbfs,
        clippedPct: Math.round((10000 * clipped) / samples) / 100
      };
      if (rms < 0.5) fail(id, 'mic-silent', figures);
      else if (mean < 96 || mean > 160) fail(id, 'mic-bias', figures);
      else if (clipped * 100 > samples) fail(id, 'mic-clip', figures);
      else ok(id, figures);
    });
  }

  function testPaths(id: unknown): void {
    const out: Req[] = [];
    const down: string[] = [];
    const rs = cfg.report.receivers;
    for (let i = 0; i < rs.length; i++) {
      const l = hal.links[rs[i].path];
      const s = l ? l.status() : { up: false, signal: -1 };
      out.push({ route: i, path: rs[i].path, up: s.up, signal: s.signal, rssiDbm: s.rssiDbm });
      if (!s.up) down.push(rs[i].path);
    }
    if (rs.length === 0) fail(id, 'no-receivers');
    else if (down.length > 0) fail(id, 'path-down', { down: down, paths: out });
    else ok(id, { paths: out });
  }

  function testReport(id: unknown, route: number): void {
    const rc = cfg.report.receivers[route];
    if (!rc) {
      fail(id, 'no-receiver', { route: route });
      return;
    }
    say(id, 'report', { path: rc.path, host: rc.host, port: rc.port });
    const seq = deliver(CID.MANUAL_TEST, 0, route, REPORT_WAIT_MS, function (ms: number) {
      const o: Req = { route: route, path: rc.path, seq: seq, ms: ms, waitedMs: REPORT_WAIT_MS };
      if (ms < 0) fail(id, 'report-noack', o);
      else ok(id, o);
    });
  }

  function testPower(id: unknown): void {
    const mains = hal.power.mainsPresent();
    const v = hal.power.batteryVolts();
    const low = cfg.inputs.lowBatteryV;
    const o: Req = { mains: mains, batteryV: Math.round(v * 100) / 100, lowBatteryV: low };
    if (!mains) fail(id, 'mains-absent', o);
    else if (v < low + 0.2) fail(id, 'battery-low', o);
    else ok(id, o);
  }

  function testStorage(id: unknown): void {
    const sp = hal.storage.spool;
    let free = 0;
    let capacity = 0;
    try {
      capacity = sp.capacity();
      free = capacity - sp.used();
    } catch (e) {
      fail(id, 'card-fault', { why: errorText(e).substr(0, 60) });
      return;
    }
    // One recording of the longest length, plus an eighth for records and state.
    const need = Math.ceil(cfg.audio.rate * cfg.audio.maxS * 1.125);
    const o: Req = {
      flashFree: records.free(),
      spoolFree: free,
      spoolCapacity: capacity,
      recordingBytes: need,
      // The card's capacity was read above.
      waiting: waiting(true)
    };
    if (free < need) fail(id, 'spool-small', o);
    else if (records.free() < 4096) fail(id, 'flash-full', o);
    else ok(id, o);
  }

  function testClock(id: unknown): void {
    const c = d.reporter.centreTime();
    const now = clock.now();
    if (!c || now - c.at > 120000) {
      fail(id, 'clock-unknown');
      return;
    }
    const centreNow = c.wall + (now - c.at);
    const offset = clock.wall() - centreNow;
    const set = Math.abs(offset) > CLOCK_SLACK_MS;
    if (set) clock.setWall(centreNow);
    ok(id, { offsetMs: Math.round(offset), set: set, time: new Date(clock.wall()).toISOString() });
  }

  function sign(id: unknown, digest: unknown): void {
    if (typeof digest !== 'string' || digest.length !== 64 || !/^[0-9a-f]+$/.test(digest)) {
      fail(id, 'bad-digest');
      return;
    }
    if (!cfg.evidence) {
      fail(id, 'no-key');
      return;
    }
    const key = new Uint8Array(32);
    for (let i = 0; i < 32; i++) key[i] = parseInt(cfg.evidence.key.substr(i * 2, 2), 16);
    ok(id, {
      unit: cfg.unitId,
      mac: hal.crypto.hex(hal.crypto.hmacSha256(key, 'commissioning-report:' + cfg.unitId + ':' + digest))
    });
  }

  /**
   * Set the password (only on a unit with a stored config, and only with the current one as `old`
   * once one is set), or lock again with the stored one; then lock the console.
   */
  function lock(id: unknown, password: unknown, old: unknown): void {
    if (password !== undefined) {
      if (records.read(CONFIG_A) === undefined && records.read(CONFIG_B) === undefined) {
        fail(id, 'not-commissioned');
        return;
      }
      if (!setPassword(id, password, old)) return;
    }
    const pw = records.read(PASSWORD_RECORD);
    if (!pw) {
      fail(id, 'password-none');
      return;
    }
    ok(id, { locked: true });
    hal.console.lock(pw);
  }

  /** Store a new password (with the current one as `old` once one is set); false once refused. */
  function setPassword(id: unknown, password: unknown, old: unknown): boolean {
    const pw = records.read(PASSWORD_RECORD);
    if (pw && old !== pw) fail(id, 'old-password');
    else if (!passwordOk(password)) fail(id, 'password-bad');
    else {
      records.write(PASSWORD_RECORD, password as string);
      return true;
    }
    return false;
  }

  function erase(): number {
    let n = 0;
    const sp = hal.storage.spool;
    const files = sp.list();
    for (let i = 0; i < files.length; i++) {
      sp.erase(files[i]);
      n++;
      // A card with thousands of files takes longer than the watchdog allows.
      if (n % 50 === 0) hal.watchdog.kick();
    }
    // Everything the firmware keeps in flash: the record store's sectors erased whole, so no key
    // stays behind in a record only marked erased (a store in RAM: each record).
    const names = records.list('');
    n += names.length;
    const wipe = (records as { wipe?: () => void }).wipe;
    if (wipe) wipe();
    else for (let i = 0; i < names.length; i++) records.erase(names[i]);
    hal.console.clearLock();
    return n;
  }

  function decommission(id: unknown, force: boolean, password: unknown): void {
    const pw = records.read(PASSWORD_RECORD);
    if (force && pw && password !== pw) {
      fail(id, 'wrong-password');
      return;
    }
    // Without a recorder the card's recordings are not known: erasing them needs force too.
    const owed = waiting(spoolFiles() >= 0);
    const discarded = owed < 0 ? 0 : owed;
    if (owed < 0 && !force) {
      fail(id, 'no-recorder');
      return;
    }
    if (owed > 0 && !force) {
      fail(id, 'not-uploaded', { recordings: owed });
      return;
    }
    say(id, 'retire', {});
    deliver(CID.SHUTDOWN, 0, undefined, RETIRE_WAIT_MS, function (ms: number) {
      if (ms < 0 && !force) {
        // The 308 is still queued and will arrive when a path returns: follow it with its restore,
        // so the centre does not take a unit still in the home for a retired one.
        d.reporter.report(CID.SHUTDOWN, 3, 0);
        fail(id, 'centre-noack', { waitedMs: RETIRE_WAIT_MS });
        return;
      }
      d.journal.append('retire', { forced: force, recordings: discarded });
      // Stop everything (this service too) before erasing, so nothing writes behind the erase.
      d.halt();
      const n = erase();
      hal.console.reply(
        JSON.stringify({ id: id, ok: true, reported: ms >= 0, erased: n, recordingsDiscarded: discarded })
      );
      hal.log.write('warn', 'decommissioned: erased, restarting');
      clock.after(300, function () {
        hal.system.restart();
      });
    });
  }

  function test(id: unknown, r: Req): void {
    const st = r.step;
    if (st === 'button') testButton(id, Math.min(60000, Number(r.timeoutMs) || 30000));
    else if (st === 'indicator') {
      d.blink(TEST_BLINK);
      clock.after(2100, function () {
        ok(id, {});
      });
    } else if (st === 'mic') testMic(id, Math.min(10000, Number(r.ms) || 2000));
    else if (st === 'paths') testPaths(id);
    else if (st === 'report') testReport(id, Number(r.route) || 0);
    else if (st === 'power') testPower(id);
    else if (st === 'storage') testStorage(id);
    else if (st === 'clock') testClock(id);
    else fail(id, 'unknown-op');
  }

  function handle(req: unknown): void {
    if (stopped) return;
    const r = (typeof req === 'object' && req !== null ? req : {}) as Req;
    // Only a number is echoed as the id: nothing else of a request goes back.
    const id = typeof r.id === 'number' ? r.id : null;
    const op = r.op;
    try {
      if (JSON.stringify(r).length > MAX_REQUEST) {
        fail(id, 'too-long');
        return;
      }
      // The alarm comes first: no reconfiguring (or decommissioning without force) while a
      // recording runs, and nothing heavy when memory is short.
      const busy = d.recorder ? d.recorder.status().recording : '';
      const mem = hal.system.memory();
      if (op === 'config' && busy) fail(id, 'busy-recording', { recording: busy });
      else if (op === 'config' && mem.free < CONFIG_MIN_FREE) fail(id, 'low-memory', { free: mem.free });
      else if (op === 'info') info(id);
      else if (op === 'config') configure(id, r.config, r.password, r.old);
      else if (op === 'test') test(id, r);
      else if (op === 'sign') sign(id, r.digest);
      else if (op === 'lock') lock(id, r.password, r.old);
      else if (op === 'decommission') decommission(id, r.force === true, r.password);
      else fail(id, 'unknown-op');
    } catch (e) {
      const why = String((e as Error).message || e).substr(0, 80);
      hal.log.write('error', 'installer request failed: ' + why);
      fail(id, 'exception', { why: why });
    }
  }

  return {
    request: handle,
    button: function (pressed: boolean, atMs: number): boolean {
      const t = buttonTest;
      if (!t) return false;
      if (pressed) t.downAt = atMs;
      else if (t.downAt >= 0) {
        buttonTest = undefined;
        clock.cancel(t.timer);
        ok(t.id, { heldMs: Math.round(atMs - t.downAt) });
      }
      return true;
    },
    delivered: function (rec: RecordOf<'ev'>) {
      for (let i = 0; i < waits.length; i++) {
        if (waits[i].n === rec.n) {
          const w = waits[i];
          waits.splice(i, 1);
          w.fn();
          return;
        }
      }
    },
    stop: function () {
      stopped = true;
      if (d.recorder) d.recorder.listen(undefined);
      if (buttonTest) clock.cancel(buttonTest.timer);
    }
  };
}
