/**
 * One runner for the firmware's pure machines, in the way `@xstate/fsm` separates `transition`
 * from `interpret`: a machine's step (`pressStep`, `alarmStep`) takes a state and an event and
 * returns the next state and the effects to perform, touching nothing; `interpret` keeps the
 * state and hands each effect, in order, to the machine's `perform` (its timers, reports, the
 * indicator). Effects may send further events: each is stepped from the state the last one left.
 */
export interface Machine<S, E> {
  send(ev: E): void;
  state(): S;
}

/** `settings` goes to every step as its third argument (the hold time, the alarm's settings). */
export function interpret<S, E, F, C>(
  step: (s: S, ev: E, settings: C) => { state: S; effects: F[] },
  settings: C,
  initial: S,
  perform: (fx: F) => void
): Machine<S, E> {
  let state = initial;
  return {
    send: function (ev: E) {
      const r = step(state, ev, settings);
      state = r.state;
      for (let i = 0; i < r.effects.length; i++) perform(r.effects[i]);
    },
    state: function () {
      return state;
    }
  };
}
