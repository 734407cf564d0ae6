/**
 * The boot's parts (firmware/app.ts): each runs in `part`, whose failure is logged and journalled
 * and takes nothing else down. Running out of memory does not throw on the board: 2v29 interrupts
 * the boot where it is and no catch runs, so a boot that has not reached `done` by the next turn
 * says so (logged, journalled, and 300 zone 6 to the centre; docs/faults.md).
 */
import type { Clock, LogSink } from '../hal/types';
import type { RecordSink } from './journal';
import { errorText } from './guard';
import { CID } from './events';

/** 300 zone 6: the boot stopped before its end. */
export const BOOT_CUT_ZONE = 6;

export interface Boot {
  /** Run `make` as the boot part `name`: its value, or undefined (logged and journalled) if it throws. */
  part<T>(name: string, make: () => T): T | undefined;
  /** The boot reached its end. */
  done(): void;
}

/**
 * `journal`: the journal is itself a part of the boot; `report`: to the centre. A boot
 * that has not reached `done` by the next turn was cut short.
 */
export function createBoot(
  clock: Clock,
  log: LogSink,
  journal: RecordSink,
  report: (code: number, qualifier: number, zone: number) => void
): Boot {
  /** The part running ('' once the boot is done). */
  let stage = 'start';
  /** Journal that the part `name` failed (`why`), if the journal can take it. */
  function failed(name: string, why: string): void {
    try {
      journal('boot-fail', { w: name, e: why.substr(0, 60) });
    } catch (e) {
      // the journal itself
    }
  }
  function part<T>(name: string, make: () => T): T | undefined {
    stage = name;
    try {
      return make();
    } catch (e) {
      const why = errorText(e);
      log.write('error', name + ' failed at boot: ' + why);
      failed(name, why);
      return undefined;
    }
  }
  clock.after(0, function () {
    if (stage === '') return;
    log.write('error', 'boot cut short in ' + stage);
    failed(stage, 'interrupted');
    report(CID.TROUBLE, 1, BOOT_CUT_ZONE);
  });
  return {
    part: part,
    done: function () {
      stage = '';
    }
  };
}
