/**
 * The board check's static half (tools/espruino-board/board.ts, `staticCheck`): an image that names
 * anything the Espruino WiFi's build lacks is reported, and what only the Linux build has becomes a
 * tripwire in the prelude. The tables here are small stand-ins of the ones symbols.py reads from
 * the 2v29 sources, so the rule can be seen to fail without those sources.
 */
import { strict as assert } from 'node:assert';
import { BoardTables, staticCheck } from '../tools/espruino-board/board';

const wifiSymbols: [string, string, string][] = [
  ['function', '', 'require'],
  ['function', '', 'setWatch'],
  ['object', '', 'E'],
  ['staticmethod', 'E', 'hwRand'],
  ['class', '', 'Serial'],
  ['method', 'Serial', 'setup'],
  ['object', '', 'Serial2'],
  ['staticmethod', 'crypto', 'SHA256']
];
const board: BoardTables = {
  board: 'ESPRUINOWIFI',
  version: '2v29',
  variables: 8190,
  symbols: wifiSymbols,
  libraries: ['fs', 'crypto'],
  jsmodules: [],
  pins: { B3: ['GPIO'] },
  devices: { LED1: { pin: 'B2' }, BTN1: { pin: 'A0' } }
};
const linux: BoardTables = {
  ...board,
  board: 'LINUX',
  symbols: [...wifiSymbols, ['staticmethod', 'E', 'linuxOnly'], ['staticmethod', 'crypto', 'AES']],
  pins: {}
};

describe('board check: what the Espruino WiFi build does not have', () => {
  it('passes an image that names only what the board has', () => {
    const r = staticCheck(
      'setWatch(function(){}, B3); E.hwRand(); Serial2.setup(9600); var c = require("crypto"); c.SHA256("x"); require("fs");',
      board,
      linux,
      {}
    );
    assert.deepEqual(r.findings, []);
    assert.deepEqual(r.tripwires, []);
    assert.deepEqual(r.pinGlobals, ['B3']);
  });

  it('reports a Linux-only global, a Linux-only member, a missing module and a missing module member', () => {
    const r = staticCheck(
      'quit(); E.linuxOnly(); require("http"); var c = require("crypto"); c.AES; Serial2.nope();',
      board,
      linux,
      {}
    );
    assert.ok(
      r.findings.some((f) => f.startsWith('global `quit`') && f.includes('the Linux build has it')),
      r.findings.join('\n')
    );
    assert.ok(
      r.findings.some((f) => f.startsWith('E.linuxOnly: not in the Espruino WiFi build (the Linux build has it)'))
    );
    assert.ok(r.findings.includes('require("http"): no such module in the Espruino WiFi build'));
    assert.ok(r.findings.some((f) => f.startsWith('require("crypto").AES: not in the Espruino WiFi build')));
    assert.ok(r.findings.some((f) => f.startsWith('Serial2.nope: not in the Espruino WiFi build')));
    // What the Linux build has becomes a tripwire of the prelude: a call at run time fails the check.
    assert.deepEqual([...r.tripwires].sort(), ['E.linuxOnly', 'quit']);
  });
});
