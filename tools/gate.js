'use strict';
/**
 * The Espruino compatibility gate: parses JavaScript meant for the device and reports every
 * construct or global that ../shared/docs/espruino-platform.md measured as failing on the real
 * interpreter, and every function or variable used at load time before the line that defines it
 * (Espruino does not hoist). With a source map, each finding names the TypeScript source line.
 *
 * Usage: node tools/gate.js FILE.js [FILE.js.map]    (exit 1 on findings)
 * API:   checkCode(code, { file, map }) → [{ rule, message, line, column, source }]
 */
const acorn = require('acorn');
const eslintScope = require('eslint-scope');

/** Globals that are undefined on Espruino. */
const MISSING_GLOBALS = {
  Map: 'Map',
  Set: 'Set',
  WeakMap: 'WeakMap',
  WeakSet: 'WeakSet',
  WeakRef: 'WeakRef',
  Symbol: 'Symbol',
  Reflect: 'Reflect',
  Proxy: 'Proxy',
  BigInt: 'BigInt',
  TextEncoder: 'TextEncoder',
  TextDecoder: 'TextDecoder',
  queueMicrotask: 'queueMicrotask',
  RangeError: 'RangeError',
  globalThis: 'globalThis',
  structuredClone: 'structuredClone',
  BigInt64Array: 'BigInt64Array',
  BigUint64Array: 'BigUint64Array',
  SharedArrayBuffer: 'SharedArrayBuffer',
  Atomics: 'Atomics',
  Intl: 'Intl'
};

/** Static members that are undefined on Espruino: object → member list. */
const MISSING_STATICS = {
  Object: ['freeze', 'isFrozen', 'seal', 'getOwnPropertySymbols', 'groupBy', 'hasOwn'],
  Array: ['from', 'of'],
  Number: ['isInteger', 'isNaN', 'isFinite', 'isSafeInteger', 'MAX_SAFE_INTEGER', 'MIN_SAFE_INTEGER', 'EPSILON', 'parseFloat', 'parseInt'],
  Math: ['imul', 'trunc', 'log2', 'log10', 'hypot', 'clz32', 'sign', 'cbrt', 'expm1', 'log1p', 'fround'],
  Promise: ['race', 'allSettled', 'any'],
  String: ['raw'],
  Uint8Array: ['from', 'of', 'BYTES_PER_ELEMENT'],
  Int8Array: ['from', 'of', 'BYTES_PER_ELEMENT'],
  Uint16Array: ['from', 'of', 'BYTES_PER_ELEMENT'],
  Int16Array: ['from', 'of', 'BYTES_PER_ELEMENT'],
  Uint32Array: ['from', 'of', 'BYTES_PER_ELEMENT'],
  Int32Array: ['from', 'of', 'BYTES_PER_ELEMENT'],
  Float32Array: ['from', 'of', 'BYTES_PER_ELEMENT'],
  Float64Array: ['from', 'of', 'BYTES_PER_ELEMENT'],
  Uint8ClampedArray: ['from', 'of', 'BYTES_PER_ELEMENT']
};

/**
 * Method names that exist on no Espruino object we use (as `x.name(...)` calls). Names that are
 * fine on strings but missing on arrays (lastIndexOf) cannot be told apart here and are not listed.
 */
const MISSING_METHODS = {
  finally: 'Promise.prototype.finally',
  flat: 'Array.prototype.flat',
  flatMap: 'Array.prototype.flatMap',
  at: 'Array/String.prototype.at',
  localeCompare: 'String.prototype.localeCompare',
  trimStart: 'String.prototype.trimStart',
  trimEnd: 'String.prototype.trimEnd',
  copyWithin: 'TypedArray.prototype.copyWithin',
  findLast: 'Array.prototype.findLast',
  findLastIndex: 'Array.prototype.findLastIndex',
  toSorted: 'Array.prototype.toSorted',
  toReversed: 'Array.prototype.toReversed',
  matchAll: 'String.prototype.matchAll',
  normalize: 'String.prototype.normalize',
  codePointAt: 'String.prototype.codePointAt'
};

const has = (table, key) => Object.prototype.hasOwnProperty.call(table, key);

const BUILTIN_PROTOS = ['Array', 'String', 'Object', 'Function', 'Number', 'Uint8Array', 'ArrayBuffer', 'Promise'];

function walk(node, parent, visit) {
  if (!node || typeof node.type !== 'string') return;
  visit(node, parent);
  for (const key of Object.keys(node)) {
    if (key === 'parent') continue;
    const v = node[key];
    if (Array.isArray(v)) {
      for (const c of v) if (c && typeof c.type === 'string') walk(c, node, visit);
    } else if (v && typeof v.type === 'string') {
      walk(v, node, visit);
    }
  }
}

function memberName(node) {
  if (node.type !== 'MemberExpression') return undefined;
  if (!node.computed && node.property.type === 'Identifier') return node.property.name;
  if (node.computed && node.property.type === 'Literal' && typeof node.property.value === 'string') return node.property.value;
  return undefined;
}

/** Findings for syntax, globals and members. */
function checkConstructs(ast, scopeManager, add) {
  const parents = new Map();
  walk(ast, null, (node, parent) => {
    parents.set(node, parent);
    switch (node.type) {
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        if (node.async) add(node, 'async', 'async function (Espruino has no async/await): use callbacks or plain Promises');
        if (node.generator) add(node, 'generator', 'generator function (unsupported on Espruino)');
        for (const p of node.params) {
          if (p.type === 'AssignmentPattern') add(p, 'default-param', 'default parameter value (SyntaxError on Espruino)');
          if (p.type === 'RestElement') add(p, 'rest', 'rest parameter (SyntaxError on Espruino)');
          if (p.type === 'ObjectPattern' || p.type === 'ArrayPattern') add(p, 'destructuring', 'destructuring parameter (fails on Espruino)');
        }
        break;
      case 'AwaitExpression':
        add(node, 'async', 'await (unsupported on Espruino)');
        break;
      case 'YieldExpression':
        add(node, 'generator', 'yield (unsupported on Espruino)');
        break;
      case 'VariableDeclarator':
        if (node.id.type !== 'Identifier') add(node.id, 'destructuring', 'destructuring declaration (fails on Espruino)');
        break;
      case 'AssignmentExpression':
        if (node.left.type === 'ObjectPattern' || node.left.type === 'ArrayPattern') {
          add(node.left, 'destructuring', 'destructuring assignment (fails on Espruino)');
        }
        if (node.operator === '??=' || node.operator === '||=' || node.operator === '&&=') {
          add(node, 'logical-assign', `'${node.operator}' (SyntaxError on Espruino)`);
        }
        if (node.operator === '**=') add(node, 'exponent', "'**=' (SyntaxError on Espruino): use Math.pow");
        break;
      case 'BinaryExpression':
        if (node.operator === '**') add(node, 'exponent', "'**' (SyntaxError on Espruino): use Math.pow");
        break;
      case 'SpreadElement':
        add(node, 'spread', 'spread syntax (SyntaxError on Espruino)');
        break;
      case 'RestElement': {
        const parent = parents.get(node);
        const isParam = parent && /Function/.test(parent.type) && parent.params.includes(node);
        if (!isParam) add(node, 'rest', 'rest element (fails on Espruino)');
        break;
      }
      case 'ChainExpression':
        add(node, 'optional-chain', "optional chaining '?.' (SyntaxError on Espruino)");
        break;
      case 'LabeledStatement':
        add(node, 'label', 'labelled statement (labelled break/continue fail on Espruino)');
        break;
      case 'TaggedTemplateExpression':
        add(node, 'tagged-template', 'tagged template (not supported on Espruino)');
        break;
      case 'PropertyDefinition':
        if (node.value === null) add(node, 'class-field', 'class field without an initialiser (SyntaxError on Espruino)');
        if (node.key.type === 'PrivateIdentifier') add(node, 'private', '#private member (SyntaxError on Espruino)');
        break;
      case 'PrivateIdentifier':
        add(node, 'private', '#private name (SyntaxError on Espruino)');
        break;
      case 'Property':
        if (node.computed && parents.get(node) && parents.get(node).type === 'ObjectExpression') {
          add(node, 'computed-key', 'computed property key {[k]: v} (wrong result on Espruino)');
        }
        break;
      case 'ClassDeclaration':
      case 'ClassExpression':
        if (node.superClass && node.superClass.type === 'Identifier' && /Error$/.test(node.superClass.name)) {
          add(node, 'extends-error', `class extends ${node.superClass.name} (super() fails on Espruino; instanceof is false)`);
        }
        break;
      case 'ArrayExpression':
        if (node.elements.some((e) => e === null)) add(node, 'array-hole', 'array literal with a hole (parser bug on Espruino)');
        break;
      case 'ImportExpression':
      case 'ImportDeclaration':
      case 'ExportNamedDeclaration':
      case 'ExportDefaultDeclaration':
      case 'ExportAllDeclaration':
        add(node, 'module', 'ES module syntax (Espruino runs plain scripts)');
        break;
      case 'MetaProperty':
        add(node, 'meta', `${node.meta.name}.${node.property.name} (unsupported on Espruino)`);
        break;
      case 'Literal':
        if (node.regex) {
          const p = node.regex.pattern;
          if (/\(\?[=!]|\(\?<[=!]/.test(p)) add(node, 'regex', 'regex lookahead/lookbehind (returns null on Espruino)');
          if (/\(\?<[A-Za-z]/.test(p)) add(node, 'regex', 'regex named group (SyntaxError on Espruino)');
          const q = regexQuantifierProblem(p);
          if (q) add(node, 'regex', q);
          if (/[suy]/.test(node.regex.flags)) add(node, 'regex', `regex flag(s) '${node.regex.flags}' (only g, i, m on Espruino)`);
        }
        break;
      case 'MemberExpression': {
        const name = memberName(node);
        if (name === undefined) break;
        if (node.object.type === 'Identifier' && has(MISSING_STATICS, node.object.name) && MISSING_STATICS[node.object.name].includes(name)) {
          if (isGlobalRef(scopeManager, node.object)) add(node, 'missing-api', `${node.object.name}.${name} is undefined on Espruino`);
        }
        if (
          name !== 'prototype' &&
          node.object.type === 'MemberExpression' &&
          memberName(node.object) === 'prototype' &&
          node.object.object.type === 'Identifier' &&
          BUILTIN_PROTOS.includes(node.object.object.name)
        ) {
          add(node, 'prototype-lookup', `${node.object.object.name}.prototype.${name} looked up directly is undefined on Espruino: use [].${name}.call or a method call`);
        }
        const parent = parents.get(node);
        if (has(MISSING_METHODS, name) && parent && parent.type === 'CallExpression' && parent.callee === node) {
          add(node, 'missing-api', `${MISSING_METHODS[name]} is undefined on Espruino`);
        }
        break;
      }
      default:
        break;
    }
  });
  return parents;
}

function isGlobalRef(scopeManager, identifier) {
  const global = scopeManager.globalScope;
  for (const ref of global.through) if (ref.identifier === identifier) return true;
  return false;
}

/** Globals used by the code that Espruino lacks, and TypeScript helpers nobody defined. */
function checkGlobals(scopeManager, add) {
  for (const ref of scopeManager.globalScope.through) {
    const name = ref.identifier.name;
    if (has(MISSING_GLOBALS, name)) add(ref.identifier, 'missing-global', `${name} is undefined on Espruino`);
    else if (/^__[a-z][A-Za-z]+$/.test(name)) {
      add(ref.identifier, 'ts-helper', `TypeScript helper ${name} is not provided for Espruino (the build emits no helpers): avoid the construct that needs it`);
    }
  }
}

/** The function or global scope a scope's bindings live in. */
function varScope(scope) {
  return scope.variableScope;
}

/**
 * Use before definition at load time (no hoisting on Espruino):
 * - a direct reference in a scope's own body to a binding of that scope declared later;
 * - a call, in a scope's own body, to a function of that scope whose body (transitively) uses a
 *   binding of that scope declared after the call;
 * - an immediately invoked function expression likewise.
 */
function checkOrder(scopeManager, parents, add) {
  for (const scope of scopeManager.scopes) {
    if (scope.type !== 'function' && scope.type !== 'global' && scope.type !== 'module') continue;
    const home = scope;
    // binding → position where it comes to exist (its declaration's start)
    const defPos = new Map();
    const collect = (s) => {
      for (const v of s.variables) {
        if (v.defs.length === 0) continue;
        const d = v.defs[0];
        if (d.type === 'Parameter' || d.type === 'ImplicitGlobalVariable') continue;
        if (d.type === 'FunctionName' && d.node.type !== 'FunctionDeclaration') continue;
        if (d.type === 'ClassName' && d.node.type === 'ClassExpression') continue;
        defPos.set(v, d.node.range[0]);
      }
      for (const c of s.childScopes) if (c.type !== 'function' && c.type !== 'class-field-initializer') collect(c);
    };
    collect(home);
    if (defPos.size === 0) continue;

    // Which inner function (direct child function of home) does a scope belong to?
    const innerFnOf = (s) => {
      let cur = s;
      while (cur && cur.upper && varScope(cur.upper) !== home) cur = cur.upper;
      return cur && cur.type === 'function' && varScope(cur.upper) === home ? cur : undefined;
    };
    const deps = new Map(); // inner function scope → Set of home variables it references
    const direct = [];
    const walkRefs = (s) => {
      for (const ref of s.references) {
        const v = ref.resolved;
        if (!v || !defPos.has(v)) continue;
        if (varScope(s) === home) direct.push({ ref, v });
        else {
          const f = innerFnOf(s);
          if (!f) continue;
          if (!deps.has(f)) deps.set(f, new Set());
          deps.get(f).add(v);
        }
      }
      for (const c of s.childScopes) walkRefs(c);
    };
    walkRefs(home);

    // Map a home variable bound to a function (declaration or `var f = function`) to its scope.
    const fnScopeOfVar = new Map();
    for (const f of deps.keys()) {
      const node = f.block;
      if (node.type === 'FunctionDeclaration' && node.id) {
        const v = home.set.get(node.id.name) || findVar(home, node.id.name);
        if (v) fnScopeOfVar.set(v, f);
      } else {
        const p = parents.get(node);
        if (p && p.type === 'VariableDeclarator' && p.id.type === 'Identifier') {
          const v = findVar(home, p.id.name);
          if (v) fnScopeOfVar.set(v, f);
        }
      }
    }
    const closure = (f, seen) => {
      const out = new Set();
      const stack = [f];
      while (stack.length) {
        const g = stack.pop();
        if (seen.has(g)) continue;
        seen.add(g);
        for (const v of deps.get(g) || []) {
          out.add(v);
          const h = fnScopeOfVar.get(v);
          if (h) stack.push(h);
        }
      }
      return out;
    };

    for (const { ref, v } of direct) {
      const at = ref.identifier.range[0];
      const def = defPos.get(v);
      if (at < def && !(ref.init && at >= def)) {
        add(ref.identifier, 'hoisting', `'${v.name}' is used before its definition (Espruino does not hoist)`);
        continue;
      }
      // A load-time call of a function of this scope: everything it needs must exist by now.
      const parent = parents.get(ref.identifier);
      const called = parent && (parent.type === 'CallExpression' || parent.type === 'NewExpression') && parent.callee === ref.identifier;
      const f = fnScopeOfVar.get(v);
      if (called && f) {
        for (const need of closure(f, new Set())) {
          if (defPos.get(need) > at) {
            add(ref.identifier, 'hoisting', `'${v.name}' is called here but needs '${need.name}', defined later (Espruino does not hoist)`);
          }
        }
      }
    }
    // Immediately invoked function expressions run where they stand.
    for (const f of deps.keys()) {
      const p = parents.get(f.block);
      if (p && (p.type === 'CallExpression' || p.type === 'NewExpression') && p.callee === f.block) {
        const at = f.block.range[0];
        for (const need of closure(f, new Set())) {
          if (defPos.get(need) > at) add(f.block, 'hoisting', `function invoked here needs '${need.name}', defined later (Espruino does not hoist)`);
        }
      }
    }
  }
}

function findVar(scope, name) {
  let s = scope;
  const stack = [s];
  while (stack.length) {
    s = stack.pop();
    const v = s.set.get(name);
    if (v) return v;
    for (const c of s.childScopes) if (c.type !== 'function') stack.push(c);
  }
  return undefined;
}

/**
 * Espruino's regex engine (measured on 2v29) returns null for any pattern using `?` (optional or
 * lazy), `(?:…)` or a counted quantifier `{n}`/`{n,m}`; `*`, `+`, classes and alternation work.
 */
function regexQuantifierProblem(p) {
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '?' && p[i - 1] !== '(') return 'regex `?` quantifier (never matches on Espruino): use `*`, `+` or code';
    else if (c === '?' && p[i + 1] === ':') return 'regex non-capturing group `(?:` (never matches on Espruino)';
    else if (c === '{' && /^\{\d+(,\d*)?\}/.test(p.slice(i))) return 'regex counted quantifier `{n,m}` (never matches on Espruino): check lengths in code';
  }
  return undefined;
}

/**
 * Check code for Espruino. `map` is a source map (object or JSON string) from the code back to the
 * sources; findings then carry `source: { file, line, column }`.
 */
function checkCode(code, options = {}) {
  const findings = [];
  let ast;
  try {
    ast = acorn.parse(code, { ecmaVersion: 'latest', sourceType: 'script', locations: true, ranges: true, allowHashBang: true });
  } catch (e) {
    return [{ rule: 'syntax', message: `does not parse: ${e.message}`, line: e.loc ? e.loc.line : 0, column: e.loc ? e.loc.column : 0 }];
  }
  const scopeManager = eslintScope.analyze(ast, { ecmaVersion: 2022, sourceType: 'script' });
  const seen = new Set();
  const add = (node, rule, message) => {
    const key = `${node.start}:${rule}:${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    findings.push({ rule, message, line: node.loc.start.line, column: node.loc.start.column });
  };
  // A \u escape in a name (terser writes `global["\xff"]` as `global.\u00ff`): Espruino's lexer
  // stops at the backslash ("Got '\' expected ID"), seen on 2v29 in issue #7.
  for (const tok of acorn.tokenizer(code, { ecmaVersion: 'latest', locations: true, allowHashBang: true })) {
    if (tok.type.label === 'name' && code.slice(tok.start, tok.end).includes('\\')) {
      add({ start: tok.start, loc: tok.loc }, 'identifier-escape', 'escaped character in a name (Espruino cannot lex it): use a computed string key the minifier cannot fold');
    }
  }
  const parents = checkConstructs(ast, scopeManager, add);
  checkGlobals(scopeManager, add);
  checkOrder(scopeManager, parents, add);
  if (options.map) {
    const { TraceMap, originalPositionFor } = require('@jridgewell/trace-mapping');
    const tm = new TraceMap(typeof options.map === 'string' ? JSON.parse(options.map) : options.map);
    for (const f of findings) {
      const o = originalPositionFor(tm, { line: f.line, column: f.column });
      if (o.source) f.source = { file: o.source, line: o.line, column: o.column };
    }
  }
  findings.sort((a, b) => a.line - b.line || a.column - b.column);
  return findings;
}

/** One line per finding: `source:line:col (out:line:col) rule: message`. */
function formatFindings(findings, file = 'bundle') {
  return findings
    .map((f) => {
      const where = f.source ? `${f.source.file}:${f.source.line}:${f.source.column + 1} (${file}:${f.line}:${f.column + 1})` : `${file}:${f.line}:${f.column + 1}`;
      return `${where} ${f.rule}: ${f.message}`;
    })
    .join('\n');
}

module.exports = { checkCode, formatFindings };

if (require.main === module) {
  const fs = require('fs');
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node tools/gate.js FILE.js [FILE.js.map]');
    process.exit(2);
  }
  const mapFile = process.argv[3] || (fs.existsSync(file + '.map') ? file + '.map' : undefined);
  const findings = checkCode(fs.readFileSync(file, 'utf8'), { map: mapFile ? fs.readFileSync(mapFile, 'utf8') : undefined });
  if (findings.length) {
    console.error(formatFindings(findings, file));
    console.error(`gate: ${findings.length} Espruino incompatibilit${findings.length === 1 ? 'y' : 'ies'} in ${file}`);
    process.exit(1);
  }
  console.log(`gate: ${file} is clean`);
}
