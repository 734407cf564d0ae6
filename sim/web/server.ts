/**
 * The simulator page's server (`npm run sim:web`): one simulated unit running the real firmware on
 * the sim HAL, with the lab monitoring centre (primary TCP over Wi-Fi, secondary UDP over cellular)
 * and the evidence server behind it, served on 127.0.0.1 only.
 *
 * API (docs/sim-web.md):
 *   GET  /api/state                       the whole state as JSON
 *   GET  /api/events                      server-sent events: `state` (the whole state, when it
 *                                         changes) and `level` (microphone peak-to-peak, 10 a second)
 *   POST /api/button   {"down": bool}     the panic button (the firmware applies the hold time)
 *   POST /api/path     {"path": "wifi"|"cellular", "up": bool}
 *   POST /api/power    {"mains": bool} | {"battery": "ok"|"low"}
 *   POST /api/tamper   {"open": bool}
 *   POST /api/audio    {"source": "tone"|"noise"|"silence"|"browser"}
 *   POST /api/audio/wav    a WAV file (PCM mono 8/16-bit, 4-96 kHz, at most 5 minutes): heard
 *                          once, then the chosen source
 *   POST /api/audio/pcm    raw 8-bit unsigned samples at the unit's rate (the browser microphone)
 *   POST /api/centre/stop  {"rid": "0001"}  the centre operator stops a recording (authenticated)
 *   POST /api/centre/fault {"receiver": "primary"|"secondary", "fault": "nak"|"duh"|"silent"}
 *                                         that receiver answers its next frame so (or not at all)
 *   POST /api/centre/profile {"receiver": "primary"|"secondary", "profile": ["one-xdata", …]}
 *                                         that receiver behaves as receivers in the field do
 *                                         (sim/centre.ts RECEIVER_QUIRKS; [] = the standard)
 *   GET  /recordings/UNIT/RID.wav         a recording as the evidence server holds it
 *
 * Requests must name this server in `Host` (no DNS rebinding) and POSTs must say their content
 * type (no cross-site form posts). Bad input gets 400 with a reason; nothing in the unit changes.
 * Too much (a body over MAX_BODY, a WAV over MAX_WAV_S, more than MAX_QUEUED_S of audio waiting)
 * gets 413 with a reason.
 */
import * as http from 'node:http';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSimUnit, SimUnit } from '../unit';
import { generators } from '../mic';
import { simDefaultConfig, SIM_KEYS, createLabCentres } from '../default-config';
import type { SimCentre } from '../centre';
import { RECEIVER_QUIRKS } from '../centre';
import { describe } from '../describe';
import { startEvidenceServer, EvidenceServer } from '../evidence-server';
import { readWavInfo, decodeWav } from '../wav';
import { verifyRecordingDir } from '../evidence-verify';
import type { Config } from '../../firmware/config';

const PUBLIC = path.join(__dirname, 'public');
const MODULES = path.join(__dirname, '..', '..', 'node_modules');
/** The page's front-end stack, served from node_modules (nothing is fetched from the internet). */
const VENDOR: Record<string, string> = {
  'preact.mjs': path.join(MODULES, 'preact', 'dist', 'preact.mjs'),
  'hooks.mjs': path.join(MODULES, 'preact', 'hooks', 'dist', 'hooks.mjs'),
  'htm.mjs': path.join(MODULES, 'htm', 'dist', 'htm.mjs')
};
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8'
};
/** Largest request body: a WAV of about 1 minute at 16 kHz 16-bit. */
const MAX_BODY = 2 * 1024 * 1024;
/**
 * Sample rates a WAV may have (issue #19). 4 kHz is the lowest rate the unit itself can be set to
 * (`audio.rate`); below it nothing real is recorded and nearest-sample upsampling only repeats
 * samples (8 Hz turned 1 MB into 34.7 hours). 96 kHz covers every common studio and consumer rate;
 * a larger number is a damaged header.
 */
const WAV_RATE = { min: 4000, max: 96000 };
/**
 * Longest WAV, in seconds at the unit's rate: a clip of room sound. Its length is worked out from
 * the header before anything is decoded or allocated. With MAX_BODY and WAV_RATE.min a file holds
 * at most 524 s (8-bit at 4 kHz), so this is the bound that decides for low-rate files.
 */
const MAX_WAV_S = 300;
/**
 * Most audio that may wait to be heard, in all (uploads and browser packets; the unit hears it in
 * real time): the room's memory. 10 minutes is 4.8 MB at 8 kHz, 9.6 MB at 16 kHz.
 */
const MAX_QUEUED_S = 600;
/** Entries kept for the page (the unit's journal itself is not trimmed). */
const KEEP = 200;
/** Battery voltages behind the page's battery switch (the default low threshold is 3.6 V). */
const BATTERY = { ok: 4.1, low: 3.3 };

export interface WebSimOptions {
  /** TCP port for the page; 0 picks a free one. Default 8080. */
  port?: number;
  /** Where the evidence server keeps recordings (default: a new temporary folder). */
  evidenceDir?: string;
  /** Change the embedded default configuration (e.g. a shorter hold time for a demonstration). */
  configure?: (c: Config) => void;
  /** Receiver profiles to start with (sim/centre.ts RECEIVER_QUIRKS; default: the standard). */
  profiles?: { primary?: string; secondary?: string };
}

export interface WebSim {
  readonly url: string;
  readonly port: number;
  readonly unit: SimUnit;
  readonly centres: SimCentre[];
  readonly evidence: EvidenceServer;
  /** Pages connected to the event stream. */
  pages(): number;
  close(): Promise<void>;
}

export interface CentreLine {
  at: number;
  receiver: 'primary' | 'secondary';
  transport: string;
  /** DC-09 message id, e.g. ADM-CID, SIA-DCS, NULL; `(dropped)` when the frame was refused. */
  id: string;
  seq: string;
  account: string;
  encrypted: boolean;
  what: string;
  reply: string;
}

class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400
  ) {
    super(message);
  }
}

/** The body, or a 413 once it passes MAX_BODY (the rest is read and dropped, so the reply arrives). */
function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooBig = () => new BadRequest(`body over ${MAX_BODY} bytes`, 413);
    if (Number(req.headers['content-length']) > MAX_BODY) {
      req.resume();
      req.on('end', () => reject(tooBig()));
      return;
    }
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size <= MAX_BODY) parts.push(d);
    });
    req.on('end', () => (size > MAX_BODY ? reject(tooBig()) : resolve(Buffer.concat(parts))));
    req.on('error', reject);
  });
}

const own = (o: object, k: unknown): k is string => typeof k === 'string' && Object.prototype.hasOwnProperty.call(o, k);

function json(body: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BadRequest('body is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadRequest('body must be a JSON object');
  return v as Record<string, unknown>;
}

function bool(o: Record<string, unknown>, key: string): boolean {
  if (typeof o[key] !== 'boolean') throw new BadRequest(`"${key}" must be true or false`);
  return o[key] as boolean;
}

/** How many samples `frames` at `from` Hz become at `to` Hz (what `resample` allocates). */
const resampledLength = (frames: number, from: number, to: number) =>
  from === to ? frames : Math.floor((frames * to) / from);

/** Samples at `from` Hz to `to` Hz (nearest sample: the unit's own audio is 8-bit telephone quality). */
function resample(s: Uint8Array, from: number, to: number): Uint8Array {
  if (from === to) return s;
  const n = resampledLength(s.length, from, to);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = s[Math.min(s.length - 1, Math.floor((i * from) / to))];
  return out;
}

export async function startWebSim(o: WebSimOptions = {}): Promise<WebSim> {
  const centres = await createLabCentres('1234', o.profiles);
  const config = simDefaultConfig({
    primary: { port: centres[0].tcpPort, transport: 'tcp' },
    secondary: { port: centres[1].udpPort, transport: 'udp' }
  });
  const evidenceDir = o.evidenceDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'panic-alarm-web-'));
  fs.mkdirSync(evidenceDir, { recursive: true });
  const evidence = await startEvidenceServer({ root: evidenceDir, keys: { [config.unitId]: SIM_KEYS.evidence } });
  config.evidence = simDefaultConfig(undefined, { port: evidence.port }).evidence;
  if (o.configure) o.configure(config);

  const unit = createSimUnit(config);
  const madeDir = o.evidenceDir === undefined ? evidenceDir : undefined;
  const world = unit.sim.world;
  const rate = config.audio.rate;
  let source = 'tone';
  const sources: Record<string, () => (n: number) => number> = {
    tone: () => generators.tone(440, rate, 40),
    noise: () => generators.noise(20, Date.now() & 0xffff),
    silence: () => generators.silence(),
    // The browser streams its microphone as PCM; between packets the room is quiet.
    browser: () => generators.silence()
  };
  world.mic.source(sources.tone());

  const centreLog: CentreLine[] = [];
  const push = (l: CentreLine) => {
    centreLog.push(l);
    if (centreLog.length > KEEP) centreLog.shift();
  };
  centres.forEach((c, i) => {
    const receiver = i === 0 ? 'primary' : 'secondary';
    c.onEvent((e) =>
      push({
        at: e.at,
        receiver,
        transport: e.transport,
        id: e.id,
        seq: e.seq,
        account: e.account,
        encrypted: e.encrypted,
        what: describe(e),
        reply: e.reply
      })
    );
  });
  const rejectedSeen = [0, 0];
  function collectRejected(): void {
    centres.forEach((c, i) => {
      const r = c.rejected();
      for (; rejectedSeen[i] < r.length; rejectedSeen[i]++) {
        const x = r[rejectedSeen[i]];
        push({
          at: x.at,
          receiver: i === 0 ? 'primary' : 'secondary',
          transport: '',
          id: '(dropped)',
          seq: '',
          account: '',
          encrypted: false,
          what: x.reason,
          reply: 'none'
        });
      }
    });
  }

  /**
   * Verification reads the whole recording: it runs again when a recording's chunks or manifest
   * change, at most every 3 s while it grows, and at once when its final manifest arrives.
   */
  const verified = new Map<
    string,
    {
      key: string;
      at: number;
      ok: boolean;
      problems: string[];
      durationS?: number;
      gaps: number;
      signature: string;
      final: boolean;
    }
  >();
  function recordings() {
    return evidence.recordings().map((r) => {
      const final = !!(r.manifest && r.manifest.final);
      const key = `${r.chunks}:${r.have}:${r.manifest ? r.manifest.n + ':' + String(final) : '-'}`;
      let v = verified.get(r.dir);
      if (!v || (v.key !== key && (final || Date.now() - v.at >= 3000))) {
        const res = verifyRecordingDir(r.dir, SIM_KEYS.evidence);
        v = {
          key,
          at: Date.now(),
          ok: res.ok,
          problems: res.problems.slice(0, 5),
          durationS: res.summary.durationS,
          gaps: res.summary.gaps.length,
          signature: res.summary.signature,
          final: !!res.summary.final
        };
        verified.set(r.dir, v);
      }
      return {
        unit: r.unit,
        rid: r.rid,
        chunks: r.chunks,
        url: `/recordings/${encodeURIComponent(r.unit)}/${encodeURIComponent(r.rid)}.wav`,
        verified: v.ok,
        final: v.final,
        problems: v.problems,
        durationS: v.durationS,
        gaps: v.gaps,
        signature: v.signature
      };
    });
  }

  function state() {
    collectRejected();
    const app = unit.app;
    const s = app.status();
    const routes = s.routes;
    const paths = (['wifi', 'cellular'] as const).map((name) => {
      const p = world.paths[name]!;
      const role = config.report.receivers.findIndex((r) => r.path === name);
      const route = role >= 0 ? routes[role] : undefined;
      return {
        name,
        role: role === 0 ? 'primary' : role === 1 ? 'secondary' : 'unused',
        up: p.up,
        signal: p.signal,
        reporting: route ? route.ok : false
      };
    });
    const journal = app.journal
      .records()
      .slice(-KEEP)
      .reverse()
      .map((r) => {
        const { i, k, t, u: _u, ...rest } = r;
        return { i, k, t, fields: JSON.stringify(rest) };
      });
    return {
      unit: {
        id: config.unitId,
        account: config.account,
        holdMs: config.holdMs,
        format: config.report.format,
        boots: world.boots.length
      },
      alarm: {
        mode: s.mode,
        triggers: s.triggers,
        pending: s.pending,
        inflight: s.inflight,
        faults: s.faults,
        recording: s.recording,
        stored: s.stored
      },
      // `flashes` counts the times it lit: a blink shorter than the 100 ms push still shows.
      indicator: {
        on: world.led.level,
        flashes: world.led.history.filter((h) => h.on).length,
        confirm: config.indicator.confirm
      },
      button: { down: world.button.isDown() },
      paths,
      power: {
        mains: world.power.mains(),
        battery: world.power.battery() <= config.inputs.lowBatteryV ? 'low' : 'ok',
        volts: world.power.battery()
      },
      tamper: { open: world.tamper.isOpen() },
      audio: { source, rate },
      centre: centreLog.slice().reverse(),
      profiles: { primary: centres[0].profile(), secondary: centres[1].profile() },
      quirks: RECEIVER_QUIRKS,
      recordings: recordings(),
      // What the unit's uploader says: sealed chunks confirmed, and how much went over cellular.
      upload: unit.app.uploader ? unit.app.uploader.status() : undefined,
      journal
    };
  }

  const clients = new Set<http.ServerResponse>();
  const buttonSeq = new Map<string, number>();
  /** The page that pressed the button last ('' when not named). */
  let presser = '';
  let lastState = '';
  let lastLevel = -1;
  const ticker = setInterval(() => {
    if (clients.size === 0) return;
    const text = JSON.stringify(state());
    if (text !== lastState) {
      lastState = text;
      for (const c of clients) c.write(`event: state\ndata: ${text}\n\n`);
    }
    const level = world.mic.level();
    if (level !== lastLevel) {
      lastLevel = level;
      for (const c of clients) c.write(`event: level\ndata: ${level}\n\n`);
    }
  }, 100);

  const seconds = (n: number) => Math.round((n / rate) * 10) / 10;
  /** 413 unless `n` more samples fit in the room's queue (MAX_QUEUED_S in all). */
  function roomFor(n: number): void {
    const queued = world.sound.backlog();
    if (queued + n > MAX_QUEUED_S * rate) {
      throw new BadRequest(
        `too much audio waiting: ${seconds(queued)} s queued, and ${seconds(n)} s more would pass ${MAX_QUEUED_S} s; try again once it has played`,
        413
      );
    }
  }

  async function api(req: http.IncomingMessage, route: string): Promise<unknown> {
    const kind = (req.headers['content-type'] || '').split(';')[0].trim();
    const body = await readBody(req);
    if (route === '/api/audio/wav' || route === '/api/audio/pcm') {
      if (kind !== 'application/octet-stream' && kind !== 'audio/wav' && kind !== 'audio/x-wav')
        throw new BadRequest('send the audio as application/octet-stream');
      if (body.length === 0) throw new BadRequest('no audio in the body');
      if (route === '/api/audio/pcm') {
        roomFor(body.length);
        world.mic.feed(new Uint8Array(body));
        return { ok: true, samples: body.length };
      }
      // Everything is checked on the header before a sample is decoded or a byte allocated.
      let info;
      try {
        info = readWavInfo(body);
      } catch (e) {
        throw new BadRequest(`not a usable WAV file: ${(e as Error).message}`);
      }
      if (info.rate < WAV_RATE.min || info.rate > WAV_RATE.max) {
        throw new BadRequest(
          `not a usable WAV file: sample rate ${info.rate} Hz is outside ${WAV_RATE.min}-${WAV_RATE.max} Hz`
        );
      }
      const n = resampledLength(info.frames, info.rate, rate);
      if (n === 0) throw new BadRequest('not a usable WAV file: its data chunk holds no samples');
      if (n > MAX_WAV_S * rate) throw new BadRequest(`WAV too long: ${seconds(n)} s; at most ${MAX_WAV_S} s`, 413);
      roomFor(n);
      const samples = resample(decodeWav(body, info).samples, info.rate, rate);
      world.mic.feed(samples);
      return { ok: true, seconds: seconds(samples.length) };
    }
    if (kind !== 'application/json') throw new BadRequest('send JSON (Content-Type: application/json)');
    const b = json(body);
    switch (route) {
      case '/api/button': {
        const down = bool(b, 'down');
        // A page names itself and numbers its presses: a request overtaken by a later one from the
        // same page (they may travel on different connections) is ignored rather than undoing it.
        const page = b.page === undefined ? '' : b.page;
        if (typeof page !== 'string' || page.length > 40) throw new BadRequest('"page" must be a short string');
        if (b.seq !== undefined) {
          if (typeof b.seq !== 'number' || !Number.isInteger(b.seq))
            throw new BadRequest('"seq" must be a whole number');
          if (b.seq <= (buttonSeq.get(page) ?? -1)) return { ok: true, ignored: 'out of order' };
          buttonSeq.set(page, b.seq);
        }
        if (down) {
          presser = page;
          world.button.down();
        } else world.button.up();
        return { ok: true };
      }
      case '/api/path': {
        const name = b.path;
        if (name !== 'wifi' && name !== 'cellular') throw new BadRequest('"path" must be "wifi" or "cellular"');
        if (bool(b, 'up')) world.paths[name]!.restore();
        else world.paths[name]!.cut();
        return { ok: true };
      }
      case '/api/power':
        if ('mains' in b) {
          if (bool(b, 'mains')) world.power.plug();
          else world.power.unplug();
        } else if ('battery' in b) {
          if (b.battery !== 'ok' && b.battery !== 'low') throw new BadRequest('"battery" must be "ok" or "low"');
          world.power.setBattery(BATTERY[b.battery]);
        } else throw new BadRequest('give "mains" or "battery"');
        return { ok: true };
      case '/api/tamper':
        if (bool(b, 'open')) world.tamper.open();
        else world.tamper.close();
        return { ok: true };
      case '/api/audio':
        if (!own(sources, b.source)) throw new BadRequest(`"source" must be one of ${Object.keys(sources).join(', ')}`);
        source = b.source;
        world.mic.source(sources[source]());
        return { ok: true };
      case '/api/centre/fault': {
        const centre = b.receiver === 'primary' ? centres[0] : b.receiver === 'secondary' ? centres[1] : undefined;
        if (!centre) throw new BadRequest('"receiver" must be "primary" or "secondary"');
        const kinds: Record<string, 'nak' | 'duh' | 'drop'> = { nak: 'nak', duh: 'duh', silent: 'drop' };
        if (!own(kinds, b.fault)) throw new BadRequest('"fault" must be "nak", "duh" or "silent"');
        centre.faults[kinds[b.fault]]++;
        return { ok: true };
      }
      case '/api/centre/profile': {
        const centre = b.receiver === 'primary' ? centres[0] : b.receiver === 'secondary' ? centres[1] : undefined;
        if (!centre) throw new BadRequest('"receiver" must be "primary" or "secondary"');
        const list = b.profile;
        if (
          !Array.isArray(list) ||
          list.length > 20 ||
          !list.every((q: unknown) => typeof q === 'string' && own(RECEIVER_QUIRKS, q))
        ) {
          throw new BadRequest(`"profile" must be a list of: ${Object.keys(RECEIVER_QUIRKS).join(', ')}`);
        }
        centre.setProfile(list as string[]);
        return { ok: true, profile: centre.profile() };
      }
      case '/api/centre/stop': {
        if (typeof b.rid !== 'string' || !/^[0-9A-Za-z]{1,8}$/.test(b.rid))
          throw new BadRequest('"rid" must be a recording id');
        if (!evidence.recordings().some((r) => r.rid === b.rid))
          throw new BadRequest(`no recording ${b.rid} at the evidence server`);
        evidence.requestStop(config.unitId, b.rid);
        return { ok: true };
      }
      default:
        return undefined;
    }
  }

  function sendFile(res: http.ServerResponse, file: string): void {
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      let body: Buffer | string = data;
      // The hooks module imports "preact" by its package name; point it at the served file (an
      // import map would need an inline script, which the page's content policy forbids).
      if (file === VENDOR['hooks.mjs'])
        body = data.toString('utf8').replace(/from\s*"preact"/g, 'from"/vendor/preact.mjs"');
      res
        .writeHead(200, {
          'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
          'cache-control': 'no-store'
        })
        .end(body);
    });
  }

  const server = http.createServer((req, res) => {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader(
      'content-security-policy',
      "default-src 'self'; media-src 'self' blob:; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
    );
    try {
      route(req, res);
    } catch (e) {
      // Nothing a request carries may stop the simulator.
      if (!res.headersSent)
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad request: ${(e as Error).message}`);
    }
  });

  function route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const host = req.headers.host || '';
    const port = (server.address() as { port: number }).port;
    const here = [`127.0.0.1:${port}`, `localhost:${port}`];
    if (!here.includes(host)) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('this simulator answers only on 127.0.0.1');
      return;
    }
    // A page from elsewhere may not drive the unit (its browser says where it came from).
    const origin = req.headers.origin;
    if (req.method === 'POST' && origin !== undefined && !here.some((h) => origin === `http://${h}`)) {
      res
        .writeHead(403, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'requests from other sites are refused' }));
      return;
    }
    let p: string;
    let pageId = '';
    try {
      const url = new URL(req.url || '/', `http://${host}`);
      p = url.pathname;
      pageId = (url.searchParams.get('page') || '').slice(0, 40);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request path');
      return;
    }
    if (req.method === 'GET' && p === '/api/state') {
      res
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify(state()));
      return;
    }
    if (req.method === 'GET' && p === '/api/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive'
      });
      const text = JSON.stringify(state());
      res.write(`retry: 1000\nevent: state\ndata: ${text}\n\n`);
      clients.add(res);
      req.on('close', () => {
        clients.delete(res);
        // A page that went away cannot release the button: release it so it does not stay held
        // (the page that pressed it, or the last page of all).
        if (world.button.isDown() && ((pageId !== '' && pageId === presser) || clients.size === 0)) world.button.up();
      });
      return;
    }
    if (req.method === 'POST' && p.startsWith('/api/')) {
      api(req, p)
        .then((r) => {
          if (r === undefined)
            res
              .writeHead(404, { 'content-type': 'application/json' })
              .end(JSON.stringify({ error: `no such request ${p}` }));
          else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(r));
          lastState = ''; // push the change at the next tick
        })
        .catch((e) => {
          const status = e instanceof BadRequest ? e.status : 500;
          if (!res.headersSent)
            res
              .writeHead(status, { 'content-type': 'application/json' })
              .end(JSON.stringify({ error: (e as Error).message }));
        });
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(405, { 'content-type': 'text/plain' }).end('method not allowed');
      return;
    }
    const rec = /^\/recordings\/([A-Za-z0-9-]+)\/([A-Za-z0-9]+)\.wav$/.exec(p);
    if (rec) {
      const r = evidence.recordings().find((x) => x.unit === rec[1] && x.rid === rec[2]);
      if (!r) res.writeHead(404, { 'content-type': 'text/plain' }).end('no such recording');
      else {
        fs.readFile(path.join(r.dir, 'recording.wav'), (err, data) => {
          if (err) res.writeHead(404, { 'content-type': 'text/plain' }).end('recording not assembled yet');
          else res.writeHead(200, { 'content-type': 'audio/wav', 'cache-control': 'no-store' }).end(data);
        });
      }
      return;
    }
    if (p.startsWith('/vendor/') && own(VENDOR, p.slice(8))) return sendFile(res, VENDOR[p.slice(8)]);
    const name = p === '/' ? 'index.html' : p.slice(1);
    if (!/^[a-z0-9-]+\.(html|js|css)$/.test(name)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    sendFile(res, path.join(PUBLIC, name));
  }

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      clearInterval(ticker);
      for (const c of clients) c.end();
      clients.clear();
      if (server.listening) {
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeAllConnections();
        await closed;
      }
      unit.shutdown();
      for (const c of centres) await c.close();
      await evidence.close();
      if (madeDir) fs.rmSync(madeDir, { recursive: true, force: true });
    })());

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 8080, '127.0.0.1', () => resolve());
    });
  } catch (e) {
    await close();
    throw e;
  }
  const port = (server.address() as { port: number }).port;

  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    unit,
    centres,
    evidence,
    pages: () => clients.size,
    close
  };
}
