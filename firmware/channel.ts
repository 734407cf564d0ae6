/**
 * One route to one receiver: a connection over one path, one frame at a time, and the check that
 * a reply really answers that frame. An ACK counts only if it names the frame (seq, account), is
 * encrypted exactly when the frame was, decrypts with the unit's key and passes the clock's checks
 * (a timestamp inside the window, never taken before: centre-clock.ts). Anything else is logged
 * and ignored; silence is a timeout. Replies after the one that ended an exchange, in the same
 * read, were written before the next frame existed: they are dropped (a receiver that writes its
 * NAK twice). A receiver that closes the connection under a frame gets it again on a new
 * connection, once, with its own number.
 */
import type { Clock, Connection, Crypto, Link, LogSink } from '../hal/types';
import { Dc09Target, decodeReply, createFrameSplitter } from './dc09';
import type { CentreClock } from './centre-clock';
import type { Outcome } from './route';

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
  /** The time checks every route shares. */
  times: CentreClock;
  /** Name for log lines, e.g. `primary`. */
  name: string;
}

const IDLE_CLOSE_MS = 20000;
/** After an ACK that repeats one already taken, the frame goes again this much later. */
const ECHO_MS = 1100;

export interface Channel {
  /** Whether a frame is waiting for its reply. */
  busy(): boolean;
  /** `Clock.now()` when the frame waiting for its reply was sent; -1 when idle (health check). */
  since(): number;
  /** Send one frame (`seq` as its 4 digits) and call `done` once with the outcome. */
  send(frame: string, seq: string, done: (r: Outcome) => void): void;
  close(): void;
}

export function createChannel(o: ChannelOptions): Channel {
  const clock = o.clock;
  let conn: Connection | undefined;
  let open = false;
  let waiting: ((r: Outcome) => void) | undefined;
  let seq = '';
  let frame = '';
  let sentWall = 0;
  let sentAt = -1;
  let timer = -1;
  let idle = -1;
  /** The frame went again on a new connection after the receiver closed the last one. */
  let again = false;
  /** An exchange ended in this read: the rest of it predates the next frame. */
  let ended = false;
  /** The frame is to go once more because its ACK could not be told from one already taken. */
  let echo = -1;
  let echoed = false;
  const splitter = createFrameSplitter(400);

  function finish(r: Outcome): void {
    const cb = waiting;
    if (!cb) return;
    waiting = undefined;
    ended = true;
    clock.cancel(timer);
    clock.cancel(echo);
    echo = -1;
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
    if (!waiting || ended) return;
    const t = o.target;
    const r = decodeReply(o.crypto, f, t.key);
    let why = '';
    if ('error' in r) why = r.error;
    else if (r.type === 'NAK') {
      finish({ kind: 'nak', cured: o.times.nak(r.time, sentWall + clock.now() - sentAt) });
      return;
    } else if (r.seq !== seq || r.account.toUpperCase() !== t.account.toUpperCase())
      why = 'names another frame (' + r.seq + ')';
    else if (r.type === 'DUH') {
      finish({ kind: 'duh' });
      return;
    } else if (r.type !== 'ACK') why = 'unknown reply ' + r.type;
    // (Without a key, decodeReply already refuses an encrypted reply.)
    else if (t.key && !r.encrypted) why = 'plain ACK to an encrypted frame';
    else {
      // When the frame went, on the clock as it is now (another route's reply may have moved it).
      why = o.times.ack(r.time, r.tag, clock.wall() - (clock.now() - sentAt));
      if (why === '') {
        finish({ kind: 'ack' });
        return;
      }
      if (why === 'resync') {
        // Authentic, but for a clock that was wrong: the frame goes again on the corrected clock.
        finish({ kind: 'nak', cured: true });
        return;
      }
      if (why === 'replayed' && !echoed) {
        // A receiver whose pad never changes answers two frames in one second with the same bytes,
        // and so would a replay: the frame goes once more after the second has turned, and only
        // a fresh ACK settles it.
        echoed = true;
        echo = clock.after(ECHO_MS, function () {
          echo = -1;
          write();
        });
      }
    }
    o.log.write('warn', o.name + ': reply ignored: ' + why);
  }

  function write(): void {
    if (conn && waiting && !conn.write(frame)) finish({ kind: 'fail', why: 'write refused' });
  }

  function restartTimer(): void {
    clock.cancel(timer);
    timer = clock.after(o.ackTimeoutMs, function () {
      finish({ kind: 'fail', why: 'no reply' });
    });
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
          if (conn !== mine) return;
          ended = false;
          splitter.push(d, onFrame);
        },
        onClose: function (err?: string) {
          if (conn !== mine) return;
          const wasOpen = open;
          conn = undefined;
          open = false;
          if (waiting && wasOpen && !again) {
            // The receiver closed the connection under the frame: once more on a new one.
            again = true;
            restartTimer();
            connect();
            return;
          }
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
    send: function (f: string, s: string, done: (r: Outcome) => void) {
      waiting = done;
      frame = f;
      seq = s;
      again = false;
      echoed = false;
      sentWall = clock.wall();
      sentAt = clock.now();
      clock.cancel(idle);
      restartTimer();
      if (conn && open) write();
      else if (!conn) connect();
    },
    close: function () {
      waiting = undefined;
      clock.cancel(timer);
      clock.cancel(echo);
      echo = -1;
      drop();
    }
  };
}
