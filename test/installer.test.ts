import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as nodeCrypto from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSimSite, SimSite } from '../sim/site';
import { SIM_KEYS, simDefaultConfig } from '../sim/default-config';
import { Session, simTransport } from '../tools/installer-link';
import {
  MODULE_IMG,
  commission,
  commissionProblems,
  simSiteActions,
  buildFirmware,
  verifyReport,
  CommissioningReport
} from '../tools/commission';
import { decommission } from '../tools/decommission';
import { createSimUnit } from '../sim/unit';
import { SimNorFlash, SimPowerLoss, createSimFlashArea } from '../sim/nor';
import { createFlashStore } from '../firmware/flash-store';
import { createSimCrypto } from '../sim/crypto';
import { writeStoredConfig, CONFIG_A, CONFIG_B } from '../firmware/stored-config';
import { generators } from '../sim/mic';
import type { Config } from '../firmware/config';
import { PASSWORD_RECORD } from '../firmware/stored-config';

const PASSWORD = 'Install3r-Pass';
const WIFI_PASSWORD = 'wifi-secret-123';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Build the board firmware once for the whole file (the tool flashes it into each fresh unit). */
let firmwareFile: Promise<string> | undefined;
const firmware = (board: string) => (firmwareFile ??= buildFirmware(board));

function siteConfig(site: SimSite): Config {
  const c: Config = JSON.parse(JSON.stringify(site.config));
  c.network = { wifi: { ssid: 'HomeNet', password: WIFI_PASSWORD }, apn: 'internet' };
  return c;
}

/** Every secret the unit holds in these tests: none may appear in any output. */
const SECRETS = [SIM_KEYS.primary, SIM_KEYS.secondary, SIM_KEYS.evidence, PASSWORD, WIFI_PASSWORD];

function assertNoSecrets(where: string, text: string): void {
  for (const s of SECRETS) assert.ok(!text.toLowerCase().includes(s.toLowerCase()), `${where} contains a secret`);
}

function cid(site: SimSite, i: number): string[] {
  return site.centres[i]
    .events()
    .filter((e) => e.cid)
    .map((e) => e.cid!.code);
}

describe('installer: commissioning, console lock, decommission (sim site)', function () {
  this.timeout(120000);
  let site: SimSite;
  let outDir: string;
  let log: string[];
  let report: CommissioningReport;

  before(async () => {
    site = await createSimSite();
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'commissioning-'));
  });
  after(async () => {
    await site.close();
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  it('commissions a factory-fresh unit: flashes, configures, passes every self-test step, writes a signed report, locks the console', async () => {
    log = [];
    const r = await commission({
      config: siteConfig(site),
      installerId: 'INST-042',
      password: PASSWORD,
      site: simSiteActions(site),
      firmware,
      outDir,
      log: (l) => log.push(l)
    });
    assert.ok(r.ok, log.join('\n'));
    report = r.report!;
    assert.equal(report.result, 'PASSED');
    assert.deepEqual(
      report.steps.map((s) => `${s.step}:${s.ok}`),
      [
        'button:true',
        'indicator:true',
        'mic:true',
        'paths:true',
        'report:true',
        'report:true',
        'power:true',
        'storage:true',
        'clock:true'
      ]
    );
    // Figures from the unit, not placeholders.
    const mic = report.steps[2].figures;
    assert.ok((mic.rms as number) > 3 && (mic.rms as number) < 20, `mic rms ${mic.rms}`);
    assert.equal(mic.clippedPct, 0);
    assert.ok((report.steps[0].figures.heldMs as number) >= 250);
    // The 601 was acknowledged by the real receiver on each path: one on each, none elsewhere.
    assert.equal(cid(site, 0).filter((c) => c === '601').length, 1);
    assert.equal(cid(site, 1).filter((c) => c === '601').length, 1);
    assert.equal(report.installer, 'INST-042');
    assert.equal(report.unit, 'SIM-0001');
    assert.match(report.firmware.sha256, /^[0-9a-f]{64}$/);
    assert.equal(
      report.firmware.sha256,
      nodeCrypto
        .createHash('sha256')
        .update(fs.readFileSync(await firmware('ESPRUINOWIFI')))
        .digest('hex')
    );
    assert.equal(report.serviceStart, new Date().toISOString().slice(0, 10));
    // The fresh board's code sector was empty: the tool wrote this build's installer module, which
    // the unit checked against the SHA-256 its image carries and now runs from that sector.
    assert.ok(
      log.some((l) => /Installer module[. ]+written \(\d+ bytes\) and checked/.test(l)),
      log.join('\n')
    );
    const code = site.unit.sim.world.code;
    assert.ok(code.bytes && code.expect && code.loads > 0);
    assert.deepEqual(Buffer.from(code.bytes.subarray(0, fs.statSync(MODULE_IMG).size)), fs.readFileSync(MODULE_IMG));
    // Files: JSON and HTML; the signature checks with the unit's key and fails on any change.
    assert.ok(fs.existsSync(r.files!.json) && fs.existsSync(r.files!.html));
    const onDisk: CommissioningReport = JSON.parse(fs.readFileSync(r.files!.json, 'utf8'));
    assert.deepEqual(verifyReport(onDisk, SIM_KEYS.evidence), { ok: true });
    assert.equal(verifyReport(onDisk, SIM_KEYS.evidence.replace(/^6c/, '6d')).ok, false);
    const edited = { ...onDisk, steps: onDisk.steps.map((s, i) => (i === 2 ? { ...s, ok: !s.ok } : s)) };
    assert.equal(verifyReport(edited, SIM_KEYS.evidence).ok, false);
    const html = fs.readFileSync(r.files!.html, 'utf8');
    assert.match(html, /Commissioning report: unit SIM-0001/);
    assert.match(html, /INST-042/);
    assert.match(html, /Manual test report \(601\), secondary path/);
    // No secret in the report, the tool's output, the unit's log or anything on its console.
    assertNoSecrets('report JSON', fs.readFileSync(r.files!.json, 'utf8'));
    assertNoSecrets('report HTML', html);
    assertNoSecrets('tool output', log.join('\n'));
    assertNoSecrets('unit log', site.unit.sim.world.log.map((l) => l.message).join('\n'));
    assertNoSecrets('unit console', site.unit.sim.world.console.output.join('\n'));
  });

  it('a locked console runs nothing, not even a read, until the password is typed; it locks again at every boot', async () => {
    const con = site.unit.sim.world.console;
    assert.ok(con.locked);
    const s = new Session(simTransport(con));
    const before = con.refused;
    assert.equal((await s.request('info', {}, { timeoutMs: 800 })).ok, false);
    assert.equal((await s.request('config', { config: simDefaultConfig() }, { timeoutMs: 800 })).ok, false);
    assert.ok(con.refused >= before + 2);
    assert.equal(await s.unlock('not-the-password'), false);
    assert.ok(await s.unlock(PASSWORD));
    const info = await s.request('info');
    assert.equal(info.unit, 'SIM-0001');
    assert.equal(info.locked, true);
    // A power cut: Espruino forgets the password; the firmware locks again from its record.
    site.unit.powerCut();
    assert.ok(con.locked);
    assert.equal((await s.request('info', {}, { timeoutMs: 800 })).ok, false);
    // The tool unlocks it when given the password.
    assert.ok(await s.unlock(PASSWORD));
    assert.equal((await s.request('lock')).ok, true);
    assert.ok(con.locked);
    await s.close();
  });

  it('re-commissions a commissioned, locked unit with a changed config: the tool unlocks it again after each restart', async () => {
    const c = siteConfig(site);
    c.holdMs = 1800;
    const log: string[] = [];
    const r = await commission({
      config: c,
      installerId: 'INST-042',
      password: PASSWORD,
      site: simSiteActions(site),
      firmware,
      outDir,
      log: (l) => log.push(l)
    });
    assert.ok(r.ok, log.join('\n'));
    assert.equal(site.unit.app.config().holdMs, 1800);
    assert.ok(site.unit.sim.world.console.locked);
  });

  it('refuses every bad value in every config field, naming the field; the unit keeps its config and keeps protecting', async () => {
    const con = site.unit.sim.world.console;
    const s = new Session(simTransport(con));
    assert.ok(await s.unlock(PASSWORD));
    const good = (await s.request('info')).configSha256;
    const stored = site.unit.sim.world.store().read(CONFIG_A);
    const base = JSON.parse(JSON.stringify(site.unit.app.config())) as Config;
    const cases: [string, (c: any) => void][] = [
      ['version', (c) => (c.version = 2)],
      ['unitId', (c) => (c.unitId = 'bad id!')],
      ['account', (c) => (c.account = '12G4')],
      ['holdMs', (c) => (c.holdMs = 6000)],
      ['alarmS', (c) => (c.alarmS = 10)],
      ['indicator.confirm', (c) => (c.indicator.confirm = 'flash')],
      ['indicator.bootFlash', (c) => (c.indicator.bootFlash = 'yes')],
      ['watchdogS', (c) => (c.watchdogS = 1)],
      ['report.format', (c) => (c.report.format = 'xml')],
      ['report.receivers', (c) => (c.report.receivers = [1, 2, 3])],
      ['report.receivers[0].path', (c) => (c.report.receivers[0].path = 'lora')],
      ['report.receivers[0].host', (c) => (c.report.receivers[0].host = 'bad host')],
      ['report.receivers[0].port', (c) => (c.report.receivers[0].port = 70000)],
      ['report.receivers[0].transport', (c) => (c.report.receivers[0].transport = 'sctp')],
      ['report.receivers[0].account', (c) => (c.report.receivers[0].account = 'xyz')],
      ['report.receivers[0].receiver', (c) => (c.report.receivers[0].receiver = '1234567')],
      ['report.receivers[0].line', (c) => (c.report.receivers[0].line = '')],
      ['report.receivers[0].key', (c) => (c.report.receivers[0].key = 'short')],
      ['report.receivers[1].key', (c) => (c.report.receivers[1].keyFormat = 'base64')],
      ['report.labUnencrypted', (c) => (c.report.labUnencrypted = 'no')],
      ['report.ackTimeoutMs', (c) => (c.report.ackTimeoutMs = 100)],
      ['report.failoverMs', (c) => (c.report.failoverMs = 20000)],
      ['report.slowFailoverMs', (c) => (c.report.slowFailoverMs = 1.5)],
      ['report.retryMaxMs', (c) => (c.report.retryMaxMs = -1)],
      ['report.panicCode', (c) => (c.report.panicCode = 123)],
      ['supervision.primaryS', (c) => (c.supervision.primaryS = 5)],
      ['supervision.secondaryS', (c) => (c.supervision.secondaryS = 100000)],
      ['supervision.degradedS', (c) => (c.supervision.degradedS = '90')],
      ['supervision.failAfter', (c) => (c.supervision.failAfter = 0)],
      ['supervision.testReportH', (c) => (c.supervision.testReportH = 200)],
      ['gestures.cancelTaps', (c) => (c.gestures.cancelTaps = 1)],
      ['gestures.duressTaps', (c) => (c.gestures.duressTaps = 3)],
      ['gestures.tapGapMs', (c) => (c.gestures.tapGapMs = 100)],
      ['inputs.mainsDelayS', (c) => (c.inputs.mainsDelayS = 4000)],
      ['inputs.lowBatteryV', (c) => (c.inputs.lowBatteryV = 1)],
      ['inputs.tamperMs', (c) => (c.inputs.tamperMs = 10000)],
      ['inputs.perHour', (c) => (c.inputs.perHour = 0)],
      ['audio.rate', (c) => (c.audio.rate = 44100)],
      ['audio.preMs', (c) => (c.audio.preMs = 20000)],
      ['audio.chunkMs', (c) => (c.audio.chunkMs = 100)],
      ['audio.maxS', (c) => (c.audio.maxS = 10)],
      ['service.start', (c) => (c.service.start = '2026-02-30')],
      ['service.days', (c) => (c.service.days = 0)],
      ['evidence.host', (c) => (c.evidence.host = 'https://x')],
      ['evidence.port', (c) => (c.evidence.port = 0)],
      ['evidence.cellularKB', (c) => (c.evidence.cellularKB = -5)],
      ['evidence.key', (c) => (c.evidence.key = 'abcd')],
      ['evidence.batch', (c) => (c.evidence.batch = 9)],
      ['network.wifi.ssid', (c) => (c.network = { wifi: { ssid: '', password: WIFI_PASSWORD } })],
      ['network.wifi.password', (c) => (c.network = { wifi: { ssid: 'HomeNet', password: 'short' } })],
      ['network.apn', (c) => (c.network = { apn: 'bad apn!' })],
      ['extra', (c) => (c.extra = 1)]
    ];
    for (const [field, spoil] of cases) {
      const c = JSON.parse(JSON.stringify(base));
      spoil(c);
      const r = await s.request('config', { config: c });
      assert.equal(r.ok, false, field);
      assert.equal(r.error, 'config-refused', field);
      const fields = (r.problems as { field: string; reason: string }[]).map((p) => p.field);
      assert.ok(fields.includes(field), `${field}: got ${fields.join(', ')}`);
      // The installer tool refuses the same config before sending anything.
      assert.ok(
        commissionProblems(c).some((p) => p.field === field),
        `tool: ${field}`
      );
    }
    // Nothing changed: same config in force, same record, no restart, no secret echoed.
    assert.equal((await s.request('info')).configSha256, good);
    assert.match(String(good), /^[0-9a-f]{64}$/);
    assert.equal(site.unit.sim.world.store().read(CONFIG_A), stored);
    assert.equal(site.unit.sim.world.store().read(CONFIG_B), stored);
    assertNoSecrets('unit console', site.unit.sim.world.console.output.join('\n'));
    await s.request('lock');
    await s.close();
    // Still protecting: a held press reaches the centre.
    const panics = () => cid(site, 0).filter((c) => c === '120').length;
    const n = panics();
    site.unit.sim.world.button.press(2000);
    for (let i = 0; i < 60 && panics() === n; i++) await sleep(100);
    assert.equal(panics(), n + 1);
  });

  it('decommission: refused while a recording is not uploaded; forced with the wrong password: refused; with the password: reported (308), then everything erased', async () => {
    const world = site.unit.sim.world;
    const actions = simSiteActions(site);
    // The press in the previous test started a recording; the evidence server now refuses uploads.
    await site.evidence.close();
    for (let i = 0; i < 30 && site.unit.app.status().stored === 0; i++) await sleep(100);
    assert.ok(site.unit.app.status().stored > 0, 'a recording waits on the unit');
    const lines: string[] = [];
    const refused = await decommission(actions, { password: PASSWORD, force: false, log: (l) => lines.push(l) });
    assert.equal(refused.ok, false);
    assert.match(refused.reason!, /not yet uploaded/);
    assert.ok(world.store().read(CONFIG_A) !== undefined && world.spool.blobs.size > 0, 'nothing erased');
    assert.ok(world.console.locked, 'left locked');
    const wrong = await decommission(actions, { password: 'Wrong-Pass-1', force: true, log: (l) => lines.push(l) });
    assert.equal(wrong.ok, false);
    assert.ok(world.store().read(CONFIG_A) !== undefined);
    // The wrong password cannot even open the console; open it and force with a wrong one.
    const s = new Session(simTransport(world.console));
    assert.ok(await s.unlock(PASSWORD));
    const bad = await s.request('decommission', { force: true, password: 'Wrong-Pass-1' });
    assert.equal(bad.error, 'wrong-password');
    await s.request('lock');
    await s.close();
    assert.ok(world.store().read(CONFIG_A) !== undefined && world.spool.blobs.size > 0, 'nothing erased');

    const before308 = cid(site, 0)
      .concat(cid(site, 1))
      .filter((c) => c === '308').length;
    const done = await decommission(actions, { password: PASSWORD, force: true, log: (l) => lines.push(l) });
    assert.ok(done.ok, lines.join('\n'));
    assert.equal(
      cid(site, 0)
        .concat(cid(site, 1))
        .filter((c) => c === '308').length,
      before308 + 1
    );
    await sleep(500);
    // Keys, config, password and evidence are gone; the unit runs in its factory state, console open.
    assert.equal(world.spool.blobs.size, 0);
    const store = world.store();
    for (const name of [CONFIG_A, CONFIG_B, PASSWORD_RECORD, 'svc.json', 'rec.id'])
      assert.equal(store.read(name), undefined, name);
    const flashText = Buffer.from(world.nor.bytes).toString('latin1');
    assertNoSecrets('flash after decommission', flashText);
    assert.equal(world.console.locked, false);
    assert.equal(site.unit.app.config().unitId, 'UNCOMMISSIONED');
    assert.equal(site.unit.app.config().report.receivers.length, 0);
    assertNoSecrets('decommission output', lines.join('\n'));
  });
});

describe('installer: failures are reported step by step, with a reason and a hint', function () {
  this.timeout(120000);

  it('a dead microphone and a unit off mains fail those steps (report FAILED, still signed and locked); the rest pass', async () => {
    const site = await createSimSite();
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'commissioning-'));
    try {
      site.unit.sim.world.mic.source(generators.silence());
      site.unit.sim.world.power.unplug();
      const log: string[] = [];
      const r = await commission({
        config: site.config,
        installerId: 'INST-7',
        password: PASSWORD,
        site: simSiteActions(site),
        firmware,
        outDir,
        log: (l) => log.push(l)
      });
      assert.equal(r.ok, false);
      assert.equal(r.report!.result, 'FAILED');
      const failed = r.report!.steps.filter((s) => !s.ok);
      assert.deepEqual(
        failed.map((s) => s.step),
        ['mic', 'power']
      );
      assert.match(failed[0].reason!, /silent/);
      assert.match(failed[0].hint!, /microphone/);
      assert.equal(failed[0].figures.rms, 0);
      assert.match(failed[1].reason!, /mains/);
      assert.ok(log.some((l) => /what to do: plug the supply/.test(l)));
      assert.deepEqual(verifyReport(r.report!, SIM_KEYS.evidence), { ok: true });
      assert.ok(site.unit.sim.world.console.locked);
    } finally {
      await site.close();
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  });

  it('a unit that comes back from its restart with another config: the Config step says which hash it reports, not only that it differs', async () => {
    const site = await createSimSite();
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'commissioning-'));
    try {
      const actions = simSiteActions(site);
      const other = 'a'.repeat(64);
      // The unit's info after the config's restart reports another config (as a unit that kept
      // its old one would): every info line after the put's `restart` reply.
      let restarted = false;
      const connect = async () => {
        const t = simTransport(site.unit.sim.world.console);
        return new Session({
          write: (text) => t.write(text),
          onLine: (fn) =>
            t.onLine((l) => {
              if (/"restart":true/.test(l)) restarted = true;
              else if (restarted) l = l.replace(/"configSha256":"[0-9a-f]{64}"/, `"configSha256":"${other}"`);
              fn(l);
            }),
          close: () => t.close()
        });
      };
      const log: string[] = [];
      const r = await commission({
        config: site.config,
        installerId: 'INST-8',
        password: PASSWORD,
        site: { ...actions, connect },
        firmware,
        outDir,
        log: (l) => log.push(l)
      });
      assert.ok(restarted, 'the config was put and the unit restarted');
      assert.equal(r.ok, false);
      assert.equal(r.error, 'config not verified');
      const line = log.find((l) => /Config\.+ FAIL/.test(l));
      assert.ok(line, log.join('\n'));
      const m = /reports a config with SHA-256 (a{16})…, not the ([0-9a-f]{16})… sent$/.exec(line);
      assert.ok(m, line);
      assert.notEqual(m[2], m[1]);
    } finally {
      await site.close();
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  });

  it('the tool refuses a config that could not protect anyone before touching the unit', async () => {
    const c = simDefaultConfig({ primary: { port: 1 } });
    const fields = commissionProblems(c).map((p) => p.field);
    assert.deepEqual(fields, ['report.receivers', 'evidence']);
    c.unitId = 'UNCOMMISSIONED';
    assert.ok(commissionProblems(c).some((p) => p.field === 'unitId'));
  });

  it('a power cut at a random word of a config replace, inside its writes or inside the sector erase it causes, boots the old config or the verified new one and keeps the other records', () => {
    const crypto = createSimCrypto();
    const old = simDefaultConfig();
    old.unitId = 'OLD-UNIT';
    const next = simDefaultConfig();
    next.unitId = 'NEW-UNIT';
    let seed = 29;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    /**
     * A store with the old config and other records, its written sector filled to `fill` filler
     * writes: from 15 of them the replace no longer fits, so it rotates and erases a sector.
     */
    const setUp = (fill: number) => {
      const nor = new SimNorFlash();
      const store = createFlashStore(createSimFlashArea(nor), crypto);
      writeStoredConfig(store, JSON.stringify(old));
      store.appendFile('j.keep').append('owed-event\n');
      for (let n = 0; n < fill; n++) store.write('tst.fill', `${n}:` + 'f'.repeat(900));
      return nor;
    };
    /** Words the replace programs and erases from this fill level (a cut past them never lands). */
    const span = (fill: number) => {
      const nor = setUp(fill);
      nor.cutAfterWords = 1e9;
      writeStoredConfig(createFlashStore(createSimFlashArea(nor), crypto), JSON.stringify(next));
      const words = 1e9 - nor.cutAfterWords;
      nor.revive();
      return { words, erased: nor.erases.some((e) => e > 0) };
    };
    const seen = new Set<string>();
    const landed = { erase: 0, write: 0 };
    let rotating = 0;
    for (let trial = 0; trial < 160; trial++) {
      const fill = 12 + rnd(5);
      const { words, erased } = span(fill);
      if (erased) rotating++;
      const nor = setUp(fill);
      const cut = rnd(words + 1);
      nor.cutAfterWords = cut;
      try {
        writeStoredConfig(createFlashStore(createSimFlashArea(nor), crypto), JSON.stringify(next));
      } catch (e) {
        assert.ok(e instanceof SimPowerLoss);
      }
      if (nor.lostIn) landed[nor.lostIn]++;
      nor.revive();
      const at = `fill ${fill}, cut after ${cut} of ${words} words`;
      const kept = createFlashStore(createSimFlashArea(nor), crypto);
      assert.equal(kept.appendFile('j.keep').read(), 'owed-event\n', `${at}: the journal's file is intact`);
      assert.match(
        kept.read('tst.fill') ?? '',
        new RegExp(`^${fill - 1}:`),
        `${at}: the latest state record is intact`
      );
      const unit = createSimUnit(undefined, { nor, micOff: true });
      try {
        const id = unit.app.config().unitId;
        assert.ok(id === 'OLD-UNIT' || id === 'NEW-UNIT', `${at}: booted ${id}`);
        seen.add(id);
      } finally {
        unit.shutdown();
      }
    }
    assert.deepEqual([...seen].sort(), ['NEW-UNIT', 'OLD-UNIT'], 'both outcomes reached');
    assert.ok(rotating > 20, `the replace rotated the store in ${rotating} trials`);
    assert.ok(
      landed.erase > 10 && landed.write > 10,
      `cuts landed in erases ${landed.erase}, in writes ${landed.write}`
    );
  });

  it('one flipped bit in the stored config: the other copy is taken and the damaged one repaired', () => {
    const crypto = createSimCrypto();
    const nor = new SimNorFlash();
    const c = simDefaultConfig();
    c.unitId = 'KEPT-UNIT';
    writeStoredConfig(createFlashStore(createSimFlashArea(nor), crypto), JSON.stringify(c));
    nor.flipByte(nor.find('KEPT-UNIT'), 0x01); // inside copy A
    const unit = createSimUnit(undefined, { nor, micOff: true });
    try {
      assert.equal(unit.app.config().unitId, 'KEPT-UNIT');
      const store = unit.sim.world.store();
      assert.equal(store.read(CONFIG_A), store.read(CONFIG_B), 'copy A repaired from copy B');
      assert.ok(store.read(CONFIG_A)!.includes('KEPT-UNIT'));
    } finally {
      unit.shutdown();
    }
  });
});

describe('installer: a unit with no card still answers the installer', function () {
  this.timeout(60000);

  it('no card at boot: info answers (recordings and card files unknown), the storage step names the card, the microphone step still hears, and decommission needs force', async () => {
    const site = await createSimSite();
    try {
      const world = site.unit.sim.world;
      world.spool.absent = true;
      site.unit.powerCut();
      await sleep(300);
      const s = new Session(simTransport(world.console));
      const info = await s.request('info');
      assert.equal(info.ok, true, JSON.stringify(info));
      assert.equal(info.recordings, -1, 'recordings on the card unknown');
      assert.equal(info.spoolFiles, -1, 'the card cannot be listed');
      const storage = await s.request('test', { step: 'storage' });
      assert.equal(storage.error, 'card-fault');
      assert.match(String(storage.why), /no card/);
      // The board's spool lists nothing without a card (as 2v29's fs gives it nothing), so the
      // recorder runs on its RAM ring: the microphone is heard.
      const mic = await s.request('test', { step: 'mic', ms: 500 });
      assert.equal(mic.ok, true, JSON.stringify(mic));
      const retire = await s.request('decommission', {});
      assert.equal(retire.error, 'no-recorder', 'the card may hold recordings not uploaded: not without force');
      assert.ok(!site.unit.app.journal.records().some((r) => r.k === 'retire'), 'not retired');
      await s.close();
    } finally {
      await site.close();
    }
  });
});
