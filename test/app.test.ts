import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { createSimUnit, SimUnit } from '../sim/unit';
import { simDefaultConfig } from '../sim/default-config';
import { SimNorFlash, createSimFlashArea } from '../sim/nor';
import { createFlashStore } from '../firmware/flash-store';
import { writeStoredConfig, CONFIG_A, CONFIG_B } from '../firmware/stored-config';
import { createSimCrypto } from '../sim/crypto';
import { createApp } from '../firmware/app';
import { reasonWords } from '../firmware/config-words';
import { createSimHal } from '../sim/hal';
import type { Config } from '../firmware/config';
import { loose } from './support/loose-record';

describe('unit on the sim HAL (no receivers): boot, hold-to-trigger, journal, indicator', () => {
  let clock: sinon.SinonFakeTimers;
  let unit: SimUnit | undefined;
  beforeEach(() => {
    clock = sinon.useFakeTimers({
      now: Date.UTC(2026, 10, 23, 12, 0, 0),
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date']
    });
  });
  afterEach(() => {
    unit?.shutdown();
    unit = undefined;
    clock.restore();
  });
  /** Journal kinds, events by code (`ev305`), panics as `panic`; sequence reservations left out. */
  const kinds = (u: SimUnit) =>
    u.app.journal
      .records()
      .filter((r) => r.k !== 'sq')
      .map((r) => (r.k === 'ev' ? (r.c === 120 && r.q === 1 ? 'panic' : `ev${r.c}`) : r.k));
  const boot = (config: Config = simDefaultConfig(), nor?: SimNorFlash) => (unit = createSimUnit(config, { nor }));
  /** The record store on `nor`, as the unit would open it (to prepare flash before a boot). */
  const storeOn = (nor: SimNorFlash) => createFlashStore(createSimFlashArea(nor), createSimCrypto());

  it('writes a boot record with firmware, board, reset cause and unit id', () => {
    const u = boot();
    const [rec] = u.app.journal.records();
    assert.equal(rec.k, 'boot');
    assert.equal(rec.cause, 'power');
    assert.equal(rec.board, 'SIM');
    assert.equal(rec.unit, 'SIM-0001');
    assert.equal(rec.t, Date.UTC(2026, 10, 23, 12, 0, 0));
  });

  it('opens no connection inside the boot: the button is watched first, network work starts on the next turn', () => {
    // On Espruino an out-of-memory error in network code aborts the whole task it happens in, and
    // cannot be caught. Measured on the Linux interpreter: a refused connection at boot did that
    // inside the boot, and the button was never watched. So the boot must finish before any I/O.
    const sim = createSimHal();
    const order: string[] = [];
    let booted = false;
    const onEdge = sim.hal.button.onEdge.bind(sim.hal.button);
    sim.hal.button.onEdge = (cb) => {
      order.push('button watched');
      onEdge(cb);
    };
    for (const l of [sim.hal.links.wifi!, sim.hal.links.cellular!]) {
      const connect = l.connect.bind(l);
      l.connect = (...a: Parameters<typeof connect>) => {
        order.push(booted ? 'connect after boot' : 'connect inside boot');
        return connect(...a);
      };
    }
    const c = simDefaultConfig({ primary: { port: 9, transport: 'tcp' }, secondary: { port: 9, transport: 'udp' } });
    const app = createApp(sim.hal, c);
    booted = true;
    clock.tick(10);
    assert.equal(order[0], 'button watched');
    assert.ok(!order.includes('connect inside boot'), order.join(', '));
    assert.ok(order.includes('connect after boot'), 'the boot report goes out on the next turn');
    app.stop();
    sim.shutdown();
  });

  it('a press held for the hold time is journalled as a panic event, silently', () => {
    const u = boot();
    clock.tick(500); // boot flash over
    const ledChanges = u.sim.world.led.history.length;
    u.sim.world.button.press(2000);
    clock.tick(1400);
    assert.deepEqual(kinds(u), ['boot', 'reach', 'ev305'], 'not yet: held 1.4 s of 1.5 s');
    clock.tick(200);
    assert.deepEqual(kinds(u), ['boot', 'reach', 'ev305', 'panic']);
    assert.equal(u.app.status().mode, 'alarm');
    assert.equal(u.app.status().pending, 2, 'no receiver configured: both wait in the journal');
    // No receiver: the unit shows that it can report to no one (a 1.2 s glow every 20 s), and the
    // press adds no light of its own.
    const lit = u.sim.world.led.history.slice(ledChanges);
    for (let i = 0; i + 1 < lit.length; i += 2)
      assert.equal(lit[i + 1].at - lit[i].at, 1200, 'no light of the press until a centre acknowledges');
    assert.equal(u.sim.world.buzzer.history.length, 0);
    const panic = u.app.journal.records().pop()!;
    assert.deepEqual([loose(panic).c, loose(panic).q, loose(panic).z], [120, 1, 1]);
  });

  it('a short tap and contact bounce raise nothing', () => {
    const u = boot();
    u.sim.world.button.press(300);
    clock.tick(1000);
    u.sim.world.button.bounce(12, 3, false); // chatter that settles released
    clock.tick(3000);
    u.sim.world.button.press(1400);
    clock.tick(3000);
    assert.deepEqual(kinds(u), ['boot', 'reach', 'ev305']);
    assert.equal(u.app.status().triggers, 0);
  });

  it('bounce on the way into a long hold still triggers exactly once', () => {
    const u = boot();
    u.sim.world.button.bounce(8, 2, true);
    clock.tick(5000);
    u.sim.world.button.up();
    clock.tick(100);
    assert.deepEqual(kinds(u), ['boot', 'reach', 'ev305', 'panic']);
  });

  it('holding on and on triggers once; a second hold triggers again', () => {
    const u = boot();
    u.sim.world.button.press(10_000);
    clock.tick(12_000);
    u.sim.world.button.press(2000);
    clock.tick(3000);
    assert.deepEqual(kinds(u), ['boot', 'reach', 'ev305', 'panic', 'panic']);
  });

  it('hold time 0 triggers on the press itself', () => {
    const c = simDefaultConfig();
    c.holdMs = 0;
    c.gestures.cancelTaps = 0; // no taps exist when every press is an alarm
    const u = boot(c);
    u.sim.world.button.press(60);
    clock.tick(40); // debounce (25 ms) passed, still held
    assert.deepEqual(kinds(u), ['boot', 'reach', 'ev305', 'panic']);
  });

  it('the journal survives a power cut; the next boot continues it', () => {
    const u = boot();
    u.sim.world.button.press(2000);
    clock.tick(2500);
    const app2 = u.powerCut();
    assert.deepEqual(
      app2.journal.records().map((r) => [r.i, r.k, loose(r).c ?? loose(r).cause]),
      [
        [1, 'boot', 'power'],
        [2, 'reach', undefined],
        [3, 'sq', undefined],
        [4, 'ev', 305],
        [5, 'ev', 120],
        [6, 'boot', 'power'],
        [7, 'reach', undefined],
        [8, 'sq', undefined],
        [9, 'ev', 305]
      ]
    );
    assert.equal(app2.status().pending, 3, 'the undelivered events of the first boot are still owed');
    assert.equal(app2.status().mode, 'alarm', 'the alarm was active at the cut: resumed');
  });

  it('a power cut in the middle of a hold loses the unfinished press, not the unit', () => {
    const u = boot();
    u.sim.world.button.down();
    clock.tick(1000);
    u.powerCut();
    u.sim.world.button.up();
    clock.tick(5000);
    assert.deepEqual(kinds(u), ['boot', 'reach', 'ev305', 'boot', 'reach', 'ev305']);
    u.sim.world.button.press(2000);
    clock.tick(2500);
    assert.deepEqual(kinds(u), ['boot', 'reach', 'ev305', 'boot', 'reach', 'ev305', 'panic']);
  });

  it('a corrupt journal record is reported at boot and the unit carries on', () => {
    const nor = new SimNorFlash();
    const u = boot(simDefaultConfig(), nor);
    u.sim.world.button.press(2000);
    clock.tick(2500);
    nor.flipByte(nor.find('{"i":1,') + 5, 0x04); // inside the first line: the boot record
    const app2 = u.powerCut();
    assert.deepEqual(kinds(u), ['reach', 'ev305', 'panic', 'boot', 'jrn-bad', 'reach', 'ev300', 'ev305']);
    assert.equal(app2.journal.records().find((r) => r.k === 'jrn-bad')!.lines, 1);
    u.sim.world.button.press(2000);
    clock.tick(2500);
    assert.equal(kinds(u).pop(), 'panic');
  });

  it('an invalid config is refused with the field named, and the stored valid one is kept', () => {
    const nor = new SimNorFlash();
    const stored = simDefaultConfig();
    stored.unitId = 'STORED-7';
    stored.holdMs = 1000;
    writeStoredConfig(storeOn(nor), JSON.stringify(stored));
    const bad: any = simDefaultConfig();
    bad.holdMs = 9000;
    const u = boot(bad, nor);
    assert.equal(u.app.config().unitId, 'STORED-7');
    const rec = u.app.journal.records().find((r) => r.k === 'cfg-bad')!;
    // The unit keeps codes (the words are the tool's: firmware/config-words.ts).
    assert.equal(String(rec.why), 'holdMs range:9000');
    assert.equal(reasonWords({ field: 'holdMs', reason: 'range:9000' }), 'must be from 0 to 5000 ms, got 9000');
    assert.ok(u.sim.world.log.some((l) => l.level === 'error' && /config refused: holdMs/.test(l.message)));
    u.sim.world.button.press(1200);
    clock.tick(2000);
    assert.equal(u.app.status().triggers, 1, 'the stored 1 s hold time is in force');
  });

  it('with no usable config at all it runs on factory defaults and still records presses', () => {
    const nor = new SimNorFlash();
    storeOn(nor).write(CONFIG_A, '1:{not json');
    storeOn(nor).write(CONFIG_B, '1:{not json');
    unit = createSimUnit(undefined, { nor });
    assert.equal(unit.app.config().unitId, 'UNCOMMISSIONED');
    unit.sim.world.button.press(2000);
    clock.tick(2500);
    assert.equal(unit.app.status().triggers, 1);
  });

  it('keeps the watchdog fed while healthy, and a stalled unit is reset by it', () => {
    const u = boot();
    clock.tick(60_000);
    assert.deepEqual(u.sim.world.boots, ['power'], 'no reset while the firmware kicks');
    u.app.stop(); // the main loop stops kicking
    clock.tick(25_000);
    assert.deepEqual(u.sim.world.boots, ['power', 'watchdog']);
    assert.equal(
      u.app.journal
        .records()
        .filter((r) => r.k === 'boot')
        .pop()!.cause,
      'watchdog'
    );
  });

  it('a hung microphone stops the kicks: the watchdog resets the unit and the next 305 (zone 2) says why', () => {
    const u = boot();
    clock.tick(5_000);
    u.sim.world.mic.stall();
    clock.tick(9_000);
    assert.deepEqual(u.sim.world.boots, ['power'], 'not before 10 s without audio');
    clock.tick(25_000);
    assert.deepEqual(u.sim.world.boots, ['power', 'watchdog']);
    const recs = u.app.journal.records();
    assert.ok(recs.some((r) => r.k === 'hung' && /microphone/.test(String(r.w))));
    const reset = recs.filter((r) => r.k === 'ev' && r.c === 305).pop()!;
    assert.equal(loose(reset).z, 2);
    assert.match(String(loose(reset).x), /^Iwatchdog: hung microphone: no audio for 1\d s$/);
    // Reset cleared the stall: the new boot hears the room and keeps its watchdog fed.
    clock.tick(60_000);
    assert.deepEqual(u.sim.world.boots, ['power', 'watchdog']);
    assert.ok(u.app.recorder.silentFor() < 1000);
  });

  it('a microphone that no reset cures: 3 watchdog resets in the hour, then the unit stops watching it, reports 300 zone 9 and keeps protecting', () => {
    const u = boot();
    u.sim.world.mic.break();
    clock.tick(10 * 60_000);
    assert.deepEqual(u.sim.world.boots, ['power', 'watchdog', 'watchdog', 'watchdog']);
    const recs = u.app.journal.records();
    assert.ok(recs.some((r) => r.k === 'ev' && r.c === 300 && r.z === 9));
    clock.tick(30 * 60_000);
    assert.equal(u.sim.world.boots.length, 4, 'no more resets');
    u.sim.world.button.press(2000);
    clock.tick(2500);
    assert.equal(u.app.status().triggers, 1);
  });

  it('an exception in a handler is caught, journalled, and the unit restarts cleanly with the reason in its 305; still protecting', async () => {
    const u = boot();
    u.sim.hal.power.batteryVolts = () => {
      throw new Error('ADC fault');
    };
    clock.tick(60_000); // the battery check runs once a minute
    await Promise.resolve(); // the sim restarts after the current callback, as the device does
    assert.ok(u.sim.world.log.some((l) => /fault in battery: ADC fault/.test(l.message)));
    assert.deepEqual(u.sim.world.boots, ['power', 'software']);
    const recs = u.app.journal.records();
    assert.ok(recs.some((r) => r.k === 'fault' && r.w === 'battery' && r.e === 'ADC fault'));
    const boots = recs.filter((r) => r.k === 'boot');
    assert.equal(boots[boots.length - 1].why, 'fault in battery: ADC fault');
    const resets = recs.filter((r) => r.k === 'ev' && r.c === 305);
    assert.deepEqual(
      [loose(resets[resets.length - 1]).z, loose(resets[resets.length - 1]).x],
      [3, 'Isoftware: fault in battery: ADC fault']
    );
    // The new boot has a working battery input (the fault was in the old HAL) and protects.
    clock.tick(500);
    u.sim.world.button.press(2000);
    clock.tick(2500);
    assert.equal(u.app.status().triggers, 1);
    assert.equal(kinds(u).filter((k) => k === 'panic').length, 1);
  });

  it('an exception in a timer callback (not an input handler) reaches the fault handler through the HAL and restarts the unit', async () => {
    const u = boot();
    u.app.recorder.listen(() => {
      throw new Error('broken listener');
    });
    clock.tick(1000); // the next microphone block
    await Promise.resolve();
    assert.deepEqual(u.sim.world.boots, ['power', 'software']);
    const boots = u.app.journal.records().filter((r) => r.k === 'boot');
    assert.equal(boots[boots.length - 1].why, 'fault in callback: broken listener');
  });

  it('under memory pressure it sheds logging (errors and warnings only) but still raises and journals the alarm', () => {
    const u = boot();
    clock.tick(2000);
    u.sim.world.memory.free = 300; // of 8,190: below 1/16
    clock.tick(1500);
    assert.ok(u.sim.world.log.some((l) => /memory low \(300 free\)/.test(l.message)));
    const before = u.sim.world.log.length;
    u.sim.world.button.press(2000);
    clock.tick(2500);
    assert.equal(u.app.status().triggers, 1);
    assert.equal(kinds(u).filter((k) => k === 'panic').length, 1);
    assert.ok(
      u.sim.world.log.slice(before).every((l) => l.level === 'error' || l.level === 'warn'),
      'no info logging while memory is short'
    );
    u.sim.world.memory.free = 6000;
    clock.tick(1500);
    assert.ok(u.sim.world.log.some((l) => /memory recovered/.test(l.message)));
  });

  it('a fault that keeps coming back restarts the unit 3 times in an hour, then it limps on and reports 300 zone 9', async () => {
    const u = boot();
    const breakBattery = () => {
      u.sim.hal.power.batteryVolts = () => {
        throw new Error('ADC fault');
      };
    };
    breakBattery();
    for (let i = 0; i < 4; i++) {
      clock.tick(60_000);
      await Promise.resolve();
      breakBattery();
    }
    assert.deepEqual(u.sim.world.boots, ['power', 'software', 'software', 'software']);
    const recs = u.app.journal.records();
    assert.ok(recs.some((r) => r.k === 'ev' && r.c === 300 && r.z === 9));
    assert.ok(u.app.status().faults >= 1);
  });
});
