import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSimSite, SimSite } from '../sim/site';
import { SIM_KEYS } from '../sim/default-config';
import { Session, simTransport } from '../tools/installer-link';
import { commission, simSiteActions, buildFirmware } from '../tools/commission';
import { afterUpdate, beforeUpdate, UpdateRecord } from '../tools/interpreter-update';
import type { Config } from '../firmware/config';
import { CONFIG_A } from '../firmware/stored-config';

const PASSWORD = 'Install3r-Pass';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let firmwareFile: Promise<string> | undefined;
const firmware = (board: string) => (firmwareFile ??= buildFirmware(board));

/** What an update of the Espruino interpreter does to the board: Storage and sectors 1-3 erased. */
function eraseLikeAnInterpreterUpdate(site: SimSite): void {
  const w = site.unit.sim.world;
  w.image = undefined;
  w.code.bytes = undefined;
  w.code.state = 'absent';
  w.nor.bytes.fill(0xff);
  site.unit.powerCut();
}

/** A simulated site whose unit was commissioned from `config` (the site's own by default). */
async function commissionedSite(prefix: string, config?: (site: SimSite) => Config) {
  const site = await createSimSite();
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const r = await commission({
    config: config ? config(site) : JSON.parse(JSON.stringify(site.config)),
    installerId: 'INST-7',
    password: PASSWORD,
    site: simSiteActions(site),
    firmware,
    outDir,
    log: () => undefined
  });
  assert.ok(r.ok, r.error);
  return { site, outDir };
}

/** The update records in `outDir`. */
const records = (outDir: string) => fs.readdirSync(outDir).filter((f) => f.endsWith('-update.json'));

describe('tools/interpreter-update: the config and owed events around an Espruino interpreter update (sim site)', function () {
  this.timeout(120000);
  let site: SimSite;
  let outDir: string;
  let config: Config;
  const log: string[] = [];
  const actions = () => simSiteActions(site);
  const info = async () => {
    const s = new Session(simTransport(site.unit.sim.world.console));
    await s.unlock(PASSWORD);
    const r = await s.request('info');
    await s.request('lock', {}, { timeoutMs: 2000 });
    await s.close();
    return r;
  };

  /** Whether the console answers without the password (a locked one answers nothing). */
  const answersUnlocked = async () => {
    const s = new Session(simTransport(site.unit.sim.world.console));
    const r = await s.request('info', {}, { timeoutMs: 1000 });
    await s.close();
    return r.ok;
  };

  before(async () => {
    // The installer's file, and the unit as it was commissioned from it back in June.
    ({ site, outDir } = await commissionedSite('update-', (s) => {
      config = JSON.parse(JSON.stringify(s.config));
      config.service.start = '';
      const june: Config = JSON.parse(JSON.stringify(config));
      june.service.start = '2026-06-01';
      return june;
    }));
  });
  after(async () => {
    await site.close();
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  it('--before refuses while the unit owes the centre an event, and writes nothing', async () => {
    for (const c of site.centres) c.faults.down = true;
    site.unit.sim.world.tamper.open();
    await sleep(1500);
    const r = await beforeUpdate(actions(), { password: PASSWORD, outDir, log: (l) => log.push(l) });
    assert.equal(r.ok, false);
    assert.match(r.reason!, /owes the centre \d+ event/);
    assert.equal(records(outDir).length, 0);
    assert.equal(await answersUnlocked(), false, 'the console is left locked');
  });

  it('--before, once everything is delivered, keeps the config hash and service start and no key', async () => {
    for (const c of site.centres) c.faults.down = false;
    for (let i = 0; i < 60 && (await info()).pending !== 0; i++) await sleep(500);
    const before = await info();
    assert.equal(before.pending, 0);
    const r = await beforeUpdate(actions(), { password: PASSWORD, outDir, log: (l) => log.push(l) });
    assert.ok(r.ok, r.reason);
    const text = fs.readFileSync(r.file!, 'utf8');
    const rec = JSON.parse(text) as UpdateRecord;
    assert.equal(rec.configSha256, before.configSha256);
    assert.equal(rec.serviceStart, before.serviceStart);
    assert.equal(rec.serviceStart, '2026-06-01');
    for (const k of [SIM_KEYS.primary, SIM_KEYS.secondary, SIM_KEYS.evidence, PASSWORD])
      assert.ok(!text.toLowerCase().includes(k.toLowerCase()), 'no secret in the record');
    assert.equal(await answersUnlocked(), false, 'the console is left locked');
  });

  it('--after refuses another config before touching the unit, and gives back the same one whole', async () => {
    const file = records(outDir)[0];
    const record = JSON.parse(fs.readFileSync(path.join(outDir, file), 'utf8')) as UpdateRecord;
    eraseLikeAnInterpreterUpdate(site);
    await sleep(1500);
    const erased = await info();
    assert.equal(erased.error, 'no-module', 'the update erased the installer module with sector 3');
    assert.equal(site.unit.sim.world.store().read(CONFIG_A), undefined, 'and the config with the record store');
    const other: Config = JSON.parse(JSON.stringify(config));
    other.holdMs = 1000;
    const refused = await afterUpdate(actions(), {
      record,
      config: other,
      password: PASSWORD,
      installerId: 'INST-7',
      outDir,
      firmware,
      log: (l) => log.push(l)
    });
    assert.equal(refused.ok, false);
    assert.match(refused.reason!, /not the config unit .* ran before the update/);
    assert.equal(site.unit.sim.world.image, undefined, 'nothing flashed');

    const r = await afterUpdate(actions(), {
      record,
      config,
      password: PASSWORD,
      installerId: 'INST-7',
      outDir,
      firmware,
      log: (l) => log.push(l)
    });
    assert.ok(r.ok, r.reason);
    const now = await info();
    assert.equal(now.configSha256, record.configSha256, 'the config the unit ran before');
    assert.equal(now.serviceStart, '2026-06-01', 'the service period goes on, not from the update day');
    assert.equal(now.commissioned, true);
    assert.equal(now.locked, true);
  });
});

describe('tools/interpreter-update: a recording not yet uploaded (sim site)', function () {
  this.timeout(120000);
  let site: SimSite;
  let outDir: string;

  before(async () => {
    ({ site, outDir } = await commissionedSite('update-rec-'));
  });
  after(async () => {
    await site.close().catch(() => undefined);
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  it('--before refuses while a recording waits on the unit (the evidence server gone), and writes nothing', async () => {
    await site.evidence.close();
    site.unit.sim.world.button.press(2000);
    await sleep(4000);
    const log: string[] = [];
    const r = await beforeUpdate(simSiteActions(site), { password: PASSWORD, outDir, log: (l) => log.push(l) });
    assert.equal(r.ok, false);
    assert.match(r.reason!, /recording\(s\) are on the unit and not yet uploaded/);
    assert.equal(records(outDir).length, 0);
  });
});
