/**
 * The Espruino Pico (STM32F401, no radio of its own, no native AES in its build): a build target
 * only (docs/hardware.md). The cellular modem on Serial2 (A2 TX, A3 RX, power key B4); the button
 * active-high on B12, the tamper switch on B13; its audio spool is a bounded area of Storage (no card),
 * so its ring is all RAM.
 */
import type { Crypto, FlashArea, Hal } from '../../types';
import { aesCbcDecrypt, aesCbcEncrypt } from '../aes';
import { createCellularLink } from '../cellular';
import { createEspruinoCrypto } from '../crypto';
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
import { createStorageSpool } from '../storage';

export function createBoardCrypto(): Crypto {
  return createEspruinoCrypto({ encrypt: aesCbcEncrypt, decrypt: aesCbcDecrypt });
}

export function createBoardHal(settings: DeviceSettings, made: { flash: FlashArea; crypto: Crypto }): Hal {
  const clock = createDeviceClock();
  return {
    clock: clock,
    button: createPinButton('B12', true, 25, clock.now),
    indicator: { led: createPinOutput('B2') },
    microphone: createWaveformMic(clock, 'A5'),
    power: createPinPower('A6', 'A7', 2),
    tamper: createPinTamper('B13'),
    storage: { flash: made.flash, code: deviceCodeArea(made.crypto), spool: createStorageSpool(8 * 1024) },
    links: {
      cellular: createCellularLink(
        clock,
        settings.apn || 'internet',
        modemIo({ serial: 'Serial2', tx: 'A2', rx: 'A3', powerKey: 'B4', baud: 115200 })
      )
    },
    crypto: made.crypto,
    watchdog: deviceWatchdog,
    log: deviceLog,
    system: deviceSystem('PICO_R1_3', stm32ResetCause(), 16000, deviceRestart),
    console: createDeviceConsole()
  };
}
