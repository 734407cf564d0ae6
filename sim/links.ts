/**
 * Simulated network paths on real sockets: TCP (`net`) and UDP (`dgram`). A link can be cut and
 * restored, and its signal changed, from a test or the simulator page. A cut closes every open
 * connection and refuses new ones, as a lost Wi-Fi association or cellular registration would.
 */
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import type { SimClock } from './clock';
import type { Connection, ConnectionHandlers, Link, LinkStatus, PathName, Transport } from '../hal/types';

/** Environment state of one path: survives reboots of the unit. */
export class SimPath {
  up = true;
  signal = 70;
  /** Extra one-way delay on everything the unit sends, ms (a slow bearer). */
  latencyMs = 0;
  /** Bytes the unit has sent and received over this path (for cost figures). */
  bytesOut = 0;
  bytesIn = 0;
  private listeners = new Set<() => void>();
  private taps = new Set<(dir: 'out' | 'in', data: string) => void>();

  constructor(readonly name: PathName) {}

  /** Take the path down: open connections drop, new ones fail. */
  cut(): void {
    if (!this.up) return;
    this.up = false;
    this.emit();
  }

  restore(): void {
    if (this.up) return;
    this.up = true;
    this.emit();
  }

  setSignal(percent: number): void {
    this.signal = Math.max(0, Math.min(100, Math.round(percent)));
    this.emit();
  }

  /** Watch the bytes crossing this path (`out` = sent by the unit); returns an unsubscribe. */
  tap(fn: (dir: 'out' | 'in', data: string) => void): () => void {
    this.taps.add(fn);
    return () => this.taps.delete(fn);
  }

  /** @internal the HAL side reports traffic. */
  traffic(dir: 'out' | 'in', data: string): void {
    for (const fn of this.taps) fn(dir, data);
  }

  /** @internal the HAL side subscribes to changes. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of [...this.listeners]) fn();
  }
}

/** Map a 0..100 quality to a plausible RSSI in dBm (-113 .. -51, the 3GPP CSQ range). */
export function percentToDbm(p: number): number {
  return Math.round(-113 + (62 * p) / 100);
}

interface Open {
  kill(reason: string): void;
}

/** The HAL Link for one boot, over a SimPath. `dispose()` drops everything (power cut). */
export function createSimLink(path: SimPath, clock: SimClock): Link & { dispose(): void } {
  const open = new Set<Open>();
  let disposed = false;
  let statusCb: ((s: LinkStatus) => void) | undefined;
  const status = (): LinkStatus =>
    path.up ? { up: true, signal: path.signal, rssiDbm: percentToDbm(path.signal) } : { up: false, signal: -1 };
  const unsubscribe = path.subscribe(() => {
    if (!path.up) for (const o of [...open]) o.kill('link down');
    if (statusCb) clock.run(() => statusCb!(status()));
  });

  function connect(
    target: { host: string; port: number; transport: Transport; timeoutMs: number },
    h: ConnectionHandlers
  ): Connection {
    let closed = false;
    let opened = false;
    let timer = 0;
    const finish = (err?: string) => {
      if (closed) return;
      closed = true;
      clock.cancel(timer);
      open.delete(entry);
      teardown();
      if (!disposed) clock.run(() => h.onClose(err));
    };
    let teardown: () => void = () => {};
    let send: (data: Buffer, done: () => void) => void = () => {};
    const entry: Open = { kill: (reason) => finish(reason) };

    if (!path.up || disposed) {
      Promise.resolve().then(() => !disposed && clock.run(() => h.onClose('link down')));
      return { write: () => false, close: () => {} };
    }
    open.add(entry);
    timer = clock.after(target.timeoutMs, () => {
      if (!opened) finish('connect timeout');
    });
    const onOpen = () => {
      if (closed) return;
      opened = true;
      clock.cancel(timer);
      clock.run(() => h.onOpen());
    };
    const onData = (buf: Buffer) => {
      if (closed) return;
      path.bytesIn += buf.length;
      const text = buf.toString('latin1');
      path.traffic('in', text);
      clock.run(() => h.onData(text));
    };

    if (target.transport === 'tcp') {
      const sock = net.connect({ host: target.host, port: target.port });
      sock.setNoDelay(true);
      sock.on('connect', onOpen);
      sock.on('data', onData);
      sock.on('error', (e) => finish(e.message));
      sock.on('close', () => finish(opened ? undefined : 'connection refused'));
      teardown = () => sock.destroy();
      send = (b, done) => sock.write(b, () => done());
    } else {
      const sock = dgram.createSocket('udp4');
      sock.on('message', onData);
      sock.on('error', (e) => finish(e.message));
      sock.connect(target.port, target.host, onOpen);
      teardown = () => {
        try {
          sock.close();
        } catch {
          // already closed
        }
      };
      send = (b, done) => sock.send(b, () => done());
    }

    return {
      write(data: string): boolean {
        if (closed || !opened) return false;
        const buf = Buffer.from(data, 'latin1');
        path.bytesOut += buf.length;
        path.traffic('out', data);
        const sent = () => {
          if (!closed && h.onSent) clock.run(() => h.onSent!());
        };
        if (path.latencyMs > 0) setTimeout(() => !closed && send(buf, sent), path.latencyMs);
        else send(buf, sent);
        return true;
      },
      close: () => finish()
    };
  }

  return {
    path: path.name,
    status,
    onStatus(cb) {
      statusCb = cb;
    },
    connect,
    dispose() {
      disposed = true;
      unsubscribe();
      statusCb = undefined;
      for (const o of [...open]) o.kill('power cut');
    }
  };
}
