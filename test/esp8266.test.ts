import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { SimEsp8266 } from '../sim/esp8266';
import { createSimAt } from '../sim/at';
import { createSimClock } from '../sim/clock';
import type { ModemLineHandler } from '../hal/espruino/cellular';

/**
 * The ESP8266 AT emulator the Espruino WiFi harness puts behind the board's own Wifi module
 * (npm run test:espruino): driven here the way that module drives it (AT+RST and `ready` on
 * CH_PD, ATE0, CIPMUX, CWJAP, CIPSTART, CIPSEND with its prompt, +IPD with CIPDINFO, the access
 * point dropping), through the Node reimplementation of Espruino's AT module (sim/at.ts).
 */
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

  /** Run one command; resolves with the lines up to its final line (OK, ERROR, FAIL, ready...). */
  function cmd(
    at: ReturnType<typeof createSimAt>,
    c: string,
    end = /^(OK|ERROR|FAIL|ready|SEND OK|SEND FAIL)$/
  ): Promise<string[]> {
    return new Promise((resolve) => {
      const lines: string[] = [];
      const h: ModemLineHandler = (l) => {
        if (l === undefined) return resolve(lines.concat('TIMEOUT'));
        lines.push(l);
        if (end.test(l)) return resolve(lines);
        return h;
      };
      at.cmd(c, 3000, h);
    });
  }

  it('boots on CH_PD, joins the access point, carries TCP both ways, and drops it with the AP', async () => {
    const clock = createSimClock();
    const at = createSimAt(clock, esp.port());
    const received: string[] = [];
    at.register('+IPD', (buf) => {
      const m = /^\+IPD,(\d),(\d+),([\d.]+),(\d+):/.exec(buf);
      if (!m || buf.length < m[0].length + Number(m[2])) return buf;
      received.push(buf.substr(m[0].length, Number(m[2])));
      return buf.substr(m[0].length + Number(m[2]));
    });
    const events: string[] = [];
    at.registerLine('0,CONNECT', (l) => events.push(l));
    at.registerLine('0,CLOSED', (l) => events.push(l));
    at.registerLine('WIFI ', (l) => events.push(l));
    at.register('> ', (buf) => {
      at.write('hello');
      return buf.substr(2);
    });

    const boot = cmd(at, '\r\nAT+RST\r\n', /^ready$/);
    esp.chPd(true);
    assert.deepEqual((await boot).slice(-1), ['ready']);
    assert.deepEqual(await cmd(at, 'ATE0\r\n'), ['ATE0', 'OK'], 'echo of ATE0, then OK');
    for (const c of ['AT+CIPDINFO=1', 'AT+CIPMUX=1', 'AT+UART_CUR=115200,8,1,0,2', 'AT+CWMODE=1'])
      assert.deepEqual(await cmd(at, c + '\r\n'), ['OK'], c);
    assert.deepEqual(await cmd(at, 'AT+CWJAP="lab","wrong-pass"\r\n'), ['+CWJAP:2', 'FAIL']);
    assert.deepEqual(await cmd(at, 'AT+CWJAP="lab","secret-pass"\r\n'), ['OK']);
    assert.deepEqual(events, ['WIFI CONNECTED', 'WIFI GOT IP']);
    assert.match((await cmd(at, 'AT+CWJAP?\r\n'))[0], /^\+CWJAP:"lab","[0-9a-f:]+",\d+,-\d+$/);

    assert.deepEqual(await cmd(at, `AT+CIPSTART=0,"TCP","127.0.0.1",${port}\r\n`), ['OK']);
    assert.equal(events[2], '0,CONNECT', 'CONNECT comes before OK, as the Wifi module expects');
    assert.deepEqual(await cmd(at, 'AT+CIPSEND=0,5\r\n', /^SEND OK$/), ['OK', 'Recv 5 bytes', 'SEND OK']);
    for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(received, ['echo:hello']);

    esp.cutAp();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      events.slice(3),
      ['WIFI DISCONNECT', '0,CLOSED'],
      'the 1.x firmware\'s words (not "WIFI DISCONNECTED")'
    );
    assert.deepEqual(await cmd(at, 'AT+CWJAP?\r\n'), ['No AP', 'OK']);
    assert.deepEqual(await cmd(at, `AT+CIPSTART=0,"TCP","127.0.0.1",${port}\r\n`), ['no ip', 'ERROR']);
    assert.deepEqual(
      await cmd(at, 'AT+CWJAP="lab","secret-pass"\r\n'),
      ['+CWJAP:3', 'FAIL'],
      'no such access point until it is restored'
    );
    clock.shutdown();
  });

  it('ignores what it is sent while CH_PD is low', async () => {
    const clock = createSimClock();
    const at = createSimAt(clock, esp.port());
    assert.deepEqual(await cmd(at, 'AT\r\n'), ['TIMEOUT']);
    assert.equal(esp.commands.length, 0);
    clock.shutdown();
  });
});
