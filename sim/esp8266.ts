/**
 * The Espruino WiFi's ESP8266 as its AT firmware (1.x) answers on the board's USART2, for the
 * board's own `Wifi` module (Espruino libs/js/espruino_wifi/Wifi.min.js) running on the Linux
 * interpreter (npm run test:espruino). Its sockets are real TCP/UDP sockets, so what the module
 * sends reaches the simulated centre and evidence server on 127.0.0.1.
 *
 * What the module uses, answered as the chip does:
 * - power: CH_PD (A14) high boots the chip: it prints its boot banner and `ready`; low turns it off
 *   (bytes sent to it are lost). `AT+RST` reboots it (`OK`, banner, `ready`).
 * - `ATE0`, `AT+CIPDINFO=1`, `AT+CIPMUX=1`, `AT+UART_CUR=…`, `AT+CWMODE=1` → `OK`;
 * - `AT+CWJAP="ssid","pw"` → `WIFI CONNECTED`, `WIFI GOT IP`, `OK` when the access point is up and
 *   the credentials match; otherwise `+CWJAP:3` (no such AP) or `+CWJAP:2` (wrong password) and
 *   `FAIL`. `AT+CWJAP?` → `+CWJAP:"ssid","bssid",channel,rssi` or `No AP`. `AT+CWQAP`, `AT+CIFSR`.
 * - `AT+CIPSTART=n,"TCP","host",port` → `n,CONNECT` then `OK` (a refused connection: `n,CLOSED`,
 *   `ERROR`); UDP: `AT+CIPSTART=n,"UDP","ip",port,port,2`.
 * - `AT+CIPSEND=n,len[,"ip",port]` → `OK`, the `> ` prompt, exactly `len` raw bytes, `Recv len
 *   bytes`, `SEND OK`; data in: `+IPD,n,len,ip,port:` + bytes (CIPDINFO on), at most 1460 a packet;
 *   a remote close: `n,CLOSED`; `AT+CIPCLOSE=n` → `n,CLOSED`, `OK`.
 * - while an `AT+CWJAP` runs, any other command → `busy p...` (not taken); `wedge()`: every
 *   command so until its power goes.
 * - the access point dropping (`cutAp`): `WIFI DISCONNECT` (the 1.x firmware's words; the Wifi
 *   module listens for `WIFI DISCONNECTED`, so its `disconnected` event never fires from this: a
 *   fact of the module, kept), every socket `n,CLOSED`, and joins fail until `restoreAp`.
 * - a restart of its own (`restart`, a watchdog reset or a dip in its supply): the sockets are gone
 *   without a word, the banner and `ready`, and the chip back in single-connection mode
 *   (`AT+CIPSTART=n,…` answers `ERROR`) with echo on. AT 1.x saves the last successful
 *   `AT+CWJAP` and joins it again at boot by itself (`WIFI CONNECTED`, `WIFI GOT IP`), so
 *   `AT+CWJAP?` still answers the network afterwards.
 *
 * Output to the unit is paced at the UART's rate (115200 baud by default) by the harness's serial
 * bridge, not here. Every command line is kept in `commands` (for the checks).
 */
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import type { SimSerialPort } from './at';
import { AtInput } from './at-input';

export interface Esp8266Options {
  ssid: string;
  password: string;
  /** The station address it reports (AT+CIFSR). */
  ip?: string;
  rssi?: number;
  /** ms from power-on (or AT+RST) to `ready`. */
  bootMs?: number;
  /** ms from AT+CWJAP to WIFI CONNECTED. */
  joinMs?: number;
}

interface Sock {
  kind: 'TCP' | 'UDP';
  tcp?: net.Socket;
  udp?: dgram.Socket;
  host: string;
  port: number;
  open: boolean;
}

const OK = 'OK';

export class SimEsp8266 {
  /** CH_PD high and booted. */
  on = false;
  /** The access point is there. */
  apUp = true;
  joined = false;
  readonly commands: string[] = [];
  /** What crossed the UART, newest last (`>` from the unit, `<` to it), capped; for a failure's report. */
  readonly transcript: string[] = [];
  /** Frames and bytes carried, per direction (for the report). */
  readonly stats = { connects: 0, refused: 0, sends: 0, bytesOut: 0, bytesIn: 0, joins: 0, resets: 0 };
  private powered = false;
  /** Multi-connection mode (`AT+CIPMUX=1`); lost at every boot. */
  private mux = false;
  /** The last join that succeeded: the AT 1.x firmware keeps it and joins it again at boot. */
  private saved: { ssid: string; pw: string } | undefined;
  private booting: NodeJS.Timeout | undefined;
  /** An `AT+CWJAP` is still running: any other command is answered `busy p...` and dropped. */
  private busy = false;
  /** Stuck busy (`wedge`) until its power goes. */
  private wedged = false;
  private echo = true;
  private readonly input = new AtInput<{ n: number; len: number; ip?: string; port?: number }>(
    (l) => this.command(l),
    (t, data) => this.transmit(t, data)
  );
  private toUnit: ((data: string) => void) | undefined;
  private socks: (Sock | undefined)[] = [];
  private timers = new Set<NodeJS.Timeout>();
  private outq: string[] = [];

  constructor(readonly opts: Esp8266Options) {}

  /** The unit's side of USART2. */
  port(): SimSerialPort {
    return {
      write: (data) => this.fromUnit(data),
      onData: (fn) => {
        this.toUnit = fn;
      }
    };
  }

  /** CH_PD (A14), as the unit drives it. */
  chPd(high: boolean): void {
    if (high === this.powered) return;
    this.powered = high;
    if (high) this.boot();
    else this.off();
  }

  /** The board lost power (the chip with it). */
  powerLoss(): void {
    this.powered = false;
    this.off();
  }

  /** The access point goes away: the station is dropped, its sockets closed. */
  cutAp(): void {
    this.apUp = false;
    if (!this.joined) return;
    this.joined = false;
    this.reply('WIFI DISCONNECT');
    for (let i = 0; i < this.socks.length; i++) if (this.socks[i]) this.drop(i, true);
  }

  /** The chip restarts by itself (CH_PD stays high). */
  restart(): void {
    if (this.powered) this.boot();
  }

  /**
   * The chip's firmware wedges: it answers every command `busy p...` until CH_PD goes low (a
   * failure reported of the ESP8266's AT firmware; drivers reset or power it to recover).
   */
  wedge(): void {
    this.wedged = true;
  }

  restoreAp(): void {
    this.apUp = true;
  }

  dispose(): void {
    this.off();
    this.toUnit = undefined;
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private boot(): void {
    this.off();
    this.powered = true;
    this.booting = setTimeout(() => {
      this.booting = undefined;
      if (!this.powered) return;
      this.on = true;
      this.echo = true;
      this.mux = false;
      this.stats.resets++;
      // The ROM's banner comes at 74880 baud: garbage at 115200.
      this.send(
        '\r\n\x00\xfe\x8f\x1c\xe0\x12\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\nAi-Thinker Technology Co.,Ltd.\r\n\r\nready\r\n'
      );
      // The saved network is joined again at boot.
      const sv = this.saved;
      if (sv && this.apUp && sv.ssid === this.opts.ssid && sv.pw === this.opts.password)
        this.later(this.opts.joinMs ?? 400, () => {
          this.joined = true;
          this.reply('WIFI CONNECTED');
          this.later(150, () => this.reply('WIFI GOT IP'));
        });
    }, this.opts.bootMs ?? 300);
  }

  private off(): void {
    this.on = false;
    this.joined = false;
    this.busy = false;
    this.wedged = false;
    this.input.reset();
    if (this.booting) clearTimeout(this.booting);
    this.booting = undefined;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (let i = 0; i < this.socks.length; i++) if (this.socks[i]) this.drop(i, false);
  }

  /** Output goes out after the current turn, in order (a UART is never synchronous). */
  private send(text: string): void {
    if (!this.on || !this.toUnit) return;
    this.note('< ' + text);
    this.outq.push(text);
    if (this.outq.length === 1) {
      setImmediate(() => {
        const q = this.outq;
        this.outq = [];
        if (this.on && this.toUnit) for (const t of q) this.toUnit(t);
      });
    }
  }

  private note(t: string): void {
    this.transcript.push(JSON.stringify(t.length > 120 ? t.slice(0, 120) + '…' : t));
    if (this.transcript.length > 4000) this.transcript.splice(0, 1000);
  }

  private reply(...lines: string[]): void {
    this.send(lines.map((l) => `\r\n${l}\r\n`).join(''));
  }

  private fromUnit(data: string): void {
    if (!this.on) return;
    this.input.feed(data);
  }

  private command(l: string): void {
    this.note('> ' + l);
    this.commands.push(l);
    if (this.commands.length > 2000) this.commands.splice(0, 500);
    if (this.echo) this.send(`${l}\r\n`);
    // The AT 1.x firmware takes one command at a time: one sent while it works is not taken.
    if (this.busy || this.wedged) return this.reply('busy p...');
    let m: RegExpExecArray | null;
    if (l === 'AT') this.reply(OK);
    else if (l === 'AT+RST') {
      this.reply(OK);
      this.later(20, () => this.boot());
    } else if (l === 'ATE0') {
      this.echo = false;
      this.reply(OK);
    } else if (l === 'ATE1') {
      this.echo = true;
      this.reply(OK);
    } else if (l === 'AT+CIPMUX=1') {
      this.mux = true;
      this.reply(OK);
    } else if (
      /^AT\+(CIPDINFO=1|UART_CUR=\d+,8,1,0,[0-3]|CWMODE=[123]|CWMODE_CUR=[123]|CWDHCP_CUR=1,1|CWHOSTNAME=.*)$/.test(l)
    )
      this.reply(OK);
    else if ((m = /^AT\+CWJAP="((?:[^"\\]|\\.)*)","((?:[^"\\]|\\.)*)"$/.exec(l)))
      this.join(JSON.parse(`"${m[1]}"`), JSON.parse(`"${m[2]}"`));
    else if (l === 'AT+CWJAP?') {
      if (this.joined) this.reply(`+CWJAP:"${this.opts.ssid}","a0:b1:c2:d3:e4:f5",6,${this.opts.rssi ?? -58}`, OK);
      else this.reply('No AP', OK);
    } else if (l === 'AT+CWQAP') {
      const was = this.joined;
      this.joined = false;
      for (let i = 0; i < this.socks.length; i++) if (this.socks[i]) this.drop(i, true);
      this.reply(OK);
      if (was) this.reply('WIFI DISCONNECT');
    } else if (l === 'AT+CIFSR') {
      this.reply(
        `+CIFSR:STAIP,"${this.joined ? (this.opts.ip ?? '192.168.4.20') : '0.0.0.0'}"`,
        '+CIFSR:STAMAC,"5c:cf:7f:00:11:22"',
        OK
      );
    } else if ((m = /^AT\+CIPSTART=(\d),"(TCP|UDP)","([^"]+)",(\d+)(,\d+,\d)?$/.exec(l)))
      this.open(Number(m[1]), m[2] as 'TCP' | 'UDP', m[3], Number(m[4]));
    else if ((m = /^AT\+CIPSEND=(\d),(\d+)(?:,"([^"]+)",(\d+))?$/.exec(l))) {
      const n = Number(m[1]);
      const s = this.socks[n];
      if (!s || !s.open || !this.joined) return this.reply('link is not valid', 'ERROR');
      if (Number(m[2]) > 2048) return this.reply('ERROR');
      this.input.expect({ n, len: Number(m[2]), ip: m[3], port: m[4] ? Number(m[4]) : undefined });
      this.send('\r\nOK\r\n> ');
    } else if ((m = /^AT\+CIPCLOSE=(\d)$/.exec(l))) {
      const n = Number(m[1]);
      if (!this.socks[n]) return this.reply('UNLINK', 'ERROR');
      this.drop(n, true);
      this.reply(OK);
    } else if (/^AT\+CIPSERVER=/.test(l)) this.reply(OK);
    else if (/^AT\+PING=/.test(l)) this.reply(this.joined ? '+5' : '+timeout', this.joined ? OK : 'ERROR');
    else if (l === 'AT+CWLAP')
      this.reply(
        ...(this.apUp ? [`+CWLAP:(3,"${this.opts.ssid}",${this.opts.rssi ?? -58},"a0:b1:c2:d3:e4:f5",6)`] : []),
        OK
      );
    else this.reply('ERROR');
  }

  private join(ssid: string, pw: string): void {
    const ok = this.apUp && ssid === this.opts.ssid && pw === this.opts.password;
    if (this.joined) {
      this.joined = false;
      for (let i = 0; i < this.socks.length; i++) if (this.socks[i]) this.drop(i, true);
      this.reply('WIFI DISCONNECT');
    }
    this.busy = true;
    this.later(ok ? (this.opts.joinMs ?? 400) : 2000, () => {
      if (!ok) {
        this.busy = false;
        return this.reply(`+CWJAP:${this.apUp && ssid === this.opts.ssid ? 2 : 3}`, 'FAIL');
      }
      this.joined = true;
      this.saved = { ssid, pw };
      this.stats.joins++;
      this.reply('WIFI CONNECTED');
      this.later(150, () => {
        this.busy = false;
        this.reply('WIFI GOT IP', '', OK);
      });
    });
  }

  private open(n: number, kind: 'TCP' | 'UDP', host: string, port: number): void {
    // A link id in single-connection mode.
    if (!this.mux) return this.reply('ERROR');
    if (this.socks[n]) return this.reply('ALREADY CONNECTED', 'ERROR');
    if (!this.joined) return this.reply('no ip', 'ERROR');
    const s: Sock = { kind, host, port, open: false };
    this.socks[n] = s;
    const deliver = (buf: Buffer, from?: dgram.RemoteInfo) => {
      if (this.socks[n] !== s) return;
      const text = buf.toString('latin1');
      this.stats.bytesIn += text.length;
      const ip = from ? from.address : host;
      const rport = from ? from.port : port;
      for (let o = 0; o < text.length; o += 1460) {
        const part = text.slice(o, o + 1460);
        this.send(`\r\n+IPD,${n},${part.length},${ip},${rport}:${part}`);
      }
    };
    if (kind === 'TCP') {
      const sock = net.connect({ host, port });
      s.tcp = sock;
      sock.on('connect', () => {
        if (this.socks[n] !== s) return void sock.destroy();
        s.open = true;
        this.stats.connects++;
        this.send(`${n},CONNECT\r\n\r\nOK\r\n`);
      });
      sock.on('data', (b) => deliver(b));
      sock.on('error', () => undefined);
      sock.on('close', () => {
        if (this.socks[n] !== s) return;
        this.socks[n] = undefined;
        if (s.open) this.send(`${n},CLOSED\r\n`);
        else {
          this.stats.refused++;
          this.send(`${n},CLOSED\r\n\r\nERROR\r\n`);
        }
      });
    } else {
      const sock = dgram.createSocket('udp4');
      s.udp = sock;
      sock.on('message', (b, from) => deliver(b, from));
      sock.on('error', () => undefined);
      sock.bind(0, '127.0.0.1', () => {
        if (this.socks[n] !== s) return void sock.close();
        s.open = true;
        this.stats.connects++;
        this.send(`${n},CONNECT\r\n\r\nOK\r\n`);
      });
    }
  }

  private transmit(t: { n: number; len: number; ip?: string; port?: number }, data: string): void {
    const s = this.socks[t.n];
    this.send(`\r\nRecv ${t.len} bytes\r\n`);
    if (!s || !s.open || !this.joined) return this.reply('SEND FAIL');
    const buf = Buffer.from(data, 'latin1');
    this.note(`> [${t.len} bytes for socket ${t.n}]`);
    this.stats.sends++;
    this.stats.bytesOut += buf.length;
    if (s.tcp) s.tcp.write(buf);
    else if (s.udp) s.udp.send(buf, t.port ?? s.port, t.ip ?? s.host);
    this.later(2, () => this.reply('SEND OK'));
  }

  /** Close socket `n`; `tell` prints `n,CLOSED` as the chip does for a close it did not cause. */
  private drop(n: number, tell: boolean): void {
    const s = this.socks[n];
    this.socks[n] = undefined;
    if (!s) return;
    if (s.tcp) s.tcp.destroy();
    if (s.udp) {
      try {
        s.udp.close();
      } catch {
        // already closed
      }
    }
    if (tell) this.send(`${n},CLOSED\r\n`);
  }
}
