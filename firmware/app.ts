/**
 * The unit. `createApp(hal, config)` boots it on whatever HAL it is given: the Espruino board
 * (firmware/main.ts) or the Node simulator (sim/, test/).
 *
 * Boot order matters and is the same on every boot: guard → config → journal (+ boot record) →
 * indicator → button → watchdog. The journal is open before the button is watched, so a press in
 * the first moments after power-up is never lost.
 */
import type { Hal } from '../hal/types';
import { Config, defaultConfig, validateConfig, describeProblems } from './config';
import { createJournal, Journal } from './journal';
import { createPressRunner, PressRunner } from './press';
import { createIndicatorDriver, IndicatorDriver, BOOT_FLASH, TRIGGER_GLOW } from './indicator';
import { createGuard } from './guard';
import { FIRMWARE_VERSION } from './version';

/** Record name of the stored config in internal flash. */
export const CONFIG_RECORD = 'cfg.json';

/** Journal sizing for internal flash (see docs/journal.md). */
export const JOURNAL_SEGMENT_BYTES = 4096;
export const JOURNAL_SEGMENTS = 4;

export interface AppStatus {
  /** `alarm` once a qualifying press has been recognised this boot. */
  mode: 'idle' | 'alarm';
  /** Qualifying presses recognised since boot. */
  triggers: number;
  /** Exceptions caught at callback boundaries since boot. */
  faults: number;
}

export interface App {
  config(): Config;
  status(): AppStatus;
  journal: Journal;
  /** Stop every timer and watch (tests and a clean restart use it). */
  stop(): void;
}

/** Read the stored config; `undefined` when absent or unusable. */
export function readStoredConfig(hal: Hal): Config | undefined {
  const text = hal.storage.records.read(CONFIG_RECORD);
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return undefined;
  }
  return validateConfig(parsed).length === 0 ? (parsed as Config) : undefined;
}

export function createApp(hal: Hal, given?: Config): App {
  const log = hal.log;
  const clock = hal.clock;
  const guard = createGuard(log, function () {
    // Issue #6 decides on restart-on-corruption; for now a fault is logged and counted.
  });

  let rejected = '';
  let config: Config | undefined;
  if (given !== undefined) {
    const problems = validateConfig(given);
    if (problems.length === 0) config = given;
    else rejected = describeProblems(problems);
  }
  if (config === undefined) config = readStoredConfig(hal);
  if (config === undefined) config = defaultConfig();
  const cfg: Config = config;

  const journal = createJournal(hal.storage.records, clock, hal.crypto, {
    segmentBytes: JOURNAL_SEGMENT_BYTES,
    maxSegments: JOURNAL_SEGMENTS
  });
  const corrupt = journal.corruptAtOpen();
  journal.append('boot', {
    fw: FIRMWARE_VERSION,
    board: hal.system.board,
    cause: hal.system.resetCause(),
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

  let mode: 'idle' | 'alarm' = 'idle';
  let triggers = 0;

  const press: PressRunner = createPressRunner(
    clock,
    cfg.holdMs,
    guard.wrap('trigger', function (heldMs: number) {
      triggers++;
      mode = 'alarm';
      journal.append('panic', { held: Math.round(heldMs) });
      log.write('info', 'panic: button held ' + Math.round(heldMs) + ' ms');
      indicator.play(TRIGGER_GLOW);
    })
  );
  hal.button.onEdge(
    guard.wrap('button', function (pressed: boolean, atMs: number) {
      press.edge(pressed, atMs);
    })
  );

  hal.watchdog.enable(cfg.watchdogS);
  const kickTimer = clock.every(
    1000,
    guard.wrap('watchdog', function () {
      hal.watchdog.kick();
    })
  );

  return {
    config: function () {
      return cfg;
    },
    status: function () {
      return { mode: mode, triggers: triggers, faults: guard.count() };
    },
    journal: journal,
    stop: function () {
      clock.cancel(kickTimer);
      press.stop();
      indicator.off();
      hal.button.close();
    }
  };
}

