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
 * | opened | `<n>, CONNECT OK` | `<n>,CONNECT` |
 * | already open (a stale socket) | `<n>, ALREADY CONNECT` | `ALREADY CONNECTED`, `ERROR` |
 * | closed | `<n>, CLOSED` | `<n>,CLOSED` |
 * | sent | `<n>, SEND OK` / `<n>, SEND FAIL` | `SEND OK` / `SEND FAIL` |
 * | still working on the last command | | `busy p...` / `busy s...` |
 * | data | `+RECEIVE,<n>,<len>:\r\n` + bytes | `+IPD,<n>,<len>[,ip,port]:` + bytes |
 *
 * The UART is read here, not through Espruino's built-in `AT` module (issue #17: two instances of
 * the module, its 16 registered keys per radio and its buffers held ~350 variables of the board's
 * 8,190). The reader keeps one buffer per radio: a buffer that starts with the send prompt `>` or
 * the data header is taken raw (they have no line end of their own); otherwise lines end at `\r` or
 * `\n`, empty ones are dropped, link events (`<n><sep>CONNECT…`) go to their link, the radio's own
 * unsolicited lines to `unsolicited`, and every other line to the command running now.
 *
 * Commands go one at a time; `reset()` empties the queue and closes every link, so after a radio
 * fault no stale command is replayed (a `CIPSEND` into a link a new connection now owns). A link
 * closed by the unit, or given up after a failure or a timeout, is closed in the radio too
 * (`AT+CIPCLOSE`), and its number stays taken until the radio has answered: a new connection never
 * lands on a socket still open in the radio (which the SIM800 reports as `ALREADY CONNECT` and
 * would carry to the old peer), nor takes the old socket's `CLOSED`. A stale socket found at
 * `CIPSTART` is a failed connect, as TinyGSM takes it. A send's result is matched to its own link
 * (the SIM800 names it): a late `0, SEND OK` never ends link 1's send. `busy` (the ESP8266 still
 * working on an earlier command: this one was not taken) fails the command at once, as mbed's
 * driver does, instead of waiting out its timeout, and counts as unanswered (`timedOut`), so a
 * chip that stays busy is power-cycled by its driver as a silent one is.
 * The simulator runs the same code against its emulators (sim/modem.ts, sim/esp8266.ts).
 */
import type { Clock, Connection, ConnectionHandlers } from '../types';
import type { Target } from './link-core';

/** A UART as Espruino gives it (`Serial2.on('data', …)`, `Serial2.write(…)`). */
export interface AtPort {
  write(data: string): void;
  on(event: 'data', fn: (data: string) => void): void;
}

/** How a radio words the socket events (see the table above). */
export interface Dialect {
  /** Between the link number and the event word: `', '` (SIM800) or `','` (ESP8266). */
  sep: string;
  /**
   * The final line of a `CIPSEND`. The SIM800's names the link (`<n>, SEND OK`): one for another
   * link (a late result) never ends this one. The ESP8266's names none.
   */
  sent: RegExp;
  /** The incoming-data header's key, and the header itself (link in group 1, length in group 2). */
  recvKey: string;
  recv: RegExp;
  /** A line the radio sends on its own (not a link event): return true to claim it from the command. */
  unsolicited?: (line: string) => boolean;
}

export type CommandDone = (ok: boolean, lines: string[], timedOut?: boolean) => void;

export interface AtSockets {
  /**
   * Run one command; `done(ok, lines, timedOut)` once its final line, an error or the timeout.
   * `timedOut`: the radio did not take it (no answer in time, or `busy`).
   */
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
  /** The connect timeout: cancelled once the link opens or closes (a live timer keeps the slot). */
  tm: number;
}

function ignore(): void {}

/** The longest line or unclaimed raw text kept while waiting for its end (a bigger one is noise). */
const MAX_PENDING = 4096;

export function createAtSockets(clock: Clock, port: AtPort, d: Dialect): AtSockets {
  const slots: (Slot | undefined)[] = [];
  for (let i = 0; i < LINKS; i++) slots.push(undefined);
  const queue: { c: string; t: number; end: RegExp; done: CommandDone; data?: string; at: number }[] = [];
  /** The running command's line handler (undefined: none running). */
  let current: ((line: string) => void) | undefined;
  /** Bytes for the `>` prompt of the `CIPSEND` running now: `MAX_SEND` of `sendData` from `sendAt`. */
  let sendData: string | undefined;
  let sendAt = 0;
  let buf = '';

  function next(): void {
    if (current || queue.length === 0) return;
    const q = queue.shift()!;
    sendData = q.data;
    sendAt = q.at;
    const lines: string[] = [];
    let timer = -1;
    const finish = function (ok: boolean, timedOut?: boolean): void {
      clock.cancel(timer);
      current = undefined;
      sendData = undefined;
      q.done(ok, lines, timedOut);
      next();
    };
    current = function (line: string): void {
      if (line === q.c) return; // echo before ATE0
      lines.push(line);
      // (`busy`: not taken, as if unanswered: a chip that stays busy is power-cycled like a silent one)
      if (/^ERROR|^FAIL|^busy|^\+CME ERROR|^\+CMS ERROR/.test(line)) finish(false, line.charAt(0) === 'b');
      // (a send's result that names a link, `<n>, SEND OK`, ends only the send on link n: the
      // command is `AT+CIPSEND=<n>,…`, its link the 12th character)
      else if (
        q.end.test(line) &&
        (q.data === undefined || line.charCodeAt(0) > 57 || line.charAt(0) === q.c.charAt(11))
      )
        finish(true);
    };
    // (finish cancels it, so it fires only while this command runs)
    timer = clock.after(q.t, function () {
      finish(false, true);
    });
    port.write(q.c + '\r\n');
  }

  function command(cmd: string, timeoutMs: number, end: RegExp, done: CommandDone, data?: string, at?: number): void {
    queue.push({ c: cmd, t: timeoutMs, end: end, done: done, data: data, at: at || 0 });
    next();
  }

  /**
   * Close link `n` for its owner. `radio`: the radio may still hold the socket open, so close it
   * there too, and keep the number taken (by the closed slot) until the radio answers.
   */
  function closeSlot(n: number, err?: string, radio?: boolean): void {
    const s = slots[n];
    if (!s || s.closed) return;
    s.closed = true;
    clock.cancel(s.tm);
    if (radio)
      command('AT+CIPCLOSE=' + n, 2000, /CLOSE|OK/, function () {
        if (slots[n] === s) slots[n] = undefined;
      });
    else slots[n] = undefined;
    s.h.onClose(err);
  }

  /** `<n><sep>CONNECT…|ALREADY…|CLOSED…`: true if the line is a link event (taken by its link). */
  function slotLine(line: string): boolean {
    const n = line.charCodeAt(0) - 48;
    if (n < 0 || n >= LINKS || line.substr(1, d.sep.length) !== d.sep) return false;
    const word = line.substr(1 + d.sep.length);
    // (six letters: `CLOSE OK`, the answer to a CIPCLOSE, is the command's, not an event)
    const k = word.substr(0, 6);
    if (k !== 'CONNEC' && k !== 'ALREAD' && k !== 'CLOSED') return false;
    const opened = word === 'CONNECT' || word === 'CONNECT OK';
    const s = slots[n];
    // (a closed slot is a number waiting for its CIPCLOSE: the line is the old socket's)
    if (!s || s.closed) return true;
    if (opened) {
      if (!s.open) {
        s.open = true;
        clock.cancel(s.tm);
        s.h.onOpen();
      }
    } else closeSlot(n, k === 'CLOSED' && s.open ? undefined : 'connect failed', k === 'ALREAD');
    return true;
  }

  /** One pass over the buffer: the raw prompt and data first (no line end of their own), then lines. */
  function take(): boolean {
    const c = buf.charAt(0);
    if (c === '>') {
      // The send prompt: write the queued bytes, cut only now (the queue holds the caller's one string).
      const data = sendData;
      sendData = undefined;
      buf = buf.substr(buf.charAt(1) === ' ' ? 2 : 1);
      if (data !== undefined) port.write(data.length <= MAX_SEND ? data : data.substr(sendAt, MAX_SEND));
      return true;
    }
    if (c === d.recvKey.charAt(0) && buf.substr(0, d.recvKey.length) === d.recvKey) {
      const m = d.recv.exec(buf);
      if (m) {
        const start = m[0].length;
        const len = parseInt(m[2], 10);
        if (len >= 0 && len <= MAX_PENDING) {
          if (buf.length < start + len) return false; // wait for the rest
          const s = slots[parseInt(m[1], 10)];
          const bytes = buf.substr(start, len);
          buf = buf.substr(start + len);
          if (s && !s.closed) s.h.onData(bytes);
          return true;
        }
      } else if (buf.length < 40 && buf.indexOf('\n') < 0) return false; // the header is still coming
      // A header that does not parse, or a length no radio sends: drop it as a line below.
    }
    const r = buf.indexOf('\r');
    const n = buf.indexOf('\n');
    const e = r < 0 ? n : n < 0 || r < n ? r : n;
    if (e < 0) {
      if (buf.length > MAX_PENDING) buf = ''; // no line end in sight: noise
      return false;
    }
    const line = buf.substr(0, e);
    buf = buf.substr(e + 1);
    if (line.length === 0 || slotLine(line) || (d.unsolicited && d.unsolicited(line))) return true;
    if (current) current(line);
    return true;
  }

  port.on('data', function (data: string) {
    buf += data;
    while (buf.length > 0 && take());
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
    const slot: Slot = { h: h, open: false, closed: false, tm: -1 };
    slots[n] = slot;
    /** `CIPSEND`s queued and not yet answered: at 0, everything written has left (onSent). */
    let unsent = 0;
    const sent: CommandDone = function (ok, lines) {
      unsent--;
      // (a closed slot may still hold its number, waiting for its CIPCLOSE: nothing more for its owner)
      if (slots[n] !== slot || slot.closed) return;
      // (ended by its own final line when ok: `FAIL` there is the radio's `SEND FAIL`)
      if (!ok || lines[lines.length - 1].indexOf('FAIL') >= 0) closeSlot(n, 'send failed', true);
      else if (unsent === 0 && h.onSent) h.onSent();
    };
    slot.tm = clock.after(t.timeoutMs, function () {
      if (!slot.open && !slot.closed) closeSlot(n, 'connect timeout', true);
    });
    command(
      'AT+CIPSTART=' + n + ',"' + (t.transport === 'tcp' ? 'TCP' : 'UDP') + '","' + t.host + '",' + t.port,
      5000,
      /^OK$/,
      function (ok) {
        // (the ESP8266 answers a stale socket with `ALREADY CONNECTED`, `ERROR`)
        if (!ok && slots[n] === slot) closeSlot(n, 'connect failed', true);
      }
    );
    return {
      write: function (data: string) {
        if (!slot.open || slot.closed) return false;
        // One CIPSEND carries at most MAX_SEND bytes (an evidence chunk is 4 KB): queued in order.
        for (let o = 0; o < data.length; o += MAX_SEND) {
          unsent++;
          command('AT+CIPSEND=' + n + ',' + Math.min(MAX_SEND, data.length - o), 10000, d.sent, sent, data, o);
        }
        return true;
      },
      close: function () {
        if (!slot.closed) closeSlot(n, undefined, true);
      }
    };
  }

  return {
    command: command,
    connect: connect,
    reset: function (why: string) {
      // (not `queue.length = 0`: the 2v29 interpreter throws on it, tools/gate.js length-assign)
      queue.splice(0, queue.length);
      for (let i = 0; i < LINKS; i++) {
        closeSlot(i, why);
        // (a number waiting for a CIPCLOSE the queue no longer holds: the radio restarts its sockets)
        slots[i] = undefined;
      }
    }
  };
}
