/**
 * The installer's console on the unit, as the boot image holds it: it locks the console at boot
 * with the stored password, takes every request, and loads the installer module
 * (firmware/installer-module.ts, from its own flash sector through the HAL's code area) to answer
 * them, dropping it again after `UNLOAD_MS` without a request so that its code and closures cost
 * nothing at idle. The one request it answers itself writes that module (`code`), so a unit whose
 * module is missing or of another build can be given its own (docs/installer.md).
 */
import type { Hal, LogSink, RecordStore } from '../hal/types';
import type { Installer, InstallerDeps } from './installer';
import type { InstallerModule } from './installer-module';
import { PASSWORD_RECORD } from './stored-config';

/** The module is dropped this long after the last request, ms. */
export const UNLOAD_MS = 30 * 60000;

export interface ConsoleFront {
  /** The installer module, loaded now if it is not; a reason code when it cannot be. */
  module(): InstallerModule | string;
  /** Drop the module unless an installer session holds it (after the boot's config check). */
  release(): void;
  /** The installer while a session holds it. */
  installer(): Installer | undefined;
  stop(): void;
}

type Req = { [k: string]: unknown };

/** `deps` gives the installer's dependencies, or undefined when a part it needs did not start. */
export function createConsoleFront(
  hal: Hal,
  records: RecordStore,
  log: LogSink,
  deps: () => InstallerDeps | undefined
): ConsoleFront {
  const clock = hal.clock;
  let mod: InstallerModule | undefined;
  let inst: Installer | undefined;
  let timer = -1;
  let why = '';

  function load(): InstallerModule | string {
    if (mod) return mod;
    const m = hal.storage.code.load();
    if (typeof m === 'string') {
      if (m !== why) log.write('error', 'installer module not loaded: ' + m);
      why = m;
      return m;
    }
    why = '';
    mod = m as InstallerModule;
    return mod;
  }

  function unload(): void {
    if (timer >= 0) clock.cancel(timer);
    timer = -1;
    if (inst) inst.stop();
    inst = undefined;
    mod = undefined;
  }

  function reply(o: Req): void {
    hal.console.reply(JSON.stringify(o));
  }

  /** Write a piece of the module (`at`, base64 `data`), or check what was written (`done`). */
  function code(id: unknown, r: Req): void {
    unload();
    if (r.done === true) {
      const m = load();
      mod = undefined;
      if (typeof m === 'string') reply({ id: id, ok: false, error: 'code-bad', why: m });
      else reply({ id: id, ok: true });
      return;
    }
    const at = r.at as number;
    const data = typeof r.data === 'string' ? atob(r.data) : '';
    if (!(at >= 0) || at % 4 || data.length % 4 || at + data.length > hal.storage.code.size) {
      reply({ id: id, ok: false, error: 'code-bad', why: 'range' });
      return;
    }
    hal.storage.code.write(at, data);
    reply({ id: id, ok: true, at: at + data.length });
  }

  hal.console.onRequest(function (req: unknown) {
    const r = (typeof req === 'object' && req !== null ? req : {}) as Req;
    const id = typeof r.id === 'number' ? r.id : null;
    try {
      if (r.op === 'code') return code(id, r);
      const m = load();
      if (typeof m === 'string') {
        // The tool needs to know which image runs to write the module that belongs to it.
        const image = hal.system.firmwareImage();
        reply({
          id: id,
          ok: false,
          error: 'no-module',
          why: m,
          board: hal.system.board,
          fwHash: image ? hal.crypto.hex(hal.crypto.sha256(image)) : ''
        });
        return;
      }
      if (!inst) {
        const d = deps();
        if (!d) {
          reply({ id: id, ok: false, error: 'unavailable' });
          return;
        }
        inst = m.createInstaller(d);
      }
      if (timer >= 0) clock.cancel(timer);
      timer = clock.after(UNLOAD_MS, unload);
      inst.request(req);
    } catch (e) {
      const w = String((e as Error).message || e).substr(0, 80);
      log.write('error', 'installer request failed: ' + w);
      reply({ id: id, ok: false, error: 'exception', why: w });
    }
  });
  const pw = records.read(PASSWORD_RECORD);
  if (pw) hal.console.lock(pw);

  return {
    module: load,
    release: function () {
      if (!inst) mod = undefined;
    },
    installer: function () {
      return inst;
    },
    stop: unload
  };
}
