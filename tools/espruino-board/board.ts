/**
 * An Espruino WiFi on the Espruino interpreter built for Linux, for `npm run test:espruino`
 * (tools/espruino-wifi.ts): the board's boot image stored as `.bootcde` exactly as `--flash` stores
 * it, run with a board prelude (tools/espruino-board/prelude.js, stored as `.boot0`: never in an
 * image) that stands in only for what the Linux build lacks, and its devices emulated here in Node:
 *
 * - the ESP8266 on USART2 (sim/esp8266.ts) under the board's own `Wifi` module, which is read at
 *   test time from the Espruino source tree (ESPRUINO_SRC, default: the tree the binary sits in;
 *   `libs/js/espruino_wifi/Wifi.min.js`, with `libs/js/AT.min.js`) and stored in the interpreter's
 *   flash, never copied into this repository;
 * - the SIM800 on USART1 (sim/modem.ts) under the firmware's own AT driver;
 * - the button, mains, tamper, battery and microphone through the prelude's control channel.
 *
 * Each serial port is a pseudo-terminal (tools/espruino-board/pty-bridge.py, Python's pty module):
 * the interpreter opens its path (targets/linux/jshardware.c: `SerialN.setup(baud, {path})`) and
 * what the unit transmits comes out here. What a device sends to the unit is appended, paced at the
 * UART's baud rate, to a file the prelude reads into the Serial's `data` events (the Linux build's
 * serial input loses bytes: docs/espruino-notes.md).
 *
 * The board's feature list comes from the Espruino sources too (symbols.py: the built-in symbols
 * of the ESPRUINOWIFI and LINUX builds, the board's pins and their functions): `staticCheck` checks
 * every global, module and member of a built-in object the image names against it.
 */
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as acorn from 'acorn';
import type { SimSerialPort } from '../../sim/at';
import { createTypist } from './typist';

// eslint-scope has no types here
// eslint-disable-next-line @typescript-eslint/no-require-imports
const eslintScope = require('eslint-scope') as {
  analyze(
    ast: unknown,
    o: unknown
  ): { globalScope: { through: { identifier: { name: string } }[] }; acquire(n: unknown): unknown };
};

const HERE = __dirname;

export interface BoardTables {
  board: string;
  version: string;
  variables: number;
  /** [type, class, name] */
  symbols: [string, string, string][];
  libraries: string[];
  jsmodules: string[];
  pins: Record<string, string[]>;
  devices: Record<string, Record<string, string>>;
}

/** The built-in symbols of a board's build, from the Espruino sources (python3 + make, nothing compiled). */
export function boardTables(src: string, board: string): BoardTables {
  const r = spawnSync('python3', [path.join(HERE, 'symbols.py'), src, board], { encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0)
    throw new Error(
      `symbols.py ${board} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' ')}`
    );
  return JSON.parse(r.stdout) as BoardTables;
}

/** Names a JS module's source exports (`exports.x =`). */
export function moduleExports(source: string): string[] {
  const out = new Set<string>();
  const re = /exports\.([A-Za-z_$][\w$]*)\s*=/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(source))) out.add(m[1]);
  return [...out];
}

/** Members every object has on Espruino (Object.prototype, Function.prototype). */
function universal(t: BoardTables): Set<string> {
  const s = new Set<string>(['prototype', 'constructor', 'length', 'name']);
  for (const [type, cls, name] of t.symbols)
    if ((cls === 'Object' || cls === 'Function') && (type === 'method' || type === 'property')) s.add(name);
  return s;
}

export interface StaticReport {
  /** Uses of what the board's build does not have. */
  findings: string[];
  /** Pin globals the image names (to define in the prelude), `LED1=B2` for devices. */
  pinGlobals: string[];
  /** Board-only functions the image names, as `name` or `Class.name` (stand-ins in the prelude). */
  stubs: string[];
  /** Linux-only functions the image names (tripwires in the prelude). */
  tripwires: string[];
  globals: string[];
  modules: string[];
}

/**
 * Check an image's code (the readable bundle the image is pretokenised from) against a board's
 * build: every free identifier must be a global of the board (a built-in function, object, class,
 * pin or device), every `require("x")` one of its modules, and every member read off a built-in
 * object or a module (`E.x`, `Serial1.x`, `require("Storage").x`, a variable holding one) must be
 * one of that class's or module's members.
 */
export function staticCheck(
  code: string,
  board: BoardTables,
  linux: BoardTables,
  jsExports: Record<string, string[]>
): StaticReport {
  const ast = acorn.parse(code, { ecmaVersion: 5, sourceType: 'script', ranges: true }) as unknown as Node;
  const sm = eslintScope.analyze(ast, { ecmaVersion: 5 });
  const findings: string[] = [];
  const globalsOf = (t: BoardTables) => {
    const g = new Map<string, string>(); // name -> class (for objects: their class)
    for (const [type, cls, name] of t.symbols) {
      if (cls === '' && (type === 'function' || type === 'variable' || type === 'object')) g.set(name, name);
      if (type === 'class' || type === 'staticmethod' || type === 'staticproperty' || type === 'constructor')
        if (cls && !t.libraries.includes(cls)) g.set(cls, cls);
    }
    for (const p of Object.keys(t.pins)) g.set(p, 'Pin');
    for (const k of ['undefined', 'NaN', 'Infinity', 'arguments']) g.set(k, k);
    // The Linux build's own natives (targets/linux/main.c), outside the symbol tables.
    if (t.board === 'LINUX') for (const k of ['quit', 'interrupt']) g.set(k, k);
    return g;
  };
  const bg = globalsOf(board);
  const lg = globalsOf(linux);
  const has = (t: BoardTables, cls: string, name: string) => t.symbols.some((s) => s[1] === cls && s[2] === name);
  // Objects that are instances of a class (Serial1 → Serial): read from the symbol types.
  const instanceOf: Record<string, string> = { USB: 'Serial', LoopbackA: 'Serial', LoopbackB: 'Serial' };
  for (let i = 1; i <= 6; i++) instanceOf['Serial' + i] = 'Serial';
  for (let i = 1; i <= 3; i++) {
    instanceOf['SPI' + i] = 'SPI';
    instanceOf['I2C' + i] = 'I2C';
  }
  const uni = universal(board);
  const membersOk = (cls: string, member: string, t: BoardTables): boolean => {
    if (uni.has(member)) return true;
    const inst = instanceOf[cls];
    if (inst)
      return t.symbols.some((s) => s[1] === inst && s[2] === member && (s[0] === 'method' || s[0] === 'property'));
    if (jsExports[cls]) return jsExports[cls].includes(member);
    return (
      t.symbols.some(
        (s) =>
          s[1] === cls && s[2] === member && (s[0] === 'staticmethod' || s[0] === 'staticproperty' || s[0] === 'class')
      ) ||
      (cls !== '' && t.symbols.some((s) => s[1] === cls && s[0] === 'class' && s[2] === member))
    );
  };
  const globals = new Map<string, number>();
  const globalIds = new Set<unknown>();
  for (const r of sm.globalScope.through) {
    globals.set(r.identifier.name, (globals.get(r.identifier.name) ?? 0) + 1);
    globalIds.add(r.identifier);
  }
  const pinGlobals: string[] = [];
  const stubs = new Set<string>();
  const tripwires = new Set<string>();
  for (const [name, n] of globals) {
    if (!bg.has(name)) {
      findings.push(
        `global \`${name}\` (${n}×): not in the Espruino WiFi build${lg.has(name) ? ' (the Linux build has it)' : ''}`
      );
      if (lg.has(name)) tripwires.add(name);
      continue;
    }
    if (board.pins[name]) pinGlobals.push(name);
    if (!lg.has(name) && !board.pins[name]) {
      const dev = board.devices[name] as { pin?: string } | undefined;
      if (dev && dev.pin) pinGlobals.push(`${name}=${dev.pin}`);
      else if (name === 'LED' || name === 'BTN')
        pinGlobals.push(`${name}=${name === 'LED' ? board.devices.LED1.pin : board.devices.BTN1.pin}`);
      else stubs.add(name);
    }
  }
  // require("x"), its members, and members of built-in objects.
  const modules = new Set<string>();
  const moduleVars = new Map<unknown, string>(); // eslint-scope Variable -> module name
  const isRequire = (n: Node | undefined): string | undefined => {
    if (!n || n.type !== 'CallExpression') return undefined;
    const c = n.callee as Node;
    const named =
      (c.type === 'Identifier' && c.name === 'require') ||
      (c.type === 'MemberExpression' &&
        !c.computed &&
        (c.object as Node).type === 'Identifier' &&
        (c.object as Node).name === 'global' &&
        (c.property as Node).name === 'require');
    const a = (n.arguments as Node[])[0];
    return named && a && a.type === 'Literal' && typeof a.value === 'string' ? (a.value as string) : undefined;
  };
  walk(ast, (n) => {
    const m = isRequire(n);
    if (m !== undefined) {
      modules.add(m);
      if (!board.libraries.includes(m) && !board.jsmodules.includes(m))
        findings.push(`require("${m}"): no such module in the Espruino WiFi build`);
    }
  });
  // A variable holding a module: every value written to it is the same require("x").
  type Ref = { identifier: Node; writeExpr?: Node };
  const scopeOf = sm as unknown as { scopes: { variables: { name: string; references: Ref[] }[] }[] };
  for (const scope of scopeOf.scopes) {
    for (const v of scope.variables) {
      const writes = v.references.filter((r) => r.writeExpr).map((r) => isRequire(r.writeExpr));
      if (writes.length > 0 && writes[0] !== undefined && writes.every((x) => x === writes[0]))
        moduleVars.set(v, writes[0]);
    }
  }
  const idToModule = new Map<Node, string>();
  for (const [v, mod] of moduleVars)
    for (const r of (v as { references: Ref[] }).references) idToModule.set(r.identifier, mod);
  const seen = new Set<string>();
  walk(ast, (n) => {
    if (n.type !== 'MemberExpression' || n.computed) return;
    const obj = n.object as Node;
    const member = (n.property as Node).name as string;
    let cls: string | undefined;
    let label = '';
    const mod = isRequire(obj) ?? (obj.type === 'Identifier' ? idToModule.get(obj) : undefined);
    if (mod !== undefined) {
      cls = mod;
      label = `require("${mod}").${member}`;
    } else if (obj.type === 'Identifier' && globalIds.has(obj) && bg.has(obj.name as string)) {
      const g = obj.name as string;
      if (bg.get(g) === 'Pin' || g === 'global') return;
      cls = g;
      label = `${g}.${member}`;
    }
    if (cls === undefined || seen.has(label)) return;
    seen.add(label);
    if (!membersOk(cls, member, board)) {
      const onLinux = membersOk(cls, member, linux) && !jsExports[cls];
      findings.push(`${label}: not in the Espruino WiFi build${onLinux ? ' (the Linux build has it)' : ''}`);
      if (onLinux && !isRequire(obj) && mod === undefined) tripwires.add(`${cls}.${member}`);
    } else if (
      !jsExports[cls] &&
      !instanceOf[cls] &&
      has(board, cls, member) &&
      !has(linux, cls, member) &&
      mod === undefined
    )
      stubs.add(`${cls}.${member}`);
  });
  return {
    findings,
    pinGlobals,
    stubs: [...stubs],
    tripwires: [...tripwires],
    globals: [...globals.keys()].sort(),
    modules: [...modules].sort()
  };
}

interface Node {
  type: string;
  [k: string]: unknown;
}

function walk(node: unknown, visit: (n: Node) => void): void {
  if (!node || typeof (node as Node).type !== 'string') return;
  visit(node as Node);
  for (const k of Object.keys(node as object)) {
    const v = (node as Record<string, unknown>)[k];
    if (Array.isArray(v)) for (const c of v) walk(c, visit);
    else if (v && typeof (v as Node).type === 'string') walk(v, visit);
  }
}

/** The pins table the prelude reads (Storage file `.bpins`): ` A5:ADC1_IN5,SPI1_SCK ...`. */
export function pinTable(t: BoardTables): string {
  const keep = /^(ADC\d_IN\d+|USART\d_(TX|RX|CTS)|SPI\d_(SCK|MISO|MOSI))$/;
  return Object.entries(t.pins)
    .map(([p, f]) => ` ${p}:${f.filter((x) => keep.test(x)).join(',')}`)
    .join('');
}

// ---------------------------------------------------------------------------------------------
// Serial bridges

/**
 * The serial lines to the unit. What the unit sends on a port goes through a pseudo-terminal (one
 * process, pty-bridge.py, for all): each channel's `path` is what the interpreter opens. What a
 * device sends to the unit is appended, paced at the UART's rate, to the channel's receive file in
 * the unit's folder (`.rx1`, `.rx2`, `.rxc`), which the prelude reads and hands to the Serial as
 * its `data` events: the Linux build's own serial input loses bytes (see pty-bridge.py).
 */
export class PtyMux {
  private child: ChildProcess;
  private inbuf = Buffer.alloc(0);
  readonly channels: PtyBridge[] = [];

  private constructor(names: string[]) {
    this.child = spawn('python3', [path.join(HERE, 'pty-bridge.py'), ...names], { stdio: ['pipe', 'pipe', 'pipe'] });
    names.forEach((n) => this.channels.push(new PtyBridge(n)));
    this.child.stdout!.on('data', (d: Buffer) => {
      this.inbuf = Buffer.concat([this.inbuf, d]);
      while (this.inbuf.length >= 3) {
        const i = this.inbuf[0];
        const n = this.inbuf.readUInt16BE(1);
        if (this.inbuf.length < 3 + n) break;
        const data = this.inbuf.subarray(3, 3 + n).toString('latin1');
        this.inbuf = this.inbuf.subarray(3 + n);
        const c = this.channels[i];
        if (c) c.received(data);
      }
    });
  }

  static open(names: string[]): Promise<PtyMux> {
    const m = new PtyMux(names);
    return new Promise((resolve, reject) => {
      let err = '';
      const t = setTimeout(() => reject(new Error(`pty bridge did not start: ${err}`)), 5000);
      m.child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        for (const l of err.split('\n')) {
          const x = /^PTY (\d+) \S+ (\S+)/.exec(l);
          if (x) m.channels[Number(x[1])].path = x[2];
        }
        if (m.channels.every((c) => c.path)) {
          clearTimeout(t);
          resolve(m);
        }
      });
      m.child.on('error', (e) => reject(e));
    });
  }

  channel(name: string): PtyBridge {
    return this.channels.find((c) => c.name === name)!;
  }

  /** A power cut: what the devices were still sending is lost. */
  flush(): void {
    for (const c of this.channels) c.drop();
  }

  close(): Promise<void> {
    this.flush();
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) return resolve();
      const t = setTimeout(() => {
        this.child.kill('SIGKILL');
        resolve();
      }, 2000);
      this.child.on('exit', () => {
        clearTimeout(t);
        resolve();
      });
      this.child.stdin!.end();
    });
  }
}

/** One serial line to the unit (a channel of the PtyMux). */
export class PtyBridge {
  path = '';
  /** The file the prelude reads this line's input from (set by the unit that uses it). */
  rxFile = '';
  private listener: ((data: string) => void) | undefined;
  private queue = '';
  private pacer: NodeJS.Timeout | undefined;
  private last = 0;
  /** Bytes the unit sent / was sent. */
  bytesFromUnit = 0;
  bytesToUnit = 0;

  constructor(
    readonly name: string,
    readonly baud = 115200
  ) {}

  /** @internal */
  received(data: string): void {
    this.bytesFromUnit += data.length;
    if (this.listener) this.listener(data);
  }

  /** @internal */
  drop(): void {
    this.queue = '';
    if (this.pacer) clearInterval(this.pacer);
    this.pacer = undefined;
  }

  /** What the device sends, paced at the UART's rate (bytes/s = baud / 10). */
  write(data: string): void {
    this.queue += data;
    if (this.pacer) return;
    this.last = Date.now();
    this.pacer = setInterval(() => {
      const now = Date.now();
      const n = Math.max(1, Math.floor(((now - this.last) * this.baud) / 10000));
      this.last = now;
      const part = this.queue.slice(0, n);
      this.queue = this.queue.slice(n);
      this.writeNow(part);
      if (!this.queue) this.drop();
    }, 4);
  }

  /** Unpaced (the control channel). */
  writeNow(data: string): void {
    if (!this.rxFile || !data) return;
    this.bytesToUnit += data.length;
    fs.appendFileSync(this.rxFile, Buffer.from(data, 'latin1'));
  }

  onData(fn: (data: string) => void): void {
    this.listener = fn;
  }

  /** As `SimSerialPort` for the emulators: their `write` goes to the unit. */
  port(): SimSerialPort {
    return { write: (d) => this.write(d), onData: (fn) => this.onData(fn) };
  }
}

// ---------------------------------------------------------------------------------------------
// The unit

export interface MemoryFigures {
  used: number;
  free: number;
  total: number;
  /** Lowest free the prelude saw since the last `R` (sampled; see prelude.js). */
  lowFree: number;
  lowAt: string;
  errorFlags: string;
  /** Largest E.memoryArea copy the stand-in made (bytes; the board maps flash instead). */
  memoryAreaCopy: number;
  /** Storage: bytes of files and trash, and free bytes after the last file. */
  storageUsed: number;
  storageFree: number;
  /** Native crypto calls refused for want of one free run for their result: SHA256/AES encrypt/AES decrypt. */
  refused: string;
}

export const RCC = { POR: (1 << 27) | (1 << 26), SOFT: 1 << 28, IWDG: (1 << 29) | (1 << 26) };

export interface UnitOptions {
  bin: string;
  dir: string;
  /** Serial devices behind the ports: `Serial1` the modem, `Serial2` the ESP8266. */
  serials: Record<string, PtyBridge>;
  ctl: PtyBridge;
  /** The control channel's serial device (one the image never uses). */
  ctlDevice: string;
  /**
   * The console's input through a file the prelude reads (`.rxu`, its setting `u`), not stdin:
   * for long transfers (a flash through the tools), which stdin garbles now and then.
   */
  usbFile?: boolean;
  /** Output pins changes, e.g. forwarded to the ESP8266 (A14) or the modem's power key (B4). */
  onPin?: (pin: string, v: number) => void;
  /**
   * The level each of these pins takes at every reset, before the firmware drives it, handed to
   * `onPin` at each boot: a reset makes every pin an input, and its pull decides (on the Espruino
   * WiFi, A14 is the ESP8266's CH_PD and SWCLK, pulled down: the chip is off until the firmware
   * powers it, whatever it was doing).
   */
  resetLevels?: Record<string, number>;
}

/** The interpreter running the stored image, with its console and the prelude's control channel. */
export class BoardUnit {
  private child: ChildProcess | undefined;
  private out = '';
  private ctlLine = '';
  private memWait: ((m: MemoryFigures) => void)[] = [];
  readonly pins: { pin: string; v: number; at: number }[] = [];
  readonly violations: string[] = [];
  readonly notes: string[] = [];
  readonly events: { kind: string; at: number; text: string }[] = [];
  /** The interpreter itself crashed (a signal), as it did under memory exhaustion. */
  readonly crashes: string[] = [];
  /** Variables in use at each `require` (the prelude's @Q trace), by boot. */
  readonly requires: { module: string; used: number; at: number; boot: number }[] = [];
  /** Native results refused for want of a free run (prelude `@F`): the call, its input's bytes, free variables just after. */
  readonly refusals: { what: string; bytes: number; free: number; at: number; boot: number }[] = [];
  /** Boots, by reset cause; and the prelude's @B figures of the last one. */
  boots = 0;
  bootFigures = { atStart: 0, afterPrelude: 0, csr: 0 };
  /** Why the interpreter last exited (`reboot`, `killed`, `stopped`, or an exit code). */
  lastExit = '';
  private expectExit = '';
  /** Restart automatically after E.reboot / a watchdog lapse, as the board does. */
  autoRestart = true;

  /**
   * The independent watchdog, kept here and not in the prelude: the prelude's timers are the
   * interpreter's, and after running out of memory 2v29 can remove every interval ("Ctrl-C while
   * processing interval - removing it") and stay interrupted, where the board's IWDG, hardware,
   * still resets it. The prelude reports the enable (`@E s`) and each kick (`@K`).
   */
  private wdMs = 0;
  private kickedAt = 0;

  constructor(readonly o: UnitOptions) {
    o.ctl.onData((d) => this.control(d));
    setInterval(() => {
      const late = Date.now() - this.kickedAt;
      if (!this.wdMs || !this.running() || late <= this.wdMs) return;
      this.wdMs = 0;
      this.events.push({ kind: 'watchdog', at: Date.now(), text: `no kick for ${late} ms` });
      this.out += `\n[harness] watchdog lapse (${late} ms without a kick): the board resets\n`;
      void this.resetBy(RCC.IWDG, 'watchdog');
    }, 100).unref();
  }

  output(): string {
    return this.out;
  }

  running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  private control(d: string): void {
    this.ctlLine += d;
    let nl: number;
    while ((nl = this.ctlLine.indexOf('\n')) >= 0) {
      const l = this.ctlLine.slice(0, nl).replace(/\r$/, '');
      this.ctlLine = this.ctlLine.slice(nl + 1);
      const f = l.split(' ');
      const at = Date.now();
      if (f[0] === '@P') {
        const v = Number(f[2]);
        this.pins.push({ pin: f[1], v, at });
        if (this.o.onPin) this.o.onPin(f[1], v);
      } else if (f[0] === '@V') {
        this.violations.push(l.slice(3));
        this.events.push({ kind: 'violation', at, text: l.slice(3) });
      } else if (f[0] === '@N') {
        this.notes.push(l.slice(3));
      } else if (f[0] === '@M') {
        const m: MemoryFigures = {
          used: Number(f[1]),
          free: Number(f[2]),
          total: Number(f[3]),
          lowFree: Number(f[4]),
          lowAt: f[5].replace(/_/g, ' '),
          errorFlags: f[6] === '-' ? '' : f[6],
          memoryAreaCopy: Number(f[7]),
          storageUsed: Number(f[8]),
          storageFree: Number(f[9]),
          refused: f[10] || '?'
        };
        const w = this.memWait.shift();
        if (w) w(m);
      } else if (f[0] === '@Q') {
        this.requires.push({ module: f[1], used: Number(f[2]), at, boot: this.boots });
      } else if (f[0] === '@F') {
        this.refusals.push({ what: f[1], bytes: Number(f[2]), free: Number(f[3]), at, boot: this.boots });
      } else if (f[0] === '@B') {
        this.bootFigures = { atStart: Number(f[1]), afterPrelude: Number(f[2]), csr: Number(f[3]) };
      } else if (f[0] === '@R') {
        this.expectExit = 'reboot';
      } else if (f[0] === '@E') {
        this.wdMs = Number(f[1]) * 1000;
        this.kickedAt = at;
      } else if (f[0] === '@K') {
        this.kickedAt = at;
      }
    }
  }

  /** Boot (the reset flags as RCC_CSR shows them after this kind of reset). */
  start(csr: number): void {
    fs.writeFileSync(path.join(this.o.dir, '.rcc'), String(csr));
    // Each line's input file, in this unit's folder (the prelude reads from its end at boot).
    const rx: [PtyBridge, string][] = [[this.o.ctl, '.rxc']];
    for (const [dev, b] of Object.entries(this.o.serials)) rx.push([b, '.rx' + dev.slice(6)]);
    for (const [b, f] of rx) {
      b.rxFile = path.join(this.o.dir, f);
      if (!fs.existsSync(b.rxFile)) fs.writeFileSync(b.rxFile, '');
    }
    const usb = path.join(this.o.dir, '.rxu');
    if (this.o.usbFile && !fs.existsSync(usb)) fs.writeFileSync(usb, '');
    this.expectExit = '';
    this.wdMs = 0; // a reset stops the watchdog until the firmware enables it again
    this.boots++;
    this.out += `\n[harness] boot ${this.boots} (RCC_CSR 0x${csr.toString(16)})\n`;
    if (this.o.onPin) for (const [pin, v] of Object.entries(this.o.resetLevels || {})) this.o.onPin(pin, v);
    const child = spawn(this.o.bin, [], { cwd: this.o.dir, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    // A line half typed before a reset is not typed into the next boot; a child gone mid-line is no error.
    this.typist.drop();
    child.stdin!.on('error', () => undefined);
    // The board's console is the STM32's own USB: a reset takes the device off the bus, so a host
    // connected to it loses the port and must open it again once the board is back.
    if (this.client) this.client.destroy();
    this.client = undefined;
    child.stdout!.on('data', (d: Buffer) => {
      this.out += d.toString('latin1');
      if (this.client) this.client.write(d);
    });
    child.stderr!.on('data', (d: Buffer) => (this.out += d.toString('latin1')));
    child.on('exit', (code, sig) => {
      // E.reboot() on the Linux build prints "Not implemented" and exits 1; the prelude's @R may
      // come in just after the exit: wait for it.
      setTimeout(() => {
        if (this.child !== child) return;
        let why = this.expectExit || (sig ? `signal ${sig}` : `exit ${code}`);
        if (why === 'exit 1' && /Not implemented\s*$/.test(this.out)) why = 'reboot';
        this.lastExit = why;
        this.out += `\n[harness] interpreter ended: ${why}\n`;
        this.events.push({
          kind: why === 'reboot' ? 'reboot' : 'exit',
          at: Date.now(),
          text: why === 'reboot' ? 'E.reboot()' : why
        });
        if (sig === 'SIGSEGV' || sig === 'SIGABRT') this.crashes.push(why);
        if (why === 'reboot' && this.autoRestart) this.start(RCC.SOFT);
      }, 150);
    });
  }

  private async resetBy(csr: number, why: string): Promise<void> {
    if (!this.autoRestart) return;
    await this.kill(why);
    this.start(csr);
  }

  /** Stop the interpreter at once (SIGKILL): a power cut or a reset. */
  async kill(why = 'killed'): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    this.expectExit = why;
    if (this.client) this.client.destroy();
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  }

  /**
   * Type `text` at the console, 16 bytes every 4 ms (./typist.ts): written at once, a 1.2 KB line
   * was garbled now and then while the unit was busy (a SyntaxError from the REPL, or a line left
   * open that the next requests piled onto until the heap ran out).
   */
  console(text: string): void {
    if (this.o.usbFile) {
      if (this.running()) fs.appendFileSync(path.join(this.o.dir, '.rxu'), Buffer.from(text, 'latin1'));
    } else void this.typist.type(text);
  }

  private typist = createTypist(
    (s) => this.child!.stdin!.write(s),
    () => this.running(),
    16,
    4
  );

  private client: net.Socket | undefined;
  private server: net.Server | undefined;

  /**
   * The console as a host sees the board's USB port, on a TCP port of 127.0.0.1 (for the Espruino
   * tools' `tcp://` connection): what the host sends is typed at the console as the USB would
   * deliver it, what the interpreter prints goes to the host. One host at a time; the connection
   * is dropped at every reset, as the USB device leaves the bus.
   */
  serveConsole(): Promise<number> {
    const server = net.createServer((s) => {
      if (this.client) this.client.destroy();
      this.client = s;
      s.on('data', (d: Buffer) => {
        if (this.client === s && this.running()) this.console(d.toString('latin1'));
      });
      s.on('error', () => undefined);
      s.on('close', () => {
        if (this.client === s) this.client = undefined;
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
    });
  }

  ctl(cmd: string): void {
    this.o.ctl.writeNow(cmd + '\n');
  }

  async waitFor(re: RegExp, ms: number, from = 0): Promise<boolean> {
    const end = Date.now() + ms;
    while (!re.test(this.out.slice(from))) {
      if (Date.now() > end) return false;
      await sleep(25);
    }
    return true;
  }

  async memory(ms = 3000): Promise<MemoryFigures | undefined> {
    if (!this.running()) return undefined;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        const i = this.memWait.indexOf(done);
        if (i >= 0) this.memWait.splice(i, 1);
        resolve(undefined);
      }, ms);
      const done = (m: MemoryFigures) => {
        clearTimeout(t);
        resolve(m);
      };
      this.memWait.push(done);
      this.ctl('M');
    });
  }

  async stop(): Promise<void> {
    this.autoRestart = false;
    await this.kill('stopped');
    if (this.client) this.client.destroy();
    if (this.server) this.server.close();
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The interpreter command that stores the harness files and the image (2 KB pieces), prints their sizes and the image's SHA-256, and quits. */
export function storeCommand(files: { name: string; file: string }[], image: boolean): string {
  const parts = files
    .map((f) => `w(${JSON.stringify(f.name)},${JSON.stringify(path.basename(f.file))},${fs.statSync(f.file).size});`)
    .join('');
  return (
    'var S=require("Storage");function w(n,p,z){var f=E.openFile(p,"r"),o=0,d;while((d=f.read(2048))&&d.length){S.write(n,d,o,z);o+=d.length;}f.close();print("STORED "+n+" "+S.read(n).length);}' +
    parts +
    (image
      ? 'var h=new Uint8Array(require("crypto").SHA256(S.read(".bootcde"))),x="";for(var i=0;i<32;i++)x+=(256+h[i]).toString(16).substr(1);print("BOOTCDE SHA256 "+x);'
      : 'print("STORED DONE");') +
    'quit();'
  );
}

/** The prelude as stored in `.boot0`: its source with the harness's settings as its argument. */
export function preludeSource(settings: Record<string, unknown>): string {
  const src = fs.readFileSync(path.join(HERE, 'prelude.js'), 'utf8');
  const tail = '})(H);';
  const at = src.lastIndexOf(tail);
  if (at < 0) throw new Error('prelude.js must end with })(H);');
  return src.slice(0, at) + '})(' + JSON.stringify(settings) + ');\n';
}

/**
 * Run `code` with `-e` in `dir` and return what it printed once `until` shows (or after `ms`).
 * stdin stays open: at end-of-file the Linux build reads junk bytes as console input.
 */
export async function evalOnce(
  bin: string,
  dir: string | undefined,
  code: string,
  until: RegExp,
  ms = 30000
): Promise<string> {
  const child = spawn(bin, ['-e', code], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  const exited = new Promise((r) => child.on('exit', r));
  const end = Date.now() + ms;
  while (!until.test(out) && child.exitCode === null && Date.now() < end) await sleep(20);
  await Promise.race([exited, sleep(1000)]);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
  return out;
}
