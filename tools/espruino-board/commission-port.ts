/**
 * The installer's real path (issue #18), on the release interpreter: a board fresh from the
 * factory (the board prelude and the Espruino WiFi's own modules in its flash, nothing of ours) is
 * commissioned and then decommissioned by `commission()` and `decommission()` through
 * `portSiteActions`, the code `npm run commission -- --port …` runs: the Espruino tools' own
 * connection code (`tcp://`, their Node socket) for every request, and their CLI for the flash.
 *
 * The board's console is served on a TCP port of 127.0.0.1 by the harness (BoardUnit.serveConsole):
 * what the tools send is typed at the console as the board's USB would deliver it, and every reset
 * drops the connection, as the USB device leaves the bus. Only the installer's hands are the
 * harness's: the button pressed through the prelude's control channel, the indicator read from the
 * pin changes the prelude reports.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../../firmware/config';
import { commission, portSiteActions, threeLongBlinks, verifyReport } from '../commission';
import { decommission } from '../decommission';
import { BoardUnit, RCC, sleep } from './board';

export type Check = (name: string, ok: boolean, detail?: string) => void;

interface CentreEvents {
  events(): { at: number; transport: string; reply: string; cid?: { code: string; qualifier: number; zone: string } }[];
}

export interface PortWorld {
  /** A fresh board: not started, no image in its Storage. */
  unit: BoardUnit;
  config: Config;
  /** The image the build made for the board and its installer module. */
  image: string;
  module: string;
  centres: CentreEvents[];
  /** The unit's evidence key (hex), which signs its commissioning report. */
  evidenceKey: string;
  outDir: string;
}

const PASSWORD = 'port-check-pw7';

export async function commissionOverPort(w: PortWorld, check: Check, log: (s: string) => void): Promise<void> {
  const u = w.unit;
  const tcp = await u.serveConsole();
  const port = `tcp://127.0.0.1:${tcp}`;
  u.start(RCC.POR);
  await u.waitFor(/espruino\.com/, 10000);
  await sleep(500);
  let pressedAt = 0;
  const hands = {
    pressButton: async () => {
      await sleep(50);
      pressedAt = Date.now();
      u.ctl('L B3 0');
      await sleep(300);
      u.ctl('L B3 1');
    },
    sawIndicator: async () =>
      threeLongBlinks(
        u.pins.filter((p) => p.pin === 'B2' && p.at >= pressedAt).map((p) => ({ on: p.v === 1, at: p.at }))
      )
  };
  const lines: string[] = [];
  const t0 = Date.now();
  const firmwareAsked: string[] = [];
  let flashMs = 0;
  const site = portSiteActions(port, hands);
  const flash = site.flash;
  site.flash = async (board, file) => {
    const f0 = Date.now();
    await flash(board, file);
    flashMs += Date.now() - f0;
  };
  const r = await commission({
    config: w.config,
    installerId: 'PORT-CHECK',
    password: PASSWORD,
    site,
    firmware: async (board) => {
      firmwareAsked.push(board);
      return w.image;
    },
    module: w.module,
    outDir: w.outDir,
    log: (l) => {
      lines.push(l);
      log(`    | ${l}`);
    }
  });
  const secs = Math.round((Date.now() - t0) / 1000);
  const flashed = lines.some((l) => / Firmware\.+ flashed ESPRUINOWIFI .* verified/.test(l));
  check(
    'commission --port tcp://…: a board fresh from the factory (no firmware) is found and flashed through the Espruino tools (their CLI), the image verified by its SHA-256 on the unit',
    flashed && firmwareAsked[0] === 'ESPRUINOWIFI',
    flashed
      ? lines.find((l) => / Firmware\.+/.test(l))!.replace(/^\[.*?\] /, '')
      : lines.filter((l) => /Connect|Firmware/.test(l)).join(' | ') || r.error || 'no output'
  );
  const moduleLine = lines.find((l) => /Installer module\.+/.test(l));
  check(
    'the installer module is written over the console and checked by the unit against its image',
    !!moduleLine && /written/.test(moduleLine),
    moduleLine ? moduleLine.replace(/^\[.*?\] /, '') : 'no module line'
  );
  const rep = r.report;
  const failed = rep ? rep.steps.filter((s) => !s.ok) : [];
  check(
    'every self-test step the emulated board answers passes over the tools’ connection (button, indicator, microphone, paths, 601 on both paths, power, storage, clock)',
    !!rep && rep.result === 'PASSED',
    rep
      ? `${rep.result}: ${rep.steps.map((s) => `${s.step}${s.ok ? '' : ' FAILED (' + (s.reason ?? '') + ')'}`).join(', ')}; ${secs} s in all`
      : `no report: ${r.error}`
  );
  const signed = r.files ? verifyReport(JSON.parse(fs.readFileSync(r.files.json, 'utf8')), w.evidenceKey) : undefined;
  check(
    'the report is written and signed by the unit (its MAC checks with the unit’s key)',
    !!signed && signed.ok,
    r.files
      ? `${path.basename(r.files.json)}: ${signed && signed.ok ? 'signature valid' : signed ? signed.why : ''}`
      : 'no report file'
  );
  const lockLine = lines.find((l) => /Console lock\.+/.test(l));
  check(
    'the console is locked with the installer password at the end, and the commissioning succeeds as a whole',
    r.ok && !!lockLine && /locked with/.test(lockLine),
    `${lockLine ? lockLine.replace(/^\[.*?\] /, '') : 'no lock line'}; result ok=${r.ok}${failed.length ? `, failed steps: ${failed.map((s) => s.step).join(',')}` : ''}`
  );
  const m = await u.memory();
  if (m) log(`    memory of the commissioned unit: ${m.used} variables in use with the harness, ${m.free} free`);
  log(`    commissioning over the tools took ${secs} s (the flash ~${Math.round(flashMs / 1000)} s)`);

  // ---- decommission, through the same path
  const dlines: string[] = [];
  const before = Date.now();
  const d = await decommission(portSiteActions(port, hands), {
    password: PASSWORD,
    force: false,
    log: (l) => {
      dlines.push(l);
      log(`    | ${l}`);
    }
  });
  const r308 = w.centres
    .flatMap((c) => c.events())
    .find((e) => !!e.cid && e.cid.code === '308' && e.reply === 'ACK' && e.at >= before);
  const factory = dlines.some((l) => /after restart: .*factory state/.test(l));
  check(
    'decommission --port: the locked unit is opened with the password, reports 308 (acknowledged), erases and restarts in its factory state',
    d.ok && !!r308 && factory,
    `${d.ok ? `erased ${d.erased} item(s)` : `refused: ${d.reason}`}; 308 ${r308 ? `acknowledged via ${r308.transport}` : 'not at the centre'}; ${dlines.find((l) => /after restart/.test(l)) ?? 'no answer after the restart'}`
  );
  check(
    'the prelude saw nothing the real board would not do while the tools flashed, commissioned and decommissioned it',
    u.violations.length === 0,
    u.violations.length
      ? u.violations.join('; ')
      : `${u.boots} boot(s); notes: ${[...new Set(u.notes)].join('; ') || 'none'}`
  );
}
