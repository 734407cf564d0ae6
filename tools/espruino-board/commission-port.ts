/**
 * The installer's real path (issue #18), on the release interpreter: a board fresh from the
 * factory (the board prelude and the Espruino WiFi's own modules in its flash, nothing of ours) is
 * commissioned and then decommissioned by the installer's own commands, run as an installer runs
 * them: `tsx tools/commission.ts --port tcp://… --config unit.json --installer … --out …` and
 * `tsx tools/decommission.ts --port tcp://…` (what `npm run commission -- …` and `npm run
 * decommission -- …` run), each a process of its own with the password in INSTALLER_PASSWORD. They
 * build the image, flash it with the Espruino tools' CLI and talk to the unit through the tools'
 * own connection code (`tcp://`, their Node socket).
 *
 * The board's console is served on a TCP port of 127.0.0.1 by the harness (BoardUnit.serveConsole):
 * what the tools send is typed at the console as the board's USB would deliver it, and every reset
 * drops the connection, as the USB device leaves the bus. Only the installer's hands and eyes are
 * the harness's: when the tool asks for a press, the button is pressed through the prelude's
 * control channel; when it asks whether the indicator blinked three times, the answer typed at the
 * tool's prompt is read from the pin changes the prelude reports.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../../firmware/config';
import { threeLongBlinks, verifyReport } from '../commission';
import { BoardUnit, RCC, sleep } from './board';

const ROOT = path.join(__dirname, '..', '..');

export type Check = (name: string, ok: boolean, detail?: string) => void;

interface CentreEvents {
  events(): { at: number; transport: string; reply: string; cid?: { code: string; qualifier: number; zone: string } }[];
}

export interface PortWorld {
  /** A fresh board: not started, no image in its Storage. */
  unit: BoardUnit;
  config: Config;
  centres: CentreEvents[];
  /** The unit's evidence key (hex), which signs its commissioning report. */
  evidenceKey: string;
  outDir: string;
}

const PASSWORD = 'port-check-pw7';

/**
 * Run one of the installer's commands as its own process, as an installer would (`tsx`, the
 * project's runner for `npm run …`): every line it prints goes to `onLine`, which may answer at its
 * prompt through `answer`. Resolves with the exit status and the lines.
 */
function runTool(
  script: string,
  args: string[],
  onLine: (line: string, answer: (text: string) => void) => void,
  timeoutMs: number
): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), script, ...args],
      {
        cwd: ROOT,
        env: { ...process.env, INSTALLER_PASSWORD: PASSWORD },
        stdio: ['pipe', 'pipe', 'pipe'],
        // A group of its own: tsx runs the tool as a second process on the same pipes, so a
        // timeout kills the whole group (tsx alone would leave the tool holding the pipes and port).
        detached: true
      }
    );
    const lines: string[] = [];
    let rest = '';
    const answer = (text: string) => child.stdin.write(text);
    const take = (chunk: Buffer) => {
      rest += chunk.toString('utf8');
      // A prompt ends without a newline: hand it over as it is.
      const parts = rest.split(/\r?\n/);
      rest = parts.pop() ?? '';
      for (const l of parts) {
        lines.push(l);
        onLine(l, answer);
      }
      if (/\[y\/n\] $/.test(rest)) {
        lines.push(rest);
        onLine(rest, answer);
        rest = '';
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      lines.push(`(no exit within ${timeoutMs / 1000} s: killed)`);
      killGroup();
    }, timeoutMs);
    let done = false;
    const finish = (code: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      killGroup();
      if (rest) lines.push(rest);
      resolve({ code, lines });
    };
    child.on('error', (e) => {
      lines.push(`cannot run ${script}: ${e.message}`);
      finish(null);
    });
    child.on('exit', (code) => {
      // The tool's own process may still hold the pipes a moment: read what is left, then go.
      setTimeout(() => finish(code), 500);
    });
    child.on('close', (code) => finish(code));
  });
}

export async function commissionOverPort(w: PortWorld, check: Check, log: (s: string) => void): Promise<void> {
  const u = w.unit;
  const tcp = await u.serveConsole();
  const port = `tcp://127.0.0.1:${tcp}`;
  u.start(RCC.POR);
  await u.waitFor(/espruino\.com/, 10000);
  await sleep(500);
  let pressedAt = 0;
  // The installer's hands and eyes, at the tool's prompts.
  const hands = (line: string, answer: (text: string) => void) => {
    log(`    | ${line}`);
    if (/>>> press the panic button/.test(line)) {
      void (async () => {
        await sleep(300);
        pressedAt = Date.now();
        u.ctl('L B3 0');
        await sleep(300);
        u.ctl('L B3 1');
      })();
    } else if (/did the indicator blink three times, slowly\? \[y\/n\]/.test(line)) {
      const saw = threeLongBlinks(
        u.pins.filter((p) => p.pin === 'B2' && p.at >= pressedAt).map((p) => ({ on: p.v === 1, at: p.at }))
      );
      answer(saw ? 'y\n' : 'n\n');
    }
  };
  const cfgFile = path.join(w.outDir, '..', 'port-unit.json');
  fs.writeFileSync(cfgFile, JSON.stringify(w.config, null, 2));
  const t0 = Date.now();
  const run = await runTool(
    'tools/commission.ts',
    ['--port', port, '--config', cfgFile, '--installer', 'PORT-CHECK', '--out', w.outDir],
    hands,
    300000
  );
  const lines = run.lines;
  const secs = Math.round((Date.now() - t0) / 1000);
  const flashed = lines.some((l) => / Firmware\.+ flashed ESPRUINOWIFI .* verified/.test(l));
  check(
    'commission --port tcp://… (the command, as its own process): a board fresh from the factory (no firmware) is found, the image built and flashed through the Espruino tools (their CLI), and verified by its SHA-256 on the unit',
    flashed,
    flashed
      ? lines.find((l) => / Firmware\.+/.test(l))!.replace(/^\[.*?\] /, '')
      : lines.filter((l) => /Connect|Firmware|commission:/.test(l)).join(' | ') || `exit status ${run.code}, no output`
  );
  const moduleLine = lines.find((l) => /Installer module\.+/.test(l));
  check(
    'the installer module is written over the console and checked by the unit against its image',
    !!moduleLine && /written/.test(moduleLine),
    moduleLine ? moduleLine.replace(/^\[.*?\] /, '') : 'no module line'
  );
  const reports = fs.existsSync(w.outDir)
    ? fs
        .readdirSync(w.outDir)
        .filter((f) => f.endsWith('.json'))
        .sort()
    : [];
  const reportFile = reports.length ? path.join(w.outDir, reports[reports.length - 1]) : undefined;
  const rep = reportFile
    ? (JSON.parse(fs.readFileSync(reportFile, 'utf8')) as {
        result: string;
        steps: { step: string; ok: boolean; reason?: string }[];
      })
    : undefined;
  const failed = rep ? rep.steps.filter((st) => !st.ok) : [];
  check(
    'every self-test step the emulated board answers passes over the tools’ connection (button, indicator, microphone, paths, 601 on both paths, power, storage, clock)',
    !!rep && rep.result === 'PASSED',
    rep
      ? `${rep.result}: ${rep.steps.map((st) => `${st.step}${st.ok ? '' : ' FAILED (' + (st.reason ?? '') + ')'}`).join(', ')}; ${secs} s in all`
      : `no report (exit status ${run.code})`
  );
  const signed = rep ? verifyReport(rep, w.evidenceKey) : undefined;
  check(
    'the report is written and signed by the unit (its MAC checks with the unit’s key)',
    !!signed && signed.ok,
    reportFile
      ? `${path.basename(reportFile)}: ${signed && signed.ok ? 'signature valid' : signed ? signed.why : ''}`
      : 'no report file'
  );
  const lockLine = lines.find((l) => /Console lock\.+/.test(l));
  check(
    'the console is locked with the installer password at the end, and the command exits 0 (commissioned, every step passed)',
    run.code === 0 && !!lockLine && /locked with/.test(lockLine),
    `${lockLine ? lockLine.replace(/^\[.*?\] /, '') : 'no lock line'}; exit status ${run.code}${failed.length ? `, failed steps: ${failed.map((st) => st.step).join(',')}` : ''}`
  );
  const m = await u.memory();
  if (m) log(`    memory of the commissioned unit: ${m.used} variables in use with the harness, ${m.free} free`);
  log(`    commissioning with the command took ${secs} s`);

  // ---- decommission, with its command
  const before = Date.now();
  const d = await runTool('tools/decommission.ts', ['--port', port], (l) => log(`    | ${l}`), 180000);
  const r308 = w.centres
    .flatMap((c) => c.events())
    .find((e) => !!e.cid && e.cid.code === '308' && e.reply === 'ACK' && e.at >= before);
  const factory = d.lines.some((l) => /after restart: .*factory state/.test(l));
  const erased = d.lines.find((l) => /^decommissioned: /.test(l));
  check(
    'decommission --port (the command, as its own process): the locked unit is opened with the password, reports 308 (acknowledged), erases and restarts in its factory state',
    d.code === 0 && !!r308 && factory,
    `exit status ${d.code}; ${erased ? erased.trim() : 'no erase line'}; 308 ${r308 ? `acknowledged via ${r308.transport}` : 'not at the centre'}; ${d.lines.find((l) => /after restart/.test(l))?.trim() ?? 'no answer after the restart'}`
  );
  check(
    'the prelude saw nothing the real board would not do while the tools flashed, commissioned and decommissioned it',
    u.violations.length === 0,
    u.violations.length
      ? u.violations.join('; ')
      : `${u.boots} boot(s); notes: ${[...new Set(u.notes)].join('; ') || 'none'}`
  );
}
