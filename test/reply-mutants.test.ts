import { strict as assert } from 'node:assert';
import * as nodeCrypto from 'node:crypto';
import { testChannel } from './support/hand-link';
import { createCentreClock, MIN_WALL, MAX_WALL } from '../firmware/centre-clock';
import { eventStep, newRoute, newTry, SINGLE, FULL, Outcome, RouteState } from '../firmware/route';
import {
  encodeMessage,
  encodeReply,
  decodeReply,
  openFrame,
  wrapFrame,
  crc16,
  Dc09Target,
  formatTime,
  parseTime,
  createFrameSplitter
} from '../firmware/dc09';
import { keyBytes } from '../firmware/config';
import { createSimCrypto } from '../sim/crypto';
import type { Clock, ConnectionHandlers, Link, LogSink } from '../hal/types';
import { useFakeTime } from './support/fake-time';
import { createRig, Rig } from '../sim/alarm-rig';

/**
 * The reply checks again, one rule at a time, for the mutants `npm run mutate` found surviving the
 * broader tests (docs/reporting.md, "Mutation testing"). Each test names the rule it holds: a wrong
 * reply settles nothing, a right one still does, and the numbers in "Delivery" and "Clock" are the
 * numbers the code uses. The clock here is moved by hand, so a window's edge is an exact millisecond.
 */
const crypto = createSimCrypto();
const HEXKEY = '000102030405060708090A0B0C0D0E0F';
const key = keyBytes(HEXKEY) as string;
const target: Dc09Target = { account: '1234', line: '1', receiver: '1', key };
const plainTarget: Dc09Target = { ...target, key: undefined };
const lines: { level: string; text: string }[] = [];
const log: LogSink = { write: (level, text) => void lines.push({ level, text }) };
/** A whole second, so a reply's timestamp carries it exactly. */
const W0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const ts = (ms: number) => '_' + formatTime(ms);
const ack = (seq: string, ms: number | undefined, t: Dc09Target = target) => encodeReply(crypto, 'ACK', seq, t, ms);
/** The clear sequence number rewritten and the CRC recomputed: what a proxy without the key can do. */
function renumber(frame: string, seq: string): string {
  const body = openFrame(frame) as string;
  const q = body.indexOf('"', 1);
  return wrapFrame(body.slice(0, q + 1) + seq + body.slice(q + 5));
}
const nak = (ms: number) => wrapFrame(`"NAK"0000R0L0A0[]${ts(ms)}`);

/** An encrypted reply whose plaintext the test chooses (`id` ACK unless told). */
function sealed(plain: Buffer, seq = '0041', id = 'ACK'): string {
  const c = nodeCrypto.createCipheriv('aes-128-cbc', Buffer.from(HEXKEY, 'hex'), Buffer.alloc(16));
  c.setAutoPadding(false);
  const hex = Buffer.concat([c.update(plain), c.final()])
    .toString('hex')
    .toUpperCase();
  return wrapFrame(`"*${id}"${seq}R1L1#1234[${hex}`);
}

interface ManualClock extends Clock {
  advance(ms: number): void;
}

/**
 * `now()` and `wall()` move only when the test says; timers fire in `advance`. Boot was an hour
 * ago (a unit's `now()` is never near 0 when replies arrive). Timer ids start at 1, as on the device.
 */
function manualClock(wall: number, now0 = 3_600_000): ManualClock {
  let now = now0;
  let offset = wall - now0;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    wall: () => now + offset,
    setWall: (w) => void (offset = w - now),
    after(ms, fn) {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    every() {
      throw new Error('not used by the channel');
    },
    cancel: (id) => void timers.delete(id),
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let id = -1;
        let at = Infinity;
        for (const [k, t] of timers) if (t.at < at) ((id = k), (at = t.at));
        if (id < 0 || at > end) break;
        const t = timers.get(id)!;
        timers.delete(id);
        now = at;
        t.fn();
      }
      now = end;
    }
  };
}

interface Conn {
  h: ConnectionHandlers;
  writes: string[];
  closed: boolean;
  refuseWrites: boolean;
}

/** A link whose connections open, answer and close only when the test says. */
function scriptedLink(): { link: Link; conns: Conn[] } {
  const conns: Conn[] = [];
  const link: Link = {
    path: 'wifi',
    status: () => ({ up: true, signal: 50 }),
    onStatus: () => undefined,
    connect: (_t, h) => {
      const c: Conn = { h, writes: [], closed: false, refuseWrites: false };
      conns.push(c);
      return {
        write: (d) => (c.closed || c.refuseWrites ? false : (c.writes.push(d), true)),
        close: () => void (c.closed = true)
      };
    }
  };
  return { link, conns };
}

/** One channel on a hand-moved clock and a scripted link. */
function channelRig(o: { target?: Dc09Target; wall?: number; noPath?: boolean; clock?: ManualClock } = {}) {
  lines.length = 0;
  const clock = o.clock ?? manualClock(o.wall ?? W0);
  const times = createCentreClock(clock, 0, log);
  const net = scriptedLink();
  const ch = testChannel({
    link: o.noPath ? undefined : net.link,
    target: o.target ?? target,
    ackTimeoutMs: 10_000,
    clock,
    crypto,
    log,
    times
  });
  const conn = (i = net.conns.length - 1) => {
    assert.ok(net.conns[i], `connection ${i} was made`);
    return net.conns[i];
  };
  return {
    clock,
    times,
    net,
    ch,
    conn,
    /** Send a frame; the getter gives its outcome once there is one. */
    send(seq: string, frame = 'frame ' + seq): () => Outcome | undefined {
      let result: Outcome | undefined;
      let calls = 0;
      ch.send(frame, seq, (r) => {
        calls++;
        result = r;
      });
      return () => {
        assert.ok(calls <= 1, 'done is called once');
        return result;
      };
    },
    open: () => conn().h.onOpen(),
    feed: (d: string) => conn().h.onData(d)
  };
}

describe('reply mutants: what acknowledges a frame, one rule at a time', () => {
  it('a keyless plain ACK with the right number, account and time does not settle an encrypted frame; the real ACK after it does', () => {
    const r = channelRig();
    const a = r.send('0041');
    r.open();
    r.feed(ack('0041', W0, plainTarget));
    assert.equal(a(), undefined, 'the plain ACK is not taken');
    r.feed(ack('0041', W0));
    assert.deepEqual(a(), { kind: 'ack' });
  });

  it('an ACK made with the key, for this number and time but another account, does not settle the frame', () => {
    const r = channelRig();
    const a = r.send('0041');
    r.open();
    r.feed(ack('0041', W0, { ...target, account: '1235' }));
    assert.equal(a(), undefined);
    r.feed(ack('0041', W0));
    assert.deepEqual(a(), { kind: 'ack' });
  });

  it('an account with hex letters matches in either case (a receiver that writes 12ab for 12AB)', () => {
    const mine = { ...target, account: '12AB' };
    const r = channelRig({ target: mine });
    const a = r.send('0041');
    r.open();
    r.feed(ack('0041', W0, { ...mine, account: '12ab' }));
    assert.deepEqual(a(), { kind: 'ack' });
  });

  it("a DUH for another account or number is not this frame's refusal", () => {
    const r = channelRig();
    const a = r.send('0041');
    r.open();
    r.feed(wrapFrame(`"DUH"0041R1L1#1235[]${ts(W0)}`));
    r.feed(wrapFrame(`"DUH"0042R1L1#1234[]${ts(W0)}`));
    assert.equal(a(), undefined);
  });

  it('an encrypted reply of another type (right key, number, account and time) is not an ACK', () => {
    const r = channelRig();
    const a = r.send('0041');
    r.open();
    r.feed(sealed(Buffer.from(`abcdefghijk]${ts(W0)}`, 'latin1'), '0041', 'XYZ'));
    assert.equal(a(), undefined);
  });

  it('an encrypted ACK without a timestamp does not settle the frame', () => {
    const r = channelRig();
    const a = r.send('0041');
    r.open();
    r.feed(ack('0041', undefined));
    assert.equal(a(), undefined);
    r.feed(ack('0041', W0));
    assert.deepEqual(a(), { kind: 'ack' });
  });

  it('on a trusted clock an ACK dated more than 10 s after now is refused and moves nothing', () => {
    const r = channelRig();
    const a = r.send('0041');
    r.open();
    r.feed(ack('0041', W0));
    assert.deepEqual(a(), { kind: 'ack' });
    assert.ok(r.times.trusted());
    const before = r.clock.wall();
    const b = r.send('0042');
    r.feed(ack('0042', W0 + 11_000));
    assert.equal(b(), undefined, 'from the future');
    assert.equal(r.clock.wall(), before, 'the clock did not follow it');
    r.feed(ack('0042', W0 + 10_000));
    assert.deepEqual(b(), { kind: 'ack' }, '10 s ahead is inside the window');
  });

  it('on a clock no centre has set, an ACK up to 40 s ahead is an ACK; further ahead it sets the clock and the frame goes again', () => {
    const r = channelRig();
    const a = r.send('0041');
    r.open();
    r.feed(ack('0041', W0 + 20_000));
    assert.deepEqual(a(), { kind: 'ack' }, "20 s ahead: inside the standard's window");
    const r2 = channelRig();
    const b = r2.send('0041');
    r2.open();
    r2.feed(ack('0041', W0 + 41_000));
    assert.deepEqual(b(), { kind: 'nak', cured: true });
    assert.equal(r2.clock.wall(), W0 + 41_500);
  });

  it('the window runs from when the frame went: an ACK 20 s behind the send time, arriving 5 s later, counts; one 30 s behind does not', () => {
    const r = channelRig();
    const a = r.send('0041');
    r.open();
    r.clock.advance(5000);
    r.feed(ack('0041', W0 - 20_000));
    assert.deepEqual(a(), { kind: 'ack' });
    const r2 = channelRig();
    const b = r2.send('0041');
    r2.open();
    r2.feed(ack('0041', W0 - 30_000));
    assert.equal(b(), undefined);
    assert.equal(r2.clock.wall(), W0, 'an old ACK never moves the clock back');
  });

  it('an ACK replayed after newer ones were taken is still refused (its identity is remembered while it could pass the window)', () => {
    const r = channelRig();
    const first = ack('0041', W0);
    const a = r.send('0041');
    r.open();
    r.feed(first);
    assert.deepEqual(a(), { kind: 'ack' });
    r.clock.advance(5000);
    const b = r.send('0042');
    r.feed(ack('0042', W0 + 5000));
    assert.deepEqual(b(), { kind: 'ack' });
    r.clock.advance(1000);
    const c = r.send('0043');
    r.feed(ack('0043', W0 + 6000));
    assert.deepEqual(c(), { kind: 'ack' });
    const d = r.send('0044');
    r.feed(renumber(first, '0044'));
    assert.equal(d(), undefined, 'the first ACK again, renumbered, 6 s later');
    assert.ok(lines.some((l) => /replayed/.test(l.text)));
  });

  it('a NAK whose timestamp cannot be read is not a reply: the frame keeps waiting', () => {
    const r = channelRig();
    const a = r.send('0041');
    r.open();
    r.feed(wrapFrame('"NAK"0000R0L0A0[]_24:00:00,06-01-2026'));
    assert.equal(a(), undefined);
  });
});

describe('reply mutants: the centre clock\'s numbers (docs/reporting.md, "Clock")', () => {
  /** A clock an encrypted ACK dated `W0` has just set (it was 5 s fast): wall W0 + 0.5 s. */
  function trusted(now0 = 3_600_000) {
    const clock = manualClock(W0 + 5000, now0);
    const times = createCentreClock(clock, 0, log);
    assert.equal(times.ack(W0, 'tag-W0', clock.wall()), '');
    assert.equal(clock.wall(), W0 + 500, "set to the ACK's time, half a second on");
    assert.ok(times.trusted());
    return { clock, times };
  }

  it('a fresh clock is not trusted; neither a NAK nor a plain ACK makes it trusted', () => {
    const clock = manualClock(W0);
    const times = createCentreClock(clock, 0, log);
    assert.equal(times.trusted(), false);
    times.nak(W0 + 60_000, W0);
    assert.equal(times.trusted(), false, 'a NAK is not authenticated');
    assert.equal(times.ack(W0 + 60_000, '', clock.wall()), '');
    assert.equal(times.trusted(), false, 'nor is a plain ACK');
  });

  it('a plain route (lab only) takes a plain ACK with or without a timestamp, and a plain ACK never steps the clock', () => {
    const clock = manualClock(W0);
    const times = createCentreClock(clock, 0, log);
    assert.equal(times.ack(undefined, '', W0), '', 'no timestamp: still an ACK on a plain route');
    assert.equal(times.ack(W0 + 30_000, '', W0), '');
    assert.equal(clock.wall(), W0, 'not stepped');
    assert.deepEqual(times.last(), { wall: W0 + 30_000, at: clock.now() }, 'believed like a NAK');
  });

  it('an accepted ACK steps a clock more than a second off, to its time + 0.5 s; within a second it is left alone', () => {
    const rows: [number, boolean][] = [
      [900, false],
      [1000, false],
      [-1000, false],
      [-900, false],
      [1001, true],
      [-1001, true],
      [-30_000, true]
    ];
    for (const [off, steps] of rows) {
      const clock = manualClock(W0 + 500 + off);
      const times = createCentreClock(clock, 0, log);
      assert.equal(times.ack(W0, 'tag', clock.wall()), '', `off ${off}`);
      assert.equal(clock.wall(), steps ? W0 + 500 : W0 + 500 + off, `clock ${off} ms off the ACK`);
    }
  });

  describe('the window an encrypted ACK must fall in', () => {
    // [name, trusted, ms since the trusting ACK before the frame went, time relative to W0, expected]
    // Trusted: W0 is the trusting ACK; the frame went `since` later (sentWall = W0 + 500 + since).
    const rows: [string, number, number, string][] = [
      ['11 s before the frame went: in', 5000, 500 + 5000 - 11_000, ''],
      ['11 s and 1 ms before: out', 5000, 500 + 5000 - 11_001, 'timestamp outside the window'],
      [
        '15 s before (the window a clock never set would allow): out',
        5000,
        500 + 5000 - 15_000,
        'timestamp outside the window'
      ],
      ['10 s after now: in', 5000, 500 + 5000 + 10_000, ''],
      ['10 s and 1 ms after now: out', 5000, 500 + 5000 + 10_001, 'timestamp outside the window'],
      ['10 s before the newest ACK taken: in', 0, -10_000, ''],
      [
        '10 s and 1 ms before the newest ACK taken: out, though inside the window',
        0,
        -10_001,
        'older than an ACK already taken'
      ]
    ];
    for (const [name, since, rel, want] of rows) {
      it(`trusted clock: ${name}`, () => {
        const { clock, times } = trusted();
        clock.advance(since);
        assert.equal(times.ack(W0 + rel, 'tag-new', clock.wall()), want);
      });
    }

    it('accepted ACK times never go back more than 10 s from the newest, whatever order they arrive in', () => {
      const { times } = trusted();
      // Two frames on two routes, both sent 1.5 s before the trusting ACK (sentWall W0 - 1000).
      assert.equal(times.ack(W0 - 5000, 'tag-b', W0 - 1000), '', 'older than the newest, within 10 s');
      assert.equal(
        times.ack(W0 - 10_500, 'tag-c', W0 - 1000),
        'older than an ACK already taken',
        'measured from W0, not from the last taken'
      );
    });

    const loose: [string, number, string][] = [
      ['21 s before the frame went: in', -21_000, ''],
      ['21 s and 1 ms before: out', -21_001, 'timestamp outside the window'],
      ['20 s after now: in (not a resync)', 20_000, ''],
      ['40 s after now: in', 40_000, ''],
      ['40 s and 1 ms after now: authentic and ahead, the clock takes it', 40_001, 'resync']
    ];
    for (const [name, rel, want] of loose) {
      it(`clock never set: ${name}`, () => {
        const clock = manualClock(W0);
        const times = createCentreClock(clock, 0, log);
        assert.equal(times.ack(W0 + rel, 'tag', W0), want);
        if (want === 'resync') assert.equal(clock.wall(), W0 + rel + 500);
        if (want === 'timestamp outside the window') assert.equal(clock.wall(), W0, 'not moved');
      });
    }

    it('an ACK is forgotten once it is 20 s older than the newest (memory stays bounded): replayed then, it is refused as old', () => {
      const { clock, times } = trusted();
      clock.advance(25_000);
      assert.equal(times.ack(W0 + 25_000, 'tag-b', clock.wall()), '');
      clock.advance(1000);
      assert.equal(times.ack(W0 + 26_000, 'tag-c', clock.wall()), '');
      assert.equal(
        times.ack(W0, 'tag-W0', W0),
        'older than an ACK already taken',
        'not a replay the channel would answer with a resend'
      );
      assert.equal(times.ack(W0 + 25_000, 'tag-b', clock.wall()), 'replayed', 'a recent one is still remembered');
    });

    it('an ACK pushed out of memory by 16 newer ones inside its window is still refused when replayed (and nothing as old)', () => {
      const { clock, times } = trusted();
      for (let i = 1; i <= 16; i++) {
        clock.advance(500);
        assert.equal(times.ack(W0 + i * 500, 'tag-' + i, clock.wall()), '', `genuine ACK ${i}`);
      }
      // tag-W0 (dated W0) is now forgotten for the count, yet W0 is still inside the window.
      assert.equal(times.ack(W0, 'tag-W0', W0), 'replayed');
      assert.equal(times.ack(W0, 'tag-other', W0), 'replayed', 'any ACK dated at or before the forgotten one');
      clock.advance(500);
      assert.equal(times.ack(W0 + 8500, 'tag-17', clock.wall()), '', 'a genuine newer ACK still passes');
    });

    it('after a resync, the ACK that set the clock is the newest: one more than 10 s older is refused', () => {
      const clock = manualClock(W0 - 60_000);
      const times = createCentreClock(clock, 0, log);
      assert.equal(times.ack(W0, 'tag-a', clock.wall()), 'resync');
      assert.equal(clock.wall(), W0 + 500);
      assert.equal(times.ack(W0 - 10_001, 'tag-b', clock.wall()), 'older than an ACK already taken');
      assert.equal(times.ack(W0, 'tag-a', clock.wall()), 'replayed');
    });

    it('an authentic ACK dated outside 2025-2044 is refused on a clock never set, and moves nothing', () => {
      for (const t of [Date.UTC(2099, 0, 1), MAX_WALL, Date.UTC(2024, 11, 31, 23, 59, 59)]) {
        const clock = manualClock(W0);
        const times = createCentreClock(clock, 0, log);
        assert.equal(times.ack(t, 'tag', W0), 'timestamp implausible', new Date(t).toISOString());
        assert.equal(clock.wall(), W0);
        assert.equal(times.trusted(), false);
      }
    });
  });

  describe('what a NAK may do', () => {
    it('on a clock never set and no journal: a NAK dated outside 2025-2044 is not believed; the edges of that range are', () => {
      const rows: [number, boolean][] = [
        [Date.UTC(2099, 0, 1), false],
        [MAX_WALL, false],
        [MAX_WALL - 1000, true],
        [Date.UTC(2024, 11, 31, 23, 59, 59), false],
        [MIN_WALL, true]
      ];
      for (const [t, believed] of rows) {
        const clock = manualClock(W0);
        const times = createCentreClock(clock, 0, log);
        assert.equal(times.nak(t, W0), believed, new Date(t).toISOString());
        assert.equal(clock.wall(), believed ? t + 500 : W0);
      }
    });

    it("a NAK may set a clock never trusted back to 10 s before the journal's latest time, not further", () => {
      const floor = W0 - 600_000;
      const rows: [number, boolean][] = [
        [floor - 5000, true],
        [floor - 10_000, true],
        [floor - 10_001, false]
      ];
      for (const [t, believed] of rows) {
        const clock = manualClock(W0);
        const times = createCentreClock(clock, floor, log);
        assert.equal(times.nak(t, W0), believed, `${t - floor} ms from the floor`);
      }
    });

    it("a NAK within 3 s of the frame's time is about the content: not cured, clock not moved", () => {
      for (const d of [3000, -3000]) {
        const clock = manualClock(W0);
        const times = createCentreClock(clock, 0, log);
        assert.equal(times.nak(W0 + 60_000 + d, W0 + 60_000), false, `${d}`);
        assert.equal(clock.wall(), W0);
      }
    });

    it("a NAK about the frame's time that agrees (within 3 s) with the clock as it reads now is cured without a step", () => {
      // The frame went on a clock 60 s slow; another reply has corrected it since.
      for (const d of [2000, 3000, -3000]) {
        const clock = manualClock(W0);
        const times = createCentreClock(clock, 0, log);
        assert.equal(times.nak(W0 + d, W0 - 60_000), true, `${d}`);
        assert.equal(clock.wall(), W0, `${d}: not stepped again`);
      }
    });

    it('on a trusted clock a NAK may move it only within 10 s (plus 100 ppm since the last ACK) of what that ACK predicts', () => {
      // [ms since the trusting ACK, NAK time relative to the prediction, believed]
      const rows: [number, number, boolean][] = [
        [0, 10_000, true],
        [0, -10_000, true],
        [0, 10_001, false],
        [1_000_000, 10_050, true],
        [1_000_000, -10_050, true],
        [1_000_000, 10_150, false],
        [1_000_000, -10_150, false]
      ];
      for (const [since, rel, believed] of rows) {
        const { clock, times } = trusted();
        clock.advance(since);
        const expect = W0 + 500 + since;
        assert.equal(times.nak(expect + rel, clock.wall()), believed, `${since} ms on, ${rel} ms off`);
        assert.equal(clock.wall(), believed ? expect + rel + 500 : expect);
      }
    });
  });

  describe('at boot', () => {
    const rows: [string, number, number, number][] = [
      ["raised to the journal's latest time when behind it", W0 - 3600_000, W0, W0],
      ['left alone when ahead of it', W0 + 3600_000, W0, W0 + 3600_000],
      ['left alone when there is no journal', W0, 0, W0],
      ["left alone when the journal's time is after 2044 (a corrupt record)", W0, Date.UTC(2099, 0, 1), W0],
      [
        "left alone when the journal's time is before 2025",
        Date.UTC(2000, 0, 1),
        Date.UTC(2024, 5, 1),
        Date.UTC(2000, 0, 1)
      ]
    ];
    for (const [name, wall, floor, want] of rows) {
      it(`the clock is ${name}`, () => {
        const clock = manualClock(wall);
        createCentreClock(clock, floor, log);
        assert.equal(clock.wall(), want);
      });
    }
  });
});

describe('reply mutants: one exchange on one connection (docs/reporting.md, "Delivery")', () => {
  it('a connection stays open 20 s after the last reply and carries the next frame; then it is closed', () => {
    const r = channelRig();
    const a = r.send('0041');
    assert.equal(r.ch.since(), r.clock.now());
    r.open();
    r.feed(ack('0041', W0));
    assert.deepEqual(a(), { kind: 'ack' });
    assert.equal(r.ch.since(), -1, 'idle');
    r.clock.advance(15_000);
    const b = r.send('0042');
    assert.deepEqual(r.conn(0).writes, ['frame 0041', 'frame 0042'], 'on the same connection');
    r.feed(ack('0042', W0 + 15_000));
    assert.deepEqual(b(), { kind: 'ack' });
    r.clock.advance(19_999);
    assert.equal(r.conn(0).closed, false);
    r.clock.advance(1);
    assert.equal(r.conn(0).closed, true, '20 s after the last reply');
    assert.equal(r.net.conns.length, 1);
  });

  it('a failed exchange closes its connection; events still arriving from it are ignored; the next frame goes on a new one', () => {
    const r = channelRig();
    const a = r.send('0041');
    r.open();
    r.clock.advance(10_000);
    assert.deepEqual(a(), { kind: 'fail', why: 'no reply' });
    assert.equal(r.conn(0).closed, true);
    const b = r.send('0041', 'again');
    assert.equal(r.net.conns.length, 2);
    const old = r.conn(0);
    old.h.onOpen();
    old.h.onData(nak(W0 + 60_000));
    old.h.onClose();
    assert.equal(b(), undefined, "the old connection's late NAK and close are not this exchange's");
    assert.deepEqual(r.conn(1).writes, [], 'nothing written before the new connection opened');
    assert.equal(r.net.conns.length, 2, "no reconnect for the old connection's close");
    r.open();
    assert.deepEqual(r.conn(1).writes, ['again']);
    r.feed(ack('0041', W0 + 10_000));
    assert.deepEqual(b(), { kind: 'ack' });
  });

  it('after a failed exchange, a refused connection fails the next frame at once (the receiver did not close under it)', () => {
    const r = channelRig();
    const a = r.send('0041');
    r.open();
    r.clock.advance(10_000);
    assert.equal(a()?.kind, 'fail');
    const b = r.send('0042');
    r.conn(1).h.onClose('refused');
    assert.deepEqual(b(), { kind: 'fail', why: 'closed: refused' });
    assert.equal(r.net.conns.length, 2);
  });

  it('a receiver that closes an idle connection is not reconnected until the next frame; a refused connection then fails it at once', () => {
    const r = channelRig();
    const a = r.send('0041');
    r.open();
    r.feed(ack('0041', W0));
    assert.equal(a()?.kind, 'ack');
    r.conn(0).h.onClose();
    r.clock.advance(5000);
    assert.equal(r.net.conns.length, 1, 'no connection while nothing is to be sent');
    const b = r.send('0042');
    assert.equal(r.net.conns.length, 2);
    r.conn(1).h.onClose('refused');
    assert.equal(b()?.kind, 'fail');
    assert.equal(r.net.conns.length, 2, 'not tried again: it never opened');
  });

  it('a plain route (no key) does not take an encrypted ACK: it cannot read it', () => {
    const r = channelRig({ target: plainTarget });
    const a = r.send('0041');
    r.open();
    r.feed(ack('0041', W0));
    assert.equal(a(), undefined);
    r.feed(wrapFrame(`"ACK"0041R1L1#1234[]${ts(W0)}`));
    assert.deepEqual(a(), { kind: 'ack' });
  });

  it('a connection that refuses the write fails the exchange at once', () => {
    const r = channelRig();
    const a = r.send('0041');
    r.conn().refuseWrites = true;
    r.open();
    assert.equal(a()?.kind, 'fail');
  });

  it('a route whose path this unit does not have fails each frame at once, not after the ACK timeout', () => {
    const r = channelRig({ noPath: true });
    const a = r.send('0041');
    r.clock.advance(0);
    assert.equal(a()?.kind, 'fail');
  });

  it('close() abandons the frame: the connection is closed and nothing is reported for it later', () => {
    const r = channelRig();
    const a = r.send('0041');
    r.open();
    r.ch.close();
    assert.equal(r.conn(0).closed, true);
    assert.equal(r.ch.busy(), false);
    r.clock.advance(600_000);
    assert.equal(a(), undefined);
  });

  it('a plain route warns UNENCRYPTED at every connection; an encrypted route never does', () => {
    const p = channelRig({ target: plainTarget });
    p.send('0041');
    p.open();
    p.feed(wrapFrame(`"ACK"0041R1L1#1234[]${ts(W0)}`));
    p.conn().h.onClose();
    p.send('0042');
    assert.equal(lines.filter((l) => l.level === 'warn' && /UNENCRYPTED/.test(l.text)).length, 2);
    const e = channelRig();
    e.send('0041');
    assert.equal(lines.filter((l) => /UNENCRYPTED/.test(l.text)).length, 0);
  });

  it('only an ACK identical to one already taken makes the frame go again, and only once; other refused ACKs do not', () => {
    const r = channelRig();
    const fixed = (seq: string, ms: number) =>
      sealed(Buffer.concat([Buffer.alloc(10), Buffer.from(`|]${ts(ms)}`, 'latin1'), Buffer.alloc(16, 0x10)]), seq);
    const a = r.send('0041', 'A');
    r.open();
    r.feed(fixed('0041', W0));
    assert.equal(a()?.kind, 'ack');
    const b = r.send('0042', 'B');
    r.feed(ack('0042', W0 - 30_000));
    r.feed(ack('0042', undefined));
    r.clock.advance(2000);
    assert.deepEqual(r.conn().writes, ['A', 'B'], 'a stale or timestamp-less ACK is not answered by a resend');
    r.feed(fixed('0042', W0));
    r.clock.advance(1100);
    assert.deepEqual(r.conn().writes, ['A', 'B', 'B'], 'the identical ACK: once more');
    r.feed(fixed('0042', W0));
    r.clock.advance(2000);
    assert.deepEqual(r.conn().writes, ['A', 'B', 'B'], 'the same again: not again');
    assert.equal(b(), undefined);
    r.feed(fixed('0042', W0 + 6000));
    assert.equal(b()?.kind, 'ack');
  });

  it('a channel cancels only timers it started (the device has one id space for every timer)', () => {
    const clock = manualClock(W0);
    let fired = false;
    clock.after(3_600_000, () => (fired = true));
    const r = channelRig({ clock });
    const fixed = (seq: string, ms: number) =>
      sealed(Buffer.concat([Buffer.from('00000000000]'), Buffer.from(ts(ms), 'latin1')]), seq);
    const a = r.send('0041');
    r.open();
    r.feed(fixed('0041', W0));
    assert.equal(a()?.kind, 'ack');
    const b = r.send('0042');
    r.feed(fixed('0042', W0));
    clock.advance(1100);
    r.feed(fixed('0042', W0 + 1000));
    assert.equal(b()?.kind, 'ack');
    r.ch.close();
    const c = r.send('0043');
    r.open();
    r.feed(ack('0043', W0 + 2000));
    assert.equal(c()?.kind, 'ack');
    clock.advance(3_600_000);
    assert.ok(fired, 'the other timer still fired');
  });
});

describe('reply mutants: decoding (firmware/dc09.ts)', () => {
  const T = Date.UTC(2026, 5, 1, 12, 0, 0);
  const TS = ts(T);

  it('parseTime reads only HH:MM:SS,MM-DD-YYYY with every field in range', () => {
    assert.equal(parseTime('12:00:00,06-01-2026'), T);
    assert.equal(parseTime('23:59:59,12-31-2044'), Date.UTC(2044, 11, 31, 23, 59, 59));
    for (const bad of [
      '12:00:00,06-01-20260',
      '12:00:00,06-01-202',
      '12-00:00,06-01-2026',
      '12:00-00,06-01-2026',
      '12:00:00-06-01-2026',
      '12:00:00,06:01-2026',
      '12:00:00,06-01:2026',
      '24:00:00,06-01-2026',
      '12:60:00,06-01-2026',
      '12:00:60,06-01-2026',
      '12:00:00,00-01-2026',
      '12:00:00,13-01-2026',
      '12:00:00,06-00-2026',
      '12:00:00,06-32-2026',
      '12:00:00,06-01-1969',
      '1x:00:00,06-01-2026',
      '0A:00:00,06-01-2026',
      '1/:00:00,06-01-2026',
      '12:x0:00,06-01-2026',
      '12:00:x0,06-01-2026',
      '12:00:00,x6-01-2026',
      '12:00:00,06-x1-2026',
      '12:00:00,06-01-20x6'
    ]) {
      assert.equal(parseTime(bad), undefined, bad);
    }
  });

  it('a plain (lab-only) NULL link test carries no data block content, byte for byte', () => {
    const f = encodeMessage(
      crypto,
      { account: '1234', line: '0' },
      { id: 'NULL', seq: 7, data: '#1234|1602 01 000', xdata: '', time: T }
    );
    assert.equal(f, wrapFrame(`"NULL"0007L0#1234[]${TS}`));
  });

  it('the calendar holds at the 400-year leap days', () => {
    for (const y of [2000, 2400]) {
      const ms = Date.UTC(y, 1, 29, 6, 30, 0);
      assert.equal(formatTime(ms), `06:30:00,02-29-${y}`);
      assert.equal(parseTime(formatTime(ms)), ms);
    }
  });

  it("decodeReply refuses a reply that is not the standard's layout", () => {
    assert.ok(!('error' in decodeReply(crypto, wrapFrame(`"ACK"0041R1L1#1234[]${TS}`))), 'the layout itself decodes');
    for (const body of [
      `ACK"0041R1L1#1234[]${TS}`,
      `XACK"0041R1L1#1234[]${TS}`,
      `"NAK"00A1R0L0A0[]${TS}`,
      `"ACK"0041RL1#1234[]${TS}`,
      `"ACK"0041R1234567L1#1234[]${TS}`,
      `"ACK"0041R1L#1234[]${TS}`,
      `"ACK"0041R1L1234567#1234[]${TS}`,
      `"ACK"0041R1#1234[]${TS}`,
      `"ACK"0041L1L2#1234[]${TS}`,
      `"ACK"0041R1L1#12345678901234567[]${TS}`,
      `"ACK"0041R1L1#1234X]${TS}`,
      `"ACK"0041R1L1#1234[X${TS}`,
      `"ACK"0041R1L1#1234[]${TS}X`,
      '"NAK"0000R0L0A0[]_24:00:00,06-01-2026'
    ]) {
      const r = decodeReply(crypto, wrapFrame(body));
      assert.ok('error' in r, `${body}: ${JSON.stringify(r)}`);
    }
  });

  it('openFrame reads the CRC and the length as exactly four hex digits', () => {
    // A NAK whose CRC is below 0x1000, so its CRC "0ABC" can also be written "ABC " (parseInt takes both).
    let body = '';
    for (let n = 0; n < 1000 && !(body && crc16(body) < 0x1000); n++) body = `"NAK"0000R0L0A0[]${ts(T + n * 1000)}`;
    const crc = crc16(body).toString(16).toUpperCase().padStart(4, '0');
    const len = body.length.toString(16).toUpperCase().padStart(4, '0');
    assert.equal(crc.charAt(0), '0');
    assert.ok(!('error' in decodeReply(crypto, `\n${crc}${len}${body}\r`)), 'as written: decodes');
    for (const head of [crc.slice(1) + ' ' + len, crc + len.slice(1) + ' ', crc + ' ' + len.slice(1)]) {
      const r = decodeReply(crypto, `\n${head}${body}\r`);
      assert.ok('error' in r, JSON.stringify(head));
    }
  });

  const ok: [string, Buffer][] = [
    ['no pad at all, NUL padding after the time', Buffer.concat([Buffer.from(']' + TS, 'latin1'), Buffer.alloc(11)])],
    ['16 NULs after the time', Buffer.concat([Buffer.from('abcdefghijk]' + TS, 'latin1'), Buffer.alloc(16)])]
  ];
  for (const [name, plain] of ok) {
    it(`an encrypted ACK with ${name} is an ACK`, () => {
      const r = decodeReply(crypto, sealed(plain), key);
      assert.ok(!('error' in r), JSON.stringify(r));
      assert.equal(r.time, T);
    });
  }

  const bad: [string, () => string][] = [
    [
      '17 NULs after the time',
      () => sealed(Buffer.concat([Buffer.from('abcdefghij]' + TS, 'latin1'), Buffer.alloc(17)]))
    ],
    [
      '17 bytes of 0x11 (PKCS#7 pads at most a block)',
      () => sealed(Buffer.concat([Buffer.from('abcdefghij]' + TS, 'latin1'), Buffer.alloc(17, 0x11)]))
    ],
    [
      'bytes ending in 0x09 that are not nine 0x09',
      () => sealed(Buffer.concat([Buffer.from('ab]' + TS, 'latin1'), Buffer.alloc(8, 0x41), Buffer.from([9])]))
    ],
    [
      'an odd number of hex digits',
      () => {
        const f = ack('0041', T);
        return wrapFrame(f.slice(9, -1) + '0');
      }
    ],
    ['no encrypted text at all', () => wrapFrame('"*ACK"0041R1L1#1234[')]
  ];
  for (const [name, frame] of bad) {
    it(`an encrypted ACK with ${name} is refused`, () => {
      const r = decodeReply(crypto, frame(), key);
      assert.ok('error' in r, JSON.stringify(r));
    });
  }

  it('the TCP splitter: stray bytes are never a frame, a frame after them is found at once, an oversized one is dropped', () => {
    const frame = wrapFrame(`"ACK"0041R1L1#1234[]${TS}`);
    const got = (pushes: string[], max = 400) => {
      const out: string[] = [];
      const sp = createFrameSplitter(max);
      for (const p of pushes) sp.push(p, (f) => out.push(f));
      return out;
    };
    assert.deepEqual(got(['junk\r' + frame]), [frame], 'a CR without an LF before it is not a frame');
    assert.deepEqual(got(['\r' + frame]), [frame], 'a stray CR first');
    assert.deepEqual(
      got(['x'.repeat(350) + frame.slice(0, 20), frame.slice(20)]),
      [frame],
      'split across reads after noise'
    );
    assert.deepEqual(got(['\n' + 'x'.repeat(400) + '\r' + frame]), [frame], 'longer than the limit: dropped');
    assert.deepEqual(got([frame], frame.length), [frame], 'exactly the limit: kept');
  });
});

describe('reply mutants: route rules (firmware/route.ts)', () => {
  it('a one-block event delivered in full does not make a route forget it needs the one-block form', () => {
    const r: RouteState = { ...newRoute(), form: SINGLE };
    const t = newTry(r, 1, false);
    assert.equal(t.form, FULL, 'one block is the one-block form');
    const s = eventStep(
      r,
      { tr: t, o: { kind: 'ack' }, blocks: 1, now: 1000, sentAt: 900 },
      { failAfter: 2, retryMaxMs: 30_000, pollMs: 90_000 }
    );
    assert.equal(s.state.form, SINGLE);
    assert.equal(newTry(s.state, 2, false).form, SINGLE, 'a two-block event still starts with one block');
  });
});

describe('reply mutants: supervision from boot', function () {
  this.timeout(60_000);
  const fake = useFakeTime(Date.UTC(2026, 10, 23, 12, 0, 0));
  let rig: Rig;
  afterEach(async () => rig && (await rig.close()));

  it('at boot the secondary gets its link test at once, not after its 5-hour interval', async () => {
    rig = await createRig(() => fake.clock);
    rig.boot();
    await rig.until(() => rig.secondary.events().some((e) => e.id === 'NULL'), 10_000);
    assert.ok(
      rig.secondary.events().some((e) => e.id === 'NULL'),
      'a NULL link test reached the secondary'
    );
  });
});
