/**
 * The audio spool on the device (the records are firmware/flash-store.ts on ./flash.ts: nothing
 * here writes Storage in service, docs/journal.md).
 * - Spool: a microSD card through `fs` (`E.connectSDCard`) on the Espruino WiFi, the host's file
 *   system through `fs` on the Linux build; a bounded area of internal Storage (names prefixed
 *   `sp.`) on the build-only boards without a card, so the contract holds on every board.
 */
import type { Spool } from '../types';

function fail(code: string, message: string): Error {
  const e = new Error(message);
  (e as Error & { code: string }).code = code;
  return e;
}

/** Sum of `sizeOf` over `names`. */
function totalSize(names: string[], sizeOf: (name: string) => number): number {
  let n = 0;
  for (let i = 0; i < names.length; i++) n += sizeOf(names[i]);
  return n;
}

/** A byte string as a Uint8Array the caller owns (Storage.read strings are read-only views onto flash). */
function ownedBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  out.set(new Uint8Array(E.toArrayBuffer(s)));
  return out;
}

/**
 * A spool's bytes in use: counted once by listing, then kept up to date by each write and erase.
 * Listing every file at each write ran the interpreter out of memory after ~60 chunks (measured on
 * the Linux build, npm run bench), and is slow on a full card.
 */
function byteCount(
  names: () => string[],
  sizeOf: (name: string) => number
): { used(): number; change(delta: number): void } {
  let used = -1;
  function get(): number {
    if (used < 0) used = totalSize(names(), sizeOf);
    return used;
  }
  return {
    used: get,
    change: function (delta: number) {
      used = get() + delta;
    }
  };
}

/**
 * Spool in the folder `AUDIO` through `fs`: a microSD card (FAT, 8.3 names) wired to SPI2 on the
 * Espruino WiFi, the host's file system on the Linux build (`mount` absent). Recordings are
 * appended (docs/evidence.md): `appendFileSync` per chunk, ranges read with `E.openFile`.
 */
export function createFsSpool(
  capacityBytes: number,
  mount?: { sck: string; miso: string; mosi: string; cs: string }
): Spool {
  if (mount) {
    SPI2.setup({ sck: new Pin(mount.sck), miso: new Pin(mount.miso), mosi: new Pin(mount.mosi) });
    E.connectSDCard(SPI2, new Pin(mount.cs));
  }
  const fs = global.require('fs');
  const DIR = 'AUDIO';

  /** The folder's names; a missing folder (a fresh card) is made, and a card that cannot be read lists nothing. */
  function names(): string[] {
    let all: string[] | undefined;
    try {
      all = fs.readdirSync(DIR);
      if (!all) {
        fs.mkdirSync(DIR);
        all = [];
      }
    } catch (e) {
      // On the board a missing folder throws (Linux returns undefined): make it, or give up on it.
      try {
        fs.mkdirSync(DIR);
      } catch (e2) {
        // no card: every write below fails with EIO, which the recorder handles
      }
      all = [];
    }
    const out: string[] = [];
    for (let i = 0; i < all.length; i++) if (all[i] !== '.' && all[i] !== '..') out.push(all[i]);
    out.sort();
    return out;
  }
  function sizeOf(name: string): number {
    try {
      const st = fs.statSync(DIR + '/' + name);
      return st ? st.size : -1;
    } catch (e) {
      return -1;
    }
  }
  const count = byteCount(names, function (n) {
    const z = sizeOf(n);
    return z < 0 ? 0 : z;
  });
  const usedBytes = count.used;
  /** The file put() last wrote, and its size after; '' once anything else wrote or erased, or a write failed. */
  let lastName = '';
  let lastSize = 0;
  function room(name: string, extra: number): void {
    if (usedBytes() + extra > capacityBytes) throw fail('ENOSPC', 'spool full writing ' + name);
  }

  /**
   * Write the parts in one open: appended (`offset` < 0, mode 'a') or over the bytes from `offset`
   * (at most the file's size; 'r+' writes in place, FatFs FA_READ | FA_WRITE | FA_OPEN_EXISTING,
   * and a new file starts with 'w'). Typed arrays are written as they are.
   */
  function put(name: string, offset: number, parts: (Uint8Array | string)[]): void {
    let n = 0;
    for (let i = 0; i < parts.length; i++) n += parts[i].length;
    // An append to the file the last write went to (a recording's chunks): its size after that
    // write, no stat (one FatFs f_stat a chunk fewer on the board). Only an append: the check
    // after it proves the file grew by exactly its bytes, so a file changed behind the spool (a
    // card swapped) fails EIO there; a write in place (the pre-trigger ring) stats as before.
    const before = offset < 0 && name === lastName ? lastSize : sizeOf(name);
    lastName = '';
    const had = before < 0 ? 0 : before;
    const at = offset < 0 ? had : offset;
    if (at > had) throw fail('EIO', 'card write past the end of ' + name);
    if (at + n > had) room(name, at + n - had);
    let f: EspruinoFile | undefined;
    let ok = true;
    try {
      f = E.openFile(DIR + '/' + name, offset < 0 ? 'a' : before < 0 ? 'w' : 'r+');
      if (offset > 0) f.seek(offset);
      for (let i = 0; i < parts.length; i++) f.write(parts[i]);
    } catch (e) {
      ok = false;
    } finally {
      if (f) f.close();
    }
    const after = sizeOf(name);
    count.change(after - had);
    // An append must add exactly its bytes; a write in place may leave the file longer.
    if (!ok || (offset < 0 ? after !== at + n : after < at + n)) throw fail('EIO', 'card write failed for ' + name);
    lastName = name;
    lastSize = after;
  }

  return {
    capacity: function () {
      // Asked by the installer's storage step: a card that cannot be listed or given its folder
      // throws its own error ("Unable to mount media : NOT_READY" with none), not a nominal size.
      try {
        fs.readdirSync(DIR);
      } catch (e) {
        fs.mkdirSync(DIR);
      }
      return capacityBytes;
    },
    used: usedBytes,
    write: function (name, data) {
      const old = sizeOf(name);
      lastName = '';
      room(name, data.length - (old < 0 ? 0 : old));
      // Typed arrays are written as they are (no copy into a flat string: measured on 2v29).
      let ok = false;
      try {
        ok = fs.writeFileSync(DIR + '/' + name, data);
      } catch (e) {
        ok = false;
      }
      if (!ok) throw fail('EIO', 'card write failed for ' + name);
      count.change(data.length - (old < 0 ? 0 : old));
    },
    append: function (name, parts) {
      put(name, -1, parts);
    },
    writeAt: function (name, offset, parts) {
      put(name, offset, parts);
    },
    readAt: function (name, offset, length) {
      let f: EspruinoFile | undefined;
      try {
        f = E.openFile(DIR + '/' + name, 'r');
        if (offset > 0) f.seek(offset);
        // The first read is the whole range but at the end of the file: no concatenation, which
        // would hold the string twice (a 4 KB chunk is ~340 variables on the board).
        let out = f.read(length) || '';
        while (out.length < length) {
          const part = f.read(length - out.length);
          if (part === undefined || part.length === 0) break;
          out += part;
        }
        return out;
      } catch (e) {
        return undefined;
      } finally {
        if (f) f.close();
      }
    },
    size: sizeOf,
    read: function (name) {
      const s = fs.readFileSync(DIR + '/' + name);
      return s === undefined ? undefined : ownedBytes(s);
    },
    readText: function (name) {
      try {
        return fs.readFileSync(DIR + '/' + name);
      } catch (e) {
        return undefined;
      }
    },
    erase: function (name) {
      const old = sizeOf(name);
      lastName = '';
      if (old < 0) return;
      fs.unlinkSync(DIR + '/' + name);
      count.change(-old);
    },
    list: names
  };
}

/** Spool in internal Storage, bounded to `capacityBytes` (boards without an SD card). */
export function createStorageSpool(capacityBytes: number): Spool {
  const S = global.require('Storage');
  const P = 'sp.';
  function names(): string[] {
    const all = S.list(undefined, { sf: false });
    const out: string[] = [];
    for (let i = 0; i < all.length; i++) if (all[i].indexOf(P) === 0) out.push(all[i].substr(P.length));
    out.sort();
    return out;
  }
  function sizeOf(name: string): number {
    const s = S.read(P + name);
    return s === undefined ? 0 : s.length;
  }
  const count = byteCount(names, sizeOf);
  const usedBytes = count.used;
  return {
    capacity: function () {
      return capacityBytes;
    },
    used: usedBytes,
    write: function (name, data) {
      if (name.length < 1 || name.length > 25) throw fail('ENAME', 'spool name "' + name + '" must be 1-25 characters');
      if (data.length === 0) throw fail('EDATA', 'spool cannot hold an empty blob ' + name);
      const old = sizeOf(name);
      if (usedBytes() - old + data.length > capacityBytes) throw fail('ENOSPC', 'spool full writing ' + name);
      try {
        // Storage.write takes a typed array (a subarray of the audio ring) without copying it.
        S.write(P + name, data as unknown as string);
      } catch (e) {
        throw fail('ENOSPC', 'storage full writing ' + name);
      }
      count.change(data.length - old);
    },
    append: function (name, parts) {
      // Build targets only (no card, no service): an append rewrites the file.
      let more = S.read(P + name) || '';
      for (let i = 0; i < parts.length; i++)
        more += typeof parts[i] === 'string' ? parts[i] : (E.toString(parts[i]) as string);
      this.write(name, more);
    },
    readAt: function (name, offset, length) {
      const s = S.read(P + name);
      return s === undefined ? undefined : s.substr(offset, length);
    },
    size: function (name) {
      const s = S.read(P + name);
      return s === undefined ? -1 : s.length;
    },
    read: function (name) {
      const s = S.read(P + name);
      return s === undefined ? undefined : ownedBytes(s);
    },
    readText: function (name) {
      return S.read(P + name);
    },
    erase: function (name) {
      const old = sizeOf(name);
      S.erase(P + name);
      count.change(-old);
    },
    list: names
  };
}
