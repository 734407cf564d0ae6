/**
 * `npm start`: the simulated unit on its embedded default configuration, a scripted scenario, and a
 * readable log of what the unit did. Options:
 *   --hold MS     how long the scripted press is held (default 2000)
 *   --tap MS      also a short tap first, which must do nothing (default 300)
 *   --seconds S   how long to run (default 8)
 */
import { createSimUnit } from './unit';
import { simDefaultConfig } from './default-config';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) {
    console.error(`--${name} needs a number`);
    process.exit(2);
  }
  return v;
}

const hold = arg('hold', 2000);
const tap = arg('tap', 300);
const seconds = arg('seconds', 8);
const t0 = Date.now();
const stamp = () => `+${((Date.now() - t0) / 1000).toFixed(3)}s`;

const config = simDefaultConfig();
console.log(`simulated unit ${config.unitId} (account ${config.account}), hold time ${config.holdMs} ms`);
const unit = createSimUnit(config, { echoLog: '' });
const { world } = unit.sim;

let ledWas = false;
const ledPoll = setInterval(() => {
  if (world.led.level !== ledWas) {
    ledWas = world.led.level;
    console.log(`${stamp()} indicator ${ledWas ? 'ON' : 'off'}`);
  }
}, 10);

setTimeout(() => {
  console.log(`${stamp()} script: short tap of ${tap} ms (must not raise an alarm)`);
  world.button.press(tap);
}, 500);
setTimeout(() => {
  console.log(`${stamp()} script: press and hold for ${hold} ms`);
  world.button.press(hold);
}, 1500);
setTimeout(() => {
  clearInterval(ledPoll);
  const recs = unit.app.journal.records();
  console.log(`${stamp()} journal (${recs.length} records):`);
  for (const r of recs) {
    const { i, k, u, t, ...rest } = r;
    console.log(`  #${i} ${k.padEnd(6)} at ${new Date(t).toISOString()} (uptime ${u} ms) ${JSON.stringify(rest)}`);
  }
  const s = unit.app.status();
  console.log(`status: mode=${s.mode} triggers=${s.triggers} faults=${s.faults}`);
  unit.shutdown();
}, seconds * 1000);
