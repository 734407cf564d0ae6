/**
 * Pins on the device: the panic button, tamper and mains inputs through `setWatch` (debounced
 * natively), outputs through `digitalWrite`, the battery through `analogRead`.
 */
import type { Button, Output, Power, Tamper } from '../types';

export function createPinButton(pinName: string, activeHigh: boolean, debounceMs: number, now: () => number): Button {
  const pin = new Pin(pinName);
  pinMode(pin, activeHigh ? 'input_pulldown' : 'input_pullup', false);
  let cb: ((pressed: boolean, at: number) => void) | undefined;
  let pressed = digitalRead(pin) === (activeHigh ? 1 : 0);
  const id = setWatch(
    function (e: { state: boolean }) {
      pressed = e.state === activeHigh;
      if (cb) cb(pressed, now());
    },
    pin,
    { repeat: true, edge: 'both', debounce: debounceMs }
  );
  return {
    isPressed: function () {
      return pressed;
    },
    onEdge: function (fn) {
      cb = fn;
    },
    close: function () {
      cb = undefined;
      clearWatch(id);
    }
  };
}

export function createPinOutput(pinName: string): Output {
  const pin = new Pin(pinName);
  let level = false;
  digitalWrite(pin, 0);
  return {
    write: function (on: boolean) {
      level = on;
      digitalWrite(pin, on ? 1 : 0);
    },
    read: function () {
      return level;
    }
  };
}

/** A debounced input that reports its level (mains sense, tamper switch). High = active. */
function watchLevel(
  pinName: string | undefined,
  fallback: boolean
): { level(): boolean; on(fn: (v: boolean) => void): void } {
  if (!pinName) {
    return {
      level: function () {
        return fallback;
      },
      on: function () {}
    };
  }
  const pin = new Pin(pinName);
  pinMode(pin, 'input_pulldown', false);
  let level = digitalRead(pin) === 1;
  let cb: ((v: boolean) => void) | undefined;
  setWatch(
    function (e: { state: boolean }) {
      level = e.state;
      if (cb) cb(level);
    },
    pin,
    { repeat: true, edge: 'both', debounce: 50 }
  );
  return {
    level: function () {
      return level;
    },
    on: function (fn) {
      cb = fn;
    }
  };
}

export function createPinPower(mains: string | undefined, battery: string | undefined, scale: number): Power {
  const m = watchLevel(mains, true);
  const b = battery ? new Pin(battery) : undefined;
  return {
    mainsPresent: m.level,
    batteryVolts: function () {
      return b ? Math.round(analogRead(b) * 3.3 * scale * 1000) / 1000 : 4.2;
    },
    onMainsChange: m.on
  };
}

export function createPinTamper(pinName: string | undefined): Tamper {
  const t = watchLevel(pinName, false);
  return { isOpen: t.level, onChange: t.on };
}
