/**
 * The Espruino WiFi (STM32F411 + ESP8266): its pins (docs/hardware.md has the whole map, checked
 * against the board's description) and its drivers. Serial2 (A2/A3) belongs to the ESP8266, so the
 * cellular modem sits on Serial1 (B6 TX, B7 RX, power key B4) with the console held on USB; the
 * microSD card is on SPI2 (B13/B14/B15, CS B1); the button is active-low on B3, the tamper switch
 * on B8, the haptic motor on B10.
 */
import type { Crypto, FlashArea, Hal } from '../../types';
import { createCellularLink } from '../cellular';
import { createEspruinoCrypto } from '../crypto';
import { createEspWifiLink, EspIo } from '../esp8266';
import { createPinButton, createPinOutput, createPinPower, createPinTamper } from '../inputs';
import {
  DeviceSettings,
  createDeviceClock,
  createDeviceConsole,
  createWaveformMic,
  deviceCodeArea,
  deviceLog,
  deviceRestart,
  deviceSystem,
  deviceWatchdog,
  modemIo,
  stm32ResetCause
} from '../index';
import { createFsSpool } from '../storage';

export function createBoardCrypto(): Crypto {
  return createEspruinoCrypto();
}

/**
 * The ESP8266 as the board wires it (the board's `Wifi` module does the same, read from its
 * source): USART2 on A2/A3 with CTS on A15, CH_PD on A14 and A13 held high while on.
 */
function espIo(): EspIo {
  const gpio = new Pin('A13');
  const chPd = new Pin('A14');
  Serial2.setup(115200, { rx: new Pin('A3'), tx: new Pin('A2'), cts: new Pin('A15') } as unknown as {
    rx: Pin;
    tx: Pin;
  });
  return {
    port: Serial2,
    power: function (on: boolean) {
      digitalWrite(gpio, on ? 1 : 0);
      digitalWrite(chPd, on ? 1 : 0);
    }
  };
}

export function createBoardHal(settings: DeviceSettings, made: { flash: FlashArea; crypto: Crypto }): Hal {
  const clock = createDeviceClock();
  return {
    clock: clock,
    button: createPinButton('B3', false, 25, clock.now),
    indicator: { led: createPinOutput('B2'), haptic: createPinOutput('B10') },
    microphone: createWaveformMic(clock, 'A5'),
    // Mains on A6; the battery on A7 through a 2:1 divider.
    power: createPinPower('A6', 'A7', 2),
    tamper: createPinTamper('B8'),
    storage: {
      flash: made.flash,
      code: deviceCodeArea(made.crypto),
      spool: createFsSpool(settings.spoolBytes || 512 * 1024 * 1024, { sck: 'B13', miso: 'B14', mosi: 'B15', cs: 'B1' })
    },
    links: {
      wifi: createEspWifiLink(clock, settings.wifi, espIo),
      cellular: createCellularLink(
        clock,
        settings.apn || 'internet',
        modemIo({ serial: 'Serial1', tx: 'B6', rx: 'B7', powerKey: 'B4', baud: 115200 })
      )
    },
    crypto: made.crypto,
    watchdog: deviceWatchdog,
    log: deviceLog,
    // The default ring's three RAM slots (12 KB; the pre-trigger audio waits on the card) and no
    // more; docs/evidence.md has the arithmetic.
    system: deviceSystem('ESPRUINOWIFI', stm32ResetCause(), 12000, deviceRestart),
    console: createDeviceConsole()
  };
}
