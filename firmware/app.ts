/**
 * The unit. `createApp(hal, config)` boots it on whatever HAL it is given: the Espruino board
 * (firmware/main.ts) or the Node simulator (sim/, test/). Wiring only: each behaviour is in the
 * module named for it.
 *
 * Boot order (the same on every boot): first what must work before anything that can fail, the
 * record store (or one in RAM), the config (or the factory one), the indicator, the button and the
 * watchdog (firmware/health.ts); then, each one in a `part` whose failure is logged and journalled
 * and takes nothing else down, the journal, the reporter (resumes undelivered events, reports the
 * reset), the recorder and uploader, the alarm machine (resumed if the journal shows one active;
 * holds recognised before it existed are given to it), the supervised inputs, the service period
 * and the installer's console.
 */
import type { Hal, LogLevel } from '../hal/types';
import type { Config } from './config';
import { createJournal, Journal, JournalRecord, RecordOf } from './journal';
import { createPressRunner, PressRunner } from './press';
import { createIndicatorDriver, IndicatorDriver, BOOT_FLASH, ACK_BLINK, GESTURE_BLINK, NO_REPORT } from './indicator';
import { createGuard, errorText, firstThen } from './guard';
import { createReporter, Reporter, RouteStatus } from './reporter';
import { createAlarmRunner, AlarmRunner, resumedAlarm } from './alarm';
import { superviseInputs } from './monitors';
import { createHealth, Health, resetReport, BOOT_CUT_ZONE } from './health';
import { CID } from './events';
import { createRecorder, Recorder, ringRoom } from './recorder';
import { sealKeys } from './seal';
import { createUploader, Uploader } from './uploader';
import { createServiceWatch, ServiceWatch } from './service';
import { FIRMWARE_VERSION } from './version';
import { createConsoleFront } from './console';
import type { FlashStore } from './flash-store';
import { createRamStore, openStore } from './store';
import { bootConfig } from './stored-config';
import type { RecordStore } from '../hal/types';

/** Journal sizing for internal flash (see docs/journal.md). */
export const JOURNAL_SEGMENT_BYTES = 2048;
export const JOURNAL_SEGMENTS = 4;

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
  /**
   * `false` while the unit can report to no one: no receiver configured, or every path rated
   * failed. It shows it (indicator `NO_REPORT`), journals it (`reach`) and keeps trying.
   */
  reach: boolean;
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

export function createApp(hal: Hal, given?: Config, store?: RecordStore): App {
  /** The health policy (firmware/health.ts), once it is armed below: the log and the guard made before it ask it. */
  let health: Health | undefined;
  // Under memory pressure (`lean`) only errors and warnings are logged: text costs memory.
  const log = {
    write: function (level: LogLevel, message: string) {
      if (!health || !health.lean() || level === 'error' || level === 'warn') hal.log.write(level, message);
    }
  };
  const guard = createGuard(log, function (where: string, e: unknown) {
    if (health) health.fault(where, e);
  });
  const clock = hal.clock;
  // Input callbacks are wrapped one by one (guard.wrap); an exception anywhere else (a timer, a
  // socket, the microphone) reaches the event loop, and the HAL hands it here: one handler, no
  // wrapper per callback (each would cost RAM on the device).
  hal.system.onUncaught(function (e: unknown) {
    log.write('error', 'uncaught: ' + errorText(e));
    if (health) health.fault('callback', e);
  });

  // 1. What must work before anything that can fail: the store (or one in RAM), the config (or the
  //    factory one), the indicator, the button and the watchdog.
  const records: RecordStore = store || openStore(hal);
  // The console, locked at once with the stored password; its installer module (loaded from its
  // own sector only while used) also holds the full config check.
  const front = createConsoleFront(hal, records, log, function () {
    if (!reporter || !journal) return undefined;
    return {
      hal: hal,
      records: records,
      config: cfg,
      reporter: reporter,
      recorder: recorder,
      journal: journal,
      blink: indicator.play,
      halt: function () {
        stopAll();
      }
    };
  });
  const picked = bootConfig(front, records, given, hal.system.audioBytes, log);
  const rejected = picked.rejected;
  let cfg: Config = picked.cfg;
  front.release();

  // Made below in order (journal, reporter, alarm, recorder); a callback made before one of them
  // checks that it exists.
  let journal: Journal | undefined;
  let reporter: Reporter | undefined;
  let alarm: AlarmRunner | undefined;
  let recorder: Recorder | undefined;
  function report(code: number, qualifier: number, zone: number, x?: string): void {
    if (reporter) reporter.report(code, qualifier, zone, x);
  }
  let triggers = 0;
  /** Holds recognised before the alarm machine exists (the boot is still going on). */
  let early = 0;

  const indicator: IndicatorDriver = createIndicatorDriver(clock, hal.indicator);
  const press: PressRunner = createPressRunner(
    clock,
    cfg.holdMs,
    guard.wrap('trigger', function (heldMs: number) {
      triggers++;
      log.write('info', 'panic: button held ' + Math.round(heldMs) + ' ms');
      // Recording first, so the panic report carries its reference; the alarm whatever happens.
      firstThen(
        clock,
        function () {
          if (recorder) recorder.begin(heldMs);
        },
        function () {
          if (alarm) alarm.dispatch({ type: 'trigger' });
          else early++;
        }
      );
    }),
    guard.wrap('tap', function () {
      if (alarm) alarm.dispatch({ type: 'tap' });
    })
  );
  hal.button.onEdge(
    guard.wrap('button', function (pressed: boolean, atMs: number) {
      const inst = front.installer();
      if (inst && inst.button(pressed, atMs)) return;
      press.edge(pressed, atMs);
    })
  );
  // A hold that began before this boot (across a power cut or a reset) has no edge of its own.
  if (hal.button.isPressed()) press.edge(true, clock.now());
  health = createHealth({
    clock: clock,
    log: log,
    records: records,
    watchdog: hal.watchdog,
    system: hal.system,
    watchdogS: cfg.watchdogS,
    journal: function (kind, fields) {
      if (journal) journal.append(kind, fields);
    },
    report: report
  });

  // Each later part of the boot may fail without taking the rest with it (firmware/health.ts).
  const part = health.part;

  // 2. The journal (in RAM if the store refuses it), the boot record, the reporter.
  const journalOptions = {
    segmentBytes: JOURNAL_SEGMENT_BYTES,
    maxSegments: JOURNAL_SEGMENTS,
    retain: function (all: JournalRecord[]) {
      if (reporter) return reporter.retain(all);
      // Before the reporter has read the journal: keep every event and reservation.
      const keep: JournalRecord[] = [];
      for (let i = 0; i < all.length; i++) if (all[i].k === 'ev' || all[i].k === 'sq') keep.push(all[i]);
      return keep;
    }
  };
  journal =
    part('journal', function () {
      return createJournal(records, clock, hal.crypto, journalOptions);
    }) || createJournal(createRamStore(), clock, hal.crypto, journalOptions);
  // Lines the journal could not read, and records the flash store found damaged (not torn by a
  // power cut): reported once (300 zone 8).
  const corrupt =
    journal.corruptAtOpen() + ((records as FlashStore).stats ? (records as FlashStore).stats().damaged : 0);
  // Read once for the reporter and the alarm; released after boot (closures keep their scope).
  let history: JournalRecord[] = part('history', journal.records) || [];
  const cause = hal.system.resetCause();
  const lastWhy = health.lastWhy;
  part('boot record', function () {
    journal.append('boot', {
      fw: FIRMWARE_VERSION,
      board: hal.system.board,
      cause: cause,
      why: lastWhy,
      unit: cfg.unitId
    });
    if (corrupt > 0) journal.append('jrn-bad', { lines: corrupt });
    if (rejected !== '') journal.append('cfg-bad', { why: rejected });
  });
  if (rejected !== '') log.write('error', 'config refused: ' + rejected);
  log.write('info', 'boot ' + FIRMWARE_VERSION + ' unit ' + cfg.unitId + ' on ' + hal.system.board);
  if (cfg.indicator.bootFlash) indicator.play(BOOT_FLASH);
  let reach = true;
  /** Whether anyone can be reported to: shown, journalled and logged at each change. */
  const reachable = function (ok: boolean): void {
    if (ok === reach) return;
    reach = ok;
    indicator.standing(ok ? undefined : NO_REPORT);
    log.write(
      ok ? 'info' : 'error',
      ok ? 'a receiver can be reached again' : 'no receiver can be reached: alarms are journalled and retried'
    );
    part('reach record', function () {
      journal.append('reach', { ok: ok ? 1 : 0 });
    });
  };
  // A unit with no receivers (uncommissioned, or a config that lost them) reports to no one.
  if (cfg.report.receivers.length === 0) reachable(false);

  reporter = part('reporter', function () {
    return createReporter({
      clock: clock,
      crypto: hal.crypto,
      log: log,
      journal: journal,
      history: history,
      links: hal.links,
      config: cfg,
      onDelivered: guard.wrap('delivered', function (r: RecordOf<'ev'>) {
        if (alarm) alarm.dispatch({ type: 'delivered', code: r.c as number, qualifier: r.q as number });
        const inst = front.installer();
        if (inst) inst.delivered(r);
      }),
      onReach: guard.wrap('reach', reachable)
    });
  });
  if (!reporter) {
    // Nothing can be sent: show it, restart (within the budget) and try again.
    reachable(false);
    health.fault('reporter', 'could not start');
  } else health.watch(reporter.stuck, 'reporter');
  let insecure = false;
  for (let i = 0; i < cfg.report.receivers.length; i++) if (!cfg.report.receivers[i].key) insecure = true;
  if (insecure)
    part('insecure record', function () {
      journal.append('insecure', {});
    });
  // A corrupt journal record was skipped at open: tell the centre (300 zone 8), once per boot.
  if (corrupt > 0) report(CID.TROUBLE, 1, 8);
  resetReport(cause, lastWhy, report);

  const alarmReport = guard.wrap('report', function (code: number, qualifier: number, zone: number) {
    // A panic or duress during a recording names it, so the operator can find the audio.
    const ref =
      recorder && qualifier === 1 && (code === cfg.report.panicCode || code === CID.DURESS) ? recorder.ref() : '';
    report(code, qualifier, zone, ref ? 'V' + ref : undefined);
  });

  // 3. The alarm machine (resumed if the journal shows one active), then the holds it missed.
  const resumed = resumedAlarm(history, cfg.report.panicCode);
  history = [];
  if (resumed) log.write('warn', 'alarm still active from before the restart: resumed');
  alarm = createAlarmRunner(
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
      report: alarmReport,
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
  for (; early > 0; early--) alarm.dispatch({ type: 'trigger' });

  // 4. The supervised inputs and the service period (the installer's console is up since step 1).
  const inputs = part('inputs', function () {
    return superviseInputs(clock, hal, cfg.inputs, alarmReport, guard.wrap);
  });
  const service: ServiceWatch | undefined = part('service', function () {
    return createServiceWatch(clock, records, cfg.service, alarmReport);
  });
  // 5. Evidence, last: the recorder (resuming a recording cut by a power loss) and the uploader.
  //    A card that is absent, full or unreadable costs the audio, never the alarm. Running out of
  //    memory (the ring and the microphone's buffers are the boot's largest allocations) does not
  //    throw on the board: 2v29 interrupts the boot where it is, and no catch runs. Everything the
  //    alarm needs is up by now, and a boot that stops here says so on the next turn (300 zone 6).
  const keys = cfg.evidence ? sealKeys(hal.crypto, cfg.evidence.key) : undefined;
  recorder = part('recorder', function () {
    const free = hal.system.memory().free;
    return createRecorder({
      clock: clock,
      crypto: hal.crypto,
      keys: keys,
      spool: hal.storage.spool,
      records: records,
      microphone: hal.microphone,
      log: log,
      unit: cfg.unitId,
      audio: cfg.audio,
      audioBytes: ringRoom(hal.system.audioBytes, free),
      freeVars: free,
      report: alarmReport
    });
  });
  // No recorder where there is a key to seal with (no memory for the ring, a microphone that
  // will not start): the unit protects without evidence, and the centre is told, as for a boot
  // cut short in this part (300 zone 6).
  if (!recorder && keys) alarmReport(CID.TROUBLE, 1, BOOT_CUT_ZONE);
  if (recorder) {
    health.watch(function () {
      const quiet = recorder.silentFor();
      return quiet > 10000 ? 'no audio for ' + Math.round(quiet / 1000) + ' s' : '';
    }, 'microphone');
  }
  let uploader: Uploader | undefined;
  if (cfg.evidence && recorder && keys) {
    const ev = cfg.evidence;
    uploader = part('uploader', function () {
      return createUploader({
        clock: clock,
        crypto: hal.crypto,
        spool: hal.storage.spool,
        links: hal.links,
        log: log,
        unit: cfg.unitId,
        evidence: ev,
        keys: keys,
        recorder: recorder,
        busy: function () {
          return !!reporter && reporter.inflight() > 0;
        },
        lean: health.lean,
        freeVars: function () {
          return hal.system.memory().free;
        }
      });
    });
  } else if (recorder && recorder.states().length > 0) {
    log.write('warn', 'recordings wait on the card: no evidence server configured');
  }

  function stopAll(): void {
    front.stop();
    if (uploader) uploader.stop();
    if (recorder) recorder.stop();
    if (health) health.stop();
    if (inputs) inputs.stop();
    if (service) service.stop();
    press.stop();
    if (alarm) alarm.stop();
    if (reporter) reporter.stop();
    indicator.standing(undefined);
    indicator.off();
    hal.button.close();
  }

  health.booted();
  return {
    config: function () {
      return cfg;
    },
    status: function () {
      const a = alarm.state();
      return {
        mode: a.mode,
        cancelled: a.cancelled,
        triggers: triggers,
        faults: guard.count(),
        pending: reporter ? reporter.pending() : 0,
        inflight: reporter ? reporter.inflight() : 0,
        routes: reporter ? reporter.routes() : [],
        insecure: insecure,
        reach: reach,
        recording: recorder ? recorder.status().recording || '' : '',
        stored: recorder ? recorder.states().length : 0
      };
    },
    journal: journal,
    recorder: recorder as Recorder,
    uploader: uploader,
    service: service as ServiceWatch,
    stop: stopAll
  };
}
