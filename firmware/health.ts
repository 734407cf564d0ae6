/**
 * The unit's health policy (docs/faults.md): the hardware watchdog, kicked only while every main
 * loop is healthy; hung loops and faults turned into clean restarts, at most FAULT_RESTARTS an
 * hour, counted across boots in `rst.json`, with the reason kept for the next boot's 305; memory
 * pressure ("lean" mode); the reason for a reset as the boot reports it (305); the boot's parts,
 * each of which may fail alone, and a boot cut short (300 zone 6). The watchdog is armed as soon
 * as the unit boots, before anything that can fail: the loops it watches are registered as they
 * come up.
 */
import type { RecordSink } from './journal';
import type { Clock, LogSink, RecordStore, System, Watchdog } from '../hal/types';
import { errorText } from './guard';
import { CID } from './events';

/** Why the unit restarted itself (a hung loop, a fault), kept across the reboot. */
export const RESET_RECORD = 'rst.json';
/** At most this many restarts for faults per hour; after that the unit limps on and reports 300 zone 9. */
const FAULT_RESTARTS = 3;
/** 300 zone 6: the boot stopped before its end. */
export const BOOT_CUT_ZONE = 6;
/** Memory pressure: fewer free variables than 1/16 of the heap sheds non-critical work. */
const LOW_MEMORY_PART = 16;

/**
 * Report the reset to the centre as the boot does (305): zone 1 power-on, 2 watchdog, 3 the
 * firmware restarted itself, 0 unknown; with the firmware's own reason as alarm text (an `I`
 * block; printable characters only, never a secret) when there is one. A watchdog reset the
 * firmware did not ask for is a blocked main loop.
 */
export function resetReport(
  cause: string,
  lastWhy: string,
  report: (code: number, qualifier: number, zone: number, x?: string) => void
): void {
  const why = (cause === 'watchdog' && lastWhy === '' ? 'main loop blocked' : lastWhy)
    .replace(/[^A-Za-z0-9 :.,_-]/g, ' ')
    .substr(0, 48);
  // (Not a table: a module-level object stays in RAM for as long as the unit runs.)
  const zone = cause === 'power' ? 1 : cause === 'watchdog' ? 2 : cause === 'software' ? 3 : 0;
  report(CID.RESET, 1, zone, why ? 'I' + cause + ': ' + why : undefined);
}

export interface HealthDeps {
  clock: Clock;
  log: LogSink;
  records: RecordStore;
  watchdog: Watchdog;
  system: System;
  watchdogS: number;
  journal: RecordSink;
  /** Report to the centre (300 zone 9 when restarts are exhausted, 300 zone 6 for a boot cut short). */
  report(code: number, qualifier: number, zone: number): void;
}

/** A main loop the watchdog checks: why it is hung ('' when healthy). */
export type LoopCheck = () => string;

export interface Health {
  /** The firmware's reason for the last restart ('' when it did not cause it). */
  readonly lastWhy: string;
  /** Watch a main loop from now on. */
  watch(check: LoopCheck, name: string): void;
  /** An exception at a callback boundary: journal it and restart cleanly if the budget allows. */
  fault(where: string, e: unknown): void;
  /**
   * Run `make` as the boot part `name` (firmware/app.ts): its value, or undefined if it throws,
   * logged and journalled (`boot-fail`), so that a part that fails takes nothing else down. Running
   * out of memory does not throw on the board: 2v29 interrupts the boot where it is and no catch
   * runs. So a boot that has not called `booted` by the next turn says where it stopped: logged,
   * journalled, and 300 zone 6 to the centre (docs/faults.md).
   */
  part<T>(name: string, make: () => T): T | undefined;
  /** The boot reached its end. */
  booted(): void;
  /** Memory is short: shed non-critical work. */
  lean(): boolean;
  stop(): void;
}

export function createHealth(d: HealthDeps): Health {
  const clock = d.clock;
  const log = d.log;
  let lastWhy = '';
  let restarts: number[] = [];
  try {
    const r = JSON.parse(d.records.read(RESET_RECORD) || 'null');
    if (r && typeof r.why === 'string') lastWhy = r.why;
    if (r && r.h instanceof Array) restarts = r.h;
  } catch (e) {
    // an unreadable record: no reason known
  }
  try {
    if (lastWhy !== '') d.records.write(RESET_RECORD, JSON.stringify({ why: '', h: restarts }));
  } catch (e) {
    log.write('error', 'cannot clear the reset reason');
  }

  /** Keep `why` for the next boot's 305 and journal (before a deliberate restart or reset). */
  function condemn(why: string): void {
    try {
      d.records.write(RESET_RECORD, JSON.stringify({ why: why, h: restarts }));
    } catch (e) {
      log.write('error', 'cannot keep the reset reason');
    }
  }

  let limping = false;
  let restarting = false;
  /**
   * May the firmware reset the unit again (a fault restart or a hung loop)? At most
   * FAULT_RESTARTS an hour; past that the unit limps on and says so once (300 zone 9), so a
   * broken part cannot keep it rebooting instead of protecting.
   */
  function mayRestart(): boolean {
    const now = clock.wall();
    const recent: number[] = [];
    for (let i = 0; i < restarts.length; i++)
      if (now - restarts[i] < 3600000 && restarts[i] <= now) recent.push(restarts[i]);
    restarts = recent;
    if (restarts.length < FAULT_RESTARTS) {
      restarts.push(now);
      return true;
    }
    if (!limping) {
      limping = true;
      log.write('error', 'restarts exhausted this hour: continuing');
      d.report(CID.TROUBLE, 1, 9);
    }
    return false;
  }

  /** The boot part running ('' once the boot is done). */
  let stage = 'start';
  /** Journal that the boot part `name` failed (`why`), if the journal can take it. */
  function failed(name: string, why: string): void {
    try {
      d.journal('boot-fail', { w: name, e: why.substr(0, 60) });
    } catch (e) {
      // the journal itself
    }
  }
  clock.after(0, function () {
    if (stage === '') return;
    log.write('error', 'boot cut short in ' + stage);
    failed(stage, 'interrupted');
    d.report(CID.TROUBLE, 1, BOOT_CUT_ZONE);
  });

  const checks: LoopCheck[] = [];
  const names: string[] = [];
  let condemned = '';
  let lean = false;
  d.watchdog.enable(d.watchdogS);
  const kickTimer = clock.every(1000, function () {
    if (condemned !== '') return;
    let hung = '';
    for (let i = 0; i < checks.length && hung === ''; i++) {
      const why = checks[i]();
      if (why === '') continue;
      if (mayRestart()) hung = names[i] + ': ' + why;
      else {
        // Restarts have not cured it: keep protecting without that loop's check.
        checks.splice(i, 1);
        names.splice(i, 1);
        i--;
      }
    }
    if (hung !== '') {
      condemned = hung;
      log.write('error', 'hung: ' + hung + '; letting the watchdog reset the unit');
      d.journal('hung', { w: hung });
      condemn('hung ' + hung);
      return;
    }
    const mem = d.system.memory();
    if (mem.free < mem.total / LOW_MEMORY_PART !== lean) {
      lean = !lean;
      // Lean mode: one chunk per upload, errors only in the log (docs/faults.md).
      log.write('warn', lean ? 'memory low (' + mem.free + ' free): lean mode' : 'memory recovered');
    }
    d.watchdog.kick();
  });

  return {
    lastWhy: lastWhy,
    watch: function (check: LoopCheck, name: string) {
      checks.push(check);
      names.push(name);
    },
    fault: function (where: string, e: unknown) {
      // One restart is enough: faults after it is asked for (the same bug firing again) are counted.
      if (restarting) return;
      try {
        d.journal('fault', { w: where, e: errorText(e).substr(0, 80) });
      } catch (e2) {
        log.write('error', 'cannot journal the fault');
      }
      if (mayRestart()) {
        restarting = true;
        condemn('fault in ' + where + ': ' + errorText(e));
        log.write('error', 'restarting after a fault in ' + where);
        d.system.restart();
      }
    },
    part: function <T>(name: string, make: () => T): T | undefined {
      stage = name;
      try {
        return make();
      } catch (e) {
        const why = errorText(e);
        log.write('error', name + ' failed at boot: ' + why);
        failed(name, why);
        return undefined;
      }
    },
    booted: function () {
      stage = '';
    },
    lean: function () {
      return lean;
    },
    stop: function () {
      clock.cancel(kickTimer);
    }
  };
}
