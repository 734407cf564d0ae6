/**
 * One route to one receiver: a connection over one path, one frame at a time, and the check that
 * a reply really acknowledges that frame. An ACK counts only if it names the frame (seq, account)
 * and, when encrypted, decrypts with the unit's key and carries a timestamp in the window.
 * Anything else is logged and ignored; silence is a timeout.
 */
import type { Clock, Connection, Crypto, Link, LogSink } from '../hal/types';
import { Dc09Target, decodeReply, createFrameSplitter } from './dc09';

export interface ChannelResult {
  /** `ack` valid ACK; `nak` time correction asked (`time` = receiver clock); `duh` refused; `fail` no valid answer. */
  kind: 'ack' | 'nak' | 'duh' | 'fail';
  time?: number;
  why?: string;
}

export interface ChannelOptions {
  link?: Link;
  host: string;
  port: number;
  transport: 'tcp' | 'udp';
  target: Dc09Target;
  ackTimeoutMs: number;
  clock: Clock;
  crypto: Crypto;
  log: LogSink;
  /** Name for log lines, e.g. `primary`. */
  name: string;
}

/** Receivers accept message times from 40 s before to 20 s after their clock, so their clock is
 * at most 20 s behind or 40 s ahead of ours; 2 s more for whole-second stamps and transit. */
const ACK_EARLY_MS = 22000;
const ACK_LATE_MS = 42000;
const IDLE_CLOSE_MS = 20000;

export interface Channel {
  /** Whether a frame is waiting for its reply. */
  busy(): boolean;
  /** `Clock.now()` when the frame waiting for its reply was sent; -1 when idle (health check). */
  since(): number;
  /** Send one frame (`seq` as its 4 digits) and call `done` once with the outcome. */
  send(frame: string, seq: string, done: (r: ChannelResult) => void): void;
  close(): void;
}

export function createChannel(o: ChannelOptions): Channel {
  const clock = o.clock;
  let conn: Connection | undefined;
  let open = false;
  let waiting: ((r: ChannelResult) => void) | undefined;
  let seq = '';
  let frame = '';
  let sentWall = 0;
  let sentAt = -1;
  let timer = -1;
  let idle = -1;
  const splitter = createFrameSplitter(400);

  function finish(r: ChannelResult): void {
    const cb = waiting;
    if (!cb) return;
    waiting = undefined;
    clock.cancel(timer);
    if (r.kind === 'fail') drop();
    else idle = clock.after(IDLE_CLOSE_MS, drop);
    cb(r);
  }

  function drop(): void {
    clock.cancel(idle);
    const c = conn;
    conn = undefined;
    open = false;
    if (c) c.close();
  }

  function onFrame(f: string): void {
    if (!waiting) return;
    const t = o.target;
    const r = decodeReply(o.crypto, f, t.key);
    let why = '';
    if ('error' in r) why = r.error;
    else if (r.type === 'NAK') {
      finish({ kind: 'nak', time: r.time });
      return;
    } else if (r.seq !== seq || r.account.toUpperCase() !== t.account.toUpperCase()) why = 'names another frame (' + r.seq + ')';
    else if (r.type === 'DUH') {
      finish({ kind: 'duh' });
      return;
    } else if (r.type !== 'ACK') why = 'unknown reply ' + r.type;
    else if (!!t.key !== r.encrypted) why = t.key ? 'plain ACK to an encrypted frame' : 'encrypted ACK to a plain frame';
    else if (t.key && (r.time === undefined || r.time < sentWall - ACK_EARLY_MS || r.time > clock.wall() + ACK_LATE_MS)) {
      why = 'timestamp outside the window';
    } else {
      finish({ kind: 'ack', time: r.time });
      return;
    }
    o.log.write('warn', o.name + ': reply ignored: ' + why);
  }

  function write(): void {
    if (conn && waiting && !conn.write(frame)) finish({ kind: 'fail', why: 'write refused' });
  }

  function connect(): void {
    if (!o.link) {
      clock.after(0, function () {
        finish({ kind: 'fail', why: 'no ' + o.name + ' path on this unit' });
      });
      return;
    }
    if (!o.target.key) o.log.write('warn', o.name + ': UNENCRYPTED connection (lab only)');
    const mine = o.link.connect(
      { host: o.host, port: o.port, transport: o.transport, timeoutMs: o.ackTimeoutMs },
      {
        onOpen: function () {
          if (conn !== mine) return;
          open = true;
          write();
        },
        onData: function (d: string) {
          if (conn === mine) splitter.push(d, onFrame);
        },
        onClose: function (err?: string) {
          if (conn !== mine) return;
          conn = undefined;
          open = false;
          finish({ kind: 'fail', why: 'closed' + (err ? ': ' + err : '') });
        }
      }
    );
    conn = mine;
  }

  return {
    busy: function () {
      return waiting !== undefined;
    },
    since: function () {
      return waiting !== undefined ? sentAt : -1;
    },
    send: function (f: string, s: string, done: (r: ChannelResult) => void) {
      waiting = done;
      frame = f;
      seq = s;
      sentWall = clock.wall();
      sentAt = clock.now();
      clock.cancel(idle);
      timer = clock.after(o.ackTimeoutMs, function () {
        finish({ kind: 'fail', why: 'no reply' });
      });
      if (conn && open) write();
      else if (!conn) connect();
    },
    close: function () {
      waiting = undefined;
      clock.cancel(timer);
      drop();
    }
  };
}
