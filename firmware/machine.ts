/**
 * One runner for the firmware's pure machines, in the way `@xstate/fsm` separates `transition`
 * from `interpret`: a machine's step (`pressStep`, `alarmStep`; the route's `eventStep` and
 * `linkTestStep`) takes a state and an event and returns the next state and the effects to
 * perform, touching nothing; `advance` keeps the next state and hands each effect, in order, to
 * `perform` (timers, reports, the indicator). Effects may send further events: each is stepped
 * from the state the last one left.
 *
 * `interpret` keeps a machine's state itself (the button's hold, the alarm); a machine whose state
 * its owner keeps (each route's, in the reporter) is stepped with `advance` on the owner's `st`.
 */
export interface Machine<S, E> {
  send(ev: E): void;
  state(): S;
}

/** Where a machine's state is kept. */
export interface Held<S> {
  st: S;
}

/** `settings` goes to every step as its third argument (the hold time, the alarm's settings). */
export type Step<S, E, F, C> = (s: S, ev: E, settings: C) => { state: S; effects: F[] };

/** Step the machine held in `h` with `ev`: keep the next state, then perform its effects in order. */
export function advance<S, E, F, C>(
  h: Held<S>,
  step: Step<S, E, F, C>,
  ev: E,
  settings: C,
  perform: (fx: F) => void
): void {
  const r = step(h.st, ev, settings);
  h.st = r.state;
  for (let i = 0; i < r.effects.length; i++) perform(r.effects[i]);
}

/** A shallow copy of a state: a step never changes the one it is given (2v29 has `Object.assign`). */
export function copyOf<T extends object>(o: T): T {
  return (Object as unknown as { assign(to: object, from: T): T }).assign({}, o);
}

export function interpret<S, E, F, C>(
  step: Step<S, E, F, C>,
  settings: C,
  initial: S,
  perform: (fx: F) => void
): Machine<S, E> {
  const h: Held<S> = { st: initial };
  return {
    send: function (ev: E) {
      advance(h, step, ev, settings, perform);
    },
    state: function () {
      return h.st;
    }
  };
}
