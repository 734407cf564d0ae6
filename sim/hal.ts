/**
 * `createSimHal()`: the HAL contract in Node, plus the simulated world around the unit and the
 * handles a test (or the simulator page) drives.
 *
 * State is kept apart from the HAL objects: the *world* (flash, spool, the room's sound, the state
 * of each network path, mains, battery, tamper, the button's physical level) outlives any one boot;
 * the *HAL* is re-created at each boot. `powerCut()` drops the HAL — timers, sockets, capture,
 * anything not yet written to flash — and boots a new one from what storage holds.
 */
import type {
  Button,
  CodeArea,
  Crypto,
  Hal,
  LogLevel,
  Output,
  Power,
  ResetCause,
  Spool,
  Tamper,
  Watchdog
} from '../hal/types';
import { createSimClock, SimClock } from './clock';
import { SimNorFlash, createSimFlashArea } from './nor';
import { installerModule } from '../firmware/installer-module';
import { CODE_HEAD, codeLength } from '../hal/code-image';
import { createFlashStore, FlashStore } from '../firmware/flash-store';
import { SimPath, createSimLink } from './links';
import { SimSound, createSimMicrophone } from './mic';
import { createSimCrypto } from './crypto';
import { parseWav } from './wav';
import * as fs from 'node:fs';
import { createCellularLink } from '../hal/espruino/cellular';
import { simUart } from './at';
import type { SimModem } from './modem';

/** A physical two-state input with listeners (button contact, mains sense, tamper switch). */
class SimInput {
  private listeners = new Set<(level: boolean) => void>();
  constructor(public level: boolean) {}
  set(level: boolean): void {
    if (level === this.level) return;
    this.level = level;
    for (const fn of [...this.listeners]) fn(level);
  }
  subscribe(fn: (level: boolean) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

/** Bounded blob store standing in for the microSD spool. Survives reboots. */
export class SimSpoolMedia {
  readonly blobs = new Map<string, Uint8Array>();
  /** A slow or stalled card: while set, every write fails with `EBUSY` (nothing written). */
  stalled = false;
  /** Writes that succeeded, and those refused while stalled (for tests). */
  writes = 0;
  busyRefusals = 0;
  /**
   * A card fault in the next append: only this many of its bytes reach the card, then it fails
   * with `EIO` (a torn write; a power cut right after it is the usual case).
   */
  tearNextAppend: number | undefined;
  /**
   * No card, or one that cannot be read. As the board's spool (hal/espruino/storage.ts) answers
   * when 2v29's every `fs` call fails ("Unable to mount media : NOT_READY"): writes, `read` and
   * `capacity` throw (`EIO`); listing gives nothing, `size` -1, `readAt` and `readText`
   * `undefined`, `used` 0, and `erase` does nothing.
   */
  absent = false;
  /**
   * A card whose files cannot be read (2v29: "Unable to read file : DISK_ERR"), as the board's
   * spool answers then: `readAt` and `readText` give `undefined` (they catch), `read` throws
   * (`readFileSync` unguarded); listing, sizes and writes still work.
   */
  unreadable = false;
  /** Bytes rewritten in place (`writeAt` over existing bytes: the pre-trigger ring), for the wear figures. */
  rewritten = 0;
  constructor(public capacity = 4 * 1024 * 1024) {}
  /** Throw as an absent card does. */
  check(): void {
    if (this.absent) throw Object.assign(new Error('no card'), { code: 'EIO' });
  }
  used(): number {
    let n = 0;
    for (const b of this.blobs.values()) n += b.length;
    return n;
  }
}

function spoolName(name: string): void {
  if (!/^[A-Za-z0-9_-]{1,8}(\.[A-Za-z0-9]{1,3})?$/.test(name)) {
    throw Object.assign(new Error(`spool name "${name}" is not 8.3`), { code: 'ENAME' });
  }
}

function simCodeArea(c: SimCodeArea, crypto: Crypto): CodeArea {
  const text = (at: number, n: number) => Buffer.from(c.bytes!.subarray(at, at + n)).toString('latin1');
  return {
    size: c.size,
    load() {
      c.loads++;
      if (!c.bytes) return c.state === 'builtin' ? installerModule : c.state;
      const n = codeLength(text(0, CODE_HEAD), c.size);
      if (n === 0) return 'absent';
      if (n < 0) return 'damaged';
      return c.expect !== undefined && crypto.hex(crypto.sha256(text(CODE_HEAD, n))) === c.expect
        ? installerModule
        : 'other-build';
    },
    write(offset, data) {
      if (offset % 4 || data.length % 4 || offset < 0 || offset + data.length > c.size) {
        throw Object.assign(new Error(`code area write of ${data.length} bytes at ${offset} outside its sector`), {
          code: 'EFLASH'
        });
      }
      if (offset === 0 || !c.bytes) c.bytes = new Uint8Array(c.size).fill(0xff);
      for (let i = 0; i < data.length; i++) {
        if (c.bytes[offset + i] !== 0xff)
          throw Object.assign(new Error('code area write over written words'), { code: 'EFLASH' });
        c.bytes[offset + i] = data.charCodeAt(i) & 0xff;
      }
    }
  };
}

function createSimSpool(media: SimSpoolMedia): Spool {
  /** Every write first: a card that is there, an 8.3 name, and not busy (EBUSY: nothing written). */
  const writable = (name: string, verb: string) => {
    media.check();
    spoolName(name);
    if (media.stalled) {
      media.busyRefusals++;
      throw Object.assign(new Error(`spool busy ${verb} ${name}`), { code: 'EBUSY' });
    }
  };
  const joined = (parts: (Uint8Array | string)[]) =>
    Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
  return {
    capacity: () => (media.check(), media.capacity),
    used: () => (media.absent ? 0 : media.used()),
    write(name, data) {
      writable(name, 'writing');
      const old = media.blobs.get(name);
      if (media.used() - (old ? old.length : 0) + data.length > media.capacity) {
        throw Object.assign(new Error(`spool full writing ${name}`), { code: 'ENOSPC' });
      }
      media.blobs.set(name, typeof data === 'string' ? Uint8Array.from(Buffer.from(data, 'latin1')) : data.slice());
      media.writes++;
    },
    append(name, parts) {
      writable(name, 'appending to');
      const add = joined(parts);
      if (media.used() + add.length > media.capacity) {
        throw Object.assign(new Error(`spool full appending to ${name}`), { code: 'ENOSPC' });
      }
      const old = media.blobs.get(name) ?? new Uint8Array(0);
      const tear = media.tearNextAppend;
      media.tearNextAppend = undefined;
      const take = tear === undefined ? add : add.subarray(0, Math.min(tear, add.length));
      media.blobs.set(name, Uint8Array.from(Buffer.concat([old, take])));
      media.writes++;
      if (tear !== undefined) throw Object.assign(new Error(`card fault appending to ${name}`), { code: 'EIO' });
    },
    writeAt(name, offset, parts) {
      writable(name, 'writing');
      const old = media.blobs.get(name) ?? new Uint8Array(0);
      if (offset > old.length) {
        throw Object.assign(new Error(`write at ${offset} past the end of ${name} (${old.length} B)`), { code: 'EIO' });
      }
      const add = joined(parts);
      const grow = Math.max(0, offset + add.length - old.length);
      if (media.used() + grow > media.capacity) {
        throw Object.assign(new Error(`spool full writing ${name}`), { code: 'ENOSPC' });
      }
      const next = new Uint8Array(old.length + grow);
      next.set(old);
      next.set(add, offset);
      media.blobs.set(name, next);
      media.writes++;
      media.rewritten += add.length - grow;
    },
    readAt: (name, offset, length) => {
      if (media.absent || media.unreadable) return undefined;
      const b = media.blobs.get(name);
      return b ? Buffer.from(b.subarray(offset, offset + length)).toString('latin1') : undefined;
    },
    size: (name) => (media.absent ? -1 : (media.blobs.get(name)?.length ?? -1)),
    read: (name) => {
      media.check();
      if (media.unreadable) throw Object.assign(new Error(`Unable to read file : DISK_ERR`), { code: 'EIO' });
      const b = media.blobs.get(name);
      return b ? b.slice() : undefined;
    },
    readText: (name) => {
      if (media.absent || media.unreadable) return undefined;
      const b = media.blobs.get(name);
      return b ? Buffer.from(b).toString('latin1') : undefined;
    },
    erase: (name) => void (media.absent || media.blobs.delete(name)),
    list: () => (media.absent ? [] : [...media.blobs.keys()].sort())
  };
}

/**
 * The USB console as Espruino's REPL treats it, for the installer protocol (docs/installer.md): a
 * line `I({...})` calls the firmware's request handler; replies and other output come back as
 * lines. The lock behaves as `E.setPassword` + `E.lockConsole`: the password lives in RAM (gone at
 * power-off, set again by the firmware at boot) and, while locked, every line typed is taken as a
 * password attempt and nothing else runs.
 */
export class SimConsole {
  password: string | undefined;
  locked = false;
  /** Lines the unit printed (the tool reads `@I …` replies from these). */
  readonly output: string[] = [];
  /** Lines refused while locked. */
  refused = 0;
  handler: ((request: unknown) => void) | undefined;
  private listeners = new Set<(line: string) => void>();
  private partial = '';

  /** Bytes typed at the port (any split). */
  send(text: string): void {
    this.partial += text;
    let nl: number;
    while ((nl = this.partial.search(/\r|\n/)) >= 0) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      if (line !== '') this.line(line.replace(/^\x10/, ''));
    }
  }

  print(line: string): void {
    this.output.push(line);
    if (this.output.length > 2000) this.output.splice(0, 500);
    for (const fn of [...this.listeners]) fn(line);
  }

  onOutput(fn: (line: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Power-off: RAM is gone, with the password; the console is open until the firmware locks it. */
  reset(): void {
    this.password = undefined;
    this.locked = false;
    this.handler = undefined;
    this.partial = '';
  }

  private line(line: string): void {
    // A locked console answers as 2v29's does (src/jsinteractive.c): no echo, then these lines.
    if (this.locked) {
      if (line === this.password) {
        this.locked = false;
        this.print('  Logged in.');
        this.print('>');
      } else {
        this.refused++;
        this.print('  Invalid password');
        this.print('password>');
      }
      return;
    }
    const m = /^I\((.*)\)$/.exec(line);
    if (!m) return this.print('Uncaught SyntaxError (the sim console runs installer requests only)');
    let req: unknown;
    try {
      req = JSON.parse(m[1]);
    } catch {
      return this.print('Uncaught SyntaxError: request is not JSON');
    }
    const h = this.handler;
    if (!h) return this.print('Uncaught ReferenceError: "I" is not defined');
    setImmediate(() => h(req));
  }
}

/** A recording output: every level change with its HAL time. */
/**
 * The installer module's flash sector. Until something is written there it holds the sim's own
 * module (the firmware's source, firmware/installer-module.ts) unless `state` says otherwise; once
 * the installer tool writes an image (after flashing one: `expect` is then that image's module
 * SHA-256, as the build compiles it into the image), it is read as the board reads it.
 */
export class SimCodeArea {
  readonly size = 16 * 1024;
  state: 'builtin' | 'absent' | 'damaged' = 'builtin';
  /** The sector's bytes once written (erased: 0xFF). */
  bytes: Uint8Array | undefined;
  /** SHA-256 (hex) of the module the image expects; undefined: any written text is another build's. */
  expect: string | undefined;
  loads = 0;
}

export class SimOutput {
  level = false;
  history: { at: number; on: boolean }[] = [];
}

export interface SimHalOptions {
  /**
   * The record store's raw flash to boot from (default: fresh, erased: 2 sectors of 16 KB, as
   * sectors 1-2 of the Espruino WiFi; sector 3 is the code area).
   */
  nor?: SimNorFlash;
  /** Spool capacity in bytes (default 4 MiB). */
  spoolBytes?: number;
  /** RAM budget for the audio ring, bytes (default 64 KiB). */
  audioBytes?: number;
  /** Button debounce, ms, as the board's setWatch would apply it (default 25). */
  debounceMs?: number;
  /** Debounce for mains and tamper inputs, ms (default 50). */
  inputDebounceMs?: number;
  /** Unit wall clock offset from the host's, ms (a drifted clock). */
  wallOffsetMs?: number;
  /** Which paths the unit has (default both). */
  paths?: ('wifi' | 'cellular')[];
  /** Fit a buzzer / haptic motor (default: haptic only, no buzzer). */
  buzzer?: boolean;
  haptic?: boolean;
  /** Echo the unit's log to the console with this prefix. */
  echoLog?: string;
  /**
   * A silent, idle microphone: capture starts but delivers no blocks. For runs of simulated days
   * that are about something else (supervision, service periods): 8 blocks a second would
   * otherwise dominate them.
   */
  micOff?: boolean;
  /** Firmware image already in program flash (default: none, a unit fresh from the factory). */
  image?: Uint8Array;
  /**
   * Run the cellular path through the device's own driver (hal/espruino/cellular.ts) against this
   * AT modem emulator on the serial port, instead of the direct sim link.
   */
  modem?: SimModem;
}

export interface LogLine {
  at: number;
  level: LogLevel;
  message: string;
}

/** The world and its handles. */
export interface SimWorld {
  /** The raw flash sectors the firmware's record store lives on (journal, config, state). */
  nor: SimNorFlash;
  /** The installer module's sector. */
  code: SimCodeArea;
  /**
   * The records as the unit keeps them, read afresh from the flash (for tests to look at: do
   * not write through it while the unit runs).
   */
  store(): FlashStore;
  spool: SimSpoolMedia;
  sound: SimSound;
  paths: { wifi?: SimPath; cellular?: SimPath };
  led: SimOutput;
  buzzer: SimOutput;
  haptic: SimOutput;
  log: LogLine[];
  /** How many times the unit has booted in this world, and why each time. */
  boots: ResetCause[];
  button: {
    /** Press and hold for `ms`, then release (a clean contact). */
    press(ms: number): void;
    down(): void;
    up(): void;
    /** Contact chatter: `n` raw toggles `everyMs` apart, ending at `finalLevel`. */
    bounce(n: number, everyMs: number, finalLevel: boolean): void;
    isDown(): boolean;
  };
  mic: {
    feed(samples: Uint8Array): void;
    /** Queue a WAV file's samples (PCM mono, 8 or 16-bit); returns its sample rate. */
    wav(file: string): number;
    source(gen: (n: number) => number): void;
    /** Make the firmware miss `blocks` buffers at the next delivery (an overrun). */
    overrun(blocks: number): void;
    /** Hang the capture: no more blocks until the unit reboots (a stopped ADC timer or DMA). */
    stall(): void;
    /** Break the input for good (a reboot does not cure it). */
    break(): void;
    level(): number;
  };
  power: {
    unplug(): void;
    plug(): void;
    /** Battery terminal voltage, V. */
    setBattery(volts: number): void;
    /** Drain from the current voltage down to `volts` over `ms` (linear). */
    drain(volts: number, ms: number): void;
    mains(): boolean;
    battery(): number;
  };
  tamper: { open(): void; close(): void; isOpen(): boolean };
  memory: { free: number; total: number };
  console: SimConsole;
  /** The AT modem on the serial port, when the unit was built with one (`options.modem`). */
  modem?: SimModem;
  /**
   * The firmware image in program flash (`.bootcde` on the board), as the installer tool flashed
   * it; `undefined` on a blank unit. The sim runs the firmware from source either way: the image is
   * what the unit reports and the tool verifies.
   */
  image: Uint8Array | undefined;
}

export interface SimHal {
  /** The current boot's HAL (a new object after `powerCut`/`restart`). */
  readonly hal: Hal;
  readonly world: SimWorld;
  readonly clock: SimClock;
  /**
   * Cut power: everything in RAM is gone (timers, sockets, capture, the firmware's state); flash and
   * spool keep what was written. Then power returns: a fresh HAL boots and `onBoot` handlers run.
   */
  powerCut(): Hal;
  /**
   * Register a handler run at each re-boot with the new HAL (e.g. to start the firmware again).
   * `first`: before the handlers registered so far (a fault put into the HAL before the firmware
   * boots on it).
   */
  onBoot(fn: (hal: Hal) => void, first?: boolean): void;
  /** Shut the unit down for good (end of a test): no reboot follows. */
  shutdown(): void;
}

export function createSimHal(options: SimHalOptions = {}): SimHal {
  const debounceMs = options.debounceMs ?? 25;
  const inputDebounceMs = options.inputDebounceMs ?? 50;
  const pathNames = options.paths ?? ['wifi', 'cellular'];

  const buttonIn = new SimInput(false);
  const mainsIn = new SimInput(true);
  const tamperIn = new SimInput(false);
  let batteryV = 4.1;
  let drainTimer: NodeJS.Timeout | undefined;
  const sound = new SimSound();
  const logLines: LogLine[] = [];

  const paths: SimWorld['paths'] = {};
  for (const p of pathNames) paths[p] = new SimPath(p);

  const world: SimWorld = {
    nor: options.nor ?? new SimNorFlash(),
    code: new SimCodeArea(),
    store: () => createFlashStore(createSimFlashArea(world.nor), createSimCrypto()),
    spool: new SimSpoolMedia(options.spoolBytes),
    sound,
    paths,
    led: new SimOutput(),
    buzzer: new SimOutput(),
    haptic: new SimOutput(),
    log: logLines,
    boots: [],
    button: {
      press(ms) {
        buttonIn.set(true);
        setTimeout(() => buttonIn.set(false), ms);
      },
      down: () => buttonIn.set(true),
      up: () => buttonIn.set(false),
      bounce(n, everyMs, finalLevel) {
        let level = !finalLevel;
        for (let i = 0; i < n; i++) {
          setTimeout(() => {
            level = !level;
            buttonIn.set(level);
          }, i * everyMs);
        }
        setTimeout(() => buttonIn.set(finalLevel), n * everyMs);
      },
      isDown: () => buttonIn.level
    },
    mic: {
      feed: (s) => sound.feed(s),
      wav(file) {
        const w = parseWav(fs.readFileSync(file));
        sound.feed(w.samples);
        return w.rate;
      },
      source: (g) => sound.source(g),
      overrun: (b) => {
        sound.pendingOverrun += b;
      },
      stall: () => {
        sound.stalled = true;
      },
      break: () => {
        sound.broken = true;
      },
      level: () => sound.lastLevel
    },
    power: {
      unplug: () => mainsIn.set(false),
      plug: () => mainsIn.set(true),
      setBattery(v) {
        if (drainTimer) clearInterval(drainTimer);
        batteryV = v;
      },
      drain(v, ms) {
        if (drainTimer) clearInterval(drainTimer);
        const from = batteryV;
        const start = Date.now();
        drainTimer = setInterval(
          () => {
            const f = Math.min(1, (Date.now() - start) / ms);
            batteryV = from + (v - from) * f;
            if (f >= 1 && drainTimer) clearInterval(drainTimer);
          },
          Math.max(1000, ms / 100)
        );
      },
      mains: () => mainsIn.level,
      battery: () => batteryV
    },
    tamper: { open: () => tamperIn.set(true), close: () => tamperIn.set(false), isOpen: () => tamperIn.level },
    memory: { free: 6000, total: 8190 },
    console: new SimConsole(),
    image: options.image,
    modem: options.modem
  };

  const bootHandlers: ((hal: Hal) => void)[] = [];
  let current: { hal: Hal; clock: SimClock; dispose(): void } | undefined;
  let dead = false;

  /** A debounced watch on a SimInput, like setWatch with `debounce`. */
  function watch(
    clock: SimClock,
    input: SimInput,
    ms: number,
    cb: () => ((level: boolean, at: number) => void) | undefined
  ) {
    let reported = input.level;
    let timer = -1;
    const unsubscribe = input.subscribe(() => {
      clock.cancel(timer);
      timer = clock.after(ms, () => {
        timer = -1;
        if (input.level === reported) return;
        reported = input.level;
        const fn = cb();
        if (fn) fn(reported, clock.now());
      });
    });
    return {
      level: () => reported,
      close: () => {
        clock.cancel(timer);
        unsubscribe();
      }
    };
  }

  function output(rec: SimOutput, clock: SimClock): Output {
    return {
      write(on) {
        if (on === rec.level) return;
        rec.level = on;
        rec.history.push({ at: clock.now(), on });
      },
      read: () => rec.level
    };
  }

  function boot(cause: ResetCause): Hal {
    // Power is back: the flash works again (a cut armed inside an erase or a write has landed).
    world.nor.revive();
    const clock = createSimClock({ wallOffsetMs: options.wallOffsetMs });
    world.boots.push(cause);
    world.led.level = false;
    world.buzzer.level = false;
    world.haptic.level = false;
    world.console.reset();
    sound.stalled = false;

    let buttonCb: ((pressed: boolean, at: number) => void) | undefined;
    const buttonWatch = watch(clock, buttonIn, debounceMs, () => buttonCb);
    const button: Button = {
      isPressed: () => buttonWatch.level(),
      onEdge(cb) {
        buttonCb = cb;
      },
      close() {
        buttonCb = undefined;
      }
    };

    let mainsCb: ((present: boolean) => void) | undefined;
    const mainsWatch = watch(clock, mainsIn, inputDebounceMs, () => mainsCb);
    const power: Power = {
      mainsPresent: () => mainsWatch.level(),
      batteryVolts: () => Math.round(batteryV * 1000) / 1000,
      onMainsChange(cb) {
        mainsCb = cb;
      }
    };

    let tamperCb: ((open: boolean) => void) | undefined;
    const tamperWatch = watch(clock, tamperIn, inputDebounceMs, () => tamperCb);
    const tamper: Tamper = {
      isOpen: () => tamperWatch.level(),
      onChange(cb) {
        tamperCb = cb;
      }
    };

    const links: Hal['links'] = {};
    const simLinks: { dispose(): void }[] = [];
    for (const p of pathNames) {
      const m = options.modem;
      if (p === 'cellular' && m) {
        links.cellular = createCellularLink(clock, 'internet', {
          port: simUart(m.port(), (fn) => clock.run(fn)),
          powerKey: (pressed) => m.key(pressed)
        });
        continue;
      }
      const l = createSimLink(paths[p]!, clock);
      links[p] = l;
      simLinks.push(l);
    }

    const mic = options.micOff
      ? { start: () => {}, stop: () => {}, running: () => false, dispose: () => {} }
      : createSimMicrophone(clock, sound);
    const measure = (block: Uint8Array) => {
      let sum = 0;
      let sq = 0;
      let clipped = 0;
      for (const v of block) {
        sum += v;
        sq += v * v;
        if (v === 0 || v === 255) clipped++;
      }
      const mean = sum / block.length;
      return { mean, rms: Math.sqrt(Math.max(0, sq / block.length - mean * mean)), clipped };
    };

    let wdTimer = -1;
    let wdMs = 0;
    const watchdog: Watchdog = {
      enable(s) {
        wdMs = s * 1000;
        watchdog.kick();
      },
      kick() {
        if (wdMs <= 0) return;
        clock.cancel(wdTimer);
        wdTimer = clock.after(wdMs, () => restart('watchdog'));
      }
    };

    const hal: Hal = {
      clock,
      button,
      indicator: {
        led: output(world.led, clock),
        buzzer: options.buzzer ? output(world.buzzer, clock) : undefined,
        haptic: options.haptic === false ? undefined : output(world.haptic, clock)
      },
      microphone: { start: (o) => mic.start(o), stop: () => mic.stop(), running: () => mic.running(), measure },
      power,
      tamper,
      storage: {
        flash: createSimFlashArea(world.nor),
        code: simCodeArea(world.code, createSimCrypto()),
        spool: createSimSpool(world.spool)
      },
      links,
      crypto: createSimCrypto(),
      watchdog,
      log: {
        write(level, message) {
          logLines.push({ at: clock.now(), level, message });
          if (logLines.length > 5000) logLines.splice(0, 1000);
          if (options.echoLog !== undefined) console.log(`${options.echoLog}${level.padEnd(5)} ${message}`);
        }
      },
      system: {
        board: 'SIM',
        resetCause: () => cause,
        restart: () => {
          // The device restarts after the current callback returns; so does the sim.
          Promise.resolve().then(() => restart('software'));
        },
        memory: () => ({ free: world.memory.free, total: world.memory.total }),
        audioBytes: options.audioBytes ?? 65536,
        onUncaught: (cb) => {
          clock.uncaught = cb;
        },
        firmwareImage: () => (world.image ? Buffer.from(world.image).toString('latin1') : undefined)
      },
      console: {
        onRequest(cb) {
          world.console.handler = cb;
        },
        reply: (json) => world.console.print('@I ' + json),
        lock(password) {
          world.console.password = password;
          world.console.locked = true;
        },
        clearLock() {
          world.console.password = undefined;
          world.console.locked = false;
        }
      }
    };

    current = {
      hal,
      clock,
      dispose() {
        clock.shutdown();
        mic.dispose();
        buttonWatch.close();
        mainsWatch.close();
        tamperWatch.close();
        for (const l of simLinks) l.dispose();
      }
    };
    return hal;
  }

  function restart(cause: ResetCause): Hal {
    if (dead) throw new Error('the simulated unit was shut down');
    if (current) current.dispose();
    const hal = boot(cause);
    for (const fn of bootHandlers) fn(hal);
    return hal;
  }

  boot('power');

  return {
    get hal() {
      return current!.hal;
    },
    get clock() {
      return current!.clock;
    },
    world,
    powerCut: () => {
      options.modem?.powerLoss();
      return restart('power');
    },
    onBoot(fn, first) {
      if (first) bootHandlers.unshift(fn);
      else bootHandlers.push(fn);
    },
    shutdown() {
      dead = true;
      if (drainTimer) clearInterval(drainTimer);
      if (current) current.dispose();
      options.modem?.dispose();
    }
  };
}
