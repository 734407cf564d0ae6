/**
 * The simulator page's server (sim/web/server.ts): its API drives the real firmware on the sim HAL,
 * with the lab centre and evidence server behind it, on real timers.
 */
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { startWebSim, WebSim } from '../sim/web/server';
import { encodeWav } from '../sim/wav';
import { SimSound } from '../sim/mic';

interface Reply {
  status: number;
  type: string;
  body: Buffer;
  json(): any;
}

function request(
  sim: WebSim,
  method: string,
  path: string,
  body?: Buffer | string | object,
  type = 'application/json',
  host?: string,
  extra: Record<string, string> = {}
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data =
      body === undefined
        ? undefined
        : Buffer.isBuffer(body)
          ? body
          : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request(
      {
        host: '127.0.0.1',
        port: sim.port,
        method,
        path,
        headers: { ...(data ? { 'content-type': type } : {}), ...(host ? { host } : {}), ...extra }
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d) => parts.push(d));
        res.on('end', () => {
          const b = Buffer.concat(parts);
          resolve({
            status: res.statusCode!,
            type: String(res.headers['content-type']),
            body: b,
            json: () => JSON.parse(b.toString('utf8'))
          });
        });
      }
    );
    req.on('error', reject);
    req.end(data);
  });
}

const state = async (sim: WebSim) => (await request(sim, 'GET', '/api/state')).json();

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function hold(sim: WebSim, ms: number): Promise<void> {
  assert.equal((await request(sim, 'POST', '/api/button', { down: true })).status, 200);
  await sleep(ms);
  assert.equal((await request(sim, 'POST', '/api/button', { down: false })).status, 200);
}

/** A RIFF chunk: id, size (the body's length unless given), body, and the pad byte an odd size needs. */
function chunk(id: string, body: Buffer, size = body.length): Buffer {
  const h = Buffer.alloc(8);
  h.write(id, 0, 'ascii');
  h.writeUInt32LE(size, 4);
  return Buffer.concat([h, body, Buffer.alloc(body.length & 1)]);
}

const riff = (...chunks: Buffer[]) => {
  const b = Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE', 'latin1'), ...chunks]);
  b.writeUInt32LE(b.length - 8, 4);
  return b;
};

/** Bytes 4-15 of the WAVE_FORMAT_EXTENSIBLE sub-format GUIDs (KSDATAFORMAT_SUBTYPE_PCM is 1 then these). */
const KSDATAFORMAT_TAIL = Buffer.from('000010008000' + '00aa00389b71', 'hex');

/** A fmt chunk, field by field; `sub` makes it WAVE_FORMAT_EXTENSIBLE with that sub-format code. */
function fmt(o: { format?: number; channels?: number; rate?: number; bits?: number; sub?: number } = {}): Buffer {
  const { format = 1, channels = 1, rate = 8000, bits = 8, sub } = o;
  const b = Buffer.alloc(sub === undefined ? 16 : 40);
  const align = Math.ceil((channels * bits) / 8);
  b.writeUInt16LE(sub === undefined ? format : 0xfffe, 0);
  b.writeUInt16LE(channels, 2);
  b.writeUInt32LE(rate, 4);
  b.writeUInt32LE((rate * align) % 2 ** 32, 8);
  b.writeUInt16LE(align % 2 ** 16, 12);
  b.writeUInt16LE(bits, 14);
  if (sub !== undefined) {
    b.writeUInt16LE(22, 16);
    b.writeUInt16LE(bits, 18);
    b.writeUInt32LE(4, 20); // front centre
    b.writeUInt32LE(sub, 24);
    KSDATAFORMAT_TAIL.copy(b, 28);
  }
  return chunk('fmt ', b);
}

/** 16-bit samples as a data chunk body. */
const pcm16 = (values: number[]) => {
  const b = Buffer.alloc(2 * values.length);
  values.forEach((v, i) => b.writeInt16LE(v, 2 * i));
  return b;
};

const panics = (s: any) => s.centre.filter((c: any) => /\(CID 1 120/.test(c.what));

describe('simulator page server (npm run sim:web)', function () {
  this.timeout(90_000);
  let sim: WebSim;

  before(async () => {
    sim = await startWebSim({ port: 0 });
  });
  after(async () => {
    await sim.close();
  });

  it('serves the page and its front-end modules from this machine, with a content policy', async () => {
    const page = await request(sim, 'GET', '/');
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.body.toString(), /<script type="module" src="\/app.js">/);
    assert.ok(!/https?:\/\//.test(page.body.toString()), 'the page loads nothing from elsewhere');
    for (const f of ['/app.js', '/style.css', '/vendor/preact.mjs', '/vendor/hooks.mjs', '/vendor/htm.mjs']) {
      const r = await request(sim, 'GET', f);
      assert.equal(r.status, 200, f);
    }
    const hooks = (await request(sim, 'GET', '/vendor/hooks.mjs')).body.toString();
    assert.ok(
      hooks.includes('"/vendor/preact.mjs"') && !/from\s*"preact"/.test(hooks),
      'hooks import the served preact'
    );
    const app = (await request(sim, 'GET', '/app.js')).body.toString();
    assert.ok(!/https?:\/\//.test(app), 'the script loads nothing from elsewhere');
    const headers = await new Promise<http.IncomingHttpHeaders>((r) =>
      http.get({ host: '127.0.0.1', port: sim.port, path: '/' }, (res) => (res.resume(), r(res.headers)))
    );
    assert.match(String(headers['content-security-policy']), /default-src 'self'/);
    assert.match(
      String(headers['content-security-policy']),
      /frame-ancestors 'none'/,
      'no other site may frame the page'
    );
    assert.equal((await request(sim, 'GET', '/../package.json')).status, 404);
    assert.equal((await request(sim, 'GET', '/nothing.html')).status, 404);
  });

  it('answers only requests addressed to 127.0.0.1 (no DNS rebinding) and only JSON posts (no cross-site forms)', async () => {
    const foreign = await request(sim, 'GET', '/api/state', undefined, undefined, 'attacker.example:80');
    assert.equal(foreign.status, 421);
    const form = await request(sim, 'POST', '/api/button', 'down=true', 'application/x-www-form-urlencoded');
    assert.equal(form.status, 400);
    assert.match(form.json().error, /JSON/);
    const crossSite = await request(sim, 'POST', '/api/button', { down: true }, 'application/json', undefined, {
      origin: 'https://attacker.example'
    });
    assert.equal(crossSite.status, 403);
    assert.equal((await state(sim)).button.down, false);
  });

  it('no request can stop the simulator: odd paths, prototype names and bad escapes get 4xx', async () => {
    for (const path of [
      '//',
      '/vendor/constructor',
      '/vendor/__proto__',
      '/vendor/toString',
      '/recordings/%E0%A4%A/x.wav',
      '/recordings/../../package.json'
    ]) {
      const r = await request(sim, 'GET', path);
      assert.ok(r.status >= 400 && r.status < 500, `${path}: ${r.status}`);
    }
    for (const source of ['toString', '__proto__', 'constructor']) {
      const r = await request(sim, 'POST', '/api/audio', { source });
      assert.equal(r.status, 400, source);
    }
    assert.equal((await request(sim, 'GET', '/api/state')).status, 200, 'still serving');
  });

  it('shows the unit standing by: both paths up and reporting, mains on, the 305 acknowledged', async () => {
    const s = await until('the boot report at the centre', async () => {
      const x = await state(sim);
      return x.centre.some((c: { what: string; reply: string }) => /CID 1 305/.test(c.what) && c.reply === 'ACK') && x;
    });
    assert.equal(s.alarm.mode, 'idle');
    assert.deepEqual(
      s.paths.map((p: { name: string; role: string; up: boolean; reporting: boolean }) => [
        p.name,
        p.role,
        p.up,
        p.reporting
      ]),
      [
        ['wifi', 'primary', true, true],
        ['cellular', 'secondary', true, true]
      ]
    );
    assert.equal(s.power.mains, true);
    assert.equal(s.unit.holdMs, 1500);
  });

  it('refuses bad requests with a reason and changes nothing', async () => {
    const before = await state(sim);
    const cases: [string, unknown, string, RegExp][] = [
      ['/api/button', '{not json', 'application/json', /not JSON/],
      ['/api/button', { down: 'yes' }, 'application/json', /"down" must be true or false/],
      ['/api/path', { path: 'ethernet', up: false }, 'application/json', /"path" must be "wifi" or "cellular"/],
      ['/api/power', { battery: 'flat' }, 'application/json', /"battery" must be "ok" or "low"/],
      ['/api/power', {}, 'application/json', /give "mains" or "battery"/],
      ['/api/audio', { source: 'radio' }, 'application/json', /"source" must be one of/],
      ['/api/audio/wav', Buffer.from('RIFF....WAVEnope'), 'application/octet-stream', /not a usable WAV file/],
      ['/api/audio/wav', Buffer.alloc(0), 'application/octet-stream', /no audio/],
      ['/api/centre/stop', { rid: '9999' }, 'application/json', /no recording 9999/],
      ['/api/button', [true], 'application/json', /must be a JSON object/]
    ];
    for (const [path, body, type, why] of cases) {
      const r = await request(sim, 'POST', path, body as object, type);
      assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.match(r.json().error, why);
    }
    assert.equal((await request(sim, 'POST', '/api/nothing', {})).status, 404);
    const big = await request(
      sim,
      'POST',
      '/api/audio/pcm',
      Buffer.alloc(3 * 1024 * 1024, 128),
      'application/octet-stream'
    );
    assert.equal(big.status, 413, 'an oversize body is refused with a reply');
    assert.match(big.json().error, /body over/);
    const after = await state(sim);
    assert.deepEqual(
      after.paths.map((p: { up: boolean }) => p.up),
      before.paths.map((p: { up: boolean }) => p.up)
    );
    assert.equal(after.power.battery, before.power.battery);
    assert.equal(after.audio.source, before.audio.source);
    assert.equal(after.alarm.triggers, before.alarm.triggers);
  });

  it('a short tap raises nothing; a held press reaches the centre, is acknowledged and starts a recording', async () => {
    await hold(sim, 300);
    await sleep(2500);
    let s = await state(sim);
    assert.equal(s.alarm.triggers, 0, 'a tap must not raise an alarm');
    assert.equal(panics(s).length, 0);

    await hold(sim, 2000);
    s = await until('the panic acknowledged', async () => {
      const x = await state(sim);
      const acked = panics(x).filter((c: { reply: string }) => c.reply === 'ACK');
      return acked.length >= 2 && x;
    });
    // An urgent event goes on both routes at once, under one number.
    const copies = panics(s).filter((c: { reply: string }) => c.reply === 'ACK');
    assert.deepEqual(copies.map((c: { receiver: string }) => c.receiver).sort(), ['primary', 'secondary']);
    assert.equal(copies[0].seq, copies[1].seq);
    const p = copies[0];
    assert.equal(p.encrypted, true);
    assert.equal(s.alarm.mode, 'alarm');
    assert.equal(s.alarm.triggers, 1);
    assert.ok(
      s.journal.some((r: { k: string; fields: string }) => r.k === 'ev' && /120/.test(r.fields)),
      'the event is in the journal'
    );
    assert.ok(s.journal[0].i > s.journal[s.journal.length - 1].i, 'journal newest first');
    await until('the recording at the evidence server', async () => (await state(sim)).recordings.length > 0);
  });

  it('streams state as server-sent events, and the indicator confirms the acknowledgement', async () => {
    const events: { event: string; data: string }[] = [];
    const res = await new Promise<http.IncomingMessage>((r) =>
      http.get({ host: '127.0.0.1', port: sim.port, path: '/api/events' }, r)
    );
    assert.match(String(res.headers['content-type']), /text\/event-stream/);
    let buf = '';
    res.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (\w+)$/m.exec(block);
        const data = /^data: (.*)$/m.exec(block);
        if (ev && data) events.push({ event: ev[1], data: data[1] });
      }
    });
    try {
      await until('a state event', async () => events.some((e) => e.event === 'state'));
      const first = JSON.parse(events.find((e) => e.event === 'state')!.data);
      assert.ok(panics(first).length >= 1, 'the stream carries the centre console');
      await until('a level event from the tone', async () =>
        events.some((e) => e.event === 'level' && Number(e.data) > 40)
      );
      // Cut mains: the next state event shows it.
      const n = events.length;
      assert.equal((await request(sim, 'POST', '/api/power', { mains: false })).status, 200);
      await until('mains off in the stream', async () =>
        events.slice(n).some((e) => e.event === 'state' && JSON.parse(e.data).power.mains === false)
      );
      assert.equal((await request(sim, 'POST', '/api/power', { mains: true })).status, 200);
      // The indicator blinks after the ACK (confirm: blink): each time it lights is counted, so a
      // blink shorter than one push still reaches the page.
      const flashes = (await state(sim)).indicator.flashes;
      const acks = panics(await state(sim)).length;
      await hold(sim, 2000);
      await until('the new alarm acknowledged', async () => panics(await state(sim)).length > acks);
      await until('the indicator lit again', async () =>
        events.some((e) => e.event === 'state' && JSON.parse(e.data).indicator.flashes > flashes)
      );
    } finally {
      res.destroy();
      // The server releases a held button when the last page goes; let it see this one go first.
      await until('the stream closed at the server', async () => sim.pages() === 0, 3000);
    }
  });

  it('with the primary path cut, the next alarm goes out on the secondary', async () => {
    assert.equal((await request(sim, 'POST', '/api/path', { path: 'wifi', up: false })).status, 200);
    const before = panics(await state(sim)).length;
    await hold(sim, 2000);
    let last: any;
    const s = await until('a panic via the secondary', async () => {
      const x = (last = await state(sim));
      return panics(x).length > before && x;
    }).catch((e) => {
      throw new Error(
        `${e.message}: ${JSON.stringify({ alarm: last.alarm, centre: last.centre.slice(0, 4), journal: last.journal.slice(0, 6) })}`
      );
    });
    const latest = panics(s)[0];
    assert.equal(latest.receiver, 'secondary');
    assert.equal(latest.transport, 'udp');
    assert.equal(latest.reply, 'ACK');
    assert.equal(s.paths[0].up, false);
    // The recording the alarm runs goes on over cellular while Wi-Fi is cut.
    const cell0 = s.upload.cellularBytes;
    await until('evidence over cellular', async () => (await state(sim)).upload.cellularBytes > cell0 + 4000);
    assert.equal((await request(sim, 'POST', '/api/path', { path: 'wifi', up: true })).status, 200);
  });

  it('takes a WAV file and browser samples as the room sound, and switches generators', async () => {
    const tone = new Uint8Array(16000);
    for (let i = 0; i < tone.length; i++) tone[i] = 128 + Math.round(100 * Math.sin(i / 3));
    const r = await request(sim, 'POST', '/api/audio/wav', encodeWav(tone, 16000), 'application/octet-stream');
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().seconds, 1, '16,000 samples at 16 kHz: one second, resampled to the unit rate');
    const pcm = await request(sim, 'POST', '/api/audio/pcm', Buffer.alloc(800, 200), 'application/octet-stream');
    assert.deepEqual(pcm.json(), { ok: true, samples: 800 });
    assert.equal((await request(sim, 'POST', '/api/audio', { source: 'silence' })).status, 200);
    await until('a silent room', async () => sim.unit.sim.world.mic.level() === 0);
    assert.equal((await state(sim)).audio.source, 'silence');
    assert.equal((await request(sim, 'POST', '/api/audio', { source: 'tone' })).status, 200);
  });

  it('a receiver told to NAK or DUH the next frame does so, the console shows it, and the unit still gets the event through', async () => {
    assert.equal(
      (await request(sim, 'POST', '/api/centre/fault', { receiver: 'primary', fault: 'bogus' })).status,
      400
    );
    assert.equal((await request(sim, 'POST', '/api/centre/fault', { receiver: 'primary', fault: 'duh' })).status, 200);
    const before = panics(await state(sim)).length;
    await hold(sim, 2000);
    const s = await until(
      'a DUH then an ACK for the new panic',
      async () => {
        const x = await state(sim);
        const fresh = panics(x).slice(0, panics(x).length - before);
        return (
          fresh.some((c: { reply: string }) => c.reply === 'DUH') &&
          fresh.some((c: { reply: string }) => c.reply === 'ACK') &&
          x
        );
      },
      20_000
    );
    assert.ok(s.centre.some((c: { reply: string }) => c.reply === 'DUH'));
  });

  it('a receiver set to behave as one in the field (one extended-data block only) refuses the full panic, and the unit still gets it through', async () => {
    assert.equal(
      (await request(sim, 'POST', '/api/centre/profile', { receiver: 'primary', profile: ['bogus'] })).status,
      400
    );
    assert.equal(
      (await request(sim, 'POST', '/api/centre/profile', { receiver: 'primary', profile: 'one-xdata' })).status,
      400
    );
    const set = await request(sim, 'POST', '/api/centre/profile', { receiver: 'primary', profile: ['one-xdata'] });
    assert.deepEqual(set.json(), { ok: true, profile: ['one-xdata'] });
    assert.deepEqual((await state(sim)).profiles.primary, ['one-xdata']);
    const seen = new Set(panics(await state(sim)).map((c: { seq: string }) => c.seq));
    const isNew = (c: { seq: string; receiver: string }) => !seen.has(c.seq) && c.receiver === 'primary';
    await sleep(2500); // the last test's hold is let go first
    await hold(sim, 2000);
    // (The DUH above already taught the unit that the primary takes one block: it may not need the NAK.)
    const s = await until(
      'the primary ACKs the panic with one block',
      async () => {
        const x = await state(sim);
        return (
          panics(x)
            .filter(isNew)
            .some((c: { reply: string }) => c.reply === 'ACK') && x
        );
      },
      20_000
    );
    const fresh = panics(s).filter(isNew);
    for (const c of fresh) {
      const blocks = (c.what.match(/\[/g) ?? []).length;
      assert.equal(c.reply, blocks > 1 ? 'NAK' : 'ACK', `more than one block is refused, one is taken: ${c.what}`);
    }
    await request(sim, 'POST', '/api/centre/profile', { receiver: 'primary', profile: [] });
  });

  it('the centre operator stops the recording; it is verified and served as WAV', async () => {
    const rid = (await state(sim)).recordings[0].rid;
    assert.equal((await request(sim, 'POST', '/api/centre/stop', { rid })).status, 200);
    const s = await until(
      'the final, verified recording',
      async () => {
        const x = await state(sim);
        const r = x.recordings.find((y: { rid: string }) => y.rid === rid);
        return r && r.final && r.verified && r;
      },
      30_000
    );
    assert.equal(s.signature, 'valid');
    assert.equal(s.gaps, 0);
    assert.ok(s.durationS > 3);
    const wav = await request(sim, 'GET', s.url);
    assert.equal(wav.status, 200);
    assert.equal(wav.type, 'audio/wav');
    assert.equal(wav.body.toString('ascii', 0, 4), 'RIFF');
    assert.equal((await request(sim, 'GET', '/recordings/SIM-0001/nope.wav')).status, 404);
  });

  it('button requests from a page are taken in order: a press arriving after its release is ignored', async () => {
    const triggers = (await state(sim)).alarm.triggers;
    assert.deepEqual((await request(sim, 'POST', '/api/button', { down: false, seq: 2, page: 'p1' })).json(), {
      ok: true
    });
    assert.deepEqual((await request(sim, 'POST', '/api/button', { down: true, seq: 1, page: 'p1' })).json(), {
      ok: true,
      ignored: 'out of order'
    });
    assert.equal(sim.unit.sim.world.button.isDown(), false, 'the late press did not hold the button');
    await sleep(2500);
    assert.equal((await state(sim)).alarm.triggers, triggers, 'no alarm from a reordered tap');
    assert.equal((await request(sim, 'POST', '/api/button', { down: true, seq: 'x', page: 'p1' })).status, 400);
  });

  it('a page that goes away while holding the button releases it, even with another page open', async () => {
    const other = await new Promise<http.IncomingMessage>((r) =>
      http.get({ host: '127.0.0.1', port: sim.port, path: '/api/events?page=watcher' }, r)
    );
    const presser = await new Promise<http.IncomingMessage>((r) =>
      http.get({ host: '127.0.0.1', port: sim.port, path: '/api/events?page=presser' }, r)
    );
    await until('both pages connected', async () => sim.pages() === 2, 3000);
    assert.equal((await request(sim, 'POST', '/api/button', { down: true, seq: 1, page: 'presser' })).status, 200);
    assert.equal(sim.unit.sim.world.button.isDown(), true);
    presser.destroy();
    await until('the button released', async () => !sim.unit.sim.world.button.isDown(), 3000);
    other.destroy();
    await until('no pages', async () => sim.pages() === 0, 3000);
  });

  it('the last page going away releases a button held by an unnamed client', async () => {
    const res = await new Promise<http.IncomingMessage>((r) =>
      http.get({ host: '127.0.0.1', port: sim.port, path: '/api/events' }, r)
    );
    assert.equal((await request(sim, 'POST', '/api/button', { down: true })).status, 200);
    assert.equal(sim.unit.sim.world.button.isDown(), true);
    await until('the page connected', async () => sim.pages() === 1, 3000);
    res.destroy();
    await until('the button released', async () => !sim.unit.sim.world.button.isDown(), 3000);
  });

  describe('WAV uploads are bounded (issue #19): refused with a reason before any work, never a 500', () => {
    const sound = () => sim.unit.sim.world.sound;
    /** Empties the room's queue (what the unit would hear over the next minutes). */
    const drain = () => sound().fill(new Uint8Array(sound().backlog()));
    const wav = (body: Buffer) => request(sim, 'POST', '/api/audio/wav', body, 'application/octet-stream');
    /** The state request answered within `ms` while `during` runs, and again after it. */
    async function stillQuick<T>(during: Promise<T>, ms = 500): Promise<T> {
      const t0 = performance.now();
      const [r] = await Promise.all([
        during,
        state(sim).then(() =>
          assert.ok(performance.now() - t0 < ms, `state during: ${Math.round(performance.now() - t0)} ms`)
        )
      ]);
      const t1 = performance.now();
      assert.ok((await state(sim)).unit.id, 'state answered');
      assert.ok(performance.now() - t1 < ms, `state after: ${Math.round(performance.now() - t1)} ms`);
      return r;
    }
    let loop: ReturnType<typeof monitorEventLoopDelay>;
    /** The length of every batch of samples queued for the room during the test. */
    let fed: number[] = [];
    const feed = SimSound.prototype.feed;
    beforeEach(() => {
      drain();
      fed = [];
      const s = sound();
      s.feed = (x: Uint8Array) => (fed.push(x.length), feed.call(s, x));
      loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
    });
    afterEach(() => {
      loop.disable();
      sound().feed = feed;
      drain();
    });
    const assertLoopFree = (ms = 250) =>
      assert.ok(loop.max / 1e6 < ms, `the event loop was blocked for ${Math.round(loop.max / 1e6)} ms`);

    it('a sample rate of 0 Hz or 8 Hz gets 400 with the reason, and nothing is queued', async () => {
      const samples = Buffer.alloc(1000, 200);
      const cases: [number, RegExp][] = [
        [0, /sample rate is 0 Hz/],
        [8, /sample rate 8 Hz is outside 4000-96000 Hz/],
        [3999, /sample rate 3999 Hz is outside 4000-96000 Hz/],
        [96001, /sample rate 96001 Hz is outside/],
        [0xffffffff, /sample rate 4294967295 Hz is outside/]
      ];
      for (const [rate, why] of cases) {
        const r = await stillQuick(wav(riff(fmt({ rate }), chunk('data', samples))));
        assert.equal(r.status, 400, `${rate} Hz: ${r.body}`);
        assert.match(r.json().error, /^not a usable WAV file: /);
        assert.match(r.json().error, why);
        assert.deepEqual(fed, [], `${rate} Hz: nothing queued`);
      }
      // The ends of the range are taken: 1000 samples at 4 kHz are 2000 at the unit's 8 kHz.
      const low = await wav(riff(fmt({ rate: 4000 }), chunk('data', samples)));
      assert.deepEqual([low.status, low.json().seconds], [200, 0.3]);
      assert.equal((await wav(riff(fmt({ rate: 96000 }), chunk('data', Buffer.alloc(9600, 200))))).json().seconds, 0.1);
      assert.deepEqual(fed, [2000, 800]);
      assertLoopFree();
    });

    it('malformed headers get 400 naming what is wrong: truncated, missing or repeated fmt, odd sizes, EXTENSIBLE, 0 channels, 0/7/24/64 bits', async () => {
      const good = riff(fmt(), chunk('data', Buffer.alloc(800, 200)));
      const cases: [string, Buffer, RegExp][] = [
        ['8 bytes', good.subarray(0, 8), /not a RIFF\/WAVE file/],
        ['RIFF and WAVE only', good.subarray(0, 12), /no fmt chunk/],
        ['cut inside the fmt chunk header', good.subarray(0, 18), /no fmt chunk/],
        ['cut inside the fmt chunk', good.subarray(0, 30), /fmt chunk is cut short/],
        ['cut after the fmt chunk', good.subarray(0, 36), /no data chunk/],
        ['cut inside the data chunk header', good.subarray(0, 40), /no data chunk/],
        ['no fmt chunk', riff(chunk('data', Buffer.alloc(800, 200))), /no fmt chunk before its data chunk/],
        ['two fmt chunks', riff(fmt(), fmt({ rate: 16000 }), chunk('data', Buffer.alloc(8))), /two fmt chunks/],
        [
          'fmt chunk of 14 bytes',
          riff(chunk('fmt ', fmt().subarray(8, 22)), chunk('data', Buffer.alloc(8))),
          /fmt chunk is 14 bytes; at least 16/
        ],
        [
          'a chunk running past the end before fmt',
          riff(chunk('LIST', Buffer.alloc(4), 0xfffffff0), fmt(), chunk('data', Buffer.alloc(8))),
          /no fmt chunk/
        ],
        ['0 channels', riff(fmt({ channels: 0 }), chunk('data', Buffer.alloc(8))), /0 channels; the unit records mono/],
        ['stereo', riff(fmt({ channels: 2 }), chunk('data', Buffer.alloc(8))), /2 channels/],
        ['0-bit', riff(fmt({ bits: 0 }), chunk('data', Buffer.alloc(8))), /0-bit samples; 8 or 16 supported/],
        ['7-bit', riff(fmt({ bits: 7 }), chunk('data', Buffer.alloc(8))), /7-bit samples/],
        ['24-bit', riff(fmt({ bits: 24 }), chunk('data', Buffer.alloc(9))), /24-bit samples/],
        ['64-bit', riff(fmt({ bits: 64 }), chunk('data', Buffer.alloc(16))), /64-bit samples/],
        [
          'IEEE float',
          riff(fmt({ format: 3, bits: 32 }), chunk('data', Buffer.alloc(16))),
          /format 3 \(IEEE float\) is not PCM/
        ],
        [
          'EXTENSIBLE float',
          riff(fmt({ sub: 3, bits: 32 }), chunk('data', Buffer.alloc(16))),
          /format 3 \(IEEE float\) is not PCM/
        ],
        [
          'EXTENSIBLE, unknown GUID',
          riff(
            chunk('fmt ', Buffer.concat([fmt({ sub: 1 }).subarray(8, 36), Buffer.alloc(12, 0xee)])),
            chunk('data', Buffer.alloc(8))
          ),
          /unknown sub-format/
        ],
        [
          'EXTENSIBLE without its extension',
          riff(
            chunk('fmt ', Buffer.concat([Buffer.from([0xfe, 0xff]), fmt().subarray(10, 24)])),
            chunk('data', Buffer.alloc(8))
          ),
          /EXTENSIBLE\) is 16 bytes; 40 needed/
        ],
        ['EXTENSIBLE, cut short', riff(fmt({ sub: 1 })).subarray(0, 50), /EXTENSIBLE\) is cut short/],
        ['an empty data chunk', riff(fmt(), chunk('data', Buffer.alloc(0))), /holds no samples/],
        ['one byte of 16-bit data', riff(fmt({ bits: 16 }), chunk('data', Buffer.alloc(1))), /holds no samples/]
      ];
      for (const [what, body, why] of cases) {
        const r = await stillQuick(wav(body));
        assert.equal(r.status, 400, `${what}: ${r.status} ${r.body}`);
        assert.match(r.json().error, /^not a usable WAV file: /, what);
        assert.match(r.json().error, why, what);
      }
      assert.deepEqual(fed, [], 'nothing queued');
      // Every truncation of a good 16-bit file, and every header byte set to odd values: a 4xx or
      // a 200, never a 500.
      const good16 = riff(fmt({ bits: 16, rate: 16000 }), chunk('data', pcm16([1000, -1000, 2000, -2000])));
      for (let n = 1; n < good16.length; n++) {
        const r = await wav(good16.subarray(0, n));
        // Under 48 bytes there is not one whole sample at the unit's rate (2 at 16 kHz make 1 at 8 kHz).
        assert.ok(n < 48 ? r.status === 400 : r.status === 200, `${n} bytes: ${r.status} ${r.body}`);
      }
      for (let at = 0; at < 44; at++) {
        for (const v of [0, 1, 7, 0x7f, 0xff]) {
          const b = Buffer.from(good);
          b[at] = v;
          const r = await wav(b);
          assert.ok([200, 400, 413].includes(r.status), `byte ${at} = ${v}: ${r.status} ${r.body}`);
        }
      }
      assert.equal((await request(sim, 'GET', '/api/state')).status, 200, 'still serving');
      assertLoopFree();
    });

    it('odd but sound files are taken: an odd-sized chunk before fmt, a data length past the end, WAVE_FORMAT_EXTENSIBLE PCM, an odd 16-bit tail', async () => {
      const samples = Buffer.alloc(800, 200);
      const cases: [string, Buffer, number][] = [
        [
          'odd-sized LIST chunk (padded) before fmt',
          riff(chunk('LIST', Buffer.from('abc')), fmt(), chunk('data', samples)),
          800
        ],
        // A recorder that never went back to fix the length: the data runs to the end of the file.
        [
          'data length 0xFFFFFFFF',
          Buffer.concat([riff(fmt()), chunk('data', Buffer.alloc(0), 0xffffffff), samples]),
          800
        ],
        [
          'data length past the end',
          Buffer.concat([riff(fmt()), chunk('data', Buffer.alloc(0), 100_000), samples]),
          800
        ],
        [
          'EXTENSIBLE PCM 16-bit at 16 kHz',
          riff(fmt({ sub: 1, bits: 16, rate: 16000 }), chunk('data', pcm16(new Array(1600).fill(9000)))),
          800
        ],
        [
          '16-bit with an odd byte at the end',
          riff(fmt({ bits: 16 }), chunk('data', Buffer.concat([pcm16(new Array(800).fill(9000)), Buffer.from([1])]))),
          800
        ]
      ];
      for (const [what, body, n] of cases) {
        fed = [];
        const r = await wav(body);
        assert.equal(r.status, 200, `${what}: ${r.body}`);
        assert.equal(r.json().seconds, 0.1, what);
        assert.deepEqual(fed, [n], `${what}: ${n} samples queued`);
      }
      assertLoopFree();
    });

    it('a WAV over 5 minutes gets 413 from its header alone; more than 10 minutes waiting in all gets 413; the largest taken does not block', async () => {
      // 8-bit at 4 kHz: 1,204,000 bytes are 301 s. The header says so before anything is decoded.
      const long = riff(fmt({ rate: 4000 }), chunk('data', Buffer.alloc(301 * 4000, 200)));
      const r = await stillQuick(wav(long));
      assert.equal(r.status, 413, String(r.body));
      assert.match(r.json().error, /WAV too long: 301 s; at most 300 s/);
      assert.deepEqual(fed, [], 'nothing queued');
      // 300 s is the longest taken (2.4 million samples after resampling), answered at once.
      const t0 = performance.now();
      const max = await stillQuick(wav(riff(fmt({ rate: 4000 }), chunk('data', Buffer.alloc(300 * 4000, 200)))));
      assert.deepEqual([max.status, max.json().seconds], [200, 300]);
      assert.ok(performance.now() - t0 < 1000, `the longest WAV took ${Math.round(performance.now() - t0)} ms`);
      const more = await wav(riff(fmt({ rate: 4000 }), chunk('data', Buffer.alloc(200 * 4000, 200))));
      assert.deepEqual([more.status, more.json().seconds], [200, 200]);
      // About 500 s wait to be heard: 200 s more would pass 600 s, by WAV or by browser packets.
      const full = await stillQuick(wav(riff(fmt({ rate: 4000 }), chunk('data', Buffer.alloc(200 * 4000, 200)))));
      assert.equal(full.status, 413, String(full.body));
      assert.match(full.json().error, /too much audio waiting: \d+(\.\d)? s queued, and 200 s more would pass 600 s/);
      const pcm = await request(
        sim,
        'POST',
        '/api/audio/pcm',
        Buffer.alloc(200 * 8000, 128),
        'application/octet-stream'
      );
      assert.equal(pcm.status, 413, String(pcm.body));
      assert.match(pcm.json().error, /too much audio waiting/);
      assert.deepEqual(fed, [300 * 8000, 200 * 8000], 'only the two that fit were queued');
      assert.ok(sound().backlog() <= 600 * 8000, 'the queue stays within 10 minutes');
      assertLoopFree();
    });

    it('after the refusals a good WAV is still taken and heard', async () => {
      // A full-scale square wave at 16 kHz 16-bit: the tone reads 80 peak to peak, this reads 255.
      const square = pcm16(Array.from({ length: 16000 }, (_, i) => ((i >> 3) & 1 ? 32767 : -32768)));
      const r = await stillQuick(wav(riff(fmt({ bits: 16, rate: 16000 }), chunk('data', square))));
      assert.equal(r.status, 200, String(r.body));
      assert.equal(r.json().seconds, 1);
      assert.deepEqual(fed, [8000], "one second at the unit's 8 kHz queued");
      await until('the WAV heard at the microphone', async () => sim.unit.sim.world.mic.level() >= 250, 3000);
      await until('the WAV played out', async () => sound().backlog() === 0, 3000);
      assertLoopFree();
    });
  });
});
