/**
 * `npm run schema`: write examples/unit.schema.json, the JSON Schema (draft-07) of the unit's
 * config, generated from what the unit's own check uses:
 *
 * - the shape, every field required and no other, and each default: `defaultConfig()`
 *   (firmware/config.ts);
 * - whole-number ranges and units: `RANGES` (firmware/config.ts), the table `checkConfig` loops over;
 * - fixed choices: `CHOICES` (firmware/config-words.ts);
 * - the descriptions an editor shows: the doc comments of the config's interfaces in
 *   firmware/config.ts;
 * - the few text formats below (`TEXT`), which mirror `checkConfig`'s code.
 *
 * The schema is what an editor can check while typing. The unit checks more (a chunk length that
 * gives whole samples, an audio ring that fits the board, a date that exists, tap counts that
 * differ, taps needing a hold time) and so does `npm run commission -- --check FILE` (two
 * receivers on different paths, an evidence server, no factory unit id).
 * test/config-schema.test.ts checks that the committed file is this output, that the schema
 * never refuses a config the unit takes, and that it refuses what it says it refuses.
 *
 *   npm run schema            write the file
 *   npm run schema -- --check exit 1 when the committed file is not the generated one
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { defaultConfig, CONFIG_VERSION } from '../firmware/config';
import { RANGES } from '../firmware/config-check';
import { CHOICES, RANGE } from '../firmware/config-words';

export const SCHEMA_FILE = path.join(__dirname, '..', 'examples', 'unit.schema.json');
const CONFIG_SOURCE = path.join(__dirname, '..', 'firmware', 'config.ts');

type Schema = { [k: string]: unknown };

const HOST = '^[A-Za-z0-9.-]{1,63}$';
const IPV4 = '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$';
const hex = (min: number, max: number) => `^[0-9A-Fa-f]{${min},${max}}$`;
const printable = (min: number, max: number) => `^[ -~]{${min},${max}}$`;

/** Text formats, as `checkConfig` tests them (regexes there avoid `{n,m}`: Espruino cannot run them). */
const TEXT: { [field: string]: Schema } = {
  unitId: { pattern: '^[A-Za-z0-9-]{1,24}$' },
  account: { pattern: hex(3, 16) },
  'service.start': { pattern: '^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}$' },
  'report.receivers[].host': { pattern: HOST },
  'report.receivers[].account': { pattern: hex(3, 16) },
  'report.receivers[].receiver': { pattern: hex(1, 6) },
  'report.receivers[].line': { pattern: hex(1, 6) },
  'evidence.host': { pattern: HOST },
  'evidence.key': { pattern: hex(64, 64) },
  'network.wifi.ssid': { pattern: printable(1, 32) },
  'network.wifi.password': { pattern: `^$|${printable(8, 63)}` },
  'network.apn': { pattern: HOST }
};

/** Interface name → property → its doc comment, from firmware/config.ts. */
function docComments(): { [iface: string]: { [prop: string]: { doc: string; type?: string } } } {
  const src = ts.createSourceFile(CONFIG_SOURCE, fs.readFileSync(CONFIG_SOURCE, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: { [iface: string]: { [prop: string]: { doc: string; type?: string } } } = {};
  const docOf = (node: ts.Node) =>
    ts
      .getJSDocCommentsAndTags(node)
      .map((d) => (typeof d.comment === 'string' ? d.comment : ''))
      .join(' ')
      .replace(/\s+/g, ' ')
      .replace(/`/g, '"')
      .trim();
  const walk = (node: ts.Node) => {
    if (ts.isInterfaceDeclaration(node)) {
      const props: { [prop: string]: { doc: string; type?: string } } = {};
      for (const m of node.members) {
        if (!ts.isPropertySignature(m) || !m.name) continue;
        const t = m.type;
        const ref =
          t && ts.isTypeReferenceNode(t)
            ? t.typeName.getText(src)
            : t && ts.isArrayTypeNode(t) && ts.isTypeReferenceNode(t.elementType)
              ? t.elementType.typeName.getText(src)
              : undefined;
        props[m.name.getText(src)] = { doc: docOf(m), type: ref };
      }
      out[node.name.text] = props;
    }
    ts.forEachChild(node, walk);
  };
  walk(src);
  return out;
}

/** The JSON Schema of the unit's config. */
export function configSchema(): Schema {
  const docs = docComments();
  const ranges = new Set(RANGES.split(',').map((r) => r.split(' ')[0]));
  const model = defaultConfig() as unknown as Schema;
  // The parts the factory config leaves out: their shape, from the interfaces.
  const receiver = {
    path: 'wifi',
    host: '',
    port: 0,
    transport: 'tcp',
    account: '',
    receiver: '',
    line: '',
    key: '',
    keyFormat: 'hex'
  };
  const optionalReceiverKeys = ['account', 'receiver', 'key', 'keyFormat'];
  const evidence = { host: '', port: 0, key: '', batch: 0, cellularKB: 0 };
  const network = { wifi: { ssid: '', password: '' }, apn: '' };

  const leaf = (field: string, value: unknown, doc: string, dflt: boolean): Schema => {
    const s: Schema = {};
    if (doc) s.description = doc;
    if (Object.hasOwn(CHOICES, field)) s.enum = [...CHOICES[field].values];
    else if (ranges.has(field)) {
      s.type = 'integer';
      s.minimum = RANGE[field].min;
      s.maximum = RANGE[field].max;
      if (field === 'gestures.cancelTaps' || field === 'gestures.duressTaps') s.not = { type: 'integer', const: 1 };
    } else if (field === 'version') s.const = CONFIG_VERSION;
    else if (field === 'inputs.lowBatteryV') Object.assign(s, { type: 'number', minimum: 2, maximum: 20 });
    else if (field.endsWith('.port')) Object.assign(s, { type: 'integer', minimum: 1, maximum: 65535 });
    else if (field === 'evidence.batch') Object.assign(s, { type: 'integer', minimum: 1, maximum: 8 });
    else if (field === 'evidence.cellularKB') Object.assign(s, { type: 'integer', minimum: 0, maximum: 1000000 });
    else if (typeof value === 'boolean') s.type = 'boolean';
    else if (typeof value === 'string') Object.assign(s, { type: 'string' }, TEXT[field] ?? {});
    else throw new Error(`config-schema: no rule for ${field}`);
    if (dflt) s.default = value;
    return s;
  };

  const object = (
    iface: string | undefined,
    shape: Schema,
    prefix: string,
    dflt: boolean,
    optional: string[] = []
  ): Schema => {
    const props: Schema = {};
    const d = iface ? (docs[iface] ?? {}) : {};
    for (const k of Object.keys(shape)) {
      const field = prefix + k;
      const v = shape[k];
      const doc = d[k]?.doc ?? '';
      if (field === 'report.receivers') {
        props[k] = {
          description: doc,
          type: 'array',
          maxItems: 2,
          default: [],
          items: receiverSchema(object('ReceiverConfig', receiver, 'report.receivers[].', false, optionalReceiverKeys))
        };
      } else if (typeof v === 'object' && v !== null) {
        props[k] = { ...(doc ? { description: doc } : {}), ...object(d[k]?.type, v as Schema, field + '.', dflt) };
      } else props[k] = leaf(field, v, doc, dflt);
    }
    return {
      type: 'object',
      properties: props,
      required: Object.keys(shape).filter((k) => !optional.includes(k)),
      additionalProperties: false
    };
  };

  const top = object('Config', model, '', true);
  const topProps = top.properties as Schema;
  const cdocs = docs.Config;
  topProps.evidence = { description: cdocs.evidence.doc, ...object('EvidenceConfig', evidence, 'evidence.', false) };
  const net = object('NetworkConfig', network, 'network.', false, ['wifi', 'apn']);
  topProps.network = { description: cdocs.network.doc || 'Wi-Fi and the cellular APN', ...net };
  ((net.properties as Schema).wifi as Schema).description =
    'The Wi-Fi network the unit joins: "password" "" joins an open network.';
  const props: Schema = {
    $schema: {
      type: 'string',
      description: 'This schema, for an editor; the tool removes it before the config goes to the unit.'
    },
    ...topProps
  };
  // Encryption is on unless a lab says otherwise: each receiver then needs its key.
  const report = topProps.report as Schema;
  report.if = { properties: { labUnencrypted: { const: true } }, required: ['labUnencrypted'] };
  report.then = {};
  report.else = {
    properties: {
      receivers: {
        type: 'array',
        items: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] }
      }
    }
  };
  // With holdMs 0 every press is an alarm: there are no taps to count.
  const noTaps = {
    if: { properties: { holdMs: { const: 0 } }, required: ['holdMs'] },
    then: {
      properties: { gestures: { type: 'object', properties: { cancelTaps: { const: 0 }, duressTaps: { const: 0 } } } }
    }
  };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: `Panic-alarm unit config, version ${CONFIG_VERSION}`,
    description:
      'Generated by tools/config-schema.ts from firmware/config.ts (defaultConfig, RANGES, the interfaces) and firmware/config-words.ts (CHOICES); do not edit. ' +
      'The unit and "npm run commission -- --check FILE" check more than a schema can: see docs/installer.md.',
    type: 'object',
    properties: props,
    required: top.required,
    additionalProperties: false,
    allOf: [noTaps]
  };
}

/** One receiver: the key's two forms, and the rules that depend on another field. */
function receiverSchema(s: Schema): Schema {
  const p = s.properties as Schema;
  // The key: 32/48/64 hex digits, or a 16/24/32-character string; keyFormat says which when both fit.
  const hexKey = '^([0-9A-Fa-f]{32}|[0-9A-Fa-f]{48}|[0-9A-Fa-f]{64})$';
  const asciiKey = '^([ -~]{16}|[ -~]{24}|[ -~]{32})$';
  p.key = {
    ...(p.key as Schema),
    anyOf: [
      { type: 'string', pattern: hexKey },
      { type: 'string', pattern: asciiKey }
    ]
  };
  s.allOf = [
    {
      if: { properties: { keyFormat: { const: 'hex' } }, required: ['keyFormat'] },
      then: { properties: { key: { type: 'string', pattern: hexKey } } }
    },
    {
      if: { properties: { keyFormat: { const: 'ascii' } }, required: ['keyFormat'] },
      then: { properties: { key: { type: 'string', pattern: asciiKey } } }
    },
    // A UDP receiver's replies are taken only from its address: an IPv4 address.
    {
      if: { properties: { transport: { const: 'udp' } }, required: ['transport'] },
      then: { properties: { host: { type: 'string', pattern: IPV4 } } }
    }
  ];
  return s;
}

/** The schema file's text: two-space JSON and a newline. */
export function schemaText(): string {
  return JSON.stringify(configSchema(), null, 2) + '\n';
}

if (require.main === module) {
  const text = schemaText();
  if (process.argv.includes('--check')) {
    const same = fs.existsSync(SCHEMA_FILE) && fs.readFileSync(SCHEMA_FILE, 'utf8') === text;
    console.log(
      same
        ? `${path.relative(process.cwd(), SCHEMA_FILE)} is up to date`
        : `${path.relative(process.cwd(), SCHEMA_FILE)} is stale: run npm run schema`
    );
    process.exit(same ? 0 : 1);
  }
  fs.mkdirSync(path.dirname(SCHEMA_FILE), { recursive: true });
  fs.writeFileSync(SCHEMA_FILE, text);
  console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`);
}
