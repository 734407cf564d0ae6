/**
 * The unit. `createApp(hal, config)` boots it on whatever HAL it is given: the Espruino board
 * (firmware/main.ts) or the Node simulator (sim/, test/).
 *
 * Boot order matters and is the same on every boot: guard → config → journal (+ boot record) →
 * reporter (reads the journal, resumes undelivered events, reports the reset) → indicator → alarm
 * (resumed if the journal shows one active) → button → supervised inputs → watchdog. Everything
 * that can hold an event exists before the first input is watched.
 */
import type { Hal, LogLevel } from '../hal/types';
import { Config, defaultConfig, checkConfig, problemCodes } from './config';
import { createJournal, Journal, JournalRecord } from './journal';
import { createPressRunner, PressRunner } from './press';
import { createIndicatorDriver, IndicatorDriver, BOOT_FLASH, ACK_BLINK, GESTURE_BLINK } from './indicator';
import { createGuard, errorText } from './guard';
import { createReporter, Reporter, RouteStatus } from './reporter';
import { createAlarmRunner, AlarmRunner, AlarmState } from './alarm';
import { createInputMonitor, InputMonitor } from './monitors';
import { CID } from './events';
import { createRecorder, Recorder } from './recorder';
import { sealKeys, SealKeys } from './seal';
import { createUploader, Uploader } from './uploader';
import { createServiceWatch, ServiceWatch } from './service';
import { FIRMWARE_VERSION } from './version';
import { createInstaller, Installer } from './installer';
import { createFlashStore, FlashStore } from './flash-store';
import { readStoredConfig } from './stored-config';
import type { RecordStore } from '../hal/types';


/** Journal sizing for internal flash (see docs/journal.md). */
export const JOURNAL_SEGMENT_BYTES = 2048;
export const JOURNAL_SEGMENTS = 4;

/** Why the unit restarted itself (a hung loop, a fault), kept across the reboot (docs/faults.md). */
export const RESET_RECORD = 'rst.json';
/** At most this many restarts for faults per hour; after that the unit limps on and reports 300 zone 9. */
const FAULT_RESTARTS = 3;
/** Memory pressure: fewer free variables than 1/16 of the heap sheds non-critical work. */
const LOW_MEMORY_PART = 16;
/** Contact ID 305 zone per reset cause (docs/reporting.md). */
const RESET_ZONE: { [cause: string]: number } = { power: 1, watchdog: 2, software: 3 };

/** How often the battery is measured, ms. */
const BATTERY_POLL_MS = 60000;
/** A low battery must persist over this many readings before it is reported. */
const BATTERY_SETTLE_MS = 3 * BATTERY_POLL_MS;
/** Hysteresis above the low threshold before a battery restore, V. */
const BATTERY_HYST_V = 0.2;

export interface AppStatus {
  /** `alarm` while an alarm is active (it restores after `alarmS`). */
  mode: 'idle' | 'alarm';
  /** A cancel or duress gesture was made during the active alarm. */
  cancelled: boolean;
  /** Qualifying presses recognised since boot. */
  triggers: number;
  /** Exceptions caught at callback boundaries since boot. */
  faults: number;
  /** Events journalled but not yet acknowledged. */
  pending: number;
  /** Frames waiting for a receiver's reply. */
  inflight: number;
  routes: RouteStatus[];
  /** Reporting without encryption (lab only). */
  insecure: boolean;
  /** Id of the recording in progress, '' when none. */
  recording: string;
  /** Recordings on the spool not yet fully uploaded. */
  stored: number;
}

export interface App {
  config(): Config;
  status(): AppStatus;
  journal: Journal;
  recorder: Recorder;
  /** Absent until an evidence server is configured. */
  uploader?: Uploader;
  service: ServiceWatch;
  /** Stop every timer and watch (tests and a clean restart use it). */
  stop(): void;
}

/** Was an alarm still active when the unit last stopped? (a panic without its restore) */
function alarmInJournal(records: JournalRecord[], panicCode: number): boolean {
  let active = false;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r.k === 'ev' && r.c === panicCode) active = r.q === 1;
  }
  return active;
}

/**
 * The record store on the HAL's flash; a store that cannot be opened (its live records fill a
 * sector) is reported and replaced by one in RAM, so the unit still protects.
 */
export function openStore(hal: Hal): FlashStore | RecordStore {
  try {
    return createFlashStore(hal.storage.flash, hal.crypto);
  } catch (e) {
    hal.log.write('error', 'record store unreadable (' + errorText(e) + '): running on RAM only');
    return createRamStore();
  }
}

/** A record store in RAM only (when the flash store cannot be opened): lost at power-off. */
function createRamStore(): RecordStore {
  const w: { [k: string]: string } = {};
  const a: { [k: string]: string } = {};
  return {
    maxName: 28,
    read: function (n) {
      return w[n];
    },
    write: function (n, d) {
      w[n] = d;
    },
    erase: function (n) {
      delete w[n];
      delete a[n];
    },
    list: function (p) {
      const out: string[] = [];
      for (const k in w) if (k.indexOf(p) === 0) out.push(k);
      for (const k in a) if (k.indexOf(p) === 0 && out.indexOf(k) < 0) out.push(k);
      return out.sort();
    },
    free: function () {
      return 4096;
    },
    appendFile: function (n) {
      return {
        append: function (d: string) {
          a[n] = (a[n] || '') + d;
        },
        read: function () {
          return a[n] || '';
        },
        size: function () {
          return (a[n] || '').length;
        },
        erase: function () {
          delete a[n];
        }
      };
    }
  };
}

export function createApp(hal: Hal, given?: Config, store?: RecordStore): App {
  // Under memory pressure (`lean`) only errors and warnings are logged: text costs memory.
  let lean = false;
  const log = {
    write: function (level: LogLevel, message: string) {
      if (!lean || level === 'error' || level === 'warn') hal.log.write(level, message);
    }
  };
  let onFault = function (where: string, e: unknown) {
    void where;
    void e;
  };
  const guard = createGuard(log, function (where: string, e: unknown) {
    onFault(where, e);
  });
  const clock = hal.clock;
  // Input callbacks are wrapped one by one (guard.wrap); an exception anywhere else (a timer, a
  // socket, the microphone) reaches the event loop, and the HAL hands it here: one handler, no
  // wrapper per callback (each would cost RAM on the device).
  hal.system.onUncaught(function (e: unknown) {
    log.write('error', 'uncaught: ' + errorText(e));
    onFault('callback', e);
  });
  // The journal, the config and the state records: the log-structured store on raw flash.
  const records: RecordStore = store || openStore(hal);
  // Why the last boot happened, if the firmware caused it: kept in flash across the restart.
  let lastWhy = '';
  let restarts: number[] = [];
  try {
    const r = JSON.parse(records.read(RESET_RECORD) || 'null');
    if (r && typeof r.why === 'string') lastWhy = r.why;
    if (r && r.h instanceof Array) restarts = r.h;
  } catch (e) {
    // an unreadable record: no reason known
  }
  if (lastWhy !== '') records.write(RESET_RECORD, JSON.stringify({ why: '', h: restarts }));
  /** Keep `why` for the next boot's 305 and journal (before a deliberate restart or reset). */
  function condemn(why: string): void {
    try {
      records.write(RESET_RECORD, JSON.stringify({ why: why, h: restarts }));
    } catch (e) {
      log.write('error', 'cannot keep the reset reason');
    }
  }

  let rejected = '';
  let config: Config | undefined;
  if (given !== undefined) {
    const problems = checkConfig(given, hal.system.audioBytes);
    if (problems.length === 0) config = given;
    else rejected = problemCodes(problems);
  }
  if (config === undefined) config = readStoredConfig(records, hal.system.audioBytes).config || undefined;
  if (config === undefined) config = defaultConfig();
  const cfg: Config = config;

  let reporter: Reporter | undefined;
  const journal = createJournal(records, clock, hal.crypto, {
    segmentBytes: JOURNAL_SEGMENT_BYTES,
    maxSegments: JOURNAL_SEGMENTS,
    retain: function (records: JournalRecord[]) {
      if (reporter) return reporter.retain(records);
      // Before the reporter has read the journal: keep every event and reservation.
      const keep: JournalRecord[] = [];
      for (let i = 0; i < records.length; i++) if (records[i].k === 'ev' || records[i].k === 'sq') keep.push(records[i]);
      return keep;
    }
  });
  // Lines the journal could not read, and records the flash store found damaged (not torn by a
  // power cut): reported once (300 zone 8).
  const corrupt = journal.corruptAtOpen() + ((records as FlashStore).stats ? (records as FlashStore).stats().damaged : 0);
  // Read once for the reporter and the alarm; released after boot (closures keep their scope).
  let history: JournalRecord[] = journal.records();
  const cause = hal.system.resetCause();
  journal.append('boot', {
    fw: FIRMWARE_VERSION,
    board: hal.system.board,
    cause: cause,
    why: lastWhy,
    unit: cfg.unitId
  });
  if (corrupt > 0) journal.append('jrn-bad', { lines: corrupt });
  if (rejected !== '') {
    log.write('error', 'config refused: ' + rejected);
    journal.append('cfg-bad', { why: rejected });
  }
  log.write('info', 'boot ' + FIRMWARE_VERSION + ' unit ' + cfg.unitId + ' on ' + hal.system.board);

  const indicator: IndicatorDriver = createIndicatorDriver(clock, hal.indicator);
  if (cfg.indicator.bootFlash) indicator.play(BOOT_FLASH);

  let triggers = 0;
  let alarm: AlarmRunner | undefined;
  const rep: Reporter = createReporter({
    clock: clock,
    crypto: hal.crypto,
    log: log,
    journal: journal,
    history: history,
    links: hal.links,
    config: cfg,
    onDelivered: guard.wrap('delivered', function (rec: JournalRecord) {
      if (alarm) alarm.dispatch({ type: 'delivered', code: rec.c as number, qualifier: rec.q as number });
      if (installer) installer.delivered(rec);
    })
  });
  reporter = rep;
  let insecure = false;
  for (let i = 0; i < cfg.report.receivers.length; i++) if (!cfg.report.receivers[i].key) insecure = true;
  if (insecure) journal.append('insecure', {});
  // 305 says why: zone 1 power-on, 2 watchdog, 3 the firmware restarted itself, 0 unknown; the
  // firmware's own reason as alarm text (printable characters only, never a secret).
  // A corrupt journal record was skipped at open: tell the centre (300 zone 8), once per boot.
  if (corrupt > 0) rep.report(CID.TROUBLE, 1, 8);
  const whyText = (cause === 'watchdog' && lastWhy === '' ? 'main loop blocked' : lastWhy).replace(/[^A-Za-z0-9 :.,_-]/g, ' ').substr(0, 48);
  rep.report(CID.RESET, 1, RESET_ZONE[cause] || 0, whyText ? 'I' + cause + ': ' + whyText : undefined);

  let recorder: Recorder | undefined;
  const report = guard.wrap('report', function (code: number, qualifier: number, zone: number) {
    // A panic or duress during a recording names it, so the operator can find the audio.
    const ref = recorder && qualifier === 1 && (code === cfg.report.panicCode || code === CID.DURESS) ? recorder.ref() : '';
    rep.report(code, qualifier, zone, ref ? 'V' + ref : undefined);
  });

  // The seal's keys: without an evidence key (not commissioned) nothing is recorded.
  const keys = cfg.evidence ? sealKeys(hal.crypto, cfg.evidence.key) : undefined;
  const rec: Recorder = createRecorder({
    clock: clock,
    crypto: hal.crypto,
    keys: keys,
    spool: hal.storage.spool,
    records: records,
    microphone: hal.microphone,
    log: log,
    unit: cfg.unitId,
    audio: cfg.audio,
    audioBytes: hal.system.audioBytes,
    report: report
  });
  recorder = rec;
  let uploader: Uploader | undefined;
  if (cfg.evidence) {
    uploader = createUploader({
      clock: clock,
      crypto: hal.crypto,
      spool: hal.storage.spool,
      links: hal.links,
      log: log,
      unit: cfg.unitId,
      evidence: cfg.evidence,
      keys: keys as SealKeys,
      recorder: rec,
      busy: function () {
        return rep.inflight() > 0;
      },
      lean: function () {
        return lean;
      }
    });
  } else if (rec.states().length > 0) {
    log.write('warn', 'recordings are waiting on the spool: no evidence server is configured');
  }

  const resumed: AlarmState | undefined = alarmInJournal(history, cfg.report.panicCode)
    ? { mode: 'alarm', cancelled: false, taps: 0 }
    : undefined;
  history = [];
  if (resumed) log.write('warn', 'alarm still active from before the restart: resumed');
  const alarmRunner = createAlarmRunner(
    clock,
    {
      panicCode: cfg.report.panicCode,
      cancelTaps: cfg.gestures.cancelTaps,
      duressTaps: cfg.gestures.duressTaps,
      tapGapMs: cfg.gestures.tapGapMs,
      alarmMs: cfg.alarmS * 1000,
      confirm: cfg.indicator.confirm !== 'off'
    },
    {
      report: report,
      indicate: function (pattern: string) {
        if (pattern === 'confirm') indicator.play(ACK_BLINK);
        else if (pattern === 'gesture') indicator.play(GESTURE_BLINK);
        else indicator.off();
      },
      began: function () {
        log.write('info', 'alarm raised');
      },
      ended: function () {
        log.write('info', 'alarm ended (restore sent)');
      }
    },
    resumed
  );
  alarm = alarmRunner;

  let installer: Installer | undefined;
  const press: PressRunner = createPressRunner(
    clock,
    cfg.holdMs,
    guard.wrap('trigger', function (heldMs: number) {
      triggers++;
      log.write('info', 'panic: button held ' + Math.round(heldMs) + ' ms');
      // Recording first, so the panic report carries its reference.
      try {
        rec.begin(heldMs);
      } finally {
        alarmRunner.dispatch({ type: 'trigger' });
      }
    }),
    guard.wrap('tap', function () {
      alarmRunner.dispatch({ type: 'tap' });
    })
  );
  hal.button.onEdge(
    guard.wrap('button', function (pressed: boolean, atMs: number) {
      if (installer && installer.button(pressed, atMs)) return;
      press.edge(pressed, atMs);
    })
  );

  const inp = cfg.inputs;
  const monitors: InputMonitor[] = [];
  function monitor(code: number, settleMs: number): InputMonitor {
    const m = createInputMonitor(clock, settleMs, inp.perHour, function (active: boolean) {
      report(code, active ? 1 : 3, 0);
    });
    monitors.push(m);
    return m;
  }
  const mains = monitor(CID.MAINS, inp.mainsDelayS * 1000);
  const tamper = monitor(CID.TAMPER, inp.tamperMs);
  const battery = monitor(CID.BATTERY, BATTERY_SETTLE_MS);
  hal.power.onMainsChange(
    guard.wrap('mains', function (present: boolean) {
      mains.set(!present);
    })
  );
  hal.tamper.onChange(
    guard.wrap('tamper', function (open: boolean) {
      tamper.set(open);
    })
  );
  const checkBattery = guard.wrap('battery', function () {
    const v = hal.power.batteryVolts();
    if (v < inp.lowBatteryV) battery.set(true);
    else if (v >= inp.lowBatteryV + BATTERY_HYST_V) battery.set(false);
  });
  mains.set(!hal.power.mainsPresent());
  tamper.set(hal.tamper.isOpen());
  checkBattery();
  const batteryTimer = clock.every(BATTERY_POLL_MS, checkBattery);

  const service: ServiceWatch = createServiceWatch(clock, records, cfg.service, report);

  let stopAll = function () {};
  const inst: Installer = createInstaller({
    hal: hal,
    records: records,
    config: cfg,
    reporter: rep,
    recorder: rec,
    journal: journal,
    blink: function (p) {
      indicator.play(p);
    },
    halt: function () {
      stopAll();
    }
  });
  installer = inst;

  // Faults: journal it; the state may be corrupt, so restart cleanly (the journal resumes any alarm
  // and recording), at most FAULT_RESTARTS an hour; past that, limp on and say so (300 zone 9).
  let limping = false;
  let restarting = false;
  /**
   * May the firmware reset the unit again (a fault restart or a hung loop)? At most
   * FAULT_RESTARTS an hour, counted across boots in `rst.json`; past that the unit limps on and
   * says so once (300 zone 9), so a broken part cannot keep it rebooting instead of protecting.
   */
  function mayRestart(): boolean {
    const now = clock.wall();
    const recent: number[] = [];
    for (let i = 0; i < restarts.length; i++) if (now - restarts[i] < 3600000 && restarts[i] <= now) recent.push(restarts[i]);
    restarts = recent;
    if (restarts.length < FAULT_RESTARTS) {
      restarts.push(now);
      return true;
    }
    if (!limping) {
      limping = true;
      log.write('error', 'restarts exhausted this hour: continuing');
      report(CID.TROUBLE, 1, 9);
    }
    return false;
  }
  onFault = function (where: string, e: unknown) {
    // One restart is enough: faults after it is asked for (the same bug firing again) are counted.
    if (restarting) return;
    try {
      journal.append('fault', { w: where, e: errorText(e).substr(0, 80) });
    } catch (e2) {
      log.write('error', 'cannot journal the fault');
    }
    if (mayRestart()) {
      restarting = true;
      condemn('fault in ' + where + ': ' + errorText(e));
      log.write('error', 'restarting after a fault in ' + where);
      hal.system.restart();
    }
  };

  // The watchdog is kicked only while every main loop is healthy: the reporter's frames get their
  // replies or time out, and the microphone delivers blocks. A hung loop stops the kicks, and the
  // hardware resets the unit with the reason kept for the next boot's 305.
  let condemned = '';
  let micWatched = true;
  hal.watchdog.enable(cfg.watchdogS);
  const kickTimer = clock.every(
    1000,
    guard.wrap('watchdog', function () {
      if (condemned !== '') return;
      let hung = rep.stuck();
      const quiet = rec.silentFor();
      if (hung !== '') hung = 'reporter: ' + hung + ' frame never answered';
      else if (micWatched && quiet > 10000) hung = 'microphone: no audio for ' + Math.round(quiet / 1000) + ' s';
      if (hung !== '' && !mayRestart()) {
        // Restarts have not cured it: keep protecting without that loop's check (the alarm path
        // does not need the microphone).
        if (hung.indexOf('microphone') === 0) micWatched = false;
        hung = '';
      }
      if (hung !== '') {
        condemned = hung;
        log.write('error', 'hung: ' + hung + '; letting the watchdog reset the unit');
        journal.append('hung', { w: hung });
        condemn('hung ' + hung);
        return;
      }
      const mem = hal.system.memory();
      const free = mem.free;
      if ((free < mem.total / LOW_MEMORY_PART) !== lean) {
        lean = !lean;
        log.write('warn', lean ? 'memory low (' + free + ' free): uploading one chunk at a time, logging errors only' : 'memory recovered');
      }
      hal.watchdog.kick();
    })
  );

  stopAll = function () {
    inst.stop();
    if (uploader) uploader.stop();
    rec.stop();
    clock.cancel(kickTimer);
    clock.cancel(batteryTimer);
    service.stop();
    for (let i = 0; i < monitors.length; i++) monitors[i].stop();
    press.stop();
    alarmRunner.stop();
    rep.stop();
    indicator.off();
    hal.button.close();
  };

  return {
    config: function () {
      return cfg;
    },
    status: function () {
      const a = alarmRunner.state();
      return {
        mode: a.mode,
        cancelled: a.cancelled,
        triggers: triggers,
        faults: guard.count(),
        pending: rep.pending(),
        inflight: rep.inflight(),
        routes: rep.routes(),
        insecure: insecure,
        recording: rec.status().recording || '',
        stored: rec.states().length
      };
    },
    journal: journal,
    recorder: rec,
    uploader: uploader,
    service: service,
    stop: function () {
      stopAll();
    }
  };
}
