/**
 * The record store the unit boots on: the one on the HAL's flash (firmware/flash-store.ts) or, when
 * that cannot be opened, one in RAM, so the unit still protects (what is written is lost at
 * power-off, and the boot says so).
 */
import type { Hal, RecordStore } from '../hal/types';
import { createFlashStore, FlashStore } from './flash-store';
import { errorText } from './guard';

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
export function createRamStore(): RecordStore {
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
