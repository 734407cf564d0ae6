/**
 * The installer tool's side of the console protocol (docs/installer.md): a transport (the USB
 * serial port through the `espruino` tools, or a simulated unit's console), a session that sends
 * requests and matches replies, and the words: the unit answers with short error codes and the
 * figures behind them; this file turns them into a reason and a hint an installer can act on
 * (every code: firmware/installer-codes.ts). Also the tools' shared input handling: command-line
 * options (a missing value is an error) and JSON files (errors give a position, never the text).
 *
 * Nothing here prints a key or a password: requests are never echoed, and the password goes to the
 * port only as the unlock line Espruino's console lock asks for.
 */
import * as fs from 'node:fs';
import { reasonWords } from '../firmware/config-words';
import { INSTALLER_ERRORS, InstallerError, InstallerProgress } from '../firmware/installer-codes';
import { MAX_REQUEST } from '../firmware/installer';
import type { SimConsole } from '../sim/hal';

/**
 * Bytes of the installer module per `code` request: 1,024 base64 characters. A longer line overruns
 * the interpreter's input buffer when sent at once (2,732 characters lost bytes on the 2v29 Linux
 * build; the config, ~1.3 KB, does not).
 */
export const MODULE_PIECE = 768;

/** Bytes to and lines from a unit's console. */
export interface Transport {
  write(text: string): void;
  onLine(fn: (line: string) => void): void;
  close(): Promise<void>;
}

/** A simulated unit's console. */
export function simTransport(con: SimConsole): Transport {
  let off: (() => void) | undefined;
  return {
    write: (text) => con.send(text),
    onLine(fn) {
      off = con.onOutput(fn);
    },
    close: async () => {
      if (off) off();
    }
  };
}

/**
 * A board on a serial port (or `tcp://host:port`), through the `espruino` tools' connection code.
 * The board's console is the STM32's own USB: at every reset (a config applied, a decommission,
 * a watchdog) the port leaves and comes back, so a lost connection is opened again every 500 ms
 * until `close()`; what is written meanwhile is not sent (the request then has no answer, and
 * `Session.waitForUnit` asks again). Run against the release interpreter by `npm run
 * test:espruino` (tools/espruino-wifi.ts), whose board harness serves the console on TCP.
 */
export async function serialTransport(port: string, o: { openMs?: number } = {}): Promise<Transport> {
  const openMs = o.openMs ?? 10000;
  quietTools();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esp = require('espruino');
  // Their start-up lists every file they load: not for the installer.
  const say = console.log;
  console.log = () => undefined;
  try {
    await new Promise<void>((resolve) => esp.init(resolve));
  } finally {
    console.log = say;
  }
  const Espruino = (
    globalThis as unknown as { Espruino: { Core: { Serial: SerialApi }; Config: Record<string, unknown> } }
  ).Espruino;
  // As the tools' own `--no-ble`: a USB port or TCP needs no Bluetooth, and on a machine without
  // D-Bus the tools' Bluetooth scan dies on an unhandled error (seen on the CI image). Nor may the
  // tools type at the unit's console on their own: not `setTime(…)` before a write, and not their
  // board query at connect, which begins with Ctrl-C (that interrupts whatever JavaScript the unit
  // is running at that moment, a timer of the alarm path included).
  Espruino.Config.BLUETOOTH_LOW_ENERGY = false;
  Espruino.Config.BLUETOOTH_LOW_ENERGY_DBUS = false;
  Espruino.Config.SET_TIME_ON_WRITE = false;
  Espruino.Config.ENV_ON_CONNECT = false;
  // `tcp://HOST:PORT`: the tools list only the network ports they are told of.
  if (port.startsWith('tcp://')) Espruino.Config.SERIAL_TCPIP = [port];
  const E = Espruino.Core.Serial;
  let partial = '';
  let listener: ((line: string) => void) | undefined;
  E.startListening((data: ArrayBuffer) => {
    partial += Buffer.from(new Uint8Array(data)).toString('latin1');
    let nl: number;
    while ((nl = partial.search(/\r|\n/)) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (line && listener) listener(line);
    }
  });
  let up = false;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  // The tools' open calls back only on success (a refused TCP connection calls nothing): bounded here.
  const openOnce = () =>
    new Promise<boolean>((resolve) => {
      let settled = false;
      const settle = (ok: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(ok);
      };
      const timer = setTimeout(() => settle(false), openMs);
      E.open(
        port,
        (status: unknown) => settle(status !== undefined),
        () => {
          up = false;
          partial = '';
          settle(false);
          reopen();
        }
      );
    });
  const reopen = () => {
    if (retry || closed) return;
    retry = setTimeout(async () => {
      retry = undefined;
      if (closed) return;
      up = await openOnce();
      if (!up) reopen();
    }, 500);
  };
  up = await openOnce();
  if (!up) {
    closed = true;
    throw new Error(`cannot open ${port} (no answer within ${openMs / 1000} s)`);
  }
  return {
    write: (text) => {
      if (up) E.write(text, false);
    },
    onLine(fn) {
      listener = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        if (retry) clearTimeout(retry);
        if (up) E.close();
        up = false;
        setTimeout(resolve, 300);
      })
  };
}

let quieted = false;
/**
 * The tools log their connection's doings to the console (`serial: Connected`, each port scan,
 * each refused reconnect): the installer reads the tool's own lines, so those are dropped.
 */
function quietTools(): void {
  if (quieted) return;
  quieted = true;
  const noise =
    /^(serial:|serial_node_ble:|Noble:|serialport error:|Getting ports|RECEIVE ERROR:|Unable to open device)/;
  for (const k of ['log', 'error'] as const) {
    const orig = console[k].bind(console);
    console[k] = (...a: unknown[]) => {
      if (typeof a[0] === 'string' && noise.test(a[0])) return;
      orig(...a);
    };
  }
}

interface SerialApi {
  startListening(fn: (data: ArrayBuffer) => void): void;
  open(port: string, opened: (status: unknown) => void, closed: () => void): void;
  write(data: string, showStatus: boolean, cb?: () => void): void;
  close(): void;
}

export interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  [k: string]: unknown;
}

/** Requests and replies over a transport. */
export class Session {
  private nextId = 1;
  private waiting = new Map<number, { resolve: (r: Reply) => void; progress?: (text: string) => void }>();
  /** Console lines that were not replies (the unit's log, prompts). */
  readonly lines: string[] = [];

  constructor(private readonly t: Transport) {
    t.onLine((line) => this.line(line));
  }

  /**
   * True once the console answered a request as a bare Espruino does (`Uncaught ReferenceError:
   * "I" is not defined`): the board runs no firmware of ours (fresh from the factory, or erased).
   */
  bare = false;
  /** Espruino's lock prompt was seen since the last request was typed. */
  private lockPrompt = false;

  private line(line: string): void {
    if (/^(>|\x1b\[J)*Uncaught ReferenceError: "I" is not defined/.test(line)) this.bare = true;
    // What Espruino's locked console prints for a line that is not its password (2v29,
    // src/jsinteractive.c): the unit is there, and locked.
    if (/Invalid password|^password>/.test(line)) this.lockPrompt = true;
    // A reply printed while the interpreter shows its prompt comes after the prompt's erase
    // (`>`, CR, ESC [J): on the 2v29 interpreter the line reads `\x1b[J@I {…}`.
    const at = line.indexOf('@I {');
    if (at < 0 || !/^(>|\x1b\[J)*$/.test(line.slice(0, at))) {
      this.lines.push(line.slice(0, 2000));
      if (this.lines.length > 500) this.lines.splice(0, 100);
      return;
    }
    let r: Reply & { progress?: string };
    try {
      r = JSON.parse(line.slice(at + 3));
    } catch {
      return;
    }
    if (typeof r !== 'object' || r === null || typeof r.id !== 'number') return;
    const w = this.waiting.get(r.id);
    if (!w) return;
    if (typeof r.progress === 'string') {
      if (w.progress) w.progress(progressWords(r));
      return;
    }
    this.waiting.delete(r.id);
    w.resolve(r);
  }

  /**
   * The installer module image (dist/installer-module.img) to give a unit that answers `no-module`:
   * the first such reply in a session writes it through the `code` request and asks again.
   */
  module: string | undefined;
  private moduleTried = false;
  /** What the last module write found (for the report: written, or why not). */
  moduleWrite: Reply | undefined;

  /** One request; resolves with the reply, or `{ok: false, error: 'no-answer'}` after `timeoutMs`. */
  async request(
    op: string,
    args: Record<string, unknown> = {},
    opts: { timeoutMs?: number; progress?: (text: string) => void } = {}
  ): Promise<Reply> {
    const r = await this.ask(op, args, opts);
    if (r.ok || r.error !== 'no-module' || !this.module || this.moduleTried) return r;
    this.moduleTried = true;
    this.moduleWrite = await this.writeModule(fs.readFileSync(this.module));
    return this.moduleWrite.ok ? this.ask(op, args, opts) : r;
  }

  /**
   * Write a module image into the unit's code sector in pieces of `PIECE` bytes (each request stays
   * under the unit's 4,000-character limit), then have the unit check it against its image.
   */
  async writeModule(image: Uint8Array): Promise<Reply> {
    for (let at = 0; at < image.length; at += MODULE_PIECE) {
      const data = Buffer.from(image.subarray(at, at + MODULE_PIECE)).toString('base64');
      const w = await this.ask('code', { at, data }, { timeoutMs: 5000 });
      if (!w.ok) return w;
    }
    return this.ask('code', { done: true }, { timeoutMs: 5000 });
  }

  /**
   * A board without our firmware (`bare`): its board and interpreter version, from its own REPL, in
   * the form of an `info` reply with no firmware (so the tool flashes it).
   */
  bareInfo(timeoutMs = 3000): Promise<Reply> {
    return this.ask(
      'info',
      {},
      { timeoutMs },
      (id) =>
        '\x10print("@I "+JSON.stringify({id:' +
        id +
        ',ok:true,board:process.env.BOARD,fw:"none (Espruino "+process.env.VERSION+")",commissioned:false}))\n'
    );
  }

  private ask(
    op: string,
    args: Record<string, unknown>,
    opts: { timeoutMs?: number; progress?: (text: string) => void },
    text = (id: number) => '\x10I(' + JSON.stringify({ id, op, ...args }) + ')\n'
  ): Promise<Reply> {
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? 10000;
    return new Promise((resolve) => {
      this.lockPrompt = false;
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({
          id,
          ok: false,
          error: 'no-answer',
          waitedMs: timeoutMs,
          ...(this.lockPrompt ? { locked: true } : {})
        });
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          // The unit echoes nothing of a request: the tool knows what it asked.
          resolve(r.error === 'unknown-op' ? { ...r, op, step: args.step } : r);
        },
        progress: opts.progress
      });
      this.t.write(text(id));
    });
  }

  /**
   * Wait until the unit answers `info` (after a restart), up to `ms`. A commissioned unit locks its
   * console again at boot: with `password`, a silent unit is also offered the password.
   */
  async waitForUnit(ms: number, password?: string): Promise<Reply> {
    const end = Date.now() + ms;
    let r: Reply = { id: 0, ok: false, error: 'no-answer', waitedMs: ms };
    while (Date.now() < end) {
      r = await this.request('info', {}, { timeoutMs: 1000 });
      if (r.ok) return r;
      if (password !== undefined && (await this.unlock(password))) return this.request('info');
    }
    return r;
  }

  /** Type the password at a locked console; true when the unit then answers. */
  async unlock(password: string): Promise<boolean> {
    this.t.write(password + '\n');
    return (await this.request('info', {}, { timeoutMs: 2000 })).ok;
  }

  close(): Promise<void> {
    return this.t.close();
  }
}

/** Errors the tool itself gives a reply (no unit code): no answer in time, an unseen indicator. */
export const TOOL_ERRORS = ['no-answer', 'indicator-unseen'] as const;
export type ToolError = (typeof TOOL_ERRORS)[number];

type Words = { reason: string; hint: string };

/**
 * The words for every code (firmware/installer-codes.ts, and the tool's own): the type makes a code
 * without words a compile error, and test/installer-inputs.test.ts checks each.
 */
const ERROR_WORDS: {
  [C in InstallerError | ToolError]: (r: Reply, n: (k: string) => number, s: (k: string) => string) => Words;
} = {
  'no-answer': (r, n) =>
    r.locked
      ? {
          reason:
            'the unit is there, but its console is locked with an installer password and did not take the one given',
          hint:
            'this unit was commissioned before: give the password it was locked with; if no one has it, put it back to ' +
            'factory state by reflashing Espruino (docs/installer.md, "A unit locked with an unknown password")'
        }
      : {
          reason: `the unit did not answer within ${n('waitedMs') / 1000} s`,
          hint: 'check the USB cable and port; if the console is locked, give the installer password'
        },
  'indicator-unseen': () => ({
    reason: 'the installer did not see three long blinks',
    hint: 'check the LED and its wiring; a unit without a working indicator cannot confirm alarms'
  }),
  'config-refused': (r) => ({
    reason:
      'the unit refused the config and keeps its current one: ' +
      (Array.isArray(r.problems) ? (r.problems as unknown[]) : []).map((p) => problemText(p)).join('; '),
    hint: 'correct each field named and run again'
  }),
  'config-store': (_r, n, s) => ({
    reason: `the config could not be stored (${s('why')}); the unit keeps its current one`,
    hint: `free flash is ${n('flashFree')} bytes: reflash the unit to compact storage and try again`
  }),
  'busy-recording': (_r, _n, s) => ({
    reason: `an alarm recording (${s('recording')}) is in progress: the config was not changed`,
    hint: 'wait until the alarm has ended and its recording is uploaded'
  }),
  'low-memory': (_r, n) => ({
    reason: `the unit is short of memory (${n('free')} blocks free): the config was not changed`,
    hint: 'wait a minute and try again; if it persists, restart the unit'
  }),
  'button-timeout': (_r, n) => ({
    reason: `no press of the panic button within ${n('waitedMs') / 1000} s`,
    hint: 'check the button cable and connector, then run again'
  }),
  'mic-none': () => ({
    reason: 'no audio blocks from the microphone',
    hint: 'capture is not running: power-cycle the unit; if it persists the board is faulty'
  }),
  'mic-silent': (_r, n) => ({
    reason: `the microphone is silent (rms ${n('rms')}, ${n('dbfs')} dBFS)`,
    hint: 'a dead or disconnected microphone: check its cable and the ADC pin'
  }),
  'mic-bias': (_r, n) => ({
    reason: `the microphone signal is off-centre (mean ${n('mean')}, 128 expected)`,
    hint: 'check the microphone supply and bias resistor'
  }),
  'mic-clip': (_r, n) => ({
    reason: `the microphone is clipping (${n('clippedPct')}% of samples)`,
    hint: 'move the unit away from loud sources (TV, speakers) or lower the gain'
  }),
  'no-receivers': () => ({
    reason: 'no receivers are configured',
    hint: 'the config needs a primary and a secondary receiver'
  }),
  'path-down': (r) => ({
    reason: `path down: ${(Array.isArray(r.down) ? (r.down as unknown[]) : []).map(String).join(', ')}`,
    hint: 'Wi-Fi: check the SSID and password and the router; cellular: the SIM, the APN and the antenna'
  }),
  'no-receiver': (_r, n) => ({
    reason: `the unit has no receiver ${n('route')}`,
    hint: 'the config has fewer receivers than the test expects'
  }),
  'report-noack': (_r, n, s) => ({
    reason: `no ACK to the manual test report from the ${s('path')} receiver within ${n('waitedMs') / 1000} s`,
    hint: 'check the receiver address, port, account and key with the monitoring centre'
  }),
  'mains-absent': () => ({
    reason: 'mains power is absent',
    hint: 'plug the supply into a socket that is not switched off at the wall'
  }),
  'battery-low': (_r, n) => ({
    reason: `the backup battery is low (${n('batteryV')} V, threshold ${n('lowBatteryV')} V)`,
    hint: 'charge or replace the battery before leaving the home'
  }),
  'spool-small': (_r, n) => ({
    reason: `the audio store has room for less than one full recording (${n('spoolFree')} of ${n('recordingBytes')} bytes)`,
    hint: 'fit a larger card, or let waiting recordings upload first'
  }),
  'card-fault': (_r, _n, s) => ({
    reason: `the audio card cannot be read (${s('why')}): no audio can be kept`,
    hint: 'check that a microSD card is in the slot and seated; replace it if it still fails, then restart the unit'
  }),
  'no-recorder': () => ({
    reason:
      "the unit's recorder did not start at this boot (no card, an unreadable one, or a boot cut short: its journal's boot-fail record says which); the alarm works, without audio, and the card's recordings are not known",
    hint: 'fit or replace the card and restart the unit; to decommission anyway, force with the installer password'
  }),
  'flash-full': (_r, n) => ({
    reason: `internal flash is nearly full (${n('flashFree')} bytes free)`,
    hint: 'reflash the unit (this compacts storage)'
  }),
  'clock-unknown': () => ({
    reason: 'no timestamped reply from the centre in the last 2 minutes',
    hint: 'run the manual test report step first'
  }),
  'bad-digest': () => ({
    reason: 'the unit refused to sign: the digest sent is not 64 lower-case hexadecimal digits',
    hint: 'the tool and the firmware disagree on the report format: use the tool that matches the firmware'
  }),
  'no-key': () => ({
    reason: 'the unit has no evidence key to sign with',
    hint: 'the config needs an evidence section (server, port, key)'
  }),
  'not-commissioned': () => ({
    reason: 'the unit holds no config, so it takes no installer password',
    hint: 'commission it (the tool writes the config first, then sets the password)'
  }),
  'password-bad': () => ({
    reason: 'the installer password must be 8-20 printable ASCII characters without spaces',
    hint: 'choose another password'
  }),
  'password-none': () => ({
    reason: 'no installer password is set on the unit',
    hint: 'give the password to lock with'
  }),
  'old-password': () => ({
    reason: 'the unit already has an installer password and it is not the one given: the password was not changed',
    hint: 'give the password this unit was locked with'
  }),
  'wrong-password': () => ({
    reason: 'wrong installer password: nothing was erased',
    hint: 'forcing needs the password this unit was locked with'
  }),
  'not-uploaded': (_r, n) => ({
    reason: `${n('recordings')} recording(s) on the unit are not yet uploaded: nothing was erased`,
    hint: 'restore the evidence path and wait for the upload; force (with the installer password) only when the evidence is accounted for'
  }),
  'centre-noack': (_r, n) => ({
    reason: `the centre did not acknowledge the decommission report within ${n('waitedMs') / 1000} s: nothing was erased`,
    hint: 'restore a path and try again, or force with the installer password'
  }),
  'too-long': () => ({
    reason: `the request is longer than the unit takes (${MAX_REQUEST} characters): nothing was done`,
    hint: 'a config that long cannot be valid: check the file'
  }),
  'unknown-op': (r, _n, s) => ({
    reason: `the unit does not know the request ${s('op')}${r.step !== undefined ? ` (step ${s('step')})` : ''}`,
    hint: 'the unit runs other firmware than this tool expects: flash it'
  }),
  exception: (_r, _n, s) => ({
    reason: `the unit failed on the request (${s('why')}); nothing else changed`,
    hint: 'see the unit log; if it persists, restart the unit and report the firmware version'
  }),
  'no-module': (_r, _n, s) => ({
    reason: `the unit's installer module is ${moduleWhy(s('why'))}; the unit protects as before, but answers no installer request`,
    hint: 'commission it with the tool of its firmware: the tool writes the module (it is erased with sectors 1-3 by an Espruino firmware update)'
  }),
  'code-bad': (_r, _n, s) => ({
    reason: `the installer module written does not check out (${moduleWhy(s('why'))})`,
    hint: "the module must come from the same build as the unit's image: flash both from one build"
  }),
  unavailable: () => ({
    reason: 'a part of the unit the installer service needs (the reporter or the recorder) did not start at boot',
    hint: 'see the unit log (boot-fail records); restart the unit'
  })
};

/** The code area's reasons (hal/types.ts `CodeArea.load`) in words. */
function moduleWhy(why: string): string {
  const words: { [why: string]: string } = {
    absent: 'missing',
    damaged: 'damaged',
    'other-build': 'of another firmware build',
    failed: 'unusable (it would not run)',
    range: 'outside its sector'
  };
  return Object.hasOwn(words, why) ? words[why] : why;
}

/** Every code that has words: the unit's and the tool's own. */
export const EXPLAINED = Object.keys(ERROR_WORDS);

function problemText(p: unknown): string {
  if (typeof p !== 'object' || p === null) return 'an unreadable problem';
  const q = p as { field?: unknown; reason?: unknown };
  const field = String(q.field).slice(0, 80);
  return `${field} ${reasonWords({ field, reason: String(q.reason).slice(0, 80) })}`;
}

/** A reply's error in an installer's words: what failed and what to do. */
export function explain(r: Reply): Words {
  const n = (k: string) => (typeof r[k] === 'number' ? (r[k] as number) : NaN);
  const s = (k: string) => (r[k] === undefined ? '?' : String(r[k]).slice(0, 80));
  const code = String(r.error);
  if (Object.hasOwn(ERROR_WORDS, code)) return ERROR_WORDS[code as InstallerError | ToolError](r, n, s);
  return { reason: `the unit reported ${code.slice(0, 40)}${r.why ? ` (${s('why')})` : ''}`, hint: 'see the unit log' };
}

/** A progress line's words (firmware/installer-codes.ts INSTALLER_PROGRESS). */
export function progressWords(p: { progress?: unknown; [k: string]: unknown }): string {
  const words: { [C in InstallerProgress]: () => string } = {
    button: () => 'waiting for a short press of the panic button',
    mic: () => `listening for ${Number(p.ms)} ms`,
    report: () => `manual test report (601) via ${String(p.path)} to ${String(p.host)}:${Number(p.port)}`,
    retire: () => 'reporting decommission (308) to the centre'
  };
  const code = String(p.progress);
  return Object.hasOwn(words, code) ? words[code as InstallerProgress]() : code.slice(0, 40);
}

/** Codes the unit can send that have no words (a test keeps this empty). */
export function unexplained(): string[] {
  return INSTALLER_ERRORS.filter((c) => !Object.hasOwn(ERROR_WORDS, c));
}

/**
 * Command-line options: `spec` names each option as `value` (needs one) or `flag`. Unknown options,
 * stray words, repeated options and a value missing (or another option in its place) are errors.
 */
export function parseOptions(
  argv: string[],
  spec: { [name: string]: 'value' | 'flag' }
): { [name: string]: string | true } {
  const out: { [name: string]: string | true } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--'))
      throw new Error(`unexpected argument ${JSON.stringify(a.slice(0, 40))}: every option starts with --`);
    const name = a.slice(2);
    if (!Object.hasOwn(spec, name))
      throw new Error(
        `unknown option --${name.slice(0, 40)} (options: ${Object.keys(spec)
          .map((k) => `--${k}`)
          .join(' ')})`
      );
    if (Object.hasOwn(out, name)) throw new Error(`--${name} is given twice`);
    if (spec[name] === 'flag') {
      out[name] = true;
      continue;
    }
    const v = argv[i + 1];
    if (v === undefined || v === '' || v.startsWith('--')) throw new Error(`--${name} needs a value`);
    out[name] = v;
    i++;
  }
  return out;
}

/** The largest JSON file the tools read (a config is ~2 KB, a report ~10 KB). */
export const MAX_JSON_FILE = 1 << 20;

/**
 * Read a JSON file. Errors name the file and, for bad JSON, the line and column only: never any of
 * its text (a config holds keys and passwords).
 */
export function readJsonFile(file: string, what: string): unknown {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new Error(`${what} ${file} cannot be read (${fsWords(e)})`);
  }
  if (!st.isFile()) throw new Error(`${what} ${file} is not a file`);
  if (st.size > MAX_JSON_FILE)
    throw new Error(`${what} ${file} is ${st.size} bytes: too large to be one (at most ${MAX_JSON_FILE})`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${what} ${file} cannot be read (${fsWords(e)})`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch {
    const at = jsonErrorAt(text);
    const where = at < 0 ? '' : `: line ${lineCol(text, at).line}, column ${lineCol(text, at).column}`;
    throw new Error(`${what} ${file} is not valid JSON${where} (its contents are not shown: they may hold keys)`);
  }
}

function lineCol(text: string, at: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < at && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: at - start + 1 };
}

/**
 * Where JSON text first goes wrong (offset), or -1 when it is valid: a small strict parser, so the
 * position never depends on the JavaScript engine's message (which quotes the text).
 */
export function jsonErrorAt(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const str = () => {
    if (text[i] !== '"') fail();
    i++;
    for (;;) {
      if (i >= text.length) fail();
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail();
      if (c === 0x5c) {
        i++;
        const e = text[i];
        if (e === 'u') {
          for (let k = 1; k <= 4; k++) if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) fail();
          i += 5;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
        else fail();
      } else i++;
    }
  };
  // Depth-bounded: a hostile file of 500,000 brackets must not overflow the stack.
  const value = (depth: number): void => {
    if (depth > 512) fail();
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (c === '{') {
          ws();
          str();
          ws();
          if (text[i] !== ':') fail();
          i++;
        }
        value(depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === close) {
          i++;
          return;
        }
        fail();
      }
    }
    if (c === '"') return str();
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    const m = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    m.lastIndex = i;
    if (c !== undefined && m.exec(text)) {
      i = m.lastIndex;
      return;
    }
    fail();
  };
  try {
    value(0);
    ws();
    if (i < text.length) fail();
    return -1;
  } catch (e) {
    if (typeof e === 'number') return e;
    throw e;
  }
}

/** A file-system error in words (its code, never a file's contents). */
export function fsWords(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const words: { [code: string]: string } = {
    ENOENT: 'no such file or folder',
    EACCES: 'permission denied',
    EPERM: 'not permitted',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left',
    ENOTDIR: 'a part of the path is a file, not a folder',
    EISDIR: 'it is a folder',
    EEXIST: 'it exists already',
    ELOOP: 'too many symbolic links'
  };
  return Object.hasOwn(words, code) ? `${words[code]}, ${code}` : code || 'error';
}
