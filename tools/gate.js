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
  Number: [
    'isInteger',
    'isNaN',
    'isFinite',
    'isSafeInteger',
    'MAX_SAFE_INTEGER',
    'MIN_SAFE_INTEGER',
    'EPSILON',
    'parseFloat',
    'parseInt'
  ],
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
  if (node.computed && node.property.type === 'Literal' && typeof node.property.value === 'string')
    return node.property.value;
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
        if (node.async)
          add(node, 'async', 'async function (Espruino has no async/await): use callbacks or plain Promises');
        if (node.generator) add(node, 'generator', 'generator function (unsupported on Espruino)');
        for (const p of node.params) {
          if (p.type === 'AssignmentPattern')
            add(p, 'default-param', 'default parameter value (SyntaxError on Espruino)');
          if (p.type === 'RestElement') add(p, 'rest', 'rest parameter (SyntaxError on Espruino)');
          if (p.type === 'ObjectPattern' || p.type === 'ArrayPattern')
            add(p, 'destructuring', 'destructuring parameter (fails on Espruino)');
        }
        break;
      case 'AwaitExpression':
        add(node, 'async', 'await (unsupported on Espruino)');
        break;
      case 'YieldExpression':
        add(node, 'generator', 'yield (unsupported on Espruino)');
        break;
      case 'VariableDeclarator':
        if (node.id.type !== 'Identifier')
          add(node.id, 'destructuring', 'destructuring declaration (fails on Espruino)');
        break;
      case 'AssignmentExpression':
        if (
          node.left.type === 'MemberExpression' &&
          !node.left.computed &&
          node.left.property.type === 'Identifier' &&
          node.left.property.name === 'length'
        ) {
          // Measured on the 2v29 release interpreter (issue #17): `[1, 2].length = 0` throws
          // TypeError "Assignment to a constant" (jsparse.c flags an array's length JSV_CONSTANT).
          add(node, 'length-assign', "assigning .length (2v29 throws 'Assignment to a constant'): use splice");
        }
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
        if (node.value === null)
          add(node, 'class-field', 'class field without an initialiser (SyntaxError on Espruino)');
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
          add(
            node,
            'extends-error',
            `class extends ${node.superClass.name} (super() fails on Espruino; instanceof is false)`
          );
        }
        break;
      case 'ArrayExpression':
        if (node.elements.some((e) => e === null))
          add(node, 'array-hole', 'array literal with a hole (parser bug on Espruino)');
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
          const q = regexQuantifierProblem(p) || regexAlternationProblem(p);
          if (q) add(node, 'regex', q);
          if (/[suy]/.test(node.regex.flags))
            add(node, 'regex', `regex flag(s) '${node.regex.flags}' (only g, i, m on Espruino)`);
        }
        break;
      case 'NewExpression':
        // `new RegExp('^' + n + ', SEND OK$')`: the pattern's literal pieces, a digit for the rest.
        if (node.callee.type === 'Identifier' && node.callee.name === 'RegExp' && node.arguments.length) {
          const p = patternOf(node.arguments[0]);
          const q = p === undefined ? undefined : regexQuantifierProblem(p) || regexAlternationProblem(p);
          if (q) add(node, 'regex', q);
        }
        break;
      case 'MemberExpression': {
        const name = memberName(node);
        if (name === undefined) break;
        if (
          node.object.type === 'Identifier' &&
          has(MISSING_STATICS, node.object.name) &&
          MISSING_STATICS[node.object.name].includes(name)
        ) {
          if (isGlobalRef(scopeManager, node.object))
            add(node, 'missing-api', `${node.object.name}.${name} is undefined on Espruino`);
        }
        if (
          name !== 'prototype' &&
          node.object.type === 'MemberExpression' &&
          memberName(node.object) === 'prototype' &&
          node.object.object.type === 'Identifier' &&
          BUILTIN_PROTOS.includes(node.object.object.name)
        ) {
          add(
            node,
            'prototype-lookup',
            `${node.object.object.name}.prototype.${name} looked up directly is undefined on Espruino: use [].${name}.call or a method call`
          );
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
      add(
        ref.identifier,
        'ts-helper',
        `TypeScript helper ${name} is not provided for Espruino (the build emits no helpers): avoid the construct that needs it`
      );
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
        // A function's own `var` used early is the var-order rule's (checkVarFlow), with a message
        // naming the outer binding it reaches instead.
        const ownVar =
          home.type === 'function' &&
          v.defs.some((d) => d.type === 'Variable' && d.parent && d.parent.kind === 'var') &&
          !v.defs.some((d) => d.type === 'Parameter' || d.type === 'FunctionName');
        if (!ownVar)
          add(ref.identifier, 'hoisting', `'${v.name}' is used before its definition (Espruino does not hoist)`);
        continue;
      }
      // A load-time call of a function of this scope: everything it needs must exist by now.
      const parent = parents.get(ref.identifier);
      const called =
        parent &&
        (parent.type === 'CallExpression' || parent.type === 'NewExpression') &&
        parent.callee === ref.identifier;
      const f = fnScopeOfVar.get(v);
      if (called && f) {
        for (const need of closure(f, new Set())) {
          if (defPos.get(need) > at) {
            add(
              ref.identifier,
              'hoisting',
              `'${v.name}' is called here but needs '${need.name}', defined later (Espruino does not hoist)`
            );
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
          if (defPos.get(need) > at)
            add(
              f.block,
              'hoisting',
              `function invoked here needs '${need.name}', defined later (Espruino does not hoist)`
            );
        }
      }
    }
  }
}

/** Like walk, but `visit` returning false skips the node's children. */
function walkSkip(node, visit) {
  if (!node || typeof node.type !== 'string') return;
  if (visit(node) === false) return;
  for (const key of Object.keys(node)) {
    if (key === 'parent') continue;
    const v = node[key];
    if (Array.isArray(v)) {
      for (const c of v) if (c && typeof c.type === 'string') walkSkip(c, visit);
    } else if (v && typeof v.type === 'string') {
      walkSkip(v, visit);
    }
  }
}
/* ---------------------------------------------------------------------------------------------
 * var-order: Espruino 2v29 does not hoist `var` inside a function. Until a `var x` statement has
 * run, `x` names the enclosing scope's `x` (reads see it, writes overwrite it; with no outer `x`,
 * a read throws ReferenceError). Measured on 2v29 (docs/espruino-notes.md): `var x = e` declares
 * x before evaluating e; `for (var k in o)` declares k even when the loop never runs; a `var` in a
 * branch, loop body, `case` or `try` block that did not run declares nothing.
 *
 * Rule: in a function's own body (not its nested functions), every reference (read or write) to a
 * name the function declares with `var` must come after a declaration of it that has run on every
 * path reaching that reference. Parameters and function declarations are declared at entry.
 * The analysis is a forward "definitely declared" pass over the statements: branches meet (a name
 * counts after an `if`/`switch`/`try` only when every path declared it), a loop's body and exit see
 * what was declared before the loop (plus the `for`/`for…in` head), paths that end in
 * return/throw/break/continue do not reach what follows, `break` carries its state to the loop
 * or switch it leaves, a `catch` or `finally` block starts from what the `try` started with.
 * Literal-constant tests (`while (1)`, `for (;;)`, `if (0)`) are followed as constants.
 * ------------------------------------------------------------------------------------------- */

const isFunctionNode = (n) =>
  n.type === 'FunctionDeclaration' || n.type === 'FunctionExpression' || n.type === 'ArrowFunctionExpression';

/** true / false for a test whose truth is a literal constant (`1`, `!0`, `true`, `""`), else undefined. */
function constTruth(node) {
  if (!node) return true; // `for (;;)`
  if (node.type === 'Literal' && !node.regex) return !!node.value;
  if (node.type === 'UnaryExpression' && node.operator === '!') {
    const t = constTruth(node.argument);
    return t === undefined ? undefined : !t;
  }
  return undefined;
}

/** Intersection of two "declared" sets; null stands for an unreachable point (every name). */
function meet(a, b) {
  if (a === null) return b;
  if (b === null) return a;
  const out = new Set();
  for (const v of a) if (b.has(v)) out.add(v);
  return out;
}

function patternIds(p, out = []) {
  if (!p) return out;
  if (p.type === 'Identifier') out.push(p);
  else if (p.type === 'ObjectPattern')
    for (const q of p.properties) patternIds(q.type === 'RestElement' ? q.argument : q.value, out);
  else if (p.type === 'ArrayPattern') for (const q of p.elements) patternIds(q, out);
  else if (p.type === 'AssignmentPattern') patternIds(p.left, out);
  else if (p.type === 'RestElement') patternIds(p.argument, out);
  return out;
}

/** The name a function is known by, for messages. */
function functionLabel(fn, parents) {
  if (fn.id) return `function ${fn.id.name}`;
  const p = parents.get(fn);
  if (p && p.type === 'VariableDeclarator' && p.id.type === 'Identifier') return `function ${p.id.name}`;
  if (p && p.type === 'Property' && !p.computed && p.key.type === 'Identifier') return `method ${p.key.name}`;
  if (p && p.type === 'AssignmentExpression' && p.left.type === 'MemberExpression' && memberName(p.left))
    return `function .${memberName(p.left)}`;
  return 'function';
}

/** What the enclosing scopes call `name`, for the message. */
function outerBinding(scope, name) {
  for (let s = scope.upper; s; s = s.upper) {
    const v = s.set.get(name);
    if (!v || v.defs.length === 0) continue;
    const d = v.defs[0];
    const kind =
      d.type === 'FunctionName'
        ? 'a function'
        : d.type === 'Parameter'
          ? 'a parameter'
          : d.type === 'ClassName'
            ? 'a class'
            : 'a variable';
    return { text: `the enclosing scope's '${name}' (${kind} at {at})`, node: d.name };
  }
  return { text: `the global '${name}'` };
}

function checkVarFlow(scopeManager, parents, add) {
  for (const scope of scopeManager.scopes) {
    if (scope.type !== 'function') continue;
    const fn = scope.block;
    // Names this function declares with `var` and nothing declares at entry.
    const tracked = new Set();
    for (const v of scope.variables) {
      if (!v.defs.some((d) => d.type === 'Variable' && d.parent && d.parent.kind === 'var')) continue;
      if (v.defs.some((d) => d.type === 'Parameter' || d.type === 'FunctionName')) continue;
      tracked.add(v);
    }
    if (tracked.size === 0) continue;
    const declIds = new Set();
    for (const v of tracked)
      for (const d of v.defs) if (d.type === 'Variable') for (const id of patternIds(d.node.id)) declIds.add(id);
    const refOf = new Map(); // identifier node → reference, for references to tracked names in this body
    const collect = (s) => {
      for (const r of s.references)
        if (tracked.has(r.resolved) && !declIds.has(r.identifier)) refOf.set(r.identifier, r);
      for (const c of s.childScopes) if (c.variableScope === scope) collect(c);
    };
    collect(scope);
    if (refOf.size === 0) continue;
    const varOf = (id) => {
      const v = scope.set.get(id.name);
      return v && tracked.has(v) ? v : undefined;
    };
    const where = functionLabel(fn, parents);
    const bad = new Map(); // variable → identifier → reference, where it is not yet declared

    const check = (node, D) => {
      if (D === null) return; // unreachable here
      walkSkip(node, function visit(n) {
        if (n !== node && (isFunctionNode(n) || n.type === 'ClassBody')) return false;
        if (n.type === 'Identifier' && refOf.has(n)) {
          const r = refOf.get(n);
          if (!D.has(r.resolved)) {
            if (!bad.has(r.resolved)) bad.set(r.resolved, new Map());
            bad.get(r.resolved).set(n, r);
          }
        }
        return true;
      });
    };
    const targets = []; // { kind: 'loop'|'switch'|'label', labels, breaks, continues }
    const findTarget = (label, forContinue) => {
      for (let i = targets.length - 1; i >= 0; i--) {
        const t = targets[i];
        if (label ? t.labels.includes(label) : forContinue ? t.kind === 'loop' : t.kind !== 'label') return t;
      }
      return undefined;
    };
    let pendingLabels = [];
    const push = (kind) => {
      const t = { kind, labels: pendingLabels, breaks: null, continues: null };
      pendingLabels = [];
      targets.push(t);
      return t;
    };
    const declare = (D, id) => {
      const v = varOf(id);
      if (D === null || !v || D.has(v)) return D;
      const o = new Set(D);
      o.add(v);
      return o;
    };
    const decls = (node, D) => {
      for (const d of node.declarations) {
        if (node.kind === 'var') for (const id of patternIds(d.id)) D = declare(D, id);
        if (d.init) check(d.init, D);
        if (d.id.type !== 'Identifier') check(d.id, D); // default values inside patterns
      }
      return D;
    };
    const list = (stmts, D) => {
      for (const s of stmts) D = stmt(s, D);
      return D;
    };
    const stmt = (node, D) => {
      // Unreachable code (D === null) is still walked, so that its breaks and loops stay
      // consistent, but nothing in it is reported.
      switch (node.type) {
        case 'BlockStatement':
        case 'StaticBlock':
          return list(node.body, D);
        case 'EmptyStatement':
        case 'DebuggerStatement':
        case 'FunctionDeclaration':
          return D;
        case 'ExpressionStatement':
          check(node.expression, D);
          return D;
        case 'VariableDeclaration':
          return decls(node, D);
        case 'ClassDeclaration':
          if (node.superClass) check(node.superClass, D);
          return D;
        case 'ReturnStatement':
        case 'ThrowStatement':
          if (node.argument) check(node.argument, D);
          return null;
        case 'BreakStatement': {
          const t = findTarget(node.label && node.label.name, false);
          if (t) t.breaks = meet(t.breaks, D);
          return null;
        }
        case 'ContinueStatement': {
          const t = findTarget(node.label && node.label.name, true);
          if (t) t.continues = meet(t.continues, D);
          return null;
        }
        case 'IfStatement': {
          check(node.test, D);
          const k = constTruth(node.test);
          const c = stmt(node.consequent, k === false ? null : D);
          const a = node.alternate ? stmt(node.alternate, k === true ? null : D) : k === true ? null : D;
          return meet(c, a);
        }
        case 'LabeledStatement': {
          const isLoopOrSwitch =
            /^(For|ForIn|ForOf|While|DoWhile|Switch)Statement$/.test(node.body.type) ||
            node.body.type === 'LabeledStatement';
          if (isLoopOrSwitch) {
            pendingLabels = pendingLabels.concat([node.label.name]);
            return stmt(node.body, D);
          }
          const t = push('label');
          t.labels = [node.label.name];
          const out = stmt(node.body, D);
          targets.pop();
          return meet(out, t.breaks);
        }
        case 'WhileStatement': {
          check(node.test, D);
          const k = constTruth(node.test);
          const t = push('loop');
          stmt(node.body, k === false ? null : D);
          targets.pop();
          return k === true ? t.breaks : meet(D, t.breaks);
        }
        case 'DoWhileStatement': {
          const t = push('loop');
          const b = stmt(node.body, D);
          targets.pop();
          const atTest = meet(b, t.continues);
          check(node.test, atTest);
          return constTruth(node.test) === true ? t.breaks : meet(atTest, t.breaks);
        }
        case 'ForStatement': {
          let Di = D;
          if (node.init) {
            if (node.init.type === 'VariableDeclaration') Di = decls(node.init, D);
            else check(node.init, D);
          }
          if (node.test) check(node.test, Di);
          const k = constTruth(node.test);
          const t = push('loop');
          const b = stmt(node.body, k === false ? null : Di);
          targets.pop();
          if (node.update) check(node.update, meet(b, t.continues));
          return k === true ? t.breaks : meet(Di, t.breaks);
        }
        case 'ForInStatement':
        case 'ForOfStatement': {
          check(node.right, D);
          let Dl = D;
          if (node.left.type === 'VariableDeclaration') Dl = decls(node.left, D);
          else check(node.left, D);
          const t = push('loop');
          stmt(node.body, Dl);
          targets.pop();
          return meet(Dl, t.breaks);
        }
        case 'SwitchStatement': {
          check(node.discriminant, D);
          for (const c of node.cases) if (c.test) check(c.test, D);
          const t = push('switch');
          let fall = null;
          for (const c of node.cases) fall = list(c.consequent, meet(D, fall));
          targets.pop();
          const hasDefault = node.cases.some((c) => !c.test);
          return meet(meet(fall, t.breaks), hasDefault ? null : D);
        }
        case 'TryStatement': {
          const t = stmt(node.block, D);
          let after = t;
          if (node.handler) {
            // An exception can come before anything in the block ran.
            const c = stmt(node.handler.body, D);
            after = meet(t, c);
          }
          if (node.finalizer) {
            stmt(node.finalizer, D); // reached from anywhere in the block: checked conservatively
            return after === null ? null : stmt(node.finalizer, after);
          }
          return after;
        }
        case 'WithStatement':
          check(node.object, D);
          return stmt(node.body, D);
        default:
          check(node, D);
          return D;
      }
    };
    const entry = new Set();
    if (fn.body.type === 'BlockStatement') stmt(fn.body, entry);
    else check(fn.body, entry);
    for (const p of fn.params) check(p, entry); // default values (rejected elsewhere anyway)
    // One finding per name and function, at its first such reference (a loop header has three).
    for (const [v, refs] of bad) {
      const ids = [...refs.keys()].sort((a, b) => a.start - b.start);
      const n = ids[0];
      const r = refs.get(n);
      const how = r.isWrite() ? (r.isRead() ? 'updated' : 'assigned') : 'read';
      const writes = ids.some((i) => refs.get(i).isWrite());
      const outer = outerBinding(scope, v.name);
      const more = ids.length > 1 ? ` (and ${ids.length - 1} more reference${ids.length > 2 ? 's' : ''} after it)` : '';
      add(
        n,
        'var-order',
        `'${v.name}' is ${how} in ${where} before its \`var\` has run on every path${more}: Espruino 2v29 does not hoist var, so here '${v.name}' is ${outer.text}${writes ? ', and the assignment overwrites it' : ''}. Declare it (\`var ${v.name}\`) on every path before its first use`,
        { ident: v.name, related: outer.node }
      );
    }
  }
}

/* ---------------------------------------------------------------------------------------------
 * undefined-field: Espruino 2v29 throws ReferenceError ("x" is not defined) when a property whose
 * value is `undefined` is read off an object nothing else references: a call's result or a
 * literal (`f().x` with f returning `{x: undefined}`; `({a: void 0}).a`; also `f().x.y` when `x`
 * holds a literal `{y: undefined}`). Through a variable it works, and so do an absent key and
 * `null` (measured; fixed after 2v29, Espruino #1916). Reading through a variable is not a fix in
 * source, though: esbuild and terser fold a single-use `const s = f(); s.x` back into `f().x`.
 * The rule runs on the lowered ES5 and on the minified bundle, like every rule here.
 *
 * Rule: a property read (not a plain assignment target, not `typeof`/`delete`) whose object is
 *  - an object literal, or
 *  - a call whose callee resolves within the code: a function expression (IIFE), a name bound by
 *    scope to a function declaration or to functions assigned to it, or, for `a.b()`, every
 *    function anywhere bound to a property named `b` (`{b: function…}`, `x.b = function…`,
 *    class methods) — by name, so over-approximate; `f.call/apply()` is resolved as `f`;
 *  - a member read of such a temporary (`f().x.y` when `x` holds an object literal), or a comma,
 *    `?:` or `||`/`&&` expression with such an operand;
 * where one of those object literals (returned directly by a `return`, or through a call that
 * returns one) has the property read and its value may be `undefined`: the identifier
 * `undefined`, `void …`, a conditional with such a branch, `a || b`/`a ?? b` with b such,
 * `a && b` with a or b such, an assignment or comma expression ending in one, any member read,
 * a parameter, a for…in variable, a `var` declared without an initialiser or assigned such a value (a
 * name whose every declaration and assignment gives a defined value counts as defined), an
 * unresolved global, a call of a function resolved as above that has a bare `return`, can run off
 * its end (only return/throw, if/else, try and blocks are followed) or returns such a value, and a
 * call nothing resolves, unless to a built-in that always returns a value (String, Number,
 * parseInt…, Math.*) or a method that always returns one (substr, slice, indexOf, join…).
 * Literals (null included), `new`, operators, functions, object and array literals are defined.
 * Not covered (not decidable here or not seen in the bundle): a computed key `f()[k]`, `new C().x`
 * (also throws on 2v29 when the constructor set `this.x = undefined`), objects built in a local
 * variable and returned (`var o = {}; o.x = u; return o`), and properties of array literals
 * (`[undefined][0]` works on 2v29).
 * ------------------------------------------------------------------------------------------- */

const DEFINED_GLOBAL_CALLS = [
  'String',
  'Number',
  'Boolean',
  'parseInt',
  'parseFloat',
  'isNaN',
  'isFinite',
  'getTime',
  'encodeURIComponent',
  'decodeURIComponent',
  'btoa',
  'atob',
  'Array',
  'Object'
];
const DEFINED_STATIC_CALLS = {
  Math: null,
  Object: ['keys', 'assign', 'create'],
  JSON: ['parse'],
  E: ['sum', 'variance', 'CRC32', 'hwRand']
};
const DEFINED_METHOD_CALLS = [
  'substr',
  'substring',
  'slice',
  'indexOf',
  'charAt',
  'charCodeAt',
  'join',
  'concat',
  'toString',
  'toFixed',
  'replace',
  'split',
  'toUpperCase',
  'toLowerCase',
  'trim',
  'padStart',
  'padEnd',
  'repeat',
  'startsWith',
  'endsWith',
  'includes',
  'test',
  'map',
  'filter',
  'push',
  'some',
  'every',
  'subarray',
  'splice',
  'sort',
  'reverse',
  'hasOwnProperty'
];
const DEFINED_GLOBAL_NAMES = ['NaN', 'Infinity'];

function propKeyName(p) {
  if (p.type !== 'Property' || p.computed) return undefined;
  if (p.key.type === 'Identifier') return p.key.name;
  if (p.key.type === 'Literal') return String(p.key.value);
  return undefined;
}

function checkTempReads(ast, scopeManager, parents, add) {
  // Functions bound to property names anywhere in the code: name → function nodes.
  const byProp = new Map();
  const bind = (name, fn) => {
    if (!byProp.has(name)) byProp.set(name, []);
    byProp.get(name).push(fn);
  };
  const idToRef = new Map();
  for (const s of scopeManager.scopes) for (const r of s.references) idToRef.set(r.identifier, r);
  const writesOf = new Map(); // variable → write references
  for (const s of scopeManager.scopes) {
    for (const r of s.references) {
      if (!r.resolved || !r.isWrite()) continue;
      if (!writesOf.has(r.resolved)) writesOf.set(r.resolved, []);
      writesOf.get(r.resolved).push(r);
    }
  }
  const forInHeads = new Set(); // names a for…in assigns its keys to
  walk(ast, null, (n) => {
    if (n.type === 'ForInStatement')
      for (const id of patternIds(n.left.type === 'VariableDeclaration' ? n.left.declarations[0].id : n.left))
        forInHeads.add(id);
    if (n.type === 'Property' && isFunctionNode(n.value) && propKeyName(n) !== undefined) bind(propKeyName(n), n.value);
    else if (n.type === 'MethodDefinition' && !n.computed && n.key.type === 'Identifier') bind(n.key.name, n.value);
    else if (
      n.type === 'AssignmentExpression' &&
      n.operator === '=' &&
      n.left.type === 'MemberExpression' &&
      isFunctionNode(n.right) &&
      memberName(n.left)
    )
      bind(memberName(n.left), n.right);
  });
  // `{b: g}` where g names a function: bound too.
  walk(ast, null, (n) => {
    if (n.type === 'Property' && n.value.type === 'Identifier' && propKeyName(n) !== undefined)
      for (const f of fnsOfName(n.value)) bind(propKeyName(n), f);
  });

  function fnsOfName(id) {
    const r = idToRef.get(id);
    const v = r && r.resolved;
    if (!v) return [];
    const out = [];
    for (const d of v.defs) {
      if (d.type === 'FunctionName' && d.node.type === 'FunctionDeclaration') out.push(d.node);
      if (d.type === 'Variable' && d.node.init && isFunctionNode(d.node.init)) out.push(d.node.init);
    }
    for (const w of writesOf.get(v) || []) if (w.writeExpr && isFunctionNode(w.writeExpr)) out.push(w.writeExpr);
    return out;
  }

  function calleeFns(call) {
    const c = call.callee;
    if (isFunctionNode(c)) return [c];
    if (c.type === 'Identifier') return fnsOfName(c);
    if (c.type === 'MemberExpression') {
      const name = memberName(c);
      if ((name === 'call' || name === 'apply') && (c.object.type === 'Identifier' || isFunctionNode(c.object))) {
        return isFunctionNode(c.object) ? [c.object] : fnsOfName(c.object);
      }
      return name !== undefined ? byProp.get(name) || [] : [];
    }
    return [];
  }

  const returnsCache = new Map();
  function returnsOf(fn) {
    if (returnsCache.has(fn)) return returnsCache.get(fn);
    const out = [];
    if (fn.body.type !== 'BlockStatement') out.push(fn.body);
    else {
      walkSkip(fn.body, (n) => {
        if (isFunctionNode(n) || n.type === 'ClassBody') return false;
        if (n.type === 'ReturnStatement' && n.argument) out.push(n.argument);
        return true;
      });
    }
    returnsCache.set(fn, out);
    return out;
  }

  function returnStatementsOf(fn) {
    const out = [];
    if (fn.body.type === 'BlockStatement') {
      walkSkip(fn.body, (n) => {
        if (isFunctionNode(n) || n.type === 'ClassBody') return false;
        if (n.type === 'ReturnStatement') out.push(n);
        return true;
      });
    }
    return out;
  }

  /** Whether control can run off the end of `s` (approximate: only return/throw, if/else and blocks end it). */
  function mayComplete(s) {
    switch (s.type) {
      case 'ReturnStatement':
      case 'ThrowStatement':
        return false;
      case 'BlockStatement':
        return s.body.length === 0 || mayComplete(s.body[s.body.length - 1]);
      case 'IfStatement':
        return !s.alternate || mayComplete(s.consequent) || mayComplete(s.alternate);
      case 'TryStatement':
        return s.finalizer && !mayComplete(s.finalizer)
          ? false
          : mayComplete(s.block) || (!!s.handler && mayComplete(s.handler.body));
      default:
        return true;
    }
  }

  /** Object literals `e` may evaluate to that nothing else references. */
  function temporaries(e, seen) {
    switch (e.type) {
      case 'ObjectExpression':
        return [e];
      case 'SequenceExpression':
        return temporaries(e.expressions[e.expressions.length - 1], seen);
      case 'ConditionalExpression':
        return temporaries(e.consequent, seen).concat(temporaries(e.alternate, seen));
      case 'LogicalExpression':
        return temporaries(e.left, seen).concat(temporaries(e.right, seen));
      case 'CallExpression': {
        const out = [];
        for (const fn of calleeFns(e)) {
          if (seen.has(fn)) continue;
          seen.add(fn);
          for (const r of returnsOf(fn)) out.push(...temporaries(r, seen));
        }
        return out;
      }
      case 'MemberExpression': {
        const name = memberName(e);
        if (name === undefined) return [];
        const out = [];
        for (const o of temporaries(e.object, seen)) {
          const p = findProp(o, name);
          if (p) out.push(...temporaries(p.value, seen));
        }
        return out;
      }
      default:
        return [];
    }
  }

  function findProp(obj, name) {
    let found;
    for (const p of obj.properties) if (propKeyName(p) === name && p.kind === 'init') found = p;
    return found;
  }

  /** Of two reasons, the one naming a certain `undefined`/`void` if either does. */
  const sharper = (a, b) => ((a && /`(undefined|void)`/.test(a)) || !b ? a : b);

  /** Why `e` may evaluate to undefined ('' when it cannot). */
  function mayBeUndefined(e, seen) {
    switch (e.type) {
      case 'Identifier': {
        const r = idToRef.get(e);
        const v = r && r.resolved;
        if (!v) {
          if (e.name === 'undefined') return '`undefined`';
          return DEFINED_GLOBAL_NAMES.includes(e.name) ? '' : `'${e.name}', a global of unknown value`;
        }
        if (seen.has(v)) return '';
        seen.add(v);
        for (const d of v.defs) {
          if (d.type === 'FunctionName' || d.type === 'ClassName') continue;
          if (d.type === 'Parameter') return `'${e.name}', a parameter`;
          if (
            d.type === 'Variable' &&
            parents.get(d.parent) &&
            /^For(In|Of)Statement$/.test(parents.get(d.parent).type)
          ) {
            return `'${e.name}', a for…in/of variable (undefined when the loop never ran)`;
          }
          if (d.type === 'Variable' && !d.node.init) return `'${e.name}', declared without a value`;
          if (d.type !== 'Variable') return `'${e.name}', of unknown value`;
        }
        for (const w of writesOf.get(v) || []) {
          if (!w.writeExpr || forInHeads.has(w.identifier)) continue; // `++`, `+=` and for…in keys give numbers and strings
          const p = parents.get(w.identifier);
          if (p && p.type === 'AssignmentExpression' && p.operator !== '=' && !/^(\|\||&&|\?\?)=$/.test(p.operator))
            continue;
          const why = mayBeUndefined(w.writeExpr, seen);
          if (why) return `'${e.name}', which may be assigned ${why}`;
        }
        return '';
      }
      case 'UnaryExpression':
        return e.operator === 'void' ? '`void`' : '';
      case 'ConditionalExpression': {
        const why = sharper(mayBeUndefined(e.consequent, seen), mayBeUndefined(e.alternate, seen));
        return why ? `a conditional with a branch that may be undefined: ${why}` : '';
      }
      case 'LogicalExpression': {
        const why = sharper(e.operator === '&&' ? mayBeUndefined(e.left, seen) : '', mayBeUndefined(e.right, seen));
        return why ? `an '${e.operator}' with an operand that may be undefined: ${why}` : '';
      }
      case 'SequenceExpression':
        return mayBeUndefined(e.expressions[e.expressions.length - 1], seen);
      case 'AssignmentExpression':
        return e.operator === '=' || /^(\|\||&&|\?\?)=$/.test(e.operator) ? mayBeUndefined(e.right, seen) : '';
      case 'MemberExpression':
        return 'a property read';
      case 'CallExpression': {
        const c = e.callee;
        if (c.type === 'Identifier' && !idToRef.get(c)?.resolved && DEFINED_GLOBAL_CALLS.includes(c.name)) return '';
        if (c.type === 'MemberExpression') {
          const name = memberName(c);
          const o = c.object;
          if (o.type === 'Identifier' && has(DEFINED_STATIC_CALLS, o.name) && !idToRef.get(o)?.resolved) {
            const ok = DEFINED_STATIC_CALLS[o.name];
            if (ok === null || ok.includes(name)) return '';
          }
          if (DEFINED_METHOD_CALLS.includes(name)) return '';
        }
        // A callee resolved in the code (by scope, or by property name: every candidate) is
        // followed: undefined when one can end without a value or return something undefined.
        const fns = calleeFns(e);
        if (fns.length === 0) return 'a call result';
        for (const fn of fns) {
          if (seen.has(fn)) continue;
          seen.add(fn);
          if (fn.body.type === 'BlockStatement' && mayComplete(fn.body))
            return `a call of a function that can end without returning a value`;
          for (const n of returnStatementsOf(fn)) {
            if (!n.argument) return 'a call of a function with a bare `return`';
            if (mayBeUndefined(n.argument, seen)) return 'a call of a function that may return undefined';
          }
          if (fn.body.type !== 'BlockStatement' && mayBeUndefined(fn.body, seen))
            return 'a call of a function that may return undefined';
        }
        return '';
      }
      case 'ChainExpression':
        return 'an optional chain';
      case 'AwaitExpression':
      case 'YieldExpression':
        return 'a value of unknown kind';
      default:
        return ''; // literals, templates, new, operators, functions, object and array literals, this
    }
  }

  walk(ast, null, (node) => {
    if (node.type !== 'MemberExpression') return;
    const name = memberName(node);
    if (name === undefined) return;
    const parent = parents.get(node);
    if (parent && parent.type === 'AssignmentExpression' && parent.left === node && parent.operator === '=') return; // a write
    if (parent && parent.type === 'UnaryExpression' && (parent.operator === 'typeof' || parent.operator === 'delete'))
      return;
    const objs = temporaries(node.object, new Set());
    for (const o of objs) {
      const p = findProp(o, name);
      if (!p) continue;
      const why = mayBeUndefined(p.value, new Set());
      if (!why) continue;
      const what =
        node.object.type === 'ObjectExpression'
          ? 'an object literal'
          : node.object.type === 'CallExpression'
            ? `the result of ${describeCall(node.object)}`
            : 'an unreferenced object';
      add(
        node.property,
        'undefined-field',
        `'.${name}' is read straight off ${what}, whose '${name}' may hold undefined (${why}, at {at}): Espruino 2v29 throws ReferenceError "${name} is not defined" there. Give '${name}' a value that is never undefined (null, '', 0) or leave the key out; reading through a variable is not enough, the bundler folds a single-use variable back into this`,
        { related: p }
      );
      break;
    }
  });
}

function describeCall(call) {
  const c = call.callee;
  if (c.type === 'Identifier') return `${c.name}()`;
  if (c.type === 'MemberExpression' && memberName(c)) return `a call of '.${memberName(c)}()'`;
  return 'a call';
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
 * lazy), `(?:…)` or a counted quantifier `{n}`/`{n,m}`; `*`, `+`, classes and alternation work
 * (alternation only as regexAlternationProblem allows).
 */
function regexQuantifierProblem(p) {
  for (const i of regexSyntax(p)) {
    const c = p[i];
    if (c === '?' && p[i - 1] !== '(') return 'regex `?` quantifier (never matches on Espruino): use `*`, `+` or code';
    else if (c === '?' && p[i + 1] === ':') return 'regex non-capturing group `(?:` (never matches on Espruino)';
    else if (c === '{' && /^\{\d+(,\d*)?\}/.test(p.slice(i)))
      return 'regex counted quantifier `{n,m}` (never matches on Espruino): check lengths in code';
  }
  return undefined;
}

/** Indexes of a pattern's syntax characters: not escaped and not inside a class `[…]`. */
function regexSyntax(p) {
  const out = [];
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else out.push(i);
  }
  return out;
}

/** A pattern built from string literals joined by `+` (anything else read as a digit); `undefined` if none. */
function patternOf(e) {
  if (e.type === 'Literal' && typeof e.value === 'string') return e.value;
  if (e.type === 'BinaryExpression' && e.operator === '+') {
    const l = patternOf(e.left);
    const r = patternOf(e.right);
    if (l === undefined && r === undefined) return undefined;
    return (l === undefined ? '0' : l) + (r === undefined ? '0' : r);
  }
  return undefined;
}

/**
 * Espruino 2v29's regex engine (src/jswrap_regexp.c) splits the whole pattern at every `|`, groups
 * or not: when one alternative fails it starts the text over at the next `|` it finds. So
 * `/^a(b|c)$/` reads as `/^a(b/` or `/c)$/` (and never matches "ac"), and `/^(a|b)$/` as `/^(a/` or
 * `/b)$/` (it matches "ab"); the group captures an empty string. And a `^` that opens the first
 * alternative ends the search at every later start, so `/^a|b/` never finds the `b` of "xb"
 * (measured on 2v29: tools/espruino-regex.js).
 */
function regexAlternationProblem(p) {
  let depth = 0;
  /** Where each depth-0 alternative starts; whether a group holds a `|`. */
  const tops = [0];
  let grouped = false;
  for (const i of regexSyntax(p)) {
    const c = p[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|') {
      if (depth === 0) tops.push(i + 1);
      else grouped = true;
    }
  }
  if (grouped)
    return 'regex alternation inside a group (Espruino splits the whole pattern at every `|`, and a group holding one captures nothing: /^a(b|c)$/ reads as /^a(b/ or /c)$/): write each alternative whole, /^ab$|^ac$/';
  if (tops.length > 1 && p[0] === '^' && tops.some((t) => p[t] !== '^'))
    return 'regex alternation anchored in its first alternative only (Espruino then tries the others at the start only): anchor every alternative or none';
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
    ast = acorn.parse(code, {
      ecmaVersion: 'latest',
      sourceType: 'script',
      locations: true,
      ranges: true,
      allowHashBang: true
    });
  } catch (e) {
    return [
      {
        rule: 'syntax',
        message: `does not parse: ${e.message}`,
        line: e.loc ? e.loc.line : 0,
        column: e.loc ? e.loc.column : 0
      }
    ];
  }
  const scopeManager = eslintScope.analyze(/** @type {any} */ (ast), { ecmaVersion: 2022, sourceType: 'script' });
  const seen = new Set();
  const extras = new Map(); // finding → { ident, related } until the source map is applied
  const add = (node, rule, message, extra) => {
    const key = `${node.start}:${rule}:${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    const f = { rule, message, line: node.loc.start.line, column: node.loc.start.column };
    findings.push(f);
    if (extra) extras.set(f, extra);
  };
  // A \u escape in a name (terser writes `global["\xff"]` as `global.\u00ff`): Espruino's lexer
  // stops at the backslash ("Got '\' expected ID"), seen on 2v29 in issue #7.
  for (const tok of acorn.tokenizer(code, { ecmaVersion: 'latest', locations: true, allowHashBang: true })) {
    if (tok.type.label === 'name' && code.slice(tok.start, tok.end).includes('\\')) {
      add(
        { start: tok.start, loc: tok.loc },
        'identifier-escape',
        'escaped character in a name (Espruino cannot lex it): use a computed string key the minifier cannot fold'
      );
    }
  }
  const parents = checkConstructs(ast, scopeManager, add);
  checkGlobals(scopeManager, add);
  checkOrder(scopeManager, parents, add);
  checkVarFlow(scopeManager, parents, add);
  checkTempReads(ast, scopeManager, parents, add);
  /** @type {(line: number, column: number) => { source: string | null; line: number | null; column: number | null; name: string | null } | undefined} */
  let original = () => undefined;
  if (options.map) {
    const { TraceMap, originalPositionFor } = require('@jridgewell/trace-mapping');
    const tm = new TraceMap(typeof options.map === 'string' ? JSON.parse(options.map) : options.map);
    original = (line, column) => {
      const o = originalPositionFor(tm, { line, column });
      return o.source ? o : undefined;
    };
    for (const f of findings) {
      const o = original(f.line, f.column);
      if (o) f.source = { file: o.source, line: o.line, column: o.column };
    }
  }
  // A finding may name a second place (`{at}`: where the value or the outer binding is) and the
  // identifier it is about (minified: the source map's name for it is added).
  for (const [f, x] of extras) {
    if (x.related) {
      const { line, column } = x.related.loc.start;
      const o = original(line, column);
      f.message = f.message.replace('{at}', o ? `${o.source}:${o.line}` : `line ${line}:${column + 1}`);
    }
    if (x.ident) {
      const o = original(f.line, f.column);
      if (o && o.name && o.name !== x.ident)
        f.message = f.message.replace(`'${x.ident}'`, `'${x.ident}' ('${o.name}' in the source)`);
    }
  }
  findings.sort((a, b) => a.line - b.line || a.column - b.column);
  return findings;
}

/** One line per finding: `source:line:col (out:line:col) rule: message`. */
function formatFindings(findings, file = 'bundle') {
  return findings
    .map((f) => {
      const where = f.source
        ? `${f.source.file}:${f.source.line}:${f.source.column + 1} (${file}:${f.line}:${f.column + 1})`
        : `${file}:${f.line}:${f.column + 1}`;
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
  const findings = checkCode(fs.readFileSync(file, 'utf8'), {
    map: mapFile ? fs.readFileSync(mapFile, 'utf8') : undefined
  });
  if (findings.length) {
    console.error(formatFindings(findings, file));
    console.error(`gate: ${findings.length} Espruino incompatibilit${findings.length === 1 ? 'y' : 'ies'} in ${file}`);
    process.exit(1);
  }
  console.log(`gate: ${file} is clean`);
}
