import { strict as assert } from 'node:assert';
import { useFakeTime } from './support/fake-time';
import { createRig, Rig, cid } from '../sim/alarm-rig';
import { outOfMemory } from '../sim/unit';
import type { SimSpoolMedia } from '../sim/hal';

/**
 * A boot that always protects (issue #17): the button, the indicator and the watchdog are armed
 * before anything that can fail, and no failure later in the boot (an absent or unreadable card,
 * a recording that cannot be resumed, a microphone that will not start) leaves the button
 * unwatched. A path that is still coming up is not rated failed.
 */
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

describe('boot: the button is watched whatever fails after it', function () {
  this.timeout(120_000);
  const fake = useFakeTime(T0);
  let rig: Rig;
  afterEach(async () => rig && (await rig.close()));

  const panicAcked = () => rig.alarms().some((e) => cid(e) === '1 120 001');
  async function holdAndWait(): Promise<void> {
    rig.unit!.sim.world.button.press(2000);
    await rig.until(panicAcked, 15_000);
  }
  /** Panics acknowledged so far. */
  const panics = () => rig.alarms().filter((e) => cid(e) === '1 120 001').length;
  /** A unit recording (started by a held panic), its card then spoilt by `spoil`, and a power cut. */
  async function recordingThenCut(spoil: (card: SimSpoolMedia) => void): Promise<void> {
    rig = await createRig(() => fake.clock);
    const u = rig.boot();
    await rig.run(3000);
    u.sim.world.button.press(2000);
    await rig.run(6000); // a recording starts and is on the card
    spoil(u.sim.world.spool);
    u.powerCut();
    await rig.run(3000);
  }

  /** The unit's log so far, one message a line. */
  const logText = () => rig.unit!.sim.world.log.map((l) => l.message).join('\n');
  /** A held panic after that boot reaches the centre. */
  async function panicAfterBoot(): Promise<void> {
    const before = panics();
    rig.unit!.sim.world.button.press(2000);
    await rig.until(() => panics() > before, 15_000);
    assert.ok(panics() > before, 'the panic after the boot reached the centre');
  }

  it('a card that is absent at boot (answered as the board spool answers 2v29 without one), with a recording to resume on it: no audio, the alarm still goes', async () => {
    await recordingThenCut((card) => {
      card.absent = true;
    });
    await panicAfterBoot();
    const log = logText();
    // The card lists nothing and refuses every write: the unit says so and goes on protecting.
    assert.match(log, /pre-trigger audio not kept on the card: EIO/);
    assert.match(log, /recording \d+ state not saved: EIO/);
  });

  it('a card full at boot, with a recording to resume on it: the alarm still goes, and the unit does not restart over it', async () => {
    // Not one byte more fits: every write and append fails ENOSPC from now on.
    await recordingThenCut((card) => {
      card.capacity = card.used();
    });
    await panicAfterBoot();
    assert.equal(rig.unit!.sim.world.boots.length, 2, 'no restart: the full card is not a fault to reset for');
  });

  it('a card whose files cannot be read at boot (reads fail as 2v29 fails them: DISK_ERR), with a recording to resume on it: the alarm still goes, no restart over it', async () => {
    await recordingThenCut((card) => {
      card.unreadable = true;
    });
    await panicAfterBoot();
    assert.equal(rig.unit!.sim.world.boots.length, 2, 'no restart: an unreadable card is not a fault to reset for');
    // The pre-trigger audio it could not read back is declared lost, not sealed as if it were there.
    assert.match(logText(), /chunk \d+:\d+ lost: pre-trigger audio unreadable on the card/);
  });

  it('a recording whose chunk file is missing at boot (its state on the card, its segment gone): the alarm still goes, no restart over it', async () => {
    let gone: string[] = [];
    await recordingThenCut((card) => {
      gone = [...card.blobs.keys()].filter((n) => /\.EVD$/.test(n));
      for (const n of gone) card.blobs.delete(n);
    });
    assert.ok(gone.length > 0, 'the recording had a segment file on the card before the cut');
    await panicAfterBoot();
    assert.equal(rig.unit!.sim.world.boots.length, 2, 'no restart: a missing file is not a fault to reset for');
    // The uploader finds the chunk gone and says so (the verifier will show the loss).
    assert.match(logText(), /chunk \d+:\d+ unreadable on the spool/);
  });

  it('a microphone that will not start: the recorder is lost, the button, the reporter and the watchdog are not', async () => {
    rig = await createRig(() => fake.clock);
    const u = rig.boot();
    await rig.run(1000);
    // The next boot's microphone refuses to start (put in before the firmware boots on that HAL).
    u.sim.onBoot((hal) => {
      hal.microphone.start = () => {
        throw new Error('ADC busy');
      };
    }, true);
    u.powerCut();
    await rig.run(2000);
    assert.match(logText(), /recorder failed at boot: ADC busy/, 'the microphone refused, and the recorder with it');
    await holdAndWait();
    assert.ok(panicAcked());
    // Watchdog still kicked: no reset in 60 s.
    const boots = rig.unit!.sim.world.boots.length;
    await rig.run(60_000, 1000);
    assert.equal(rig.unit!.sim.world.boots.length, boots, 'no watchdog reset: the kicks go on');
  });

  it('too little memory for the audio ring beside the alarm path: the recorder refuses it (it would fit and starve the reporter), the centre is told (300 zone 6), and the panic goes through', async () => {
    rig = await createRig(() => fake.clock);
    const u = rig.boot();
    await rig.run(1000);
    // 1,500 free as the recorder is made: the one-slot ring (310 variables) would fit and leave
    // fewer than the 1,200 the alarm path keeps (as on the Espruino WiFi with preMs 0, memory short).
    u.sim.world.memory.free = 1500;
    u.powerCut();
    await rig.run(2000);
    assert.match(logText(), /recorder failed at boot: no memory for the audio ring \(1500 free\)/);
    await rig.until(() => rig.alarms().some((e) => cid(e) === '1 300 006'), 15_000);
    assert.ok(
      rig.alarms().some((e) => cid(e) === '1 300 006'),
      'the centre is told the unit records nothing'
    );
    u.sim.world.memory.free = 6000;
    const before = panics();
    await holdAndWait();
    assert.ok(panics() > before, 'a held panic reaches the centre');
  });

  it('memory runs out in the evidence part of the boot (2v29 stops the boot there, no catch runs): the alarm, the inputs and the watchdog are up, and the centre is told (300 zone 6)', async () => {
    rig = await createRig(() => fake.clock);
    const u = rig.boot();
    await rig.run(3000);
    // The next boot runs out of memory where the microphone's buffers are made: the last and
    // largest allocations of the boot. Nothing of the firmware's can catch it.
    u.sim.onBoot((hal) => {
      hal.microphone.start = () => outOfMemory();
    }, true);
    u.powerCut();
    await rig.run(3000);
    const log = logText();
    assert.doesNotMatch(log, /recorder failed at boot/, 'the recorder did not see it: nothing catches it');
    assert.match(log, /boot cut short in recorder/);
    await rig.until(() => rig.alarms().some((e) => cid(e) === '1 300 006'), 15_000);
    assert.ok(
      rig.alarms().some((e) => cid(e) === '1 300 006'),
      'the centre is told the boot stopped short (300 zone 6)'
    );
    await holdAndWait();
    assert.ok(panicAcked(), 'a held panic after the cut-short boot reaches the centre');
    // The tamper switch is watched: the inputs came up before the evidence part.
    rig.unit!.sim.world.tamper.open();
    await rig.until(() => rig.alarms().some((e) => cid(e) === '1 137 000'), 15_000);
    assert.ok(
      rig.alarms().some((e) => cid(e) === '1 137 000'),
      'the tamper reaches the centre: ' + rig.alarms().map(cid).join(', ')
    );
    const boots = rig.unit!.sim.world.boots.length;
    await rig.run(60_000, 1000);
    assert.equal(rig.unit!.sim.world.boots.length, boots, 'no watchdog reset: the kicks go on');
  });

  it('a hold made while the boot is still going on is not lost', async () => {
    rig = await createRig(() => fake.clock);
    const u = rig.boot();
    await rig.run(1000);
    // Hold the button across a power cut: the new boot sees it held from its first moment.
    u.sim.world.button.down();
    u.powerCut();
    await rig.run(2500);
    u.sim.world.button.up();
    await rig.until(panicAcked, 15_000);
    assert.ok(panicAcked(), 'the hold recognised during the boot raised the alarm');
  });

  it('paths still coming up after boot are not reported failed; one that never comes up is, after its grace', async () => {
    rig = await createRig(() => fake.clock);
    const u = rig.boot();
    // Wi-Fi is down from the first moment of this boot (not joined yet), up again 20 s later.
    u.sim.world.paths.wifi!.cut();
    u.powerCut();
    await rig.run(20_000, 500);
    u.sim.world.paths.wifi!.restore();
    await rig.run(30_000, 500);
    const trouble = () => rig.alarms().filter((e) => e.cid?.code === '350' && e.cid.qualifier === 1);
    assert.equal(trouble().length, 0, 'no 350 for a path that joined within its grace');
    // Now one that never comes up: cut, reboot, wait past the grace.
    rig.unit!.sim.world.paths.wifi!.cut();
    rig.unit!.powerCut();
    await rig.run(150_000, 1000);
    assert.ok(
      trouble().some((e) => e.cid?.zone === '001'),
      'the primary that never came up is reported (1 350 001)'
    );
  });
});
