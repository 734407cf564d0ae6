/**
 * `npm run faults`: the fault-injection matrix and a 30-simulated-day soak (issue #6).
 *
 * Each fault is injected into a whole simulated unit (the real firmware on the sim HAL, Wi-Fi to a
 * primary receiver over TCP, the device's own cellular driver against the AT modem emulator to a
 * secondary over UDP) in each of three states: idle (an alarm is raised during the fault), alarm
 * in flight (the fault strikes while the panic's frame awaits its ACK) and recording (the fault
 * strikes while the alarm's recording runs). Fake time, real sockets.
 *
 * Columns: faults injected; alarms raised (panics journalled); alarms acknowledged (distinct panics
 * the centre acknowledged); events lost (journalled, never acknowledged after the drain: must be
 * 0); audio samples lost outside restarts (declared `mic`/`spool`/`full` gaps: must be 0; a power
 * cut or reset costs its chunk and the boot time, declared as `boot` and shown apart); worst
 * alarm-to-ACK (journal time of the panic to the centre's receipt).
 *
 *   npm run faults                 # the matrix and the soak
 *   npm run faults -- --no-soak    # the matrix only
 *   npm run faults -- --soak-days N
 *
 * Exit status 1 when any must-be-0 column is not 0 or an alarm went unacknowledged.
 */
import * as sinon from 'sinon';
import { createRig, Rig } from '../sim/alarm-rig';
import { SimModem } from '../sim/modem';
import { readSpoolRecording, checkSpoolRecording } from './spool-reader';
import { SIM_KEYS } from '../sim/default-config';
import type { SimUnit } from '../sim/unit';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
const MIN = 60_000;

export type State = 'idle' | 'alarm' | 'recording';

export interface Ctx {
  rig: Rig;
  modem: SimModem;
  unit(): SimUnit;
  run(ms: number, step?: number): Promise<void>;
}

export interface Fault {
  name: string;
  /** Inject; returns a restore to run after `holdMs` (default: nothing to restore). */
  inject(c: Ctx): (() => void) | void;
  holdMs?: number;
  /**
   * Whether the unit shows that it can report to no one (`reach` false): `must` (every path is
   * rated failed), `may` (it depends on when the routes' tests fall), default never (a path works
   * throughout, so showing it would be wrong).
   */
  noOne?: 'must' | 'may';
}

function bothDown(c: Ctx): () => void {
  c.rig.primary.faults.down = true;
  c.rig.secondary.faults.down = true;
  return () => {
    c.rig.primary.faults.down = false;
    c.rig.secondary.faults.down = false;
  };
}

export const FAULTS: Fault[] = [
  { name: 'power cut', inject: (c) => void c.unit().powerCut() },
  { name: 'hung loop (microphone)', inject: (c) => c.unit().sim.world.mic.stall() },
  {
    name: 'exception in a handler',
    inject: (c) => {
      const hal = c.unit().sim.hal;
      const real = hal.power.batteryVolts;
      hal.power.batteryVolts = () => {
        hal.power.batteryVolts = real;
        throw new Error('injected fault');
      };
    }
  },
  {
    name: 'primary path cut 2 min',
    inject: (c) => {
      const w = c.unit().sim.world.paths.wifi!;
      w.cut();
      return () => w.restore();
    },
    holdMs: 2 * MIN
  },
  {
    name: 'both receivers down 2 min',
    inject: bothDown,
    holdMs: 2 * MIN,
    noOne: 'may'
  },
  {
    // Every path rated failed: the unit shows that it can report to no one, and keeps trying.
    name: 'both receivers down 15 min',
    inject: bothDown,
    holdMs: 15 * MIN,
    noOne: 'must'
  },
  { name: 'garbled replies (3)', inject: (c) => void (c.rig.primary.faults.garble = 3) },
  { name: 'modem stops answering', inject: (c) => c.modem.hang() },
  { name: 'modem AT timeouts (3)', inject: (c) => void (c.modem.faults.noAnswer = 3) },
  { name: 'network deregisters modem', inject: (c) => c.modem.deregister({ backAfterMs: MIN }) },
  { name: 'network drops modem data context', inject: (c) => c.modem.pdpDeact() },
  { name: 'modem restarts by itself', inject: (c) => c.modem.restart() },
  {
    // A bit flip in the oldest record of the newest journal segment (the records around it,
    // including the panic, must survive), then a reboot that has to read past it.
    name: 'corrupt journal record + reboot',
    inject: (c) => {
      const world = c.unit().sim.world;
      const store = world.store();
      const seg = store
        .list('j.')
        .sort((a, b) => Number(a.slice(2)) - Number(b.slice(2)))
        .pop()!;
      const first = store.appendFile(seg).read().split('\n')[0];
      // The newest copy of that line on the flash (a rotation may have copied it forward).
      let at = -1;
      for (let k = world.nor.find(first); k >= 0; k = world.nor.find(first, k + 1)) at = k;
      world.nor.flipByte(at + 12, 0x04);
      c.unit().powerCut();
    }
  },
  {
    // Within the RAM slack (two spare 0.5 s slots, firmware/config.ts RAM_SLOTS): nothing may be
    // lost. A longer stall is a declared gap (test/recorder.test.ts).
    name: 'card stalls 0.8 s',
    inject: (c) => {
      const sp = c.unit().sim.world.spool;
      sp.stalled = true;
      return () => void (sp.stalled = false);
    },
    holdMs: 800
  },
  {
    name: 'memory pressure 1 min',
    inject: (c) => {
      const m = c.unit().sim.world.memory;
      const free = m.free;
      m.free = 300;
      return () => void (m.free = free);
    },
    holdMs: MIN
  }
];

export interface Row {
  fault: string;
  state: State;
  injected: number;
  raised: number;
  acked: number;
  lost: number;
  audioLost: number;
  restartLost: number;
  chainOk: boolean;
  worstMs: number;
  /** The unit showed that no receiver could be reached (a `reach` record with ok 0). */
  shown: boolean;
  /** Whether it had to (the fault's `noOne`; 'never' when not given). */
  noOne: 'must' | 'may' | 'never';
}

function measure(
  rig: Rig,
  unit: SimUnit,
  injected: number,
  presses: number,
  fault: string,
  state: State,
  noOne: Row['noOne'] = 'never'
): Row {
  const recs = unit.app.journal.records();
  const done = new Set(recs.filter((r) => r.k === 'ok' || r.k === 'fail').map((r) => r.r));
  const evs = recs.filter((r) => r.k === 'ev');
  const panics = evs.filter((r) => r.c === 120 && r.q === 1);
  const centre = [...rig.primary.alarms(), ...rig.secondary.alarms()];
  let worst = 0;
  let acked = 0;
  for (const p of panics) {
    const seq = String(p.n).padStart(4, '0');
    const got = centre.filter((e) => e.seq === seq && e.cid?.code === '120').sort((a, b) => a.at - b.at)[0];
    if (!got) continue;
    acked++;
    worst = Math.max(worst, got.at - (p.t as number));
  }
  let audioLost = 0;
  let restartLost = 0;
  let chainOk = true;
  const media = unit.sim.world.spool;
  const rids = [...new Set([...media.blobs.keys()].filter((n) => n.endsWith('.REC')).map((n) => n.slice(0, 4)))];
  for (const rid of rids) {
    const r = readSpoolRecording(media, rid, SIM_KEYS.evidence);
    for (const g of r.state.gaps) {
      if (g.why === 'boot') restartLost += g.s;
      else audioLost += g.s;
    }
    if (checkSpoolRecording(r).length > 0) chainOk = false;
  }
  return {
    fault,
    state,
    injected,
    raised: presses,
    acked,
    // Journalled and never acknowledged, plus presses that never became a journalled panic.
    lost: evs.filter((r) => !done.has(r.i)).length + Math.max(0, presses - panics.length),
    audioLost,
    restartLost,
    chainOk,
    worstMs: worst,
    shown: recs.some((r) => r.k === 'reach' && r.ok === 0),
    noOne
  };
}

/** One fault in one state, on a fresh unit. `clock` must be installed by the caller (sinon). */
export async function runCase(clock: sinon.SinonFakeTimers, fault: Fault, state: State): Promise<Row> {
  const rig = await createRig(
    () => clock,
    (c) => {
      c.alarmS = 120;
      c.audio.maxS = 90;
    }
  );
  const modem = new SimModem();
  rig.boot({ modem, spoolBytes: 64 * 1024 * 1024, micOff: state !== 'recording' });
  const ctx: Ctx = { rig, modem, unit: () => rig.unit!, run: (ms, step) => rig.run(ms, step) };
  try {
    await rig.run(30_000);
    let presses = 0;
    const press = async () => {
      presses++;
      const before = rig.unit!.app.status().triggers;
      rig.unit!.sim.world.button.press(2000);
      await rig.until(() => rig.unit!.app.status().triggers > before, 5000);
    };
    if (state === 'alarm') {
      // Step fake time without letting socket I/O run, so the panic's frame is still awaiting its
      // ACK when the fault strikes.
      const before = rig.unit!.app.status().triggers;
      presses++;
      rig.unit!.sim.world.button.press(2000);
      for (let i = 0; i < 300 && rig.unit!.app.status().triggers === before; i++) clock.tick(10);
      if (rig.unit!.app.status().inflight === 0) throw new Error('the panic frame was not in flight');
    } else if (state === 'recording') {
      await press();
      await rig.run(10_000);
    }
    const restore = fault.inject(ctx);
    if (state === 'idle') {
      await rig.run(2000);
      await press();
    }
    await rig.run(fault.holdMs ?? 5000);
    if (restore) restore();
    // Drain: every journalled event delivered, the recording ended, or 20 simulated minutes.
    await rig.until(() => {
      const s = rig.unit!.app.status();
      return s.pending === 0 && s.recording === '';
    }, 20 * MIN);
    return measure(rig, rig.unit!, 1, presses, fault.name, state, fault.noOne || 'never');
  } finally {
    await rig.close();
    modem.dispose();
  }
}

/**
 * Random faults and presses over `days` simulated days (microphone off: days of audio blocks would
 * dominate). Every 1-12 h: a fault (2 in 3), half of them with a press while it holds, or a press
 * alone. The journal rotates over a month, so alarms are counted at the centre: each press must
 * produce one more acknowledged panic.
 */
export async function soak(clock: sinon.SinonFakeTimers, days: number, seed = 1): Promise<Row> {
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const rig = await createRig(
    () => clock,
    (c) => void (c.alarmS = 120)
  );
  const modem = new SimModem();
  rig.boot({ modem, micOff: true });
  const ctx: Ctx = { rig, modem, unit: () => rig.unit!, run: (ms, step) => rig.run(ms, step) };
  const usable = FAULTS.filter((f) => f.name !== 'card stalls 0.8 s' && f.name !== 'hung loop (microphone)');
  // Sequence numbers wrap (NULL polls use them too: about every 10 days), so a panic is known by its
  // number and its event time (`[H…]`), which also merges one event acknowledged on both paths.
  const panicEvents = () =>
    [...rig.primary.alarms(), ...rig.secondary.alarms()].filter((e) => e.cid?.code === '120' && e.cid.qualifier === 1);
  const idOf = (e: { seq: string; xdata: string[] }) => e.seq + e.xdata.join('');
  const panicsAtCentre = () => new Set(panicEvents().map(idOf));
  let injected = 0;
  let presses = 0;
  let acked = 0;
  let worst = 0;
  try {
    const end = clock.now + days * 24 * 60 * MIN;
    while (clock.now < end) {
      await rig.run(Math.floor((1 + rnd() * 11) * 60 * MIN), 2000);
      const fault = rnd() < 2 / 3 ? usable[Math.floor(rnd() * usable.length)] : undefined;
      const pressToo = !fault || rnd() < 0.5;
      const seen = panicsAtCentre();
      let restore: (() => void) | void = undefined;
      if (fault) {
        restore = fault.inject(ctx);
        injected++;
        await rig.run(1000, 250);
      }
      const t0 = clock.now;
      if (pressToo) {
        presses++;
        rig.unit!.sim.world.button.press(2000);
      }
      await rig.run(fault?.holdMs ?? 5000, 250);
      if (restore) restore();
      if (pressToo) {
        await rig.until(() => panicsAtCentre().size > seen.size, 20 * MIN);
        const fresh = panicEvents().filter((e) => !seen.has(idOf(e)));
        if (fresh.length > 0) {
          acked++;
          worst = Math.max(worst, Math.min(...fresh.map((e) => e.at)) - (t0 + 1500));
        } else if (process.env.FAULTS_DEBUG) {
          const u = rig.unit!;
          console.error(
            `press on day ${((t0 - T0) / 86400000).toFixed(2)} during "${fault?.name ?? 'nothing'}" not acknowledged; boots ${u.sim.world.boots.slice(-3)}, status ${JSON.stringify(u.app.status())}`
          );
          console.error(
            u.sim.world.log
              .slice(-25)
              .map((l) => l.message)
              .join('\n')
          );
        }
      }
    }
    await rig.until(() => rig.unit!.app.status().pending === 0, 20 * MIN);
    return {
      fault: `soak ${days} days, seed ${seed}`,
      state: 'idle',
      injected,
      raised: presses,
      acked,
      lost: presses - acked + rig.unit!.app.status().pending,
      audioLost: 0,
      restartLost: 0,
      chainOk: true,
      worstMs: worst,
      shown: false,
      noOne: 'may'
    };
  } finally {
    await rig.close();
    modem.dispose();
  }
}

function table(rows: Row[]): string {
  const head = [
    'fault',
    'state',
    'faults',
    'alarms raised',
    'alarms acked',
    'events lost',
    'audio lost*',
    'restart gaps',
    'chain',
    'no one: shown',
    'worst alarm→ACK'
  ];
  const cells = rows.map((r) => [
    r.fault,
    r.state,
    String(r.injected),
    String(r.raised),
    String(r.acked),
    String(r.lost),
    String(r.audioLost),
    r.restartLost ? `${r.restartLost} samples` : '-',
    r.chainOk ? 'ok' : 'BROKEN',
    r.shown ? (r.noOne === 'never' ? 'WRONGLY' : 'yes') : r.noOne === 'must' ? 'NOT SHOWN' : '-',
    r.acked ? `${(r.worstMs / 1000).toFixed(1)} s` : '-'
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i < 2 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...cells.map(line)].join('\n');
}

export function rowOk(r: Row): boolean {
  return (
    r.lost === 0 &&
    r.audioLost === 0 &&
    r.chainOk &&
    r.acked === r.raised &&
    r.raised > 0 &&
    (r.shown ? r.noOne !== 'never' : r.noOne !== 'must')
  );
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const days = args.includes('--soak-days') ? Number(args[args.indexOf('--soak-days') + 1]) : 30;
  const rows: Row[] = [];
  const t0 = Date.now();
  for (const f of FAULTS) {
    for (const st of ['idle', 'alarm', 'recording'] as State[]) {
      const clock = sinon.useFakeTimers({
        now: T0,
        toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date']
      });
      try {
        const r = await runCase(clock, f, st);
        rows.push(r);
        process.stderr.write(`${rowOk(r) ? '.' : 'F'}`);
      } finally {
        clock.restore();
      }
    }
  }
  if (!args.includes('--no-soak')) {
    const clock = sinon.useFakeTimers({
      now: T0,
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date']
    });
    try {
      rows.push(await soak(clock, days));
    } finally {
      clock.restore();
    }
  }
  process.stderr.write('\n');
  console.log(table(rows));
  console.log(
    '* audio samples lost outside restarts (must be 0); restart gaps are the declared cost of a power cut or reset'
  );
  const bad = rows.filter((r) => !rowOk(r));
  console.log(
    `${rows.length} cases in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${rows.length - bad.length} passed, ${bad.length} failed`
  );
  return bad.length === 0 ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(2);
    }
  );
}
