/**
 * The Linux build's stand-ins for pins: keys typed on the console (stdin) drive the inputs, and the
 * indicator prints its changes. Keys: `p` press, `r` release, `m` mains toggle, `t` tamper toggle,
 * `w` / `c` take the Wi-Fi / cellular path down or up, `q` quit.
 *
 * The console is moved to LoopbackA so stdin reaches us as data; LoopbackB forwards everything the
 * interpreter prints back to stdout.
 */
import type { Button, Clock, Output, Power, Tamper } from '../types';
import type { LinkCore } from './links';

export interface LinuxConsole {
  button: Button;
  led: Output;
  power: Power;
  tamper: Tamper;
}

export function createLinuxConsole(clock: Clock, links: { wifi: LinkCore; cellular: LinkCore }): LinuxConsole {
  let pressed = false;
  let mains = true;
  let open = false;
  let led = false;
  let buttonCb: ((p: boolean, at: number) => void) | undefined;
  let mainsCb: ((v: boolean) => void) | undefined;
  let tamperCb: ((v: boolean) => void) | undefined;
  const up = { wifi: true, cellular: true };

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
    for (let i = 0; i < d.length; i++) key(d.charAt(i));
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
    }
  };
}
