/**
 * Simulated internal flash with Espruino Storage's limits, so firmware that passes here does not
 * break on the device:
 * - file names of at most 28 characters (27 for append files, whose last byte numbers the chunk);
 * - a fixed capacity (64 KB on the Espruino WiFi), counting a 32-byte header per file and whole
 *   4096-byte chunks for append files;
 * - data are byte strings (char codes 0..255); append files cannot hold the byte 0xFF;
 * - written bytes are never rewritten in place: `write` replaces a whole file, `append` adds.
 * - the single page (2v29, src/jsflash.c; ../shared/docs/espruino-platform.md, "Storage"): a new
 *   file or a rewrite goes after the last file, and a rewrite or an erase leaves the old bytes as
 *   trash. When the space after the last file runs out, only a compaction reclaims the trash, and
 *   it needs every live byte in one RAM buffer: `compactRamBytes` is the largest the firmware could
 *   give at that moment (default: unbounded, a board with pages to spare). Without it the write
 *   fails, and a rewrite has already erased its old copy. A power cut during a compaction
 *   (`cutInCompaction`) loses every file, the boot image included.
 *
 * The flash outlives any one boot of the unit: a power cut drops the HAL and keeps this object.
 * Tests damage it on purpose with `flipByte` and `truncate`.
 */
import type { AppendFile, RecordStore } from '../hal/types';

export const MAX_NAME = 28;
export const MAX_APPEND_NAME = 27;
const HEADER = 32;
const CHUNK = 4096;

export class StorageError extends Error {
  constructor(
    readonly code: 'ENOSPC' | 'ENAME' | 'EDATA' | 'EPOWER',
    message: string
  ) {
    super(message);
  }
}

interface Entry {
  data: string;
  append: boolean;
}

function cost(e: Entry): number {
  if (e.append) return Math.max(1, Math.ceil(e.data.length / (CHUNK - HEADER))) * CHUNK;
  return HEADER + Math.ceil(e.data.length / 4) * 4;
}

function checkBytes(data: string, noFF: boolean): void {
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c > 255) throw new StorageError('EDATA', `character ${c} at ${i} is not a byte`);
    if (noFF && c === 255) throw new StorageError('EDATA', `append files cannot hold byte 0xFF (at ${i})`);
  }
}

export class SimFlash {
  private files = new Map<string, Entry>();
  /** Bytes of erased and replaced files still on the page (only a compaction reclaims them). */
  private trash = 0;
  /** Count of writes/appends, for wear estimates. */
  writes = 0;
  /** Compactions done (each erases the page once). */
  compactions = 0;
  /** A power cut lands in the next compaction: between its erase and its rewrite. */
  cutInCompaction = false;

  constructor(
    readonly capacity = 64 * 1024,
    /** The largest RAM buffer a compaction could get (all live bytes must fit in it). */
    readonly compactRamBytes = Infinity
  ) {}

  /** Bytes of live files. */
  used(): number {
    let n = 0;
    for (const e of this.files.values()) n += cost(e);
    return n;
  }

  /** Bytes a write can have: after the last file, and the trash too when a compaction could run. */
  free(): number {
    return this.capacity - this.used() - (this.canCompact() ? 0 : this.trash);
  }

  /** Bytes of trash on the page. */
  trashBytes(): number {
    return this.trash;
  }

  names(prefix = ''): string[] {
    return [...this.files.keys()].filter((n) => n.startsWith(prefix)).sort();
  }

  read(name: string): string | undefined {
    return this.files.get(name)?.data;
  }

  private checkName(name: string, max: number): void {
    if (typeof name !== 'string' || name.length === 0 || name.length > max) {
      throw new StorageError('ENAME', `storage name "${name}" must be 1-${max} characters`);
    }
  }

  private canCompact(): boolean {
    return this.used() <= this.compactRamBytes;
  }

  /** Make room for `bytes` more after the last file, compacting if that is needed and possible. */
  private room(bytes: number, name: string): void {
    if (this.used() + this.trash + bytes <= this.capacity) return;
    if (this.trash > 0 && this.canCompact()) {
      this.compactions++;
      if (this.cutInCompaction) {
        this.cutInCompaction = false;
        this.files.clear();
        this.trash = 0;
        throw new StorageError('EPOWER', 'power lost during a compaction: every file is gone');
      }
      this.trash = 0;
      if (this.used() + bytes <= this.capacity) return;
    }
    const why =
      this.trash > 0
        ? `a compaction would need ${this.used()} B of RAM in one piece and ${this.compactRamBytes} B can be had`
        : 'storage full';
    throw new StorageError('ENOSPC', `unable to find or create file "${name}": ${why}`);
  }

  write(name: string, data: string): void {
    this.checkName(name, MAX_NAME);
    checkBytes(data, false);
    const old = this.files.get(name);
    const entry: Entry = { data, append: false };
    // Refused before anything changes when it could never fit, even on an empty page.
    if (this.used() - (old ? cost(old) : 0) + cost(entry) > this.capacity)
      throw new StorageError('ENOSPC', `storage full writing "${name}"`);
    // As Storage.write at offset 0 does: the old copy is erased first, then the new one created.
    if (old) {
      this.files.delete(name);
      this.trash += cost(old);
    }
    this.room(cost(entry), name);
    this.files.set(name, entry);
    this.writes++;
  }

  append(name: string, data: string): void {
    this.checkName(name, MAX_APPEND_NAME);
    checkBytes(data, true);
    const old = this.files.get(name);
    if (old && !old.append) throw new StorageError('ENAME', `"${name}" is a record, not an append file`);
    const entry: Entry = { data: (old ? old.data : '') + data, append: true };
    // Appends fill their chunk in place; a new chunk goes after the last file.
    const grow = cost(entry) - (old ? cost(old) : 0);
    if (this.used() + grow > this.capacity) throw new StorageError('ENOSPC', `storage full appending to "${name}"`);
    if (grow > 0) this.room(grow, name);
    this.files.set(name, entry);
    this.writes++;
  }

  erase(name: string): void {
    const old = this.files.get(name);
    if (!old) return;
    this.files.delete(name);
    this.trash += cost(old);
  }

  // ---- fault injection -------------------------------------------------------------------------

  /** Flip bits of one byte (a flash bit error). `offset` may be negative (from the end). */
  flipByte(name: string, offset: number, mask = 0x01): void {
    const e = this.files.get(name);
    if (!e || e.data.length === 0) throw new Error(`no data in "${name}" to corrupt`);
    const at = offset < 0 ? e.data.length + offset : offset;
    if (at < 0 || at >= e.data.length) throw new Error(`offset ${offset} outside "${name}"`);
    let c = e.data.charCodeAt(at) ^ mask;
    if (e.append && c === 255) c = 254;
    e.data = e.data.substring(0, at) + String.fromCharCode(c) + e.data.substring(at + 1);
  }

  /** Cut a file to `length` bytes (a write interrupted by a power failure). */
  truncate(name: string, length: number): void {
    const e = this.files.get(name);
    if (!e) throw new Error(`no file "${name}"`);
    e.data = e.data.substring(0, Math.max(0, length));
  }

  /** A deep copy (e.g. to keep a unit's flash across a simulated power cut in another process). */
  snapshot(): Record<string, { data: string; append: boolean }> {
    const out: Record<string, { data: string; append: boolean }> = {};
    for (const [k, v] of this.files) out[k] = { data: v.data, append: v.append };
    return out;
  }

  static restore(snap: Record<string, { data: string; append: boolean }>, capacity?: number): SimFlash {
    const f = new SimFlash(capacity);
    for (const k of Object.keys(snap)) f.files.set(k, { data: snap[k].data, append: snap[k].append });
    return f;
  }
}

/** The HAL's RecordStore over a SimFlash. */
export function createSimRecordStore(flash: SimFlash): RecordStore {
  return {
    maxName: MAX_NAME,
    read: (name) => flash.read(name),
    write: (name, data) => flash.write(name, data),
    erase: (name) => flash.erase(name),
    list: (prefix) => flash.names(prefix),
    free: () => flash.free(),
    appendFile(name: string): AppendFile {
      if (name.length > MAX_APPEND_NAME) {
        throw new StorageError('ENAME', `append file name "${name}" must be 1-${MAX_APPEND_NAME} characters`);
      }
      return {
        append: (data) => flash.append(name, data),
        read: () => flash.read(name) ?? '',
        size: () => (flash.read(name) ?? '').length,
        erase: () => flash.erase(name)
      };
    }
  };
}
