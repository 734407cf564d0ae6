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
 * Supervision and recovery (docs/faults.md): every 30 s `AT+CREG?` (still registered?), `AT+CIFSR`
 * (the data context still up: after the network drops it, or after the modem restarted by itself,
 * it answers `ERROR` while the modem may still be registered) and `AT+CSQ` (signal). The
 * lines `+PDP: DEACT` (the network dropped the context), `RDY`, `Call Ready`, `SMS Ready` (the
 * modem restarted) and `… POWER DOWN` take the path down at once; a SIM800 that autobauds prints
 * nothing after a restart until it sees an `AT`, so the poll is what finds that case. Any
 * failure takes the path down and brings it up again 10 s later. A modem that
 * gives no answer twice in a row, or six bring-ups that fail (e.g. a network that will not take it
 * back), is power-cycled through its power key: a 1.2 s press turns it off, a probe confirms it is
 * silent, a second press turns it on, and bring-up (with registration) starts again.
 *
 * The command queue and the sockets are ./at-sockets.ts, shared with the ESP8266 driver. The device
 * objects come in as `ModemIo`, so the simulator runs this same driver against its AT modem
 * emulator (sim/modem.ts).
 */
import type { Clock, Link } from '../types';
import { createLinkCore } from './link-core';
import { createAtSockets, AtPort } from './at-sockets';

/** The modem as the board wires it. */
export interface ModemIo {
  /** Its UART. */
  port: AtPort;
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

interface Step {
  c: string;
  t: number;
  /** The line that ends the command successfully. */
  end: RegExp;
  /** A line that must have been seen for the step to count as passed. */
  need?: RegExp;
}

export function createCellularLink(clock: Clock, apn: string, io: ModemIo): Link {
  const sockets = createAtSockets(clock, io.port, {
    sep: ', ',
    // (each alternative whole and anchored: 2v29 splits a pattern at every `|`, so
    // `^\d, SEND (OK|FAIL)$` never matched `0, SEND FAIL` on the board; docs/espruino-notes.md)
    sent: /^\d, SEND OK$|^\d, SEND FAIL$/,
    recvKey: '+RECEIVE',
    recv: /^\+RECEIVE,(\d),(\d+):\r*\n/,
    unsolicited: function (line: string) {
      // No socket can open again until bring-up has run (SIM800 AT Command Manual: the
      // unsolicited result codes; NORMAL and UNDER-VOLTAGE POWER DOWN). Not UNDER-VOLTAGE
      // WARNNING: a warning only.
      if (!/^\+PDP: DEACT$|^RDY$|^Call Ready$|^SMS Ready$|^.* POWER DOWN$/.test(line)) return false;
      if (up) down();
      return true;
    }
  });
  const command = sockets.command;
  let up = false;
  let retry = -1;
  let fails = 0;
  let silent = 0;
  let cycling = false;

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
    sockets.reset('cellular down');
    if (cycling) return;
    fails++;
    silent = timedOut ? silent + 1 : 0;
    if (silent >= SILENT_LIMIT || fails >= FAIL_LIMIT) powerCycle();
    else scheduleBringUp(10000);
  }

  /**
   * The steps in turn; any failure takes the path down. `polling`: supervision while up, whose
   * answers after the path went down (its commands were reset) change nothing. `done` gets the
   * last step's lines.
   */
  function run(steps: Step[], i: number, done: (lines: string[]) => void, polling?: boolean, last?: string[]): void {
    if (i >= steps.length) {
      done(last || []);
      return;
    }
    const s = steps[i];
    command(s.c, s.t, s.end, function (ok, lines, timedOut) {
      if (polling && !up) return;
      if (ok && s.need && !s.need.test(lines.join('\n'))) ok = false;
      if (ok) run(steps, i + 1, done, polling, lines);
      else down(timedOut);
    });
  }

  function bringUp(): void {
    if (up || cycling) return;
    // Made here, not at module level: a regular expression held for good costs ~9 variables.
    const OK = /^OK$/;
    const REG = /\+CREG: \d,[15]/;
    const IP = /^\d+\.\d+\.\d+\.\d+$/;
    run(
      [
        { c: 'ATE0', t: 2000, end: OK },
        { c: 'AT+CPIN?', t: 5000, end: OK, need: /\+CPIN: READY/ },
        { c: 'AT+CREG?', t: 5000, end: OK, need: REG },
        { c: 'AT+CIPSHUT', t: 65000, end: /SHUT OK/ },
        { c: 'AT+CIPMUX=1', t: 2000, end: OK },
        { c: 'AT+CSTT="' + apn + '"', t: 5000, end: OK },
        { c: 'AT+CIICR', t: 85000, end: OK },
        { c: 'AT+CIFSR', t: 5000, end: IP }
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
    const OK = /^OK$/;
    // One expression checks the signal line and reads it.
    const CSQ = /\+CSQ: (\d+)/;
    run(
      [
        { c: 'AT+CREG?', t: 5000, end: OK, need: /\+CREG: \d,[15]/ },
        { c: 'AT+CIFSR', t: 5000, end: /^\d+\.\d+\.\d+\.\d+$/ },
        { c: 'AT+CSQ', t: 5000, end: OK, need: CSQ }
      ],
      0,
      function (lines) {
        core.setStatus(true, csqToDbm(parseInt((CSQ.exec(lines.join('\n')) as string[])[1], 10)));
      },
      true
    );
  }

  const core = createLinkCore(clock, 'cellular', sockets.connect);
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
