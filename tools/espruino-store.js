'use strict';
/**
 * The interpreter command that stores `fw.js` as `.bootcde` and `cfg.json` in the Linux build's
 * flash (its working folder), as the Espruino tools would on a board. Used by the smoke test and
 * the bench.
 *
 * Written in 2 KB pieces, as the Espruino tools send it: the whole image as one string would not
 * fit in the interpreter's RAM. Prints `STORED <bytes>` and quits.
 */
function storeCommand(size) {
  return `var S=require("Storage"),F=require("fs"),f=E.openFile("fw.js","r"),o=0,d;while((d=f.read(2048))&&d.length){S.write(".bootcde",d,o,${size});o+=d.length;}f.close();S.write("cfg.json",F.readFileSync("cfg.json"));print("STORED "+S.read(".bootcde").length);quit();`;
}

module.exports = { storeCommand };
