'use strict';
/**
 * Putting a unit's firmware and config onto the Linux interpreter, as an installer does on a
 * board: `storeCommand` stores `fw.js` as `.bootcde` in the Linux build's flash (its working
 * folder), as the Espruino tools would; `provision` then boots it and sends the config through the
 * installer's console protocol (docs/installer.md), which the unit keeps in its record store on
 * raw flash (nothing but the image is ever in Storage). Used by the smoke test and the bench.
 */
const { spawn } = require('child_process');

/**
 * Written in 2 KB pieces, as the Espruino tools send it: the whole image as one string would not
 * fit in the interpreter's RAM. Prints `STORED <bytes>` and quits.
 */
function storeCommand(size) {
  return `var S=require("Storage"),f=E.openFile("fw.js","r"),o=0,d;while((d=f.read(2048))&&d.length){S.write(".bootcde",d,o,${size});o+=d.length;}f.close();print("STORED "+S.read(".bootcde").length);quit();`;
}

/**
 * Boot the interpreter in `dir` and give the unit `config` over its console; resolves once the
 * unit has stored it (it then restarts, which quits the Linux build). Rejects with the output.
 */
function provision(bin, dir, config, ms = 20000) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the unit did not take the config:\n' + out.slice(-2000)));
    }, ms);
    const onData = (d) => {
      out += d.toString('latin1');
      if (!sent && /info boot /.test(out)) {
        sent = true;
        child.stdin.write('\x10I(' + JSON.stringify({ id: 7001, op: 'config', config }) + ')\n');
      }
      if (/@I \{[^\n]*"id":7001,"ok":true/.test(out)) {
        clearTimeout(timer);
        // It restarts to apply the config (quit on Linux); make sure it is gone.
        setTimeout(() => child.kill('SIGKILL'), 1500);
        child.on('exit', () => resolve(out));
      } else if (/@I \{[^\n]*"id":7001,"ok":false/.test(out)) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error('the unit refused the config: ' + (/@I (\{[^\n]*"id":7001[^\n]*\})/.exec(out) || [])[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
  });
}

module.exports = { storeCommand, provision };
