import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { createCentreClock } from '../firmware/centre-clock';
import type { Outcome as ChannelResult } from '../firmware/route';
import { encodeReply, decodeReply, Dc09Target } from '../firmware/dc09';
import { keyBytes } from '../firmware/config';
import { createSimCrypto } from '../sim/crypto';
import { createSimClock, SimClock } from '../sim/clock';
import { simUart } from '../sim/at';
import { createCellularLink } from '../hal/espruino/cellular';
import { createSimSite } from '../sim/site';
import { Session, simTransport } from '../tools/installer-link';
import type { LogSink } from '../hal/types';
import { handLink, testChannel } from './support/hand-link';

/**
 * Every socket and serial line the unit reads, fed garbage, oversized input, frames split across
 * reads, slow drips and floods: nothing throws, nothing but a valid, fresh, authenticated reply is
 * taken as one, and a valid reply still gets through whatever surrounds it. Property runs use
 * fast-check; the byte-level fuzzer runs a fixed count of seeded mutations.
 */
const crypto = createSimCrypto();
const key = keyBytes('000102030405060708090A0B0C0D0E0F') as string;
const target: Dc09Target = { account: '1234', line: '1', receiver: '1', key };
const SEQ = '0042';
const silentLog: LogSink = { write: () => undefined };
const latin1 = (b: Uint8Array) => Buffer.from(b).toString('latin1');
const bytes = fc.uint8Array({ maxLength: 300 }).map(latin1);

/** A channel whose connection we feed by hand; returns what it decided (or undefined: still waiting). */
function channelRig(clock: SimClock) {
  const { link, handlers } = handLink();
  const ch = testChannel({
    link,
    target,
    clock,
    crypto,
    log: silentLog,
    times: createCentreClock(clock, 0, silentLog)
  });
  return {
    async send(): Promise<() => ChannelResult | undefined> {
      let result: ChannelResult | undefined;
      ch.send('frame', SEQ, (r) => (result = r));
      await Promise.resolve();
      return () => result;
    },
    feed(data: string) {
      handlers().onData(data);
    },
    close: () => ch.close()
  };
}

function validAck(): string {
  return encodeReply(crypto, 'ACK', SEQ, target, Date.now());
}

/** Cut `s` into pieces at the given fractions. */
function split(s: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * s.length)))].sort((a, b) => a - b);
  const out: string[] = [];
  let prev = 0;
  for (const k of at) {
    out.push(s.slice(prev, k));
    prev = k;
  }
  out.push(s.slice(prev));
  return out;
}

describe('network input: every reader survives garbage and takes only valid replies', function () {
  this.timeout(120_000);
  let clock: SimClock;
  beforeEach(() => (clock = createSimClock()));
  afterEach(() => clock.shutdown());

  it('DC-09 replies: random bytes in random reads never make an ACK and never throw (300 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(bytes, { maxLength: 20 }), async (reads) => {
        const rig = channelRig(clock);
        const result = await rig.send();
        for (const r of reads) rig.feed(r);
        const res = result();
        rig.close();
        return res === undefined || res.kind !== 'ack';
      }),
      { numRuns: 300, seed: 6 }
    );
  });

  it('DC-09 replies: a valid ACK among garbage, split anywhere across reads, is taken (300 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(
        bytes,
        bytes,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        async (before, after, cuts) => {
          const rig = channelRig(clock);
          const result = await rig.send();
          for (const piece of split(before + validAck() + after, cuts)) rig.feed(piece);
          const res = result();
          rig.close();
          return res !== undefined && res.kind === 'ack';
        }
      ),
      { numRuns: 300, seed: 7 }
    );
  });

  it('DC-09 replies: a slow drip (one byte per read), a 1 MB flood without a frame end, and 2,000 junk frames still let the ACK through', async () => {
    for (const make of [
      (ack: string) => ack.split(''),
      (ack: string) => ['\n' + 'A'.repeat(1 << 20), ack],
      (ack: string) => [
        ...Array.from({ length: 2000 }, (_, i) => `\n0000000A"ACK"${String(i).padStart(4, '0')}R1L1#1234[]\r`),
        ack
      ]
    ]) {
      const rig = channelRig(clock);
      const result = await rig.send();
      for (const piece of make(validAck())) rig.feed(piece);
      assert.equal(result()?.kind, 'ack');
      rig.close();
    }
  });

  it('DC-09 replies: 5,000 seeded byte-level mutations of a valid ACK (flips, inserts, deletes, cuts, repeats) are never accepted, never throw', () => {
    // A fixed time, so the same seed gives the same mutations on every run.
    let state = 0x9e3779b9;
    const rnd = (n: number) => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const ack = encodeReply(crypto, 'ACK', SEQ, target, Date.UTC(2026, 10, 23, 12));
    let accepted = 0;
    let distinct = 0;
    for (let i = 0; i < 5000; i++) {
      let m = ack;
      for (let k = 1 + rnd(3); k > 0; k--) {
        const p = rnd(m.length);
        const op = rnd(5);
        if (op === 0) m = m.slice(0, p) + String.fromCharCode(m.charCodeAt(p) ^ (1 << rnd(8))) + m.slice(p + 1);
        else if (op === 1) m = m.slice(0, p) + String.fromCharCode(rnd(256)) + m.slice(p);
        else if (op === 2) m = m.slice(0, p) + m.slice(p + 1);
        else if (op === 3) m = m.slice(0, p);
        else m = m.slice(0, p) + m.slice(p, p + 1 + rnd(8)) + m.slice(p);
      }
      // Hex digits (CRC, length, ciphertext) read the same in either case: not a different frame.
      if (m.toUpperCase() === ack.toUpperCase()) continue;
      distinct++;
      const r = decodeReply(crypto, m, key);
      if (!('error' in r) && r.type === 'ACK' && r.seq === SEQ) accepted++;
    }
    assert.ok(distinct > 4900, `${distinct} distinct mutations`);
    assert.equal(accepted, 0);
  });

  it('cellular serial line: random bytes, bogus +RECEIVE lengths and floods from the modem never throw in the AT layer or the driver', () => {
    let push: ((d: string) => void) | undefined;
    const port = simUart({ write: () => undefined, onData: (fn) => (push = fn) });
    const link = createCellularLink(clock, 'internet', { port, powerKey: () => undefined });
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            bytes,
            fc.constantFrom('+RECEIVE,0,99999:\r\n', '+RECEIVE,9,-1:\r\n', '0, CONNECT OK\r\n', '> ', '\r\n', 'OK\r\n')
          ),
          { maxLength: 30 }
        ),
        (reads) => {
          for (const r of reads) push!(r);
          return true;
        }
      ),
      { numRuns: 300, seed: 8 }
    );
    push!('X'.repeat(1 << 20));
    assert.equal(link.path, 'cellular');
  });

  it('installer console: random lines and malformed requests are answered or ignored; the unit keeps protecting', async () => {
    const site = await createSimSite({ micOff: true });
    try {
      const world = site.unit.sim.world;
      const s = new Session(simTransport(world.console));
      const requests = fc.sample(
        fc.oneof(
          fc.string({ maxLength: 80 }),
          fc.jsonValue({ maxDepth: 3 }).map((v) => `I(${JSON.stringify(v)})`),
          fc
            .record({
              id: fc.integer(),
              op: fc.constantFrom('info', 'config', 'test', 'sign', 'lock', 'decommission', 'x'),
              step: fc.string({ maxLength: 8 }),
              config: fc.jsonValue({ maxDepth: 2 })
            })
            .map((v) => `I(${JSON.stringify(v)})`)
        ),
        { numRuns: 300, seed: 9 }
      );
      for (const r of requests) {
        // Never decommission or lock with junk that happens to be well-formed: those need a password
        // or refuse anyway; the point is that nothing throws out of the firmware.
        world.console.send('\x10' + r.replace(/[\r\n]/g, ' ') + '\n');
      }
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(site.unit.app.status().faults, 0);
      assert.ok((await s.request('info')).ok, 'still answering');
      const before = site.unit.app.status().triggers;
      world.button.press(2000);
      await new Promise((r) => setTimeout(r, 2300));
      assert.equal(site.unit.app.status().triggers, before + 1, 'still protecting');
    } finally {
      await site.close();
    }
  });
});
