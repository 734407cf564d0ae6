import { strict as assert } from 'node:assert';
import { defaultConfig, validateConfig, describeProblems } from '../firmware/config';

describe('config validation', () => {
  it('accepts the factory defaults', () => {
    assert.deepEqual(validateConfig(defaultConfig()), []);
  });

  const bad: [string, (c: any) => void, string, RegExp][] = [
    ['unitId empty', (c) => (c.unitId = ''), 'unitId', /letters, digits/],
    ['unitId with a space', (c) => (c.unitId = 'unit 1'), 'unitId', /letters, digits/],
    ['account too short', (c) => (c.account = '12'), 'account', /3-16 hexadecimal/],
    ['account not hex', (c) => (c.account = '12G4'), 'account', /hexadecimal/],
    ['hold time over 5 s', (c) => (c.holdMs = 5001), 'holdMs', /0 to 5000 ms, got 5001/],
    ['hold time negative', (c) => (c.holdMs = -1), 'holdMs', /0 to 5000/],
    ['hold time fractional', (c) => (c.holdMs = 1.5), 'holdMs', /whole number/],
    ['hold time as a string', (c) => (c.holdMs = '1500'), 'holdMs', /whole number/],
    ['watchdog too short', (c) => (c.watchdogS = 1), 'watchdogS', /5 to 60/],
    ['indicator missing', (c) => delete c.indicator, 'indicator', /object/],
    ['indicator pattern unknown', (c) => (c.indicator.confirm = 'flash'), 'indicator.confirm', /"blink" or "off"/],
    ['boot flash not boolean', (c) => (c.indicator.bootFlash = 1), 'indicator.bootFlash', /true or false/],
    ['unknown setting', (c) => (c.holdTime = 1500), 'holdTime', /not a known setting/],
    ['wrong version', (c) => (c.version = 99), 'version', /must be 2/]
  ];
  for (const [name, mutate, field, reason] of bad) {
    it(`names the field: ${name}`, () => {
      const c: any = defaultConfig();
      mutate(c);
      const problems = validateConfig(c);
      assert.equal(problems.length, 1, describeProblems(problems));
      assert.equal(problems[0].field, field);
      assert.match(problems[0].reason, reason);
    });
  }

  it('reports every bad field at once', () => {
    const c: any = defaultConfig();
    c.account = 'x';
    c.holdMs = 99999;
    assert.deepEqual(validateConfig(c).map((p) => p.field), ['account', 'holdMs']);
  });

  it('refuses non-objects without throwing', () => {
    for (const v of [null, 42, 'cfg', [], undefined]) {
      assert.equal(validateConfig(v)[0].field, '(config)');
    }
  });
});
