import { strict as assert } from 'node:assert';
import { createAtSockets, type AtPort, type Dialect } from '../hal/espruino/at-sockets';
import { createSimClock } from '../sim/clock';

/**
 * The radios' UART reader (hal/espruino/at-sockets.ts) fed by hand, byte splits and all: it reads
 * the line itself since it no longer uses Espruino's `AT` module, so what that module did (lines,
 * the raw `>` prompt, data headers whose payload holds line ends) is checked here directly.
 */
describe('AT sockets: the UART reader of both radios', () => {
  const ESP: Dialect = {
    sep: ',',
    sent: /^SEND (OK|FAIL)$/,
    recvKey: '+IPD',
    recv: /^\+IPD,(\d),(\d+)[^:]*:/
  };

  function rig(dialect: Dialect = ESP) {
    const clock = createSimClock();
    const written: string[] = [];
    let feed: (d: string) => void = () => undefined;
    const port: AtPort = {
      write: (d) => written.push(d),
      on: (_e, fn) => (feed = fn)
    };
    const s = createAtSockets(clock, port, dialect);
    /** Hand the reader `text` split into reads at every `step` bytes. */
    const rx = (text: string, step = text.length) => {
      for (let i = 0; i < text.length; i += step) feed(text.substr(i, step));
    };
    return { clock, written, s, rx };
  }

  it('gives a command its lines, split across reads at any byte, and ends it at its final line', () => {
    for (const step of [1, 2, 3, 7, 100]) {
      const r = rig();
      let got: [boolean, string[]] | undefined;
      r.s.command('AT+CWJAP?', 5000, /^OK$/, (ok, lines) => (got = [ok, lines.slice()]));
      assert.deepEqual(r.written, ['AT+CWJAP?\r\n']);
      r.rx('\r\n+CWJAP:"lab","aa:bb",6,-58\r\n\r\nOK\r\n', step);
      assert.deepEqual(got, [true, ['+CWJAP:"lab","aa:bb",6,-58', 'OK']], `reads of ${step} bytes`);
      r.clock.shutdown();
    }
  });

  it('a command the radio never answers ends with its timeout, and the next one runs', async () => {
    const r = rig();
    const ends: string[] = [];
    r.s.command('AT', 30, /^OK$/, (ok, _l, timedOut) => ends.push(`AT ${ok} ${timedOut}`));
    r.s.command('ATE0', 1000, /^OK$/, (ok) => ends.push(`ATE0 ${ok}`));
    assert.deepEqual(r.written, ['AT\r\n'], 'one command at a time');
    await new Promise((res) => setTimeout(res, 60));
    assert.deepEqual(ends, ['AT false true']);
    assert.deepEqual(r.written, ['AT\r\n', 'ATE0\r\n']);
    r.rx('ERROR\r\n');
    assert.deepEqual(ends, ['AT false true', 'ATE0 false']);
    r.clock.shutdown();
  });

  it('incoming data whose bytes hold line ends, a prompt character and a fake OK reaches its link whole, split at any byte', () => {
    const payload = 'EVR1 5 x\r\n> OK\r\n0,CLOSED\r\n';
    for (const step of [1, 4, 9, 1000]) {
      const r = rig();
      const got: string[] = [];
      let opened = 0;
      let closed: string | undefined = 'open';
      const c = r.s.connect(
        { host: '10.0.0.2', port: 7000, transport: 'tcp', timeoutMs: 5000 },
        { onOpen: () => opened++, onData: (d) => got.push(d), onClose: (e) => (closed = e) }
      );
      r.rx('0,CONNECT\r\n\r\nOK\r\n', step);
      assert.equal(opened, 1);
      r.rx(`+IPD,0,${payload.length},10.0.0.2,7000:${payload}`, step);
      assert.equal(got.join(''), payload, `reads of ${step} bytes`);
      assert.equal(closed, 'open', 'the CLOSED inside the payload is data, not an event');
      r.rx('0,CLOSED\r\n', step);
      assert.equal(closed, undefined, 'a normal close');
      assert.equal(c.write('x'), false);
      r.clock.shutdown();
    }
  });

  it('a write longer than one CIPSEND goes in pieces at the prompts, and onSent comes once the last is sent', () => {
    const r = rig();
    let sent = 0;
    const c = r.s.connect(
      { host: '10.0.0.2', port: 7000, transport: 'tcp', timeoutMs: 5000 },
      { onOpen: () => undefined, onData: () => undefined, onClose: () => undefined, onSent: () => sent++ }
    );
    r.rx('0,CONNECT\r\nOK\r\n');
    const data = 'a'.repeat(1460) + 'b'.repeat(1460) + 'c'.repeat(80);
    assert.equal(c.write(data), true);
    for (const [n, ch] of [
      [1460, 'a'],
      [1460, 'b'],
      [80, 'c']
    ] as const) {
      assert.equal(r.written.pop(), `AT+CIPSEND=0,${n}\r\n`);
      r.rx('\r\nOK\r\n> ');
      assert.equal(r.written.pop(), ch.repeat(n), `the ${n} bytes of '${ch}' at the prompt`);
      assert.equal(sent, 0, 'not before the last piece is sent');
      r.rx(`\r\nRecv ${n} bytes\r\n\r\nSEND OK\r\n`);
    }
    assert.equal(sent, 1);
    r.clock.shutdown();
  });

  it("the radio's own lines go to `unsolicited`, not to the command running; noise without a line end is dropped", () => {
    const seen: string[] = [];
    const r = rig({ ...ESP, unsolicited: (l) => l.startsWith('WIFI DISCONNECT') && seen.push(l) > 0 });
    let got: string[] = [];
    r.s.command('AT+CIPSTATUS', 5000, /^OK$/, (_ok, lines) => (got = lines.slice()));
    r.rx('WIFI DISCONNECT\r\nSTATUS:5\r\n');
    r.rx('x'.repeat(5000));
    r.rx('\r\nOK\r\n');
    assert.deepEqual(seen, ['WIFI DISCONNECT']);
    assert.deepEqual(got, ['STATUS:5', 'OK']);
    r.clock.shutdown();
  });

  it('SIM800 words: `<n>, CONNECT OK`, `+RECEIVE,<n>,<len>:` and its line end before the bytes', () => {
    const r = rig({
      sep: ', ',
      sent: /^\d, SEND (OK|FAIL)$/,
      recvKey: '+RECEIVE',
      recv: /^\+RECEIVE,(\d),(\d+):\r*\n/
    });
    const got: string[] = [];
    let failed: string | undefined;
    r.s.connect(
      { host: '10.0.0.2', port: 7000, transport: 'udp', timeoutMs: 5000 },
      { onOpen: () => undefined, onData: (d) => got.push(d), onClose: () => undefined }
    );
    r.s.connect(
      { host: '10.0.0.3', port: 7000, transport: 'tcp', timeoutMs: 5000 },
      { onOpen: () => assert.fail('never opened'), onData: () => undefined, onClose: (e) => (failed = e) }
    );
    r.rx('OK\r\n0, CONNECT OK\r\n');
    r.rx('+RECEIVE,0,4:\r\nab\r\n');
    assert.deepEqual(got, ['ab\r\n']);
    r.rx('OK\r\n1, CONNECT FAIL\r\n');
    assert.equal(failed, 'connect failed');
    r.clock.shutdown();
  });
});
