/**
 * Raw flash outside Storage on an Espruino board, through the `Flash` module: the top 48 KB (three
 * 16 KB sectors) of the highest region `Flash.getFree()` reports. On the Espruino WiFi that is
 * exactly sectors 1-3 at 0x08004000; on the Linux build (whose free region is its whole flash file,
 * which Storage fills from the bottom) the file's top 48 KB. The first two sectors are the record
 * store's `FlashArea`, the third the installer module's `CodeArea` (docs/journal.md, "Flash
 * layout"). Every address is checked against its area before any erase or write: one outside would
 * destroy the bootloader or the firmware. Reads come straight from memory-mapped flash
 * (`E.memoryArea`) on the board; the Linux build maps no flash, so there `Flash.read`.
 */
import type { CodeArea, Crypto, FlashArea } from '../types';
import { CODE_HEAD, codeLength } from '../code-image';

const SECTOR = 16 * 1024;
/** Sectors of the region: the record store's, then the code area's one. */
const STORE_SECTORS = 2;

function flashError(message: string): Error {
  const e = new Error(message);
  (e as Error & { code: string }).code = 'EFLASH';
  return e;
}

interface Region {
  F: EspruinoFlash;
  base: number;
  mapped: boolean;
}

type EspruinoFlash = {
  getFree(): { addr: number; length: number }[];
  getPage(a: number): { addr: number; length: number } | undefined;
  erasePage(a: number): void;
  write(data: string, a: number): void;
  read(n: number, a: number): Uint8Array;
};

let region: Region | undefined;

/** The 48 KB region, found once. */
function flashRegion(): Region {
  if (region) return region;
  const F = global.require('Flash') as EspruinoFlash;
  const free = F.getFree();
  const size = SECTOR * (STORE_SECTORS + 1);
  let top = -1;
  for (let i = 0; i < free.length; i++) {
    if (free[i].length >= size && free[i].addr + free[i].length > top) top = free[i].addr + free[i].length;
  }
  if (top < 0) throw flashError('no free flash region holds ' + size + ' bytes');
  // Linux's build reports itself; there flash is a file, not memory.
  region = { F: F, base: top - size, mapped: process.env.BOARD !== 'LINUX' };
  return region;
}

function readAt(r: Region, a: number, length: number): string {
  return r.mapped ? E.memoryArea(a, length) : E.toString(r.F.read(length, a)) || '';
}

/** Erase `[start, start + bytes)`: a board page may be smaller than a sector (1 KB on Linux). */
function eraseRange(r: Region, start: number, bytes: number): void {
  for (let a = start; a < start + bytes;) {
    const p = r.F.getPage(a);
    if (!p || p.addr < start || p.addr + p.length > start + bytes)
      throw flashError('flash page at ' + a + ' is not inside the sector');
    r.F.erasePage(a);
    a = p.addr + p.length;
  }
}

/** Program erased words only (NOR): refuse rather than corrupt. */
function program(r: Region, a: number, data: string, offset: number): void {
  if (offset % 4 || data.length % 4)
    throw flashError('unaligned flash write of ' + data.length + ' bytes at ' + offset);
  if (readAt(r, a, data.length) !== '\xff'.repeat(data.length))
    throw flashError('flash write of ' + data.length + ' bytes at ' + offset + ' over written words');
  r.F.write(data, a);
}

/** The record store's sectors: the region's first two. */
export function createDeviceFlashArea(): FlashArea {
  const r = flashRegion();
  function addr(sector: number, offset: number, length: number): number {
    if (!(sector >= 0 && sector < STORE_SECTORS) || offset < 0 || offset + length > SECTOR) {
      throw flashError('flash access outside the area: sector ' + sector + ', ' + length + ' bytes at ' + offset);
    }
    return r.base + sector * SECTOR + offset;
  }
  return {
    sectorBytes: SECTOR,
    sectors: STORE_SECTORS,
    erase: function (sector: number) {
      eraseRange(r, addr(sector, 0, SECTOR), SECTOR);
    },
    write: function (sector: number, offset: number, data: string) {
      program(r, addr(sector, offset, data.length), data, offset);
    },
    read: function (sector: number, offset: number, length: number) {
      return readAt(r, addr(sector, offset, length), length);
    }
  };
}

/**
 * The installer module's sector: the region's third. `sha` is the SHA-256 (hex) of the module this
 * image was built with (the build's `__MODULE_SHA__`): any other text is never evaluated.
 */
export function createDeviceCodeArea(crypto: Crypto, sha: string): CodeArea {
  const r = flashRegion();
  const start = r.base + STORE_SECTORS * SECTOR;
  return {
    size: SECTOR,
    load: function () {
      const n = codeLength(readAt(r, start, CODE_HEAD), SECTOR);
      if (n === 0) return 'absent';
      if (n < 0) return 'damaged';
      const text = readAt(r, start + CODE_HEAD, n);
      if (crypto.hex(crypto.sha256(text)) !== sha) return 'other-build';
      let m: unknown;
      try {
        // Indirect: the module is one expression that builds its own scope. From mapped flash its
        // function bodies stay in flash, as the boot image's do.
        m = (0, eval)(text);
      } catch (e) {
        return 'failed';
      }
      return typeof m === 'object' && m !== null ? (m as object) : 'failed';
    },
    write: function (offset: number, data: string) {
      if (offset < 0 || offset + data.length > SECTOR)
        throw flashError('code area write of ' + data.length + ' bytes at ' + offset + ' outside its sector');
      if (offset === 0) eraseRange(r, start, SECTOR);
      program(r, start + offset, data, offset);
    }
  };
}
