/**
 * The words for the unit's config check (firmware/config.ts `checkConfig`, which answers with
 * codes so the image carries no sentences). Only the tools, the simulator and the tests load this
 * module: the device's entry point never imports it, so it is not in any image.
 */
import { checkConfig, ConfigProblem, RANGES } from './config-check';

export type { ConfigProblem };

/** Each numeric field's range and unit, from the table the unit checks with. */
export const RANGE: { [field: string]: { min: number; max: number; unit: string } } = {};
for (const r of RANGES.split(',')) {
  const f = r.split(' ');
  RANGE[f[0]] = { min: Number(f[1]), max: Number(f[2]), unit: f[3] };
}

/**
 * The fixed choices of the unit's check, field by field (`[]`: each receiver), with the code the
 * unit answers when a value is not one of them. firmware/config.ts compares with these values
 * literally (a table would cost the image bytes); test/config-schema.test.ts proves the two agree,
 * and the words and the JSON Schema (tools/config-schema.ts) come from here.
 */
export const CHOICES: { [field: string]: { code: string; values: readonly (string | number)[] } } = {
  'indicator.confirm': { code: 'confirm', values: ['blink', 'off'] },
  'report.format': { code: 'format', values: ['cid', 'sia'] },
  'report.panicCode': { code: 'panic', values: [120, 122] },
  'report.receivers[].path': { code: 'path', values: ['wifi', 'cellular'] },
  'report.receivers[].transport': { code: 'transport', values: ['tcp', 'udp'] },
  'report.receivers[].keyFormat': { code: 'key-format', values: ['hex', 'ascii'] }
};

function choiceWords(field: string): string {
  const v = CHOICES[field].values.map((x) => (typeof x === 'string' ? `"${x}"` : String(x)));
  return `must be ${v.slice(0, -1).join(', ')} or ${v[v.length - 1]}`;
}

const WORDS: { [code: string]: string } = {
  unknown: 'is not a known setting',
  object: 'must be an object',
  path: choiceWords('report.receivers[].path'),
  host: 'must be a host name or IPv4 address',
  port: 'must be 1-65535',
  transport: choiceWords('report.receivers[].transport'),
  'udp-ipv4': 'must be an IPv4 address for a UDP receiver (replies are taken only from that address)',
  account: 'must be 3-16 hexadecimal digits',
  hex6: 'must be 1-6 hexadecimal digits',
  'key-required': 'is required (encryption is on unless report.labUnencrypted is set for a lab)',
  'key-type': 'must be a string',
  'key-hex': 'must be 32, 48 or 64 hexadecimal digits',
  'key-format': 'keyFormat ' + choiceWords('report.receivers[].keyFormat'),
  'key-length': 'must be 32/48/64 hexadecimal digits or a 16/24/32-character string',
  'key-ascii': 'must be printable ASCII',
  version: 'must be the config version this firmware reads',
  unit: 'must be 1-24 letters, digits or "-"',
  volts: 'must be a number from 2 to 20 V',
  confirm: choiceWords('indicator.confirm'),
  bool: 'must be true or false',
  format: choiceWords('report.format'),
  panic: choiceWords('report.panicCode'),
  receivers: 'must be a list of at most 2 receivers (primary, secondary)',
  taps: 'must be 0 (off) or 2-9 taps',
  'same-taps': 'must differ from cancelTaps',
  'taps-hold': 'need holdMs above 0 (with 0 every press is an alarm, so there are no taps)',
  chunk4: 'must make a whole number of samples divisible by 4 at the sample rate',
  day: 'must be a date YYYY-MM-DD, or "" before commissioning',
  hex64: 'must be 64 hexadecimal digits (32 bytes)',
  batch: 'must be 1-8 chunks',
  cellkb: 'must be 0 (no cap) to 1000000 KB',
  wifi: 'must be {"ssid": "...", "password": "..."}',
  ssid: 'must be 1-32 printable characters',
  wpa: 'must be 8-63 printable characters, or "" for an open network',
  apn: 'must be 1-63 letters, digits, "." or "-"'
};

/** One problem in words: `holdMs must be from 0 to 5000 ms, got 9000`. */
export function reasonWords(p: ConfigProblem): string {
  const [code, ...args] = p.reason.split(':');
  // Own keys only: a code or field named `constructor` (a hostile or broken reply) has no words.
  const range = Object.prototype.hasOwnProperty.call(RANGE, p.field) ? RANGE[p.field] : undefined;
  if (code === 'whole' && range) return `must be a whole number of ${range.unit}`;
  if (code === 'range' && range) return `must be from ${range.min} to ${range.max} ${range.unit}, got ${args[0]}`;
  if (code === 'version') return `must be ${4}`;
  if (code === 'chunkmax') {
    return `makes a chunk of ${args[0]} bytes (rate x chunkMs), more than the ${args[1]} bytes of RAM one chunk may take: lower rate or chunkMs`;
  }
  if (code === 'ring') {
    return `needs ${args[0]} bytes of RAM for its audio ring (${args[1]} chunks of rate x chunkMs), more than the ${args[2]} bytes this board has beside the firmware: lower rate or chunkMs`;
  }
  return Object.prototype.hasOwnProperty.call(WORDS, code) ? WORDS[code] : `is refused (${p.reason.slice(0, 40)})`;
}

/** The unit's check, in words: what the installer tool, the simulator and the tests show. */
export function validateConfig(c: unknown, audioBytes?: number): ConfigProblem[] {
  return checkConfig(c, audioBytes).map((p) => ({ field: p.field, reason: reasonWords(p) }));
}

/** Problems as one readable message, e.g. for an installer's screen. */
export function describeProblems(problems: ConfigProblem[]): string {
  return problems.map((p) => p.field + ' ' + p.reason).join('; ');
}

/** Every code the unit can answer with (a test checks each has words). */
export const CONFIG_CODES = [...Object.keys(WORDS), 'whole', 'range', 'ring', 'chunkmax'];
