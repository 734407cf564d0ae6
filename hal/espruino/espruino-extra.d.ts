/**
 * What `@types/espruino` (1.95) lacks and this HAL uses, declared as measured on Espruino 2v29
 * (../shared/docs/espruino-platform.md). Added here:
 * - timers: `setTimeout`, `setInterval`, `clearInterval` (the package declares only `clearTimeout`);
 * - `console.log`, `quit()` (Linux build), `process.memory()`;
 * - `E.CRC32`, `E.getAddressOf` (with `flatAddress`: 0 when the data is not one flat run), `E.toString(data)`, `E.reboot`, `E.connectSDCard`, `E.getConsole`, `E.setConsole`, `E.reboot`, `E.enableWatchdog` with
 *   the automatic-kick flag;
 * - `Waveform` as a constructor (the package declares only its instance interface);
 * - `Pin` as a constructor from a pin name;
 * - the built-in modules the HAL loads with `global.require`: Storage, crypto, net, dgram, fs, AT;
 * - `__BOARD__`, the board id the build injects, and `__MODULE_SHA__`, the SHA-256 (hex) of the
 *   installer module built with the image (build.js).
 */

declare const __BOARD__: string;
declare const __MODULE_SHA__: string;

declare function setTimeout(fn: () => void, ms: number): number;
declare function setInterval(fn: () => void, ms: number): number;
declare function clearInterval(id: number): void;
declare function quit(): void;

declare const console: { log(...args: unknown[]): void };

declare const process: {
  memory(gc?: boolean): { free: number; usage: number; total: number; blocksize: number };
  on(event: 'uncaughtException', cb: (e: unknown) => void): void;
  env: { VERSION: string; BOARD: string };
};

declare namespace E {
  /** Defragment the variables (moves only what nothing holds): 2v29 jsvDefragment. */
  function defrag(): void;
  function CRC32(data: string | ArrayBuffer | Uint8Array): number;
  function getAddressOf(v: unknown, flatAddress: boolean): number;
  function connectSDCard(spi?: unknown, csPin?: Pin): void;
  function getConsole(): string;
  function setConsole(device: unknown, options?: { force?: boolean }): void;
  function enableWatchdog(timeout: number, isAuto?: boolean): void;
  function toString(...args: unknown[]): string | undefined;
  function toUint8Array(...args: unknown[]): Uint8Array;
  /** A string onto `length` bytes of memory at `addr` (memory-mapped flash on STM32): no copy. */
  function memoryArea(addr: number, length: number): string;
  function mapInPlace(
    from: Uint8Array,
    to: Uint8Array | Uint16Array,
    map: Uint8Array | Uint16Array,
    bits: number
  ): void;
  function reboot(): void;
}

interface EspruinoWaveform {
  buffer: Uint8Array;
  buffer2: Uint8Array;
  startInput(pin: Pin, freq: number, options: { repeat: boolean; time?: number }): void;
  stop(): void;
  on(event: 'buffer', cb: (buf: Uint8Array) => void): void;
}
declare const Waveform: {
  new (samples: number, options: { doubleBuffer: boolean; bits: 8 | 16 }): EspruinoWaveform;
};

declare const Pin: { new (name: string): Pin };

interface EspruinoStorageFile {
  read(len: number): string | undefined;
  write(data: string): void;
  erase(): void;
  getLength(): number;
}
interface EspruinoStorage {
  read(name: string, offset?: number, length?: number): string | undefined;
  write(name: string, data: string, offset?: number, size?: number): boolean;
  erase(name: string): void;
  list(regex?: RegExp | string, filter?: { sf: boolean }): string[];
  getFree(): number;
  getStats(): { fileBytes: number; fileCount: number; trashBytes: number; trashCount: number; freeBytes: number };
  open(name: string, mode: 'r' | 'w' | 'a'): EspruinoStorageFile;
  compact(): void;
}

interface EspruinoSocket {
  write(data: string): void;
  end(): void;
  on(event: 'data', cb: (data: string) => void): void;
  on(event: 'close' | 'end' | 'connect' | 'drain', cb: () => void): void;
  on(event: 'error', cb: (e: { code?: number; message?: string }) => void): void;
}
interface EspruinoNet {
  connect(options: { host: string; port: number }, cb: () => void): EspruinoSocket;
}
interface EspruinoDgramSocket {
  send(data: string, offset: number, length: number, port: number, host: string): void;
  close(): void;
  on(event: 'message', cb: (msg: string, info: unknown) => void): void;
  on(event: 'close', cb: () => void): void;
  on(event: 'error', cb: (e: unknown) => void): void;
}
interface EspruinoDgram {
  createSocket(type: 'udp4'): EspruinoDgramSocket;
}
interface EspruinoCryptoModule {
  SHA256(data: string | ArrayBuffer | Uint8Array): ArrayBuffer;
  AES?: {
    encrypt(
      data: ArrayBuffer | string,
      key: ArrayBuffer,
      options: { iv: ArrayBuffer; mode: 'CBC' }
    ): ArrayBuffer | undefined;
    decrypt(
      data: ArrayBuffer | string,
      key: ArrayBuffer,
      options: { iv: ArrayBuffer; mode: 'CBC' }
    ): ArrayBuffer | undefined;
  };
}
interface EspruinoFlash {
  getFree(): { addr: number; length: number }[];
  getPage(addr: number): { addr: number; length: number } | undefined;
  erasePage(addr: number): void;
  write(data: string | Uint8Array, addr: number): void;
  read(length: number, addr: number): Uint8Array;
}
interface EspruinoFile {
  read(length: number): string | undefined;
  write(data: string | Uint8Array): number;
  seek(position: number): void;
  close(): void;
}
interface EspruinoFs {
  writeFileSync(path: string, data: string | Uint8Array): boolean;
  appendFileSync(path: string, data: string | Uint8Array): boolean;
  readFileSync(path: string): string | undefined;
  unlinkSync(path: string): boolean;
  readdirSync(path?: string): string[] | undefined;
  statSync(path: string): { size: number } | undefined;
  mkdirSync(path: string): boolean;
}
/**
 * Espruino's AT module: `cmd` calls `cb(line)` for each line no `registerLine` key claims (and
 * `cb()` on timeout); returning a function keeps receiving lines with it, a falsy value ends the
 * command. `register(key, fn)` gets the raw buffer starting with `key` and returns what is left of
 * it (the same string to wait for more).
 */
type AtLineHandler = (line?: string) => AtLineHandler | undefined | void;
interface EspruinoAT {
  cmd(command: string, timeoutMs: number, cb: AtLineHandler): void;
  write(data: string): void;
  register(key: string, cb: (buffer: string) => string): void;
  registerLine(key: string, cb: (line: string) => void): void;
  unregister(key: string): void;
  unregisterLine(key: string): void;
  isBusy(): boolean;
}
interface EspruinoATModule {
  connect(serial: unknown): EspruinoAT;
}
interface EspruinoWifiModule {
  /** The ESP8266's AT interface (the Espruino WiFi's Wifi module has no getDetails). */
  at?: EspruinoAT;
  connect(ssid: string, options: { password: string }, cb: (err?: string) => void): void;
  disconnect(cb?: () => void): void;
  on(event: 'disconnected' | 'connected', cb: (details?: unknown) => void): void;
  getIP(cb: (err: unknown, ip: { ip?: string }) => void): void;
}

/** Espruino's root scope object; `global.require` loads built-in modules (see hal/espruino/index.ts). */
declare const global: {
  /** The installer request entry point the REPL calls (`I({...})`, docs/installer.md). */
  I?: (request: unknown) => void;
  require(name: 'Storage'): EspruinoStorage;
  require(name: 'Flash'): EspruinoFlash;
  require(name: 'crypto'): EspruinoCryptoModule;
  require(name: 'net'): EspruinoNet;
  require(name: 'dgram'): EspruinoDgram;
  require(name: 'fs'): EspruinoFs;
  require(name: 'AT'): EspruinoATModule;
  require(name: 'Wifi'): EspruinoWifiModule;
};
