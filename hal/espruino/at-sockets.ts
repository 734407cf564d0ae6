/**
 * Sockets through an AT command set, shared by the two radios of the Espruino WiFi: the SIM800
 * cellular modem (./cellular.ts) and the ESP8266 Wi-Fi chip (./esp8266.ts). Both are driven through
 * Espruino's built-in `AT` module in multi-connection mode (`AT+CIPMUX=1`, links 0-4):
 * `AT+CIPSTART=<n>,"TCP"|"UDP","host",port` and a line saying the link opened; sending is
 * `AT+CIPSEND=<n>,<len>`, the `>` prompt (no line end), the bytes, and a line saying sent or not;
 * incoming bytes arrive after a header naming the link and the length; a line says a link closed.
 * The radios differ only in the words, which a `Dialect` gives:
 *
 * | | SIM800 | ESP8266 (AT 1.x) |
 * | --- | --- | --- |
 * | opened | `<n>, CONNECT OK` (`ALREADY CONNECT`) | `<n>,CONNECT` |
 * | closed | `<n>, CLOSED` | `<n>,CLOSED` |
 * | sent | `<n>, SEND OK` / `SEND FAIL` | `SEND OK` / `SEND FAIL` |
 * | data | `+RECEIVE,<n>,<len>:\r\n` + bytes | `+IPD,<n>,<len>[,ip,port]:` + bytes |
 *
 * Commands go one at a time through this queue, never the AT module's: the module keeps its queue
 * across a timeout, so after a radio fault it would later replay stale commands (a `CIPSEND` into
 * a link a new connection now owns). `reset()` empties this queue and closes every link.
 *
 * AT module semantics (read from its source): a `cmd` callback gets each line no `registerLine`
 * key claims, and `undefined` on timeout; returning itself keeps the command open for more lines.
 * The simulator runs the same code against its emulators (sim/at.ts, sim/modem.ts, sim/esp8266.ts).
 */
import type { Clock, Connection, ConnectionHandlers } from '../types';
import type { Target } from './link-core';

/** A line handler of the AT module: return a handler to keep the command open. */
export type ModemLineHandler = (line?: string) => ModemLineHandler | undefined | void;

/** The parts of Espruino's AT module the drivers use. */
export interface ModemAt {
  cmd(command: string, timeoutMs: number, cb: ModemLineHandler): void;
  write(data: string): void;
  register(key: string, cb: (buffer: string) => string): void;
  registerLine(key: string, cb: (line: string) => void): void;
}

/** How a radio words the socket events (see the table above). */
export interface Dialect {
  /** Between the link number and the event word: `', '` (SIM800) or `','` (ESP8266). */
  sep: string;
  /** The final line of a `CIPSEND`. */
  sent: RegExp;
  /** The incoming-data header's key, and the header itself (link in group 1, length in group 2). */
  recvKey: string;
  recv: RegExp;
}

export type CommandDone = (ok: boolean, lines: string[], timedOut?: boolean) => void;

export interface AtSockets {
  /** Run one command; `done(ok, lines, timedOut)` once its final line, an error or the timeout. */
  command(cmd: string, timeoutMs: number, end: RegExp, done: CommandDone, data?: string, at?: number): void;
  connect(t: Target, h: ConnectionHandlers): Connection;
  /** The radio went down: forget queued commands, close every link with `why`. */
  reset(why: string): void;
}

const LINKS = 5;
/**
 * Longest `CIPSEND`: the SIM800 takes at most 1,460 bytes in one (SIM800 Series TCP/IP Application
 * Note), the ESP8266 AT 1.x firmware at most 2,048 (it answers ERROR to a longer one).
 */
const MAX_SEND = 1460;

interface Slot {
  h: ConnectionHandlers;
  open: boolean;
  closed: boolean;
}

function ignore(): void {}

export function createAtSockets(clock: Clock, at: ModemAt, d: Dialect): AtSockets {
  const slots: (Slot | undefined)[] = [];
  for (let i = 0; i < LINKS; i++) slots.push(undefined);
  const queue: { c: string; t: number; end: RegExp; done: CommandDone; data?: string; at: number }[] = [];
  let busy = false;
  /** Bytes for the `>` prompt of the `CIPSEND` running now: `MAX_SEND` of `sendData` from `sendAt`. */
  let sendData: string | undefined;
  let sendAt = 0;

  function next(): void {
    if (busy || queue.length === 0) return;
    const q = queue.shift()!;
    busy = true;
    sendData = q.data;
    sendAt = q.at;
    const lines: string[] = [];
    let over = false;
    const finish = function (ok: boolean, timedOut?: boolean): undefined {
      if (over) return undefined;
      over = true;
      busy = false;
      sendData = undefined;
      q.done(ok, lines, timedOut);
      next();
      return undefined;
    };
    const handler: ModemLineHandler = function (line?: string) {
      if (line === undefined) return finish(false, true);
      if (line === q.c) return handler; // echo before ATE0
      lines.push(line);
      if (/^(ERROR|FAIL|\+CME ERROR|\+CMS ERROR)/.test(line)) return finish(false);
      if (q.end.test(line)) return finish(true);
      return handler;
    };
    at.cmd(q.c + '\r\n', q.t, handler);
  }

  function command(cmd: string, timeoutMs: number, end: RegExp, done: CommandDone, data?: string, at?: number): void {
    queue.push({ c: cmd, t: timeoutMs, end: end, done: done, data: data, at: at || 0 });
    next();
  }

  function closeSlot(n: number, err?: string): void {
    const s = slots[n];
    if (!s || s.closed) return;
    s.closed = true;
    slots[n] = undefined;
    s.h.onClose(err);
  }

  /** `<n><sep>CONNECT…|ALREADY…|CLOSED` lines, claimed before any command sees them. */
  function slotLine(line: string): void {
    const n = parseInt(line.charAt(0), 10);
    const s = slots[n];
    if (!s) return;
    const word = line.substr(1 + d.sep.length);
    if (word === 'CONNECT' || word.indexOf('CONNECT OK') === 0 || word.indexOf('ALREADY') === 0) {
      if (!s.open) {
        s.open = true;
        s.h.onOpen();
      }
    } else closeSlot(n, word.indexOf('CLOSED') === 0 && s.open ? undefined : 'connect failed');
  }
  for (let i = 0; i < LINKS; i++) {
    at.registerLine(i + d.sep + 'CONNECT', slotLine);
    at.registerLine(i + d.sep + 'ALREADY', slotLine);
    at.registerLine(i + d.sep + 'CLOSED', slotLine);
  }

  // The send prompt has no line end: take it from the raw stream and write the queued bytes.
  at.register('>', function (buf: string) {
    const data = sendData;
    sendData = undefined;
    // The piece is cut only now: the queue holds the caller's one string, not a copy per piece.
    if (data !== undefined) at.write(data.length <= MAX_SEND ? data : data.substr(sendAt, MAX_SEND));
    return buf.substr(buf.charAt(1) === ' ' ? 2 : 1);
  });

  at.register(d.recvKey, function (buf: string) {
    const m = d.recv.exec(buf);
    if (!m) return buf.indexOf('\n') < 0 ? buf : buf.substr(buf.indexOf('\n') + 1);
    const start = m[0].length;
    const len = parseInt(m[2], 10);
    if (buf.length < start + len) return buf; // wait for the rest
    const s = slots[parseInt(m[1], 10)];
    if (s && !s.closed) s.h.onData(buf.substr(start, len));
    return buf.substr(start + len);
  });

  function connect(t: Target, h: ConnectionHandlers): Connection {
    let n = -1;
    for (let i = 0; i < LINKS && n < 0; i++) if (!slots[i]) n = i;
    if (n < 0) {
      clock.after(0, function () {
        h.onClose('no free modem socket');
      });
      return {
        write: function () {
          return false;
        },
        close: ignore
      };
    }
    const slot: Slot = { h: h, open: false, closed: false };
    slots[n] = slot;
    const sent: CommandDone = function (ok, lines) {
      if (slots[n] === slot && (!ok || lines.join('\n').indexOf('SEND FAIL') >= 0)) closeSlot(n, 'send failed');
    };
    const timer = clock.after(t.timeoutMs, function () {
      if (!slot.open && !slot.closed) {
        command('AT+CIPCLOSE=' + n, 2000, /CLOSE|OK/, ignore);
        closeSlot(n, 'connect timeout');
      }
    });
    command(
      'AT+CIPSTART=' + n + ',"' + (t.transport === 'tcp' ? 'TCP' : 'UDP') + '","' + t.host + '",' + t.port,
      5000,
      /^OK$/,
      function (ok) {
        if (!ok) {
          clock.cancel(timer);
          closeSlot(n, 'connect failed');
        }
      }
    );
    return {
      write: function (data: string) {
        if (!slot.open || slot.closed) return false;
        // One CIPSEND carries at most MAX_SEND bytes (an evidence chunk is 4 KB): queued in order.
        for (let o = 0; o < data.length; o += MAX_SEND)
          command('AT+CIPSEND=' + n + ',' + Math.min(MAX_SEND, data.length - o), 10000, d.sent, sent, data, o);
        return true;
      },
      close: function () {
        clock.cancel(timer);
        if (slot.closed) return;
        command('AT+CIPCLOSE=' + n, 2000, /CLOSE|OK/, ignore);
        closeSlot(n);
      }
    };
  }

  return {
    command: command,
    connect: connect,
    reset: function (why: string) {
      // (not `queue.length = 0`: the 2v29 interpreter throws on it, tools/gate.js length-assign)
      queue.splice(0, queue.length);
      for (let i = 0; i < LINKS; i++) closeSlot(i, why);
    }
  };
}
