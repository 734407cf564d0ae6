#!/usr/bin/env node
'use strict';
/**
 * Build the firmware for a board: TypeScript → one Espruino-ready file.
 *
 *   node build.js [--board ID] [--out FILE] [--flash PORT] [--all] [--quiet]
 *
 * Stages (each with a source map, composed so findings name the TypeScript line):
 *   1. esbuild bundles firmware/main.ts + hal/espruino into one script (modules flattened in
 *      dependency order, `__BOARD__` injected, no module loader);
 *   2. TypeScript 5.9 lowers it to ES5 with no helpers (Espruino lacks destructuring, spread,
 *      default parameters, per-iteration `let`…);
 *   3. terser minifies (function bodies are kept in RAM on the device: every byte counts), then
 *      hoists each function's `var`s to its top (Espruino does not hoist them);
 *   4. the compatibility gate (tools/gate.js) rejects anything Espruino cannot run;
 *   5. the Espruino tools pretokenise it into the boot image (what is stored as `.bootcde`);
 *   6. the image's size budget (docs/footprint.md) is checked.
 * Output: dist/firmware.js (readable, minified) and dist/firmware.img (the boot image) for the
 * Espruino WiFi, dist/firmware-<board>.{js,img} for the others.
 *
 * --out FILE   runs the Espruino command-line tools offline (board description from
 *              ../shared/boards, no module downloads) and writes exactly what would be sent.
 * --flash PORT sends the same to a unit on PORT, into Storage (.bootcde) so it runs at boot.
 */
const fs = require('fs');
const path = require('path');
const { spawn, spawnSync } = require('child_process');

const ROOT = __dirname;
const BOARDS_DIR = path.join(ROOT, '..', 'shared', 'boards');
const DEFAULT_BOARD = 'ESPRUINOWIFI';

/**
 * Boot image budgets in bytes (pretokenised, what Storage holds). Storage is one 64 KB page on
 * the Espruino WiFi and its largest file 65,504 B: an image over that cannot be flashed at all, so
 * that is the ceiling for the boards that are build targets only (Pico, MDBT42Q). The LINUX test
 * profile links its installer module (firmware/main.ts), which the Espruino WiFi keeps in sector 3:
 * it is held to what the Espruino WiFi holds in both, its Storage budget plus the module's sector
 * budget (the Linux interpreter's Storage spans 256 KB; the harness checks that it stays below the
 * window standing in for sectors 1-3). The Espruino WiFi
 * is held to the Storage plan of issue #17: everything Storage holds (the image and its 32-byte
 * file header; records live on raw flash, the installer module in sector 3) at most 90% of the
 * 64 KB page, 58,982 B, so that Storage never needs a compaction it cannot do (docs/footprint.md).
 */
const STORAGE_MAX_FILE = 65504;
/** The installer module's sector is 16 KB, of which 16 bytes are the header (hal/code-image.ts). */
const MODULE_BUDGET = 16 * 1024 - 16;
const STORAGE_HEADER = 32;
const STORAGE_PLAN = { ESPRUINOWIFI: Math.floor(0.9 * 64 * 1024) };
const BUDGETS = {
  ESPRUINOWIFI: STORAGE_PLAN.ESPRUINOWIFI - STORAGE_HEADER,
  PICO_R1_3: STORAGE_MAX_FILE,
  MDBT42Q: STORAGE_MAX_FILE,
  LINUX: STORAGE_PLAN.ESPRUINOWIFI - STORAGE_HEADER + MODULE_BUDGET
};

/**
 * The audio path's helpers that stay calls in the image (see the pass before terser): the rare
 * work of the recorder's per-block function (firmware/recorder.ts). Each standing function costs
 * the board's heap its object, name, code and parameters: a longer list measured 58 variables
 * more at idle, and the board check then ran out of memory at its worst moment (docs/footprint.md).
 */
const NOT_INLINED = ['room', 'opened'];

function outFile(board) {
  return path.join(ROOT, 'dist', board === DEFAULT_BOARD ? 'firmware.js' : `firmware-${board.toLowerCase()}.js`);
}

/** The boot image stored as `.bootcde`: the bundle pretokenised (stage 5). */
function imageFile(board) {
  return outFile(board).replace(/\.js$/, '.img');
}

/**
 * Stage 5: pretokenise with the Espruino tools (PRETOKENISE=2: keywords, operators and literals
 * become Espruino's own lexer tokens). The interpreter runs the tokens as it would the text, so the
 * image is ~13% smaller in Storage and its function bodies take fewer variables where code is
 * copied to RAM (docs/footprint.md). Checked on Espruino 2v29 by `npm run test:espruino`.
 */
function pretokenise(file, img) {
  const args = [
    require.resolve('espruino/bin/espruino-cli.js'),
    '--board',
    path.join(BOARDS_DIR, 'ESPRUINOWIFI.json'),
    '--config',
    'MODULE_URL=',
    '--config',
    'SAVE_ON_SEND=1',
    '--config',
    'PRETOKENISE=2',
    '-n',
    '-q',
    '-o',
    img + '.js',
    file // the tools insist on a .js name
  ];
  if (!fs.existsSync(args[2])) args.splice(1, 2); // no board file: the tokens do not depend on it
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0 || !fs.existsSync(img + '.js')) {
    throw new Error(`pretokenising failed (exit ${r.status}):\n${(r.stderr || '') + (r.stdout || '')}`.trim());
  }
  // The tools sometimes start their output with a newline (board-dependent); drop it so the image,
  // and the hash the unit reports for it, depend on the code alone.
  let bytes = fs.readFileSync(img + '.js');
  fs.unlinkSync(img + '.js');
  while (bytes.length && bytes[0] === 0x0a) bytes = bytes.subarray(1);
  fs.writeFileSync(img, bytes);
  return bytes.length;
}

function parseArgs(argv) {
  const o = { board: DEFAULT_BOARD, quiet: false, all: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--board') o.board = next().toUpperCase();
    else if (a === '--out') o.out = next();
    else if (a === '--flash') o.flash = next();
    else if (a === '--all') o.all = true;
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown option ${a} (see node build.js --help)`);
  }
  if (!BUDGETS[o.board]) throw new Error(`unknown board ${o.board}; known: ${Object.keys(BUDGETS).join(', ')}`);
  return o;
}

/**
 * The image has no outer function (issue #17: every function would carry that scope in its chain,
 * ~660 variables on the Espruino WiFi): its top-level names are the interpreter's root scope, so
 * the mangler must not produce a name the interpreter already gives a meaning (a pin, `E`).
 */
const ESPRUINO_SHORT_GLOBALS = ['E'].concat(
  ...'ABCDH'.split('').map((p) => Array.from({ length: 10 }, (_, i) => p + i))
);

/**
 * Stage 1-3: source → minified ES5 with a source map back to the TypeScript. `moduleSha` given:
 * the boot image of `board`, which loads the installer module of that SHA-256; absent: the
 * installer module itself, one expression whose value is its exports (the code area evaluates it).
 */
/** Each board's composition file under hal/espruino/boards/. */
const BOARD_FILES = { ESPRUINOWIFI: 'espruino-wifi', PICO_R1_3: 'pico', MDBT42Q: 'mdbt42q', LINUX: 'linux' };

async function compile(board, moduleSha) {
  const esbuild = require('esbuild');
  const ts = require('typescript');
  const { minify } = require('terser');
  const remapping = require('@jridgewell/remapping');
  const image = moduleSha !== undefined;

  const bundled = await esbuild.build({
    entryPoints: [path.join(ROOT, 'firmware', image ? 'main.ts' : 'installer-module.ts')],
    bundle: true,
    write: false,
    // The module: one function expression called at once, whose value is its exports (`eval`
    // returns it): bundled as ESM, its closing `export { … }` becomes the `return` below.
    format: 'esm',
    banner: image ? undefined : { js: '(function(){' },
    footer: image ? undefined : { js: '})()' },
    platform: 'neutral',
    target: 'es2020',
    sourcemap: 'external',
    outfile: 'bundle.js',
    define: { __BOARD__: JSON.stringify(board), __MODULE_SHA__: JSON.stringify(moduleSha || '') },
    // The device entry's `../hal/espruino/board` is the composition file of this board alone.
    plugins: [
      {
        name: 'board',
        setup(b) {
          b.onResolve({ filter: /^\.\.\/hal\/espruino\/board$/ }, () => ({
            path: path.join(ROOT, 'hal', 'espruino', 'boards', `${BOARD_FILES[board]}.ts`)
          }));
        }
      }
    ],
    legalComments: 'none',
    minifySyntax: true,
    treeShaking: true,
    charset: 'utf8',
    logLevel: 'silent'
  });
  const outputs = bundled.outputFiles || [];
  const jsOut = outputs.find((f) => f.path.endsWith('.js'));
  const mapOut = outputs.find((f) => f.path.endsWith('.map'));
  if (!jsOut || !mapOut) throw new Error('esbuild wrote no bundle');
  let esCode = jsOut.text;
  if (!image) {
    const exp = /export\s*\{\s*(\w+)(?:\s+as\s+installerModule)?\s*\};?\s*\n\}\)\(\)\s*$/.exec(esCode);
    if (!exp) throw new Error('the installer module must export installerModule alone');
    esCode = esCode.slice(0, exp.index) + 'return ' + exp[1] + ';\n})()\n';
  }
  const esMap = JSON.parse(mapOut.text);
  esMap.sources = esMap.sources.map((s) => path.relative(ROOT, path.resolve(s)));

  const lowered = ts.transpileModule(esCode, {
    fileName: 'bundle.js',
    compilerOptions: {
      target: ts.ScriptTarget.ES5,
      module: ts.ModuleKind.CommonJS,
      allowJs: true,
      noEmitHelpers: true,
      importHelpers: false,
      sourceMap: true,
      removeComments: true
    },
    reportDiagnostics: true
  });
  if (lowered.diagnostics && lowered.diagnostics.length) {
    const msg = lowered.diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n');
    throw new Error(`TypeScript could not lower the bundle:\n${msg}`);
  }
  const loweredMap = JSON.parse(lowered.sourceMapText || '{}');
  const composed = remapping([loweredMap, esMap], () => null);

  // Calls terser must leave as calls (its single-use inlining would make each an IIFE in its
  // caller): 2v29 lexes the whole body of every function it calls, the branches it skips included,
  // so the audio path's rare work (a resume, a loss, a full ring, a new slot) is kept out of the
  // per-block and per-chunk functions, and those are called, not built as a function expression
  // each time (issue #16; docs/footprint.md, "Where a chunk's time goes"). The comment shifts the
  // columns after it on its line in the source map.
  const keepCalls = new RegExp(`(?<![\\w$.]|function )\\b(${NOT_INLINED.join('|')})\\(`, 'g');
  const annotated = lowered.outputText.replace(keepCalls, '/*@__NOINLINE__*/$1(');
  const compressed = await minify(annotated, {
    ecma: 5,
    toplevel: true,
    // inline: 2 — inlining a function that declares variables (level 3) moves its `var`s after their
    // first use, which Espruino (no hoisting) cannot run; the gate catches it if it ever happens.
    compress: {
      hoist_funs: false,
      hoist_vars: false,
      inline: 1,
      // The factories stay top-level functions: inlined into their caller (terser does it for a
      // single-use function), each closure they make would carry the caller's scopes as well,
      // d + 2 variables per closure for a chain d deep (issue #17, measured on the Espruino WiFi
      // image at idle: 275 variables; naming only some factories let createEspruinoHal be inlined
      // into start(), keeping start's config copy alive: name them by pattern). The LINUX test
      // profile too (since 2026-12-04): with its factories inlined it idled ~320 variables higher
      // than with them apart, and its closures' longer scope chains made the audio bench measure
      // a firmware shaped unlike the board's (docs/footprint.md, "The hot path's shape"). Its
      // image, the installer module linked in, is 66,333 B of its 75,318 B budget.
      top_retain: /^(create[A-Z]|supervise[A-Z]|deviceFlash$)/,
      passes: 2,
      unsafe: false,
      keep_fargs: true,
      expression: !image
    },
    mangle: false,
    format: { ecma: 5, ascii_only: true, comments: false },
    sourceMap: { content: JSON.parse(JSON.stringify(composed)) }
  });
  // Espruino 2v29 does not hoist `var`, not even inside a function: until `var x` has run, `x` is
  // the enclosing scope's (../shared/docs/espruino-platform.md, "Interpreter versions").
  // TypeScript lowers two sibling `let i` loops to two `var i`, and terser's `unused` (it cannot be
  // turned off: ~3.7 KB more image) keeps one declaration and turns the other into `i = 0`
  // (drop-unused.js, "duplicated definition"); when the one kept sits in a branch that returned,
  // the loop assigns the enclosing scope's `i` (issue #17: the key-format check overwrote the AES
  // key schedule). So a last pass does nothing but hoist each function's `var`s to its top
  // (`var a, b, i;`, initialisers become assignments, joined into sequences), after compression
  // so nothing moves them back, then mangles. Measured on the Espruino WiFi image: this pass costs
  // ~0.7 KB; hoist_vars in the main pass would cost ~3.1 KB. The gate's var-order rule checks the
  // result.
  if (compressed.code === undefined) throw new Error('terser produced no code');
  const min = await minify(compressed.code, {
    ecma: 5,
    toplevel: true,
    compress: { defaults: false, hoist_vars: true, sequences: true, expression: !image },
    mangle: { toplevel: true, reserved: image ? ESPRUINO_SHORT_GLOBALS : [] },
    format: { ecma: 5, ascii_only: true, comments: false },
    sourceMap: { content: typeof compressed.map === 'string' ? JSON.parse(compressed.map) : compressed.map }
  });
  const map = typeof min.map === 'string' ? JSON.parse(min.map) : min.map;
  if (min.code === undefined) throw new Error('terser produced no code');
  return { code: min.code, map, unminified: lowered.outputText, unminifiedMap: composed };
}

/** Stage 4: the gate, on the unminified ES5 (names readable) and on what ships. */
function gate(result, board) {
  const { checkCode, formatFindings } = require('./tools/gate');
  const problems = [];
  const a = checkCode(result.unminified, { map: result.unminifiedMap });
  if (a.length) problems.push(formatFindings(a, `${board}:es5`));
  const b = checkCode(result.code, { map: result.map });
  if (b.length) problems.push(formatFindings(b, `${board}:min`));
  if (problems.length) {
    throw new Error(`compatibility gate failed for ${board}:\n${problems.join('\n')}`);
  }
}

function espruinoArgs(board, file) {
  const boardJson = path.join(BOARDS_DIR, `${board}.json`);
  if (!fs.existsSync(boardJson)) {
    throw new Error(
      `no board description for ${board} at ${path.relative(ROOT, boardJson)} (the shared/ folder beside the checkout)`
    );
  }
  return [
    require.resolve('espruino/bin/espruino-cli.js'),
    '--board',
    boardJson,
    '--config',
    'MODULE_URL=',
    '--config',
    'SAVE_ON_SEND=0',
    '--storage',
    `.bootcde:${file}`,
    '-e',
    'load()'
  ];
}

/** Run the Espruino tools offline and write what they would send to `out`. */
function writeOffline(board, file, out) {
  const args = espruinoArgs(board, file).concat(['-n', '-q', '-o', path.resolve(out)]);
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0 || !fs.existsSync(out)) {
    throw new Error(`espruino tools failed (exit ${r.status}):\n${(r.stderr || '') + (r.stdout || '')}`.trim());
  }
  return fs.statSync(out).size;
}

/**
 * Flash through the Espruino tools (their CLI, in a child process: the caller's own event loop
 * keeps running, e.g. a board emulated in the same process). Resolves when the tools exit.
 * @returns {Promise<void>}
 */
function flash(board, file, port) {
  // --no-ble: a USB port or TCP needs no Bluetooth, and without D-Bus the tools' scan dies.
  const args = espruinoArgs(board, file).concat(['--no-ble', '-p', port]);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`flashing ${board} on ${port} failed: ${e.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(undefined);
      else reject(new Error(`flashing ${board} on ${port} failed (${signal ? `killed, ${signal}` : `exit ${code}`})`));
    });
  });
}

/** The installer module's files: the minified bundle and the image written to its sector. */
const MODULE_JS = path.join(ROOT, 'dist', 'installer-module.js');
const MODULE_IMG = path.join(ROOT, 'dist', 'installer-module.img');

let moduleBuilt;

/**
 * The installer module (firmware/installer-module.ts): bundled, gated and pretokenised like the
 * image, written as dist/installer-module.img in its sector's form (`IM01`, the text's length in
 * 8 hex digits, 4 spaces, the text, spaces to a whole word). Built once per process; every boot
 * image carries the SHA-256 of its text.
 */
function buildModule(o) {
  if (!moduleBuilt)
    moduleBuilt = (async () => {
      const log = o.quiet ? () => {} : (s) => console.log(s);
      const t0 = Date.now();
      const result = await compile(DEFAULT_BOARD);
      gate(result, 'installer module');
      fs.mkdirSync(path.dirname(MODULE_JS), { recursive: true });
      fs.writeFileSync(MODULE_JS, result.code + '\n');
      fs.writeFileSync(MODULE_JS + '.map', JSON.stringify(result.map));
      const tokens = MODULE_IMG + '.tok';
      const n = pretokenise(MODULE_JS, tokens);
      const text = fs.readFileSync(tokens);
      fs.unlinkSync(tokens);
      const head = Buffer.from('IM01' + n.toString(16).padStart(8, '0') + '    ', 'latin1');
      const pad = Buffer.alloc((4 - (n % 4)) % 4, 0x20);
      fs.writeFileSync(MODULE_IMG, Buffer.concat([head, text, pad]));
      const sha = require('crypto').createHash('sha256').update(text).digest('hex');
      log(
        `${'module'.padEnd(13)} ${path.relative(ROOT, MODULE_JS).padEnd(30)} ${String(Buffer.byteLength(result.code)).padStart(6)} bytes, image ${path.relative(ROOT, MODULE_IMG)} ${n} bytes (budget ${MODULE_BUDGET}, ${((100 * n) / MODULE_BUDGET).toFixed(0)}%) gate clean, ${Date.now() - t0} ms`
      );
      if (n > MODULE_BUDGET) throw new Error(`the installer module is ${n} bytes, over its sector's ${MODULE_BUDGET}`);
      return { file: MODULE_IMG, bytes: n, sha };
    })();
  return moduleBuilt;
}

async function buildBoard(board, o) {
  const log = o.quiet ? () => {} : (s) => console.log(s);
  const mod = await buildModule(o);
  const t0 = Date.now();
  const result = await compile(board, mod.sha);
  gate(result, board);
  const file = outFile(board);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, result.code + '\n');
  fs.writeFileSync(file + '.map', JSON.stringify(result.map));
  const bytes = Buffer.byteLength(result.code);
  const budget = BUDGETS[board];
  const image = imageFile(board);
  const imageBytes = pretokenise(file, image);
  log(
    `${board.padEnd(13)} ${path.relative(ROOT, file).padEnd(30)} ${String(bytes).padStart(6)} bytes, image ${path.relative(ROOT, image)} ${imageBytes} bytes (budget ${budget}, ${((100 * imageBytes) / budget).toFixed(0)}%) gate clean, ${Date.now() - t0} ms`
  );
  if (imageBytes > budget)
    throw new Error(
      `${board}: boot image is ${imageBytes} bytes, over its budget of ${budget} (see docs/footprint.md)`
    );
  return { board, file, bytes, image, imageBytes, budget, module: mod };
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`build: ${e.message}`);
    process.exit(2);
  }
  if (o.help) {
    console.log(
      fs
        .readFileSync(__filename, 'utf8')
        .split('\n')
        .slice(2, 22)
        .map((l) => l.replace(/^ \*\/?\s?/, ''))
        .join('\n')
    );
    return;
  }
  const boards = o.all ? Object.keys(BUDGETS) : [o.board];
  for (const b of boards) {
    const built = await buildBoard(b, o);
    if (o.out) {
      const out = boards.length > 1 ? o.out.replace(/(\.js)?$/, `-${b.toLowerCase()}.js`) : o.out;
      const size = writeOffline(b, built.image, out);
      if (!o.quiet) console.log(`${b.padEnd(13)} espruino tools (offline) wrote ${out}: ${size} bytes to send`);
    }
    if (o.flash) await flash(b, built.image, o.flash);
  }
}

module.exports = {
  compile,
  buildBoard,
  buildModule,
  writeOffline,
  flash,
  BUDGETS,
  STORAGE_PLAN,
  outFile,
  imageFile,
  MODULE_IMG
};

if (require.main === module) {
  main().catch((e) => {
    console.error(`build: ${e.message}`);
    process.exit(1);
  });
}
