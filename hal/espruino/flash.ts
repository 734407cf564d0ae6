/**
 * The HAL's `FlashArea` on an Espruino board: raw sectors outside Storage through the `Flash`
 * module. The area is the top `sectors × sectorBytes` of the highest region `Flash.getFree()`
 * reports: on the Espruino WiFi that is exactly sectors 1-3 (3 × 16 KB at 0x08004000); on the
 * Linux build (whose free region is its whole flash file, which Storage fills from the bottom) the
 * file's top 48 KB. Every address is checked against that area before any erase or write: one
 * outside it would destroy the bootloader or the firmware. Reads come straight from memory-mapped
 * flash (`E.memoryArea`) on the board; the Linux build maps no flash, so there `Flash.read`.
 */
import type { FlashArea } from '../types';

function flashError(message: string): Error {
  const e = new Error(message);
  (e as Error & { code: string }).code = 'EFLASH';
  return e;
}

export function createDeviceFlashArea(sectorBytes: number, sectors: number): FlashArea {
  const F = global.require('Flash');
  const free = F.getFree();
  const size = sectorBytes * sectors;
  let top = -1;
  for (let i = 0; i < free.length; i++) {
    if (free[i].length >= size && free[i].addr + free[i].length > top) top = free[i].addr + free[i].length;
  }
  if (top < 0) throw flashError('no free flash region holds ' + size + ' bytes');
  const base = top - size;
  // Linux's build reports itself; there flash is a file, not memory.
  const mapped = process.env.BOARD !== 'LINUX';

  function addr(sector: number, offset: number, length: number): number {
    if (!(sector >= 0 && sector < sectors) || offset < 0 || offset + length > sectorBytes) {
      throw flashError('flash access outside the area: sector ' + sector + ', ' + length + ' bytes at ' + offset);
    }
    return base + sector * sectorBytes + offset;
  }

  return {
    sectorBytes: sectorBytes,
    sectors: sectors,
    erase: function (sector: number) {
      const start = addr(sector, 0, sectorBytes);
      // A board page may be smaller than the area's sector (1 KB on Linux): erase each one.
      for (let a = start; a < start + sectorBytes; ) {
        const p = F.getPage(a);
        if (!p || p.addr < start || p.addr + p.length > start + sectorBytes) throw flashError('flash page at ' + a + ' is not inside the sector');
        F.erasePage(a);
        a = p.addr + p.length;
      }
    },
    write: function (sector: number, offset: number, data: string) {
      if (offset % 4 || data.length % 4) throw flashError('unaligned flash write of ' + data.length + ' bytes at ' + offset);
      const a = addr(sector, offset, data.length);
      // Only erased words may be programmed (NOR): refuse rather than corrupt.
      const now = mapped ? E.memoryArea(a, data.length) : E.toString(F.read(data.length, a)) || '';
      if (now !== '\xff'.repeat(data.length)) throw flashError('flash write of ' + data.length + ' bytes at ' + offset + ' over written words');
      F.write(data, a);
    },
    read: function (sector: number, offset: number, length: number) {
      const a = addr(sector, offset, length);
      return mapped ? E.memoryArea(a, length) : E.toString(F.read(length, a)) || '';
    }
  };
}
