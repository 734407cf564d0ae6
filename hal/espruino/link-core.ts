/**
 * The part of a network path every bearer shares (Wi-Fi, cellular, Linux sockets): its status and
 * the refusal of connections while it is down. Free of device globals, so the simulator runs the
 * cellular driver with it too.
 */
import type { Clock, Connection, ConnectionHandlers, LinkStatus, PathName, Transport, Link } from '../types';

export interface Target {
  host: string;
  port: number;
  transport: Transport;
  timeoutMs: number;
}

/** Map RSSI (dBm) to 0..100. */
export function rssiToPercent(dbm: number): number {
  const p = Math.round(((dbm + 113) * 100) / 62);
  return p < 0 ? 0 : p > 100 ? 100 : p;
}

/** A link whose status the driver sets; shared by every bearer. */
export interface LinkCore {
  link: Link;
  setStatus(up: boolean, rssiDbm?: number): void;
}

export function createLinkCore(
  clock: Clock,
  path: PathName,
  connect: (target: Target, h: ConnectionHandlers) => Connection
): LinkCore {
  let status: LinkStatus = { up: false, signal: -1 };
  let cb: ((s: LinkStatus) => void) | undefined;
  return {
    link: {
      path: path,
      status: function () {
        return status;
      },
      onStatus: function (fn) {
        cb = fn;
      },
      connect: function (target, h) {
        if (!status.up) {
          // Fail on the next turn of the loop, as a real socket would; `close` first ends it at once.
          let done = false;
          const end = function (err?: string) {
            if (done) return;
            done = true;
            h.onClose(err);
          };
          clock.after(0, function () {
            end(path + ' down');
          });
          return {
            write: function () {
              return false;
            },
            close: function () {
              end();
            }
          };
        }
        return connect(target, h);
      }
    },
    setStatus: function (up: boolean, rssiDbm?: number) {
      const next: LinkStatus = up
        ? { up: true, signal: rssiDbm === undefined ? -1 : rssiToPercent(rssiDbm), rssiDbm: rssiDbm }
        : { up: false, signal: -1 };
      const changed = next.up !== status.up || next.signal !== status.signal;
      status = next;
      if (changed && cb) cb(status);
    }
  };
}
