import { strict as assert } from 'node:assert';
import * as nodeCrypto from 'node:crypto';
import { createCentreClock, CentreClock, WINDOW_MS, MIN_WALL } from '../firmware/centre-clock';
import type { Outcome } from '../firmware/route';
import { encodeReply, decodeReply, openFrame, wrapFrame, Dc09Target, formatTime } from '../firmware/dc09';
import { keyBytes } from '../firmware/config';
import { createSimCrypto } from '../sim/crypto';
import { createSimClock, SimClock } from '../sim/clock';
import type { LogSink } from '../hal/types';
import { handLink, testChannel } from './support/hand-link';

/**
 * The checks that decide whether a reply acknowledges a frame, tried as an attacker between the
 * unit and the centre would (without the key), and the leniencies receivers in the field need.
 */
const crypto = createSimCrypto();
const HEXKEY = '000102030405060708090A0B0C0D0E0F';
const key = keyBytes(HEXKEY) as string;
const target: Dc09Target = { account: '1234', line: '1', receiver: '1', key };
const lines: string[] = [];
const log: LogSink = { write: (_l, m) => void lines.push(m) };

/** An encrypted ACK whose plaintext the test chooses (the pad and layout of a receiver). */
function ackWith(plain: Buffer, seq = '0041', lower = false): string {
  const c = nodeCrypto.createCipheriv('aes-128-cbc', Buffer.from(HEXKEY, 'hex'), Buffer.alloc(16));
  c.setAutoPadding(false);
  let hex = Buffer.concat([c.update(plain), c.final()])
    .toString('hex')
    .toUpperCase();
  if (lower) hex = hex.toLowerCase();
  return wrapFrame(`"*ACK"${seq}R1L1#1234[${hex}`);
}
const ts = (ms: number) => '_' + formatTime(ms);
/** The clear sequence number rewritten and the CRC recomputed: what a proxy without the key can do. */
function renumber(frame: string, seq: string): string {
  const body = openFrame(frame) as string;
  const q = body.indexOf('"', 1);
  return wrapFrame(body.slice(0, q + 1) + seq + body.slice(q + 5));
}
const nak = (ms: number) => wrapFrame(`"NAK"0000R0L0A0[]${ts(ms)}`);

function rig(clock: SimClock, times: CentreClock, t: Dc09Target = target) {
  const { link, handlers } = handLink();
  const ch = testChannel({
    link,
    target: t,
    clock,
    crypto,
    log,
    times
  });
  return {
    async send(seq: string): Promise<() => Outcome | undefined> {
      let result: Outcome | undefined;
      ch.send('frame', seq, (r) => (result = r));
      await Promise.resolve();
      return () => result;
    },
    feed: (d: string) => handlers().onData(d),
    close: () => ch.close()
  };
}

describe('reply checks: only an ACK from someone with the key, for this frame, now, and once', () => {
  let clock: SimClock;
  let times: CentreClock;
  beforeEach(() => {
    clock = createSimClock();
    times = createCentreClock(clock, 0, log);
    lines.length = 0;
  });
  afterEach(() => clock.shutdown());

  it("the centre's last encrypted ACK, renumbered for the next frame (CRC recomputed), is not an ACK", async () => {
    const r = rig(clock, times);
    const real = encodeReply(crypto, 'ACK', '0041', target, Date.now());
    const first = await r.send('0041');
    r.feed(real);
    assert.equal(first()?.kind, 'ack');
    const second = await r.send('0042');
    r.feed(renumber(real, '0042'));
    assert.equal(second(), undefined, 'not taken');
    assert.ok(lines.some((l) => /replayed/.test(l)));
    // A genuine ACK for 0042 still gets through.
    r.feed(encodeReply(crypto, 'ACK', '0042', target, Date.now()));
    assert.equal(second()?.kind, 'ack');
    r.close();
  });

  it('the same ACK with its padding block cut off (a different ciphertext) is still a replay', async () => {
    const r = rig(clock, times);
    const plain = Buffer.concat([
      Buffer.alloc(10),
      Buffer.from(`|]${ts(Date.now())}`, 'latin1'),
      Buffer.alloc(16, 0x10)
    ]);
    const padded = ackWith(plain);
    const first = await r.send('0041');
    r.feed(padded);
    assert.equal(first()?.kind, 'ack');
    const cut = ackWith(plain.subarray(0, 32), '0042');
    const second = await r.send('0042');
    r.feed(cut);
    assert.equal(second(), undefined);
    r.close();
  });

  it('a forged NAK cannot move a clock an ACK has set: the 63-second-old ACK stays refused; a NAK from 2099 moves nothing', async () => {
    const r = rig(clock, times);
    const old = encodeReply(crypto, 'ACK', '0040', target, Date.now() - 63_000);
    const a = await r.send('0041');
    r.feed(encodeReply(crypto, 'ACK', '0041', target, Date.now()));
    assert.equal(a()?.kind, 'ack');
    assert.ok(times.trusted());
    const before = clock.wall();
    const b = await r.send('0042');
    r.feed(nak(Date.now() - 63_000));
    assert.equal(b()?.kind, 'nak');
    assert.equal((b() as { cured: boolean }).cured, false, 'not cured: the clock did not move');
    assert.ok(Math.abs(clock.wall() - before) < 1000, 'clock not moved back');
    const c = await r.send('0040');
    r.feed(old);
    assert.equal(c(), undefined, 'the old ACK is outside the window');
    const d = await r.send('0043');
    r.feed(nak(Date.UTC(2099, 0, 1)));
    assert.ok(Math.abs(clock.wall() - Date.now()) < 2000, 'no year 2099');
    assert.equal((d() as { cured: boolean }).cured, false);
    r.close();
  });

  it('a clock no centre has set takes a NAK (forward or back, not before the journal, never an implausible year)', () => {
    const c1 = createSimClock({ wallOffsetMs: -3600_000 });
    const t1 = createCentreClock(c1, 0, log);
    assert.equal(t1.nak(Date.now(), c1.wall()), true);
    assert.ok(Math.abs(c1.wall() - Date.now()) < 1500);
    c1.shutdown();
    const c2 = createSimClock({ wallOffsetMs: 3600_000 });
    const floor = Date.now() - 600_000;
    const t2 = createCentreClock(c2, floor, log);
    assert.equal(t2.nak(floor - 2 * WINDOW_MS, c2.wall()), false, 'not before what the journal has seen');
    assert.equal(t2.nak(Date.now(), c2.wall()), true, 'back to the right time');
    assert.equal(t2.nak(MIN_WALL - 1000, c2.wall()), false, 'not before 2025');
    c2.shutdown();
  });

  it("a NAK whose time agrees with the frame's is not cured (the receiver refuses the content), even on a clock just moved", () => {
    const c = createSimClock({ wallOffsetMs: -60_000 });
    const t = createCentreClock(c, 0, log);
    const frameNow = c.wall();
    assert.equal(t.nak(Date.now(), frameNow), true, 'about the time: the clock moves');
    assert.equal(t.nak(Date.now(), frameNow), true, 'a second route sent by the old clock: the clock already agrees');
    assert.equal(t.nak(Date.now(), c.wall()), false, 'sent by the corrected clock: not about the time');
    c.shutdown();
  });

  it('accepted ACK times never go back more than the window; an ACK without a timestamp is refused', async () => {
    const r = rig(clock, times);
    const a = await r.send('0041');
    r.feed(encodeReply(crypto, 'ACK', '0041', target, Date.now()));
    assert.equal(a()?.kind, 'ack');
    const b = await r.send('0042');
    r.feed(encodeReply(crypto, 'ACK', '0042', target, Date.now() - WINDOW_MS - 3000));
    assert.equal(b(), undefined);
    r.feed(encodeReply(crypto, 'ACK', '0042', target));
    assert.equal(b(), undefined, 'no timestamp: refused');
    assert.ok(lines.some((l) => /no timestamp/.test(l)));
    r.close();
  });

  it('an ACK dated in the future beyond the window, for another account, or in plain for an encrypted frame is refused', async () => {
    const r = rig(clock, times);
    const a = await r.send('0041');
    r.feed(encodeReply(crypto, 'ACK', '0041', target, Date.now()));
    const b = await r.send('0042');
    r.feed(encodeReply(crypto, 'ACK', '0042', target, Date.now() + WINDOW_MS + 5000));
    r.feed(encodeReply(crypto, 'ACK', '0042', { ...target, account: '5678' }, Date.now()));
    r.feed(encodeReply(crypto, 'ACK', '0042', { ...target, key: undefined }, Date.now()));
    assert.equal(a()?.kind, 'ack');
    assert.equal(b(), undefined);
    assert.ok(lines.some((l) => /outside the window/.test(l)));
    assert.ok(lines.some((l) => /names another frame/.test(l)));
    assert.ok(lines.some((l) => /plain ACK to an encrypted frame/.test(l)));
    r.close();
  });

  it('on a clock no centre has set, an authentic ACK ahead of it sets the clock and asks for the frame again, once; one behind it is refused', async () => {
    const c = createSimClock({ wallOffsetMs: -120_000 });
    const t = createCentreClock(c, 0, log);
    const r = rig(c, t);
    const a = await r.send('0041');
    r.feed(encodeReply(crypto, 'ACK', '0041', target, Date.now()));
    assert.deepEqual(a(), { kind: 'nak', cured: true });
    assert.ok(Math.abs(c.wall() - Date.now()) < 1500);
    const b = await r.send('0041');
    r.feed(encodeReply(crypto, 'ACK', '0041', target, Date.now()));
    assert.equal(b()?.kind, 'ack');
    r.close();
    c.shutdown();
    const c2 = createSimClock({ wallOffsetMs: 120_000 });
    const r2 = rig(c2, createCentreClock(c2, 0, log));
    const x = await r2.send('0041');
    r2.feed(encodeReply(crypto, 'ACK', '0041', target, Date.now()));
    assert.equal(x(), undefined, 'an ACK older than the frame never moves the clock back');
    r2.close();
    c2.shutdown();
  });

  it('a keyless plain ACK never settles an encrypted frame; a plain route takes a plain ACK', async () => {
    const r = rig(clock, times);
    const a = await r.send('0041');
    r.feed(wrapFrame(`"ACK"0041R1L1#1234[]${ts(Date.now())}`));
    assert.equal(a(), undefined);
    r.close();
    const plain = rig(clock, times, { ...target, key: undefined });
    const b = await plain.send('0041');
    plain.feed(wrapFrame(`"ACK"0041R1L1#1234[]${ts(Date.now())}`));
    assert.equal(b()?.kind, 'ack');
    plain.close();
  });
});

describe('reply checks: lenient where security does not suffer', () => {
  let clock: SimClock;
  let times: CentreClock;
  beforeEach(() => {
    clock = createSimClock();
    times = createCentreClock(clock, 0, log);
  });
  afterEach(() => clock.shutdown());
  const now = () => Buffer.from(ts(Date.now()), 'latin1');

  const layouts: [string, () => Buffer, boolean?][] = [
    [
      'a NUL pad, "|]", the time, a PKCS#7 block of 16 x 0x10',
      () => Buffer.concat([Buffer.alloc(10), Buffer.from('|]'), now(), Buffer.alloc(16, 0x10)])
    ],
    ['a letter pad, "]" (the standard)', () => Buffer.concat([Buffer.from('abcdefghijk'), Buffer.from(']'), now()])],
    ['a letter pad, "|]"', () => Buffer.concat([Buffer.from('abcdefghij|'), Buffer.from(']'), now()])],
    ['NUL padding after the time', () => Buffer.concat([Buffer.from('ab]'), now(), Buffer.alloc(9)])],
    ['PKCS#7 padding of 9 after the time', () => Buffer.concat([Buffer.from('ab]'), now(), Buffer.alloc(9, 9)])],
    ['lower-case hex', () => Buffer.concat([Buffer.from('abcdefghijk]'), now()]), true],
    ['a pad of "0" characters', () => Buffer.concat([Buffer.from('00000000000]'), now()])],
    [
      'a [K…] block before the time (ignored, never applied)',
      () => Buffer.concat([Buffer.from('00000000][K00112233445566778899AABBCCDDEEFF]'), now()])
    ]
  ];
  for (const [name, plain, lower] of layouts) {
    it(`an encrypted ACK with ${name} is an ACK`, async () => {
      const r = rig(clock, times);
      const a = await r.send('0041');
      r.feed(ackWith(plain(), '0041', lower));
      assert.equal(a()?.kind, 'ack');
      r.close();
    });
  }

  const bad: [string, () => Buffer][] = [
    [
      'bytes after the time that are not padding',
      () => Buffer.concat([Buffer.from('ab]'), now(), Buffer.from('XXXXXXXXX')])
    ],
    ['PKCS#7 that lies about its length', () => Buffer.concat([Buffer.from('ab]'), now(), Buffer.alloc(9, 8)])],
    ['no "]" at all', () => Buffer.concat([Buffer.from('abcdefghijkl'), now()])]
  ];
  for (const [name, plain] of bad) {
    it(`an encrypted ACK with ${name} is refused`, async () => {
      const r = rig(clock, times);
      const a = await r.send('0041');
      r.feed(ackWith(plain()));
      assert.equal(a(), undefined);
      r.close();
    });
  }

  it('a NAK written twice into one read answers the frame once; the copy does not answer the resend', async () => {
    const r = rig(clock, times);
    const n = nak(Date.now());
    let results: Outcome[] = [];
    const { link, handlers } = handLink();
    const ch = testChannel({
      link,
      target,
      clock,
      crypto,
      log,
      times
    });
    ch.send('frame', '0041', (o) => {
      results.push(o);
      // The reporter resends at once, inside the callback.
      ch.send('frame2', '0041', (o2) => results.push(o2));
    });
    await Promise.resolve();
    handlers().onData(n + n);
    assert.equal(results.length, 1, 'the doubled NAK answered only the first frame');
    handlers().onData(encodeReply(crypto, 'ACK', '0041', target, Date.now()));
    assert.deepEqual(
      results.map((o) => o.kind),
      ['nak', 'ack']
    );
    ch.close();
    r.close();
    results = [];
  });

  it('a receiver that closes the connection under a frame gets it again on a new connection (once), and its ACK counts', async () => {
    let conns = 0;
    const writes: string[] = [];
    let h: import('../hal/types').ConnectionHandlers | undefined;
    const link = {
      path: 'wifi' as const,
      status: () => ({ up: true, signal: 50 }),
      onStatus: () => undefined,
      connect: (_t: unknown, handlers: import('../hal/types').ConnectionHandlers) => {
        conns++;
        h = handlers;
        Promise.resolve().then(() => handlers.onOpen());
        return { write: (d: string) => (writes.push(d), true), close: () => undefined };
      },
      request: () => undefined
    };
    const ch = testChannel({
      link,
      target,
      clock,
      crypto,
      log,
      times
    });
    let res: Outcome | undefined;
    const got = () => res;
    ch.send('frame', '0041', (o) => (res = o));
    await Promise.resolve();
    h!.onClose();
    await Promise.resolve();
    assert.equal(conns, 2);
    assert.deepEqual(writes, ['frame', 'frame']);
    assert.equal(got(), undefined, 'not a failure');
    h!.onData(encodeReply(crypto, 'ACK', '0041', target, Date.now()));
    assert.equal(got()?.kind, 'ack');
    // Closed again under the next frame, twice: the second close fails it.
    ch.send('next', '0042', (o) => (res = o));
    h!.onClose();
    await Promise.resolve();
    h!.onClose();
    assert.equal(got()?.kind, 'fail');
    ch.close();
  });

  it('an ACK byte-identical to one already taken (a receiver with a fixed pad, same second) makes the frame go again once; a fresh ACK settles it', async () => {
    const writes: string[] = [];
    let h: import('../hal/types').ConnectionHandlers | undefined;
    const link = {
      path: 'wifi' as const,
      status: () => ({ up: true, signal: 50 }),
      onStatus: () => undefined,
      connect: (_t: unknown, handlers: import('../hal/types').ConnectionHandlers) => {
        h = handlers;
        Promise.resolve().then(() => handlers.onOpen());
        return { write: (d: string) => (writes.push(d), true), close: () => undefined };
      },
      request: () => undefined
    };
    const ch = testChannel({
      link,
      target,
      clock,
      crypto,
      log,
      times
    });
    const t = Date.now();
    const fixed = (seq: string, ms: number) =>
      ackWith(Buffer.concat([Buffer.alloc(10), Buffer.from(`|]${ts(ms)}`), Buffer.alloc(16, 0x10)]), seq);
    const got: Outcome[] = [];
    ch.send('A', '0041', (o) => got.push(o));
    await Promise.resolve();
    h!.onData(fixed('0041', t));
    ch.send('B', '0042', (o) => got.push(o));
    h!.onData(fixed('0042', t));
    assert.equal(got.length, 1, 'the identical ACK does not settle B');
    await new Promise((r) => setTimeout(r, 1300));
    assert.deepEqual(writes, ['A', 'B', 'B'], 'B went once more');
    h!.onData(fixed('0042', t + 1000));
    assert.deepEqual(
      got.map((o) => o.kind),
      ['ack', 'ack']
    );
    ch.close();
  });

  it('a NAK written L before R ("L0R0A0") is a NAK with its time; an ACK naming receiver "None" is an ACK', async () => {
    const t = Date.UTC(2026, 11, 1, 11, 12, 57);
    const n = decodeReply(crypto, wrapFrame(`"NAK"0000L0R0A0[]${ts(t)}`));
    assert.ok(!('error' in n), JSON.stringify(n));
    assert.equal(n.type, 'NAK');
    assert.equal(n.time, t);
    const r = rig(clock, times);
    const a = await r.send('0041');
    const body = (openFrame(ackWith(Buffer.concat([Buffer.from('abcdefghijk]'), now()]), '0041')) as string).replace(
      'R1L1',
      'RNoneL1'
    );
    r.feed(wrapFrame(body));
    assert.equal(a()?.kind, 'ack');
    r.close();
  });

  it('decodeReply: the decrypted identity (pad and time) is the tag; a plain reply has none', () => {
    const t = Date.UTC(2026, 0, 1, 12);
    const a = decodeReply(crypto, ackWith(Buffer.concat([Buffer.from('PADPADPADPA]'), Buffer.from(ts(t))])), key);
    assert.ok(!('error' in a));
    assert.equal(a.tag, 'PADPADPADPA]' + ts(t));
    assert.equal(a.time, t);
    const p = decodeReply(crypto, nak(t));
    assert.ok(!('error' in p));
    assert.equal(p.tag, '');
  });
});
