/**
 * The drivers every Espruino board shares, and the parts of the HAL contract that are the same on
 * every board (log, system, watchdog). Each board's composition file (hal/espruino/boards/<board>.ts, chosen by
 * the build: `../hal/espruino/board` is resolved to it) names its pins and picks its drivers;
 * nothing here names a board. Everything is a thin mapping to one or two device calls; behaviour
 * lives in firmware/.
 */
import type {
  Clock,
  Crypto,
  FlashArea,
  Hal,
  InstallerConsole,
  CodeArea,
  LogLevel,
  Microphone,
  MicrophoneOptions,
  ResetCause,
  TimerId
} from '../types';
import { createDeviceFlashArea, createDeviceCodeArea } from './flash';
import type { ModemIo } from './cellular';

export interface DeviceSettings {
  wifi?: { ssid: string; password: string };
  apn?: string;
  /** Bytes of the SD card the spool may use. */
  spoolBytes?: number;
}

export function createDeviceClock(): Clock {
  const boot = getTime() * 1000;
  let wallOffset = 0;
  // Espruino reuses timer ids (a new timer gets the last id + 1), so cancelling a fired timer's id
  // could stop another one. The clock hands out its own ids and keeps the live ones here.
  const live: { [id: string]: number } = {};
  let nextId = 1;
  return {
    now: function () {
      return getTime() * 1000 - boot;
    },
    wall: function () {
      return Math.round(getTime() * 1000 + wallOffset);
    },
    setWall: function (utcMs: number) {
      // setTime() would move getTime() and so every timer's idea of "now": keep an offset instead.
      wallOffset = utcMs - getTime() * 1000;
    },
    after: function (ms: number, fn: () => void): TimerId {
      const id = nextId++;
      live[id] = setTimeout(
        function () {
          delete live[id];
          fn();
        },
        ms < 0 ? 0 : ms
      );
      return id;
    },
    every: function (ms: number, fn: () => void): TimerId {
      const id = nextId++;
      live[id] = setInterval(fn, ms);
      return id;
    },
    cancel: function (id: TimerId) {
      const real = live[id];
      if (real === undefined) return;
      delete live[id];
      clearTimeout(real);
    }
  };
}

/** Sample → 1 when clipped (0 or 255), else 0: `E.mapInPlace` counts clipping natively. */
let clipTable: Uint8Array | undefined;

/** Level figures of one block, natively (E.sum, E.variance, E.mapInPlace; no per-sample loop). */
export function measureBlock(block: Uint8Array): { mean: number; rms: number; clipped: number } {
  if (!clipTable) {
    clipTable = new Uint8Array(256);
    clipTable[0] = 1;
    clipTable[255] = 1;
  }
  const n = block.length;
  const mean = E.sum(block) / n;
  const flags = new Uint8Array(n);
  E.mapInPlace(block, flags, clipTable, 8);
  // E.variance returns the sum of the squared deviations, as its own documentation says (2v29
  // sources, jswrap_espruino.c): the mean of them is that over n (docs/espruino-notes.md).
  return { mean: mean, rms: Math.sqrt(E.variance(block, mean) / n), clipped: E.sum(flags) };
}

/**
 * The REPL is the installer's channel: the tool calls the global `I({...})` and reads `@I {...}`
 * lines back. The lock is Espruino's own; the password lives in RAM only, so the firmware sets it
 * again at every boot from its record.
 */
export function createDeviceConsole(): InstallerConsole {
  return {
    onRequest: function (cb: (request: unknown) => void) {
      global.I = cb;
    },
    reply: function (json: string) {
      console.log('@I ' + json);
    },
    lock: function (password: string) {
      E.setPassword(password);
      E.lockConsole();
    },
    clearLock: function () {
      E.setPassword(undefined);
    }
  };
}

/** Waveform double-buffered capture; overruns are inferred from the block timing. */
export function createWaveformMic(clock: Clock, pinName: string): Microphone {
  let w: EspruinoWaveform | undefined;
  return {
    start: function (o: MicrophoneOptions) {
      if (w) throw new Error('microphone already running');
      const period = (o.blockSize * 1000) / o.rate;
      let last = -1;
      w = new Waveform(o.blockSize, { doubleBuffer: true, bits: 8 });
      w.on('buffer', function (buf: Uint8Array) {
        const t = clock.now();
        let overrun = 0;
        if (last >= 0 && t - last > period * 1.5) overrun = Math.round((t - last) / period) - 1;
        last = t;
        o.onBlock(buf, overrun);
      });
      w.startInput(new Pin(pinName), o.rate, { repeat: true });
    },
    stop: function () {
      if (w) w.stop();
      w = undefined;
    },
    running: function () {
      return w !== undefined;
    },
    measure: measureBlock
  };
}

/** The modem as wired on the board: its UART and its power key. */
export function modemIo(c: {
  serial: 'Serial1' | 'Serial2';
  tx: string;
  rx: string;
  powerKey: string;
  baud: number;
}): ModemIo {
  const port = c.serial === 'Serial1' ? Serial1 : Serial2;
  // Espruino moves the console to Serial1 when USB is unplugged; keep it on USB so the modem's
  // UART never receives the REPL's output (nor the REPL the modem's).
  if (c.serial === 'Serial1') USB.setConsole(true);
  port.setup(c.baud, { tx: new Pin(c.tx), rx: new Pin(c.rx) });
  const key = new Pin(c.powerKey);
  digitalWrite(key, 1);
  return {
    port: port,
    powerKey: function (pressed: boolean) {
      digitalWrite(key, pressed ? 0 : 1);
    }
  };
}

/** STM32 reset flags (RCC_CSR), read once and cleared so the next boot reads fresh ones. */
export function stm32ResetCause(): ResetCause {
  const CSR = 0x40023874;
  // peek32 with a count returns an array; without one, the word itself.
  const csr = (peek32 as unknown as (addr: number) => number)(CSR);
  poke32(CSR, csr | (1 << 24));
  if (csr & ((1 << 29) | (1 << 30))) return 'watchdog';
  if (csr & (1 << 28)) return 'software';
  if (csr & ((1 << 27) | (1 << 25))) return 'power';
  return 'unknown';
}

/** The record store's flash: 2 sectors of 16 KB (sectors 1-2 on the Espruino WiFi; 3 is the code area's). */
export function deviceFlash(): FlashArea {
  return createDeviceFlashArea();
}

/** A board's restart: a hardware reset (`E.reboot`). */
export function deviceRestart(): void {
  E.reboot();
}

/** A board's independent watchdog (the STM32's IWDG), kicked by the firmware. */
export const deviceWatchdog: Hal['watchdog'] = {
  enable: function (s: number) {
    E.enableWatchdog(s, false);
  },
  kick: function () {
    E.kickWatchdog();
  }
};

/** The log: a line on the console (`level message`). */
export const deviceLog: Hal['log'] = {
  write: function (level: LogLevel, message: string) {
    console.log(level + ' ' + message);
  }
};

/** The system facts every board reports the same way. */
export function deviceSystem(id: string, cause: ResetCause, audioBytes: number, restart: () => void): Hal['system'] {
  return {
    board: id,
    resetCause: function () {
      return cause;
    },
    restart: restart,
    memory: function () {
      const m = process.memory(false);
      return { free: m.free | 0, total: m.total | 0 };
    },
    audioBytes: audioBytes,
    onUncaught: function (cb: (e: unknown) => void) {
      process.on('uncaughtException', cb);
    },
    firmwareImage: function () {
      return global.require('Storage').read('.bootcde');
    }
  };
}

/** The code area of a board's image: the installer module's sector, checked against the build's SHA-256. */
export function deviceCodeArea(crypto: Crypto): CodeArea {
  return createDeviceCodeArea(crypto, __MODULE_SHA__);
}
