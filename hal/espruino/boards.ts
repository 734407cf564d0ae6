/**
 * Board profiles: which pin does what, and which bearers and storage a board has. The build picks
 * one with `__BOARD__`; the rest of hal/espruino reads only the profile.
 *
 * Pin choices follow each board's pinout (docs/hardware.md has the Espruino WiFi's whole map).
 * On the Espruino WiFi, Serial2 (A2/A3) belongs to its ESP8266, so the cellular modem sits on
 * Serial1 (B6 TX, B7 RX) with the console held on USB, and the microSD card on SPI2 (B13/B14/B15,
 * CS B1); the tamper switch is on B8. On the Pico the modem sits on Serial2 (A2 TX, A3 RX). The
 * power key is B4 on both.
 */

export interface BoardProfile {
  id: string;
  /** Panic button input and its active level (`true`: pressed reads high). */
  button: string;
  buttonActiveHigh: boolean;
  /** Button debounce in ms, applied natively by setWatch. */
  debounceMs: number;
  led: string;
  haptic?: string;
  buzzer?: string;
  /** Microphone ADC pin (Waveform input). */
  mic?: string;
  /** Mains-present input (high = mains). */
  mains?: string;
  /** Battery ADC pin and the divider ratio (volts at the battery per volt at the pin, × 3.3 V full scale). */
  battery?: string;
  batteryScale: number;
  /** Tamper switch (high = case open). */
  tamper?: string;
  /** Wi-Fi built in (the Espruino WiFi's ESP8266). */
  wifi: boolean;
  /** Cellular modem on a UART driven by AT commands. */
  cellular?: { serial: 'Serial1' | 'Serial2'; tx: string; rx: string; powerKey: string; baud: number };
  /** Audio spool: a microSD card through `fs`, or a bounded area of internal Storage. */
  spool: 'sd' | 'storage';
  /** The microSD card's SPI2 pins, when the spool is on a card. */
  sd?: { sck: string; miso: string; mosi: string; cs: string };
  /** RAM the audio ring may take beside the firmware, bytes (docs/evidence.md). */
  audioBytes: number;
  /** Espruino built for Linux: net sockets for both paths, console keys for inputs. */
  linux: boolean;
}

/**
 * The profile of the board being built. Written as `__BOARD__` comparisons (not a table) so the
 * build folds them and drops the other boards' drivers from the bundle.
 */
export function boardProfile(): BoardProfile {
  if (__BOARD__ === 'ESPRUINOWIFI' || __BOARD__ === 'PICO_R1_3') {
    // Both STM32 boards share most header pins. The WiFi adds its ESP8266 (on Serial2, so the modem
    // moves to Serial1), an SD card on SPI2 and a haptic motor; its button is active-low on B3.
    const wifiBoard = __BOARD__ === 'ESPRUINOWIFI';
    return {
      id: __BOARD__,
      button: wifiBoard ? 'B3' : 'B12',
      buttonActiveHigh: !wifiBoard,
      debounceMs: 25,
      led: 'B2',
      haptic: wifiBoard ? 'B10' : undefined,
      mic: 'A5',
      mains: 'A6',
      battery: 'A7',
      batteryScale: 2,
      tamper: wifiBoard ? 'B8' : 'B13',
      wifi: wifiBoard,
      cellular: wifiBoard
        ? { serial: 'Serial1', tx: 'B6', rx: 'B7', powerKey: 'B4', baud: 115200 }
        : { serial: 'Serial2', tx: 'A2', rx: 'A3', powerKey: 'B4', baud: 115200 },
      spool: wifiBoard ? 'sd' : 'storage',
      sd: wifiBoard ? { sck: 'B13', miso: 'B14', mosi: 'B15', cs: 'B1' } : undefined,
      // WiFi: the default ring's three RAM slots (12 KB; the pre-trigger audio waits on the card)
      // and no more; docs/evidence.md has the arithmetic. The Pico has no card: its ring is all RAM.
      audioBytes: wifiBoard ? 12000 : 16000,
      linux: false
    };
  }
  if (__BOARD__ === 'MDBT42Q') {
    return {
      id: 'MDBT42Q',
      button: 'D0',
      buttonActiveHigh: false,
      debounceMs: 25,
      led: 'D1',
      mic: 'D31',
      mains: 'D2',
      battery: 'D30',
      batteryScale: 2,
      tamper: 'D3',
      wifi: false,
      spool: 'storage',
      audioBytes: 8000,
      linux: false
    };
  }
  if (__BOARD__ === 'LINUX') {
    return {
      id: 'LINUX',
      button: '',
      buttonActiveHigh: true,
      debounceMs: 0,
      led: '',
      batteryScale: 1,
      wifi: true,
      spool: 'storage',
      audioBytes: 8000,
      linux: true
    };
  }
  throw new Error('unknown board ' + __BOARD__);
}

/** Compile-time facts about the board being built (folded by the build). */
