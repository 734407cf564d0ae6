/* global FORMAT, HOLD, FRAG */
/*
 * The floor of the audio path (issue #16), run on the Espruino interpreter by `npm run bench --
 * --only floor`: only the native calls and copies that one sealed chunk (four blocks of 1,000
 * samples, 4,000 bytes) needs, with almost no logic around them, timed against the bench's
 * per-sample loop in the same run. It answers one question: could any firmware meet the 1/20
 * budget with this record format, or with the leanest format the crypto allows?
 *
 * An Espruino script (ES5, no modules). The bench puts one line in front of it:
 *   var FORMAT = 'today' | 'lean', HOLD = <variables held in one run>, FRAG = <small arrays, every other one freed>;
 * and reads the one `FLOOR ...` line it prints. It writes AUDIO/F.REC in its working folder.
 *
 * - 'today': the chunk as the firmware seals it (docs/evidence.md): SHA-256 of the audio; AES-256-
 *   CBC in 1,024-byte pieces with the spare run retaken after each (hal/espruino/crypto.ts), the IV
 *   made in the same call from a nonce; SHA-256 of the ciphertext; the chain value, a SHA-256 of
 *   the record's text; HMAC-SHA-256 over chain, IV and ciphertext hash from precomputed pads; the
 *   hex fields and the JSON header; one append (open, two writes, close). No size checks, no gap,
 *   busy-card, power-cut or state bookkeeping, no `pump()`.
 * - 'lean': the least any format with the crypto needs: the slot laid out so that the
 *   MAC's inner hash is one SHA-256 over it (pad, chain, audio hash, IV, ciphertext), the keyless
 *   chain one SHA-256 of 64 bytes, a binary header in the slot itself, one write.
 */
var C = require('crypto');
var fs = require('fs');
try {
  fs.mkdirSync('AUDIO');
} catch (e) {}
try {
  fs.unlinkSync('AUDIO/F.REC');
} catch (e) {}
// A used heap: HOLD variables in one run (the heap used but not fragmented), then FRAG small
// arrays of which every other one is freed (FRAG / 2 holes of 3 variables: fragmented).
var held = HOLD ? new Uint8Array(HOLD * 13) : 0;
var junk = [];
for (var i = 0; i < FRAG; i++) junk.push([i, i + 1]);
for (var i = 0; i < junk.length; i += 2) junk[i] = 0;
var BS = 1000;
var CS = 4000;
var block = new Uint8Array(BS);
for (var i = 0; i < BS; i++) block[i] = 1 + (i % 254);
var key = new Uint8Array(32);
var mk = new Uint8Array(32);
for (var i = 0; i < 32; i++) {
  key[i] = i;
  mk[i] = 255 - i;
}
var ip = new Uint8Array(64);
var op = new Uint8Array(64);
for (var i = 0; i < 64; i++) {
  ip[i] = (i < 32 ? mk[i] : 0) ^ 0x36;
  op[i] = (i < 32 ? mk[i] : 0) ^ 0x5c;
}
var HEX = new Uint16Array(256);
var DIG = '0123456789abcdef';
for (var i = 0; i < 256; i++) HEX[i] = DIG.charCodeAt(i >> 4) | (DIG.charCodeAt(i & 15) << 8);
function hex(d) {
  var o = new Uint16Array(d.length);
  E.mapInPlace(d, o, HEX, 0);
  return E.toString(new Uint8Array(o.buffer));
}
var ZIV = new Uint8Array(16);
var spare = new Uint8Array(1232);
var opts = { iv: ZIV, mode: 'CBC' };
var refused = 0;
var nonce = 0;
var at = 0;
/** AES-256-CBC of buf[from, to) in place, in 1,024-byte pieces, as the firmware does. */
function aesPieces(buf, from, to) {
  var v = ZIV;
  for (var o = from; o < to; o += 1024) {
    var e = o + 1024 < to ? o + 1024 : to;
    opts.iv = v;
    spare = undefined;
    var r = C.AES.encrypt(buf.subarray(o, e), key, opts);
    if (!r) refused++;
    else buf.set(new Uint8Array(r), o);
    spare = new Uint8Array(1232);
    v = buf.subarray(e - 16, e);
  }
}

// ---- today's format
var ring = new Uint8Array(16 + CS);
var hd = '0'.repeat(64);
function sealToday() {
  var h = new Uint8Array(C.SHA256(ring.subarray(16)));
  nonce++;
  ring[15] = nonce;
  aesPieces(ring, 0, 16 + CS);
  var ct = ring.subarray(16);
  var x = new Uint8Array(C.SHA256(ct));
  var hh = hex(h);
  var chain = new Uint8Array(C.SHA256(hd + ':0001:' + nonce + ':' + nonce * CS + ':4000:1:2:' + hh));
  var m = new Uint8Array(144);
  m.set(ip);
  m.set(chain, 64);
  m.set(ring.subarray(0, 16), 96);
  m.set(x, 112);
  var inner = new Uint8Array(C.SHA256(m));
  var ou = new Uint8Array(96);
  ou.set(op);
  ou.set(inner, 64);
  var mac = new Uint8Array(C.SHA256(ou));
  var c = hex(chain);
  var head =
    JSON.stringify({
      r: '0001',
      i: nonce,
      s: nonce * CS,
      n: CS,
      t: 1,
      w: 2,
      h: hh,
      p: hd,
      c: c,
      v: hex(ring.subarray(0, 16)),
      m: hex(mac)
    }) + '\n';
  hd = c;
  var f = E.openFile('AUDIO/F.REC', 'a');
  f.write(head);
  f.write(ct);
  f.close();
}
function blockToday(b) {
  ring.set(b, 16 + at);
  at += BS;
  if (at >= CS) {
    at = 0;
    sealToday();
  }
}

// ---- the lean format
var AUD = 64 + 32 + 32;
var slot = new Uint8Array(AUD + 16 + CS);
slot.set(ip);
var cbuf = new Uint8Array(64);
var obuf = new Uint8Array(96);
obuf.set(op);
function sealLean() {
  cbuf.set(new Uint8Array(C.SHA256(slot.subarray(AUD + 16))), 32);
  nonce++;
  slot[AUD + 15] = nonce;
  aesPieces(slot, AUD, AUD + 16 + CS);
  cbuf.set(new Uint8Array(C.SHA256(cbuf)));
  slot.set(cbuf, 64);
  obuf.set(new Uint8Array(C.SHA256(slot)), 64);
  var mac = new Uint8Array(C.SHA256(obuf));
  var f = E.openFile('AUDIO/F.REC', 'a');
  f.write(mac);
  f.write(slot.subarray(64));
  f.close();
}
function blockLean(b) {
  slot.set(b, AUD + 16 + at);
  at += BS;
  if (at >= CS) {
    at = 0;
    sealLean();
  }
}

// The bench's per-sample loop as the LINUX bundle has it (hal/espruino/linux.ts, minified: the
// same statement in a function with the same locals), median of five.
function loop(a, t) {
  var s, l, p, h, g, v, y, w, m, b, k, A;
  for (l = t.block, p = new Uint8Array(l.length), g = [], v = 0; v < 5; v++) {
    for (y = getTime(), w = 0; w < l.length; w++) p[w] = l[w];
    g.push(1e3 * (getTime() - y));
  }
  m = g.sort(function (e, r) {
    return e - r;
  })[2];
  return m;
}

var onBlock = FORMAT === 'lean' ? blockLean : blockToday;
var CHUNKS = 40;
var before = loop('a', { block: block });
var t0 = getTime();
for (var k = 0; k < CHUNKS * 4; k++) onBlock(block);
var per = ((getTime() - t0) * 1000) / (CHUNKS * 4);
var after = loop('a', { block: block });
var mem = process.memory(false);
console.log(
  'FLOOR ' +
    FORMAT +
    ' ' +
    mem.usage +
    ' ' +
    per.toFixed(3) +
    ' ' +
    ((before + after) / 2).toFixed(3) +
    ' ' +
    refused +
    ' ' +
    fs.statSync('AUDIO/F.REC').size
);
