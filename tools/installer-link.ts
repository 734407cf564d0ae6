/**
 * The installer tool's side of the console protocol (docs/installer.md): a transport (the USB
 * serial port through the `espruino` tools, or a simulated unit's console), a session that sends
 * requests and matches replies, and the words: the unit answers with short error codes and the
 * figures behind them; this file turns them into a reason and a hint an installer can act on.
 *
 * Nothing here prints a key or a password: requests are never echoed, and the password goes to the
 * port only as the unlock line Espruino's console lock asks for.
 */
import { reasonWords } from '../firmware/config-words';
import type { SimConsole } from '../sim/hal';

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
 * Not exercised by the tests (there is no board here): the sim and the Linux interpreter stand in.
 */
export async function serialTransport(port: string): Promise<Transport> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esp = require('espruino');
  await new Promise<void>((resolve) => esp.init(resolve));
  const E = (globalThis as unknown as { Espruino: { Core: { Serial: SerialApi } } }).Espruino.Core.Serial;
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
  await new Promise<void>((resolve, reject) => {
    E.open(
      port,
      (status: unknown) => (status === undefined ? reject(new Error(`cannot open ${port}`)) : resolve()),
      () => undefined
    );
  });
  return {
    write: (text) => E.write(text, false),
    onLine(fn) {
      listener = fn;
    },
    close: () => new Promise<void>((resolve) => {
      E.close();
      setTimeout(resolve, 300);
    })
  };
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

  private line(line: string): void {
    if (!line.startsWith('@I ')) {
      this.lines.push(line);
      if (this.lines.length > 500) this.lines.splice(0, 100);
      return;
    }
    let r: Reply & { progress?: string };
    try {
      r = JSON.parse(line.slice(3));
    } catch {
      return;
    }
    const w = this.waiting.get(r.id);
    if (!w) return;
    if (typeof r.progress === 'string') {
      if (w.progress) w.progress(r.progress);
      return;
    }
    this.waiting.delete(r.id);
    w.resolve(r);
  }

  /** One request; resolves with the reply, or `{ok: false, error: 'no-answer'}` after `timeoutMs`. */
  request(op: string, args: Record<string, unknown> = {}, opts: { timeoutMs?: number; progress?: (text: string) => void } = {}): Promise<Reply> {
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? 10000;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ id, ok: false, error: 'no-answer', waitedMs: timeoutMs });
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        progress: opts.progress
      });
      this.t.write('\x10I(' + JSON.stringify({ id, op, ...args }) + ')\n');
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

/** A reply's error in an installer's words: what failed and what to do. */
export function explain(r: Reply): { reason: string; hint: string } {
  const f = (k: string) => r[k] as number;
  switch (r.error) {
    case 'no-answer':
      return { reason: `the unit did not answer within ${f('waitedMs') / 1000} s`, hint: 'check the USB cable and port; if the console is locked, give the installer password' };
    case 'config-refused':
      return {
        reason: 'the unit refused the config and keeps its current one: ' + (r.problems as { field: string; reason: string }[]).map((p) => `${p.field} ${reasonWords(p)}`).join('; '),
        hint: 'correct each field named and run again'
      };
    case 'config-store':
      return { reason: `the config could not be stored (${String(r.why)}); the unit keeps its current one`, hint: `free flash is ${f('flashFree')} bytes: reflash the unit to compact storage and try again` };
    case 'button-timeout':
      return { reason: `no press of the panic button within ${f('waitedMs') / 1000} s`, hint: 'check the button cable and connector, then run again' };
    case 'mic-none':
      return { reason: 'no audio blocks from the microphone', hint: 'capture is not running: power-cycle the unit; if it persists the board is faulty' };
    case 'mic-silent':
      return { reason: `the microphone is silent (rms ${f('rms')}, ${f('dbfs')} dBFS)`, hint: 'a dead or disconnected microphone: check its cable and the ADC pin' };
    case 'mic-bias':
      return { reason: `the microphone signal is off-centre (mean ${f('mean')}, 128 expected)`, hint: 'check the microphone supply and bias resistor' };
    case 'mic-clip':
      return { reason: `the microphone is clipping (${f('clippedPct')}% of samples)`, hint: 'move the unit away from loud sources (TV, speakers) or lower the gain' };
    case 'no-receivers':
      return { reason: 'no receivers are configured', hint: 'the config needs a primary and a secondary receiver' };
    case 'path-down':
      return { reason: `path down: ${(r.down as string[]).join(', ')}`, hint: 'Wi-Fi: check the SSID and password and the router; cellular: the SIM, the APN and the antenna' };
    case 'no-receiver':
      return { reason: `the unit has no receiver ${f('route')}`, hint: 'the config has fewer receivers than the test expects' };
    case 'report-noack':
      return { reason: `no ACK to the manual test report from the ${String(r.path)} receiver within ${f('waitedMs') / 1000} s`, hint: 'check the receiver address, port, account and key with the monitoring centre' };
    case 'mains-absent':
      return { reason: 'mains power is absent', hint: 'plug the supply into a socket that is not switched off at the wall' };
    case 'battery-low':
      return { reason: `the backup battery is low (${f('batteryV')} V, threshold ${f('lowBatteryV')} V)`, hint: 'charge or replace the battery before leaving the home' };
    case 'spool-small':
      return { reason: `the audio store has room for less than one full recording (${f('spoolFree')} of ${f('recordingBytes')} bytes)`, hint: 'fit a larger card, or let waiting recordings upload first' };
    case 'flash-full':
      return { reason: `internal flash is nearly full (${f('flashFree')} bytes free)`, hint: 'reflash the unit (this compacts storage)' };
    case 'clock-unknown':
      return { reason: 'no timestamped reply from the centre in the last 2 minutes', hint: 'run the manual test report step first' };
    case 'no-key':
      return { reason: 'the unit has no evidence key to sign with', hint: 'the config needs an evidence section (server, port, key)' };
    case 'password-bad':
      return { reason: `the installer password ${String(r.why)}`, hint: 'choose another password' };
    case 'password-none':
      return { reason: 'no installer password is set on the unit', hint: 'give the password to lock with' };
    case 'wrong-password':
      return { reason: 'wrong installer password: nothing was erased', hint: 'forcing needs the password this unit was locked with' };
    case 'not-uploaded':
      return { reason: `${f('recordings')} recording(s) on the unit are not yet uploaded: nothing was erased`, hint: 'restore the evidence path and wait for the upload; force (with the installer password) only when the evidence is accounted for' };
    case 'centre-noack':
      return { reason: `the centre did not acknowledge the decommission report within ${f('waitedMs') / 1000} s: nothing was erased`, hint: 'restore a path and try again, or force with the installer password' };
    case 'busy-recording':
      return { reason: `an alarm recording (${String(r.recording)}) is in progress: the config was not changed`, hint: 'wait until the alarm has ended and its recording is uploaded' };
    case 'low-memory':
      return { reason: `the unit is short of memory (${f('free')} blocks free): the config was not changed`, hint: 'wait a minute and try again; if it persists, restart the unit' };
    case 'unknown-op':
      return { reason: `the unit does not know the request ${String(r.op)}`, hint: 'the unit runs other firmware than this tool expects: flash it' };
    default:
      return { reason: `the unit reported ${String(r.error)}${r.why ? ` (${String(r.why)})` : ''}`, hint: 'see the unit log' };
  }
}
