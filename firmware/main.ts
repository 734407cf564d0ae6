/**
 * Device entry point: the build bundles this with hal/espruino for one board (`__BOARD__`).
 * Network credentials are read from the stored config before the HAL starts its bearers; the rest
 * of the config is read and validated by `createApp`.
 */
import { createEspruinoHal, DeviceSettings } from '../hal/espruino/index';
import { createApp, CONFIG_RECORD } from './app';

function deviceSettings(): DeviceSettings {
  try {
    // The same fallback as readStoredConfig: a verified cfg.new if the switch to cfg.json was cut.
    const S = global.require('Storage');
    let c = undefined;
    try {
      c = JSON.parse(S.read(CONFIG_RECORD) || 'null');
    } catch (e) {
      c = undefined;
    }
    if (!c) c = JSON.parse(S.read('cfg.new') || 'null');
    if (c && c.network) return { wifi: c.network.wifi, apn: c.network.apn };
  } catch (e) {
    // an unreadable config: no network settings; createApp reports the config itself
  }
  return {};
}

function start(): void {
  try {
    createApp(createEspruinoHal(deviceSettings()));
  } catch (e) {
    // Nothing must stop the unit for good: report, and try the whole boot again shortly.
    console.log('error boot failed: ' + ((e && (e as Error).message) || String(e)));
    setTimeout(start, 30000);
  }
}

start();
