/**
 * `npm run bench`: how fast an alarm gets through and how little of a board the unit needs, each
 * figure beside its budget (issue #7). Real timers, loopback sockets, the real firmware on the sim
 * HAL; with ESPRUINO_BIN, also the firmware on the Espruino interpreter built for Linux: the LINUX
 * profile's audio path and memory, and the Espruino WiFi image's RAM with its default config.
 *
 *   npm run bench                       # everything (about 2 minutes; + ~10 min with ESPRUINO_BIN)
 *   npm run bench -- --alarms N --failovers N --record-s S
 *   npm run bench -- --only latency,failover,bytes,wear,footprint,interpreter,wifi,floor
 *   npm run bench -- --wear-days N      # simulated days of normal service for the wear figures
 *   npm run bench -- --markdown docs/bench-last.md   # also write the figures as a table there
 *
 * Exit status 1 when a figure misses its budget.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';
import * as sinon from 'sinon';
import { createRig } from '../sim/alarm-rig';
import type { SimCentre } from '../sim/centre';
import { simDefaultConfig, createLabCentres, SIM_KEYS } from '../sim/default-config';
import { createSimUnit, SimUnit } from '../sim/unit';
import { startEvidenceServer } from '../sim/evidence-server';
import { createSimCrypto } from '../sim/crypto';
import { encodeMessage, cidData, encodeReply } from '../firmware/dc09';
import { keyBytes } from '../firmware/config';
import type { Config } from '../firmware/config';
import type { RecordOf } from '../firmware/journal';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { storeCommand, provision } = require('./espruino-store') as {
  storeCommand(size: number): string;
  provision(bin: string, dir: string, config: unknown): Promise<string>;
};

const args = process.argv.slice(2);
const num = (name: string, d: number) => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : d);
const ALARMS = num('alarms', 200);
const FAILOVERS = num('failovers', 50);
const RECORD_S = num('record-s', 600);
const WEAR_DAYS = num('wear-days', 30);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const crypto = createSimCrypto();

interface Figure {
  name: string;
  value: string;
  budget: string;
  ok: boolean | undefined;
}
const figures: Figure[] = [];
const fig = (name: string, value: string, budget = '-', ok?: boolean) => {
  figures.push({ name, value, budget, ok });
  console.log(
    `  ${ok === undefined ? '    ' : ok ? 'ok  ' : 'MISS'} ${name}: ${value}${budget !== '-' ? `  (budget ${budget})` : ''}`
  );
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const ms = (v: number) => `${v.toFixed(1)} ms`;

const centres = () => createLabCentres();

function config(p: SimCentre, s: SimCentre, tweak?: (c: Config) => void): Config {
  const c = simDefaultConfig({
    primary: { port: p.tcpPort, transport: 'tcp' },
    secondary: { port: s.udpPort, transport: 'udp' }
  });
  if (tweak) tweak(c);
  return c;
}

/** Wait (real time) until `cond()`, polling; false after `limit` ms. */
async function until(cond: () => boolean, limit: number): Promise<boolean> {
  const end = Date.now() + limit;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(2);
  }
  return true;
}

/** The panic event journalled last and its delivery record, if any. */
function lastPanic(u: SimUnit): { ev?: RecordOf<'ev'>; ok?: RecordOf<'ok'> } {
  const recs = u.app.journal.records();
  let ev: RecordOf<'ev'> | undefined;
  for (const r of recs) if (r.k === 'ev' && r.c === 120 && r.q === 1) ev = r;
  let ok: RecordOf<'ok'> | undefined;
  for (const r of recs) if (ev && r.k === 'ok' && r.r === ev.i) ok = ok || r;
  return { ev, ok };
}

async function latency(): Promise<void> {
  console.log(
    `\nAlarm latency over loopback (${ALARMS} alarms 150 ms apart, real timers, trigger recognised → valid ACK at the unit)`
  );
  const [p, s] = await centres();
  // Trigger on press, no gestures: one alarm per press, back to back.
  const unit = createSimUnit(
    config(p, s, (c) => {
      c.holdMs = 0;
      c.gestures.cancelTaps = 0;
      c.gestures.duressTaps = 0;
    })
  );
  const fw: number[] = [];
  try {
    await until(() => unit.app.status().pending === 0, 10_000);
    for (let i = 0; i < ALARMS; i++) {
      const before = lastPanic(unit).ev?.i;
      unit.sim.world.button.press(40);
      await until(() => {
        const l = lastPanic(unit);
        return l.ev !== undefined && l.ev.i !== before && l.ok !== undefined;
      }, 10_000);
      const l = lastPanic(unit);
      if (l.ev && l.ok && l.ev.i !== before) fw.push((l.ok.u as number) - (l.ev.u as number));
      // Paced so that fewer than 16 ACKs arrive in any one second (a panic is acknowledged on both
      // routes): the unit remembers the last 16 ACKs it took, and an ACK dated in the second of one
      // it had to forget is refused as a possible replay and the frame goes again 1.1 s later
      // (firmware/centre-clock.ts). No unit sends 16 events a second; a burst of 200 would show
      // that 1.1 s at p99.
      await sleep(150);
    }
  } finally {
    unit.shutdown();
  }
  // A minimal sender in the same run: the same frame, the same receiver, one persistent connection.
  const bare: number[] = [];
  const target = { account: '1234', line: '1', receiver: '1', key: keyBytes(SIM_KEYS.primary) as string };
  const sock = net.connect({ host: '127.0.0.1', port: p.tcpPort });
  await new Promise((r) => sock.once('connect', r));
  let buf = '';
  let answered: (() => void) | undefined;
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    if (buf.indexOf('\r') >= 0 && answered) answered();
  });
  for (let i = 0; i < ALARMS; i++) {
    const seq = 5000 + i;
    const frame = encodeMessage(crypto, target, {
      id: 'ADM-CID',
      seq,
      data: cidData('1234', 1, 120, 1, 1),
      xdata: '',
      time: Date.now()
    });
    buf = '';
    const t = performance.now();
    await new Promise<void>((resolve) => {
      answered = resolve;
      sock.write(Buffer.from(frame, 'latin1'));
    });
    bare.push(performance.now() - t);
    await sleep(5);
  }
  sock.destroy();
  await p.close();
  await s.close();
  fig('firmware: trigger → ACK, median', ms(pct(fw, 50)));
  fig('firmware: trigger → ACK, p99', ms(pct(fw, 99)));
  fig('bare sender round trip, median / p99', `${ms(pct(bare, 50))} / ${ms(pct(bare, 99))}`);
  fig(
    'firmware overhead at p99 (p99 firmware − p99 bare)',
    ms(pct(fw, 99) - pct(bare, 99)),
    '< 20 ms',
    pct(fw, 99) - pct(bare, 99) < 20
  );
  fig('ratio firmware / bare at the median', `${(pct(fw, 50) / Math.max(0.001, pct(bare, 50))).toFixed(1)}×`);
  fig('alarms measured', `${fw.length} of ${ALARMS}`, `${ALARMS}`, fw.length === ALARMS);
}

async function failover(kind: 'refuses' | 'silent'): Promise<void> {
  console.log(
    `\nFailover: primary receiver ${kind === 'refuses' ? 'refuses connections' : 'silent (takes frames, never answers)'}, ${FAILOVERS} runs, default timeouts`
  );
  const times: number[] = [];
  let missed = 0;
  for (let batch = 0; batch < FAILOVERS; batch += 10) {
    const n = Math.min(10, FAILOVERS - batch);
    await Promise.all(
      Array.from({ length: n }, async () => {
        const [p, s] = await centres();
        const unit = createSimUnit(config(p, s), { micOff: true });
        try {
          await until(() => unit.app.status().pending === 0, 10_000);
          if (kind === 'refuses') p.faults.down = true;
          else p.faults.drop = 1000;
          const before = lastPanic(unit).ev?.i;
          unit.sim.world.button.press(2000);
          const ok = await until(() => {
            const l = lastPanic(unit);
            return l.ev !== undefined && l.ev.i !== before && l.ok !== undefined;
          }, 15_000);
          const l = lastPanic(unit);
          if (ok && l.ok!.p === 1) times.push((l.ok!.u as number) - (l.ev!.u as number));
          else missed++;
        } finally {
          unit.shutdown();
          await p.close();
          await s.close();
        }
      })
    );
  }
  const worst = times.length ? Math.max(...times) : NaN;
  // Urgent events go on both routes at once: press → ACK is the hold time plus this.
  fig(
    `primary ${kind}: trigger → ACK via the secondary, median`,
    ms(pct(times, 50)),
    '≤ 1000 ms',
    pct(times, 50) <= 1000
  );
  fig(
    `primary ${kind}: worst press → ACK (hold 2000 ms + trigger → ACK ${ms(worst)})`,
    ms(2000 + worst),
    '≤ hold + 1 s (standard: 10 s)',
    worst <= 1000 && missed === 0
  );
}

async function bytesOnAir(): Promise<void> {
  console.log(
    '\nBytes on air (DC-09 payload; TCP/UDP/IP headers estimated: 40 B per TCP segment, 28 B per UDP datagram)'
  );
  const target = { account: '1234', line: '1', receiver: '1', key: keyBytes(SIM_KEYS.primary) as string };
  const t = Date.UTC(2026, 10, 23, 12);
  const h = '[H' + '12:00:00,11-23-2026' + ']';
  const sizes = {
    'panic 1 120 (ADM-CID, AES)': encodeMessage(crypto, target, {
      id: 'ADM-CID',
      seq: 1,
      data: cidData('1234', 1, 120, 1, 1),
      xdata: h,
      time: t
    }).length,
    'panic with recording reference [V…]': encodeMessage(crypto, target, {
      id: 'ADM-CID',
      seq: 1,
      data: cidData('1234', 1, 120, 1, 1),
      xdata: '[VSIM-0001-0001]' + h,
      time: t
    }).length,
    'NULL link test (AES)': encodeMessage(crypto, target, { id: 'NULL', seq: 1, data: '', xdata: '', time: t }).length,
    'ACK (AES)': encodeReply(crypto, 'ACK', '0001', target, t).length
  };
  for (const [k, v] of Object.entries(sizes)) fig(`frame: ${k}`, `${v} B`);
  // Measured on the sim's cellular path: one alarm with both paths up (urgent events go on both
  // routes at once, so every alarm costs cellular bytes), then one with the primary cut.
  const [p, s] = await centres();
  const unit = createSimUnit(config(p, s), { micOff: true });
  try {
    await until(() => unit.app.status().pending === 0, 10_000);
    const cell = unit.sim.world.paths.cellular!;
    let bytes = 0;
    let datagrams = 0;
    cell.tap((_d, data) => {
      bytes += data.length;
      datagrams++;
    });
    const onCell = async (what: string) => {
      bytes = 0;
      datagrams = 0;
      const before = lastPanic(unit).ev?.i;
      unit.sim.world.button.press(2000);
      await until(() => lastPanic(unit).ev?.i !== before && lastPanic(unit).ok !== undefined, 15_000);
      await until(() => unit.app.status().inflight === 0, 10_000);
      await sleep(500);
      fig(
        `one alarm over cellular (UDP), ${what}, measured`,
        `${bytes} B payload in ${datagrams} datagrams, ≈ ${bytes + datagrams * 28} B with headers`
      );
      return bytes + datagrams * 28;
    };
    await onCell('both paths up (the copy sent at once)');
    unit.sim.world.button.press(200);
    await sleep(3000);
    unit.sim.world.paths.wifi!.cut();
    await onCell('Wi-Fi cut');
    const poll = sizes['NULL link test (AES)'] + sizes['ACK (AES)'] + 2 * 28;
    fig('one supervision poll (NULL + ACK over UDP)', `≈ ${poll} B`);
    const sec = 86400 / 18000;
    const dayNormal = Math.round(sec * poll);
    fig(
      'cellular per day, default plan (secondary polled every 5 h)',
      `≈ ${dayNormal} B/day, ≈ ${Math.round((dayNormal * 182) / 1024)} KB per 6 months`,
      '≤ 1 MB per 6 months',
      dayNormal * 182 <= 1024 * 1024
    );
    const dayDegraded = Math.round(
      (86400 / 90) * poll + (sizes['panic 1 120 (ADM-CID, AES)'] + sizes['ACK (AES)'] + 56)
    );
    fig(
      'cellular per day with Wi-Fi failed (secondary every 90 s, plus the daily 602)',
      `≈ ${Math.round(dayDegraded / 1024)} KB/day`
    );
    const tcpPoll = sizes['NULL link test (AES)'] + sizes['ACK (AES)'] + 10 * 40;
    fig(
      'Wi-Fi per day (primary every 90 s over TCP; connect, frame, ACK, close ≈ 10 segments)',
      `≈ ${Math.round(((86400 / 90) * tcpPoll) / 1024)} KB/day (not metered)`
    );
  } finally {
    unit.shutdown();
    await p.close();
    await s.close();
  }
}

/** Evidence over cellular: a minute of recording uploaded with Wi-Fi cut, bytes counted by the unit. */
async function evidenceOverCellular(): Promise<void> {
  console.log(
    '\nEvidence over cellular (Wi-Fi cut; sealed chunks over plain TCP through the modem path; 8 kHz, 8-bit)'
  );
  const [p, s] = await centres();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-evidence-'));
  const server = await startEvidenceServer({ root, keys: { 'SIM-0001': SIM_KEYS.evidence } });
  const unit = createSimUnit(
    config(p, s, (c) => {
      c.audio.maxS = 60;
      c.evidence = { host: '127.0.0.1', port: server.port, key: SIM_KEYS.evidence, batch: 2, cellularKB: 0 };
    }),
    { micOff: false }
  );
  try {
    await until(() => unit.app.status().pending === 0, 10_000);
    unit.sim.world.paths.wifi!.cut();
    unit.sim.world.button.press(2000);
    const ok = await until(
      () =>
        unit.app.status().recording === '' &&
        unit.app.status().stored === 0 &&
        (unit.app.uploader?.status().sent ?? 0) > 0,
      120_000
    );
    const up = unit.app.uploader!.status();
    const [rec] = server.recordings();
    const audioS = rec ? (rec.have * unit.app.config().audio.chunkMs) / 1000 : 0;
    const perMin = audioS > 0 ? (up.cellularBytes * 60) / audioS : NaN;
    fig(
      'evidence sent over cellular for the recording',
      `${up.cellularBytes} B for ${audioS.toFixed(1)} s of audio (${up.sent} chunks)`,
      'all of it',
      ok
    );
    fig(
      'evidence over cellular per minute of recording',
      `${(perMin / 1024).toFixed(0)} KB/min (audio alone: ${((8000 * 60) / 1024).toFixed(0)} KB/min; seal, headers and requests the rest)`
    );
  } finally {
    unit.shutdown();
    await server.close();
    await p.close();
    await s.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Wear of the record store (issue #17): bytes written and sectors erased per day of normal service
 * and per alarm (with its whole recording), on the sim's NOR flash (3 × 16 KB, as sectors 1-3 of
 * the Espruino WiFi), in fake time; six months computed from them.
 */
async function wear(): Promise<void> {
  console.log(
    `\nFlash wear: the record store on 3 × 16 KB sectors (${WEAR_DAYS} simulated days of service, then one alarm with its recording)`
  );
  const ENDURANCE = 10_000;
  const clock = sinon.useFakeTimers({
    now: Date.UTC(2026, 10, 23, 12),
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date']
  });
  try {
    const rig = await createRig(() => clock);
    try {
      // Service: supervision polls on both paths, the daily test report, no alarm, no audio.
      const quiet = rig.boot({ micOff: true });
      await rig.run(5 * 60_000, 2000);
      const nor = quiet.sim.world.nor;
      const w0 = nor.wordsWritten;
      const e0 = nor.erases.reduce((a, b) => a + b, 0);
      await rig.run(WEAR_DAYS * 86_400_000, 10_000);
      const dayBytes = ((nor.wordsWritten - w0) * 4) / WEAR_DAYS;
      const dayErases = (nor.erases.reduce((a, b) => a + b, 0) - e0) / WEAR_DAYS;
      fig(
        'record store written per day of normal service',
        `${(dayBytes / 1024).toFixed(1)} KB, ${dayErases.toFixed(2)} sector erases`
      );
      quiet.shutdown();
      // One alarm: the press, the whole recording (alarmS and audio.maxS of the default config),
      // its state records, the deliveries, the restore.
      const loud = rig.boot({ micOff: false });
      await rig.run(60_000, 1000);
      // The pre-trigger ring on the card (docs/evidence.md): rewritten in place all the time.
      const card = loud.sim.world.spool;
      const r0 = card.rewritten;
      await rig.run(60_000, 1000);
      const cardDay = (card.rewritten - r0) * 1440;
      const fills = (cardDay * 182) / 8e9;
      fig(
        'microSD written per day idle (the pre-trigger ring)',
        `${(cardDay / 1e6).toFixed(0)} MB; ${((cardDay * 182) / 1e9).toFixed(0)} GB in 182 days = ${fills.toFixed(0)} fills of an 8 GB card, ${((fills / 500) * 100).toFixed(1)}% of 500 P/E cycles`,
        '≤ 10% of a 500-cycle TLC card',
        fills / 500 <= 0.1
      );
      const n2 = loud.sim.world.nor;
      const w1 = n2.wordsWritten;
      const e1 = n2.erases.reduce((a, b) => a + b, 0);
      loud.sim.world.button.press(2000);
      const c = rig.config;
      await rig.run((Math.max(c.alarmS, c.audio.maxS) + 60) * 1000, 1000);
      // (It includes the service's own writes meanwhile: half an hour of them, a few hundred bytes.)
      const alarmBytes = (n2.wordsWritten - w1) * 4;
      const alarmErases = n2.erases.reduce((a, b) => a + b, 0) - e1;
      fig(
        `record store written per alarm (${Math.round(c.audio.maxS / 60)} min recording)`,
        `${(alarmBytes / 1024).toFixed(1)} KB, ${alarmErases} sector erases`
      );
      // Six months: erases spread over the three sectors by rotation; one alarm a day, far more
      // than any unit sees, as the conservative case.
      // An alarm's writes are too few to fill a sector: they are charged at the service's measured
      // bytes per erase (copies of live records included), or a whole sector each if none was seen.
      const days = 182;
      const perErase = dayErases > 0 ? dayBytes / dayErases : 16 * 1024;
      const total = (dayErases * days + Math.max(alarmErases, alarmBytes / perErase) * days) / 3;
      fig(
        'erases per sector over six months (service + one alarm a day)',
        `${Math.ceil(total)} of ${ENDURANCE}`,
        `${ENDURANCE} (STM32F4 sector endurance)`,
        total <= ENDURANCE
      );
      loud.shutdown();
    } finally {
      await rig.close();
    }
  } finally {
    clock.restore();
  }
}

function footprint(): void {
  console.log('\nFootprint: bundles (node build.js --all) and Storage');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const build = require('../build.js');
  for (const b of Object.keys(build.BUDGETS)) {
    const f = build.outFile(b);
    const img = build.imageFile(b);
    if (!fs.existsSync(f) || !fs.existsSync(img)) continue;
    const minified = fs.statSync(f).size;
    const bytes = fs.statSync(img).size;
    fig(
      `${b} boot image (pretokenised; minified JS ${minified} B)`,
      `${bytes} B`,
      `${build.BUDGETS[b]} B (build ceiling)`,
      bytes <= build.BUDGETS[b]
    );
  }
  // The Espruino WiFi's Storage holds the boot image alone (docs/journal.md, "Flash layout"): the
  // plan is the image and its 32-byte file header, within 90% of the one 64 KB page.
  const wifi = build.imageFile('ESPRUINOWIFI');
  if (fs.existsSync(wifi)) {
    const plan = fs.statSync(wifi).size + 32;
    const limit = build.STORAGE_PLAN ? build.STORAGE_PLAN.ESPRUINOWIFI : Math.floor(0.9 * 64 * 1024);
    fig(
      'ESPRUINOWIFI Storage plan (.bootcde + header; nothing else in Storage)',
      `${plan} B of ${64 * 1024} B (${((100 * plan) / 65536).toFixed(1)}%)`,
      `${limit} B (90%)`,
      plan <= limit
    );
  }
}

/** The firmware on the Linux interpreter: variables idle and at peak, growth while recording, audio cost. */
async function interpreter(): Promise<void> {
  const bin = process.env.ESPRUINO_BIN;
  if (!bin) {
    console.log('\nInterpreter figures skipped: set ESPRUINO_BIN to an Espruino built for Linux');
    return;
  }
  console.log(`\nOn the Espruino interpreter (Linux build): idle, a ${RECORD_S} s recording, audio path`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-espruino-'));
  const children: ChildProcess[] = [];
  const [p] = await centres();
  try {
    const root = path.join(__dirname, '..');
    const fw = fs.readFileSync(path.join(root, 'dist', 'firmware-linux.img'));
    fs.writeFileSync(path.join(dir, 'fw.js'), fw);
    // An evidence key (every chunk is sealed) and no evidence server (port 1): the audio path is
    // capture, ring, hash, chain, seal and one append per chunk to the spool (host files here).
    const c = simDefaultConfig({ primary: { port: p.tcpPort, transport: 'tcp' } }, { port: 1 });
    // The default rate and chunk (8 kHz, 500 ms: 1,000-sample blocks); no pre-trigger, so the ring
    // (one 4,000-byte slot) fits the 5,000-variable interpreter beside the firmware.
    c.audio.rate = 8000;
    c.audio.preMs = 0;
    c.audio.chunkMs = 500;
    c.audio.maxS = Math.max(60, RECORD_S + 60);
    const run = (a: string[]) => {
      const child = spawn(bin, a, { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
      children.push(child);
      let out = '';
      child.stdout.on('data', (d) => (out += d.toString('latin1')));
      return { child, out: () => out, key: (k: string) => child.stdin.write(k) };
    };
    const store = run(['-e', storeCommand(fw.length)]);
    await until(() => /STORED/.test(store.out()), 10_000);
    store.child.kill('SIGKILL');
    await provision(bin, dir, c);
    const u = run([]);
    // A whole line only: the interpreter may print "MEM 5049/8190" in two pieces.
    const mem = async () => {
      const n = (u.out().match(/MEM \d+\/\d+\r?\n/g) || []).length;
      u.key('v');
      await until(() => (u.out().match(/MEM \d+\/\d+\r?\n/g) || []).length > n, 3000);
      const all = u.out().match(/MEM (\d+)\/(\d+)\r?\n/g)!;
      const m = /MEM (\d+)\/(\d+)/.exec(all[all.length - 1])!;
      return { used: Number(m[1]), total: Number(m[2]) };
    };
    await until(() => /\(305\) acknowledged/.test(u.out()), 15_000);
    await sleep(1000);
    const idle = await mem();
    fig(
      'variables at idle',
      `${idle.used} of ${idle.total}`,
      `≤ ${Math.round(idle.total * 0.85)} (85%)`,
      idle.used <= idle.total * 0.85
    );
    u.key('p');
    await sleep(1700);
    u.key('r');
    await until(() => /\(120\) acknowledged/.test(u.out()), 10_000);
    // The audio path's cost, measured in the first 20 s of the recording.
    await sleep(20_000);
    u.key('a');
    await until(() => /AUDIO \d+ [\d.]+ [\d.]+ [\d.]+ [01] \d+ [\d.]+/.test(u.out()), 3000);
    const a = /AUDIO (\d+) ([\d.]+) ([\d.]+) ([\d.]+) ([01]) (\d+) ([\d.]+)/.exec(u.out());
    if (!a) fig('audio path figures', 'not printed by the interpreter', 'printed', false);
    if (!a) console.log('--- interpreter output ---\n' + u.out().slice(-3000));
    if (a) {
      const per = Number(a[2]);
      const loop = Number(a[3]);
      const ring = Number(a[4]);
      // A loop over an array that is not flat walks it at each index: slower, so every ratio
      // against it would flatter the firmware (hal/espruino/linux.ts).
      const flat = a[5] === '1';
      // The loop is timed once a chunk through the run, over the same blocks as the firmware's
      // mean (hal/espruino/linux.ts): one reading at the end moved 22-39 ms between runs.
      fig(
        `plain per-sample JavaScript copy of one block (1,000 samples; median of ${a[6]} readings through the run, one a chunk; ${Number(a[7]).toFixed(1)} ms at the end)`,
        `${loop.toFixed(3)} ms${flat ? '' : ' (its arrays are not flat: the loop is slowed, the ratios below are not valid)'}`,
        'flat arrays',
        flat
      );
      fig(
        'firmware, a block into the ring (median block)',
        `${ring.toFixed(3)} ms = 1/${(loop / Math.max(ring, 1e-6)).toFixed(0)} of the loop`,
        '< 1/20',
        flat && ring < loop / 20
      );
      fig(
        'firmware, mean per block with hashing, chaining, sealing (AES-256-CBC + HMAC) and the append (1 block in 4)',
        `${per.toFixed(3)} ms over ${a[1]} blocks = 1/${(loop / Math.max(per, 1e-6)).toFixed(1)} of the loop`,
        '< 1/20',
        flat && per < loop / 20
      );
    }
    await sleep(2000);
    const early = await mem();
    let peak = early.used;
    const samples: number[] = [];
    const end = Date.now() + RECORD_S * 1000;
    while (Date.now() < end) {
      await sleep(Math.min(15_000, Math.max(1000, end - Date.now())));
      const m = await mem();
      samples.push(m.used);
      peak = Math.max(peak, m.used);
    }
    const late = samples.length ? samples[samples.length - 1] : early.used;
    fig(
      'variables at peak (alarm + recording)',
      `${peak} of ${idle.total}`,
      `≤ ${Math.round(idle.total * 0.95)} (95%)`,
      peak <= idle.total * 0.95
    );
    fig(
      `growth over ${RECORD_S} s of recording`,
      `${late - early.used} variables (${early.used} → ${late})`,
      '≤ 20',
      late - early.used <= 20
    );
    const uncaught = /OUT OF MEMORY|Uncaught/.test(u.out());
    fig('no memory error or uncaught exception on the interpreter', uncaught ? 'FOUND' : 'none', 'none', !uncaught);
    if (uncaught) {
      const out = u.out();
      const at = Math.max(0, out.search(/OUT OF MEMORY|Uncaught/) - 1500);
      console.log('--- interpreter output around the first error ---\n' + out.slice(at, at + 3000));
    }
    u.key('q');
    await sleep(300);
  } finally {
    // The interpreter takes SIGTERM as an interrupt and may run on: make sure none is left behind.
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await p.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * RAM on the Espruino WiFi image itself, with the board's default configuration (issue #17's
 * budget): the whole board check of `npm run test:espruino` (tools/espruino-wifi.ts, ~7 minutes)
 * run quietly, its figures net of the harness. Needs ESPRUINO_BIN and the Espruino sources it was
 * built from (ESPRUINO_SRC, default the binary's tree).
 */
async function wifiImage(): Promise<void> {
  const bin = process.env.ESPRUINO_BIN;
  if (!bin) {
    console.log('\nEspruino WiFi image figures skipped: set ESPRUINO_BIN to an Espruino built for Linux');
    return;
  }
  console.log('\nThe Espruino WiFi image on the interpreter (its whole board check, default config):');
  const { runWifiBoard } = await import('./espruino-wifi');
  let checks = 0;
  const failed: string[] = [];
  const f = await runWifiBoard(
    bin,
    (name, ok) => {
      checks++;
      if (!ok) failed.push(name);
    },
    () => undefined
  );
  fig(
    'Espruino WiFi image: variables in use at idle (default config, 4 s pre-trigger on the card)',
    f.idleUsed === undefined ? 'not measured' : `${f.idleUsed} of 8190`,
    '≤ 5700 (70%)',
    f.idleUsed !== undefined && f.idleUsed <= 5700
  );
  fig(
    'Espruino WiFi image: lowest free at the worst moment (alarm on both paths, recording, upload, installer request)',
    f.worstFree === undefined ? 'not measured' : `${f.worstFree} free${f.worstAt ? ` (at ${f.worstAt})` : ''}`,
    '≥ 1200',
    f.worstFree !== undefined && f.worstFree >= 1200
  );
  fig(
    'Espruino WiFi image: out of memory anywhere',
    f.outOfMemory ? 'yes' : f.outOfMemory === false ? 'none' : 'not measured',
    'none',
    f.outOfMemory === false
  );
  fig(
    'Espruino WiFi image: board checks passed',
    `${checks - failed.length} of ${checks}${failed.length ? ` (failed: ${failed.join('; ')})` : ''}`,
    'all',
    checks > 0 && failed.length === 0
  );
}

/**
 * `--only floor`: the audio path's floor (tools/audio-floor.js) on the interpreter, the native
 * calls and copies of a sealed chunk with almost no logic, in today's record format and in the
 * leanest the issue's crypto allows, on an empty heap and on heaps used as the unit's are (idle
 * ~5,500 variables, a recording's worst moment ~6,800). Not a budget of the firmware: a bound on
 * what any firmware could reach (issue #16, docs/footprint.md "The floor").
 */
async function floor(): Promise<void> {
  const bin = process.env.ESPRUINO_BIN;
  if (!bin) {
    console.log('\nAudio floor skipped: set ESPRUINO_BIN to an Espruino built for Linux');
    return;
  }
  console.log('\nThe audio path floor on the interpreter (native calls only, 40 sealed chunks; tools/audio-floor.js)');
  const script = fs.readFileSync(path.join(__dirname, 'audio-floor.js'), 'utf8');
  // The heap empty; used as the unit's LINUX profile idles (~5,500 variables) in one run; and as
  // much used with 150 small holes (2.5 variables in use per small array, half of them freed).
  const heaps = [
    { hold: 0, frag: 0, what: 'empty' },
    { hold: 3650, frag: 0, what: 'used, not fragmented' },
    { hold: 2900, frag: 300, what: 'used, 150 holes' }
  ];
  for (const format of ['today', 'lean']) {
    for (const heap of heaps) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-floor-'));
      try {
        fs.writeFileSync(
          path.join(dir, 'floor.js'),
          `var FORMAT = '${format}', HOLD = ${heap.hold}, FRAG = ${heap.frag};\n` + script
        );
        const out = await new Promise<string>((resolve) => {
          const child = spawn(bin, ['floor.js'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
          let o = '';
          child.stdout.on('data', (d) => (o += d.toString('latin1')));
          const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
          child.on('close', () => {
            clearTimeout(timer);
            resolve(o);
          });
        });
        const m = out.match(/FLOOR (\w+) (\d+) ([\d.]+) ([\d.]+) (\d+) (\d+)/);
        if (!m) {
          fig(`floor, ${format} format, heap ${heap.what}`, 'no result (the script failed or ran out of memory)');
          continue;
        }
        const [used, per, loop, refused] = [Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])];
        fig(
          `floor, ${format} format, heap ${heap.what} (${used} variables in use)`,
          `${per.toFixed(3)} ms a block = 1/${(loop / per).toFixed(1)} of the loop (${loop.toFixed(2)} ms)${refused ? `, ${refused} AES results refused` : ''}; the firmware's budget is 1/20`
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}

async function main(): Promise<number> {
  const t0 = Date.now();
  console.log('npm run bench: figures beside budgets');
  // --only latency,failover,bytes,footprint,interpreter,wifi,floor: just those sections.
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : undefined;
  const want = (name: string) => !only || only.includes(name);
  if (want('latency')) await latency();
  if (want('failover')) await failover('refuses');
  if (want('failover')) await failover('silent');
  if (want('bytes')) await bytesOnAir();
  if (want('bytes')) await evidenceOverCellular();
  if (want('wear')) await wear();
  if (want('footprint')) footprint();
  if (want('interpreter')) await interpreter();
  if (want('wifi')) await wifiImage();
  if (want('floor')) await floor();
  const judged = figures.filter((f) => f.ok !== undefined);
  const missed = judged.filter((f) => !f.ok);
  console.log(
    `\n${judged.length - missed.length} within budget, ${missed.length} missed${missed.length ? ': ' + missed.map((f) => f.name).join('; ') : ''} (${((Date.now() - t0) / 1000).toFixed(0)} s)`
  );
  const mdAt = args.indexOf('--markdown');
  if (mdAt >= 0) writeMarkdown(args[mdAt + 1] || 'docs/bench-last.md', judged.length - missed.length, missed.length);
  return missed.length ? 1 : 0;
}

/**
 * `--markdown FILE` (default docs/bench-last.md): the run's figures as a table, so the README
 * points to a file a command wrote instead of figures copied by hand (issue #19). No machine path
 * goes into it.
 */
function writeMarkdown(file: string, within: number, missed: number): void {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const shown = args.filter((a, i) => a !== '--markdown' && args[i - 1] !== '--markdown');
  const lines = [
    '# The last `npm run bench` run',
    '',
    `Written by \`npm run bench -- ${[...shown, '--markdown', file].join(' ')}\` on ${new Date().toISOString().slice(0, 16)}Z:`,
    `Node ${process.version}, ${os.cpus().length} cores; interpreter figures ${process.env.ESPRUINO_BIN ? 'from the interpreter ESPRUINO_BIN named (the README says which build)' : 'not taken (no ESPRUINO_BIN)'}.`,
    `${within} within budget, ${missed} missed.`,
    '',
    '| figure | measured | budget | verdict |',
    '| --- | --- | --- | --- |',
    ...figures.map(
      (f) =>
        `| ${cell(f.name)} | ${cell(f.value)} | ${f.budget === '-' ? '' : cell(f.budget)} | ${f.ok === undefined ? '' : f.ok ? 'ok' : '**MISS**'} |`
    ),
    ''
  ];
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, lines.join('\n'));
  console.log(`figures written to ${file}`);
}

main().then(
  (c) => process.exit(c),
  (e) => {
    console.error(e);
    process.exit(2);
  }
);
