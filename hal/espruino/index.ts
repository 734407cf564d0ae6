/**
 * `createEspruinoHal(boardId, settings)`: the HAL contract on an Espruino board. Everything here is
 * a thin mapping to one or two device calls; behaviour lives in firmware/.
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
  Spool,
  TimerId
} from '../types';
import { boardProfile, BoardProfile } from './boards';
import { createEspruinoCrypto } from './crypto';
import { createFsSpool, createStorageSpool } from './storage';
import { createDeviceFlashArea, createDeviceCodeArea } from './flash';

export { createDeviceFlashArea, createEspruinoCrypto };
import { createLinuxLink, LinkCore } from './links';
import { createCellularLink, ModemIo } from './cellular';
import { createEspWifiLink, EspIo } from './esp8266';
import { createPinButton, createPinOutput, createPinPower, createPinTamper } from './inputs';
import { createLinuxConsole, AudioCost } from './linux';

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
function measureBlock(block: Uint8Array): { mean: number; rms: number; clipped: number } {
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
function createDeviceConsole(): InstallerConsole {
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
function createWaveformMic(clock: Clock, pinName: string): Microphone {
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

/**
 * No ADC (Linux build): silence blocks at the configured rate, filled natively. `cost` sums the time
 * the firmware spends per block (capture → ring → spool), for the audio-path benchmark.
 */
function createSilentMic(clock: Clock, cost?: AudioCost): Microphone {
  let timer = -1;
  return {
    start: function (o: MicrophoneOptions) {
      if (timer >= 0) throw new Error('microphone already running');
      const a = new Uint8Array(o.blockSize);
      a.fill(128);
      timer = clock.every((o.blockSize * 1000) / o.rate, function () {
        const t = getTime();
        o.onBlock(a, 0);
        if (cost) {
          const dt = (getTime() - t) * 1000;
          cost.ms += dt;
          cost.n++;
          cost.block = a;
          if (!cost.recent) cost.recent = [];
          cost.recent.push(dt);
          if (cost.recent.length > 16) cost.recent.shift();
        }
      });
    },
    stop: function () {
      if (timer >= 0) clock.cancel(timer);
      timer = -1;
    },
    running: function () {
      return timer >= 0;
    },
    measure: measureBlock
  };
}

/** The modem as wired on the board: its UART and its power key. */
function modemIo(c: {
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

/**
 * The Espruino WiFi's ESP8266 as the board wires it (the board's `Wifi` module does the same, read
 * from its source): USART2 on A2/A3 with CTS on A15, CH_PD on A14 and A13 held high while on.
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

/** STM32 reset flags (RCC_CSR), read once and cleared so the next boot reads fresh ones. */
function stm32ResetCause(): ResetCause {
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

/**
 * The HAL for the board being built. `flash` and `crypto` are given when the entry point made them
 * first (to read the stored config before the bearers start).
 */
export function createEspruinoHal(settings: DeviceSettings, made?: { flash: FlashArea; crypto: Crypto }): Hal {
  const board: BoardProfile = boardProfile();
  const clock = createDeviceClock();
  const cause: ResetCause =
    __BOARD__ === 'ESPRUINOWIFI' || __BOARD__ === 'PICO_R1_3'
      ? stm32ResetCause()
      : __BOARD__ === 'LINUX'
        ? 'power'
        : 'unknown';
  const crypto = made ? made.crypto : createEspruinoCrypto();
  const flash = made ? made.flash : deviceFlash();

  // __BOARD__ is replaced by the build (and compared in place, so the bundler drops the other
  // boards' code): one spool driver in each bundle. The Linux
  // build keeps its spool in the host's file system (the folder AUDIO where it runs).
  const spool: Spool =
    __BOARD__ === 'ESPRUINOWIFI'
      ? createFsSpool(settings.spoolBytes || 512 * 1024 * 1024, board.sd!)
      : __BOARD__ === 'LINUX'
        ? createFsSpool(settings.spoolBytes || 64 * 1024 * 1024)
        : createStorageSpool(8 * 1024);

  const log = {
    write: function (level: LogLevel, message: string) {
      console.log(level + ' ' + message);
    }
  };
  const system = {
    board: board.id,
    resetCause: function () {
      return cause;
    },
    restart: function () {
      if (__BOARD__ === 'LINUX') quit();
      else E.reboot();
    },
    memory: function () {
      const m = process.memory(false);
      return { free: m.free | 0, total: m.total | 0 };
    },
    audioBytes: board.audioBytes,
    onUncaught: function (cb: (e: unknown) => void) {
      process.on('uncaughtException', cb);
    },
    firmwareImage: function () {
      return global.require('Storage').read('.bootcde');
    }
  };
  // The LINUX profile links its installer module (firmware/main.ts sets `code`): no code area in its image.
  const storage = {
    flash: flash,
    code: (__BOARD__ === 'LINUX' ? undefined : createDeviceCodeArea(crypto, __MODULE_SHA__)) as CodeArea,
    spool: spool
  };

  if (__BOARD__ === 'LINUX') {
    const wifi: LinkCore = createLinuxLink(clock, 'wifi');
    const cell: LinkCore = createLinuxLink(clock, 'cellular');
    const cost: AudioCost = { n: 0, ms: 0 };
    const con = createLinuxConsole(clock, { wifi: wifi, cellular: cell }, cost);
    return {
      clock: clock,
      button: con.button,
      indicator: { led: con.led },
      microphone: createSilentMic(clock, cost),
      power: con.power,
      tamper: con.tamper,
      storage: storage,
      links: { wifi: wifi.link, cellular: cell.link },
      crypto: crypto,
      // The Linux build has no watchdog (E.enableWatchdog is an empty function there).
      watchdog: { enable: function () {}, kick: function () {} },
      log: log,
      system: system,
      console: con.console
    };
  }

  return {
    clock: clock,
    button: createPinButton(board.button, board.buttonActiveHigh, board.debounceMs, clock.now),
    indicator: {
      led: createPinOutput(board.led),
      haptic: board.haptic ? createPinOutput(board.haptic) : undefined,
      buzzer: board.buzzer ? createPinOutput(board.buzzer) : undefined
    },
    // Every board built here has a microphone pin; the silent one is the Linux build's alone.
    microphone: createWaveformMic(clock, board.mic!),
    power: createPinPower(board.mains, board.battery, board.batteryScale),
    tamper: createPinTamper(board.tamper),
    storage: storage,
    links: {
      wifi: __BOARD__ === 'ESPRUINOWIFI' ? createEspWifiLink(clock, settings.wifi, espIo) : undefined,
      cellular:
        (__BOARD__ === 'ESPRUINOWIFI' || __BOARD__ === 'PICO_R1_3') && board.cellular
          ? createCellularLink(clock, settings.apn || 'internet', modemIo(board.cellular))
          : undefined
    },
    crypto: crypto,
    watchdog: {
      enable: function (s: number) {
        E.enableWatchdog(s, false);
      },
      kick: function () {
        E.kickWatchdog();
      }
    },
    log: log,
    system: system,
    console: createDeviceConsole()
  };
}
