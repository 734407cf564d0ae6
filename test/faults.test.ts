import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { FAULTS, runCase, soak, rowOk, State } from '../tools/faults';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

/**
 * The fault-injection matrix of `npm run faults` (every fault × idle, alarm in flight, recording),
 * asserted: every alarm acknowledged, no event lost, no audio lost outside a restart, every
 * recording's chain intact. The 30-day soak runs in `npm run faults`; a 7-day one runs here.
 */
describe('fault-injection matrix: nothing lost, the unit keeps protecting', function () {
  this.timeout(600_000);
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({
      now: T0,
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date']
    });
  });
  afterEach(() => clock.restore());

  for (const f of FAULTS) {
    for (const st of ['idle', 'alarm', 'recording'] as State[]) {
      it(`${f.name} × ${st}`, async () => {
        const r = await runCase(clock, f, st);
        assert.ok(rowOk(r), JSON.stringify(r));
        assert.equal(r.lost, 0);
        assert.equal(r.audioLost, 0);
        assert.equal(r.acked, r.raised);
      });
    }
  }

  it('7 simulated days of random faults and presses: every press acknowledged, nothing pending', async () => {
    const r = await soak(clock, 7, 3);
    assert.ok(r.injected >= 10 && r.raised >= 5, JSON.stringify(r));
    assert.equal(r.acked, r.raised, JSON.stringify(r));
    assert.equal(r.lost, 0);
  });
});
