/**
 * The cellular path: a SIM800-family modem on a UART, driven with Espruino's built-in `AT` module.
 *
 * Bring-up: power key pulse → `AT` → `ATE0` → `AT+CPIN?` (READY) → `AT+CREG?` until registered
 * (home or roaming) → `AT+CIPMUX=1` → `AT+CSTT="<apn>"` → `AT+CIICR` → `AT+CIFSR` (an IP): the path is up.
 * Connections use multi-connection mode (up to 5 at once): `AT+CIPSTART=<n>,"TCP"|"UDP",host,port`,
 * `AT+CIPSEND=<n>,<len>` then the bytes, incoming data as `+RECEIVE,<n>,<len>:` followed by the bytes.
 * Signal (`AT+CSQ`) and registration are polled every 30 s; a failure takes the path down and starts
 * bring-up again. Modem power-cycling on repeated faults is issue #6 (with an AT emulator in sim/).
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

export function createCellularLink(clock: Clock, o: CellularOptions): Link {
  const serial = Serial2;
  serial.setup(o.baud, { tx: new Pin(o.tx), rx: new Pin(o.rx) });
  const at = global.require('AT').connect(serial);
  const slots: (Slot | undefined)[] = [undefined, undefined, undefined, undefined, undefined];
  let up = false;

  function closeSlot(n: number, err?: string): void {
    const s = slots[n];
    if (!s || s.closed) return;
    s.closed = true;
    slots[n] = undefined;
    s.h.onClose(err);
  }

  function down(): void {
    up = false;
    core.setStatus(false);
    for (let i = 0; i < slots.length; i++) closeSlot(i, 'cellular down');
    clock.after(10000, bringUp);
  }

  function step(cmds: string[], expect: RegExp[], i: number, done: () => void): void {
    if (i >= cmds.length) {
      done();
      return;
    }
    at.cmd(cmds[i] + '\r\n', 10000, function (line) {
      if (line === undefined || !expect[i].test(line)) {
        down();
        return undefined;
      }
      step(cmds, expect, i + 1, done);
      return undefined;
    });
  }

  function bringUp(): void {
    if (up) return;
    const cmds = ['AT', 'ATE0', 'AT+CPIN?', 'AT+CREG?', 'AT+CIPSHUT', 'AT+CIPMUX=1', 'AT+CSTT="' + o.apn + '"', 'AT+CIICR', 'AT+CIFSR'];
    const ok = /OK/;
    const expect = [ok, ok, /READY/, /\+CREG: \d,[15]/, /SHUT OK/, ok, ok, ok, /\d+\.\d+\.\d+\.\d+/];
    step(cmds, expect, 0, function () {
      up = true;
      core.setStatus(true);
      poll();
    });
  }

  function poll(): void {
    if (!up) return;
    at.cmd('AT+CSQ\r\n', 5000, function (line) {
      const m = line ? /\+CSQ: (\d+)/.exec(line) : null;
      if (!m) {
        down();
        return undefined;
      }
      core.setStatus(true, csqToDbm(parseInt(m[1], 10)));
      return undefined;
    });
  }

  at.register('+RECEIVE', function (buf: string) {
    const m = /^\+RECEIVE,(\d),(\d+):\r\n/.exec(buf);
    if (!m) return buf.indexOf('\n') < 0 ? undefined : buf.substr(buf.indexOf('\n') + 1);
    const n = parseInt(m[1], 10);
    const len = parseInt(m[2], 10);
    const start = m[0].length;
    if (buf.length < start + len) return undefined;
    const s = slots[n];
    if (s && !s.closed) s.h.onData(buf.substr(start, len));
    return buf.substr(start + len);
  });
  at.registerLine('0, CLOSED', function () { closeSlot(0); });
  at.registerLine('1, CLOSED', function () { closeSlot(1); });
  at.registerLine('2, CLOSED', function () { closeSlot(2); });
  at.registerLine('3, CLOSED', function () { closeSlot(3); });
  at.registerLine('4, CLOSED', function () { closeSlot(4); });

  function connect(t: Target, h: ConnectionHandlers): Connection {
    let n = -1;
    for (let i = 0; i < slots.length; i++) {
      if (!slots[i]) {
        n = i;
        break;
      }
    }
    const slot: Slot = { h: h, open: false, closed: false };
    if (n < 0) {
      clock.after(0, function () {
        h.onClose('no free modem socket');
      });
      return { write: function () { return false; }, close: function () {} };
    }
    slots[n] = slot;
    const cmd = 'AT+CIPSTART=' + n + ',"' + (t.transport === 'tcp' ? 'TCP' : 'UDP') + '","' + t.host + '",' + t.port + '\r\n';
    at.cmd(cmd, t.timeoutMs, function (line) {
      if (line === undefined) {
        closeSlot(n, 'connect timeout');
        return undefined;
      }
      if (line === 'OK') return at.cmd as unknown as undefined; // wait for the CONNECT line
      if (line.indexOf('CONNECT OK') >= 0 || line.indexOf('ALREADY CONNECT') >= 0) {
        slot.open = true;
        h.onOpen();
      } else {
        closeSlot(n, 'connect failed: ' + line);
      }
      return undefined;
    });
    return {
      write: function (data: string) {
        if (!slot.open || slot.closed) return false;
        at.cmd('AT+CIPSEND=' + n + ',' + data.length + '\r\n', 5000, function (line) {
          if (line === '>' || (line && line.indexOf('>') === 0)) {
            at.write(data);
            return undefined;
          }
          if (line === undefined || line.indexOf('ERROR') >= 0) closeSlot(n, 'send failed');
          return undefined;
        });
        return true;
      },
      close: function () {
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
  // Power key: hold low for 1.2 s to switch the modem on, then give it 3 s to start.
  const key = new Pin(o.powerKey);
  digitalWrite(key, 0);
  clock.after(1200, function () {
    digitalWrite(key, 1);
    clock.after(3000, bringUp);
  });
  return core.link;
}
