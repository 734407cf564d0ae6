import { strict as assert } from 'node:assert';
import { createCentreClock } from '../firmware/centre-clock';
import type { Outcome as ChannelResult } from '../firmware/route';
import { encodeReply, Dc09Target } from '../firmware/dc09';
import { keyBytes } from '../firmware/config';
import { createSimCrypto } from '../sim/crypto';
import { createSimClock } from '../sim/clock';
import { SIM_KEYS } from '../sim/default-config';
import { useFakeTime } from './support/fake-time';
import { createRig, Rig } from '../sim/alarm-rig';
import { handLink, testChannel } from './support/hand-link';

const crypto = createSimCrypto();

describe('security: replays fail, keys never leave the unit in the clear', function () {
  this.timeout(120_000);

  it('an ACK captured for one frame, replayed to answer the next, is not an acknowledgement', async () => {
    const clock = createSimClock();
    const key = keyBytes(SIM_KEYS.primary) as string;
    const target: Dc09Target = { account: '1234', line: '1', receiver: '1', key };
    const { link, handlers } = handLink();
    const ch = testChannel({
      link,
      target,
      ackTimeoutMs: 60_000,
      clock,
      crypto,
      log: { write: () => undefined },
      times: createCentreClock(clock, 0, { write: () => undefined })
    });
    try {
      const captured = encodeReply(crypto, 'ACK', '0041', target, Date.now());
      let first: ChannelResult | undefined;
      ch.send('frame', '0041', (r) => (first = r));
      await Promise.resolve();
      handlers().onData(captured);
      assert.equal(first?.kind, 'ack', 'the genuine ACK is taken');
      let second: ChannelResult | undefined;
      ch.send('frame', '0042', (r) => (second = r));
      await Promise.resolve();
      handlers().onData(captured);
      assert.equal(second, undefined, 'the replay answers nothing');
    } finally {
      ch.close();
      clock.shutdown();
    }
  });

  describe('on the wire', () => {
    const fake = useFakeTime(Date.UTC(2026, 10, 23, 12));
    let rig: Rig;
    afterEach(async () => rig && (await rig.close()));

    it('no key appears in any byte that crossed either path, in hex or raw, over boot, alarms, failover and supervision', async () => {
      rig = await createRig(() => fake.clock);
      const u = rig.boot({ micOff: true });
      let wire = '';
      for (const p of [u.sim.world.paths.wifi!, u.sim.world.paths.cellular!]) p.tap((_dir, data) => (wire += data));
      await rig.run(2000);
      u.sim.world.button.press(2000);
      await rig.run(5000);
      u.sim.world.paths.wifi!.cut();
      u.sim.world.button.press(2000);
      await rig.run(20_000);
      await rig.run(200_000, 1000);
      assert.ok(wire.length > 1000, `${wire.length} bytes seen`);
      const keys = [SIM_KEYS.primary, SIM_KEYS.secondary, SIM_KEYS.evidence];
      const raw = keys.map((k) => keyBytes(k) as string);
      for (const k of [...keys, ...raw]) {
        assert.ok(!wire.toUpperCase().includes(k.toUpperCase()), 'a key crossed the wire');
      }
      assert.ok(rig.alarms().filter((e) => e.cid?.code === '120').length >= 2);
      assert.ok(rig.alarms().every((e) => e.encrypted));
    });
  });
});
