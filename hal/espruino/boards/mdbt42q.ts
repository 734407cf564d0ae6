/**
 * The MDBT42Q (nRF52832): a build target only, with no Wi-Fi, no modem and no native AES in its
 * build (docs/hardware.md). Button active-low on D0, LED D1, microphone D31, mains D2, battery
 * D30 (2:1), tamper D3; its audio spool is a bounded area of Storage.
 */
import type { Crypto, FlashArea, Hal } from '../../types';
import { aesCbcDecrypt, aesCbcEncrypt } from '../aes';
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
  deviceWatchdog
} from '../index';
import { createStorageSpool } from '../storage';

export function createBoardCrypto(): Crypto {
  return createEspruinoCrypto({ encrypt: aesCbcEncrypt, decrypt: aesCbcDecrypt });
}

export function createBoardHal(_settings: DeviceSettings, made: { flash: FlashArea; crypto: Crypto }): Hal {
  const clock = createDeviceClock();
  return {
    clock: clock,
    button: createPinButton('D0', false, 25, clock.now),
    indicator: { led: createPinOutput('D1') },
    microphone: createWaveformMic(clock, 'D31'),
    power: createPinPower('D2', 'D30', 2),
    tamper: createPinTamper('D3'),
    storage: { flash: made.flash, code: deviceCodeArea(made.crypto), spool: createStorageSpool(8 * 1024) },
    links: {},
    crypto: made.crypto,
    watchdog: deviceWatchdog,
    log: deviceLog,
    system: deviceSystem('MDBT42Q', 'unknown', 8000, deviceRestart),
    console: createDeviceConsole()
  };
}
