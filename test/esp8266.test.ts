import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { SimEsp8266 } from '../sim/esp8266';
import { simUart, type SimSerialPort } from '../sim/at';
import { createSimClock } from '../sim/clock';
import { useFakeTime } from './support/fake-time';
import { createEspWifiLink } from '../hal/espruino/esp8266';
import type { LinkStatus } from '../hal/types';

/**
 * The ESP8266 AT emulator the Espruino WiFi harness puts behind the board's own Wifi module
 * (npm run test:espruino): driven here the way that module drives it (AT+RST and `ready` on
 * CH_PD, ATE0, CIPMUX, CWJAP, CIPSTART, CIPSEND with its prompt, +IPD with CIPDINFO, the access
 * point dropping), by hand through a line reader of this test's own, then through the firmware's
 * own driver (hal/espruino/esp8266.ts).
 */

/**
 * The emulator's UART read by hand: link and `WIFI` events apart, `+IPD` payloads apart, the `> `
 * prompt answered with `payload`, every other line to the command waiting.
 */
function handDriven(port: SimSerialPort) {
  let buf = '';
  let waiting: ((line?: string) => void) | undefined;
  const r = { events: [] as string[], received: [] as string[], payload: '' };
  port.onData((d) => {
    buf += d;
    for (;;) {
      if (buf.startsWith('> ')) {
        buf = buf.slice(2);
        port.write(r.payload);
        continue;
      }
      const m = /^\+IPD,(\d),(\d+),([\d.]+),(\d+):/.exec(buf);
      if (m) {
        if (buf.length < m[0].length + Number(m[2])) return;
        r.received.push(buf.substr(m[0].length, Number(m[2])));
        buf = buf.slice(m[0].length + Number(m[2]));
        continue;
      }
      const e = buf.search(/[\r\n]/);
      if (e < 0) return;
      const line = buf.slice(0, e);
      buf = buf.slice(e + 1);
      if (!line) continue;
      if (/^(\d,(CONNECT|CLOSED)|WIFI )/.test(line)) r.events.push(line);
      else if (waiting) waiting(line);
    }
  });
  /** Send one command; resolves with the lines up to its final line (OK, ERROR, FAIL, ready...). */
  const cmd = (c: string, end = /^(OK|ERROR|FAIL|ready|SEND OK|SEND FAIL)$/): Promise<string[]> =>
    new Promise((resolve) => {
      const lines: string[] = [];
      const timer = setTimeout(() => {
        waiting = undefined;
        resolve(lines.concat('TIMEOUT'));
      }, 3000);
      waiting = (l) => {
        lines.push(l!);
        if (end.test(l!)) {
          clearTimeout(timer);
          waiting = undefined;
          resolve(lines);
        }
      };
      port.write(c);
    });
  return Object.assign(r, { cmd });
}
describe('ESP8266 AT emulator (sim/esp8266.ts)', function () {
  this.timeout(20_000);
  let server: net.Server;
  let port = 0;
  let esp: SimEsp8266;
  beforeEach(async () => {
    server = net.createServer((c) => c.on('data', (d) => c.write('echo:' + d.toString('latin1'))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as net.AddressInfo).port;
    esp = new SimEsp8266({ ssid: 'lab', password: 'secret-pass', bootMs: 20, joinMs: 20 });
  });
  afterEach(async () => {
    esp.dispose();
    await new Promise((r) => server.close(r));
  });

  it('boots on CH_PD, joins the access point, carries TCP both ways, and drops it with the AP', async () => {
    const at = handDriven(esp.port());
    at.payload = 'hello';
    const { events, received } = at;

    const boot = at.cmd('\r\nAT+RST\r\n', /^ready$/);
    esp.chPd(true);
    assert.deepEqual((await boot).slice(-1), ['ready']);
    assert.deepEqual(await at.cmd('ATE0\r\n'), ['ATE0', 'OK'], 'echo of ATE0, then OK');
    for (const c of ['AT+CIPDINFO=1', 'AT+CIPMUX=1', 'AT+UART_CUR=115200,8,1,0,2', 'AT+CWMODE=1'])
      assert.deepEqual(await at.cmd(c + '\r\n'), ['OK'], c);
    assert.deepEqual(await at.cmd('AT+CWJAP="lab","wrong-pass"\r\n'), ['+CWJAP:2', 'FAIL']);
    assert.deepEqual(await at.cmd('AT+CWJAP="lab","secret-pass"\r\n'), ['OK']);
    assert.deepEqual(events, ['WIFI CONNECTED', 'WIFI GOT IP']);
    assert.match((await at.cmd('AT+CWJAP?\r\n'))[0], /^\+CWJAP:"lab","[0-9a-f:]+",\d+,-\d+$/);

    assert.deepEqual(await at.cmd(`AT+CIPSTART=0,"TCP","127.0.0.1",${port}\r\n`), ['OK']);
    assert.equal(events[2], '0,CONNECT', 'CONNECT comes before OK, as the Wifi module expects');
    assert.deepEqual(await at.cmd('AT+CIPSEND=0,5\r\n', /^SEND OK$/), ['OK', 'Recv 5 bytes', 'SEND OK']);
    for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(received, ['echo:hello']);

    esp.cutAp();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      events.slice(3),
      ['WIFI DISCONNECT', '0,CLOSED'],
      'the 1.x firmware\'s words (not "WIFI DISCONNECTED")'
    );
    assert.deepEqual(await at.cmd('AT+CWJAP?\r\n'), ['No AP', 'OK']);
    assert.deepEqual(await at.cmd(`AT+CIPSTART=0,"TCP","127.0.0.1",${port}\r\n`), ['no ip', 'ERROR']);
    assert.deepEqual(
      await at.cmd('AT+CWJAP="lab","secret-pass"\r\n'),
      ['+CWJAP:3', 'FAIL'],
      'no such access point until it is restored'
    );
  });

  it('ignores what it is sent while CH_PD is low', async () => {
    const at = handDriven(esp.port());
    assert.deepEqual(await at.cmd('AT\r\n'), ['TIMEOUT']);
    assert.equal(esp.commands.length, 0);
  });

  it("the firmware's own ESP8266 driver joins with the config's credentials, carries TCP both ways, and rejoins after the AP drops", async () => {
    const clock = createSimClock();
    const statuses: LinkStatus[] = [];
    const link = createEspWifiLink(clock, { ssid: 'lab', password: 'secret-pass' }, () => ({
      port: simUart(esp.port()),
      power: (on) => esp.chPd(on)
    }));
    link.onStatus((st) => statuses.push(st));
    const until = async (f: () => boolean, ms = 8000) => {
      for (let t = 0; t < ms && !f(); t += 20) await new Promise((r) => setTimeout(r, 20));
      return f();
    };
    assert.ok(await until(() => link.status().up), 'up after AT+RST, ATE0, CIPDINFO, CIPMUX, UART_CUR, CWMODE, CWJAP');
    assert.ok(esp.commands.includes('AT+CWJAP="lab","secret-pass"'));
    assert.deepEqual(
      esp.commands.filter((c) => !c.startsWith('AT+CWJAP')).slice(0, 5),
      // (AT+RST went out before CH_PD: the chip's power-on `ready` answers it)
      ['ATE0', 'AT+CIPDINFO=1', 'AT+CIPMUX=1', 'AT+UART_CUR=115200,8,1,0,2', 'AT+CWMODE=1'],
      `the board's Wifi module's own bring-up: ${esp.commands.join(' ')}`
    );
    assert.ok(await until(() => (link.status().signal ?? -1) >= 0), 'signal from AT+CWJAP?');

    const got: string[] = [];
    let closed: string | undefined = 'open';
    const conn = link.connect(
      { host: '127.0.0.1', port, transport: 'tcp', timeoutMs: 5000 },
      {
        onOpen: () => conn.write('hello'),
        onData: (d) => got.push(d),
        onClose: (e) => (closed = e)
      }
    );
    assert.ok(await until(() => got.join('') === 'echo:hello'), `echoed back: ${JSON.stringify(got)}`);

    esp.cutAp();
    assert.ok(await until(() => !link.status().up), 'WIFI DISCONNECT takes the path down at once');
    assert.equal(closed, 'wifi down', 'and closes its connections');
    esp.restoreAp();
    assert.ok(await until(() => link.status().up, 15000), 'rejoined after the backoff');
    link.connect(
      { host: '127.0.0.1', port: 1, transport: 'tcp', timeoutMs: 3000 },
      {
        onOpen: () => assert.fail('port 1 is closed'),
        onData: () => undefined,
        onClose: (e) => (closed = e)
      }
    );
    assert.ok(await until(() => closed === 'connect failed'), `a refused connection: ${closed}`);
    assert.ok(statuses.length >= 3);
    clock.shutdown();
  });
  it('a chip that restarts by itself (its `ready` while up) is brought up again: it rejoined alone but lost multi-connection mode', async () => {
    const clock = createSimClock();
    const link = createEspWifiLink(clock, { ssid: 'lab', password: 'secret-pass' }, () => ({
      port: simUart(esp.port()),
      power: (on) => esp.chPd(on)
    }));
    const until = async (f: () => boolean, ms = 8000) => {
      for (let t = 0; t < ms && !f(); t += 20) await new Promise((r) => setTimeout(r, 20));
      return f();
    };
    const echo = async () => {
      const got: string[] = [];
      let closed = '';
      const conn = link.connect(
        { host: '127.0.0.1', port, transport: 'tcp', timeoutMs: 5000 },
        { onOpen: () => conn.write('again'), onData: (d) => got.push(d), onClose: (e) => (closed = e || 'closed') }
      );
      await until(() => got.join('') === 'echo:again' || closed !== '');
      conn.close();
      return got.join('') || closed;
    };
    assert.ok(await until(() => link.status().up), 'up');
    const muxes = esp.commands.filter((c) => c === 'AT+CIPMUX=1').length;
    esp.restart();
    assert.ok(await until(() => !link.status().up, 3000), 'its `ready` takes the path down at once');
    assert.ok(await until(() => link.status().up, 15000), 'brought up again');
    assert.equal(esp.commands.filter((c) => c === 'AT+CIPMUX=1').length, muxes + 1, 'multi-connection mode set again');
    assert.equal(await echo(), 'echo:again', 'a connection opens and carries data after the restart');
    clock.shutdown();
  });
  describe('on fake time (the backoffs before a power cycle add up to 35 s)', () => {
    const fake = useFakeTime();

    it('a chip wedged in `busy p...` (every command refused) is power-cycled through CH_PD, as a silent one is, and comes back', async () => {
      const clock = createSimClock();
      let offs = 0;
      const link = createEspWifiLink(clock, { ssid: 'lab', password: 'secret-pass' }, () => ({
        port: simUart(esp.port()),
        power: (on) => {
          if (!on) offs++;
          esp.chPd(on);
        }
      }));
      // (the emulator's output still goes out on real setImmediate turns)
      const until = async (f: () => boolean, ms: number) => {
        for (let t = 0; t < ms && !f(); t += 20) {
          fake.clock.tick(20);
          await new Promise((r) => setImmediate(r));
        }
        return f();
      };
      assert.ok(await until(() => link.status().up, 20_000), 'up');
      esp.wedge();
      esp.cutAp(); // the path goes down at once; each bring-up's AT+RST is now answered busy
      esp.restoreAp();
      assert.ok(await until(() => !link.status().up, 3000), 'down');
      assert.ok(await until(() => offs >= 1 && link.status().up, 120_000), `power-cycled (${offs}) and up again`);
      assert.ok(
        esp.transcript.some((l) => l.includes('busy p...')),
        'the chip said busy'
      );
      clock.shutdown();
    });
  });
});
