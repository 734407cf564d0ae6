import * as sinon from 'sinon';

/**
 * Fake the timers and Date that the sim clock runs on, leaving Node's I/O and microtasks real.
 * Installed before each test of the calling `describe`, restored after; read `.clock` inside tests.
 */
export function useFakeTime(now = 0): { clock: sinon.SinonFakeTimers } {
  const holder = {} as { clock: sinon.SinonFakeTimers };
  beforeEach(() => {
    holder.clock = sinon.useFakeTimers({
      now,
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date']
    });
  });
  afterEach(() => holder.clock.restore());
  return holder;
}
