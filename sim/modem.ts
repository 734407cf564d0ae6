/**
 * A SIM800-family cellular modem on the unit's serial port: the AT commands the cellular driver
 * uses (hal/espruino/cellular.ts), its multi-connection TCP/UDP sockets carried over real Node
 * sockets, its power key, and the faults issue #6 names:
 * - `noAnswer = N`: the next N command lines get no answer (AT command timeouts); `ignore` does
 *   the same for commands with a given prefix;
 * - `hang()`: the modem stops answering anything until it is power-cycled;
 * - `deregister({stuck})`: the network drops it (sockets closed, `+CREG: 0,2`); it registers again
 *   by itself after `backAfterMs`, or, when stuck, only after a power cycle;
 * - `pdpDeact()`: the network drops the data context while the modem stays registered (every
 *   socket `n, CLOSED`, then `+PDP: DEACT`); until `AT+CIPSHUT` and a new bring-up no socket
 *   opens (`AT+CIPSTART` and `AT+CIFSR` answer `ERROR`);
 * - `restart({urc})`: the modem restarts by itself (a dip in its supply): its sockets are gone
 *   without a word, it is back in single-connection mode with echo on and no data context, and
 *   registers again. With `urc` it then prints `RDY`, `Call Ready`, `SMS Ready`; by default it
 *   prints nothing, as a SIM800 that autobauds does not until it has seen an `AT` (SIM800 Series
 *   AT Command Manual, unsolicited result codes).
 *
 * The TCP/IP stack follows the SIM800's states as far as the driver uses them: `AT+CIPMUX=1` only
 * in IP INITIAL (after `AT+CIPSHUT`), `AT+CSTT` then `AT+CIICR` (data context up), `AT+CIFSR` (the
 * address: IP STATUS), and `AT+CIPSTART=n,…` only in multi-connection mode with the context up;
 * `AT+CIPSTART=n,…` on a socket still open answers `OK`, `n, ALREADY CONNECT` (and leaves it as it
 * was: the old peer's).
 *
 * The modem is a separate device on the board: a reset of the microcontroller leaves it as it was;
 * a power cut turns it off. Its power key toggles power when held for at least a second. After
 * power-on it answers after 3 s and registers 2 s later. Time is host time (`Date.now()`), so fake
 * timers drive it with the rest of the sim.
 */
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import type { SimSerialPort } from './at';
import { AtInput } from './at-input';

interface Socket {
  kind: 'TCP' | 'UDP';
  tcp?: net.Socket;
  udp?: dgram.Socket;
  host: string;
  port: number;
  open: boolean;
}

export interface ModemFaults {
  /** Command lines to ignore (no echo, no answer). */
  noAnswer: number;
  /** Ignore the next `count` commands that start with `prefix`. */
  ignore?: { prefix: string; count: number };
}

export class SimModem {
  on = false;
  faults: ModemFaults = { noAnswer: 0 };
  /** Times the modem was turned on by its power key. */
  powerOns = 0;
  /** Times it was turned off by its power key. */
  powerOffs = 0;
  /** Every command line received (for tests), newest last; capped. */
  readonly commands: string[] = [];
  /** CSQ figure reported (0..31, 99 unknown). */
  csq = 20;
  private hung = false;
  private dereg: { until: number; stuck: boolean } | undefined;
  private readyAt = 0;
  private echo = true;
  /** Multi-connection mode (`AT+CIPMUX=1`); lost at a restart. */
  private mux = false;
  /** The TCP/IP stack's state: IP INITIAL, IP START (APN set), the data context up, or PDP DEACT. */
  private ip: 'initial' | 'start' | 'up' | 'deact' = 'initial';
  private readonly input = new AtInput<{ slot: number; len: number }>(
    (l) => this.command(l),
    (t, data) => this.transmit(t, data)
  );
  private keyDownAt = -1;
  private toUnit: ((data: string) => void) | undefined;
  private sockets: (Socket | undefined)[] = [];

  /** The modem answers at once (already on when the simulation starts) unless `off`. */
  constructor(opts: { off?: boolean } = {}) {
    if (!opts.off) {
      this.on = true;
      this.readyAt = Date.now() - 5000;
    }
  }

  /** The unit's side of the serial line. */
  port(): SimSerialPort {
    return {
      write: (data) => this.fromUnit(data),
      onData: (fn) => {
        this.toUnit = fn;
      }
    };
  }

  /** The power key, as the unit drives it (pressed = pin low). */
  key(pressed: boolean): void {
    if (pressed) {
      this.keyDownAt = Date.now();
      return;
    }
    if (this.keyDownAt < 0) return;
    const held = Date.now() - this.keyDownAt;
    this.keyDownAt = -1;
    if (held < 1000) return;
    if (this.on) {
      this.powerOff();
      this.powerOffs++;
    } else {
      this.powerOns++;
      this.powerOn();
    }
  }

  /** On: it answers 3 s later, with echo on. */
  private powerOn(): void {
    this.on = true;
    this.readyAt = Date.now() + 3000;
    this.echo = true;
  }

  /** The unit lost power: so did the modem. */
  powerLoss(): void {
    if (this.on) this.powerOff();
  }

  hang(): void {
    this.hung = true;
  }

  deregister(o: { backAfterMs?: number; stuck?: boolean } = {}): void {
    this.dereg = { until: Date.now() + (o.backAfterMs ?? 30000), stuck: !!o.stuck };
    for (let i = 0; i < this.sockets.length; i++) if (this.sockets[i]) this.drop(i, true);
    // Off the network, the data context is gone with it.
    if (this.ip === 'up') this.ip = 'deact';
  }

  /** The network drops the data context; the modem stays registered. */
  pdpDeact(): void {
    if (!this.on) return;
    for (let i = 0; i < this.sockets.length; i++) if (this.sockets[i]) this.drop(i, true);
    this.ip = 'deact';
    this.reply('+PDP: DEACT');
  }

  /** The modem restarts by itself; with `urc` it says so once it is ready. */
  restart(o: { urc?: boolean } = {}): void {
    if (!this.on) return;
    this.powerOff();
    this.powerOn();
    if (o.urc) setTimeout(() => this.on && this.reply('RDY', 'Call Ready', 'SMS Ready'), 3100);
  }

  registered(): boolean {
    if (!this.on || Date.now() < this.readyAt + 2000) return false;
    if (this.dereg && (this.dereg.stuck || Date.now() < this.dereg.until)) return false;
    this.dereg = undefined;
    return true;
  }

  private powerOff(): void {
    this.on = false;
    this.hung = false;
    this.mux = false;
    this.ip = 'initial';
    this.input.reset();
    if (this.dereg?.stuck) this.dereg = undefined;
    for (let i = 0; i < this.sockets.length; i++) if (this.sockets[i]) this.drop(i, false);
  }

  private send(text: string): void {
    const fn = this.toUnit;
    if (fn && this.on) setTimeout(() => this.on && fn(text), 1);
  }

  private reply(...lines: string[]): void {
    this.send(lines.map((l) => `\r\n${l}\r\n`).join(''));
  }

  private fromUnit(data: string): void {
    if (!this.on || Date.now() < this.readyAt) return;
    this.input.feed(data);
  }

  private command(l: string): void {
    this.commands.push(l);
    if (this.commands.length > 500) this.commands.splice(0, 100);
    if (this.hung) return;
    if (this.faults.noAnswer > 0) {
      this.faults.noAnswer--;
      return;
    }
    const ig = this.faults.ignore;
    if (ig && ig.count > 0 && l.startsWith(ig.prefix)) {
      ig.count--;
      return;
    }
    if (this.echo) this.send(`${l}\r\n`);
    let m: RegExpExecArray | null;
    if (l === 'AT') this.reply('OK');
    else if (l === 'ATE0') {
      this.echo = false;
      this.reply('OK');
    } else if (l === 'AT+CPIN?') this.reply('+CPIN: READY', 'OK');
    else if (l === 'AT+CREG?') this.reply(`+CREG: 0,${this.registered() ? 1 : 2}`, 'OK');
    else if (l === 'AT+CSQ') this.reply(`+CSQ: ${this.csq},0`, 'OK');
    else if (l === 'AT+CIPSHUT') {
      for (let i = 0; i < this.sockets.length; i++) if (this.sockets[i]) this.drop(i, false);
      this.ip = 'initial';
      this.reply('SHUT OK');
    } else if (l === 'AT+CIPMUX=1') {
      // Only in IP INITIAL.
      if (this.ip !== 'initial') return this.reply('ERROR');
      this.mux = true;
      this.reply('OK');
    } else if (/^AT\+CSTT="[^"]*"$/.test(l)) {
      if (this.ip !== 'initial') return this.reply('ERROR');
      this.ip = 'start';
      this.reply('OK');
    } else if (l === 'AT+CIICR') {
      if (this.ip !== 'start' || !this.registered()) return this.reply('ERROR');
      this.ip = 'up';
      this.reply('OK');
    } else if (l === 'AT+CIFSR') this.reply(this.ip === 'up' && this.registered() ? '10.64.1.23' : 'ERROR');
    else if ((m = /^AT\+CIPSTART=(\d),"(TCP|UDP)","([^"]+)",(\d+)$/.exec(l))) {
      if (!this.mux || this.ip !== 'up') return this.reply('ERROR');
      this.open(Number(m[1]), m[2] as 'TCP' | 'UDP', m[3], Number(m[4]));
    } else if ((m = /^AT\+CIPSEND=(\d),(\d+)$/.exec(l))) {
      const s = this.sockets[Number(m[1])];
      // At most 1,460 bytes in one send (SIM800 Series TCP/IP Application Note).
      if (!s || !s.open || !this.registered() || Number(m[2]) > 1460) return this.reply('ERROR');
      this.input.expect({ slot: Number(m[1]), len: Number(m[2]) });
      this.send('\r\n> ');
    } else if ((m = /^AT\+CIPCLOSE=(\d)(,1)?$/.exec(l))) {
      const n = Number(m[1]);
      if (this.sockets[n]) this.drop(n, false);
      this.reply(`${n}, CLOSE OK`);
    } else this.reply('ERROR');
  }

  private open(n: number, kind: 'TCP' | 'UDP', host: string, port: number): void {
    // A socket the unit never closed is still there (SIM800 AT Command Manual: "Response when
    // connection exists").
    if (this.sockets[n]) return this.reply('OK', `${n}, ALREADY CONNECT`);
    this.reply('OK');
    if (!this.registered()) {
      setTimeout(() => this.reply(`${n}, CONNECT FAIL`), 50);
      return;
    }
    const s: Socket = { kind, host, port, open: false };
    this.sockets[n] = s;
    const deliver = (buf: Buffer) => {
      if (this.sockets[n] !== s) return;
      const text = buf.toString('latin1');
      this.send(`\r\n+RECEIVE,${n},${text.length}:\r\n${text}`);
    };
    if (kind === 'TCP') {
      const sock = net.connect({ host, port });
      s.tcp = sock;
      sock.on('connect', () => {
        if (this.sockets[n] !== s) return void sock.destroy();
        s.open = true;
        this.reply(`${n}, CONNECT OK`);
      });
      sock.on('data', deliver);
      sock.on('error', () => undefined);
      sock.on('close', () => {
        if (this.sockets[n] !== s) return;
        this.sockets[n] = undefined;
        this.reply(s.open ? `${n}, CLOSED` : `${n}, CONNECT FAIL`);
      });
    } else {
      const sock = dgram.createSocket('udp4');
      s.udp = sock;
      sock.on('message', deliver);
      sock.on('error', () => undefined);
      sock.connect(port, host, () => {
        if (this.sockets[n] !== s) return void sock.close();
        s.open = true;
        this.reply(`${n}, CONNECT OK`);
      });
    }
  }

  private transmit(t: { slot: number; len: number }, data: string): void {
    const s = this.sockets[t.slot];
    if (!s || !s.open || !this.registered()) return this.reply(`${t.slot}, SEND FAIL`);
    const buf = Buffer.from(data, 'latin1');
    if (s.tcp) s.tcp.write(buf);
    else if (s.udp) s.udp.send(buf);
    this.reply(`${t.slot}, SEND OK`);
  }

  /** Close a socket; `tell` sends `n, CLOSED` (a network drop), otherwise the close is silent. */
  private drop(n: number, tell: boolean): void {
    const s = this.sockets[n];
    this.sockets[n] = undefined;
    if (!s) return;
    if (s.tcp) s.tcp.destroy();
    if (s.udp) {
      try {
        s.udp.close();
      } catch {
        // already closed
      }
    }
    if (tell && s.open) this.reply(`${n}, CLOSED`);
  }

  /** End of a simulation: close every socket. */
  dispose(): void {
    for (let i = 0; i < this.sockets.length; i++) if (this.sockets[i]) this.drop(i, false);
    this.toUnit = undefined;
  }
}
