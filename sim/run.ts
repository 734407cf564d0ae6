/**
 * `npm start`: the simulated unit on its embedded default configuration, reporting to a simulated
 * monitoring centre (a primary receiver on TCP over Wi-Fi, a secondary on UDP over cellular), a
 * simulated evidence server (plain TCP on 127.0.0.1: every chunk sealed at capture, every reply
 * authenticated, docs/evidence.md), a scripted scenario, and a readable log of what crossed the
 * links. The recording the first alarm starts is uploaded as it is made, over cellular once Wi-Fi
 * is cut, stopped by the centre, and checked with the independent verifier at the end.
 *
 * Options:
 *   --hold MS        how long the scripted press is held (default 2000)
 *   --tap MS         a short tap first, which must do nothing (default 300)
 *   --seconds S      how long to run (default 18)
 *   --evidence DIR   where the evidence server keeps recordings (default: a new temporary folder)
 *   --sia            report SIA-DCS instead of ADM-CID
 *   --receiver URL   use an external primary receiver instead, e.g. tcp://192.0.2.10:5000
 *   --account A  --key K  [--key-format hex|ascii]  [--line L]  [--rcvr R]   for that receiver
 *   --receiver2 URL  --account2 A  --key2 K  [--key-format2 …] [--line2 L] [--rcvr2 R]  secondary
 *   --plain          lab only: no keys, unencrypted frames (the unit warns loudly)
 *   --profile P      the simulated receivers behave as receivers in the field do: one or more of
 *                    sim/centre.ts RECEIVER_QUIRKS, comma-separated (default: standard);
 *                    --profile2 P for the secondary alone
 *
 * The run ends with a one-line verdict (events sent, acknowledged, refused and why) and exits 1
 * when an alarm (hold-up, duress, tamper, cancel) went unacknowledged.
 */
import { createSimUnit } from './unit';
import { generators } from './mic';
import { simDefaultConfig, SIM_KEYS } from './default-config';
import { createSimCentre, SimCentre } from './centre';
import { describe, verdict, replyTroubles } from './describe';
import type { ReceiverConfig } from '../firmware/config';
import { keyBytes } from '../firmware/config';
import { validateConfig, describeProblems } from '../firmware/config-words';
import { parseProfile, RECEIVER_QUIRKS } from './centre';
import { startEvidenceServer } from './evidence-server';
import { verifyRecordingDir, formatReport } from './evidence-verify';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const argv = process.argv.slice(2);
function opt(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) fail(`--${name} needs a value`);
  return v;
}
function num(name: string, fallback: number): number {
  const s = opt(name);
  if (s === undefined) return fallback;
  const v = Number(s);
  if (!Number.isFinite(v) || v < 0) fail(`--${name} needs a number`);
  return v;
}
function fail(msg: string): never {
  console.error(`error: ${msg}`);
  process.exit(2);
}

function external(suffix: string, path: 'wifi' | 'cellular'): ReceiverConfig | undefined {
  const url = opt(`receiver${suffix}`);
  if (url === undefined) return undefined;
  const m = /^(tcp|udp):\/\/([A-Za-z0-9.-]+):(\d+)$/.exec(url);
  if (!m) fail(`--receiver${suffix} must look like tcp://HOST:PORT or udp://HOST:PORT`);
  const r: ReceiverConfig = {
    path,
    host: m[2],
    port: Number(m[3]),
    transport: m[1] as 'tcp' | 'udp',
    line: opt(`line${suffix}`) ?? '0'
  };
  const acct = opt(`account${suffix}`);
  if (acct) r.account = acct;
  const rcvr = opt(`rcvr${suffix}`);
  if (rcvr) r.receiver = rcvr;
  const key = opt(`key${suffix}`);
  if (key) r.key = key;
  const fmt = opt(`key-format${suffix}`);
  if (fmt) r.keyFormat = fmt as 'hex' | 'ascii';
  return r;
}

/** A frame as it crossed the link: envelope readable, encrypted payload only counted. */
function showFrame(f: string): string {
  const t = f.replace(/^\n/, '').replace(/\r$/, '');
  const open = t.indexOf('[');
  if (t.includes('"*') && open > 0) return `${t.slice(0, open + 1)}<${t.length - open - 1} hex chars encrypted>`;
  return t;
}

/** The key as the unit uses it: its AES size and how its text was read (never the key). */
function keySize(r: ReceiverConfig): string {
  if (!r.key) return 'UNENCRYPTED';
  const kb = keyBytes(r.key, r.keyFormat);
  if (typeof kb !== 'string') return `key refused: ${kb.error}`;
  const hex = kb.length * 2 === r.key.length;
  return `AES-${kb.length * 8} (${hex ? `${r.key.length} hex digits` : `${r.key.length} ASCII characters`} = ${kb.length} bytes)`;
}

async function main(): Promise<void> {
  const hold = num('hold', 2000);
  const tap = num('tap', 300);
  const seconds = num('seconds', 18);
  const t0 = Date.now();
  const stamp = () => `+${((Date.now() - t0) / 1000).toFixed(3)}s`.padEnd(9);

  const centres: SimCentre[] = [];
  const config = simDefaultConfig();
  const primary = external('', 'wifi');
  const secondary = external('2', 'cellular');
  if (primary) {
    config.report.receivers = secondary ? [primary, secondary] : [primary];
  } else {
    const profile = opt('profile');
    const profiles = { primary: profile, secondary: opt('profile2') ?? profile };
    for (const p of [profiles.primary, profiles.secondary]) {
      try {
        parseProfile(p);
      } catch (e) {
        fail((e as Error).message);
      }
    }
    for (const [name, key, fmt] of [
      ['primary', SIM_KEYS.primary, 'hex'],
      ['secondary', SIM_KEYS.secondary, 'ascii']
    ] as const) {
      const c = await createSimCentre({
        accounts: [{ account: config.account, key, keyFormat: fmt }],
        profile: profiles[name]
      });
      for (const q of parseProfile(profiles[name])) console.log(`  simulated ${name} receiver: ${RECEIVER_QUIRKS[q]}`);
      c.onEvent((e) => console.log(`${stamp()} centre (${name}) <- ${describe(e)} -> ${e.reply}`));
      centres.push(c);
    }
    config.report.receivers = simDefaultConfig({
      primary: { port: centres[0].tcpPort, transport: 'tcp' },
      secondary: { port: centres[1].udpPort, transport: 'udp' }
    }).report.receivers;
  }
  if (argv.includes('--sia')) config.report.format = 'sia';
  if (argv.includes('--plain')) {
    config.report.labUnencrypted = true;
    for (const r of config.report.receivers) delete r.key;
    for (const c of centres) await c.close();
    if (centres.length) fail('--plain needs external receivers (the simulated centre runs encrypted accounts)');
  }
  const evidenceDir = opt('evidence') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'panic-alarm-evidence-'));
  fs.mkdirSync(evidenceDir, { recursive: true });
  const evidence = await startEvidenceServer({ root: evidenceDir, keys: { [config.unitId]: SIM_KEYS.evidence } });
  evidence.onUpload((u, rid, have) =>
    console.log(`${stamp()} evidence server <- recording ${u}-${rid}: ${have} chunks held, chain checked`)
  );
  config.evidence = simDefaultConfig(undefined, { port: evidence.port }).evidence;
  const problems = validateConfig(config);
  if (problems.length) fail(`configuration refused: ${describeProblems(problems)}`);

  console.log(
    `simulated unit ${config.unitId}, account ${config.account}, hold time ${config.holdMs} ms, format ${config.report.format === 'sia' ? 'SIA-DCS' : 'ADM-CID'}`
  );
  for (const [i, r] of config.report.receivers.entries()) {
    console.log(
      `  ${i === 0 ? 'primary  ' : 'secondary'} ${r.transport}://${r.host}:${r.port} over ${r.path}, ${keySize(r)}`
    );
  }

  console.log(
    `  evidence  tcp://127.0.0.1:${evidence.port} (chunks sealed at capture, replies authenticated), recordings kept in ${evidenceDir}`
  );

  const unit = createSimUnit(config, { echoLog: '' });
  const { world } = unit.sim;
  world.mic.source(generators.tone(440, config.audio.rate));
  const wifi = world.paths.wifi!;
  for (const p of [wifi, world.paths.cellular!]) {
    p.tap((dir, data) => {
      const arrow = dir === 'out' ? 'unit ->' : 'unit <-';
      // Evidence traffic: one line per request and reply (sealed audio is never shown).
      const ev = /^(EVD1 \S+ (\S+) \S+ \d+ (\d+))|^(EVR1 \d+)/.exec(data);
      if (ev) {
        console.log(
          `${stamp()} ${p.name.padEnd(8)} ${arrow} ${ev[1] ? `evidence request: recording ${ev[2]}, ${ev[3]} sealed chunk(s)` : 'evidence reply (MAC under the unit key)'}`
        );
        return;
      }
      for (const f of data.split('\r').filter((x) => /^\n?[0-9A-Fa-f]{4}0[0-9A-Fa-f]{3}"/.test(x))) {
        console.log(`${stamp()} ${p.name.padEnd(8)} ${arrow} ${showFrame(f)}`);
      }
    });
  }

  let ledWas = false;
  const ledPoll = setInterval(() => {
    if (world.led.level !== ledWas) {
      ledWas = world.led.level;
      console.log(`${stamp()} indicator ${ledWas ? 'ON' : 'off'}`);
    }
  }, 10);

  const at = (s: number, what: string, fn: () => void) =>
    setTimeout(() => {
      console.log(`${stamp()} script: ${what}`);
      fn();
    }, s * 1000);
  at(0.5, `short tap of ${tap} ms (must not raise an alarm)`, () => world.button.press(tap));
  at(1.5, `press and hold for ${hold} ms`, () => world.button.press(hold));
  at(6, 'Wi-Fi goes down (primary path cut)', () => wifi.cut());
  at(7, `press and hold again for ${hold} ms: reported again, over the secondary`, () => world.button.press(hold));
  at(11, 'Wi-Fi back', () => wifi.restore());
  at(13, "the centre's operator stops the recording (authenticated command in the next upload reply)", () =>
    evidence.requestStop(config.unitId, unit.app.recorder.states()[0]?.r ?? '0001')
  );

  setTimeout(async () => {
    clearInterval(ledPoll);
    const recs = unit.app.journal.records();
    console.log(`${stamp()} journal (${recs.length} records):`);
    for (const r of recs) {
      const { i, k, u, t, ...rest } = r;
      console.log(`  #${String(i).padEnd(3)} ${k.padEnd(8)} ${new Date(t).toISOString()} ${JSON.stringify(rest)}`);
    }
    const s = unit.app.status();
    console.log(
      `status: mode=${s.mode} triggers=${s.triggers} pending=${s.pending} faults=${s.faults} routes=${s.routes.map((r) => `${r.path}:${r.ok ? 'ok' : 'FAILED'}`).join(',')}`
    );
    for (const [i, c] of centres.entries()) {
      console.log(
        `centre ${i === 0 ? 'primary' : 'secondary'}: ${c.alarms().length} events acknowledged, ${c.events().filter((e) => e.id === 'NULL').length} link tests, ${c.rejected().length} rejected`
      );
    }
    const rs = unit.app.recorder.status();
    console.log(
      `recorder: ${rs.recording ? 'recording ' + rs.recording : 'idle'}, ${rs.stored} recording(s) not yet fully uploaded, ${rs.droppedBlocks} blocks dropped, ${rs.overruns} overruns`
    );
    const up = unit.app.uploader?.status();
    if (up)
      console.log(
        `uploader: ${up.sent} chunks confirmed by the server, ${up.cellularBytes} evidence bytes over cellular, ${up.failures} failed request(s)`
      );
    unit.shutdown();
    for (const c of centres) await c.close();
    await evidence.close();
    for (const rec of evidence.recordings()) {
      console.log(formatReport(verifyRecordingDir(rec.dir, SIM_KEYS.evidence)));
    }
    const keysFile = path.join(evidenceDir, 'keys.json');
    fs.writeFileSync(keysFile, JSON.stringify({ [config.unitId]: SIM_KEYS.evidence }));
    console.log(`check it yourself: npm run evidence:verify -- ${evidenceDir} --keys ${keysFile}`);
    const why = replyTroubles(world.log.map((l) => l.message));
    const v = verdict(recs, why);
    console.log(v.line);
    process.exitCode = v.alarmsMissed ? 1 : 0;
  }, seconds * 1000);
}

main().catch((e) => {
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
