/**
 * Network paths on the device.
 * - Sockets: TCP through `net`, UDP through `dgram` (the Espruino WiFi's ESP8266 and the Linux build).
 * - Wi-Fi: association through the `Wifi` module, reconnecting with backoff.
 * - Linux: sockets with no bearer to manage (always up).
 * The cellular modem is in ./cellular.ts.
 */
import type { Clock, Connection, ConnectionHandlers, Link, PathName } from '../types';

import { createLinkCore, rssiToPercent } from './link-core';
import type { Target, LinkCore } from './link-core';

export { createLinkCore, rssiToPercent };
export type { Target, LinkCore };

/** Open a TCP or UDP connection with the built-in socket modules. */
export function socketConnect(clock: Clock, target: Target, h: ConnectionHandlers): Connection {
  let closed = false;
  let opened = false;
  let timer = -1;
  let sock: EspruinoSocket | undefined;
  let udp: EspruinoDgramSocket | undefined;

  function finish(err?: string): void {
    if (closed) return;
    closed = true;
    if (timer >= 0) clock.cancel(timer);
    try {
      if (sock) sock.end();
      if (udp) udp.close();
    } catch (e) {
      // the socket is already gone
    }
    h.onClose(err);
  }

  timer = clock.after(target.timeoutMs, function () {
    timer = -1;
    if (!opened) finish('connect timeout');
  });

  try {
    if (target.transport === 'tcp') {
      sock = global.require('net').connect({ host: target.host, port: target.port }, function () {
        if (closed) return;
        opened = true;
        if (timer >= 0) clock.cancel(timer);
        timer = -1;
        h.onOpen();
      });
      sock.on('data', function (d: string) {
        if (!closed) h.onData(d);
      });
      sock.on('close', function () {
        finish(opened ? undefined : 'connection refused');
      });
      // Espruino's socket emits 'drain' once its send buffer is empty (libs/network/socketserver.c).
      sock.on('drain', function () {
        if (!closed && h.onSent) h.onSent();
      });
      sock.on('error', function (e: { message?: string }) {
        finish((e && e.message) || 'socket error');
      });
    } else {
      udp = global.require('dgram').createSocket('udp4');
      udp.on('message', function (msg: string, from: unknown) {
        // Only the receiver's own address and port (the config requires an IPv4 address for UDP).
        const f = from as { address?: string; port?: number } | undefined;
        if (closed || !f || f.port !== target.port || f.address !== target.host) return;
        h.onData(msg);
      });
      udp.on('error', function () {
        finish('udp error');
      });
      clock.after(0, function () {
        if (closed) return;
        opened = true;
        if (timer >= 0) clock.cancel(timer);
        timer = -1;
        h.onOpen();
      });
    }
  } catch (e) {
    clock.after(0, function () {
      finish('connect failed');
    });
  }

  return {
    write: function (data: string) {
      if (closed || !opened) return false;
      if (sock) sock.write(data);
      else if (udp) udp.send(data, 0, data.length, target.port, target.host);
      return true;
    },
    close: function () {
      finish();
    }
  };
}

/**
 * Wi-Fi on the Espruino WiFi board (an ESP8266 behind the `Wifi` module). Without credentials the
 * path stays down. One rejoin timer at a time, backing off 5 s → 60 s. Signal comes from the
 * ESP8266's `AT+CWJAP?` (the module has no getDetails), which also notices a silent disconnect.
 */
export function createWifiLink(clock: Clock, creds: { ssid: string; password: string } | undefined): Link {
  const core = createLinkCore(clock, 'wifi', function (t, h) {
    return socketConnect(clock, t, h);
  });
  if (!creds || !creds.ssid) return core.link;
  const wifi = global.require('Wifi');
  let backoff = 5000;
  let retry = -1;
  let joined = false;

  function scheduleJoin(): void {
    if (retry >= 0) return;
    retry = clock.after(backoff, function () {
      retry = -1;
      join();
    });
    backoff = Math.min(backoff * 2, 60000);
  }
  function lost(): void {
    joined = false;
    core.setStatus(false);
    scheduleJoin();
  }
  function poll(): void {
    const at = wifi.at;
    if (!joined || !at) return;
    const handler: AtLineHandler = function (line?: string) {
      if (line === undefined || line === 'OK' || line === 'ERROR') return undefined;
      const m = /^\+CWJAP:"[^"]*","[^"]*",\d+,([-0-9]+)/.exec(line);
      if (m) core.setStatus(true, parseInt(m[1], 10));
      else if (line.indexOf('No AP') === 0) lost();
      return handler;
    };
    at.cmd('AT+CWJAP?\r\n', 2000, handler);
  }
  function join(): void {
    wifi.connect(creds!.ssid, { password: creds!.password }, function (err) {
      if (err) {
        lost();
        return;
      }
      joined = true;
      backoff = 5000;
      core.setStatus(true);
      poll();
    });
  }
  wifi.on('disconnected', lost);
  clock.every(30000, poll);
  join();
  return core.link;
}

/** Sockets on the Linux build: no bearer, always up (the console can take a path down for tests). */
export function createLinuxLink(clock: Clock, path: PathName): LinkCore {
  const core = createLinkCore(clock, path, function (t, h) {
    return socketConnect(clock, t, h);
  });
  core.setStatus(true, -60);
  return core;
}
