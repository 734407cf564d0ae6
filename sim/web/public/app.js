// The simulator page: state streams in as server-sent events; every control is a POST to the
// server's API (sim/web/server.ts). Preact + htm, served from the project's node_modules.
import { h, render } from '/vendor/preact.mjs';
import { useEffect, useRef, useState } from '/vendor/hooks.mjs';
import htm from '/vendor/htm.mjs';

const html = htm.bind(h);

async function post(path, body, type = 'application/json') {
  const r = await fetch(path, { method: 'POST', headers: { 'content-type': type }, body: type === 'application/json' ? JSON.stringify(body) : body });
  const reply = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(reply.error || `HTTP ${r.status}`);
  return reply;
}

const time = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

/** This page's name for the server: it releases the button if this page goes while holding it. */
const PAGE = Math.random().toString(36).slice(2, 10);

function useStream() {
  const [state, setState] = useState(undefined);
  const [level, setLevel] = useState(0);
  const [online, setOnline] = useState(false);
  useEffect(() => {
    const es = new EventSource('/api/events?page=' + PAGE);
    es.addEventListener('state', (e) => setState(JSON.parse(e.data)));
    es.addEventListener('level', (e) => setLevel(Number(e.data)));
    es.onopen = () => setOnline(true);
    es.onerror = () => setOnline(false);
    return () => es.close();
  }, []);
  return { state, level, online };
}

/**
 * Button edges go to the server one after another, numbered: a release can never overtake the
 * press it ends (the server also drops a request older than one it has seen from this page).
 */
let buttonQueue = Promise.resolve();
let buttonSeq = 0;
function sendButton(down, onError) {
  const body = { down, seq: ++buttonSeq, page: PAGE };
  buttonQueue = buttonQueue.then(() => post('/api/button', body)).catch(onError);
}

/** Hold-to-alarm: pointer (mouse, touch, pen) or Space/Enter held; a lost pointer, blur or focus loss releases. */
function PanicButton({ holdMs, down, onError }) {
  const held = useRef(false);
  const press = (d) => {
    if (held.current === d) return;
    held.current = d;
    sendButton(d, onError);
  };
  useEffect(() => {
    const up = () => press(false);
    window.addEventListener('blur', up);
    return () => window.removeEventListener('blur', up);
  }, []);
  return html`
    <button type="button" class=${'panic' + (down ? ' down' : '')} aria-describedby="panic-help"
      onPointerDown=${(e) => { if (e.button !== 0) return; e.currentTarget.setPointerCapture(e.pointerId); press(true); }}
      onPointerUp=${() => press(false)} onPointerCancel=${() => press(false)}
      onLostPointerCapture=${() => press(false)} onBlur=${() => press(false)}
      onKeyDown=${(e) => { if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) { e.preventDefault(); press(true); } }}
      onKeyUp=${(e) => { if (e.key === ' ' || e.key === 'Enter') { e.preventDefault(); press(false); } }}
      onContextMenu=${(e) => e.preventDefault()}>
      Panic
    </button>
    <p id="panic-help" class="hint">Hold for ${(holdMs / 1000).toFixed(1)} s (mouse, touch, or Space/Enter held down) to raise the alarm. A short tap does nothing. With a screen reader, pass the key through first (NVDA: NVDA+Space; JAWS: Insert+Z) so the hold reaches the button.</p>`;
}

/** The indicator as the unit shows it; a blink shorter than one state update is still drawn. */
function Indicator({ on, flashes, confirm }) {
  const [blink, setBlink] = useState(false);
  const seen = useRef(flashes);
  useEffect(() => {
    if (flashes === seen.current) return undefined;
    seen.current = flashes;
    setBlink(true);
    const t = setTimeout(() => setBlink(false), 250);
    return () => clearTimeout(t);
  }, [flashes]);
  const lit = on || blink;
  return html`<div class="indicator">
    <span class=${'led' + (lit ? ' on' : '')} aria-hidden="true"></span>
    <span>Indicator: <strong>${lit ? 'on' : 'off'}</strong></span>
    <span class="note">(blinks when the centre has acknowledged the alarm; ${confirm === 'off' ? 'confirmation is turned off' : 'otherwise dark'}; lit ${flashes} time(s) since start)</span>
  </div>`;
}

/**
 * A value the server owns, shown as the user set it until the server's state agrees (or the
 * request fails), so a control does not flick back while its request is on the way.
 */
function usePending(actual) {
  const [want, setWant] = useState(undefined);
  // Both clear the wish they were made for, not whatever is wished by the time they run: Preact
  // runs this effect after the next paint or first thing at the next render, so a click can come
  // in between, and a late refusal must not undo a newer choice either.
  useEffect(() => {
    if (want !== undefined && want === actual) setWant((w) => (w === actual ? undefined : w));
  }, [actual, want]);
  const set = (v, request) => {
    setWant(v);
    request().catch(() => setWant((w) => (w === v ? undefined : w)));
  };
  return [want === undefined ? actual : want, set];
}

function Switch({ id, label, checked, onChange, note }) {
  const [shown, set] = usePending(checked);
  return html`<div class="switch">
    <input type="checkbox" role="switch" id=${id} checked=${shown} onChange=${(e) => {
      const v = e.currentTarget.checked;
      set(v, () => onChange(v));
    }} />
    <label for=${id}>${label}</label>${note ? html` <span class="note">${note}</span>` : ''}
  </div>`;
}

function Unit({ s, onError }) {
  const a = s.alarm;
  const status = a.mode === 'alarm'
    ? `Alarm active${a.pending ? `: ${a.pending} event(s) waiting for the centre` : ': the centre has it'}`
    : a.pending ? `${a.pending} event(s) waiting for the centre` : 'Standing by';
  return html`<section aria-labelledby="unit-h">
    <h2 id="unit-h">The unit ${s.unit.id}</h2>
    <${PanicButton} holdMs=${s.unit.holdMs} down=${s.button.down} onError=${onError} />
    <${Indicator} on=${s.indicator.on} flashes=${s.indicator.flashes} confirm=${s.indicator.confirm} />
    <p role="status" aria-live="polite" class=${'status ' + a.mode}>${status}${a.recording ? `; recording ${a.recording}` : ''}</p>
    <p class="note">Alarms raised since boot: ${a.triggers}. Boots: ${s.unit.boots}. Account ${s.unit.account}, ${s.unit.format === 'sia' ? 'SIA-DCS' : 'ADM-CID'}.</p>
  </section>`;
}

function Links({ s, onError }) {
  return html`<section aria-labelledby="links-h">
    <h2 id="links-h">Paths to the centre</h2>
    <ul class="paths">
      ${s.paths.map((p) => html`<li key=${p.name}>
        <${Switch} id=${'path-' + p.name} label=${`${p.name === 'wifi' ? 'Wi-Fi' : 'Cellular'} (${p.role}) connected`} checked=${p.up}
          onChange=${(up) => post('/api/path', { path: p.name, up }).catch((e) => { onError(e); throw e; })} />
        <span class="note">${p.up ? `signal ${p.signal}%` : 'no link'}; the unit rates it <strong>${p.reporting ? 'working' : 'failed'}</strong>${!p.up && p.reporting ? ' (it has not noticed yet: it will at its next exchange)' : ''}</span>
      </li>`)}
    </ul>
  </section>`;
}

function Power({ s, onError }) {
  return html`<section aria-labelledby="power-h">
    <h2 id="power-h">Power and tamper</h2>
    <${Switch} id="mains" label="Mains connected" checked=${s.power.mains} onChange=${(v) => post('/api/power', { mains: v }).catch((e) => { onError(e); throw e; })} />
    <${Switch} id="battery" label="Battery low" checked=${s.power.battery === 'low'} note=${`${s.power.volts.toFixed(1)} V`}
      onChange=${(v) => post('/api/power', { battery: v ? 'low' : 'ok' }).catch((e) => { onError(e); throw e; })} />
    <${Switch} id="tamper" label="Case open (tamper)" checked=${s.tamper.open} onChange=${(v) => post('/api/tamper', { open: v }).catch((e) => { onError(e); throw e; })} />
  </section>`;
}

/**
 * The browser's microphone, sent to the unit as 8-bit samples at its rate every ~250 ms. Returns a
 * stop function (which also cancels a permission prompt still open). `onFail` runs if it cannot start.
 */
function startBrowserMic(rate, onError, onFail) {
  let stop = () => {};
  let cancelled = false;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    onFail(new Error("this browser offers no microphone here"));
    return () => {};
  }
  navigator.mediaDevices.getUserMedia({ audio: true }).then((stream) => {
    if (cancelled) {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    const ctx = new AudioContext();
    const src = ctx.createMediaStreamSource(stream);
    const node = ctx.createScriptProcessor(4096, 1, 1);
    let pending = [];
    let pos = 0;
    node.onaudioprocess = (e) => {
      const x = e.inputBuffer.getChannelData(0);
      const step = ctx.sampleRate / rate;
      for (; pos < x.length; pos += step) pending.push(Math.max(0, Math.min(255, Math.round(128 + x[Math.floor(pos)] * 127))));
      pos -= x.length;
    };
    const timer = setInterval(() => {
      if (!pending.length) return;
      const b = new Uint8Array(pending);
      pending = [];
      post('/api/audio/pcm', b, 'application/octet-stream').catch(onError);
    }, 250);
    src.connect(node);
    node.connect(ctx.destination);
    stop = () => {
      clearInterval(timer);
      stream.getTracks().forEach((t) => t.stop());
      ctx.close();
    };
  }, (e) => onFail(new Error(`the browser's microphone is not available (${e.message})`)));
  return () => {
    cancelled = true;
    stop();
  };
}

function Microphone({ s, level, onError }) {
  const stopMic = useRef(undefined);
  const [streaming, setStreaming] = useState(false);
  const stopStreaming = () => {
    if (stopMic.current) stopMic.current();
    stopMic.current = undefined;
    setStreaming(false);
  };

  const [shownSource, setSource] = usePending(s.audio.source);
  const startStreaming = () => {
    stopStreaming();
    setStreaming(true);
    stopMic.current = startBrowserMic(s.audio.rate, onError, (e) => {
      // No microphone: say so and go back to the tone, so the unit does not sit in silence.
      stopStreaming();
      onError(e);
      setSource('tone', () => post('/api/audio', { source: 'tone' }).catch((x) => { onError(x); throw x; }));
    });
  };
  const choose = (source) => {
    stopStreaming();
    setSource(source, () =>
      post('/api/audio', { source }).then(
        () => {
          if (source === 'browser') startStreaming();
        },
        (e) => {
          onError(e);
          throw e;
        }
      )
    );
  };
  const sources = [['tone', 'Tone generator (440 Hz)'], ['noise', 'Noise generator'], ['silence', 'Silence'], ['browser', "This browser's microphone"]];
  return html`<section aria-labelledby="mic-h">
    <h2 id="mic-h">Microphone</h2>
    <label for="level">Level</label>
    <meter id="level" min="0" max="255" low="20" high="200" value=${level}>${level}</meter>
    <span class="note">${Math.round((level / 255) * 100)}% peak to peak, ${s.audio.rate} Hz</span>
    <fieldset>
      <legend>Audio source</legend>
      ${sources.map(([k, label]) => html`<div key=${k}><input type="radio" name="source" id=${'src-' + k} checked=${shownSource === k} onChange=${() => choose(k)} /><label for=${'src-' + k}>${label}</label></div>`)}
    </fieldset>
    ${shownSource === 'browser' && !streaming ? html`<p><button type="button" onClick=${startStreaming}>Start this browser's microphone</button></p>` : ''}
    <label for="wav">Play a WAV file into the room (PCM mono): </label>
    <input type="file" id="wav" accept=".wav,audio/wav" onChange=${(e) => {
      const input = e.currentTarget;
      const f = input.files[0];
      // The server's refusal (e.g. "sample rate 8 Hz is outside 4000-96000 Hz") goes to the alert,
      // naming the file; the choice is cleared so picking the same file again tries again.
      if (f) {
        f.arrayBuffer().then((b) => post('/api/audio/wav', b, 'application/octet-stream'))
          .catch((x) => onError(new Error(`${f.name}: ${x.message}`)))
          .finally(() => { input.value = ''; });
      }
    }} />
  </section>`;
}

function Centre({ s, onError }) {
  const live = s.recordings.filter((r) => !r.final);
  return html`<section aria-labelledby="centre-h" class="wide">
    <h2 id="centre-h">Monitoring centre console</h2>
    ${live.map((r) => html`<button type="button" key=${r.rid} onClick=${() => post('/api/centre/stop', { rid: r.rid }).catch(onError)}>Police on site: stop recording ${r.rid}</button>`)}
    <fieldset>
      <legend>Make a receiver answer its next frame with…</legend>
      ${['primary', 'secondary'].map((rc) => html`<div key=${rc} class="faults">
        <span>${rc}:</span>
        ${[['nak', 'NAK (timestamp refused)'], ['duh', 'DUH (not understood)'], ['silent', 'no answer']].map(([f, label]) => html`<button type="button" key=${f}
          aria-label=${`${rc} receiver: answer the next frame with ${label}`} onClick=${() => post('/api/centre/fault', { receiver: rc, fault: f }).catch(onError)}>${label}</button>`)}
      </div>`)}
    </fieldset>
    ${['primary', 'secondary'].map((rc) => html`<fieldset key=${'p-' + rc} class="profile">
      <legend>${rc} receiver behaves as receivers in the field do</legend>
      ${Object.entries(s.quirks).map(([q, what]) => html`<label key=${q}>
        <input type="checkbox" checked=${s.profiles[rc].includes(q)}
          onChange=${(e) => {
            const next = e.target.checked ? [...s.profiles[rc], q] : s.profiles[rc].filter((x) => x !== q);
            post('/api/centre/profile', { receiver: rc, profile: next }).catch(onError);
          }} /> ${q}: ${what}</label>`)}
    </fieldset>`)}
    <table>
      <caption>Frames received, newest first</caption>
      <thead><tr><th scope="col">Time</th><th scope="col">Receiver</th><th scope="col">Frame</th><th scope="col">Event</th><th scope="col">Reply</th></tr></thead>
      <tbody>
        ${s.centre.map((c, i) => html`<tr key=${i} class=${c.reply === 'ACK' ? '' : 'bad'}>
          <td>${time(c.at)}</td><td>${c.receiver}${c.transport ? ` (${c.transport})` : ''}</td>
          <td>${c.id}${c.seq ? ` #${c.seq}` : ''}${c.encrypted ? ' (AES)' : ''}</td><td>${c.what}</td><td>${c.reply === 'none' ? 'no reply' : c.reply}</td>
        </tr>`)}
      </tbody>
    </table>
  </section>`;
}

function Recordings({ s }) {
  return html`<section aria-labelledby="rec-h" class="wide">
    <h2 id="rec-h">Recordings at the evidence server</h2>
    ${s.recordings.length === 0 ? html`<p>None yet: a held press starts one.</p>` : ''}
    ${s.upload ? html`<p class="note">Sealed on the unit (AES-256 + HMAC), sent over plain TCP on whichever path is up: ${s.upload.sent} chunk(s) confirmed, ${Math.round(s.upload.cellularBytes / 1024)} KB over cellular${s.upload.last ? `; last failure: ${s.upload.last}` : ''}.</p>` : ''}
    <ul class="recordings">
      ${s.recordings.map((r) => html`<li key=${r.rid}>
        <h3>Recording ${r.rid}</h3>
        <p class=${!r.verified ? 'bad' : r.final ? 'verified' : ''}>
          ${!r.verified ? `NOT verified: ${r.problems.join('; ')}`
            : r.final ? `Verified: chain intact, signature ${r.signature}, ${r.durationS} s, ${r.gaps} gap(s)`
            : `Recording: ${r.chunks} chunk(s) uploaded so far, chain intact`}
        </p>
        <audio controls preload="none" src=${r.url + '?n=' + r.chunks} aria-label=${'Recording ' + r.rid}></audio>
      </li>`)}
    </ul>
  </section>`;
}

function Journal({ s }) {
  return html`<section aria-labelledby="jrn-h" class="wide">
    <h2 id="jrn-h">The unit's journal</h2>
    <table>
      <caption>Newest first</caption>
      <thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Kind</th><th scope="col">Fields</th></tr></thead>
      <tbody>${s.journal.map((r) => html`<tr key=${r.i}><td>${r.i}</td><td>${time(r.t)}</td><td>${r.k}</td><td class="fields">${r.fields}</td></tr>`)}</tbody>
    </table>
  </section>`;
}

function App() {
  const { state, level, online } = useStream();
  const [error, setError] = useState('');
  const onError = (e) => setError(e.message);
  return html`
    <header>
      <h1>Panic alarm unit: simulator</h1>
      <p class="note">The real firmware on the simulated hardware, a simulated monitoring centre and evidence server. <span role="status">${online ? 'Live.' : 'Connecting…'}</span></p>
      ${error ? html`<p role="alert" class="error">${error} <button type="button" onClick=${() => setError('')}>Dismiss</button></p>` : ''}
    </header>
    ${state ? html`<main>
      <${Unit} s=${state} onError=${onError} />
      <${Links} s=${state} onError=${onError} />
      <${Power} s=${state} onError=${onError} />
      <${Microphone} s=${state} level=${level} onError=${onError} />
      <${Centre} s=${state} onError=${onError} />
      <${Recordings} s=${state} />
      <${Journal} s=${state} />
    </main>` : html`<p>Waiting for the simulated unit…</p>`}`;
}

render(html`<${App} />`, document.getElementById('app'));
