'use strict';
/**
 * Putting a unit's firmware and config onto the Linux interpreter, as an installer does on a
 * board: `storeCommand` stores `fw.js` as `.bootcde` in the Linux build's flash (its working
 * folder), as the Espruino tools would; `provision` then boots it and sends the config through the
 * installer's console protocol (docs/installer.md), which the unit keeps in its record store on
 * raw flash (nothing but the image is ever in Storage). Used by the smoke test and the bench.
 */
const { spawn } = require('child_process');
const path = require('path');

/**
 * Written in 2 KB pieces, as the Espruino tools send it: the whole image as one string would not
 * fit in the interpreter's RAM. Prints `STORED <bytes>` and quits.
 */
function storeCommand(size) {
  return `var S=require("Storage"),f=E.openFile("fw.js","r"),o=0,d;while((d=f.read(2048))&&d.length){S.write(".bootcde",d,o,${size});o+=d.length;}f.close();print("STORED "+S.read(".bootcde").length);quit();`;
}

/**
 * Boot the interpreter in `dir` and give the unit `config` through the installer tool's own
 * session (tools/installer-link.ts), as `npm run commission` does: a unit that answers `no-module`
 * is first given the build's installer module (dist/installer-module.img) through the `code`
 * request (the LINUX image links its module and answers at once). Resolves once the unit has
 * stored the config (it then restarts, which quits the Linux build); rejects with the output.
 */
async function provision(bin, dir, config, ms = 20000) {
  const { Session } = require('./installer-link');
  const child = spawn(bin, [], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let partial = '';
  let listener;
  const onData = (d) => {
    const text = d.toString('latin1');
    out += text;
    partial += text;
    let nl;
    while ((nl = partial.search(/\r|\n/)) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (line && listener) listener(line);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((r) => child.on('exit', r));
  const session = new Session({
    write: (t) => child.stdin.write(t),
    onLine: (fn) => (listener = fn),
    close: async () => undefined
  });
  session.module = path.join(__dirname, '..', 'dist', 'installer-module.img');
  const end = Date.now() + ms;
  try {
    while (!/info boot /.test(out)) {
      if (Date.now() > end) throw new Error('the unit did not boot:\n' + out.slice(-2000));
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await session.request('config', { config }, { timeoutMs: Math.max(1000, end - Date.now()) });
    if (session.moduleWrite && !session.moduleWrite.ok) {
      throw new Error('the unit refused its installer module: ' + JSON.stringify(session.moduleWrite));
    }
    if (!r.ok) {
      throw new Error(
        r.error === 'no-answer'
          ? 'the unit did not take the config:\n' + out.slice(-2000)
          : 'the unit refused the config: ' + JSON.stringify(r)
      );
    }
    // It restarts to apply the config (quit on Linux); make sure it is gone.
    await Promise.race([exited, new Promise((r) => setTimeout(r, 1500))]);
    return out;
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

module.exports = { storeCommand, provision };
