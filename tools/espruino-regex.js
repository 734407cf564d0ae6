'use strict';
/**
 * Every regular expression in the device's code, run on the Espruino interpreter and in Node over
 * the same lines, so a pattern the interpreter reads differently is found before a unit is.
 *
 * Espruino has its own small regex engine (src/jswrap_regexp.c). Node's tests cannot show where it
 * differs: on 2v29 it splits the whole pattern at every `|`, groups or not, so the HAL's
 * `/^\d, SEND (OK|FAIL)$/` never matched `0, SEND FAIL`, and each failed send waited out its
 * 10 s timeout on the board (docs/espruino-notes.md, "Regular expressions"). The compatibility gate
 * (tools/gate.js) refuses the shapes measured so far; this check asks the interpreter itself.
 *
 * The patterns are read from the sources (firmware/, hal/espruino/): every regex literal, and every
 * `new RegExp(…)` built from string pieces with each other piece read as a link number 0-4. The
 * lines are what the two radios send (their manuals and the emulators), the hex and names the
 * config and the recorder check, and a few near misses. For each pattern and line the result of
 * `exec` (the match and its groups, or null) must be the same in both.
 *
 * Used by `npm run test:espruino` (tools/espruino-smoke.js).
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const ts = require('typescript');

const ROOT = path.join(__dirname, '..');
const DIRS = ['firmware', path.join('hal', 'espruino')];

/** Lines the patterns meet on the device, and near misses. */
const LINES = [
  '',
  'OK',
  'OKAY',
  'ERROR',
  'FAIL',
  'SEND OK',
  'SEND FAIL',
  'SEND FAILED',
  '0, SEND OK',
  '0, SEND FAIL',
  '1, SEND OK',
  '1, SEND FAIL',
  '3, SEND FAIL',
  '0,SEND OK',
  'busy p...',
  'busy s...',
  '+CME ERROR: 3',
  '+CMS ERROR: 500',
  '0, CONNECT OK',
  '0, CONNECT FAIL',
  '0, ALREADY CONNECT',
  '0, CLOSE OK',
  '0, CLOSED',
  '0,CONNECT',
  '0,CLOSED',
  'ALREADY CONNECTED',
  'SHUT OK',
  '+CPIN: READY',
  '+CPIN: SIM PIN',
  '+CREG: 0,1',
  '+CREG: 0,5',
  '+CREG: 0,2',
  '+CSQ: 20,0',
  '+CSQ: 99,99',
  '10.64.1.23',
  '0.0.0.0',
  '10.64.1',
  '+PDP: DEACT',
  'RDY',
  'RDY2',
  'Call Ready',
  'SMS Ready',
  'NORMAL POWER DOWN',
  'UNDER-VOLTAGE POWER DOWN',
  'UNDER-VOLTAGE WARNNING',
  'ready',
  'Ready.',
  'already',
  'no change',
  'no changes',
  'WIFI DISCONNECT',
  'WIFI CONNECTED',
  'WIFI GOT IP',
  '+CWJAP:"lab","a0:b1:c2:d3:e4:f5",6,-58',
  '+CWJAP:"FAIL busy OK","a0:b1:c2:d3:e4:f5",11,-70',
  '+CWJAP:3',
  'No AP',
  '+IPD,0,5,10.0.0.2,7000:hello',
  '+IPD,3,1460:x',
  '+RECEIVE,0,4:\r\nab\r\n',
  '+RECEIVE,1,12:\nxy',
  '+CIFSR:STAIP,"192.168.4.20"',
  '00ff',
  'DEADbeef',
  '0g',
  'abc',
  'unit-01',
  'lab.example',
  'a b',
  'x\u0001y\u007f',
  '12:34, x_y-z.'
];

/** A pattern built from string literals joined by `+`; `hole` stands for each other piece. */
function pieces(e, hole) {
  if (ts.isStringLiteralLike(e)) return e.text;
  if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const l = pieces(e.left, hole);
    const r = pieces(e.right, hole);
    if (l === undefined && r === undefined) return undefined;
    return (l === undefined ? hole : l) + (r === undefined ? hole : r);
  }
  return undefined;
}

/** `[{ source, flags, where }]`: the device code's patterns. */
function devicePatterns() {
  const out = [];
  const seen = new Set();
  const add = (source, flags, where) => {
    const k = flags + '/' + source;
    if (seen.has(k)) return;
    seen.add(k);
    out.push({ source, flags, where });
  };
  for (const dir of DIRS) {
    for (const f of fs.readdirSync(path.join(ROOT, dir)).sort()) {
      if (!f.endsWith('.ts') || f.endsWith('.d.ts')) continue;
      const file = path.join(dir, f);
      const sf = ts.createSourceFile(
        file,
        fs.readFileSync(path.join(ROOT, file), 'utf8'),
        ts.ScriptTarget.ES2020,
        true
      );
      const visit = (n) => {
        const line = () =>
          `${file.split(path.sep).join('/')}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
        if (n.kind === ts.SyntaxKind.RegularExpressionLiteral) {
          const t = n.getText();
          const end = t.lastIndexOf('/');
          add(t.slice(1, end), t.slice(end + 1), line());
        } else if (
          ts.isNewExpression(n) &&
          ts.isIdentifier(n.expression) &&
          n.expression.text === 'RegExp' &&
          n.arguments &&
          n.arguments.length
        ) {
          for (let k = 0; k < 5; k++) {
            const p = pieces(n.arguments[0], String(k));
            if (p !== undefined) add(p, '', line());
          }
        }
        ts.forEachChild(n, visit);
      };
      visit(sf);
    }
  }
  return out;
}

/** `exec` of each pattern over each line, as JSON text per pair: `[match, group…]` or null. */
function nodeResults(pats) {
  return pats.map((p) =>
    LINES.map((l) => {
      const m = new RegExp(p.source, p.flags).exec(l);
      return JSON.stringify(m ? Array.prototype.slice.call(m) : null);
    })
  );
}

/** The same on the interpreter: `{ results }` or `{ error }`. */
function espruinoResults(bin, pats) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'espruino-regex-'));
  try {
    const script = `var P = ${JSON.stringify(pats.map((p) => [p.source, p.flags]))};
var L = ${JSON.stringify(LINES)};
for (var i = 0; i < P.length; i++) {
  for (var j = 0; j < L.length; j++) {
    var m = new RegExp(P[i][0], P[i][1]).exec(L[j]);
    var a = null;
    if (m) { a = []; for (var g = 0; g < m.length; g++) a.push(m[g] === undefined ? null : m[g]); }
    // (one line per pair, nothing kept: the 8,190-variable heap holds no table of them all)
    print('R ' + i + ' ' + j + ' ' + JSON.stringify(JSON.stringify(a)));
  }
}
print('DONE');
quit();
`;
    fs.writeFileSync(path.join(dir, 'regex.js'), script);
    const r = spawnSync(bin, ['regex.js'], {
      cwd: dir,
      encoding: 'latin1',
      timeout: 60000,
      killSignal: 'SIGKILL',
      input: ''
    });
    const out = r.stdout || '';
    if (!/^DONE\r?$/m.test(out))
      return { error: 'no result from the interpreter: ' + String(out || r.error || '').slice(-400) };
    const results = pats.map(() => LINES.map(() => 'missing'));
    const re = /^R (\d+) (\d+) (.*?)\r?$/gm;
    let m;
    while ((m = re.exec(out))) results[Number(m[1])][Number(m[2])] = JSON.parse(m[3]);
    return { results };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Run the comparison on `bin`: `{ patterns, lines, differences: [{ where, pattern, line, node,
 * espruino }], error }`.
 */
function compareRegexes(bin) {
  const pats = devicePatterns();
  const mine = nodeResults(pats);
  const theirs = espruinoResults(bin, pats);
  const differences = [];
  if (theirs.results) {
    for (let i = 0; i < pats.length; i++)
      for (let j = 0; j < LINES.length; j++)
        if (mine[i][j] !== theirs.results[i][j])
          differences.push({
            where: pats[i].where,
            pattern: '/' + pats[i].source + '/' + pats[i].flags,
            line: LINES[j],
            node: mine[i][j],
            espruino: theirs.results[i][j]
          });
  }
  return { patterns: pats.length, lines: LINES.length, differences, error: theirs.error };
}

module.exports = { compareRegexes };

if (require.main === module) {
  const bin = process.env.ESPRUINO_BIN;
  if (!bin) {
    console.log('set ESPRUINO_BIN to an Espruino interpreter built for Linux');
    process.exit(2);
  }
  const r = compareRegexes(bin);
  if (r.error) console.log(r.error);
  for (const d of r.differences)
    console.log(`${d.where} ${d.pattern} on ${JSON.stringify(d.line)}: node ${d.node}, espruino ${d.espruino}`);
  console.log(`${r.patterns} patterns x ${r.lines} lines, ${r.differences.length} differences`);
  process.exit(r.error || r.differences.length ? 1 : 0);
}
