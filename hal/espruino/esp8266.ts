/**
 * The Wi-Fi path of the Espruino WiFi: its ESP8266 (AT firmware 1.x on USART2, A2/A3, CTS A15;
 * CH_PD on A14, GPIO on A13) driven by the firmware's own AT code (./at-sockets.ts), not by the
 * board's `Wifi` module (issue #17: that module, its NetworkJS glue and its own AT instance held
 * ~1,150 variables of the 8,190 at idle, and it leaves the last TCP payload in a global).
 *
 * Bring-up, as the board's `Wifi` module does it (read from libs/js/espruino_wifi/Wifi.min.js):
 * CH_PD and A13 high, `AT+RST` until `ready` (10 s), `ATE0`, `AT+CIPDINFO=1`, `AT+CIPMUX=1`,
 * `AT+UART_CUR=115200,8,1,0,2` (CTS flow control), `AT+CWMODE=1`, then
 * `AT+CWJAP="ssid","password"` (up to 20 s: `WIFI CONNECTED`, `WIFI GOT IP`, `OK`; `FAIL`).
 * Supervision: every 30 s `AT+CWJAP?` (`+CWJAP:"ssid","bssid",channel,rssi`, or `No AP`); the line
 * `WIFI DISCONNECT` (1.x; `WIFI DISCONNECTED` in later firmware), and `ready` while up (the chip
 * restarted by itself), take the path down at once.
 * Recovery: a join that fails, or a chip that does not answer, is retried with backoff 5 s → 60 s;
 * two bring-ups in a row with no answer power-cycle the chip (CH_PD low for 1 s).
 */
import type { Clock, Link } from '../types';
import { createLinkCore } from './link-core';
import { createAtSockets, AtSockets, AtPort } from './at-sockets';

/** The ESP8266 as the board wires it. */
export interface EspIo {
  /** Its UART. */
  port: AtPort;
  /** CH_PD (and GPIO) high: on; low: off. */
  power(on: boolean): void;
}

/** The station's password and the SSID go into one AT command: quote and escape as the AT firmware reads them. */
function atQuote(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    out += c === '"' || c === ',' || c === '\\' ? '\\' + c : c;
  }
  return '"' + out + '"';
}

export function createEspWifiLink(
  clock: Clock,
  creds: { ssid: string; password: string } | undefined,
  wire: () => EspIo
): Link {
  let sockets: AtSockets | undefined;
  const core = createLinkCore(clock, 'wifi', function (t, h) {
    // Only called while the path is up, so never without credentials (link-core refuses the rest).
    return (sockets as AtSockets).connect(t, h);
  });
  // Without credentials the path stays down, and the chip and its UART are left alone.
  if (!creds || !creds.ssid) return core.link;
  const io = wire();
  const links = createAtSockets(clock, io.port, {
    sep: ',',
    sent: /^SEND OK$|^SEND FAIL$/,
    recvKey: '+IPD',
    recv: /^\+IPD,(\d),(\d+)[^:]*:/,
    unsolicited: function (line: string) {
      // `ready` while up: the chip restarted by itself. It rejoins the network on its own (AT 1.x
      // saves the join) but is back in single-connection mode: the path must be brought up again.
      if (line.indexOf('WIFI DISCONNECT') !== 0 && !(up && line === 'ready')) return false;
      if (up) down();
      return true;
    }
  });
  sockets = links;
  const command = links.command;
  const OK = /^OK$/;
  let up = false;
  let backoff = 5000;
  let retry = -1;
  let silent = 0;
  let starting = false;

  function down(timedOut?: boolean): void {
    if (up) core.setStatus(false);
    up = false;
    starting = false;
    links.reset('wifi down');
    silent = timedOut ? silent + 1 : 0;
    if (retry >= 0) return;
    retry = clock.after(backoff, function () {
      retry = -1;
      bringUp();
    });
    backoff = Math.min(backoff * 2, 60000);
  }

  function run(steps: [string, number, RegExp][], i: number, done: () => void): void {
    if (i >= steps.length) {
      done();
      return;
    }
    command(steps[i][0], steps[i][1], steps[i][2], function (ok, _lines, timedOut) {
      if (ok) run(steps, i + 1, done);
      else down(timedOut);
    });
  }

  function bringUp(): void {
    if (up || starting) return;
    starting = true;
    // A chip that stopped answering is switched off and on again; otherwise a reset is enough.
    const cycle = silent >= 2;
    if (cycle) {
      silent = 0;
      io.power(false);
    }
    clock.after(cycle ? 1000 : 0, function () {
      // `AT+RST` first, then power: a chip that was off answers its power-on `ready` (the board's
      // Wifi module does the same).
      run(
        [
          ['AT+RST', 10000, /^ready$|^Ready\.$/],
          ['ATE0', 2000, OK],
          ['AT+CIPDINFO=1', 2000, OK],
          ['AT+CIPMUX=1', 2000, OK],
          ['AT+UART_CUR=115200,8,1,0,2', 2000, OK],
          ['AT+CWMODE=1', 2000, /^OK$|^no change$/],
          ['AT+CWJAP=' + atQuote(creds!.ssid) + ',' + atQuote(creds!.password), 20000, OK]
        ],
        0,
        function () {
          up = true;
          starting = false;
          silent = 0;
          backoff = 5000;
          core.setStatus(true);
          poll();
        }
      );
      io.power(true);
    });
  }

  function poll(): void {
    if (!up) return;
    command('AT+CWJAP?', 5000, OK, function (ok, lines, timedOut) {
      if (!up) return;
      const m = /\+CWJAP:"[^"]*","[^"]*",\d+,([-0-9]+)/.exec(lines.join('\n'));
      if (ok && m) core.setStatus(true, parseInt(m[1], 10));
      else down(timedOut);
    });
  }

  clock.every(30000, poll);
  bringUp();
  return core.link;
}
