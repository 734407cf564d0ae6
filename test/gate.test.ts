import { strict as assert } from 'node:assert';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { checkCode } = require('../tools/gate.js') as { checkCode: (code: string, o?: any) => { rule: string; message: string; line: number; source?: { file: string; line: number } }[] };

const rules = (code: string) => checkCode(code).map((f) => f.rule);

describe('compatibility gate (tools/gate.js)', () => {
  const mustFail: [string, string, string][] = [
    ['async function', 'async function f() {}', 'async'],
    ['await', 'async function f() { await 1; }', 'async'],
    ['generator', 'function* g() { yield 1; }', 'generator'],
    ['object destructuring', 'var o = {a: 1}; var {a} = o;', 'destructuring'],
    ['array destructuring', 'var [x, y] = [1, 2];', 'destructuring'],
    ['destructuring parameter', 'function f({a}) { return a; }', 'destructuring'],
    ['destructuring assignment', 'var a; ({a} = {a: 1});', 'destructuring'],
    ['default parameter', 'function f(x = 1) { return x; }', 'default-param'],
    ['rest parameter', 'function f(...r) { return r; }', 'rest'],
    ['spread in a call', 'var a = [1]; Math.max(...a);', 'spread'],
    ['spread in an array', 'var a = [1]; var b = [...a];', 'spread'],
    ['spread in an object', 'var a = {}; var b = {...a};', 'spread'],
    ['optional chaining', 'var a = {}; var b = a?.b;', 'optional-chain'],
    ['??=', 'var a; a ??= 1;', 'logical-assign'],
    ['||=', 'var a; a ||= 1;', 'logical-assign'],
    ['**', 'var a = 2 ** 3;', 'exponent'],
    ['labelled loop', 'outer: for (;;) { break outer; }', 'label'],
    ['computed key', 'var k = "a"; var o = {[k]: 1};', 'computed-key'],
    ['tagged template', 'function t(s) { return s; } var x = t`a`;', 'tagged-template'],
    ['class field without initialiser', 'class A { x; }', 'class-field'],
    ['#private', 'class A { #x = 1; }', 'private'],
    ['extends Error', 'class E2 extends Error {}', 'extends-error'],
    ['escape in a name', 'var o = {}; o.\\u00ff = 1;', 'identifier-escape'],
    ['Map', 'var m = new Map();', 'missing-global'],
    ['Set', 'var s = new Set();', 'missing-global'],
    ['Symbol', 'var s = Symbol("x");', 'missing-global'],
    ['RangeError', 'throw new RangeError("x");', 'missing-global'],
    ['queueMicrotask', 'queueMicrotask(function () {});', 'missing-global'],
    ['Object.freeze', 'Object.freeze({});', 'missing-api'],
    ['Array.from', 'Array.from("ab");', 'missing-api'],
    ['Number.isInteger', 'Number.isInteger(1);', 'missing-api'],
    ['Math.imul', 'Math.imul(2, 3);', 'missing-api'],
    ['Promise.race', 'Promise.race([]);', 'missing-api'],
    ['Promise finally', 'Promise.resolve().finally(function () {});', 'missing-api'],
    ['Uint8Array.from', 'Uint8Array.from([1]);', 'missing-api'],
    ['Array.prototype lookup', 'Array.prototype.slice.call([1]);', 'prototype-lookup'],
    ['array hole', 'var a = [1, , 3];', 'array-hole'],
    ['regex lookahead', 'var r = /a(?=b)/;', 'regex'],
    ['regex named group', 'var r = /(?<x>a)/;', 'regex'],
    ['regex optional', 'var r = /a\\r?\\n/;', 'regex'],
    ['regex lazy', 'var r = /a+?b/;', 'regex'],
    ['regex counted', 'var r = /^[0-9]{3,16}$/;', 'regex'],
    ['regex non-capturing', 'var r = /(?:ab)c/;', 'regex'],
    ['TypeScript helper', 'var a = __spreadArray([], [1], false);', 'ts-helper'],
    ['call before definition', 'main(); function main() {}', 'hoisting'],
    ['variable before definition', 'var x = y + 1; var y = 2;', 'hoisting'],
    ['function called before what it needs', 'function a() { return b(); } a(); function b() { return 1; }', 'hoisting'],
    ['inner function called before what it needs', 'function outer() { inner(); var v = 1; function inner() { return v; } }', 'hoisting'],
    ['immediately invoked function needing a later name', '(function () { return later; })(); var later = 1;', 'hoisting'],
    ['__extends before the constructor (tsc ES5 class output)', 'var B = (function (_super) { __extends(B, _super); function B() {} return B; }(Object));', 'hoisting'],
    ['ES module syntax', 'export var x = 1;', 'syntax']
  ];
  for (const [name, code, rule] of mustFail) {
    it(`rejects ${name}`, () => {
      assert.ok(rules(code).includes(rule), `expected ${rule} in [${rules(code).join(', ')}]`);
    });
  }

  const mustPass: [string, string][] = [
    ['functions defined before use', 'function a() { return 1; } function b() { return a(); } b();'],
    ['callbacks that run later may name later functions', 'setTimeout(function () { later(); }, 10); function later() {}'],
    ['recursion', 'function f(n) { return n ? f(n - 1) : 0; } f(3);'],
    ['classes, arrows, let/const, templates', 'class A { constructor() { this.x = 1; } get y() { return this.x; } } const f = (a) => `${a}`; let z = new A().y; f(z);'],
    ['Promise then/catch/all', 'Promise.all([Promise.resolve(1)]).then(function (v) { return v; }).catch(function () {});'],
    ['typed arrays and E natives', 'var a = new Uint8Array(4); a.set([1], 0); a.subarray(1); E.sum(a);'],
    ['string methods Espruino has', '"abc".padStart(5).startsWith(" ") && "a,b".split(/,/).length;'],
    ['[].slice.call', 'var r = [].slice.call(new Uint8Array(3), 1);'],
    ['regex with literal ? and { in class or escaped', 'var r = /^[0-9?{]+\\?\\{x*$/;'],
    ['a Map that is a local name', 'function f(Map) { return new Map(); }']
  ];
  for (const [name, code] of mustPass) {
    it(`accepts ${name}`, () => assert.deepEqual(rules(code), []));
  }

  it('names the source line through a source map', () => {
    // Generated line 2 maps to src/app.ts line 42 (a single mapping, column 0 → column 0).
    const map = { version: 3, sources: ['src/app.ts'], names: [], mappings: ';AAyCA' };
    const [f] = checkCode('var ok = 1;\nvar m = new Map();', { map });
    assert.equal(f.rule, 'missing-global');
    assert.deepEqual([f.line, f.source?.file, f.source?.line], [2, 'src/app.ts', 42]);
  });

  it('reports a rest parameter once, in declarations and expressions alike', () => {
    assert.deepEqual(rules('var f = function (...r) { return r; };'), ['rest']);
    assert.deepEqual(rules('var g = (...r) => r;'), ['rest']);
    assert.deepEqual(rules('var [a, ...b] = [1, 2];').filter((r) => r === 'rest'), ['rest']);
  });

  it('reports code that does not parse', () => {
    assert.deepEqual(rules('var = ;'), ['syntax']);
  });
});
