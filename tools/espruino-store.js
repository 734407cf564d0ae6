'use strict';
/**
 * Putting a unit's firmware and config onto the Linux interpreter, as an installer does on a
 * board: `storeCommand` stores `fw.js` as `.bootcde` in the Linux build's flash (its working
 * folder), as the Espruino tools would; `provision` then boots it and sends the config through the
 * installer's console protocol (docs/installer.md), which the unit keeps in its record store on
 * raw flash (nothing but the image is ever in Storage). Used by the smoke test and the bench.
 */
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

/**
 * Written in 2 KB pieces, as the Espruino tools send it: the whole image as one string would not
 * fit in the interpreter's RAM. Prints `STORED <bytes>` and quits.
 */
function storeCommand(size) {
  return `var S=require("Storage"),f=E.openFile("fw.js","r"),o=0,d;while((d=f.read(2048))&&d.length){S.write(".bootcde",d,o,${size});o+=d.length;}f.close();print("STORED "+S.read(".bootcde").length);quit();`;
}

/**
 * Boot the interpreter in `dir`; when it answers `no-module`, write the build's installer module
 * (dist/installer-module.img) into its code sector through the console's `code` request, as the
 * installer tool does (the LINUX image links its module and answers at once); then give
 * the unit `config`; resolves once the unit has stored it (it then restarts, which quits the Linux
 * build). Rejects with the output.
 */
function provision(bin, dir, config, ms = 20000) {
  const img = fs.readFileSync(path.join(__dirname, '..', 'dist', 'installer-module.img'));
  const PIECE = 768; // as tools/installer-link.ts MODULE_PIECE: a longer line overruns the input buffer
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    let piece = -2;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the unit did not take the config:\n' + out.slice(-2000)));
    }, ms);
    const send = (o) => child.stdin.write('\x10I(' + JSON.stringify(o) + ')\n');
    const nextPiece = () => {
      piece++;
      const at = piece * PIECE;
      if (at < img.length)
        send({ id: 7100 + piece, op: 'code', at, data: img.subarray(at, at + PIECE).toString('base64') });
      else send({ id: 7100 + piece, op: 'code', done: true });
    };
    const onData = (d) => {
      out += d.toString('latin1');
      if (piece === -2 && /info boot /.test(out)) {
        piece = -1;
        send({ id: 7099, op: 'info' });
      }
      const asked = piece === -1 && /@I (\{[^\n]*"id":7099,[^\n]*\})/.exec(out);
      if (asked) {
        // A module linked into the image (the LINUX profile) answers; an empty sector says no-module.
        if (/"error":"no-module"/.test(asked[1])) nextPiece();
        else {
          piece = Infinity;
          sent = true;
          send({ id: 7001, op: 'config', config });
        }
      }
      const r =
        piece >= 0 &&
        piece !== Infinity &&
        new RegExp('@I (\\{[^\\n]*"id":' + (7100 + piece) + ',[^\\n]*\\})').exec(out);
      if (r && !sent) {
        if (!/"ok":true/.test(r[1])) {
          clearTimeout(timer);
          child.kill('SIGKILL');
          return reject(new Error('the unit refused its installer module: ' + r[1]));
        }
        if (piece * PIECE < img.length) nextPiece();
        else {
          sent = true;
          send({ id: 7001, op: 'config', config });
        }
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
