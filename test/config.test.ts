import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultConfig } from '../firmware/config';
import { validateConfig, describeProblems, reasonWords, CONFIG_CODES } from '../firmware/config-words';

const KEY = '0123456789abcdef'.repeat(4);

describe('config validation', () => {
  it('accepts the factory defaults', () => {
    assert.deepEqual(validateConfig(defaultConfig()), []);
  });

  it('accepts an evidence server, and refuses an audio ring the board cannot hold', () => {
    const c = defaultConfig();
    c.evidence = { host: '127.0.0.1', port: 8443, key: KEY, batch: 4, cellularKB: 0 };
    assert.deepEqual(
      validateConfig(c, 12000),
      [],
      'the default ring (3 x 4000 B in RAM) fits the Espruino WiFi budget'
    );
    const problems = validateConfig(c, 8000);
    assert.deepEqual(
      problems.map((p) => p.field),
      ['audio']
    );
    assert.match(
      problems[0].reason,
      /needs 12000 bytes of RAM for its audio ring \(3 chunks .*\), more than the 8000 bytes/
    );
    c.audio.preMs = 10_000;
    assert.deepEqual(
      validateConfig(c, 12000),
      [],
      'the pre-trigger audio waits on the card: a longer one costs no RAM'
    );
    c.audio.chunkMs = 1000;
    assert.equal(validateConfig(c, 12000)[0]?.field, 'audio.chunkMs', 'longer chunks do');
    c.audio.rate = 4000;
    assert.deepEqual(validateConfig(c, 12000), [], 'a lower rate fits again');
  });

  it('refuses a chunk larger than the one RAM slot measured on the board, even where fewer slots fit the ring budget', () => {
    const c = defaultConfig();
    // preMs 0: one slot, so 1.5 s chunks (12,000 B) were within the 12,000-byte ring budget.
    c.audio.preMs = 0;
    c.audio.chunkMs = 1500;
    const p = validateConfig(c, 12000);
    assert.deepEqual(
      p.map((x) => x.field),
      ['audio.chunkMs']
    );
    assert.match(p[0].reason, /makes a chunk of 12000 bytes .*more than the 4000 bytes of RAM one chunk may take/);
    assert.deepEqual(validateConfig(c), p, "the limit is the firmware's, whatever the board budget given");
    c.audio.chunkMs = 500;
    assert.deepEqual(validateConfig(c, 12000), [], 'the default chunk (4,000 B) is taken');
    c.audio.rate = 16000;
    c.audio.chunkMs = 250;
    assert.deepEqual(validateConfig(c, 12000), [], '16 kHz in 250 ms chunks is 4,000 B too');
    c.audio.chunkMs = 300;
    assert.equal(validateConfig(c, 12000)[0]?.field, 'audio.chunkMs', '4,800 B is not');
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
    ['wrong version', (c) => (c.version = 99), 'version', /must be 4/],
    ['audio rate too high', (c) => (c.audio.rate = 32000), 'audio.rate', /4000 to 16000 Hz/],
    ['chunk not whole samples at 11025 Hz', (c) => (c.audio.rate = 11025), 'audio.chunkMs', /divisible by 4/],
    ['recording too long', (c) => (c.audio.maxS = 99999), 'audio.maxS', /60 to 14400 s/],
    [
      'evidence key short',
      (c) => (c.evidence = { host: 'ev.example', port: 443, key: 'abcd', batch: 2, cellularKB: 0 }),
      'evidence.key',
      /64 hexadecimal/
    ],
    [
      'evidence cellular cap negative',
      (c) => (c.evidence = { host: 'ev.example', port: 443, key: KEY, batch: 2, cellularKB: -1 }),
      'evidence.cellularKB',
      /no cap/
    ],
    [
      'evidence batch',
      (c) => (c.evidence = { host: 'ev.example', port: 443, key: KEY, batch: 0, cellularKB: 0 }),
      'evidence.batch',
      /1-8/
    ],
    [
      'evidence certificate (HTTPS is gone)',
      (c) => (c.evidence = { host: 'ev.example', port: 443, key: KEY, batch: 2, cellularKB: 0, cert: 'x' } as never),
      'evidence.cert',
      /not a known setting/
    ]
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
    assert.deepEqual(
      validateConfig(c).map((p) => p.field),
      ['account', 'holdMs']
    );
  });

  it('refuses non-objects without throwing', () => {
    for (const v of [null, 42, 'cfg', [], undefined]) {
      assert.equal(validateConfig(v)[0].field, '(config)');
    }
  });
});

describe('config check: the unit answers with codes, the tools hold the words', () => {
  it('every code the unit can give has words, and the image carries none of them', async function () {
    this.timeout(60_000);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    await (require('../build.js') as { buildBoard(b: string, o: object): Promise<unknown> }).buildBoard(
      'ESPRUINOWIFI',
      { quiet: true }
    );
    for (const code of CONFIG_CODES) {
      const words = reasonWords({
        field: 'holdMs',
        reason:
          code === 'ring' ? 'ring:1:2:3' : code === 'chunkmax' ? 'chunkmax:1:2' : code === 'range' ? 'range:9' : code
      });
      assert.doesNotMatch(words, /is refused \(/, `${code} has no words`);
    }
    const image = fs.readFileSync(path.join(__dirname, '..', 'dist', 'firmware.js'), 'utf8');
    assert.ok(
      !image.includes('must be 32/48/64 hexadecimal digits'),
      'config sentences are not in the Espruino WiFi image'
    );
  });
});
