/**
 * The Linux build's stand-ins for pins: keys typed on the console (stdin) drive the inputs, and the
 * indicator prints its changes. Keys: `p` press, `r` release, `m` mains toggle, `t` tamper toggle,
 * `w` / `c` take the Wi-Fi / cellular path down or up, `v` variables in use, `a` audio-path cost,
 * `q` quit. A line starting with the byte
 * 0x10 is an installer request `I({...})` (docs/installer.md); the lock behaves as Espruino's
 * console lock does on a board: while locked, such a line is a password attempt and nothing runs.
 *
 * The console is moved to LoopbackA so stdin reaches us as data; LoopbackB forwards everything the
 * interpreter prints back to stdout.
 */
import type { Button, Clock, InstallerConsole, Output, Power, Tamper } from '../types';
import type { LinkCore } from './links';

export interface LinuxConsole {
  button: Button;
  led: Output;
  power: Power;
  tamper: Tamper;
  console: InstallerConsole;
}

/** Time spent per microphone block in the firmware (the audio-path benchmark, key `a`). */
export interface AudioCost {
  n: number;
  ms: number;
  block?: Uint8Array;
  /** The last 16 blocks' times, ms (the median is a block that only went into the ring). */
  recent?: number[];
  /**
   * The per-sample loop over the block, ms, timed once a chunk through the same run (flat arrays
   * only): the last 64 in a ring allocated once (no growth while recording), `nl` of them taken.
   */
  loops?: Float32Array;
  nl?: number;
}

/**
 * The per-sample JavaScript copy of `b` the audio budget is set against (issue #16), in ms; -1 when
 * its output array is not flat: on a heap with no free run for it, it is a chain of blocks that
 * each index walks, and the loop reads ~1.7 times slower (3,000-sample blocks), which would flatter
 * the firmware.
 */
export function perSampleMs(b: Uint8Array): number {
  const out = new Uint8Array(b.length);
  const t = getTime();
  for (let i = 0; i < b.length; i++) out[i] = b[i];
  const ms = (getTime() - t) * 1000;
  return E.getAddressOf(out, true) && E.getAddressOf(b, true) ? ms : -1;
}

/** The median of `xs` (sorted in place), 0 for none. */
function middle(xs: number[]): number {
  xs.sort(function (x, y) {
    return x - y;
  });
  return xs.length ? xs[xs.length >> 1] : 0;
}

export function createLinuxConsole(
  clock: Clock,
  links: { wifi: LinkCore; cellular: LinkCore },
  cost: AudioCost
): LinuxConsole {
  let pressed = false;
  let mains = true;
  let open = false;
  let led = false;
  let buttonCb: ((p: boolean, at: number) => void) | undefined;
  let mainsCb: ((v: boolean) => void) | undefined;
  let tamperCb: ((v: boolean) => void) | undefined;
  const up = { wifi: true, cellular: true };
  let line: string | undefined;
  let password = '';
  let locked = false;
  let requestCb: ((r: unknown) => void) | undefined;

  function request(text: string): void {
    if (locked) {
      if (text === password) locked = false;
      console.log(locked ? 'Password:' : '>');
      return;
    }
    if (text.substr(0, 2) !== 'I(' || text.charAt(text.length - 1) !== ')') return;
    let r: unknown;
    try {
      r = JSON.parse(text.substr(2, text.length - 3));
    } catch (e) {
      console.log('Uncaught SyntaxError');
      return;
    }
    if (requestCb) requestCb(r);
  }

  function key(ch: string): void {
    if (ch === 'p' || ch === 'r') {
      const next = ch === 'p';
      if (next === pressed) return;
      pressed = next;
      if (buttonCb) buttonCb(pressed, clock.now());
    } else if (ch === 'm') {
      mains = !mains;
      if (mainsCb) mainsCb(mains);
    } else if (ch === 't') {
      open = !open;
      if (tamperCb) tamperCb(open);
    } else if (ch === 'w') {
      up.wifi = !up.wifi;
      links.wifi.setStatus(up.wifi, -60);
    } else if (ch === 'c') {
      up.cellular = !up.cellular;
      links.cellular.setStatus(up.cellular, -70);
    } else if (ch === 'a' && cost.block) {
      // The firmware's mean time per block, against the per-sample loop over the same block in
      // the same run: `AUDIO blocks mean_ms loop_ms median_ms flat readings now_ms`. loop_ms is the
      // median of the loop timed once a chunk through the run (the mean covers the same blocks: a
      // machine whose speed drifts moves both alike); now_ms the median of five timed here, as
      // before 2026-12-04 (it read 22-39 ms between runs of one commit on a virtual machine).
      const now: number[] = [];
      for (let k = 0; k < 5; k++) now.push(perSampleMs(cost.block));
      const run: number[] = [];
      for (let k = 0; k < Math.min(cost.nl || 0, 64); k++) run.push((cost.loops as Float32Array)[k]);
      const flat = now.every(function (x) {
        return x >= 0;
      })
        ? 1
        : 0;
      const loop = run.length ? middle(run) : middle(now);
      console.log(
        'AUDIO ' +
          cost.n +
          ' ' +
          (cost.ms / cost.n).toFixed(3) +
          ' ' +
          loop.toFixed(3) +
          ' ' +
          middle((cost.recent || []).slice()).toFixed(3) +
          ' ' +
          flat +
          ' ' +
          run.length +
          ' ' +
          middle(now).toFixed(3)
      );
    } else if (ch === 'v') {
      // Variables in use (for footprint measurements): `MEM used/total`.
      const m = process.memory(false);
      console.log('MEM ' + m.usage + '/' + m.total);
    } else if (ch === 'q') {
      quit();
    }
  }

  E.setConsole(LoopbackA, { force: true });
  LoopbackB.on('data', function (d: string) {
    USB.write(d);
  });
  USB.on('data', function (d: string) {
    for (let i = 0; i < d.length; i++) {
      const ch = d.charAt(i);
      if (ch === '\x10') line = '';
      else if (line !== undefined && (ch === '\n' || ch === '\r')) {
        const text = line;
        line = undefined;
        request(text);
      } else if (line !== undefined) line += ch;
      else key(ch);
    }
  });

  return {
    button: {
      isPressed: function () {
        return pressed;
      },
      onEdge: function (fn) {
        buttonCb = fn;
      },
      close: function () {
        buttonCb = undefined;
      }
    },
    led: {
      write: function (on: boolean) {
        if (on === led) return;
        led = on;
        console.log('LED ' + (on ? 1 : 0));
      },
      read: function () {
        return led;
      }
    },
    power: {
      mainsPresent: function () {
        return mains;
      },
      batteryVolts: function () {
        return 4.1;
      },
      onMainsChange: function (fn) {
        mainsCb = fn;
      }
    },
    tamper: {
      isOpen: function () {
        return open;
      },
      onChange: function (fn) {
        tamperCb = fn;
      }
    },
    console: {
      onRequest: function (fn) {
        requestCb = fn;
      },
      reply: function (json: string) {
        console.log('@I ' + json);
      },
      lock: function (pw: string) {
        password = pw;
        locked = true;
      },
      clearLock: function () {
        password = '';
        locked = false;
      }
    }
  };
}
