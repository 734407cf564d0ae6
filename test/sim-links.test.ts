import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { createSimHal, SimHal } from '../sim/hal';
import type { Connection, LinkStatus } from '../hal/types';

/** Open a connection through a sim link and collect what happens to it. */
function open(sim: SimHal, path: 'wifi' | 'cellular', port: number, transport: 'tcp' | 'udp') {
  const events: string[] = [];
  let data = '';
  let resolveOpen!: () => void;
  let resolveClose!: (e?: string) => void;
  const opened = new Promise<void>((r) => (resolveOpen = r));
  const closed = new Promise<string | undefined>((r) => (resolveClose = r));
  const conn: Connection = sim.hal.links[path]!.connect(
    { host: '127.0.0.1', port, transport, timeoutMs: 2000 },
    {
      onOpen: () => {
        events.push('open');
        resolveOpen();
      },
      onData: (d) => {
        data += d;
      },
      onClose: (e) => {
        events.push(`close:${e ?? ''}`);
        resolveClose(e);
      }
    }
  );
  return { conn, events, opened, closed, data: () => data };
}

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('sim links: real sockets on 127.0.0.1', () => {
  let sim: SimHal;
  let tcp: net.Server;
  let udp: dgram.Socket;
  let tcpPort = 0;
  let udpPort = 0;
  const sockets = new Set<net.Socket>();

  before(async () => {
    tcp = net.createServer((s) => {
      sockets.add(s);
      s.on('data', (d) => s.write(Buffer.concat([Buffer.from('echo:'), d])));
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    tcpPort = (tcp.address() as net.AddressInfo).port;
    udp = dgram.createSocket('udp4');
    udp.on('message', (m, from) => udp.send(Buffer.concat([Buffer.from('u:'), m]), from.port, from.address));
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    udpPort = udp.address().port;
  });
  after(() => {
    for (const s of sockets) s.destroy();
    tcp.close();
    udp.close();
  });
  beforeEach(() => (sim = createSimHal()));
  afterEach(() => sim.shutdown());

  it('carries bytes both ways over TCP, binary-safe', async () => {
    const c = open(sim, 'wifi', tcpPort, 'tcp');
    await c.opened;
    const bytes = '\x00\x01\xfe\xff\n"SIA-DCS"';
    assert.equal(c.conn.write(bytes), true);
    await until(() => c.data().length >= 5 + bytes.length);
    assert.equal(c.data(), 'echo:' + bytes);
    assert.equal(sim.world.paths.wifi!.bytesOut, bytes.length);
  });

  it('carries datagrams over UDP', async () => {
    const c = open(sim, 'cellular', udpPort, 'udp');
    await c.opened;
    c.conn.write('ping');
    await until(() => c.data() === 'u:ping');
  });

  it('a cut drops open connections and refuses new ones; restore brings the path back', async () => {
    const statuses: LinkStatus[] = [];
    sim.hal.links.wifi!.onStatus((s) => statuses.push(s));
    const c = open(sim, 'wifi', tcpPort, 'tcp');
    await c.opened;
    sim.world.paths.wifi!.cut();
    assert.equal(await c.closed, 'link down');
    assert.equal(c.conn.write('x'), false);
    const refused = open(sim, 'wifi', tcpPort, 'tcp');
    assert.equal(await refused.closed, 'link down');
    assert.deepEqual(refused.events, ['close:link down']);
    sim.world.paths.wifi!.restore();
    const again = open(sim, 'wifi', tcpPort, 'tcp');
    await again.opened;
    assert.deepEqual(
      statuses.map((s) => s.up),
      [false, true]
    );
    again.conn.close();
  });

  it('cutting one path leaves the other working', async () => {
    sim.world.paths.wifi!.cut();
    const c = open(sim, 'cellular', tcpPort, 'tcp');
    await c.opened;
    c.conn.write('x');
    await until(() => c.data() === 'echo:x');
  });

  it('reports signal changes as percent and dBm', () => {
    const seen: LinkStatus[] = [];
    sim.hal.links.cellular!.onStatus((s) => seen.push(s));
    sim.world.paths.cellular!.setSignal(25);
    assert.deepEqual(seen, [{ up: true, signal: 25, rssiDbm: -97 }]);
  });

  it('a refused connection closes with a reason', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const c = open(sim, 'wifi', port, 'tcp');
    assert.match(String(await c.closed), /ECONNREFUSED|refused/);
    assert.deepEqual(c.events.length, 1);
  });

  it('a power cut drops connections without calling the dead firmware back', async () => {
    const c = open(sim, 'wifi', tcpPort, 'tcp');
    await c.opened;
    sim.powerCut();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(c.events, ['open']);
    assert.equal(c.conn.write('x'), false);
  });
});
