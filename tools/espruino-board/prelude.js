/*
 * The Espruino WiFi board prelude for the Linux interpreter (npm run test:espruino). It is stored
 * as `.boot0` in the interpreter's flash, so it runs before `.bootcde` (the Espruino WiFi boot
 * image, untouched); it is never part of an image. It stands in ONLY for what the Linux build
 * lacks or does differently:
 *
 * - the board's pin names (`new Pin("B3")`, pin globals): board pins A0-A15 are the Linux build's
 *   D0-D15, B0-B15 are D16-D31 (one variable each, as on the board); and the pin functions the
 *   HAL uses: pinMode, digitalWrite/digitalRead, setWatch/clearWatch (debounced, edge, repeat),
 *   analogRead, and the microphone's `Waveform` (double buffer: `buffer`, then `buffer2`, a
 *   `buffer` event with the half just filled; missed halves collapse into one event, as on the
 *   board);
 * - the STM32's RCC_CSR reset flags (peek32/poke32 at 0x40023874 only; the harness writes the
 *   flags of each reset in the host file `.rcc`), the watchdog (E.enableWatchdog/E.kickWatchdog:
 *   enable and kicks are reported; the harness keeps the independent watchdog and resets the
 *   unit on a lapse) and E.reboot;
 * - the SD card's wiring (SPI2.setup, E.connectSDCard: the card is the interpreter's folder);
 * - the board's flash (`require("Flash")` and E.memoryArea on sectors 1-3, 0x08004000, mapped
 *   onto the top 48 KB of the Linux flash file; `E.memoryArea` there is a copy, the board maps it)
 *   and its identity (process.env.BOARD);
 * - the serial ports: Serial1 (the modem, B6/B7) and Serial2 (the ESP8266, A2/A3) are checked
 *   against the board's USART pins, then transmit into a pseudo-terminal the harness bridges to
 *   its AT emulators; what those send back is read from a file (`.rx1`, `.rx2`) and handed to the
 *   Serial as its own `data` events, because the Linux build's serial input loses bytes
 *   (docs/espruino-notes.md);
 * - the board's built-in JS modules `AT` and `Wifi`: loaded when first required from the Espruino
 *   source tree's own files, which the harness stores as `.mAT` / `.mWifi` (read from flash: their
 *   function bodies stay there, as in the board's firmware);
 * - no network until the Wifi module makes one (NetworkJS), as on the board.
 *
 * Storage, timers, crypto, net, fs, Flash itself and the REPL stay the interpreter's own. Every
 * stand-in checks its use against the board (pin functions from boards/ESPRUINOWIFI.py and the
 * build's modules, in the flash file `.bpins`) and reports what the board would not do as
 * `@V <what>` on the control channel (the harness fails on it); `@N` lines are notes.
 *
 * The control channel is its own serial port: `L pin 0|1` input level, `A pin fraction` analog
 * level (of 3.3 V), `W 0|1` microphone source (0 silence, 1 the ramp 1..254: every sample tells
 * its position), `M` memory, `R` reset the low-water mark. Output pins report `@P pin 0|1`;
 * `@Q module used` traces memory at each require.
 *
 * Written small: every function and variable here costs the firmware RAM the board would give it
 * (the harness measures and reports it).
 */
(function (H) {
  var OF = E.openFile, G = global, S = require('Storage'), FL = require('Flash'), RQ = require, PT = S.read('.bpins'), ctl = G[H.c];
  var m0 = process.memory().usage, seen = {}, low = 1e9, lowAt = '', lv = H.i, an = H.a, md = {}, outs = {}, W = [], card = 0;
  var csr = 0, copied = 0, mic = H.m, RAMP = new Uint8Array(254), reboot = E.reboot, SP = H.s, FB = H.f;
  Serial1.setup.call(ctl, 115200, { path: H.cp });
  // What the devices send to the unit: read from the files the harness appends to (`.rx1`,
  // `.rx2`; `.rxc` for the control channel), from their end at boot or at the port's setup, and
  // handed to the Serial as its own `data` events. The Linux build's serial input loses bytes
  // (tools/espruino-board/pty-bridge.py); its output (the unit's transmit) is the pty's.
  var RX = [], fsm = RQ('fs');
  function listen(dev, name) {
    var f = OF(name, 'r'), st = fsm.statSync(name);
    RX.push({ d: dev, f: f, p: st ? st.size : 0 });
  }
  setInterval(function () {
    for (var j = 0, r, d; j < RX.length; j++) {
      r = RX[j];
      r.f.seek(r.p);
      d = r.f.read(512);
      if (d && d.length) {
        r.p += d.length;
        r.d.emit('data', d);
      }
    }
  }, 5);
  listen(ctl, '.rxc');
  // The USB console fed from a file (`.rxu`, setting `u`): the Linux build's stdin thread pushes
  // onto the event queue its main loop pops, with no lock, and garbled 1-2 lines in 86 KB of
  // flashing. Here the console is LoopbackA: what the host sends is written into LoopbackB from
  // this loop (one thread), what the REPL prints comes out of LoopbackB to stdout. The firmware's
  // `USB.setConsole` keeps it there.
  if (H.u) {
    var LB = LoopbackB;
    listen({ emit: function (e, d) { LB.write(d); } }, '.rxu');
    LB.on('data', function (d) { USB.write(d); });
    LoopbackA.setConsole(true);
    USB.setConsole = function () { LoopbackA.setConsole(true); };
  }
  function out(s) {
    ctl.write(s + '\n');
  }
  /** Something the board would not do (`b`), or a note: reported once per kind. */
  function v(w, b) {
    if (!seen[w]) out((b ? '@V ' : '@N ') + w);
    seen[w] = (seen[w] | 0) + 1;
  }
  /** The lowest free seen (GC'd when low: garbage awaiting collection is not a shortage). */
  function sample(t) {
    var f = process.memory(false).free;
    if (f < low && f < 1500) f = process.memory(true).free;
    if (f < low) (low = f), (lowAt = t);
  }

  // ---- pins: the board's name <-> the Linux build's pin of the same index
  /** The board functions of a pin (`,ADC1_IN5,SPI1_SCK,`), or '' for a pin not on the board. */
  function fn(n) {
    var i = PT.indexOf(' ' + n + ':'), e = PT.indexOf(' ', i + 1);
    return i < 0 ? '' : ',' + PT.substring(i + n.length + 2, e) + ',';
  }
  function nm(p) {
    var k = p | 0;
    if (typeof p === 'string') return fn(p) ? p : (v('not a pin of the board: ' + p, 1), '');
    return k < 16 ? 'A' + k : k < 32 ? 'B' + (k - 16) : (v('no board pin for D' + k, 1), '');
  }
  G.Pin = function (n) {
    if (typeof n !== 'string') return n;
    var k = n.charCodeAt(0) - 65, i = parseInt(n.substr(1), 10);
    if (!fn(n) || k < 0 || k > 1) v('pin ' + n + (fn(n) ? ': not stood in' : ': not a pin of the Espruino WiFi'), 1);
    return G['D' + (k * 16 + i)];
  };
  for (var i = 0; i < H.g.length; i++) G[H.g[i][0]] = G.Pin(H.g[i][1]);
  G.pinMode = function (p, m) {
    md[nm(p)] = m;
  };
  G.digitalWrite = function (p, x) {
    var n = nm(p);
    x = x ? 1 : 0;
    if (outs[n] !== x) out('@P ' + n + ' ' + x);
    outs[n] = x;
  };
  G.digitalRead = function (p) {
    var n = nm(p);
    return outs[n] !== undefined ? outs[n] : lv[n] !== undefined ? lv[n] : md[n] === 'input_pullup' ? 1 : 0;
  };
  G.analogRead = function (p) {
    var n = nm(p);
    if (fn(n).indexOf(',ADC') < 0) v('analogRead(' + n + '): no ADC on that pin', 1);
    return an[n] || 0;
  };
  // setWatch fires once the level has held `debounce` ms, as the board's native debounce does
  G.setWatch = function (f, p, o) {
    var n = nm(p);
    for (var j = 0; j < W.length; j++) if (W[j] && W[j].n !== n && W[j].n.substr(1) === n.substr(1)) v('setWatch on ' + n + ' and ' + W[j].n + ': one EXTI line on the STM32', 1);
    W.push({ id: W.length + 1, f: f, n: n, o: o || {}, last: G.digitalRead(n), t: getTime() });
    return W.length;
  };
  G.clearWatch = function (id) {
    for (var j = 0; j < W.length; j++) if (id === undefined || j + 1 === id) W[j] = undefined;
  };
  function input(n, x) {
    lv[n] = x;
    W.forEach(function (w) {
      if (w && w.n === n)
        setTimeout(function () {
          var e = w.o.edge, t = getTime(), ev = { state: !!x, time: t, lastTime: w.t };
          if (G.digitalRead(n) !== x || w.last === x || W.indexOf(w) < 0) return;
          w.last = x;
          w.t = t;
          if ((e === 'rising' && !x) || (e === 'falling' && x)) return;
          if (!w.o.repeat) W[W.indexOf(w)] = undefined;
          w.f(ev);
        }, w.o.debounce || 0);
    });
  }

  // ---- microphone: Waveform input on an ADC pin; the ramp is sample `at` -> 1 + at % 254
  for (i = 0; i < 254; i++) RAMP[i] = i + 1;
  function fill(b, at) {
    var ph = at % 254, k;
    if (mic !== 1) return b.fill(128);
    b.set(RAMP.subarray(ph, Math.min(254, ph + b.length)));
    if (b.length > 254 - ph) b.set(RAMP.subarray(0, Math.min(ph, b.length - 254 + ph)), 254 - ph);
    for (k = 254; k < b.length; k *= 2) b.set(b.subarray(0, Math.min(k, b.length - k)), k);
  }
  function Waveform(n, o) {
    o = o || {};
    this.buffer = new (o.bits === 16 ? Uint16Array : Uint8Array)(n);
    if (o.doubleBuffer) this.buffer2 = new (o.bits === 16 ? Uint16Array : Uint8Array)(n);
  }
  Waveform.prototype.startInput = function (p, hz, o) {
    var n = nm(p), w = this, len = w.buffer.length, t0 = getTime(), done = 0;
    if (w.running) throw new Error('Waveform is already running');
    if (fn(n).indexOf(',ADC') < 0) v('Waveform input on ' + n + ': no ADC on that pin', 1);
    if (!(o && o.repeat && w.buffer2)) v('Waveform input without doubleBuffer and repeat: no buffer events', 1);
    w.running = true;
    w.iv = setInterval(function () {
      var due = Math.round(((getTime() - t0) * hz) / len), b;
      if (due > done + 1) v('microphone overrun: halves collapsed into one event, as on the board');
      while (done < due) (b = done & 1 ? w.buffer2 : w.buffer), fill(b, done * len), done++;
      if (b) w.emit('buffer', b);
    }, (len * 1000) / hz);
  };
  Waveform.prototype.stop = function () {
    if (!this.running) throw new Error('Waveform is not running');
    clearInterval(this.iv);
    this.running = false;
  };
  // Listeners run after the block is handed over: measure around them (the ring copy, the seal)
  Waveform.prototype.on = function (ev, f) {
    Object.prototype.on.call(this, ev, function (b) {
      sample('mic');
      f(b);
      sample('mic');
    });
  };
  G.Waveform = Waveform;

  // ---- serial ports: the board's USART pins, a pseudo-terminal behind each
  Serial1.setup = Serial2.setup = function (baud, o) {
    var u = this === Serial1 ? 1 : 2, n = 'Serial' + u, p = {}, k;
    o = o || {};
    if (o.tx !== undefined && fn(nm(o.tx)).indexOf(',USART' + u + '_TX,') < 0) v(n + '.setup: tx ' + nm(o.tx) + ' is not USART' + u + '_TX', 1);
    if (o.rx !== undefined && fn(nm(o.rx)).indexOf(',USART' + u + '_RX,') < 0) v(n + '.setup: rx ' + nm(o.rx) + ' is not USART' + u + '_RX', 1);
    for (k in o) if (k !== 'tx' && k !== 'rx' && k !== 'cts' && k !== 'ck') p[k] = o[k];
    p.path = SP[u - 1];
    Serial3.setup.call(this, baud, p);
    for (k = 0; k < RX.length; k++) if (RX[k].d === this) RX.splice(k, 1);
    listen(this, '.rx' + u);
  };

  // ---- SD card on SPI2 (the card is the interpreter's folder)
  SPI2.setup = function (o) {
    var k = { sck: 'SCK', miso: 'MISO', mosi: 'MOSI' }, f;
    for (f in k) if (o[f] !== undefined && fn(nm(o[f])).indexOf(',SPI2_' + k[f] + ',') < 0) v('SPI2.setup: ' + f + ' ' + nm(o[f]) + ' is not SPI2_' + k[f], 1);
    card = 1;
  };
  E.connectSDCard = function (spi, cs) {
    if (spi !== SPI2 || card !== 1) v('E.connectSDCard: not on SPI2 as the board wires it (SPI2.setup first)', 1);
    nm(cs);
    card = 2;
  };
  // An open file on the board holds FatFs's FIL with its 512-byte sector buffer (ffconf.h
  // _FS_TINY 0, _MAX_SS 512) in one flat string of ~552 bytes (jswrap_file.h JsFileData); the
  // Linux build holds a FILE pointer. Charge the board's cost while a file is open, and fail the
  // open as the board does when no free run that long is left.
  E.openFile = function (p, m) {
    if (NC) throw new Error(NOCARD);
    var f = OF(p, m);
    if (f && FC && m !== 'r') f.write = full;
    if (f && UR) f.read = unread;
    if (f) {
      try {
        f.fil = new Uint8Array(552);
      } catch (e) {
        f.close();
        return undefined;
      }
    }
    return f;
  };

  // ---- STM32 registers, watchdog, reboot
  try {
    csr = parseInt(RQ('fs').readFileSync('.rcc'), 10) || 0;
  } catch (e) {
    // no reset flags given
  }
  G.peek32 = function (a, c) {
    if (a === 0x40023874 && c === undefined) return csr;
    v('peek32(0x' + (a >>> 0).toString(16) + '): only RCC_CSR is stood in', 1);
    return 0;
  };
  G.poke32 = function (a, x) {
    if (a !== 0x40023874) v('poke32(0x' + (a >>> 0).toString(16) + ')', 1);
    else if (x & (1 << 24)) csr = 0;
  };
  // The watchdog itself is the harness's (board.ts): the board's IWDG is hardware, and these timers
  // are the interpreter's own, which an out-of-memory state can remove.
  E.enableWatchdog = function (t, auto) {
    out('@E ' + t);
    if (auto) v('watchdog kicked automatically');
  };
  E.kickWatchdog = function () {
    out('@K');
  };
  E.reboot = function () {
    out('@R');
    ctl.flush();
    reboot();
  };

  // ---- flash: the board's sectors 1-3 (0x08004000, 3 x 16 KB) on the top 48 KB of the file
  function fa(a, n, w) {
    if (a >= 0x08004000 && a + n <= 0x08010000) return a - 0x08004000 + FB;
    v('Flash.' + w + ' at 0x' + (a >>> 0).toString(16) + ': outside sectors 1-3, the only free flash', 1);
    return -1;
  }
  function page(a) {
    return a >= 0x08000000 && a < 0x08010000
      ? { addr: a - (a & 0x3fff), length: 16384 }
      : a >= 0x08010000 && a < 0x08020000
        ? { addr: 0x08010000, length: 65536 }
        : a >= 0x08020000 && a < 0x08080000 ? { addr: a - ((a - 0x08020000) % 131072), length: 131072 } : undefined;
  }
  var Flash = {
    getFree: function () {
      return [{ addr: 0x08004000, length: 49152 }];
    },
    getPage: page,
    erasePage: function (a) {
      var p = page(a), m = p ? fa(p.addr, p.length, 'erasePage') : -1, o;
      for (o = 0; m >= 0 && o < p.length; o += 1024) FL.erasePage(m + o);
    },
    write: function (d, a) {
      var m = fa(a, d.length, 'write');
      if (m >= 0) FL.write(d, m);
    },
    read: function (n, a) {
      var m = fa(a, n, 'read');
      return m >= 0 ? FL.read(n, m) : new Uint8Array(n);
    }
  };
  // The board maps its flash into memory: E.memoryArea costs one variable there. The Linux build
  // maps none, but it reads Storage as flash strings, which cost as little: where the harness has
  // mirrored sector 3 (the installer module) as `.fsec3` and the mirror matches the flash file
  // byte for byte, the area is read from the mirror; anything else is a copy (counted in `copied`).
  E.memoryArea = function (a, n) {
    var m = fa(a, n, 'memoryArea'), o = a - 0x0800c000, i, k, ok = o >= 0 && S.read('.fsec3', o, n);
    for (i = 0; ok && i < n; i += 1024) {
      k = Math.min(1024, n - i);
      ok = E.toString(FL.read(k, m + i)) === S.read('.fsec3', o + i, k);
    }
    if (m >= 0 && ok) return S.read('.fsec3', o, n);
    if (n > copied) copied = n;
    return m < 0 ? undefined : E.toString(FL.read(n, m));
  };

  // ---- the card's file system as the board's FatFs answers (2v29 libs/filesystem/jswrap_fs.c):
  // `readdirSync` of a folder that is not there throws "Unable to list files : NO_PATH" on the
  // board, where the Linux build returns undefined. Made here, so its cost is the harness's.
  // No card in the slot (setting `nc`): every call fails as jsfsInit does then ("Unable to mount
  // media : NOT_READY", jswrap_file.c).
  // A full card (setting `fc`): no cluster left to allocate, so FatFs writes nothing and 2v29
  // throws "Unable to write file : DISK_ERR" (jswrap_file.c: 0 bytes written is FR_DISK_ERR), and
  // a new folder is refused ("Unable to create the directory : DENIED"); files open and read.
  // A card whose files cannot be read (setting `ur`: bad sectors, a damaged FAT): it mounts and
  // lists, but every read of a file throws "Unable to read file : DISK_ERR" (jswrap_file.c).
  var NOCARD = 'Unable to mount media : NOT_READY', NC = H.nc, FC = H.fc, UR = H.ur;
  function full() {
    throw new Error('Unable to write file : DISK_ERR');
  }
  function unread() {
    throw new Error('Unable to read file : DISK_ERR');
  }
  var FSW = {}, FSN = ['readFileSync', 'writeFileSync', 'appendFileSync', 'unlinkSync', 'statSync', 'mkdirSync', 'readFile', 'writeFile', 'appendFile', 'unlink', 'mkdir', 'pipe'];
  FSN.forEach(function (k) {
    if (fsm[k]) FSW[k] = NC ? function () { throw new Error(NOCARD); } : fsm[k];
  });
  if (UR) FSW.readFileSync = FSW.readFile = unread;
  if (FC) {
    FSW.writeFileSync = FSW.appendFileSync = FSW.writeFile = FSW.appendFile = full;
    FSW.mkdirSync = FSW.mkdir = function () {
      throw new Error('Unable to create the directory : DENIED');
    };
  }
  FSW.readdirSync = FSW.readdir = function (p) {
    if (NC) throw new Error(NOCARD);
    var r = fsm.readdirSync(p);
    if (r === undefined) {
      v('fs.readdirSync of a missing folder threw, as the board\'s FatFs does');
      throw new Error('Unable to list files : NO_PATH');
    }
    return r;
  };
  FSN = undefined;

  // ---- identity, modules, network
  process.env = H.e;
  G.require = function (n) {
    var src;
    if (PT.indexOf(',' + n + ',', PT.indexOf('|')) < 0) v('require("' + n + '"): no such module on the Espruino WiFi', 1);
    if (n === 'fs' && card !== 2) v('require("fs") before E.connectSDCard', 1);
    sample('require ' + n);
    out('@Q ' + n + ' ' + process.memory(false).usage);
    if (n === 'Flash') return Flash;
    if (n === 'fs') return FSW;
    if ((n === 'AT' || n === 'Wifi') && Modules.getCached().indexOf(n) < 0) {
      src = S.read('.m' + n);
      if (src === undefined) throw new Error('Module "' + n + '" not found (no Espruino source for it)');
      Modules.addCached(n, src);
    }
    return RQ(n);
  };
  var none = function () {
    v('a socket before any network device (the board has none until the Wifi module makes one)');
    return -1;
  };
  RQ('NetworkJS').create({ create: none, close: none, accept: none, recv: none, send: none });

  // ---- memory at the busiest native calls (their arguments and temporaries are live then)
  // Calls that found no free run for their result (they return undefined), counted without
  // allocating (SHA256, AES encrypt, AES decrypt); reported with the memory figures. `crypto.AES`
  // is replaced whole: assigning `crypto.AES.encrypt` does nothing on 2v29 (measured).
  var NM = new Uint16Array(3), C = RQ('crypto'), sha = C.SHA256, A0 = C.AES;
  // Each refusal as it happens: the call, the bytes it was given and the free count just after
  // (a small allocation: the heap has room then, only no run long enough for the result).
  var refused = function (i, what, d) {
    NM[i]++;
    out('@F ' + what + ' ' + d.length + ' ' + process.memory(false).free);
  };
  C.SHA256 = function (d) {
    sample('sha256');
    var r = sha(d);
    if (!r) refused(0, 'sha256', d);
    return r;
  };
  C.AES = {
    encrypt: function (d, k, o) {
      sample('aes');
      var r = A0.encrypt(d, k, o);
      if (!r) refused(1, 'aes-encrypt', d);
      return r;
    },
    decrypt: function (d, k, o) {
      sample('aes');
      var r = A0.decrypt(d, k, o);
      if (!r) refused(2, 'aes-decrypt', d);
      return r;
    }
  };
  // The first log lines of each boot: memory as the firmware's boot goes on
  var log = console.log, nlog = 0;
  console.log = function (a) {
    sample('log');
    if (nlog++ < 8) out('@Q log:' + String(a).substr(0, 24).replace(/ /g, '_') + ' ' + process.memory(false).usage);
    log(a);
  };

  // ---- symbols the image names: Linux-only ones are tripwires, board-only ones stand-ins
  if (H.t.length + H.b.length) {
    var wrap = function (path, bad) {
      var dot = path.indexOf('.'), o = dot < 0 ? G : G[path.substr(0, dot)], k = path.substr(dot + 1), orig = o && o[k];
      if (o)
        o[k] = function () {
          v(path + (bad ? ': not in the Espruino WiFi build' : ' called (a stand-in with no effect here)'), bad);
          return bad && orig ? orig.apply(this, arguments) : undefined;
        };
    };
    H.t.forEach(function (p) {
      wrap(p, 1);
    });
    H.b.forEach(function (p) {
      wrap(p, 0);
    });
  }

  // ---- control channel
  var line = '';
  ctl.on('data', function (d) {
    var nl, c, m, s;
    line += d;
    while ((nl = line.indexOf('\n')) >= 0) {
      c = line.substr(0, nl).split(' ');
      line = line.substr(nl + 1);
      sample('ctl');
      if (c[0] === 'L') input(c[1], c[2] === '1' ? 1 : 0);
      else if (c[0] === 'A') an[c[1]] = parseFloat(c[2]);
      else if (c[0] === 'W') mic = c[1] | 0;
      else if (c[0] === 'R') low = 1e9;
      else if (c[0] === 'H')
        setTimeout(function () {
          for (;;);
        }, 0);
      else if (c[0] === 'M') {
        m = process.memory(true);
        s = S.getStats();
        out('@M ' + m.usage + ' ' + m.free + ' ' + m.total + ' ' + low + ' ' + lowAt.replace(' ', '_') + ' ' + (E.getErrorFlags().join(',') || '-') + ' ' + copied + ' ' + (s.fileBytes + s.trashBytes) + ' ' + s.freeBytes + ' ' + NM.join('/'));
      }
    }
  });
  setInterval(function () {
    sample('tick');
  }, 100);
  // Memory taken before the image runs (setting `bl`: that many variables held for good), so the
  // image meets an out-of-memory at boot on the interpreter's own allocator.
  if (H.bl) {
    G.__ballast = [];
    for (var bi = 0; bi < H.bl; bi++) G.__ballast.push(bi);
  }
  H = undefined; // what is left of the settings is referenced where it is used
  out('@B ' + m0 + ' ' + process.memory().usage + ' ' + csr);
})(H);
