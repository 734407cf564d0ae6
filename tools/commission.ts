/**
 * `npm run commission -- --port PORT --config unit.json` (or `--sim`): flash if needed, write the
 * config, run the self-test step by step, write the signed commissioning report (JSON + HTML) and
 * lock the unit's console with the installer password. docs/installer.md has the whole procedure.
 *
 * Options:
 *   --port PORT            the unit's serial port (or tcp://HOST:PORT), through the espruino tools
 *   --sim                  a simulated unit fresh from the factory, with a simulated centre and
 *                          evidence server; the tool plays the installer's hands (press, look)
 *   --config FILE          the unit's config (JSON); with --sim, default: the simulator's own
 *   --installer ID         installer id for the report (or env INSTALLER_ID)
 *   --password-file FILE   installer password (or env INSTALLER_PASSWORD); never on the command line
 *   --out DIR              where reports go (default: commissioning/)
 *   --unlock               only unlock the console (for maintenance) and show the unit's info
 *   --verify FILE --key HEX   check a report's signature with the unit's evidence key
 *
 * Exit status: 0 commissioned and every step passed; 1 a step failed (the report says which);
 * 2 nothing done (bad arguments, config refused, unit unreachable).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline/promises';
import type { Config } from '../firmware/config';
import { validateConfig } from '../firmware/config-words';
import { configSummary } from '../firmware/installer';
import { Session, Reply, explain, simTransport, serialTransport } from './installer-link';
import type { SimSite } from '../sim/site';

/** The installer's hands and eyes, and the way to the unit. */
export interface Site {
  /** Open (or reopen, after a flash) the console session. */
  connect(): Promise<Session>;
  /** Write the firmware image for `board` (the session is closed first). */
  flash(board: string, file: string): Promise<void>;
  /** Prompt the installer to press the button briefly (sim: press it). */
  pressButton(): Promise<void>;
  /** Ask whether the indicator just showed three long blinks (sim: read the LED's history). */
  sawIndicator(): Promise<boolean>;
}

export interface StepResult {
  step: string;
  title: string;
  ok: boolean;
  figures: Record<string, unknown>;
  reason?: string;
  hint?: string;
}

export interface CommissioningReport {
  format: 'panic-alarm-commissioning/1';
  unit: string;
  account: string;
  board: string;
  firmware: { version: string; sha256: string };
  installer: string;
  date: string;
  serviceStart: string;
  serviceDays: number;
  configSha256: string;
  config: Record<string, unknown>;
  steps: StepResult[];
  result: 'PASSED' | 'FAILED';
  signature?: { alg: 'HMAC-SHA256'; key: string; signed: string; mac: string };
}

export interface CommissionOptions {
  config: Config;
  installerId: string;
  password: string;
  site: Site;
  /** Build the firmware for a board: the file the unit should run. */
  firmware(board: string): Promise<string>;
  outDir: string;
  log?: (line: string) => void;
  now?: () => Date;
}

export interface CommissionResult {
  ok: boolean;
  report?: CommissioningReport;
  files?: { json: string; html: string };
  /** Why nothing was done (config refused, unit unreachable). */
  error?: string;
}

/** Boards the tool can flash; the simulator stands in for the reference board. */
const FLASH_BOARD: Record<string, string> = { SIM: 'ESPRUINOWIFI', ESPRUINOWIFI: 'ESPRUINOWIFI', PICO: 'PICO_R1_3', PICO_R1_3: 'PICO_R1_3', MDBT42Q: 'MDBT42Q', LINUX: 'LINUX' };

/**
 * What a unit must have before it protects anyone, beyond a valid config: a real identity, two
 * encrypted paths, an evidence server.
 */
export function commissionProblems(c: Config, audioBytes?: number): { field: string; reason: string }[] {
  const problems = validateConfig(c, audioBytes);
  if (problems.length > 0) return problems;
  if (c.unitId === 'UNCOMMISSIONED') problems.push({ field: 'unitId', reason: 'must be this unit\'s own id, not the factory placeholder' });
  if (c.report.receivers.length !== 2) problems.push({ field: 'report.receivers', reason: 'must name a primary and a secondary receiver (dual path)' });
  else if (c.report.receivers[0].path === c.report.receivers[1].path) problems.push({ field: 'report.receivers', reason: 'primary and secondary must use different paths (wifi, cellular)' });
  if (c.report.labUnencrypted) problems.push({ field: 'report.labUnencrypted', reason: 'must be false on a unit in a home' });
  if (!c.evidence) problems.push({ field: 'evidence', reason: 'is required: without it recordings never leave the unit' });
  return problems;
}

function sha256(data: string | Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** The text the unit's MAC covers: the report without its signature, as written. */
export function reportDigest(r: CommissioningReport): string {
  const body: Partial<CommissioningReport> = { ...r };
  delete body.signature;
  return sha256(JSON.stringify(body));
}

/** Check a report's signature with the unit's evidence key (64 hex digits). */
export function verifyReport(r: CommissioningReport, keyHex: string): { ok: boolean; why?: string } {
  if (!r.signature) return { ok: false, why: 'the report is not signed' };
  const signed = `commissioning-report:${r.unit}:${reportDigest(r)}`;
  if (r.signature.signed !== signed) return { ok: false, why: 'the report was changed after signing (digest differs)' };
  const mac = crypto.createHmac('sha256', Buffer.from(keyHex, 'hex')).update(signed).digest('hex');
  if (!crypto.timingSafeEqual(Buffer.from(mac, 'hex'), Buffer.from(r.signature.mac, 'hex'))) return { ok: false, why: 'the MAC does not match this unit\'s key' };
  return { ok: true };
}

function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

type PathFigures = { path: string; up: boolean; signal: number; rssiDbm?: number };

function figuresText(f: Record<string, unknown>): string {
  return Object.entries(f)
    .filter(([k]) => k !== 'id' && k !== 'ok' && k !== 'error' && k !== 'waitedMs')
    .map(([k, v]) =>
      k === 'paths'
        ? (v as PathFigures[]).map((p) => `${p.path} ${p.up ? 'up' : 'DOWN'}, signal ${p.signal}%${p.rssiDbm !== undefined ? ` (${p.rssiDbm} dBm)` : ''}`).join('; ')
        : `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`
    )
    .join(', ');
}

export function reportHtml(r: CommissioningReport): string {
  const rows = r.steps
    .map(
      (s) =>
        `<tr><th scope="row">${esc(s.title)}</th><td class="${s.ok ? 'pass' : 'fail'}">${s.ok ? 'PASS' : 'FAIL'}</td>` +
        `<td>${esc(figuresText(s.figures))}</td><td>${s.ok ? '' : `${esc(s.reason)}<br><strong>What to do:</strong> ${esc(s.hint)}`}</td></tr>`
    )
    .join('\n');
  const cfg = esc(JSON.stringify(r.config, null, 2));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Commissioning report ${esc(r.unit)}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em}table{border-collapse:collapse;width:100%}
th,td{border:1px solid #999;padding:.3em .5em;text-align:left;vertical-align:top}.pass{color:#060;font-weight:bold}.fail{color:#a00;font-weight:bold}
pre{background:#f4f4f4;padding:.5em;overflow:auto}</style></head><body>
<h1>Commissioning report: unit ${esc(r.unit)}: <span class="${r.result === 'PASSED' ? 'pass' : 'fail'}">${esc(r.result)}</span></h1>
<dl><dt>Account</dt><dd>${esc(r.account)}</dd><dt>Board</dt><dd>${esc(r.board)}</dd>
<dt>Firmware</dt><dd>${esc(r.firmware.version)} (SHA-256 ${esc(r.firmware.sha256)})</dd>
<dt>Installer</dt><dd>${esc(r.installer)}</dd><dt>Date</dt><dd>${esc(r.date)}</dd>
<dt>Service period</dt><dd>${esc(r.serviceDays)} days from ${esc(r.serviceStart)}</dd>
<dt>Config SHA-256</dt><dd>${esc(r.configSha256)}</dd></dl>
<h2>Self-test</h2>
<table><thead><tr><th scope="col">Step</th><th scope="col">Result</th><th scope="col">Figures</th><th scope="col">Reason</th></tr></thead><tbody>
${rows}
</tbody></table>
<h2>Configuration (secrets removed)</h2><pre>${cfg}</pre>
<h2>Signature</h2><p>${r.signature ? `HMAC-SHA256 with the unit's evidence key over <code>${esc(r.signature.signed)}</code>: <code>${esc(r.signature.mac)}</code>. The JSON report is the signed original; check it with <code>npm run commission -- --verify FILE --key KEY</code>.` : 'Not signed.'}</p>
</body></html>
`;
}

const STEPS: { step: string; title: string; args?: Record<string, unknown>; timeoutMs: number }[] = [
  { step: 'button', title: 'Panic button', timeoutMs: 40000 },
  { step: 'indicator', title: 'Indicator', timeoutMs: 10000 },
  { step: 'mic', title: 'Microphone level', args: { ms: 2000 }, timeoutMs: 10000 },
  { step: 'paths', title: 'Paths up and signal', timeoutMs: 10000 },
  { step: 'report', title: 'Manual test report (601), primary path', args: { route: 0 }, timeoutMs: 70000 },
  { step: 'report', title: 'Manual test report (601), secondary path', args: { route: 1 }, timeoutMs: 70000 },
  { step: 'power', title: 'Mains and battery', timeoutMs: 10000 },
  { step: 'storage', title: 'Storage free', timeoutMs: 10000 },
  { step: 'clock', title: 'Clock set from the centre', timeoutMs: 10000 }
];

function figuresOf(r: Reply): Record<string, unknown> {
  const f: Record<string, unknown> = { ...r };
  delete f.id;
  delete f.ok;
  delete f.error;
  return f;
}

export async function commission(o: CommissionOptions): Promise<CommissionResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const now = o.now ?? (() => new Date());
  const cfg: Config = JSON.parse(JSON.stringify(o.config));
  if (cfg.service.start === '') cfg.service.start = now().toISOString().slice(0, 10);
  const total = 5 + STEPS.length;
  let n = 0;
  const line = (title: string, text: string) => log(`[${String(++n).padStart(2)}/${total}] ${title.padEnd(42, '.')} ${text}`);

  const problems = commissionProblems(cfg);
  if (problems.length > 0) {
    log('config refused, nothing sent to the unit:');
    for (const p of problems) log(`  - ${p.field}: ${p.reason}`);
    return { ok: false, error: 'config refused' };
  }
  log(`commissioning unit ${cfg.unitId} (account ${cfg.account}) for installer ${o.installerId}`);

  let session = await o.site.connect();
  let info = await session.request('info', {}, { timeoutMs: 3000 });
  if (!info.ok && info.error === 'no-answer') {
    if (await session.unlock(o.password)) info = await session.request('info');
  }
  if (!info.ok) {
    const e = explain(info);
    line('Connect', `FAIL ${e.reason}. ${e.hint}`);
    await session.close();
    return { ok: false, error: e.reason };
  }
  line('Connect', `ok: board ${info.board}, firmware ${info.fw}, ${info.commissioned ? `commissioned as ${info.unit}` : 'not commissioned'}`);

  // Firmware: flash when the unit runs anything other than this build.
  const board = FLASH_BOARD[String(info.board)];
  if (!board) {
    line('Firmware', `FAIL no firmware build for board ${String(info.board)}`);
    await session.close();
    return { ok: false, error: 'unknown board' };
  }
  const file = await o.firmware(board);
  const want = sha256(fs.readFileSync(file));
  if (info.fwHash !== want) {
    await session.close();
    await o.site.flash(board, file);
    session = await o.site.connect();
    info = await session.waitForUnit(30000, o.password);
    if (!info.ok || info.fwHash !== want) {
      line('Firmware', `FAIL flashed, but the unit reports ${info.ok ? `image ${String(info.fwHash).slice(0, 16)}…` : 'nothing'}; expected ${want.slice(0, 16)}…`);
      await session.close();
      return { ok: false, error: 'flash not verified' };
    }
    line('Firmware', `flashed ${board} ${info.fw}, image SHA-256 ${want.slice(0, 16)}… verified`);
  } else line('Firmware', `already ${info.fw}, image SHA-256 ${want.slice(0, 16)}…`);

  // Config: the unit validates it again, stores it atomically and restarts on it.
  const put = await session.request('config', { config: cfg }, { timeoutMs: 10000 });
  if (!put.ok) {
    const e = explain(put);
    line('Config', `FAIL ${e.reason}`);
    log(`        ${e.hint}`);
    await session.close();
    return { ok: false, error: e.reason };
  }
  await new Promise((r) => setTimeout(r, 500));
  info = await session.waitForUnit(30000, o.password);
  const summary = configSummary(cfg);
  const sent = sha256(JSON.stringify(cfg));
  if (!info.ok || info.configSha256 !== sent || put.configSha256 !== sent || info.unit !== cfg.unitId) {
    line('Config', 'FAIL the unit restarted but does not report the config sent');
    await session.close();
    return { ok: false, error: 'config not verified' };
  }
  line('Config', `stored, verified after restart (SHA-256 ${String(put.configSha256).slice(0, 16)}…)`);

  const steps: StepResult[] = [];
  for (const s of STEPS) {
    const reqP = session.request('test', { step: s.step, ...(s.args ?? {}) }, { timeoutMs: s.timeoutMs, progress: (p) => log(`        … ${p}`) });
    if (s.step === 'button') await o.site.pressButton();
    let r = await reqP;
    if (s.step === 'indicator' && r.ok && !(await o.site.sawIndicator())) {
      r = { ...r, ok: false, error: 'indicator-unseen' };
    }
    const res: StepResult = { step: s.step, title: s.title, ok: r.ok, figures: figuresOf(r) };
    if (!r.ok) {
      const e = r.error === 'indicator-unseen' ? { reason: 'the installer did not see three long blinks', hint: 'check the LED and its wiring; a unit without a working indicator cannot confirm alarms' } : explain(r);
      res.reason = e.reason;
      res.hint = e.hint;
    }
    steps.push(res);
    line(s.title, res.ok ? `PASS ${figuresText(res.figures)}` : `FAIL ${res.reason}`);
    if (!res.ok) log(`        what to do: ${res.hint}`);
  }

  const report: CommissioningReport = {
    format: 'panic-alarm-commissioning/1',
    unit: cfg.unitId,
    account: cfg.account,
    board: String(info.board),
    firmware: { version: String(info.fw), sha256: String(info.fwHash) },
    installer: o.installerId,
    date: now().toISOString(),
    serviceStart: cfg.service.start,
    serviceDays: cfg.service.days,
    configSha256: String(put.configSha256),
    config: summary,
    steps,
    result: steps.every((s) => s.ok) ? 'PASSED' : 'FAILED'
  };
  const digest = reportDigest(report);
  const signed = await session.request('sign', { digest });
  if (signed.ok) {
    report.signature = { alg: 'HMAC-SHA256', key: `evidence key of unit ${cfg.unitId}`, signed: `commissioning-report:${cfg.unitId}:${digest}`, mac: String(signed.mac) };
  }
  fs.mkdirSync(o.outDir, { recursive: true });
  const base = path.join(o.outDir, `${cfg.unitId}-${report.date.replace(/[-:]/g, '').replace(/\..*$/, '')}`);
  const files = { json: `${base}.json`, html: `${base}.html` };
  fs.writeFileSync(files.json, JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(files.html, reportHtml(report));
  line('Report', signed.ok ? `signed by the unit, written to ${files.json} and .html` : `NOT signed (${explain(signed).reason}), written to ${files.json}`);

  const locked = await session.request('lock', { password: o.password });
  const stillOpen = locked.ok ? (await session.request('info', {}, { timeoutMs: 1500 })).ok : true;
  line('Console lock', locked.ok && !stillOpen ? 'locked with the installer password' : `FAIL ${locked.ok ? 'the console still answers' : explain(locked).reason}`);
  await session.close();
  log(`result: ${report.result}${report.result === 'PASSED' ? '' : ` (${steps.filter((s) => !s.ok).length} step(s) failed: the unit is NOT ready to protect anyone)`}`);
  return { ok: report.result === 'PASSED' && locked.ok && !stillOpen && signed.ok, report, files };
}

/** The simulated site as the installer's hands: it presses the button and watches the LED. */
export function simSiteActions(site: SimSite): Site {
  const world = site.unit.sim.world;
  let ledFrom = 0;
  return {
    connect: async () => new Session(simTransport(world.console)),
    flash: async (_board, file) => {
      world.image = new Uint8Array(fs.readFileSync(file));
      site.unit.powerCut();
    },
    pressButton: async () => {
      ledFrom = world.led.history.length;
      await new Promise((r) => setTimeout(r, 50));
      world.button.press(300);
    },
    sawIndicator: async () => {
      const h = world.led.history.slice(ledFrom);
      const ons = h.filter((e, i) => e.on && h[i + 1] && !h[i + 1].on && h[i + 1].at - e.at >= 300);
      ledFrom = world.led.history.length;
      return ons.length >= 3;
    }
  };
}

/** A board on a port: the installer presses and looks; flashing goes through the espruino tools. */
export function portSiteActions(port: string): Site {
  const ask = async (q: string) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
    try {
      return (await rl.question(q)).trim().toLowerCase();
    } finally {
      rl.close();
    }
  };
  return {
    connect: async () => new Session(await serialTransport(port)),
    flash: async (board, file) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const build = require('../build.js');
      build.flash(board, file, port);
    },
    pressButton: async () => {
      console.log('        >>> press the panic button briefly (less than the hold time) <<<');
    },
    sawIndicator: async () => (await ask('        did the indicator blink three times, slowly? [y/n] ')) === 'y'
  };
}

export async function buildFirmware(board: string): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const build = require('../build.js');
  const r = await build.buildBoard(board, { quiet: true });
  return r.image as string;
}

function readPassword(args: string[], sim: boolean): string {
  const i = args.indexOf('--password-file');
  if (i >= 0) return fs.readFileSync(args[i + 1], 'utf8').trim();
  if (process.env.INSTALLER_PASSWORD) return process.env.INSTALLER_PASSWORD;
  if (sim) return 'sim-installer-pw';
  throw new Error('give the installer password in INSTALLER_PASSWORD or --password-file FILE (never on the command line)');
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const verify = opt('verify');
  if (verify) {
    const key = opt('key');
    if (!key || !/^[0-9a-fA-F]{64}$/.test(key)) throw new Error('--verify needs --key with the unit\'s 64-hex-digit evidence key');
    const v = verifyReport(JSON.parse(fs.readFileSync(verify, 'utf8')), key);
    console.log(v.ok ? `${verify}: signature valid` : `${verify}: NOT VALID: ${v.why}`);
    return v.ok ? 0 : 1;
  }
  const sim = args.includes('--sim');
  const port = opt('port');
  if (!sim && !port) throw new Error('give --port PORT (or --sim)');
  const password = readPassword(args, sim);
  const installerId = opt('installer') ?? process.env.INSTALLER_ID ?? (sim ? 'SIM-INSTALLER' : undefined);
  if (!installerId) throw new Error('give --installer ID (or INSTALLER_ID)');
  const outDir = opt('out') ?? 'commissioning';
  let siteSim: SimSite | undefined;
  let site: Site;
  let config: Config;
  if (sim) {
    const { createSimSite } = await import('../sim/site');
    siteSim = await createSimSite();
    site = simSiteActions(siteSim);
    const f = opt('config');
    config = f ? JSON.parse(fs.readFileSync(f, 'utf8')) : siteSim.config;
  } else {
    const f = opt('config');
    if (!f) throw new Error('give --config unit.json');
    config = JSON.parse(fs.readFileSync(f, 'utf8'));
    site = portSiteActions(port!);
  }
  try {
    if (args.includes('--unlock')) {
      const s = await site.connect();
      const ok = (await s.request('info', {}, { timeoutMs: 2000 })).ok || (await s.unlock(password));
      console.log(ok ? 'console unlocked (it locks again at the next restart, or with a commissioning run)' : 'unlock failed: wrong password or no unit');
      await s.close();
      return ok ? 0 : 2;
    }
    const r = await commission({ config, installerId, password, site, firmware: buildFirmware, outDir });
    if (r.error) return 2;
    return r.ok ? 0 : 1;
  } finally {
    if (siteSim) await siteSim.close();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(`commission: ${(e as Error).message}`);
      process.exit(2);
    }
  );
}
