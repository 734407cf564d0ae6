/**
 * Simulated NOR flash sectors (the HAL's `FlashArea`, hal/types.ts) with the hardware's rules, so a
 * store that passes here does not break on the board:
 * - erase sets a whole sector to 0xFF, at once: the ~250 ms a 16 KB erase stalls the STM32F4 is not
 *   modelled in time (`eraseMs` only records it; a sector rotates about 21 times in six months);
 * - a write programs whole 4-byte words, may only turn bits 1 → 0, and a word that is not erased
 *   is refused (as the HAL refuses it on the board);
 * - an address outside the area is refused;
 * - a power cut can land inside an erase (the sector is left partly erased: a prefix of its words
 *   back to 0xFF, the rest as it was) or inside a write (a prefix of its words programmed, the
 *   word being programmed torn: some of its bits only).
 * The flash outlives any one boot: a power cut drops the HAL and keeps this object.
 */
import type { FlashArea } from '../hal/types';

export class SimPowerLoss extends Error {
  constructor() {
    super('power lost during a flash operation');
  }
}

function flashError(message: string): Error {
  return Object.assign(new Error(message), { code: 'EFLASH' });
}

export class SimNorFlash {
  readonly bytes: Uint8Array;
  /** Erases per sector (wear) and words programmed. */
  readonly erases: number[];
  wordsWritten = 0;
  /**
   * Arm a power cut: it lands after this many more words are programmed or erased, inside the
   * operation that reaches it (which is left part-done and throws `SimPowerLoss`). Until the next
   * boot (`revive`) every operation then fails, as no code runs without power.
   */
  cutAfterWords: number | undefined;
  /** Where the last power cut landed: inside an erase or inside a write (until `revive`). */
  lostIn: 'erase' | 'write' | undefined;
  private dead = false;

  constructor(
    readonly sectorBytes = 16 * 1024,
    readonly sectors = 2,
    /** The time one erase takes on the board, ms (recorded, not simulated: see above). */
    readonly eraseMs = 250
  ) {
    this.bytes = new Uint8Array(sectorBytes * sectors).fill(0xff);
    this.erases = new Array(sectors).fill(0);
  }

  /** Power back: the flash works again (the next boot's HAL). */
  revive(): void {
    this.dead = false;
    this.cutAfterWords = undefined;
    this.lostIn = undefined;
  }

  /** Whether a power cut armed with `cutAfterWords` has landed. */
  get powerLost(): boolean {
    return this.dead;
  }

  private tick(): boolean {
    if (this.cutAfterWords === undefined) return false;
    if (this.cutAfterWords <= 0) return true;
    this.cutAfterWords--;
    return false;
  }

  private lose(where?: 'erase' | 'write'): never {
    if (!this.dead) this.lostIn = where;
    this.dead = true;
    throw new SimPowerLoss();
  }

  erase(sector: number): void {
    if (this.dead) this.lose();
    if (!Number.isInteger(sector) || sector < 0 || sector >= this.sectors)
      throw flashError(`sector ${sector} outside the flash area`);
    const base = sector * this.sectorBytes;
    for (let w = 0; w < this.sectorBytes; w += 4) {
      if (this.tick()) this.lose('erase');
      this.bytes.fill(0xff, base + w, base + w + 4);
    }
    this.erases[sector]++;
  }

  write(sector: number, offset: number, data: string): void {
    if (this.dead) this.lose();
    if (!Number.isInteger(sector) || sector < 0 || sector >= this.sectors)
      throw flashError(`sector ${sector} outside the flash area`);
    if (offset % 4 || data.length % 4) throw flashError(`unaligned write of ${data.length} bytes at ${offset}`);
    if (offset < 0 || offset + data.length > this.sectorBytes)
      throw flashError(`write of ${data.length} bytes at ${offset} runs outside sector ${sector}`);
    const base = sector * this.sectorBytes + offset;
    for (let i = 0; i < data.length; i++) {
      if (data.charCodeAt(i) > 255) throw flashError(`character ${data.charCodeAt(i)} is not a byte`);
    }
    for (let i = 0; i < data.length; i += 4) {
      for (let k = 0; k < 4; k++) {
        if (this.bytes[base + i + k] !== 0xff)
          throw flashError(`word at ${offset + i} of sector ${sector} is already written`);
      }
    }
    for (let i = 0; i < data.length; i += 4) {
      if (this.tick()) {
        // Torn: only some bits of this word go from 1 to 0.
        for (let k = 0; k < 4; k++) this.bytes[base + i + k] &= data.charCodeAt(i + k) | 0xaa;
        this.lose('write');
      }
      for (let k = 0; k < 4; k++) this.bytes[base + i + k] = data.charCodeAt(i + k);
      this.wordsWritten++;
    }
  }

  read(sector: number, offset: number, length: number): string {
    if (
      !Number.isInteger(sector) ||
      sector < 0 ||
      sector >= this.sectors ||
      offset < 0 ||
      offset + length > this.sectorBytes
    ) {
      throw flashError(`read of ${length} bytes at ${offset} outside sector ${sector}`);
    }
    const base = sector * this.sectorBytes + offset;
    return Buffer.from(this.bytes.subarray(base, base + length)).toString('latin1');
  }

  /** Flip one bit (a test damaging the flash on purpose). */
  flipBit(sector: number, offset: number, bit = 0): void {
    this.bytes[sector * this.sectorBytes + offset] ^= 1 << bit;
  }

  /** Where `text` first occurs in the whole area (from `from`), as a byte offset; -1 when absent. */
  find(text: string, from = 0): number {
    return Buffer.from(this.bytes).indexOf(Buffer.from(text, 'latin1'), from);
  }

  /** XOR one byte at an offset in the whole area (a test damaging a record). */
  flipByte(at: number, mask: number): void {
    this.bytes[at] ^= mask;
  }
}

/** The HAL's view of the simulated sectors. */
export function createSimFlashArea(nor: SimNorFlash): FlashArea {
  return {
    sectorBytes: nor.sectorBytes,
    sectors: nor.sectors,
    erase: (s) => nor.erase(s),
    write: (s, o, d) => nor.write(s, o, d),
    read: (s, o, n) => nor.read(s, o, n)
  };
}
