import { strict as assert } from 'node:assert';
import {
  eventStep,
  linkTestStep,
  dueAt,
  undeliverable,
  newRoute,
  newTry,
  leaner,
  firstForm,
  backoff,
  FULL,
  SINGLE,
  MINIMAL,
  REFUSED_MAX_MS,
  Outcome,
  RouteEffect,
  RouteState,
  TryState
} from '../firmware/route';
import { advance, interpret, Machine } from '../firmware/machine';

/**
 * The route's rules as tables: what one exchange's outcome does to the route, to the event's
 * delivery on it, and which effects the reporter performs. No sockets, no timers.
 */
const C = { failAfter: 2, retryMaxMs: 30_000, pollMs: 90_000 };
const ACK: Outcome = { kind: 'ack' };
const NAK_CURED: Outcome = { kind: 'nak', cured: true };
const NAK: Outcome = { kind: 'nak', cured: false };
const DUH: Outcome = { kind: 'duh' };
const SILENT: Outcome = { kind: 'fail', why: 'no reply' };

const route = (over: Partial<RouteState> = {}): RouteState => ({ ...newRoute(), ...over });
/** The steps with the exchange written out, as the tables read. */
const onEvent = (r: RouteState, tr: TryState, o: Outcome, blocks: number, now: number, sentAt: number, c = C) => {
  const res = eventStep(r, { tr, o, blocks, now, sentAt }, c);
  const first = res.effects[0];
  // The delivery's next state is always the first effect of an event's exchange.
  assert.equal(first.type, 'try');
  return { ...res, tr: (first as { tr: TryState }).tr };
};
const onTest = (r: RouteState, o: Outcome, now: number, sentAt: number, seq: number, c = C) =>
  linkTestStep(r, { o, now, sentAt, seq }, c);
const tryOf = (over: Partial<TryState> = {}): TryState => ({ ...newTry(newRoute(), 2, false), ...over });
/** The effects' types, the delivery's next state (`try`, first for every event exchange) left out. */
const types = (fx: { type: string }[]) => fx.filter((e) => e.type !== 'try').map((e) => e.type);

describe('route rules (pure): outcome → next route state, next try, effects', () => {
  describe('an event exchange', () => {
    const rows: [string, TryState, Outcome, number, Partial<TryState>, string[]][] = [
      // name, try before, outcome, blocks, try after (fields checked), effects
      ['ACK in full delivers', tryOf(), ACK, 2, { form: FULL, fails: 0 }, ['delivered']],
      ['a cured NAK resends the same form at once', tryOf(), NAK_CURED, 2, { form: FULL, naks: 1, next: 1000 }, []],
      [
        'a second cured NAK is not about time: one block',
        tryOf({ naks: 1 }),
        NAK_CURED,
        2,
        { form: SINGLE, naks: 0, next: 1000 },
        ['leaner']
      ],
      [
        'a NAK that agrees with the clock: one block at once',
        tryOf(),
        NAK,
        2,
        { form: SINGLE, next: 1000 },
        ['leaner']
      ],
      ['DUH in full: one block at once', tryOf(), DUH, 2, { form: SINGLE, next: 1000 }, ['leaner']],
      [
        'DUH with one block: minimal at once',
        tryOf({ form: SINGLE }),
        DUH,
        2,
        { form: MINIMAL, next: 1000 },
        ['leaner']
      ],
      ['a one-block event skips the one-block form', tryOf(), DUH, 1, { form: MINIMAL }, ['leaner']],
      [
        'refused minimal: refused, backs off, starts over',
        tryOf({ form: MINIMAL }),
        DUH,
        2,
        { refused: true, fails: 1, next: 2000, form: FULL },
        ['refused']
      ],
      [
        'refused again: the backoff doubles',
        tryOf({ form: MINIMAL, refused: true, fails: 3 }),
        NAK,
        2,
        { refused: true, fails: 4, next: 1000 + 8000 },
        ['refused']
      ],
      [
        'an event with no blocks refused at once',
        tryOf({ form: MINIMAL }),
        DUH,
        0,
        { refused: true, form: MINIMAL },
        ['refused']
      ],
      [
        'silence backs off, keeps the form',
        tryOf({ form: SINGLE, naks: 1 }),
        SILENT,
        2,
        { form: SINGLE, fails: 1, naks: 0, next: 2000 },
        ['failed']
      ],
      [
        'ACK after refusals clears them',
        tryOf({ refused: true, fails: 4 }),
        ACK,
        2,
        { refused: false, fails: 0 },
        ['delivered']
      ]
    ];
    for (const [name, before, o, blocks, after, fx] of rows) {
      it(name, () => {
        const r = onEvent(route(), before, o, blocks, 1000, 900, C);
        for (const [k, v] of Object.entries(after)) assert.equal(r.tr[k as keyof TryState], v, `${k}`);
        assert.deepEqual(types(r.effects), fx);
      });
    }

    it('a refused frame never backs off past REFUSED_MAX_MS, however often', () => {
      let t = tryOf({ form: MINIMAL });
      let waits = 0;
      for (let i = 0; i < 40; i++) {
        const r = onEvent(route(), { ...t, form: MINIMAL }, DUH, 2, 0, 0, C);
        waits = r.tr.next;
        t = r.tr;
      }
      assert.equal(waits, REFUSED_MAX_MS);
    });

    it('the delivered effect names the form; the route learns it (later events start there)', () => {
      const r = onEvent(route(), tryOf({ form: SINGLE }), ACK, 2, 1000, 900, C);
      assert.deepEqual(r.effects, [
        { type: 'try', tr: r.tr },
        { type: 'delivered', form: SINGLE }
      ]);
      assert.equal(r.state.form, SINGLE);
      assert.equal(newTry(r.state, 2, false).form, SINGLE);
      assert.equal(newTry(r.state, 1, false).form, FULL, 'one block is the one-block form');
      const m = onEvent(r.state, tryOf({ form: MINIMAL }), ACK, 2, 1000, 900, C);
      assert.equal(m.state.form, MINIMAL);
      const none = onEvent(route(), tryOf({ form: MINIMAL }), ACK, 0, 1000, 900, C);
      assert.equal(none.state.form, FULL, 'an event without blocks teaches nothing');
    });

    it('any well-formed reply proves the route alive and restores a failed one (3 350); only an ACK delivers', () => {
      for (const o of [ACK, NAK, NAK_CURED, DUH]) {
        const r = onEvent(route({ failed: true, fails: 5 }), tryOf(), o, 2, 1000, 900, C);
        assert.equal(r.state.failed, false, o.kind);
        assert.equal(r.state.fails, 0);
        assert.equal(r.state.lastOk, 900, 'supervision runs from the send');
        assert.deepEqual(r.effects[r.effects.length - 1], { type: 'trouble', qualifier: 3 }, "after the event's own");
        assert.equal(types(r.effects).includes('delivered'), o.kind === 'ack');
      }
    });

    it('failAfter silent exchanges in a row fail the route once (1 350)', () => {
      let r = route();
      const fx: string[] = [];
      for (let i = 0; i < 4; i++) {
        const s = onEvent(r, tryOf(), SILENT, 2, 1000, 900, C);
        r = s.state;
        fx.push(
          ...s.effects
            .filter((e) => e.type === 'trouble')
            .map((e) => `${e.type}:${(e as { qualifier: number }).qualifier}`)
        );
      }
      assert.deepEqual(fx, ['trouble:1'], 'reported once');
      assert.equal(r.failed, true);
      assert.equal(r.fails, 4);
    });
  });

  describe('a link test exchange', () => {
    it('ACK: alive; a cured NAK: the same link test again at once (once); a NAK or DUH otherwise: alive, no resend', () => {
      const a = onTest(route({ lastOk: 5 }), ACK, 1000, 900, 7, C);
      assert.equal(a.state.lastOk, 900);
      assert.equal(a.state.again, 0);
      const n = onTest(route(), NAK_CURED, 1000, 900, 7, C);
      assert.equal(n.state.again, 7);
      assert.equal(n.state.lastOk, -1, 'due at once');
      const n2 = onTest(n.state, NAK_CURED, 1000, 900, 7, C);
      assert.equal(n2.state.again, 0, 'only once');
      assert.equal(n2.state.lastOk, 900);
      for (const o of [NAK, DUH]) {
        const r = onTest(route({ failed: true, fails: 3 }), o, 1000, 900, 7, C);
        assert.equal(r.state.failed, false, `a receiver that ${o.kind}s link tests is alive`);
        assert.equal(r.state.again, 0);
        assert.deepEqual(types(r.effects), ['trouble']);
      }
    });

    it('silence backs off up to the poll interval and fails the route after failAfter', () => {
      const one = onTest(route(), SILENT, 1000, 900, 7, C);
      assert.equal(one.state.retryAt, 1000 + 4000);
      assert.equal(one.state.failed, false);
      const two = onTest(one.state, SILENT, 1000, 900, 8, C);
      assert.equal(two.state.failed, true);
      assert.deepEqual(types(two.effects), ['failed', 'trouble']);
      const capped = onTest(route({ fails: 30 }), SILENT, 1000, 900, 8, {
        ...C,
        pollMs: 5000,
        retryMaxMs: 600_000
      });
      assert.equal(capped.state.retryAt, 6000, 'never later than the interval');
    });
  });

  describe('when an event is due on each route', () => {
    const rows: [string, number, boolean, boolean, number][] = [
      ['primary: at once', 0, false, false, 100],
      ['secondary, urgent: at once (lag 0)', 1, true, false, 100],
      ['secondary, not urgent: after the slow failover', 1, false, false, 100 + 60_000],
      ['secondary, primary out: at once', 1, false, true, 100]
    ];
    for (const [name, ri, urgent, out, at] of rows)
      it(name, () => assert.equal(dueAt(100, ri, urgent, out, 0, 60_000), at));
    it('an urgent lag set in the config delays only the secondary', () =>
      assert.equal(dueAt(100, 1, true, false, 3000, 60_000), 3100));
  });

  describe('the route machine, run by advance like press and alarm', () => {
    it("an event exchange: the delivery's next state first, then the event's effects, then the route's", () => {
      const h = { st: route({ failed: true, fails: 3 }) };
      const seen: RouteEffect[] = [];
      const before = tryOf({ form: SINGLE });
      advance(h, eventStep, { tr: before, o: ACK, blocks: 2, now: 1000, sentAt: 900 }, C, (e) => seen.push(e));
      assert.deepEqual(
        seen.map((e) => e.type),
        ['try', 'delivered', 'trouble']
      );
      assert.equal((seen[0] as { tr: TryState }).tr.next, 1000, 'the delivery after the exchange');
      assert.equal(before.next, 0, 'the delivery given is not changed');
      assert.deepEqual([h.st.failed, h.st.lastOk, h.st.form], [false, 900, SINGLE], 'the route kept in its holder');
    });

    it("a link test exchange: the route's effects only, and its state kept", () => {
      const h = { st: route() };
      const seen: string[] = [];
      for (const seq of [7, 8])
        advance(h, linkTestStep, { o: SILENT, now: 1000, sentAt: 900, seq }, C, (e) => seen.push(e.type));
      assert.deepEqual(seen, ['failed', 'failed', 'trouble']);
      assert.equal(h.st.failed, true);
    });

    it('interpret (press, alarm) runs on the same advance: an effect that sends steps from the state the last one left', () => {
      const step = (s: number, ev: number) => ({ state: s + ev, effects: ev > 1 ? [ev - 1] : [] });
      const states: number[] = [];
      const m: Machine<number, number> = interpret(step, undefined, 0, (fx: number) => {
        states.push(m.state());
        m.send(fx);
      });
      m.send(3);
      assert.deepEqual([states, m.state()], [[3, 5], 6]);
    });
  });

  describe('failure to communicate (354)', () => {
    const ok = route();
    const failed = route({ failed: true });
    const refused = tryOf({ refused: true });
    const open = tryOf();
    const barred = tryOf({ barred: true });
    const rows: [string, TryState[], RouteState[], boolean][] = [
      ['both refuse', [refused, refused], [ok, ok], true],
      ['one refuses, the other is failed', [refused, open], [ok, failed], true],
      ['one refuses, the other may still deliver', [refused, open], [ok, ok], false],
      ['both failed, nobody refused: 350, not 354', [open, open], [failed, failed], false],
      ['bound to a route that refuses', [refused, barred], [ok, ok], true],
      ['nothing refused', [open, open], [ok, ok], false]
    ];
    for (const [name, tries, routes, want] of rows) it(name, () => assert.equal(undeliverable(tries, routes), want));
  });

  it('forms and backoff', () => {
    assert.deepEqual(
      [leaner(FULL, 2), leaner(SINGLE, 2), leaner(MINIMAL, 2), leaner(FULL, 1), leaner(FULL, 0)],
      [SINGLE, MINIMAL, -1, MINIMAL, -1]
    );
    assert.deepEqual(
      [firstForm(FULL, 0), firstForm(SINGLE, 1), firstForm(SINGLE, 2), firstForm(MINIMAL, 1)],
      [MINIMAL, FULL, SINGLE, MINIMAL]
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((f) => backoff(f, 30_000)),
      [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]
    );
  });
});
