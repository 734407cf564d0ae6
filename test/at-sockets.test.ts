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
    sent: /^SEND OK$|^SEND FAIL$/,
    recvKey: '+IPD',
    recv: /^\+IPD,(\d),(\d+)[^:]*:/
  };

  const SIM800: Dialect = {
    sep: ', ',
    sent: /^\d, SEND OK$|^\d, SEND FAIL$/,
    recvKey: '+RECEIVE',
    recv: /^\+RECEIVE,(\d),(\d+):\r*\n/
  };
  const TARGET = { host: '10.0.0.2', port: 7000, transport: 'tcp' as const, timeoutMs: 5000 };

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
    const r = rig(SIM800);
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
  it('a send the radio fails closes the link in the radio too (AT+CIPCLOSE), and its number stays taken until the radio answers', () => {
    const r = rig();
    let first: string | undefined = 'open';
    const c = r.s.connect(TARGET, { onOpen: () => undefined, onData: () => undefined, onClose: (e) => (first = e) });
    r.rx('0,CONNECT\r\nOK\r\n');
    assert.equal(c.write('x'), true);
    r.rx('\r\nOK\r\n> ');
    r.rx('\r\nSEND FAIL\r\n');
    assert.equal(first, 'send failed', 'at once, not after the send timeout');
    assert.equal(r.written[r.written.length - 1], 'AT+CIPCLOSE=0\r\n', 'closed in the radio');
    // A new connection while the radio has not answered takes another number, and the old
    // socket's CLOSED is not taken as its own.
    let second: string | undefined = 'open';
    let opened = 0;
    r.s.connect(TARGET, { onOpen: () => opened++, onData: () => undefined, onClose: (e) => (second = e) });
    r.rx('0,CLOSED\r\nOK\r\n');
    assert.equal(r.written[r.written.length - 1], 'AT+CIPSTART=1,"TCP","10.0.0.2",7000\r\n');
    assert.equal(second, 'open');
    r.rx('1,CONNECT\r\nOK\r\n');
    assert.equal(opened, 1);
    // Once answered, the number is free again.
    r.s.connect(TARGET, { onOpen: () => undefined, onData: () => undefined, onClose: () => undefined });
    assert.equal(r.written[r.written.length - 1], 'AT+CIPSTART=0,"TCP","10.0.0.2",7000\r\n');
    r.clock.shutdown();
  });

  it('SIM800: `n, ALREADY CONNECT` is a stale socket, not an open: the connect fails and the socket is closed in the modem', () => {
    const r = rig(SIM800);
    let opened = 0;
    let closed: string | undefined = 'open';
    const c = r.s.connect(TARGET, { onOpen: () => opened++, onData: () => undefined, onClose: (e) => (closed = e) });
    r.rx('OK\r\n0, ALREADY CONNECT\r\n');
    assert.equal(opened, 0, 'never taken as open: its bytes would go to the old peer');
    assert.equal(closed, 'connect failed');
    assert.equal(c.write('x'), false);
    assert.equal(r.written[r.written.length - 1], 'AT+CIPCLOSE=0\r\n');
    r.clock.shutdown();
  });

  it("SIM800: a late `0, SEND OK` does not end link 1's send; its bytes still go at its prompt", () => {
    const r = rig(SIM800);
    let sent1 = 0;
    r.s.connect(TARGET, { onOpen: () => undefined, onData: () => undefined, onClose: () => undefined });
    const c1 = r.s.connect(TARGET, {
      onOpen: () => undefined,
      onData: () => undefined,
      onClose: () => undefined,
      onSent: () => sent1++
    });
    r.rx('OK\r\n');
    r.rx('OK\r\n0, CONNECT OK\r\n1, CONNECT OK\r\n');
    assert.equal(c1.write('hello'), true);
    assert.equal(r.written[r.written.length - 1], 'AT+CIPSEND=1,5\r\n');
    r.rx('\r\n0, SEND OK\r\n'); // an earlier send on link 0, acknowledged late
    r.rx('\r\n> ');
    assert.equal(r.written[r.written.length - 1], 'hello', 'the bytes go at the prompt');
    assert.equal(sent1, 0);
    r.rx('\r\n1, SEND OK\r\n');
    assert.equal(sent1, 1);
    r.clock.shutdown();
  });

  it('ESP8266: `busy p...` (the chip still on an earlier command) fails the command at once, not at its timeout, as not taken', () => {
    const r = rig();
    let got: [boolean, boolean | undefined] | undefined;
    r.s.command('AT+CIPSTATUS', 5000, /^OK$/, (ok, _l, timedOut) => (got = [ok, timedOut]));
    r.rx('\r\nbusy p...\r\n');
    // (`timedOut`: the drivers count it as an unanswered command, towards a power cycle)
    assert.deepEqual(got, [false, true]);
    r.clock.shutdown();
  });

  it('ESP8266: a CIPSTART refused for a socket still open (`ALREADY CONNECTED`) closes that socket, so the next try can open', () => {
    const r = rig();
    let closed: string | undefined = 'open';
    r.s.connect(TARGET, { onOpen: () => undefined, onData: () => undefined, onClose: (e) => (closed = e) });
    r.rx('ALREADY CONNECTED\r\n\r\nERROR\r\n');
    assert.equal(closed, 'connect failed');
    assert.equal(r.written[r.written.length - 1], 'AT+CIPCLOSE=0\r\n');
    r.clock.shutdown();
  });

  it('a radio reset frees every number, also one waiting for its CIPCLOSE (the queue that held it is gone)', () => {
    const r = rig();
    const c = r.s.connect(TARGET, { onOpen: () => undefined, onData: () => undefined, onClose: () => undefined });
    r.rx('0,CONNECT\r\nOK\r\n');
    c.close();
    assert.equal(r.written[r.written.length - 1], 'AT+CIPCLOSE=0\r\n');
    r.s.reset('radio down');
    r.s.connect(TARGET, { onOpen: () => undefined, onData: () => undefined, onClose: () => undefined });
    r.rx('\r\nERROR\r\n'); // the command running at the reset ends
    assert.equal(r.written[r.written.length - 1], 'AT+CIPSTART=0,"TCP","10.0.0.2",7000\r\n');
    r.clock.shutdown();
  });

  it('a link closed while its sends are queued never hears onSent after onClose (its number held for the CIPCLOSE)', () => {
    const r = rig();
    let sent = 0;
    let closes = 0;
    const c = r.s.connect(TARGET, {
      onOpen: () => undefined,
      onData: () => undefined,
      onClose: () => closes++,
      onSent: () => sent++
    });
    r.rx('0,CONNECT\r\nOK\r\n');
    assert.equal(c.write('x'.repeat(3000)), true);
    c.close();
    for (let k = 0; k < 3; k++) r.rx('\r\nOK\r\n> \r\nSEND OK\r\n');
    assert.equal(r.written[r.written.length - 1], 'AT+CIPCLOSE=0\r\n');
    assert.deepEqual([closes, sent], [1, 0]);
    r.clock.shutdown();
  });
});
