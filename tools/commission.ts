/**
 * `npm run commission -- --port PORT --config unit.json` (or `--sim`): flash if needed, write the
 * config, run the self-test step by step, write the signed commissioning report (JSON + HTML) and
 * lock the unit's console with the installer password. docs/installer.md has the whole procedure.
 *
 * Options:
 *   --port PORT            the unit's serial port (or tcp://HOST:PORT), through the espruino tools
 *   --sim                  a simulated unit fresh from the factory, with a simulated centre and
 *                          evidence server; the tool plays the installer's hands (press, look)
 *   --config FILE          the unit's config (JSON, e.g. from examples/unit.json); with --sim,
 *                          default: the simulator's own
 *   --installer ID         installer id for the report (or env INSTALLER_ID)
 *   --password-file FILE   installer password (or env INSTALLER_PASSWORD); never on the command line
 *   --out DIR              where reports go (default: commissioning/); checked before the unit is touched
 *   --unlock               only unlock the console (for maintenance) and show the unit's info
 *   --verify FILE --key HEX   check a report's signature with the unit's evidence key
 *   --check FILE           check a config without any unit: exit 0 when it would be taken, 1 if not
 *
 * Every option that takes a value needs one: a missing value is an error, never a default.
 *
 * Exit status: 0 commissioned and every step passed; 1 a step failed (the report says which);
 * 2 nothing done (bad arguments, config refused, report folder unusable, unit unreachable).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline/promises';
import type { Config } from '../firmware/config';
import { validateConfig } from '../firmware/config-words';
import { configSummary, passwordOk } from '../firmware/installer';
import {
  Session,
  Reply,
  explain,
  simTransport,
  serialTransport,
  parseOptions,
  readJsonFile,
  fsWords
} from './installer-link';
import type { SimSite } from '../sim/site';
import { CODE_HEAD, codeLength } from '../hal/code-image';

/** The installer module image the build writes beside the firmware (build.js buildModule). */
export const MODULE_IMG = path.join(__dirname, '..', 'dist', 'installer-module.img');

/** SHA-256 (hex) of a module image's text, as the boot image that belongs to it expects. */
export function moduleSha(img: Uint8Array): string {
  const head = Buffer.from(img.subarray(0, CODE_HEAD)).toString('latin1');
  const n = codeLength(head, img.length);
  if (n <= 0) throw new Error('not an installer module image');
  return crypto
    .createHash('sha256')
    .update(img.subarray(CODE_HEAD, CODE_HEAD + n))
    .digest('hex');
}

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
  /** The installer module image of that build (default: the build's dist/installer-module.img). */
  module?: string;
  outDir: string;
  log?: (line: string) => void;
  now?: () => Date;
}

export interface CommissionResult {
  ok: boolean;
  report?: CommissioningReport;
  files?: { json: string; html: string };
  /** Why it failed (config refused, unit unreachable, report not written...). */
  error?: string;
  /** True when it stopped before the config was written (exit status 2): the unit is as it was, or only reflashed. */
  untouched?: boolean;
}

/** How long the paths step waits for a path still coming up after the restart. */
export const PATHS_WAIT_MS = 30000;

/** Flashes of one commissioning before it gives up on an image the unit does not verify. */
export const FLASH_ATTEMPTS = 2;

/** Boards the tool can flash; the simulator stands in for the reference board. */
const FLASH_BOARD: Record<string, string> = {
  SIM: 'ESPRUINOWIFI',
  ESPRUINOWIFI: 'ESPRUINOWIFI',
  PICO: 'PICO_R1_3',
  PICO_R1_3: 'PICO_R1_3',
  MDBT42Q: 'MDBT42Q',
  LINUX: 'LINUX'
};

/**
 * What a unit must have before it protects anyone, beyond a valid config: a real identity, two
 * encrypted paths, an evidence server.
 */
export function commissionProblems(config: unknown, audioBytes?: number): { field: string; reason: string }[] {
  // The unit's own check first: it takes anything (null, [], a missing section) and names fields.
  const problems = validateConfig(config, audioBytes);
  if (problems.length > 0) return problems;
  const c = config as Config;
  if (c.unitId === 'UNCOMMISSIONED')
    problems.push({ field: 'unitId', reason: "must be this unit's own id, not the factory placeholder" });
  if (c.report.receivers.length !== 2)
    problems.push({ field: 'report.receivers', reason: 'must name a primary and a secondary receiver (dual path)' });
  else if (c.report.receivers[0].path === c.report.receivers[1].path)
    problems.push({
      field: 'report.receivers',
      reason: 'primary and secondary must use different paths (wifi, cellular)'
    });
  if (c.report.labUnencrypted)
    problems.push({ field: 'report.labUnencrypted', reason: 'must be false on a unit in a home' });
  if (!c.evidence)
    problems.push({ field: 'evidence', reason: 'is required: without it recordings never leave the unit' });
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

const HEX64 = /^[0-9a-fA-F]{64}$/;

/**
 * Check a report's signature with the unit's evidence key (64 hex digits). Anything that is not a
 * signed report of this format (any JSON at all) gives `not a valid report: …`, never an exception.
 */
export function verifyReport(report: unknown, keyHex: string): { ok: boolean; why?: string } {
  if (typeof keyHex !== 'string' || !HEX64.test(keyHex))
    return { ok: false, why: "the key must be the unit's evidence key, 64 hexadecimal digits" };
  const r = report as CommissioningReport;
  if (typeof r !== 'object' || r === null || Array.isArray(r) || r.format !== 'panic-alarm-commissioning/1') {
    return {
      ok: false,
      why: 'not a valid report: not a panic-alarm commissioning report (format panic-alarm-commissioning/1)'
    };
  }
  if (typeof r.unit !== 'string') return { ok: false, why: 'not a valid report: it names no unit' };
  if (r.signature === undefined) return { ok: false, why: 'the report is not signed' };
  const sig = r.signature as unknown as { signed?: unknown; mac?: unknown } | null;
  if (
    typeof sig !== 'object' ||
    sig === null ||
    typeof sig.signed !== 'string' ||
    typeof sig.mac !== 'string' ||
    !HEX64.test(sig.mac)
  ) {
    return { ok: false, why: 'not a valid report: its signature is not an HMAC-SHA256 (64 hexadecimal digits)' };
  }
  const signed = `commissioning-report:${r.unit}:${reportDigest(r)}`;
  if (sig.signed !== signed) return { ok: false, why: 'the report was changed after signing (digest differs)' };
  const mac = crypto.createHmac('sha256', Buffer.from(keyHex, 'hex')).update(signed).digest();
  if (!crypto.timingSafeEqual(mac, Buffer.from(sig.mac, 'hex')))
    return { ok: false, why: "the MAC does not match this unit's key" };
  return { ok: true };
}

/**
 * Make sure reports can be written to `dir` before the unit is touched: create what is missing one
 * folder at a time (Node's recursive mkdir never returns for a path under /proc), then write and
 * remove a probe file. Returns why not, in words, or undefined. Folders it made are removed again
 * when the probe fails.
 */
export function outDirProblem(dir: string): string | undefined {
  if (typeof dir !== 'string' || dir === '') return 'no report folder given';
  const abs = path.resolve(dir);
  const missing: string[] = [];
  for (let p = abs; ;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        return `the report folder ${dir} cannot be used (${fsWords(e)})`;
    }
    if (st) {
      if (!st.isDirectory())
        return p === abs
          ? `the report folder ${dir} is a file, not a folder`
          : `the report folder ${dir} cannot be made: ${p} is a file`;
      break;
    }
    missing.unshift(p);
    const up = path.dirname(p);
    if (up === p || missing.length > 32) return `the report folder ${dir} cannot be made (no existing folder above it)`;
    p = up;
  }
  const made: string[] = [];
  const undo = () => {
    for (const m of made.reverse()) {
      try {
        fs.rmdirSync(m);
      } catch {
        // left as it is
      }
    }
  };
  for (const m of missing) {
    try {
      fs.mkdirSync(m);
      made.push(m);
    } catch (e) {
      undo();
      return `the report folder ${dir} cannot be made at ${m} (${fsWords(e)})`;
    }
  }
  const probe = path.join(abs, `.probe-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    fs.writeFileSync(probe, 'probe\n', { flag: 'wx' });
    fs.unlinkSync(probe);
  } catch (e) {
    try {
      fs.unlinkSync(probe);
    } catch {
      // never written
    }
    undo();
    return `reports cannot be written to ${dir} (${fsWords(e)})`;
  }
  return undefined;
}

/**
 * A config file as the tool takes it: JSON (errors give line and column, never the text), with the
 * editor's `"$schema"` reference (examples/unit.json) removed: the unit knows no such setting.
 */
export function readConfigFile(file: string): unknown {
  const c = readJsonFile(file, 'the config file');
  if (typeof c === 'object' && c !== null && !Array.isArray(c) && Object.hasOwn(c, '$schema')) {
    const copy = { ...(c as Record<string, unknown>) };
    delete copy.$schema;
    return copy;
  }
  return c;
}

/**
 * The placeholders of examples/unit.json. They pass every check (so the example loads as it is),
 * and the tool warns about each one still in a config (test/installer-inputs.test.ts keeps this
 * list and the example together).
 */
export const EXAMPLE_PLACEHOLDERS: { field: string; value: string }[] = [
  { field: 'unitId', value: 'EXAMPLE-0001' },
  { field: 'report.receivers[0].key', value: '5245504C4143452D4D452D4E4F572121' },
  { field: 'report.receivers[1].key', value: '5245504C4143452D4D452D544F4F2121' },
  { field: 'evidence.key', value: '5245504c4143452d544849532d45564944454e43452d4b45592d4e4f57212121' },
  { field: 'network.wifi.password', value: 'replace-with-the-wifi-password' }
];

function fieldValue(c: unknown, field: string): unknown {
  let v: unknown = c;
  for (const part of field.replace(/\[(\d+)\]/g, '.$1').split('.')) {
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** Fields still holding the example's placeholder: warnings (the config is still taken). */
export function placeholderWarnings(c: unknown): string[] {
  return EXAMPLE_PLACEHOLDERS.filter((p) => fieldValue(c, p.field) === p.value).map(
    (p) => `${p.field} is still the placeholder of examples/unit.json: replace it before the unit goes into a home`
  );
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
        ? (v as PathFigures[])
            .map(
              (p) =>
                `${p.path} ${p.up ? 'up' : 'DOWN'}, signal ${p.signal}%${p.rssiDbm !== undefined ? ` (${p.rssiDbm} dBm)` : ''}`
            )
            .join('; ')
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
  const total = 7 + STEPS.length;
  let n = 0;
  const line = (title: string, text: string) =>
    log(`[${String(++n).padStart(2)}/${total}] ${title.padEnd(42, '.')} ${text}`);

  // Everything that can be checked without the unit is checked before it is touched.
  const problems = commissionProblems(o.config);
  if (problems.length > 0) {
    log('config refused, nothing sent to the unit:');
    for (const p of problems) log(`  - ${p.field}: ${p.reason}`);
    return { ok: false, error: 'config refused', untouched: true };
  }
  if (!passwordOk(o.password)) {
    log('the installer password must be 8-20 printable ASCII characters without spaces: nothing sent to the unit');
    return { ok: false, error: 'password refused', untouched: true };
  }
  const outProblem = outDirProblem(o.outDir);
  if (outProblem) {
    log(`${outProblem}: nothing sent to the unit (give --out with a folder that can be written)`);
    return { ok: false, error: 'report folder unusable', untouched: true };
  }
  const cfg: Config = JSON.parse(JSON.stringify(o.config));
  if (cfg.service.start === '') cfg.service.start = now().toISOString().slice(0, 10);
  for (const w of placeholderWarnings(cfg)) log(`warning: ${w}`);
  log(`commissioning unit ${cfg.unitId} (account ${cfg.account}) for installer ${o.installerId}`);

  let session = await o.site.connect();
  // Stopping before the config is written: a unit the tool opened is locked again (a factory-fresh
  // one has no password and answers password-none: it has nothing to protect yet).
  const leave = async (error: string): Promise<CommissionResult> => {
    await session.request('lock', {}, { timeoutMs: 2000 });
    await session.close();
    return { ok: false, error, untouched: true };
  };
  let info = await session.request('info', {}, { timeoutMs: 3000 });
  // A board fresh from the factory runs no firmware of ours: its REPL says so, and nothing is typed
  // at it but the question of what board it is (never the password: a bare REPL echoes a line).
  if (!info.ok && info.error === 'no-answer' && session.bare) info = await session.bareInfo();
  else if (!info.ok && info.error === 'no-answer') {
    if (await session.unlock(o.password)) info = await session.request('info');
  }
  // A unit without its installer module (a fresh board, or one flashed by other means) still says
  // which image it runs: the module of this build is written below, with or after the firmware.
  const noModule = !info.ok && info.error === 'no-module' ? String(info.why) : '';
  if (noModule) info = { ...info, ok: true, fw: 'unknown (no installer module)', commissioned: false };
  if (!info.ok) {
    const e = explain(info);
    line('Connect', `FAIL ${e.reason}. ${e.hint}`);
    await session.close();
    return { ok: false, error: e.reason, untouched: true };
  }
  line(
    'Connect',
    `ok: board ${info.board}, firmware ${info.fw}, ${info.commissioned ? `commissioned as ${info.unit}` : 'not commissioned'}`
  );

  // Firmware: flash when the unit runs anything other than this build.
  const board = Object.hasOwn(FLASH_BOARD, String(info.board)) ? FLASH_BOARD[String(info.board)] : undefined;
  if (!board) {
    line('Firmware', `FAIL no firmware build for board ${String(info.board)}`);
    return leave('unknown board');
  }
  let file: string;
  let want: string;
  try {
    file = await o.firmware(board);
    want = sha256(fs.readFileSync(file));
  } catch (e) {
    line('Firmware', `FAIL the firmware for ${board} cannot be built (${(e as Error).message})`);
    return leave('firmware not built');
  }
  const moduleImage = o.module ?? MODULE_IMG;
  if (info.fwHash !== want) {
    // Twice at most: an image the unit does not verify (a glitch on the line) is written once more.
    const misses: string[] = [];
    for (let attempt = 1; attempt <= FLASH_ATTEMPTS; attempt++) {
      await session.close();
      try {
        await o.site.flash(board, file);
      } catch (e) {
        misses.push((e as Error).message);
        session = await o.site.connect();
        continue;
      }
      session = await o.site.connect();
      session.module = moduleImage;
      info = await session.waitForUnit(30000, o.password);
      if (info.ok && info.fwHash === want) break;
      misses.push(
        `the unit then reported ${info.ok ? `image ${String(info.fwHash).slice(0, 16)}…` : 'nothing'}, not ${want.slice(0, 16)}…`
      );
    }
    if (!info.ok || info.fwHash !== want) {
      line('Firmware', `FAIL flashed ${misses.length} times, never verified: ${misses.join('; ')}`);
      return leave('flash not verified');
    }
    line(
      'Firmware',
      `flashed ${board} ${info.fw}, image SHA-256 ${want.slice(0, 16)}… verified` +
        (misses.length ? ` (attempt ${misses.length + 1}: ${misses.join('; ')})` : '')
    );
  } else {
    session.module = moduleImage;
    if (noModule) info = await session.request('info');
    if (!info.ok) {
      const e = explain(session.moduleWrite && !session.moduleWrite.ok ? session.moduleWrite : info);
      line('Firmware', `FAIL ${e.reason}. ${e.hint}`);
      return leave('installer module not written');
    }
    line('Firmware', `already ${info.fw}, image SHA-256 ${want.slice(0, 16)}…`);
  }
  line(
    'Installer module',
    !session.moduleWrite
      ? 'in place (the unit checked it against its image at boot)'
      : session.moduleWrite.ok
        ? `written (${fs.statSync(moduleImage).size} bytes) and checked by the unit against its image`
        : `FAIL ${explain(session.moduleWrite).reason}`
  );

  // Config: the unit validates it again, stores the installer password and then the config
  // (atomically), and restarts on it: from the moment a config is stored, the unit locks itself at
  // boot. Changing a password needs the current one (`old`); this tool knows one password, so it
  // can only keep the one it opened with.
  const put = await session.request(
    'config',
    { config: cfg, password: o.password, old: o.password },
    { timeoutMs: 10000 }
  );
  // Without an answer the config may be written all the same: that case goes on (and locks).
  if (!put.ok && put.error !== 'no-answer') {
    const e = explain(put);
    line('Config', `FAIL ${e.reason}`);
    log(`        ${e.hint}`);
    return leave(e.reason);
  }
  // From here the unit holds the new config: whatever happens next, it is not left open.
  const state: {
    report?: CommissioningReport;
    files?: { json: string; html: string };
    error?: string;
    signed?: boolean;
  } = {};
  try {
    await configured(session, o, cfg, put, line, log, state);
  } catch (e) {
    state.error = `the tool failed: ${(e as Error).message}`;
    log(`FAIL ${state.error}`);
  }
  const locked = await relock(session, o.password);
  line('Console lock', locked.ok ? 'locked with the installer password' : `FAIL ${locked.why}`);
  await session.close();
  const report = state.report;
  if (report)
    log(
      `result: ${report.result}${report.result === 'PASSED' ? '' : ` (${report.steps.filter((s) => !s.ok).length} step(s) failed: the unit is NOT ready to protect anyone)`}`
    );
  if (!locked.ok)
    log(
      '        the unit is NOT locked: do not leave it so; run the commissioning again (a unit with a password also locks itself at its next start)'
    );
  if (state.error || !report)
    return { ok: false, report, files: state.files, error: state.error ?? 'not commissioned' };
  return {
    ok: report.result === 'PASSED' && locked.ok && state.signed === true && !!state.files,
    report,
    files: state.files
  };
}

/**
 * Lock the console with the stored password and check it no longer answers; or why it could not
 * (in words, for the installer).
 */
async function relock(session: Session, password: string): Promise<{ ok: boolean; why?: string }> {
  let r = await session.request('lock', {}, { timeoutMs: 3000 });
  if (!r.ok && r.error === 'no-answer') {
    // Locked already (a restart), or gone: open it with the password and lock again.
    const again = await session.waitForUnit(5000, password);
    if (!again.ok)
      return {
        ok: false,
        why: `the unit does not answer, so it could not be locked (${explain(again).reason}); it locks itself at its next start if a password was set`
      };
    r = await session.request('lock', {}, { timeoutMs: 3000 });
  }
  if (!r.ok) return { ok: false, why: `${explain(r).reason}: the console is open` };
  if ((await session.request('info', {}, { timeoutMs: 1500 })).ok)
    return { ok: false, why: 'the unit took the lock but its console still answers' };
  return { ok: true };
}

/** After the config is written: verify it, set the password, run the steps, write the report. */
async function configured(
  session: Session,
  o: CommissionOptions,
  cfg: Config,
  put: Reply,
  line: (title: string, text: string) => void,
  log: (l: string) => void,
  state: { report?: CommissioningReport; files?: { json: string; html: string }; error?: string; signed?: boolean }
): Promise<void> {
  const now = o.now ?? (() => new Date());
  await new Promise((r) => setTimeout(r, 500));
  let info = await session.waitForUnit(30000, o.password);
  const summary = configSummary(cfg);
  const sent = sha256(JSON.stringify(cfg));
  const stored = put.ok && put.configSha256 !== sent ? String(put.configSha256) : '';
  if (!info.ok || info.configSha256 !== sent || stored || info.unit !== cfg.unitId) {
    // Which of the four it was: a unit that never came back is not one that kept another config.
    const why = !info.ok
      ? `did not answer within 30 s of its restart (${explain(info).reason})`
      : info.unit !== cfg.unitId
        ? `reports unit ${String(info.unit).slice(0, 40)}, not ${cfg.unitId}`
        : stored
          ? `stored a config with SHA-256 ${stored.slice(0, 16)}…, not the ${sent.slice(0, 16)}… sent`
          : `reports a config with SHA-256 ${String(info.configSha256).slice(0, 16)}…, not the ${sent.slice(0, 16)}… sent`;
    line('Config', `FAIL the unit restarted but ${why}`);
    state.error = 'config not verified';
    return;
  }
  line('Config', `stored, verified after restart (SHA-256 ${sent.slice(0, 16)}…)`);

  // The password went in with the config. Set again here (the same one, so no change): a config
  // request that went unanswered may have been stored without it, and a module of another build
  // ignores it. Then checked by opening the console with it.
  const pw = await session.request('lock', { password: o.password, old: o.password }, { timeoutMs: 5000 });
  if (!pw.ok && pw.error !== 'no-answer') {
    const e = explain(pw);
    line('Installer password', `FAIL ${e.reason}`);
    log(`        ${e.hint}`);
    state.error = e.reason;
    return;
  }
  info =
    pw.ok && (await session.unlock(o.password))
      ? await session.request('info')
      : await session.waitForUnit(5000, o.password);
  if (!info.ok) {
    line('Installer password', 'FAIL the console does not open with the installer password after setting it');
    state.error = 'password not verified';
    return;
  }
  line('Installer password', 'set; the unit locks its console at every start');

  const steps: StepResult[] = [];
  for (const s of STEPS) {
    const reqP = session.request(
      'test',
      { step: s.step, ...(s.args ?? {}) },
      { timeoutMs: s.timeoutMs, progress: (p) => log(`        … ${p}`) }
    );
    if (s.step === 'button') await o.site.pressButton();
    let r = await reqP;
    // A path may still be joining after the config's restart (Wi-Fi takes a few seconds to
    // associate): asked again every 3 s, for up to PATHS_WAIT_MS, before it counts as down.
    const until = Date.now() + PATHS_WAIT_MS;
    while (s.step === 'paths' && r.error === 'path-down' && Date.now() < until) {
      await new Promise((w) => setTimeout(w, 3000));
      r = await session.request('test', { step: 'paths' }, { timeoutMs: s.timeoutMs });
    }
    if (s.step === 'indicator' && r.ok)
      r = (await o.site.sawIndicator())
        ? { ...r, pattern: '3 long blinks' }
        : { ...r, ok: false, error: 'indicator-unseen' };
    const res: StepResult = { step: s.step, title: s.title, ok: r.ok, figures: figuresOf(r) };
    if (!r.ok) {
      const e = explain(r);
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
    configSha256: sent,
    config: summary,
    steps,
    result: steps.every((s) => s.ok) ? 'PASSED' : 'FAILED'
  };
  state.report = report;
  const digest = reportDigest(report);
  const signed = await session.request('sign', { digest });
  if (signed.ok) {
    report.signature = {
      alg: 'HMAC-SHA256',
      key: `evidence key of unit ${cfg.unitId}`,
      signed: `commissioning-report:${cfg.unitId}:${digest}`,
      mac: String(signed.mac)
    };
  }
  state.signed = signed.ok;
  const base = path.join(o.outDir, `${cfg.unitId}-${report.date.replace(/[-:]/g, '').replace(/\..*$/, '')}`);
  const files = { json: `${base}.json`, html: `${base}.html` };
  try {
    fs.writeFileSync(files.json, JSON.stringify(report, null, 2) + '\n');
    fs.writeFileSync(files.html, reportHtml(report));
  } catch (e) {
    // The folder was probed before the unit was touched; a disk that filled since lands here.
    line('Report', `FAIL cannot be written to ${o.outDir} (${fsWords(e)}); the unit is locked all the same`);
    state.error = 'report not written';
    return;
  }
  state.files = files;
  line(
    'Report',
    signed.ok
      ? `signed by the unit, written to ${files.json} and .html`
      : `NOT signed (${explain(signed).reason}), written to ${files.json}`
  );
}

/**
 * What the installer looks for after the test press: the indicator on for at least 300 ms, three
 * times (`h`: the LED's changes since the press, in order).
 */
export function threeLongBlinks(h: { on: boolean; at: number }[]): boolean {
  return h.filter((e, i) => e.on && h[i + 1] && !h[i + 1].on && h[i + 1].at - e.at >= 300).length >= 3;
}

/** The simulated site as the installer's hands: it presses the button and watches the LED. */
export function simSiteActions(site: SimSite): Site {
  const world = site.unit.sim.world;
  let ledFrom = 0;
  return {
    connect: async () => new Session(simTransport(world.console)),
    flash: async (_board, file) => {
      world.image = new Uint8Array(fs.readFileSync(file));
      // The image checks its module against the SHA-256 the build compiled into it; a fresh board's
      // code sector is erased.
      world.code.expect = moduleSha(fs.readFileSync(MODULE_IMG));
      if (!world.code.bytes) world.code.state = 'absent';
      site.unit.powerCut();
    },
    pressButton: async () => {
      ledFrom = world.led.history.length;
      await new Promise((r) => setTimeout(r, 50));
      world.button.press(300);
    },
    sawIndicator: async () => {
      const h = world.led.history.slice(ledFrom);
      ledFrom = world.led.history.length;
      return threeLongBlinks(h);
    }
  };
}

/**
 * A board on a port: the installer presses and looks (or `hands` do: the board emulation of
 * `npm run test:espruino`); flashing goes through the espruino tools.
 */
export function portSiteActions(port: string, hands?: Pick<Site, 'pressButton' | 'sawIndicator'>): Site {
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
      await build.flash(board, file, port);
    },
    pressButton:
      hands?.pressButton ??
      (async () => {
        console.log('        >>> press the panic button briefly (less than the hold time) <<<');
      }),
    sawIndicator:
      hands?.sawIndicator ??
      (async () => (await ask('        did the indicator blink three times, slowly? [y/n] ')) === 'y')
  };
}

export async function buildFirmware(board: string): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const build = require('../build.js');
  const r = await build.buildBoard(board, { quiet: true });
  return r.image as string;
}

export function readPassword(opts: { [k: string]: string | true }, sim: boolean): string {
  const file = opts['password-file'];
  if (typeof file === 'string') {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`the password file ${file} cannot be read (${fsWords(e)})`);
    }
    return text.trim();
  }
  if (process.env.INSTALLER_PASSWORD) return process.env.INSTALLER_PASSWORD;
  if (sim) return 'sim-installer-pw';
  throw new Error(
    'give the installer password in INSTALLER_PASSWORD or --password-file FILE (never on the command line)'
  );
}

/** `--check FILE`: the config as the tool and the unit would take it, without any unit. */
export function checkConfigFile(file: string, out: (line: string) => void = console.log): number {
  let c: unknown;
  try {
    c = readConfigFile(file);
  } catch (e) {
    out(`${file}: NOT TAKEN: ${(e as Error).message}`);
    return 1;
  }
  const problems = commissionProblems(c);
  if (problems.length > 0) {
    out(`${file}: NOT TAKEN, ${problems.length} problem(s):`);
    for (const p of problems) out(`  - ${p.field}: ${p.reason}`);
    return 1;
  }
  const cfg = c as Config;
  out(
    `${file}: ok: unit ${cfg.unitId}, account ${cfg.account}, ${cfg.report.receivers.map((r) => `${r.path} ${r.transport} ${r.host}:${r.port}`).join(' + ')}, evidence ${cfg.evidence!.host}:${cfg.evidence!.port}`
  );
  for (const w of placeholderWarnings(c)) out(`  warning: ${w}`);
  return 0;
}

const OPTIONS = {
  port: 'value',
  sim: 'flag',
  config: 'value',
  installer: 'value',
  'password-file': 'value',
  out: 'value',
  unlock: 'flag',
  verify: 'value',
  key: 'value',
  check: 'value'
} as const;

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const opts = parseOptions(argv, OPTIONS);
  const opt = (name: keyof typeof OPTIONS) => (typeof opts[name] === 'string' ? (opts[name] as string) : undefined);
  if (opts.check !== undefined) {
    if (Object.keys(opts).length > 1) throw new Error('--check FILE takes no other option');
    return checkConfigFile(opt('check')!);
  }
  const verify = opt('verify');
  if (verify) {
    const key = opt('key');
    if (!key || !/^[0-9a-fA-F]{64}$/.test(key))
      throw new Error("--verify needs --key with the unit's 64-hex-digit evidence key");
    let report: unknown;
    try {
      report = readJsonFile(verify, 'the report');
    } catch (e) {
      console.log(`${verify}: NOT VALID: not a valid report: ${(e as Error).message}`);
      return 1;
    }
    const v = verifyReport(report, key);
    console.log(v.ok ? `${verify}: signature valid` : `${verify}: NOT VALID: ${v.why}`);
    return v.ok ? 0 : 1;
  }
  if (opts.key !== undefined) throw new Error('--key goes with --verify FILE');
  const sim = opts.sim === true;
  const port = opt('port');
  if (sim && port) throw new Error('give --port PORT or --sim, not both');
  if (!sim && !port) throw new Error('give --port PORT (or --sim)');
  const password = readPassword(opts, sim);
  const installerId = opt('installer') ?? process.env.INSTALLER_ID ?? (sim ? 'SIM-INSTALLER' : undefined);
  if (!installerId) throw new Error('give --installer ID (or INSTALLER_ID)');
  const outDir = opt('out') ?? 'commissioning';
  const file = opt('config');
  if (!sim && !file && opts.unlock !== true) throw new Error('give --config unit.json');
  // Read before anything starts: a bad file stops here, with the unit untouched.
  const fromFile = file ? readConfigFile(file) : undefined;
  let siteSim: SimSite | undefined;
  let site: Site;
  let config: unknown;
  if (sim) {
    const { createSimSite } = await import('../sim/site');
    siteSim = await createSimSite();
    site = simSiteActions(siteSim);
    config = fromFile ?? siteSim.config;
  } else {
    config = fromFile;
    site = portSiteActions(port!);
  }
  try {
    if (opts.unlock === true) {
      const s = await site.connect();
      const ok = (await s.request('info', {}, { timeoutMs: 2000 })).ok || (await s.unlock(password));
      console.log(
        ok
          ? 'console unlocked (it locks again at the next restart, or with a commissioning run)'
          : 'unlock failed: wrong password or no unit'
      );
      await s.close();
      return ok ? 0 : 2;
    }
    const r = await commission({
      config: config as Config,
      installerId,
      password,
      site,
      firmware: buildFirmware,
      outDir
    });
    if (r.untouched) return 2;
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
