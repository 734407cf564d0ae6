/**
 * The hardware contract between the firmware and whatever runs it.
 *
 * Two implementations exist: `hal/espruino` (the real board) and `sim/` (Node, for tests and the
 * simulator). The firmware receives a `Hal` in `createApp(hal, config)` and never touches a device
 * global, `Date`, `setTimeout` or Node itself.
 *
 * Conventions (ECMA-419 in spirit, kept thin):
 * - Each object is created by the HAL with its configuration fixed; a bad configuration throws at
 *   once (`HalError`-shaped `Error` with a `code`).
 * - The HAL calls the firmware back through `onXxx` callbacks registered once. Callbacks run on the
 *   main loop (never inside an interrupt); the HAL catches nothing the firmware throws, so the
 *   firmware must guard every callback it hands over (see firmware/guard.ts).
 * - Runtime faults are reported through `onError`-style callbacks, never thrown later.
 * - Units: time in milliseconds (ms), voltages in volts (V), rates in hertz (Hz), sizes in bytes.
 * - Byte strings: where a method takes or returns `string` for binary data, each character is one
 *   byte (char codes 0..255), as Espruino's Storage and sockets use them.
 *
 * This file must stay free of any runtime code: the firmware imports its types only.
 */

/** Opaque timer handle returned by `Clock.after`/`Clock.every`. */
export type TimerId = number;

/**
 * One time source for everything. Called by the firmware; calls back the firmware's timer functions.
 */
export interface Clock {
  /** Monotonic milliseconds since the HAL started (boot). Never jumps, never goes backwards. */
  now(): number;
  /** Wall-clock time, milliseconds since 1970-01-01T00:00:00Z (UTC). May be wrong until set. */
  wall(): number;
  /**
   * Set the wall clock (UTC ms), e.g. from a receiver's NAK. Does not affect `now()` or timers.
   */
  setWall(utcMs: number): void;
  /** Call `fn` once after `ms` (≥ 0). Returns a handle for `cancel`. */
  after(ms: number, fn: () => void): TimerId;
  /** Call `fn` every `ms` (> 0) until cancelled. */
  every(ms: number, fn: () => void): TimerId;
  /** Cancel a timer; unknown or already-fired handles are ignored. */
  cancel(id: TimerId): void;
}

/**
 * The panic button. Edges are debounced by the HAL (natively on the device, with `debounceMs`).
 * The firmware decides what a press means (hold time, gestures).
 */
export interface Button {
  /** `true` while the button is held down. */
  isPressed(): boolean;
  /**
   * Register the edge handler (one handler; a second call replaces it).
   * `pressed` is the new state; `atMs` is `Clock.now()` of the edge as the HAL saw it.
   */
  onEdge(cb: (pressed: boolean, atMs: number) => void): void;
  /** Stop watching the pin. */
  close(): void;
}

/** A single on/off output (LED, buzzer, vibration motor). */
export interface Output {
  /** Drive the output: `true` = on (active level handled by the HAL). */
  write(on: boolean): void;
  /** The level last written. */
  read(): boolean;
}

/**
 * The discreet indicator. The LED is always present; buzzer and haptic are optional fittings and
 * `undefined` when the unit has none. Patterns (blink codes) are the firmware's business.
 */
export interface Indicator {
  led: Output;
  buzzer?: Output;
  haptic?: Output;
}

/** Options for `Microphone.start`. */
export interface MicrophoneOptions {
  /** Sample rate in Hz (e.g. 8000). */
  rate: number;
  /** Samples per block (e.g. 512). Every block the HAL delivers has exactly this length. */
  blockSize: number;
  /**
   * Called once per full block, in order, from the main loop. `block` holds unsigned 8-bit samples
   * (128 = silence). The array is the HAL's own double buffer: it is valid only during the call and
   * must be copied (`set`) before returning. `overrun` counts blocks dropped since the previous call
   * because the firmware did not keep up (0 normally); the firmware records it as a gap.
   */
  onBlock: (block: Uint8Array, overrun: number) => void;
}

/** The microphone on an ADC pin, sampled from a hardware timer (Waveform on the device). */
export interface Microphone {
  /** Start continuous capture. Throws if already running or the options are invalid. */
  start(options: MicrophoneOptions): void;
  /** Stop capture; no `onBlock` call follows. Safe to call when stopped. */
  stop(): void;
  /** Whether capture is running. */
  running(): boolean;
  /**
   * Level figures of one block, computed natively on the device (no per-sample JavaScript): `mean`
   * sample value (128 = centred), `rms` about that mean (0 = a dead or disconnected input), and
   * `clipped`, the samples at 0 or 255.
   */
  measure(block: Uint8Array): { mean: number; rms: number; clipped: number };
}

/** Mains and battery sensing. */
export interface Power {
  /** `true` while mains (the plug-pack) supplies the unit. */
  mainsPresent(): boolean;
  /** Battery voltage in volts (a fresh read of the ADC, scaled by the board's divider). */
  batteryVolts(): number;
  /** Register the mains edge handler (debounced by the HAL). */
  onMainsChange(cb: (present: boolean) => void): void;
}

/** The case tamper switch. */
export interface Tamper {
  /** `true` while the case is open (or the unit is pulled off the wall). */
  isOpen(): boolean;
  /** Register the edge handler (debounced by the HAL). */
  onChange(cb: (open: boolean) => void): void;
}

/**
 * An append-only text file in persistent storage (the journal's backing). Espruino's StorageFile
 * semantics: text only, no byte 0xFF, appended data is never rewritten.
 */
export interface AppendFile {
  /** Append bytes. Throws `Error` with code `ENOSPC` when storage is full (nothing is written). */
  append(data: string): void;
  /** The whole content written so far ('' when empty). */
  read(): string;
  /** Bytes written so far. */
  size(): number;
  /** Remove the file entirely. */
  erase(): void;
}

/**
 * Small persistent records (config, state, journal): what firmware/flash-store.ts offers over the
 * HAL's `FlashArea`. Survives power cuts and reboots: a `write` or `append` that returned is
 * durable. Names are at most `maxName` characters.
 */
export interface RecordStore {
  /** Longest file name allowed (28 on Espruino Storage; 27 for append files). */
  readonly maxName: number;
  /** Read a record; `undefined` when absent. */
  read(name: string): string | undefined;
  /** Create or replace a record. Throws with code `ENOSPC` (full) or `ENAME` (bad name). */
  write(name: string, data: string): void;
  /** Remove a record or an append file; absent names are ignored. */
  erase(name: string): void;
  /** Names of the records (and append files) starting with `prefix`. */
  list(prefix: string): string[];
  /** Bytes still free. */
  free(): number;
  /** Open (creating if needed) an append-only file. */
  appendFile(name: string): AppendFile;
}

/**
 * Raw NOR flash outside Storage, where the unit keeps its journal, config and state records
 * (firmware/flash-store.ts): on the Espruino WiFi sectors 1-3 (3 × 16 KB at 0x08004000, exactly
 * what `require("Flash").getFree()` reports); on the Linux build the top 48 KB of its flash file,
 * away from what Storage occupies. Storage (the boot image) is never written in service.
 *
 * NOR rules, as the hardware has them: `erase` sets every byte of one sector to 0xFF (slowly; a
 * power cut during it leaves the sector partly erased); `write` programs whole 4-byte words and
 * may only turn bits 1 → 0, so writing a word that is not erased is refused (a power cut during a
 * write leaves a prefix of it, the word being programmed possibly torn). Any address outside the
 * area is refused (one would destroy the bootloader or the firmware).
 */
export interface FlashArea {
  /** Bytes per erasable sector (a multiple of 4; 16 KB on the Espruino WiFi). */
  readonly sectorBytes: number;
  /** Sectors in the area. */
  readonly sectors: number;
  /** Erase one sector (0-based). Throws with code `EFLASH` for a sector outside the area. */
  erase(sector: number): void;
  /**
   * Program `data` (a byte string, length a multiple of 4) at byte `offset` (a multiple of 4) of
   * `sector`. Throws with code `EFLASH` when it is outside the area, unaligned, or would program a
   * word that is not erased.
   */
  write(sector: number, offset: number, data: string): void;
  /** `length` bytes from `offset` in `sector` as a byte string (no copy where flash is memory-mapped). */
  read(sector: number, offset: number, length: number): string;
}

/**
 * Bulk storage for audio (a microSD card on the reference board). Bounded: `write` throws with code
 * `ENOSPC` rather than overwrite anything. Names are short (8.3-safe: up to 8 characters, a dot, up
 * to 3 characters).
 */
export interface Spool {
  /**
   * Total capacity in bytes. Throws (the card's own error) when no card can be reached: the
   * installer's storage step reports it.
   */
  capacity(): number;
  /** Bytes in use. */
  used(): number;
  /**
   * Store a blob (bytes, or a byte string) under a new or existing name (replaces it). Throws with
   * code `ENOSPC` (full: nothing written), `EBUSY` (the card is busy: try again later), `EIO`.
   */
  write(name: string, data: Uint8Array | string): void;
  /**
   * Append the parts (bytes or byte strings), in order, to a file in one go, creating it when
   * absent. Throws as `write` does (`ENOSPC`: nothing appended). A power cut or a card fault
   * during an append may leave any prefix of it (then `size` says how much).
   */
  append(name: string, parts: (Uint8Array | string)[]): void;
  /**
   * Overwrite a file's bytes from `offset` (at most its size: at the size it grows) with the parts,
   * in one go, creating the file when absent and `offset` is 0. The pre-trigger ring on the card
   * (firmware/recorder.ts) rewrites the same bytes in place, so the file never grows past its
   * first lap. Throws as `append` does; a power cut or a card fault may leave any prefix written.
   * Absent where rewriting in place would wear the store out (a spool in internal Storage, which
   * must not be written in service): the pre-trigger audio then stays in RAM.
   */
  writeAt?(name: string, offset: number, parts: (Uint8Array | string)[]): void;
  /** Up to `length` bytes from byte `offset` as a byte string (shorter at the end); `undefined` when absent. */
  readAt(name: string, offset: number, length: number): string | undefined;
  /** A file's size in bytes; -1 when absent. */
  size(name: string): number;
  /** Read a blob back; `undefined` when absent. */
  read(name: string): Uint8Array | undefined;
  /** Read a blob back as a byte string; `undefined` when absent. */
  readText(name: string): string | undefined;
  /** Remove a blob; absent names are ignored. */
  erase(name: string): void;
  /**
   * Names present, sorted. A card that cannot be read lists nothing (as `size` gives -1 and the
   * reads `undefined`); its writes and `capacity` throw.
   */
  list(): string[];
}

/**
 * Code kept outside Storage in a flash sector of its own: the installer module
 * (firmware/installer-module.ts), written by the installer tool, loaded only while it is used
 * (docs/journal.md, "Flash layout").
 */
export interface CodeArea {
  /** Bytes the area holds (its header included). */
  readonly size: number;
  /**
   * The module's exports when the area holds this build's own module (the SHA-256 the image was
   * built with); otherwise why not, as a code: `absent`, `damaged` (a header or length that does
   * not read), `other-build` (a whole module of another build, or altered), `failed` (it would not
   * evaluate).
   */
  load(): object | string;
  /**
   * Program `data` (a byte string) at `offset` of the area (both multiples of 4): the installer
   * tool writes the module's image in pieces, header first. Offset 0 erases the area first.
   * Throws with code `EFLASH` beyond the area.
   */
  write(offset: number, data: string): void;
}

/** Everything persistent. */
export interface Storage {
  /** Raw flash sectors for the record store (firmware/flash-store.ts builds the `RecordStore`). */
  flash: FlashArea;
  /** The installer module's own sector. */
  code: CodeArea;
  spool: Spool;
}

/** Which bearer a link uses. */
export type PathName = 'wifi' | 'cellular';

/** Transport of one connection. */
export type Transport = 'tcp' | 'udp';

/** A connection over a link: a byte stream (TCP) or datagrams (UDP) to one host:port. */
export interface Connection {
  /** Queue bytes for sending. Returns false when the connection is already closed. */
  write(data: string): boolean;
  /** Close; `onClose` follows once. */
  close(): void;
}

/** Handlers for one connection. Exactly one of `onOpen` or `onClose(err)` follows `connect`. */
export interface ConnectionHandlers {
  /** The connection is established and `write` may be used. */
  onOpen(): void;
  /** Bytes arrived (TCP: any split of the stream; UDP: one whole datagram). */
  onData(data: string): void;
  /** Closed by either side or failed; `error` says why when it was not a normal close. */
  onClose(error?: string): void;
  /**
   * Everything written so far has left the unit (the radio took it, or the socket's send buffer
   * emptied): for writing a large payload a piece at a time instead of holding it all in RAM.
   * TCP only; may come once for several writes.
   */
  onSent?(): void;
}

/** Link status as the bearer reports it. */
export interface LinkStatus {
  /** `true` when the bearer is registered/associated and has an IP address. */
  up: boolean;
  /**
   * Signal quality 0..100 (percent, mapped from RSSI/CSQ by the HAL); -1 when unknown.
   */
  signal: number;
  /** Raw signal figure as the bearer gives it: dBm (RSSI). `undefined` when unknown. */
  rssiDbm?: number;
}

/** One network path (Wi-Fi or the cellular modem). */
export interface Link {
  readonly path: PathName;
  /** Current status (cached; updated by the HAL as the bearer changes). */
  status(): LinkStatus;
  /** Register the status handler, called on every change of `up` and on signal updates. */
  onStatus(cb: (status: LinkStatus) => void): void;
  /**
   * Open a connection to `host:port`. Never throws for network reasons: failures arrive as
   * `handlers.onClose(error)`. `timeoutMs` bounds the wait for `onOpen`.
   */
  connect(
    target: { host: string; port: number; transport: Transport; timeoutMs: number },
    handlers: ConnectionHandlers
  ): Connection;
}

/** Cryptographic primitives. Byte strings in, byte strings out. Keys never leave these calls. */
export interface Crypto {
  /** SHA-256 of the data: 32 bytes. */
  sha256(data: string | Uint8Array): Uint8Array;
  /** HMAC-SHA-256 (RFC 2104): 32 bytes. */
  hmacSha256(key: Uint8Array, data: string | Uint8Array): Uint8Array;
  /**
   * AES-CBC, no padding: `data.length` must be a multiple of 16; key 16, 24 or 32 bytes; iv 16 bytes.
   * Throws on a wrong length. With `out` (at least `data.length` bytes, allocated once by the
   * caller) the ciphertext is written there, in pieces small enough for a fragmented heap, and
   * returned as its subarray: a 4 KB chunk then needs no 4 KB of contiguous free RAM.
   */
  aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array, out?: Uint8Array): Uint8Array;
  /** The inverse of `aesCbcEncrypt`. */
  aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array;
  /** `n` bytes from the hardware random source. */
  randomBytes(n: number): Uint8Array;
  /** Lower-case hex of the bytes, natively (the seal writes four hashes per chunk). */
  hex(data: Uint8Array): string;
  /**
   * CRC-32 (IEEE 802.3, as zlib and Espruino's `E.CRC32`) of a byte string, as an unsigned 32-bit
   * number. Native on the device; used for record integrity, not for security.
   */
  crc32(data: string): number;
}

/** The hardware watchdog. Once enabled it cannot be disabled; a missed kick resets the unit. */
export interface Watchdog {
  /** Enable with a timeout in seconds (the firmware kicks it from its health check). */
  enable(timeoutS: number): void;
  /** Reset the countdown. */
  kick(): void;
}

/** Log levels, most severe first. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/**
 * Where diagnostic text goes (the USB console on the device; a buffer in the sim). Never given
 * secrets or audio: the firmware redacts before logging.
 */
export interface LogSink {
  write(level: LogLevel, message: string): void;
}

/**
 * The installer's console (the USB serial port on the device). The installer tool sends requests
 * (one JSON object each) and reads replies (one JSON text each), see docs/installer.md. The lock is
 * the platform's (`E.setPassword` + `E.lockConsole` on Espruino): while locked, nothing typed at
 * the port runs until the password is entered, so nobody there can read keys or change firmware.
 */
export interface InstallerConsole {
  /** Register the handler for installer requests (one handler). */
  onRequest(cb: (request: unknown) => void): void;
  /** Send one reply line (a JSON text) to the installer tool. */
  reply(json: string): void;
  /** Set the console password and lock the console now (and at every boot the firmware calls it). */
  lock(password: string): void;
  /** Remove the password: the console stays open (decommission, factory state). */
  clearLock(): void;
}

/** Why the unit last started. */
export type ResetCause = 'power' | 'watchdog' | 'software' | 'unknown';

/** The running system. */
export interface System {
  /** Board id, e.g. `ESPRUINOWIFI`, `LINUX`, `SIM`. */
  readonly board: string;
  /** Why this boot happened, as well as the hardware can tell. */
  resetCause(): ResetCause;
  /** Restart the unit cleanly (the firmware has already persisted what it must). */
  restart(): void;
  /** Interpreter memory in blocks (Espruino "variables"). */
  memory(): { free: number; total: number };
  /**
   * Bytes of RAM the audio ring may take beside the rest of the firmware on this board (a fixed
   * budget per board; see docs/evidence.md). The config check refuses a bigger ring.
   */
  readonly audioBytes: number;
  /**
   * Register the handler for an exception a firmware callback threw that reached the event loop
   * (a timer, a socket, the microphone). On Espruino: `process.on('uncaughtException')`; the sim's
   * dispatchers catch and report the same way. The one exception to "the HAL catches nothing".
   */
  onUncaught(cb: (error: unknown) => void): void;
  /**
   * The firmware image the unit runs, as a byte string (`.bootcde` on the device: flash-backed, no
   * RAM copy); `undefined` when none. The installer reports its SHA-256.
   */
  firmwareImage(): string | undefined;
}

/** The whole contract, handed to `createApp`. */
export interface Hal {
  clock: Clock;
  button: Button;
  indicator: Indicator;
  microphone: Microphone;
  power: Power;
  tamper: Tamper;
  storage: Storage;
  links: { wifi?: Link; cellular?: Link };
  crypto: Crypto;
  watchdog: Watchdog;
  log: LogSink;
  system: System;
  console: InstallerConsole;
}
