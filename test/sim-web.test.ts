/**
 * The simulator page's server (sim/web/server.ts): its API drives the real firmware on the sim HAL,
 * with the lab centre and evidence server behind it, on real timers.
 */
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import { startWebSim, WebSim } from '../sim/web/server';
import { encodeWav } from '../sim/wav';

interface Reply {
  status: number;
  type: string;
  body: Buffer;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function request(sim: WebSim, method: string, path: string, body?: Buffer | string | object, type = 'application/json', host?: string, extra: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request(
      { host: '127.0.0.1', port: sim.port, method, path, headers: { ...(data ? { 'content-type': type } : {}), ...(host ? { host } : {}), ...extra } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d) => parts.push(d));
        res.on('end', () => {
          const b = Buffer.concat(parts);
          resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body: b, json: () => JSON.parse(b.toString('utf8')) });
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

// eslint-disable-next-line @typescript-eslint/no-explicit-any
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
    assert.ok(hooks.includes('"/vendor/preact.mjs"') && !/from\s*"preact"/.test(hooks), 'hooks import the served preact');
    const app = (await request(sim, 'GET', '/app.js')).body.toString();
    assert.ok(!/https?:\/\//.test(app), 'the script loads nothing from elsewhere');
    const headers = await new Promise<http.IncomingHttpHeaders>((r) => http.get({ host: '127.0.0.1', port: sim.port, path: '/' }, (res) => (res.resume(), r(res.headers))));
    assert.match(String(headers['content-security-policy']), /default-src 'self'/);
    assert.match(String(headers['content-security-policy']), /frame-ancestors 'none'/, 'no other site may frame the page');
    assert.equal((await request(sim, 'GET', '/../package.json')).status, 404);
    assert.equal((await request(sim, 'GET', '/nothing.html')).status, 404);
  });

  it('answers only requests addressed to 127.0.0.1 (no DNS rebinding) and only JSON posts (no cross-site forms)', async () => {
    const foreign = await request(sim, 'GET', '/api/state', undefined, undefined, 'attacker.example:80');
    assert.equal(foreign.status, 421);
    const form = await request(sim, 'POST', '/api/button', 'down=true', 'application/x-www-form-urlencoded');
    assert.equal(form.status, 400);
    assert.match(form.json().error, /JSON/);
    const crossSite = await request(sim, 'POST', '/api/button', { down: true }, 'application/json', undefined, { origin: 'https://attacker.example' });
    assert.equal(crossSite.status, 403);
    assert.equal((await state(sim)).button.down, false);
  });

  it('no request can stop the simulator: odd paths, prototype names and bad escapes get 4xx', async () => {
    for (const path of ['//', '/vendor/constructor', '/vendor/__proto__', '/vendor/toString', '/recordings/%E0%A4%A/x.wav', '/recordings/../../package.json']) {
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
      s.paths.map((p: { name: string; role: string; up: boolean; reporting: boolean }) => [p.name, p.role, p.up, p.reporting]),
      [['wifi', 'primary', true, true], ['cellular', 'secondary', true, true]]
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
    const big = await request(sim, 'POST', '/api/audio/pcm', Buffer.alloc(3 * 1024 * 1024, 128), 'application/octet-stream');
    assert.equal(big.status, 413, 'an oversize body is refused with a reply');
    assert.match(big.json().error, /body over/);
    const after = await state(sim);
    assert.deepEqual(after.paths.map((p: { up: boolean }) => p.up), before.paths.map((p: { up: boolean }) => p.up));
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
      return panics(x).some((c: { reply: string }) => c.reply === 'ACK') && x;
    });
    const p = panics(s)[0];
    assert.equal(p.receiver, 'primary');
    assert.equal(p.encrypted, true);
    assert.equal(s.alarm.mode, 'alarm');
    assert.equal(s.alarm.triggers, 1);
    assert.ok(s.journal.some((r: { k: string; fields: string }) => r.k === 'ev' && /120/.test(r.fields)), 'the event is in the journal');
    assert.ok(s.journal[0].i > s.journal[s.journal.length - 1].i, 'journal newest first');
    await until('the recording at the evidence server', async () => (await state(sim)).recordings.length > 0);
  });

  it('streams state as server-sent events, and the indicator confirms the acknowledgement', async () => {
    const events: { event: string; data: string }[] = [];
    const res = await new Promise<http.IncomingMessage>((r) => http.get({ host: '127.0.0.1', port: sim.port, path: '/api/events' }, r));
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
      await until('a level event from the tone', async () => events.some((e) => e.event === 'level' && Number(e.data) > 40));
      // Cut mains: the next state event shows it.
      const n = events.length;
      assert.equal((await request(sim, 'POST', '/api/power', { mains: false })).status, 200);
      await until('mains off in the stream', async () => events.slice(n).some((e) => e.event === 'state' && JSON.parse(e.data).power.mains === false));
      assert.equal((await request(sim, 'POST', '/api/power', { mains: true })).status, 200);
      // The indicator blinks after the ACK (confirm: blink): each time it lights is counted, so a
      // blink shorter than one push still reaches the page.
      const flashes = (await state(sim)).indicator.flashes;
      const acks = panics(await state(sim)).length;
      await hold(sim, 2000);
      await until('the new alarm acknowledged', async () => panics(await state(sim)).length > acks);
      await until('the indicator lit again', async () => events.some((e) => e.event === 'state' && JSON.parse(e.data).indicator.flashes > flashes));
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
    let last: any; // eslint-disable-line @typescript-eslint/no-explicit-any
    const s = await until('a panic via the secondary', async () => {
      const x = (last = await state(sim));
      return panics(x).length > before && x;
    }).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify({ alarm: last.alarm, centre: last.centre.slice(0, 4), journal: last.journal.slice(0, 6) })}`);
    });
    const latest = panics(s)[0];
    assert.equal(latest.receiver, 'secondary');
    assert.equal(latest.transport, 'udp');
    assert.equal(latest.reply, 'ACK');
    assert.equal(s.paths[0].up, false);
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
    assert.equal((await request(sim, 'POST', '/api/centre/fault', { receiver: 'primary', fault: 'bogus' })).status, 400);
    assert.equal((await request(sim, 'POST', '/api/centre/fault', { receiver: 'primary', fault: 'duh' })).status, 200);
    const before = panics(await state(sim)).length;
    await hold(sim, 2000);
    const s = await until('a DUH then an ACK for the new panic', async () => {
      const x = await state(sim);
      const fresh = panics(x).slice(0, panics(x).length - before);
      return fresh.some((c: { reply: string }) => c.reply === 'DUH') && fresh.some((c: { reply: string }) => c.reply === 'ACK') && x;
    }, 20_000);
    assert.ok(s.centre.some((c: { reply: string }) => c.reply === 'DUH'));
  });

  it('the centre operator stops the recording; it is verified and served as WAV', async () => {
    const rid = (await state(sim)).recordings[0].rid;
    assert.equal((await request(sim, 'POST', '/api/centre/stop', { rid })).status, 200);
    const s = await until('the final, verified recording', async () => {
      const x = await state(sim);
      const r = x.recordings.find((y: { rid: string }) => y.rid === rid);
      return r && r.final && r.verified && r;
    }, 30_000);
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
    assert.deepEqual((await request(sim, 'POST', '/api/button', { down: false, seq: 2, page: 'p1' })).json(), { ok: true });
    assert.deepEqual((await request(sim, 'POST', '/api/button', { down: true, seq: 1, page: 'p1' })).json(), { ok: true, ignored: 'out of order' });
    assert.equal(sim.unit.sim.world.button.isDown(), false, 'the late press did not hold the button');
    await sleep(2500);
    assert.equal((await state(sim)).alarm.triggers, triggers, 'no alarm from a reordered tap');
    assert.equal((await request(sim, 'POST', '/api/button', { down: true, seq: 'x', page: 'p1' })).status, 400);
  });

  it('a page that goes away while holding the button releases it, even with another page open', async () => {
    const other = await new Promise<http.IncomingMessage>((r) => http.get({ host: '127.0.0.1', port: sim.port, path: '/api/events?page=watcher' }, r));
    const presser = await new Promise<http.IncomingMessage>((r) => http.get({ host: '127.0.0.1', port: sim.port, path: '/api/events?page=presser' }, r));
    await until('both pages connected', async () => sim.pages() === 2, 3000);
    assert.equal((await request(sim, 'POST', '/api/button', { down: true, seq: 1, page: 'presser' })).status, 200);
    assert.equal(sim.unit.sim.world.button.isDown(), true);
    presser.destroy();
    await until('the button released', async () => !sim.unit.sim.world.button.isDown(), 3000);
    other.destroy();
    await until('no pages', async () => sim.pages() === 0, 3000);
  });

  it('the last page going away releases a button held by an unnamed client', async () => {
    const res = await new Promise<http.IncomingMessage>((r) => http.get({ host: '127.0.0.1', port: sim.port, path: '/api/events' }, r));
    assert.equal((await request(sim, 'POST', '/api/button', { down: true })).status, 200);
    assert.equal(sim.unit.sim.world.button.isDown(), true);
    await until('the page connected', async () => sim.pages() === 1, 3000);
    res.destroy();
    await until('the button released', async () => !sim.unit.sim.world.button.isDown(), 3000);
  });
});
