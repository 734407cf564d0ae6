/**
 * Espruino's `AT` module, reimplemented for Node so the device's cellular driver
 * (hal/espruino/cellular.ts) runs unchanged in the simulator. Written from the module's documented
 * behaviour, as measured in docs/espruino-notes.md, including its rough edges:
 * - lines end at `\r`; a `\n` at the start of the buffer is dropped; empty lines are skipped;
 * - `register(key)` handlers see the raw buffer whenever it starts with `key` (on each arrival and
 *   after each line) and return what is left of it;
 * - `registerLine(key)` handlers take whole lines starting with `key`, before any command;
 * - `cmd` writes at once unless a command is waiting for lines, in which case it queues; the queue
 *   moves on only when a command's callback returns nothing, not on a timeout;
 * - on timeout the callback gets `undefined`.
 */
import type { Clock } from '../hal/types';
import type { ModemAt, ModemLineHandler } from '../hal/espruino/cellular';

/** The unit's UART as the AT module sees it. */
export interface SimSerialPort {
  write(data: string): void;
  onData(fn: (data: string) => void): void;
}

export function createSimAt(clock: Clock, serial: SimSerialPort): ModemAt {
  let buffer = '';
  let current: ((line: string) => void) | undefined;
  const queue: [string, number, ModemLineHandler][] = [];
  const raw = new Map<string, (buf: string) => string>();
  const lines = new Map<string, (line: string) => void>();

  const runRaw = () => {
    for (const [key, fn] of raw) if (buffer.startsWith(key)) buffer = fn(buffer);
  };

  serial.onData((d) => {
    buffer += d;
    runRaw();
    if (buffer.startsWith('\n')) buffer = buffer.slice(1);
    let cr = buffer.indexOf('\r');
    while (cr >= 0) {
      const line = buffer.slice(0, cr);
      if (line.length > 0) {
        let claimed = false;
        for (const [key, fn] of lines) {
          if (line.startsWith(key)) {
            fn(line);
            claimed = true;
          }
        }
        if (!claimed && current) current(line);
      }
      buffer = buffer.slice(cr + 1);
      if (buffer.startsWith('\n')) buffer = buffer.slice(1);
      if (buffer.length > 0) runRaw();
      cr = buffer.indexOf('\r');
    }
  });

  const at: ModemAt = {
    cmd(command, timeoutMs, callback) {
      if (current) {
        queue.push([command, timeoutMs, callback]);
        return;
      }
      serial.write(command);
      if (!timeoutMs) return;
      let cb: ModemLineHandler | undefined = callback;
      const timer = clock.after(timeoutMs, () => {
        current = undefined;
        if (cb) cb();
      });
      const receive = (line: string) => {
        current = undefined;
        const next = cb ? cb(line) : undefined;
        if (next) {
          cb = next;
          current = receive;
        } else clock.cancel(timer);
        if (!current && queue.length > 0) {
          const [c, t, f] = queue.shift()!;
          at.cmd(c, t, f);
        }
      };
      current = receive;
    },
    write: (data) => serial.write(data),
    register(key, fn) {
      if (raw.has(key)) throw new Error(`${key} already registered`);
      raw.set(key, fn);
    },
    registerLine(key, fn) {
      if (lines.has(key)) throw new Error(`${key} already registered`);
      lines.set(key, fn);
    }
  };
  return at;
}
