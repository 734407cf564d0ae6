import { strict as assert } from 'node:assert';
import { pressStep, PRESS_IDLE, PressState, PressEvent } from '../firmware/press';

const holding = (downAt: number): PressState => ({ phase: 'holding', downAt });
const fired = (downAt: number): PressState => ({ phase: 'fired', downAt });
const down = (at: number, now = at): PressEvent => ({ type: 'edge', pressed: true, at, now });
const up = (at: number): PressEvent => ({ type: 'edge', pressed: false, at, now: at });
const timer = (now: number): PressEvent => ({ type: 'timer', now });

describe('press state machine (pure)', () => {
  const table: [string, PressState, PressEvent, number, PressState, string[]][] = [
    ['press starts a hold', PRESS_IDLE, down(100), 1500, holding(100), ['arm:1500']],
    ['late edge arms only the rest', PRESS_IDLE, down(100, 400), 1500, holding(100), ['arm:1200']],
    ['edge seen after the hold time triggers at once', PRESS_IDLE, down(100, 1700), 1500, fired(100), ['trigger:1600']],
    ['hold 0 triggers on press', PRESS_IDLE, down(100), 0, fired(100), ['trigger:0']],
    ['release before the time disarms and is a tap', holding(100), up(900), 1500, PRESS_IDLE, ['disarm', 'tap']],
    ['timer while holding triggers', holding(100), timer(1600), 1500, fired(100), ['trigger:1500']],
    ['release after trigger returns to idle quietly', fired(100), up(3000), 1500, PRESS_IDLE, []],
    ['stale timer in idle does nothing', PRESS_IDLE, timer(5000), 1500, PRESS_IDLE, []],
    ['stale timer after trigger does nothing', fired(100), timer(5000), 1500, fired(100), []],
    ['second press edge while holding is ignored', holding(100), down(200), 1500, holding(100), []],
    ['release in idle (spurious) does nothing', PRESS_IDLE, up(50), 1500, PRESS_IDLE, []]
  ];
  for (const [name, from, ev, hold, to, effects] of table) {
    it(name, () => {
      const r = pressStep(from, ev, hold);
      assert.deepEqual(r.state, to);
      assert.deepEqual(
        r.effects.map((e) =>
          e.type === 'arm' ? `arm:${e.ms}` : e.type === 'trigger' ? `trigger:${e.heldMs}` : e.type
        ),
        effects
      );
    });
  }
});
