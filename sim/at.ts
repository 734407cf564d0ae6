/**
 * The unit's UARTs in the simulator. The device's radio drivers read their UART themselves
 * (hal/espruino/at-sockets.ts): the simulator hands them the emulator's end of the line
 * (sim/modem.ts, sim/esp8266.ts) as Espruino's `Serial` object would be, `on('data')` and `write`.
 */
import type { AtPort } from '../hal/espruino/at-sockets';

/** The unit's UART as an emulator sees it. */
export interface SimSerialPort {
  write(data: string): void;
  onData(fn: (data: string) => void): void;
}

/** The emulator's line as the drivers get it; `wrap` runs each arrival (e.g. inside the sim clock). */
export function simUart(serial: SimSerialPort, wrap?: (fn: () => void) => void): AtPort {
  return {
    write: (data) => serial.write(data),
    on: (_event, fn) => serial.onData((d) => (wrap ? wrap(() => fn(d)) : fn(d)))
  };
}
