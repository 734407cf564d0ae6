/**
 * Device entry point: the build bundles this with the composition file of one board
 * (hal/espruino/boards/<board>.ts, for `../hal/espruino/board`) and the drivers it names.
 * The record store (on raw flash, not Storage) is opened first, so the network credentials of the
 * stored config reach the HAL before it starts its bearers; `createApp` gets the same store.
 */
// The board being built: the build resolves this to its composition file (hal/espruino/boards/).
import { createBoardHal, createBoardCrypto } from '../hal/espruino/board';
import { deviceFlash } from '../hal/espruino/index';
import type { DeviceSettings } from '../hal/espruino/index';
import type { RecordStore } from '../hal/types';
import { createApp } from './app';
import { createFlashStore } from './flash-store';
import { readStoredConfig } from './stored-config';
import { installerModule } from './installer-module';

function start(): void {
  try {
    const made = { flash: deviceFlash(), crypto: createBoardCrypto() };
    let store: RecordStore | undefined;
    let settings: DeviceSettings = {};
    try {
      store = createFlashStore(made.flash, made.crypto);
      // Only the network settings, before the HAL: the app checks the whole config (its module).
      const c = readStoredConfig(store).config;
      if (c && c.network) settings = { wifi: c.network.wifi, apn: c.network.apn };
    } catch (e) {
      // An unreadable store: createApp opens it again and reports it (a store in RAM then).
      store = undefined;
    }
    const hal = createBoardHal(settings, made);
    // The Linux interpreter maps no flash: a module evaluated from its flash file is copied whole
    // into RAM, every function body with it, where the board keeps them in flash. So the LINUX
    // profile links the module into its image, as before the module existed (docs/footprint.md).
    if (__BOARD__ === 'LINUX') {
      hal.storage.code = {
        size: 0,
        load: function () {
          return installerModule;
        },
        write: function () {
          throw new Error('the LINUX image links its installer module');
        }
      };
    }
    createApp(hal, undefined, store);
  } catch (e) {
    // Nothing must stop the unit for good: report, and try the whole boot again shortly.
    console.log('error boot failed: ' + ((e && (e as Error).message) || String(e)));
    setTimeout(start, 30000);
  }
}

start();
