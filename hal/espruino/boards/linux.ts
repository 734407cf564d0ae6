/**
 * Espruino built for Linux (the LINUX profile: `npm run test:espruino`, `npm run bench`): both
 * paths plain sockets of the host, the console's keys for the inputs (./linux.ts), a silent
 * microphone that also times the firmware's audio path, the spool in the host's file system (the
 * folder AUDIO where it runs), no watchdog (E.enableWatchdog is empty there), and a restart that
 * quits. Its installer module is linked into the image (firmware/main.ts): no code area.
 */
import type { Clock, CodeArea, Crypto, FlashArea, Hal, Microphone, MicrophoneOptions } from '../../types';
import { createEspruinoCrypto } from '../crypto';
import { DeviceSettings, createDeviceClock, deviceLog, deviceSystem, measureBlock } from '../index';
import { createLinuxLink, LinkCore } from '../links';
import { createLinuxConsole, AudioCost, perSampleMs } from '../linux';
import { createFsSpool } from '../storage';

export function createBoardCrypto(): Crypto {
  return createEspruinoCrypto();
}

/**
 * No ADC (Linux build): silence blocks at the configured rate, filled natively. `cost` sums the time
 * the firmware spends per block (capture → ring → spool), for the audio-path benchmark.
 */
function createSilentMic(clock: Clock, cost?: AudioCost): Microphone {
  let timer = -1;
  return {
    start: function (o: MicrophoneOptions) {
      if (timer >= 0) throw new Error('microphone already running');
      const a = new Uint8Array(o.blockSize);
      a.fill(128);
      timer = clock.every((o.blockSize * 1000) / o.rate, function () {
        const t = getTime();
        o.onBlock(a, 0);
        if (cost) {
          const dt = (getTime() - t) * 1000;
          cost.ms += dt;
          cost.n++;
          cost.block = a;
          if (!cost.recent) cost.recent = [];
          cost.recent.push(dt);
          if (cost.recent.length > 16) cost.recent.shift();
          // Once a chunk, the loop the budget is set against, over the same block (outside dt).
          if (cost.n % 4 === 0) {
            const ms = perSampleMs(a);
            if (!cost.loops) cost.loops = new Float32Array(64);
            if (ms >= 0) cost.loops[(cost.nl = (cost.nl || 0) + 1) % 64] = ms;
          }
        }
      });
    },
    stop: function () {
      if (timer >= 0) clock.cancel(timer);
      timer = -1;
    },
    running: function () {
      return timer >= 0;
    },
    measure: measureBlock
  };
}

export function createBoardHal(settings: DeviceSettings, made: { flash: FlashArea; crypto: Crypto }): Hal {
  const clock = createDeviceClock();
  const wifi: LinkCore = createLinuxLink(clock, 'wifi');
  const cell: LinkCore = createLinuxLink(clock, 'cellular');
  const cost: AudioCost = { n: 0, ms: 0 };
  const con = createLinuxConsole(clock, { wifi: wifi, cellular: cell }, cost);
  return {
    clock: clock,
    button: con.button,
    indicator: { led: con.led },
    microphone: createSilentMic(clock, cost),
    power: con.power,
    tamper: con.tamper,
    // No code area: the image links its installer module (firmware/main.ts sets `code`).
    storage: {
      flash: made.flash,
      code: undefined as unknown as CodeArea,
      spool: createFsSpool(settings.spoolBytes || 64 * 1024 * 1024)
    },
    links: { wifi: wifi.link, cellular: cell.link },
    crypto: made.crypto,
    watchdog: { enable: function () {}, kick: function () {} },
    log: deviceLog,
    system: deviceSystem('LINUX', 'power', 8000, function () {
      quit();
    }),
    console: con.console
  };
}
