/**
 * `npm run test:espruino`, second part (issue #17): the Espruino WiFi boot image itself on the
 * release interpreter (Espruino 2v29 built for Linux, ESPRUINO_BIN), stored as `.bootcde` exactly
 * as `node build.js --flash` stores it, with the board prelude (tools/espruino-board/prelude.js,
 * stored as `.boot0`) standing in only for what the Linux build lacks, and the board's devices
 * emulated in Node (tools/espruino-board/board.ts): the ESP8266 and the SIM800 behind the
 * firmware's own AT drivers (hal/espruino/esp8266.ts, cellular.ts; the board's `AT` module, read
 * from ESPRUINO_SRC, default the binary's source tree, underneath), the centre (sim/centre.ts) and
 * the evidence server (sim/evidence-server.ts) on 127.0.0.1, the card as the interpreter's folder.
 *
 * Checks, on the board's default configuration (sim/default-config.ts: 4 s of pre-trigger audio,
 * on the card): the image builds; it names nothing the Espruino WiFi build lacks (its symbols, read from
 * the Espruino sources); it boots from flash; it reports 305; a held panic is acknowledged via
 * Wi-Fi; with the access point gone, the next via cellular; it records, and a recording it uploads
 * verifies (tools/evidence-verify.ts); it survives a power cut mid-recording (SIGKILL, restart on
 * the same flash file and card) and delivers what it owed; it answers the installer; memory at
 * every step beside the RAM budget (idle <= 5,700 variables in use, >= 1,200 free at the worst
 * moment, no out-of-memory); the prelude saw nothing the board would not do. Then a boot with no
 * card in the slot (every fs call fails as 2v29 does without one: the unit still reports, a held
 * panic is acknowledged, and the installer gets answers). Then the installer's real path (#18,
 * tools/espruino-board/commission-port.ts): a board fresh from the factory is commissioned and
 * decommissioned by the installer tool through the Espruino tools' connection code and CLI. Then
 * three more boots that must still protect: a full card, an unreadable card, and memory short at
 * boot (the recorder refuses its ring, or 2v29 interrupts the boot there; either way the unit
 * reports 300 zone 6). Diagnostics: `ESPRUINO_WIFI_ONLY=`
 * `nocard` (the three card boots), `oom` (the short-memory boot), `port` (the installer's path),
 * `idle` (the boot and its idle memory, ~15 s: for comparing two builds' standing RAM).
 *
 * Run alone: `ESPRUINO_BIN=… npx tsx tools/espruino-wifi.ts`; tools/espruino-smoke.js runs it too.
 * KEEP=1 keeps the unit's folder (flash file, card, the interpreter's output) and prints where.
 */
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLabCentres, simDefaultConfig, SIM_KEYS } from '../sim/default-config';
import { startEvidenceServer } from '../sim/evidence-server';
import { SimModem } from '../sim/modem';
import { SimEsp8266 } from '../sim/esp8266';
import { parseWav } from '../sim/wav';
import type { Config } from '../firmware/config';
import { verifyRecordingDir } from './evidence-verify';
import { commissionOverPort } from './espruino-board/commission-port';
import {
  BoardTables,
  BoardUnit,
  MemoryFigures,
  PtyMux,
  RCC,
  boardTables,
  evalOnce,
  moduleExports,
  pinTable,
  preludeSource,
  sleep,
  staticCheck,
  storeCommand
} from './espruino-board/board';

const ROOT = path.join(__dirname, '..');
/** The RAM budget of issue #17 on the Espruino WiFi (8,190 variables). */
const BUDGET = { idleUsed: 5700, worstFree: 1200, total: 8190 };
const WIFI = { ssid: 'panic-lab-ap', password: 'lab-wifi-pass-17' };
/** Variables the out-of-memory check takes before the image boots (ESPRUINO_WIFI_BALLAST to try others). */
const BALLAST = Number(process.env.ESPRUINO_WIFI_BALLAST || 2500);
const UNIT = 'SIM-0001';
/** The control channel's serial device: one the image never touches. */
const CTL = 'Serial4';

export type Check = (name: string, ok: boolean, detail?: string) => void;

interface Step {
  step: string;
  m?: MemoryFigures;
  /** `Date.now()` when its figures were asked for. */
  at: number;
}

const n0 = (x: number) => x.toLocaleString('en-US');

/** One installer request over a unit's console, as the tool sends it; its reply, or undefined after `ms`. */
async function installerRequest(
  u: BoardUnit,
  id: number,
  req: Record<string, unknown>,
  ms: number
): Promise<Record<string, unknown> | undefined> {
  const from = u.output().length;
  u.console('\x10I(' + JSON.stringify({ id, ...req }) + ')\n');
  const re = new RegExp('@I (\\{[^\\n]*"id":' + id + ',"ok":(true|false)[^\\n]*\\})');
  if (!(await u.waitFor(re, ms, from))) return undefined;
  return JSON.parse(re.exec(u.output().slice(from))![1]) as Record<string, unknown>;
}

/** The RAM figures of a run, on the board (net of the harness), for `npm run bench`. */
export interface WifiFigures {
  idleUsed?: number;
  worstFree?: number;
  outOfMemory?: boolean;
  /** The step at the lowest free. */
  worstAt?: string;
}

export async function runWifiBoard(
  bin: string,
  check: Check,
  log: (s: string) => void = console.log
): Promise<WifiFigures> {
  const figures: WifiFigures = {};
  const src = process.env.ESPRUINO_SRC || path.resolve(path.dirname(bin), '..');
  log(`--- Espruino WiFi image on ${bin} (board sources: ${src}) ---`);
  const wifiSrc = path.join(src, 'libs', 'js', 'espruino_wifi', 'Wifi.min.js');
  const atSrc = path.join(src, 'libs', 'js', 'AT.min.js');
  const haveWifi = fs.existsSync(wifiSrc) && fs.existsSync(atSrc);
  if (!haveWifi)
    log(
      `  skip: Wi-Fi part: no ${path.relative(src, wifiSrc)} / libs/js/AT.min.js under ESPRUINO_SRC=${src} (the board's own Wifi and AT modules are needed; set ESPRUINO_SRC to an Espruino source tree)`
    );

  // ---- the image
  const build = spawnSync(process.execPath, [path.join(ROOT, 'build.js'), '--board', 'ESPRUINOWIFI', '--quiet'], {
    encoding: 'utf8'
  });
  const img = path.join(ROOT, 'dist', 'firmware.img');
  const js = path.join(ROOT, 'dist', 'firmware.js');
  const built = build.status === 0;
  check(
    'ESPRUINOWIFI boot image builds (node build.js --board ESPRUINOWIFI)',
    built,
    built
      ? `${n0(fs.statSync(img).size)} B pretokenised`
      : (build.stderr || build.stdout).trim().split('\n').slice(0, 3).join(' | ')
  );
  if (!fs.existsSync(img) || !fs.existsSync(js)) return figures;
  if (!built)
    log(`  note: running the last image built (${fs.statSync(img).mtime.toISOString()}), not the working tree`);
  const image = fs.readFileSync(img);
  const code = fs.readFileSync(js, 'utf8');

  // ---- what the board has: its build's symbols, from the Espruino sources
  let wifiT: BoardTables | undefined;
  let linuxT: BoardTables | undefined;
  let tableErr = '';
  try {
    wifiT = boardTables(src, 'ESPRUINOWIFI');
    linuxT = boardTables(src, 'LINUX');
  } catch (e) {
    tableErr = (e as Error).message;
  }
  const jsExports: Record<string, string[]> = {};
  if (haveWifi) {
    jsExports.Wifi = moduleExports(fs.readFileSync(wifiSrc, 'latin1'));
    jsExports.AT = moduleExports(fs.readFileSync(atSrc, 'latin1'));
  }
  let st = {
    findings: [] as string[],
    pinGlobals: [] as string[],
    stubs: [] as string[],
    tripwires: [] as string[],
    globals: [] as string[],
    modules: [] as string[]
  };
  if (wifiT && linuxT) {
    st = staticCheck(code, wifiT, linuxT, jsExports);
    check(
      'the image names only globals, modules and members the Espruino WiFi build has (its symbols from boards/ESPRUINOWIFI.py and the wrappers)',
      st.findings.length === 0,
      st.findings.length
        ? st.findings.join('; ')
        : `${st.globals.length} globals, modules ${st.modules.join(',')}; checked against ${n0(wifiT.symbols.length)} symbols of ${wifiT.board} ${wifiT.version}`
    );
  } else {
    check('the image names only what the Espruino WiFi build has', false, `no symbol tables: ${tableErr}`);
    return figures;
  }
  const wifiTables = wifiT;

  // ---- the world: centre, evidence server, emulated chips, pseudo-terminals
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'espruino-wifi-'));
  const [primary, secondary] = await createLabCentres();
  const evRoot = path.join(tmp, 'evidence');
  const evidence = await startEvidenceServer({ root: evRoot, keys: { [UNIT]: SIM_KEYS.evidence } });
  const esp = new SimEsp8266({ ssid: WIFI.ssid, password: WIFI.password });
  const modem = new SimModem();
  let mux: PtyMux | undefined;
  const units: BoardUnit[] = [];
  const steps: Step[] = [];
  let overhead = 0;
  try {
    mux = await PtyMux.open(['control', 'USART1-modem', 'USART2-ESP8266']);
    const ctlB = mux.channel('control');
    const espB = mux.channel('USART2-ESP8266');
    const modemB = mux.channel('USART1-modem');
    espB.onData((d) => esp.port().write(d));
    esp.port().onData((d) => espB.write(d));
    modemB.onData((d) => modem.port().write(d));
    modem.port().onData((d) => modemB.write(d));

    const settings = (gp: string[]) => ({
      c: CTL,
      cp: ctlB.path,
      s: [modemB.path, espB.path],
      i: { A6: 1, B8: 0 },
      a: { A7: Math.round((4.1 / 2 / 3.3) * 1000) / 1000 },
      m: 1,
      f: 0x10000000 + 256 * 1024 - 48 * 1024,
      t: st.tripwires,
      b: st.stubs,
      g: gp.map((g) => g.split('=')).map((g) => [g[0], g[1] || g[0]]),
      e: { VERSION: wifiTables.version, BOARD: 'ESPRUINOWIFI' }
    });
    const pinGlobals = Array.from(new Set(st.pinGlobals.concat(haveWifi ? ['A2', 'A3', 'A13', 'A14', 'A15'] : [])));

    /** A folder with a fresh flash file holding the harness files (and the image and config, when given). */
    const prepare = async (
      name: string,
      withImage: boolean,
      cfgText?: string,
      mirrorModule = withImage,
      extra: Record<string, unknown> = {}
    ): Promise<string> => {
      const dir = path.join(tmp, name);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'boot0.js'), preludeSource({ ...settings(pinGlobals), ...extra }));
      fs.writeFileSync(
        path.join(dir, 'pins.txt'),
        pinTable(wifiTables) + ' |,' + wifiTables.libraries.concat(wifiTables.jsmodules).join(',') + ',|'
      );
      const files = [
        { name: '.boot0', file: path.join(dir, 'boot0.js') },
        { name: '.bpins', file: path.join(dir, 'pins.txt') }
      ];
      if (haveWifi) {
        fs.copyFileSync(wifiSrc, path.join(dir, 'wifi.js'));
        fs.copyFileSync(atSrc, path.join(dir, 'at.js'));
        files.push(
          { name: '.mWifi', file: path.join(dir, 'wifi.js') },
          { name: '.mAT', file: path.join(dir, 'at.js') }
        );
      }
      if (cfgText !== undefined) {
        fs.writeFileSync(path.join(dir, 'cfg.txt'), cfgText);
        files.push({ name: 'cfg.json', file: path.join(dir, 'cfg.txt') });
      }
      if (withImage) {
        fs.writeFileSync(path.join(dir, 'fw.img.js'), image);
        files.push({ name: '.bootcde', file: path.join(dir, 'fw.img.js') });
      }
      if (mirrorModule) {
        // A mirror of the installer module's sector, read in place of the board's memory-mapped
        // flash while it matches the flash file (prelude.js, E.memoryArea).
        fs.copyFileSync(path.join(ROOT, 'dist', 'installer-module.img'), path.join(dir, 'fsec3.bin'));
        files.push({ name: '.fsec3', file: path.join(dir, 'fsec3.bin') });
      }
      const out = await evalOnce(bin, dir, storeCommand(files, withImage), /BOOTCDE SHA256 \w+|STORED DONE/);
      for (const f of ['boot0.js', 'pins.txt', 'wifi.js', 'at.js', 'fw.img.js', 'cfg.txt', 'fsec3.bin'])
        fs.rmSync(path.join(dir, f), { force: true });
      fs.writeFileSync(path.join(dir, 'store.log'), out);
      return dir;
    };
    const newUnit = (dir: string, usbFile = false): BoardUnit => {
      const u = new BoardUnit({
        bin,
        dir,
        usbFile,
        serials: { Serial1: modemB, Serial2: espB },
        ctl: ctlB,
        ctlDevice: CTL,
        onPin: (p, v) => {
          if (p === 'A14') esp.chPd(v === 1);
          if (p === 'B4') modem.key(v === 0);
        },
        // boards/ESPRUINOWIFI.py: "A14: ESP8266 CH_PD, also ARM SWCLK (pull down by default)". A
        // reset turns the chip off, so a send the reset cut (the config's restart mid-frame) is not
        // left waiting for its bytes in the next boot (the flaky "Wi-Fi down" of the installer's
        // path: the chip took the next boot's commands as the cut frame's data).
        resetLevels: { A14: 0 }
      });
      units.push(u);
      return u;
    };

    // ---- the installer's real path (#18): a fresh board commissioned and decommissioned through
    // the Espruino tools' connection code (tools/espruino-board/commission-port.ts)
    const portPhase = async (cfg: Config): Promise<void> => {
      esp.restoreAp();
      // The board as it leaves the factory: the prelude and the board's own modules, no image, no
      // config; the mirror of the installer module serves E.memoryArea only once sector 3 matches it.
      const fresh = newUnit(await prepare('fresh-board', false, undefined, true, { u: 1 }), true);
      const outDir = path.join(tmp, 'commissioning');
      await commissionOverPort(
        {
          unit: fresh,
          config: cfg,
          centres: [primary, secondary],
          evidenceKey: SIM_KEYS.evidence,
          outDir
        },
        check,
        log
      );
      await fresh.stop();
    };

    // ---- a boot that always protects (#17): the card or the heap fails it (no card, a full card, an
    // unreadable one, memory short at boot); the button, the reporter and the indicator must not care.
    const BOOT_FAULTS = {
      nc: [
        'no-card',
        'no card in the slot (every fs call fails "Unable to mount media : NOT_READY", as 2v29 does without one)'
      ],
      fc: [
        'full-card',
        'a full card (every write fails "Unable to write file : DISK_ERR", a new folder "DENIED", as 2v29 on FatFs)'
      ],
      ur: ['unreadable-card', 'a card whose files cannot be read (every read fails "Unable to read file : DISK_ERR")'],
      bl: ['out-of-memory', `memory short at boot (${n0(BALLAST)} variables taken before the image runs)`]
    };
    const faultyBootPhase = async (
      cfg: Config,
      layout: 'flash' | 'storage',
      fault: keyof typeof BOOT_FAULTS = 'nc'
    ): Promise<void> => {
      esp.restoreAp();
      const ncDir = await prepare(
        BOOT_FAULTS[fault][0],
        true,
        layout === 'storage' ? JSON.stringify(cfg) : undefined,
        true,
        { [fault]: fault === 'bl' ? BALLAST : 1 }
      );
      if (layout === 'flash') await provisionFlashStore(ncDir, JSON.stringify(cfg));
      // The unreadable card holds what the unit's own card held at its end (its pre-trigger ring),
      // so the boot has something to read and fail on.
      const held = path.join(tmp, 'unit', 'AUDIO');
      const seeded = fault === 'ur' && fs.existsSync(held) ? fs.readdirSync(held) : [];
      if (seeded.length > 0) fs.cpSync(held, path.join(ncDir, 'AUDIO'), { recursive: true });
      const nc = newUnit(ncDir);
      const nc0 = Date.now();
      nc.start(RCC.POR);
      const ncBooted = await nc.waitFor(/boot \S+ unit \S+ on ESPRUINOWIFI/, 20000);
      const nc305 = await waitEvent(
        [primary, secondary],
        (e) => !!e.cid && e.cid.code === '305' && e.reply === 'ACK' && e.at >= nc0,
        30000
      );
      await sleep(2000);
      const ncT = Date.now();
      nc.ctl('L B3 0');
      await sleep(2000);
      nc.ctl('L B3 1');
      const ncP = await waitEvent(
        [primary, secondary],
        (e) => !!e.cid && e.cid.code === '120' && e.cid.qualifier === 1 && e.reply === 'ACK' && e.at >= ncT,
        20000
      );
      await sleep(800);
      const ncLed = nc.pins.some((x) => x.pin === 'B2' && x.v === 1 && x.at > (ncP ? ncP.at : ncT));
      const ncM = await nc.memory();
      const ncOut = nc.output();
      // Short of memory, the boot's evidence part must not come up, and the centre be told: either
      // it runs out (2v29 interrupts the boot there) or the recorder refuses a ring that would
      // leave the alarm path too little (firmware/recorder.ts RING_MIN_LEFT).
      const oom = /OUT OF MEMORY/.test(ncOut);
      const refused = /recorder failed at boot: no memory for the audio ring/.test(ncOut);
      const cut =
        fault === 'bl'
          ? await waitEvent(
              [primary, secondary],
              (e) => !!e.cid && e.cid.code === '300' && Number(e.cid.zone) === 6 && e.reply === 'ACK' && e.at >= nc0,
              1000
            )
          : undefined;
      check(
        BOOT_FAULTS[fault][1] +
          (seeded.length > 0 ? ` with ${seeded.join(', ')} on it` : '') +
          (fault === 'bl'
            ? ': the evidence part does not come up (out of memory, or its ring refused), the centre is told (300 zone 6), and a held panic is acknowledged and shown'
            : ': it boots, reports 305, and a held panic is acknowledged and shown'),
        ncBooted && !!nc305 && !!ncP && ncLed && (fault === 'bl' ? (oom || refused) && !!cut : !oom),
        `${ncBooted ? 'booted' : 'no boot line'}; 305 ${nc305 ? `acknowledged via ${nc305.transport}` : 'not acknowledged'}; panic ${ncP ? `acknowledged via ${ncP.transport} ${ncP.at - ncT} ms after the press` : 'not acknowledged'}; indicator ${ncLed ? 'on' : 'not shown'}; ${ncM ? `${n0(ncM.used - overhead)} in use` : 'no memory figure'}; ${fault === 'bl' ? `${refused ? 'the recorder refused its ring for want of memory' : oom ? 'OUT OF MEMORY at boot' : 'neither out of memory nor the ring refused (the ballast was not enough)'}, 300 zone 6 ${cut ? `acknowledged via ${cut.transport}` : 'not acknowledged'}` : `the card's log: ${(ncOut.match(/(error|warn) [^\n]*(card|spool|audio|record)[^\n]*/gi) || []).slice(0, 2).join(' | ') || 'none'}`}`
      );
      if (fault === 'nc') {
        // The installer can still read what is wrong: the unit answers, and its storage step names the card.
        const i = await installerRequest(nc, 9001, { op: 'info' }, 8000);
        const st = await installerRequest(nc, 9002, { op: 'test', step: 'storage' }, 8000);
        check(
          "no card: the installer still gets answers (recordings and card files unknown), and the storage step fails card-fault with the card's own error (it passed before: the spool gave its nominal size)",
          !!i && i.ok === true && i.recordings === -1 && i.spoolFiles === -1 && !!st && st.error === 'card-fault',
          `info ${i ? JSON.stringify({ ok: i.ok, error: i.error, recordings: i.recordings, spoolFiles: i.spoolFiles }) : 'no answer'}; storage ${st ? JSON.stringify({ error: st.error, why: st.why }) : 'no answer'}`
        );
      }
      await nc.stop();
    };

    // ---- what the harness itself costs: the prelude alone, idle (compared with a bare interpreter)
    // A bare interpreter booting from flash: .boot0 only prints its usage.
    const bareDir = path.join(tmp, 'bare');
    fs.mkdirSync(bareDir);
    fs.writeFileSync(path.join(bareDir, 'b.js'), 'setTimeout(function(){print("USED "+process.memory().usage);},300);');
    await evalOnce(
      bin,
      bareDir,
      storeCommand([{ name: '.boot0', file: path.join(bareDir, 'b.js') }], false),
      /STORED DONE/
    );
    const bareUnit = newUnit(bareDir);
    bareUnit.start(RCC.POR);
    await bareUnit.waitFor(/USED \d+/, 5000);
    await bareUnit.stop();
    units.splice(units.indexOf(bareUnit), 1);
    const bareUsed = Number((/USED (\d+)/.exec(bareUnit.output()) || [])[1] || 0);
    const base = newUnit(await prepare('prelude-only', false));
    base.start(RCC.POR);
    await sleep(1500);
    const bm = await base.memory();
    await base.stop();
    overhead = bm ? bm.used - bareUsed : 0;
    check(
      'the board prelude runs on the interpreter (no image)',
      !!bm && base.violations.length === 0,
      bm
        ? `harness resident ${n0(overhead)} variables (prelude ${n0(bm.used)} vs bare interpreter ${n0(bareUsed)}); the board figures below are net of it`
        : 'no answer on the control channel:\n' + base.output().slice(-1500)
    );
    ctlB.onData(() => undefined);

    // ---- the unit: image stored as .bootcde, config written as the factory would
    const layout = configLayout(code);
    const cfg = simDefaultConfig(
      {
        primary: { port: primary.tcpPort, transport: 'tcp' },
        secondary: { port: secondary.udpPort, transport: 'udp' }
      },
      { port: evidence.port }
    );
    cfg.network = haveWifi ? { wifi: WIFI, apn: 'internet' } : { apn: 'internet' };
    const diagPre = process.env.ESPRUINO_WIFI_PRE_MS;
    if (diagPre !== undefined) {
      // Diagnostic only (not the board's default): a smaller ring, e.g. to give back what the harness takes.
      cfg.audio.preMs = Number(diagPre);
      log(
        `  DIAGNOSTIC RUN: audio.preMs ${cfg.audio.preMs} instead of the default (ring smaller than the board's default config): these results are not the default configuration's`
      );
    }
    if (process.env.ESPRUINO_WIFI_ONLY === 'nocard') {
      log('  DIAGNOSTIC RUN (ESPRUINO_WIFI_ONLY=nocard): only the boot without a card');
      await faultyBootPhase(cfg, layout);
      await faultyBootPhase(cfg, layout, 'fc');
      await faultyBootPhase(cfg, layout, 'ur');
      return figures;
    }
    if (process.env.ESPRUINO_WIFI_ONLY === 'oom') {
      log('  DIAGNOSTIC RUN (ESPRUINO_WIFI_ONLY=oom): only the boot with memory short');
      await faultyBootPhase(cfg, layout, 'bl');
      return figures;
    }
    if (process.env.ESPRUINO_WIFI_ONLY === 'port') {
      log('  DIAGNOSTIC RUN (ESPRUINO_WIFI_ONLY=port): only the commissioning over the Espruino tools');
      await portPhase(cfg);
      return figures;
    }
    const dir = await prepare('unit', true, layout === 'storage' ? JSON.stringify(cfg) : undefined);
    const storeLog = fs.readFileSync(path.join(dir, 'store.log'), 'latin1');
    const sha = crypto.createHash('sha256').update(image).digest('hex');
    const stored =
      new RegExp(`STORED \\.bootcde ${image.length}\\b`).test(storeLog) && storeLog.includes(`BOOTCDE SHA256 ${sha}`);
    check(
      'image stored as .bootcde byte for byte (as --flash stores it), harness files beside it',
      stored,
      stored
        ? `${n0(image.length)} B, SHA-256 ${sha.slice(0, 16)}…; .boot0 (prelude) ${/STORED \.boot0 (\d+)/.exec(storeLog)?.[1]} B`
        : storeLog.slice(-600)
    );
    log(
      `  config provisioned as the image reads it: ${layout === 'storage' ? 'cfg.json in Storage' : await provisionFlashStore(dir, JSON.stringify(cfg))}`
    );

    const unit = newUnit(dir);
    const mark = () => unit.output().length;
    const mem = async (step: string): Promise<MemoryFigures | undefined> => {
      const at = Date.now();
      const m = await unit.memory();
      steps.push({ step, m, at });
      log(`    memory ${step}: ${m ? fmt(m, overhead) : 'no answer (unit not running)'}`);
      return m;
    };
    const t0 = Date.now();
    unit.start(RCC.POR);
    const booted = await unit.waitFor(/boot \S+ unit \S+ on ESPRUINOWIFI/, 20000);
    // A unit whose boot code was aborted (out of memory) answers nothing: later waits are short.
    await sleep(1500);
    const dead = !booted || /Execution Interrupted/.test(unit.output());
    const W = (ms: number) => (dead ? Math.min(ms, 3000) : ms);
    check(
      'the unit boots from flash (.boot0 prelude, then .bootcde)',
      booted,
      booted ? `boot line after ${Date.now() - t0} ms` : around(unit.output(), /MEMORY|Error|Uncaught/)
    );
    const at305 = await waitEvent(
      [primary, secondary],
      (e) => !!e.cid && e.cid.code === '305' && e.reply === 'ACK' && e.at >= t0,
      W(30000)
    );
    check(
      'it reports 305 (reset) and the centre acknowledges it',
      !!at305,
      at305
        ? `via ${at305.transport === 'tcp' ? 'Wi-Fi (primary, TCP)' : 'cellular (secondary, UDP)'} ${at305.at - t0} ms after boot`
        : 'no 305 at either receiver:\n' + around(unit.output(), /MEMORY|Error|Uncaught|305/)
    );
    if (haveWifi) {
      await waitUntil(() => esp.stats.joins > 0, W(20000));
      const joined = esp.commands.some((c) => c.startsWith(`AT+CWJAP="${WIFI.ssid}"`)) && esp.stats.joins > 0;
      check(
        "Wi-Fi: the firmware's own ESP8266 driver (hal/espruino/esp8266.ts) brought the chip up on USART2 as the board's Wifi module does (CH_PD, AT+RST, CWMODE, CWJAP with the config's credentials)",
        joined,
        `${esp.stats.resets} boot(s), ${esp.stats.joins} join(s), ${esp.stats.connects} socket(s); commands: ${[...new Set(esp.commands.map((c) => c.replace(/=.*/, '=…')))].slice(0, 14).join(' ')}`
      );
    }
    const cell = modem.commands.includes('AT+CIICR') && modem.commands.includes('AT+CIFSR');
    check(
      "cellular: the firmware's AT driver brought the SIM800 emulator up on USART1",
      cell,
      `${modem.commands.length} commands: ${[...new Set(modem.commands.map((c) => c.replace(/=.*/, '=…')))].slice(0, 12).join(' ')}`
    );
    await sleep(3000);
    const idle = await mem('idle after boot');
    if (idle) figures.idleUsed = idle.used - overhead;
    check(
      `idle: <= ${n0(BUDGET.idleUsed)} variables in use (70% of ${n0(BUDGET.total)}), the firmware running`,
      !!idle && !dead && idle.used - overhead <= BUDGET.idleUsed,
      (idle ? `${n0(idle.used - overhead)} in use on the board (${n0(idle.used)} with the harness)` : 'no answer') +
        (dead ? '; not a running unit: its boot was aborted (see above), so this is what was left' : '')
    );
    log(
      '    memory at each require() and first log lines of the boot (variables in use, with the harness): ' +
        unit.requires
          .filter((q) => q.boot === unit.boots)
          .map((q) => `${q.module} ${n0(q.used)}`)
          .join(', ')
    );
    if (process.env.ESPRUINO_WIFI_ONLY === 'idle') {
      log('  DIAGNOSTIC RUN (ESPRUINO_WIFI_ONLY=idle): only the boot and its idle memory');
      return figures;
    }

    // ---- installer requests on the console (docs/installer.md)
    let reqId = 100;
    const ask = (req: Record<string, unknown>, ms = W(8000)) => installerRequest(unit, ++reqId, req, ms);
    const info = await ask({ op: 'info' });
    check(
      'installer info: the unit answers, with the SHA-256 of .bootcde computed on the interpreter',
      !!info && info.ok === true && info.fwHash === sha && info.board === 'ESPRUINOWIFI',
      info
        ? `unit ${info.unit}, board ${info.board}, fwHash ${String(info.fwHash).slice(0, 16)}…`
        : 'no answer:\n' + around(unit.output(), /MEMORY|Error|Uncaught|@I/)
    );
    await mem('after installer info');
    const mic = await ask({ op: 'test', step: 'mic' }, W(10000));
    check(
      'installer mic test: Waveform blocks measured natively pass with a live microphone (the ramp 1..254: RMS about 73)',
      !!mic && mic.ok === true && Number(mic.rms) > 60 && Number(mic.rms) < 85,
      mic ? JSON.stringify(mic) : 'no answer'
    );
    const power = await ask({ op: 'test', step: 'power' });
    check(
      'installer power test: mains on A6, battery on A7 (ADC, 2:1 divider)',
      !!power && power.ok === true,
      power ? JSON.stringify(power) : 'no answer'
    );
    const paths = await ask({ op: 'test', step: 'paths' });
    check(
      'installer paths test: Wi-Fi and cellular up with their signal',
      !!paths && paths.ok === true,
      paths ? JSON.stringify(paths) : 'no answer'
    );
    const bad = JSON.parse(JSON.stringify(cfg));
    bad.holdMs = 9999;
    const refused = await ask({ op: 'config', config: bad }, W(10000));
    check(
      'installer: a bad config is refused naming the field',
      !!refused && refused.error === 'config-refused',
      refused ? JSON.stringify(refused).slice(0, 200) : 'no answer'
    );
    // Diagnostic only: the same bad config sent again and again (ESPRUINO_WIFI_CONFIG_REPEAT=N),
    // to measure how often the request meets a busy moment; not part of the checks' verdict.
    const repeat = Number(process.env.ESPRUINO_WIFI_CONFIG_REPEAT) || 0;
    if (repeat > 0) {
      let refusedN = 0;
      let lowMem = 0;
      for (let i = 0; i < repeat && unit.running(); i++) {
        const a = await ask({ op: 'config', config: bad }, W(10000));
        if (a && a.error === 'config-refused') refusedN++;
        else if (a && a.error === 'low-memory') lowMem++;
      }
      log(
        `  DIAGNOSTIC: the bad config ${repeat} times more: ${refusedN} refused naming the field, ${lowMem} low-memory, ${repeat - refusedN - lowMem} other or no answer`
      );
    }
    await mem('after installer requests');

    // ---- panic over Wi-Fi
    const press = async (ms: number) => {
      unit.ctl('L B3 0');
      await sleep(ms);
      unit.ctl('L B3 1');
    };
    unit.ctl('R');
    let t = Date.now();
    await press(2000);
    // The worst moment the RAM budget names (issue #17): the alarm in flight on both paths, the
    // recording just begun, its upload about to start, and an installer request arriving.
    const during = ask({ op: 'info' }, W(20000));
    const p1 = await waitEvent(
      [primary],
      (e) => !!e.cid && e.cid.code === '120' && e.cid.qualifier === 1 && e.reply === 'ACK' && e.at >= t,
      W(15000)
    );
    check(
      'a held panic (1 120) is acknowledged via Wi-Fi (primary receiver, TCP through the ESP8266)',
      !!p1,
      p1
        ? `at the centre ${p1.at - t} ms after the button went down (hold 1,500 ms)`
        : 'not at the primary:\n' + around(unit.output(), /MEMORY|Error|Uncaught|120/)
    );
    await sleep(800);
    const led = unit.pins.some((p) => p.pin === 'B2' && p.v === 1 && p.at > (p1 ? p1.at : t));
    check(
      'the indicator (B2) confirms the acknowledgement',
      led,
      `B2 changes since the press: ${
        unit.pins
          .filter((p) => p.pin === 'B2' && p.at > t)
          .map((p) => p.v)
          .join('') || 'none'
      }`
    );
    await mem('panic acknowledged, recording');
    // An upload starts only with room for a chunk beside the reserve (firmware/uploader.ts: 1,320
    // free, the worst moment's 1,200 and one chunk's 120). The board has about 1,970 free here;
    // on the interpreter the harness holds 668 of them, and the free count hovers at 1,296-1,321
    // (traced, 2026-12-02), so the first poll that finds room can be 20 s or more after the press.
    const rec = await waitUntil(() => evidence.recordings().find((r) => r.unit === UNIT && r.chunks > 0), W(60000));
    check(
      'the recording the panic started reaches the evidence server (over Wi-Fi)',
      !!rec,
      rec
        ? `recording ${rec.rid}: ${rec.chunks} chunks stored, the first ${n0(Date.now() - t)} ms after the press or sooner (on the interpreter the upload waits for 1,320 free with the harness's variables in the heap)`
        : `nothing uploaded ${n0(Date.now() - t)} ms after the press; ESP8266 sockets ${esp.stats.connects}, bytes out ${n0(esp.stats.bytesOut)}; the unit's log:\n` +
            around(unit.output(), /evidence upload failed|memory low|lean mode|$/)
    );
    const duringInfo = await during;
    // And another while the recording's chunks are going out.
    const duringPaths = await ask({ op: 'test', step: 'paths' }, W(15000));
    check(
      'installer requests during the alarm, the recording and its upload are answered (the worst moment of the RAM budget)',
      !!duringInfo && duringInfo.ok === true && !!duringPaths && duringPaths.ok === true,
      `info ${duringInfo ? JSON.stringify({ ok: duringInfo.ok, recordings: duringInfo.recordings, pending: duringInfo.pending, error: duringInfo.error }) : 'no answer'}; paths ${duringPaths ? JSON.stringify({ ok: duringPaths.ok, error: duringPaths.error }) : 'no answer'}`
    );
    await mem('installer requests during the recording and its upload');

    // ---- Wi-Fi cut: the next panic over cellular
    esp.cutAp();
    await sleep(3000);
    t = Date.now();
    const beforeP = primary.events().length;
    await press(2000);
    const p2 = await waitEvent(
      [secondary],
      (e) => !!e.cid && e.cid.code === '120' && e.cid.qualifier === 1 && e.reply === 'ACK' && e.at >= t,
      W(30000)
    );
    check(
      'with the access point gone, the next held panic is acknowledged via cellular (secondary, UDP through the SIM800)',
      !!p2 && primary.events().length === beforeP,
      p2
        ? `at the centre ${p2.at - t} ms after the press; primary got ${primary.events().length - beforeP} frames meanwhile`
        : 'not at the secondary:\n' + around(unit.output(), /MEMORY|Error|Uncaught|120/)
    );
    await mem('panic over cellular');
    // The unit learns the access point is gone from its 30 s AT+CWJAP? poll (the Wifi module's
    // `disconnected` event never fires on the ESP8266's "WIFI DISCONNECT"): allow for it.
    const cutT = Date.now();
    const chunksBefore = (evidence.recordings().find((r) => r.unit === UNIT) || { chunks: 0 }).chunks;
    const cellUp = await waitUntil(
      () =>
        modem.commands.some((c) => c.includes(`"TCP","127.0.0.1",${evidence.port}`)) &&
        (evidence.recordings().find((r) => r.unit === UNIT) || { chunks: 0 }).chunks > chunksBefore,
      W(75000)
    );
    const recNow = evidence.recordings().find((r) => r.unit === UNIT);
    check(
      "the recording goes on over the modem's own sockets",
      !!cellUp,
      `${cellUp ? `chunks arriving over the modem ${Date.now() - cutT} ms after the panic` : 'no upload over the modem within 75 s'}; ${recNow ? recNow.chunks : 0} chunks stored so far`
    );

    // ---- power cut mid-recording, with an event owed
    primary.faults.down = true;
    secondary.faults.down = true;
    unit.ctl('L B8 1');
    await sleep(2500);
    const cutAt = Date.now();
    const chunksAtCut = (evidence.recordings().find((r) => r.unit === UNIT) || { chunks: 0 }).chunks;
    await mem('before the power cut');
    await unit.kill('power cut');
    esp.powerLoss();
    modem.powerLoss();
    mux.flush();
    unit.ctl('L B8 0');
    primary.faults.down = false;
    secondary.faults.down = false;
    esp.restoreAp();
    await sleep(500);
    const from2 = mark();
    unit.start(RCC.POR);
    const rebooted = await unit.waitFor(/boot \S+ unit \S+ on ESPRUINOWIFI/, 20000, from2);
    const owed = await waitEvent(
      [primary, secondary],
      (e) => !!e.cid && e.cid.code === '137' && e.cid.qualifier === 1 && e.reply === 'ACK' && e.at > cutAt,
      W(45000)
    );
    const r305 = !!(await waitEvent(
      [primary, secondary],
      (e) => !!e.cid && e.cid.code === '305' && e.reply === 'ACK' && e.at > cutAt,
      W(20000)
    ));
    check(
      'after a power cut mid-recording (SIGKILL; same flash file and card) it boots and delivers what it owed (the tamper, 1 137) and a 305',
      rebooted && !!owed && r305,
      `${rebooted ? 'rebooted' : 'did not boot'}; tamper ${owed ? `acknowledged ${owed.at - cutAt} ms after the cut via ${owed.transport}` : 'never delivered'}; 305 ${r305 ? 'acknowledged' : 'missing'}; ${chunksAtCut} chunks were on the server at the cut` +
        (rebooted ? '' : '\n' + around(unit.output().slice(from2), /MEMORY|Error|Uncaught/))
    );
    await sleep(2000);
    await mem('after the power cut, recording resumed');

    // ---- stop the recording; verify what the server assembled
    const r0 = evidence.recordings().find((r) => r.unit === UNIT);
    if (r0) evidence.requestStop(UNIT, r0.rid);
    // Ended: the final manifest is stored and every chunk it declares has arrived (or 90 s).
    const ended = await waitUntil(() => {
      const r = evidence.recordings().find((x) => x.unit === UNIT && r0 && x.rid === r0.rid);
      const m = r && (r.manifest as { end?: string; n?: number } | undefined);
      return r && m && m.end && r.have >= (m.n ?? 0) ? r : undefined;
    }, W(90000));
    let verdict = 'no recording';
    let audio = '';
    let ok = false;
    if (r0) {
      const v = verifyRecordingDir(r0.dir, SIM_KEYS.evidence);
      verdict = `${v.verdict}${v.problems.length ? ': ' + v.problems.slice(0, 3).join('; ') : ''}; ${v.summary.chunks} chunks, ${v.summary.durationS ?? '?'} s, gaps ${v.summary.gaps.map((g) => `${(g as { why?: string }).why ?? '?'}`).join(',') || 'none'}, end ${v.summary.end || 'open'}`;
      ok = v.ok && !!ended;
      const wav = path.join(r0.dir, 'recording.wav');
      if (fs.existsSync(wav)) audio = ramp(parseWav(fs.readFileSync(wav)).samples, v.summary.gaps.length);
    }
    check(
      'the recording is stopped by the operator, uploaded whole, and the independent verifier accepts it (verifyRecordingDir)',
      ok,
      `${verdict}${ended ? '' : ' (no final manifest with all its chunks within 90 s)'}`
    );
    if (audio)
      check(
        "its audio is the microphone's ramp, continuous across chunk seams except at declared gaps",
        audio.startsWith('continuous'),
        audio
      );
    await mem('end');

    // ---- memory over the whole run, errors, and what the prelude saw
    const all = steps.filter((s) => s.m).map((s) => s.m!);
    const worst = all.length ? Math.min(...all.map((m) => m.lowFree)) : 0;
    const worstStep = all.find((m) => m.lowFree === worst);
    const outText = unit.output();
    const OOM = /OUT OF MEMORY|LOW_MEMORY|Not enough memory|,MEMORY/;
    const oom = OOM.test(outText) || all.some((m) => /MEMORY/.test(m.errorFlags));
    if (all.length) figures.worstFree = worst + overhead;
    figures.outOfMemory = oom;
    figures.worstAt = worstStep?.lowAt;
    check(
      `at the worst moment >= ${n0(BUDGET.worstFree)} variables free`,
      all.length > 0 && !oom && worst + overhead >= BUDGET.worstFree,
      (oom ? 'ran out (0 free) at least once; ' : '') +
        (all.length
          ? `lowest free seen while sampling ${n0(worst + overhead)} on the board (${n0(worst)} with the harness; sampled every 100 ms, around each microphone block, at each require, SHA-256 and AES call and control command; at "${worstStep?.lowAt}")`
          : 'no figures')
    );
    // The prelude's counts, cumulative within a boot, as the steps read them.
    const refusedByStep = [...new Set(all.map((m) => m.refused))];
    const ooms = (outText.match(/OUT OF MEMORY/g) || []).length;
    const nem = (outText.match(/Not enough memory/g) || []).length;
    check(
      'no out-of-memory anywhere (console, E.getErrorFlags)',
      !oom,
      oom
        ? `${ooms} "OUT OF MEMORY" and ${nem} "Not enough memory for result" on the console over ${unit.boots} boot(s)` +
            ` (SHA256/AES encrypt/AES decrypt results refused, as the steps read them: ${refusedByStep.join(', ')}); the first:\n` +
            around(outText, OOM)
        : 'none'
    );
    // Each refusal with the free count then and the step whose figures were taken next (issue
    // #16: which piece, at what free count, in which part of the run).
    const refusals = unit.refusals.map((r) => {
      const next = steps.find((s) => s.at >= r.at);
      return `${r.what} of ${n0(r.bytes)} B at ${n0(r.free + overhead)} free on the board (before "${next ? next.step : 'the end'}")`;
    });
    log(
      `    native results refused for want of a free run: ${refusals.length ? `${refusals.length}: ${refusals.slice(0, 20).join('; ')}${refusals.length > 20 ? '; …' : ''}` : 'none'}`
    );
    const wd = unit.events.filter((e) => e.kind === 'watchdog' || e.kind === 'reboot');
    check('no watchdog lapse and no unplanned reboot', wd.length === 0, wd.map((e) => e.text).join('; ') || 'none');

    // ---- the last line of defence: a JavaScript loop that never returns (a firmware bug, or 2v29
    // left interrupted after running out of memory) stops the kicks; the board's IWDG resets it.
    const hungAt = Date.now();
    const wdBefore = unit.events.filter((e) => e.kind === 'watchdog').length;
    unit.ctl('H');
    const lapsed = await waitUntil(
      () => unit.events.filter((e) => e.kind === 'watchdog')[wdBefore],
      (cfg.watchdogS + 10) * 1000
    );
    const wd305 = await waitEvent(
      [primary, secondary],
      (e) => !!e.cid && e.cid.code === '305' && Number(e.cid.zone) === 2 && e.reply === 'ACK' && e.at > hungAt,
      60000
    );
    check(
      `a JavaScript loop that never returns: the watchdog (${cfg.watchdogS} s) resets the board, and it boots and reports 305 zone 2 (watchdog), acknowledged`,
      !!lapsed && !!wd305,
      (lapsed
        ? `reset ${Math.round((lapsed.at - hungAt) / 100) / 10} s after the hang began; `
        : 'no watchdog lapse; ') +
        (wd305
          ? `305 zone 2 acknowledged via ${wd305.transport} ${Math.round((wd305.at - hungAt) / 100) / 10} s after it`
          : 'no 305 zone 2')
    );
    check(
      'the interpreter never crashed',
      unit.crashes.length === 0,
      unit.crashes.length
        ? `${unit.crashes.join(', ')} (the Linux build of 2v29, after running out of memory):\n` +
            around(outText, /interpreter ended: signal/)
        : 'none'
    );
    const viol = units.flatMap((u) => u.violations);
    check(
      'the prelude saw nothing the real board would not do (pins, peripherals, modules, flash, registers)',
      viol.length === 0,
      viol.length ? viol.join('; ') : `notes: ${[...new Set(units.flatMap((u) => u.notes))].join('; ') || 'none'}`
    );
    const storeEnd = all.length ? all[all.length - 1] : undefined;
    if (storeEnd) {
      const top = 256 * 1024 - storeEnd.storageFree;
      log(
        `    Storage on the interpreter: ${n0(storeEnd.storageUsed)} B of files and trash, written up to ${n0(top)} B of the 256 KB file (the board's sectors 1-3 are mapped to its top 48 KB, from ${n0(208 * 1024)} B); largest E.memoryArea copy ${n0(storeEnd.memoryAreaCopy)} B`
      );
      check(
        'Linux Storage stays below the flash window that stands in for sectors 1-3',
        top <= 208 * 1024,
        `${n0(top)} B`
      );
    }
    log('    memory by step (variables; board = without the harness):');
    for (const s of steps) log(`      ${s.step.padEnd(40)} ${s.m ? fmt(s.m, overhead) : 'no answer'}`);
    await unit.stop();

    await faultyBootPhase(cfg, layout);

    await portPhase(cfg);
    await faultyBootPhase(cfg, layout, 'fc');
    await faultyBootPhase(cfg, layout, 'ur');
    await faultyBootPhase(cfg, layout, 'bl');
  } finally {
    for (const u of units) await u.stop();
    if (process.env.KEEP) {
      for (const [i, u] of units.entries()) fs.writeFileSync(path.join(tmp, `console-${i}.log`), u.output());
      fs.writeFileSync(path.join(tmp, 'esp8266.log'), esp.transcript.join('\n'));
      fs.writeFileSync(path.join(tmp, 'modem.log'), modem.commands.join('\n'));
      log(`  kept ${tmp}`);
    }
    if (units.length && units.some((u) => u.violations.length || /MEMORY|Uncaught/.test(u.output()))) {
      const last = units[units.length - 1];
      log('--- unit console (last 4 KB) ---\n' + last.output().slice(-4096));
    }
    esp.dispose();
    modem.dispose();
    if (mux) await mux.close();
    await primary.close();
    await secondary.close();
    await evidence.close();
    if (!process.env.KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  }
  return figures;
}

function fmt(m: MemoryFigures, overhead: number): string {
  return `${n0(m.used - overhead)} used, ${n0(m.free + overhead)} free of ${n0(m.total)} (${Math.round(((m.used - overhead) * 100) / m.total)}%); lowest free ${n0(m.lowFree + overhead)} at ${m.lowAt}; harness ${n0(overhead)}${m.errorFlags ? '; error flags ' + m.errorFlags : ''} | budget: idle <= ${n0(BUDGET.idleUsed)} used, >= ${n0(BUDGET.worstFree)} free`;
}

/** The interpreter output around the first match of `re` (or its end). */
function around(out: string, re: RegExp): string {
  const m = re.exec(out);
  const at = m ? m.index : out.length;
  return out.slice(Math.max(0, at - 1200), at + 800).replace(/\r/g, '');
}

type CentreLike = {
  events(): { at: number; transport: string; reply: string; cid?: { code: string; qualifier: number; zone: string } }[];
};

async function waitEvent<E extends ReturnType<CentreLike['events']>[number]>(
  centres: CentreLike[],
  pred: (e: E) => boolean,
  ms: number
): Promise<E | undefined> {
  return waitUntil(() => {
    for (const c of centres) {
      const e = (c.events() as E[]).find(pred);
      if (e) return e;
    }
    return undefined;
  }, ms);
}

async function waitUntil<T>(fn: () => T | undefined | false, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) return undefined;
    await sleep(100);
  }
}

/**
 * The microphone fed the ramp 1..254 (prelude.js): count where the assembled audio breaks it,
 * not counting runs of 128 (declared gaps and audio never received are 128 in the server's WAV).
 */
function ramp(s: Uint8Array, gaps: number): string {
  let breaks = 0;
  let fills = 0;
  for (let i = 0; i + 1 < s.length; i++) {
    if (s[i] === 128 && s[i + 1] === 128) {
      fills++;
      while (i + 1 < s.length && s[i + 1] === 128) i++;
      continue;
    }
    const next = s[i] === 254 ? 1 : s[i] + 1;
    if (s[i + 1] !== next && !(s[i + 1] === 128 && s[i + 2] === 128)) breaks++;
  }
  const ok = breaks <= gaps + 1;
  return `${ok ? 'continuous' : 'broken'}: ${n0(s.length)} samples, ${breaks} break(s) in the ramp, ${fills} run(s) of fill, ${gaps} gap(s) declared`;
}

/** Where the image keeps its config: the record store on raw flash (`cfg.a`), or Storage (`cfg.json`). */
function configLayout(code: string): 'flash' | 'storage' {
  return code.includes('"cfg.a"') || code.includes("'cfg.a'") ? 'flash' : 'storage';
}

/**
 * Write the config into the record store on raw flash before the first boot (a factory
 * programming station's job), with the firmware's own store code from this tree
 * (firmware/flash-store.ts, stored-config.ts): the board's sectors 1-3 are the top 48 KB of the
 * Linux flash file.
 */
async function provisionFlashStore(dir: string, text: string): Promise<string> {
  const { SimNorFlash, createSimFlashArea } = await import('../sim/nor');
  const { createFlashStore } = await import('../firmware/flash-store');
  const { writeStoredConfig } = await import('../firmware/stored-config');
  const { createSimCrypto } = await import('../sim/crypto');
  const nor = new SimNorFlash(16 * 1024, 2);
  writeStoredConfig(createFlashStore(createSimFlashArea(nor), createSimCrypto()), text);
  const module = fs.readFileSync(path.join(__dirname, '..', 'dist', 'installer-module.img'));
  const fd = fs.openSync(path.join(dir, 'espruino.flash'), 'r+');
  fs.writeSync(fd, Buffer.from(nor.bytes), 0, nor.bytes.length, 256 * 1024 - 48 * 1024);
  fs.writeSync(fd, module, 0, module.length, 256 * 1024 - 16 * 1024);
  fs.closeSync(fd);
  return `record store on raw flash (cfg.a/cfg.b, ${text.length} B of config) in the top 48 KB of espruino.flash = sectors 1-2, the installer module (${module.length} B) in sector 3`;
}

if (require.main === module) {
  const bin = process.env.ESPRUINO_BIN;
  if (!bin) {
    console.log(
      'test:espruino (Espruino WiFi image) skipped: set ESPRUINO_BIN to an Espruino interpreter built for Linux'
    );
    console.log('0 passed, 0 failed, 1 skipped');
    process.exit(0);
  }
  const results: boolean[] = [];
  runWifiBoard(bin, (name, ok, detail) => {
    results.push(ok);
    console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` (${detail})` : ''}`);
  })
    .catch((e) => {
      console.error(e);
      results.push(false);
    })
    .finally(() => {
      const passed = results.filter(Boolean).length;
      console.log(`${passed} passed, ${results.length - passed} failed`);
      process.exit(results.length === passed ? 0 : 1);
    });
}
