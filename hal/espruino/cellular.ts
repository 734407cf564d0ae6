/**
 * The cellular path: a SIM800-family modem on a UART, driven with Espruino's built-in `AT` module.
 *
 * Bring-up: `AT` (if the modem does not answer, pulse its power key and wait) → `ATE0` →
 * `AT+CPIN?` (READY) → `AT+CREG?` (registered, home or roaming) → `AT+CIPSHUT` → `AT+CIPMUX=1` →
 * `AT+CSTT="<apn>"` → `AT+CIICR` (up to 85 s) → `AT+CIFSR` (an IP): the path is up.
 * Connections use multi-connection mode (up to 5): `AT+CIPSTART=<n>,"TCP"|"UDP",host,port` then the
 * line `<n>, CONNECT OK`; sending is `AT+CIPSEND=<n>,<len>`, the `> ` prompt, the bytes, then
 * `<n>, SEND OK`; incoming data is `+RECEIVE,<n>,<len>:\r\n` followed by the bytes; `<n>, CLOSED`
 * ends a connection. Signal (`AT+CSQ`) is polled every 30 s; a failure takes the path down and starts
 * bring-up again. Power-cycling a modem that stops answering is issue #6 (with an AT emulator in sim/).
 *
 * AT module semantics (read from its source): a `cmd` callback gets each line no `registerLine`
 * key claims, and `undefined` on timeout; returning itself keeps the command open for more lines.
 */
import type { Clock, Connection, ConnectionHandlers, Link } from '../types';
import { createLinkCore, Target } from './links';

export interface CellularOptions {
  serial: 'Serial2';
  tx: string;
  rx: string;
  powerKey: string;
  baud: number;
  apn: string;
}

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

export function createCellularLink(clock: Clock, o: CellularOptions): Link {
  const serial = Serial2;
  serial.setup(o.baud, { tx: new Pin(o.tx), rx: new Pin(o.rx) });
  const at = global.require('AT').connect(serial);
  const slots: (Slot | undefined)[] = [];
  for (let i = 0; i < SLOTS; i++) slots.push(undefined);
  const sends: string[] = [];
  let up = false;
  let retry = -1;

  /** Run one command; `done(ok, lines)` once its final line (or an error, or the timeout) arrives. */
  function command(cmd: string, timeoutMs: number, end: RegExp, done: (ok: boolean, lines: string[]) => void): void {
    const lines: string[] = [];
    const handler: AtLineHandler = function (line?: string) {
      if (line === undefined) {
        done(false, lines);
        return undefined;
      }
      if (line === cmd) return handler; // echo before ATE0
      lines.push(line);
      if (/^(ERROR|\+CME ERROR|\+CMS ERROR)/.test(line)) {
        done(false, lines);
        return undefined;
      }
      if (end.test(line)) {
        done(true, lines);
        return undefined;
      }
      return handler;
    };
    at.cmd(cmd + '\r\n', timeoutMs, handler);
  }

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

  function down(): void {
    if (up) core.setStatus(false);
    up = false;
    for (let i = 0; i < SLOTS; i++) closeSlot(i, 'cellular down');
    scheduleBringUp(10000);
  }

  function run(steps: Step[], i: number, done: () => void): void {
    if (i >= steps.length) {
      done();
      return;
    }
    const s = steps[i];
    command(s.c, s.t, s.end, function (ok, lines) {
      if (ok && s.need && !s.need.test(lines.join('\n'))) ok = false;
      if (ok) run(steps, i + 1, done);
      else down();
    });
  }

  function bringUp(): void {
    if (up) return;
    const OK = /^OK$/;
    run(
      [
        { c: 'ATE0', t: 2000, end: OK },
        { c: 'AT+CPIN?', t: 5000, end: OK, need: /\+CPIN: READY/ },
        { c: 'AT+CREG?', t: 5000, end: OK, need: /\+CREG: \d,[15]/ },
        { c: 'AT+CIPSHUT', t: 65000, end: /SHUT OK/ },
        { c: 'AT+CIPMUX=1', t: 2000, end: OK },
        { c: 'AT+CSTT="' + o.apn + '"', t: 5000, end: OK },
        { c: 'AT+CIICR', t: 85000, end: OK },
        { c: 'AT+CIFSR', t: 5000, end: /^\d+\.\d+\.\d+\.\d+$/ }
      ],
      0,
      function () {
        up = true;
        core.setStatus(true);
        poll();
      }
    );
  }

  function poll(): void {
    if (!up) return;
    command('AT+CSQ', 5000, /^OK$/, function (ok, lines) {
      const m = /\+CSQ: (\d+)/.exec(lines.join('\n'));
      if (!ok || !m) down();
      else core.setStatus(true, csqToDbm(parseInt(m[1], 10)));
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
    const data = sends.shift();
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
        at.cmd('AT+CIPCLOSE=' + n + ',1\r\n', 2000, function () {
          return undefined;
        });
        closeSlot(n, 'connect timeout');
      }
    });
    command('AT+CIPSTART=' + n + ',"' + (t.transport === 'tcp' ? 'TCP' : 'UDP') + '","' + t.host + '",' + t.port, 5000, /^OK$/, function (ok) {
      if (!ok) {
        clock.cancel(timer);
        closeSlot(n, 'connect failed');
      }
    });
    return {
      write: function (data: string) {
        if (!slot.open || slot.closed) return false;
        sends.push(data);
        command('AT+CIPSEND=' + n + ',' + data.length, 10000, /^\d, SEND (OK|FAIL)$/, function (ok, lines) {
          if (!ok || lines.join('\n').indexOf('SEND FAIL') >= 0) closeSlot(n, 'send failed');
        });
        return true;
      },
      close: function () {
        clock.cancel(timer);
        if (slot.closed) return;
        at.cmd('AT+CIPCLOSE=' + n + '\r\n', 2000, function () {
          return undefined;
        });
        closeSlot(n);
      }
    };
  }

  const core = createLinkCore(clock, 'cellular', connect);
  clock.every(30000, poll);
  // A modem already on (after a reset of the board alone) answers AT: pulsing its key would turn it off.
  command('AT', 2000, /^OK$/, function (ok) {
    if (ok) {
      bringUp();
      return;
    }
    const key = new Pin(o.powerKey);
    digitalWrite(key, 0);
    clock.after(1200, function () {
      digitalWrite(key, 1);
      scheduleBringUp(4000);
    });
  });
  return core.link;
}
