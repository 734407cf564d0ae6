/**
 * The cellular path: a SIM800-family modem on a UART, driven with Espruino's built-in `AT` module.
 *
 * Bring-up: `AT` (if the modem does not answer, pulse its power key and wait) → `ATE0` →
 * `AT+CPIN?` (READY) → `AT+CREG?` (registered, home or roaming) → `AT+CIPSHUT` → `AT+CIPMUX=1` →
 * `AT+CSTT="<apn>"` → `AT+CIICR` (up to 85 s) → `AT+CIFSR` (an IP): the path is up.
 * Connections use multi-connection mode (up to 5): `AT+CIPSTART=<n>,"TCP"|"UDP",host,port` then the
 * line `<n>, CONNECT OK`; sending is `AT+CIPSEND=<n>,<len>`, the `> ` prompt, the bytes, then
 * `<n>, SEND OK`; incoming data is `+RECEIVE,<n>,<len>:\r\n` followed by the bytes; `<n>, CLOSED`
 * ends a connection.
 *
 * Supervision and recovery (docs/faults.md): every 30 s `AT+CREG?` (still registered?) and
 * `AT+CSQ` (signal). Any failure takes the path down and brings it up again 10 s later. A modem that
 * gives no answer twice in a row, or six bring-ups that fail (e.g. a network that will not take it
 * back), is power-cycled through its power key: a 1.2 s press turns it off, a probe confirms it is
 * silent, a second press turns it on, and bring-up (with registration) starts again.
 *
 * AT module semantics (read from its source): a `cmd` callback gets each line no `registerLine`
 * key claims, and `undefined` on timeout; returning itself keeps the command open for more lines.
 * The device objects come in as `ModemIo`, so the simulator runs this same driver against its AT
 * modem emulator (sim/modem.ts).
 */
import type { Clock, Connection, ConnectionHandlers, Link } from '../types';
import { createLinkCore, Target } from './link-core';

/** A line handler of the AT module: return a handler to keep the command open. */
export type ModemLineHandler = (line?: string) => ModemLineHandler | undefined | void;

/** The parts of Espruino's AT module this driver uses. */
export interface ModemAt {
  cmd(command: string, timeoutMs: number, cb: ModemLineHandler): void;
  write(data: string): void;
  register(key: string, cb: (buffer: string) => string): void;
  registerLine(key: string, cb: (line: string) => void): void;
}

/** The modem as the board wires it. */
export interface ModemIo {
  at: ModemAt;
  /** Hold the power key pressed (`true`, pin low) or released. */
  powerKey(pressed: boolean): void;
}

/** Power-key press that toggles a SIM800's power, ms. */
const KEY_PRESS_MS = 1200;
/** Consecutive unanswered commands before a power cycle. */
const SILENT_LIMIT = 2;
/** Consecutive failed bring-ups before a power cycle. */
const FAIL_LIMIT = 6;

/** CSQ 0..31 → dBm (3GPP 27.007); 99 = unknown. */
export function csqToDbm(csq: number): number | undefined {
  if (csq < 0 || csq > 31) return undefined;
  return -113 + 2 * csq;
}

interface Slot {
  h: ConnectionHandlers;
  open: boolean;
  closed: boolean;
}

interface Step {
  c: string;
  t: number;
  /** The line that ends the command successfully. */
  end: RegExp;
  /** A line that must have been seen for the step to count as passed. */
  need?: RegExp;
}

const SLOTS = 5;

export function createCellularLink(clock: Clock, apn: string, io: ModemIo): Link {
  const at = io.at;
  const slots: (Slot | undefined)[] = [];
  for (let i = 0; i < SLOTS; i++) slots.push(undefined);
  let up = false;
  let retry = -1;
  let fails = 0;
  let silent = 0;
  let cycling = false;

  /**
   * Commands go one at a time through this driver's own queue, never the AT module's: the module
   * keeps its queue across a timeout, so after a modem fault it would later replay stale commands
   * (a `CIPSEND` into a slot a new connection now owns). `down()` empties this queue instead.
   */
  const queue: {
    c: string;
    t: number;
    end: RegExp;
    done: (ok: boolean, lines: string[], timedOut?: boolean) => void;
    data?: string;
  }[] = [];
  let busy = false;
  /** Bytes for the `> ` prompt of the `CIPSEND` running now. */
  let sendData: string | undefined;

  function next(): void {
    if (busy || queue.length === 0) return;
    const q = queue.shift()!;
    busy = true;
    sendData = q.data;
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
      if (/^(ERROR|\+CME ERROR|\+CMS ERROR)/.test(line)) return finish(false);
      if (q.end.test(line)) return finish(true);
      return handler;
    };
    at.cmd(q.c + '\r\n', q.t, handler);
  }

  /** Run one command; `done(ok, lines, timedOut)` once its final line, an error or the timeout. */
  function command(
    cmd: string,
    timeoutMs: number,
    end: RegExp,
    done: (ok: boolean, lines: string[], timedOut?: boolean) => void,
    data?: string
  ): void {
    queue.push({ c: cmd, t: timeoutMs, end: end, done: done, data: data });
    next();
  }

  function ignore(): void {}

  function closeSlot(n: number, err?: string): void {
    const s = slots[n];
    if (!s || s.closed) return;
    s.closed = true;
    slots[n] = undefined;
    s.h.onClose(err);
  }

  function scheduleBringUp(ms: number): void {
    if (retry >= 0) return;
    retry = clock.after(ms, function () {
      retry = -1;
      bringUp();
    });
  }

  function press(then: () => void): void {
    io.powerKey(true);
    clock.after(KEY_PRESS_MS, function () {
      io.powerKey(false);
      then();
    });
  }

  /**
   * Off (confirmed silent), then on again; bring-up follows. A modem that was off is turned on by
   * the first press, and may ignore its first `AT`s while it autobauds: probe several times over
   * ~10 s before pressing again, or the second press would turn it off every cycle.
   */
  function powerCycle(): void {
    cycling = true;
    fails = 0;
    silent = 0;
    const finish = function () {
      cycling = false;
      scheduleBringUp(5000);
    };
    const probe = function (left: number) {
      command('AT', 1500, /^OK$/, function (ok) {
        if (ok) finish();
        else if (left > 1)
          clock.after(1000, function () {
            probe(left - 1);
          });
        else press(finish);
      });
    };
    press(function () {
      clock.after(3000, function () {
        probe(4);
      });
    });
  }

  function down(timedOut?: boolean): void {
    if (up) core.setStatus(false);
    up = false;
    // Whatever was queued belongs to the connections that are now gone.
    queue.length = 0;
    for (let i = 0; i < SLOTS; i++) closeSlot(i, 'cellular down');
    if (cycling) return;
    fails++;
    silent = timedOut ? silent + 1 : 0;
    if (silent >= SILENT_LIMIT || fails >= FAIL_LIMIT) powerCycle();
    else scheduleBringUp(10000);
  }

  function run(steps: Step[], i: number, done: () => void): void {
    if (i >= steps.length) {
      done();
      return;
    }
    const s = steps[i];
    command(s.c, s.t, s.end, function (ok, lines, timedOut) {
      if (ok && s.need && !s.need.test(lines.join('\n'))) ok = false;
      if (ok) run(steps, i + 1, done);
      else down(timedOut);
    });
  }

  function bringUp(): void {
    if (up || cycling) return;
    const OK = /^OK$/;
    run(
      [
        { c: 'ATE0', t: 2000, end: OK },
        { c: 'AT+CPIN?', t: 5000, end: OK, need: /\+CPIN: READY/ },
        { c: 'AT+CREG?', t: 5000, end: OK, need: /\+CREG: \d,[15]/ },
        { c: 'AT+CIPSHUT', t: 65000, end: /SHUT OK/ },
        { c: 'AT+CIPMUX=1', t: 2000, end: OK },
        { c: 'AT+CSTT="' + apn + '"', t: 5000, end: OK },
        { c: 'AT+CIICR', t: 85000, end: OK },
        { c: 'AT+CIFSR', t: 5000, end: /^\d+\.\d+\.\d+\.\d+$/ }
      ],
      0,
      function () {
        up = true;
        fails = 0;
        silent = 0;
        core.setStatus(true);
        poll();
      }
    );
  }

  function poll(): void {
    if (!up) return;
    command('AT+CREG?', 5000, /^OK$/, function (ok, lines, timedOut) {
      if (!up) return;
      if (!ok || !/\+CREG: \d,[15]/.test(lines.join('\n'))) {
        down(timedOut);
        return;
      }
      command('AT+CSQ', 5000, /^OK$/, function (ok2, lines2, timedOut2) {
        const m = /\+CSQ: (\d+)/.exec(lines2.join('\n'));
        if (!up) return;
        if (!ok2 || !m) down(timedOut2);
        else core.setStatus(true, csqToDbm(parseInt(m[1], 10)));
      });
    });
  }

  /** `<n>, CONNECT OK|CONNECT FAIL|ALREADY CONNECT|CLOSED` lines, claimed before any command sees them. */
  function slotLine(line: string): void {
    const n = parseInt(line.charAt(0), 10);
    const s = slots[n];
    if (!s) return;
    if (line.indexOf('CONNECT OK') > 0 || line.indexOf('ALREADY CONNECT') > 0) {
      if (!s.open) {
        s.open = true;
        s.h.onOpen();
      }
    } else {
      closeSlot(n, line.indexOf('CLOSED') > 0 ? undefined : 'connect failed');
    }
  }
  for (let i = 0; i < SLOTS; i++) {
    at.registerLine(i + ', CONNECT', slotLine);
    at.registerLine(i + ', ALREADY', slotLine);
    at.registerLine(i + ', CLOSED', slotLine);
  }

  // The send prompt has no line end: take it from the raw stream and write the queued bytes.
  at.register('>', function (buf: string) {
    const data = sendData;
    sendData = undefined;
    if (data !== undefined) at.write(data);
    return buf.substr(buf.charAt(1) === ' ' ? 2 : 1);
  });

  at.register('+RECEIVE', function (buf: string) {
    const m = /^\+RECEIVE,(\d),(\d+):\r*\n/.exec(buf);
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
    for (let i = 0; i < SLOTS && n < 0; i++) if (!slots[i]) n = i;
    if (n < 0) {
      clock.after(0, function () {
        h.onClose('no free modem socket');
      });
      return {
        write: function () {
          return false;
        },
        close: function () {}
      };
    }
    const slot: Slot = { h: h, open: false, closed: false };
    slots[n] = slot;
    const timer = clock.after(t.timeoutMs, function () {
      if (!slot.open && !slot.closed) {
        command('AT+CIPCLOSE=' + n + ',1', 2000, /CLOSE OK/, ignore);
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
        command(
          'AT+CIPSEND=' + n + ',' + data.length,
          10000,
          /^\d, SEND (OK|FAIL)$/,
          function (ok, lines) {
            if (slots[n] === slot && (!ok || lines.join('\n').indexOf('SEND FAIL') >= 0)) closeSlot(n, 'send failed');
          },
          data
        );
        return true;
      },
      close: function () {
        clock.cancel(timer);
        if (slot.closed) return;
        command('AT+CIPCLOSE=' + n, 2000, /CLOSE OK/, ignore);
        closeSlot(n);
      }
    };
  }

  const core = createLinkCore(clock, 'cellular', connect);
  clock.every(30000, poll);
  // A modem already on (after a reset of the board alone) answers AT: pressing its key would turn it off.
  command('AT', 2000, /^OK$/, function (ok) {
    if (ok) bringUp();
    else
      press(function () {
        scheduleBringUp(4000);
      });
  });
  return core.link;
}
