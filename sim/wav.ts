/**
 * Minimal WAV (RIFF) reading and writing for the simulator: PCM mono, 8-bit unsigned (the unit's
 * native format) or 16-bit signed (converted to 8-bit when read).
 *
 * Reading is in two steps so a caller can refuse a file before any sample is decoded:
 * `readWavInfo` walks the chunks and checks the fmt chunk (nothing is allocated), `decodeWav`
 * then decodes. `parseWav` does both. Every problem is thrown as a `WavError` whose message says
 * what was wrong; no input makes them throw anything else.
 */

export interface Wav {
  rate: number;
  /** Unsigned 8-bit samples, 128 = silence. */
  samples: Uint8Array;
}

/** What the header says, checked: a file `decodeWav` can decode. */
export interface WavInfo {
  /** Sample rate from the fmt chunk, Hz (at least 1; the caller decides what it can use). */
  rate: number;
  /** Always 1 (mono). */
  channels: number;
  /** 8 or 16. */
  bits: number;
  /** Byte offset of the first sample. */
  dataOffset: number;
  /**
   * Bytes of samples the file holds. A data chunk claiming more than the file has (a recorder
   * that never went back to fix the length writes 0xFFFFFFFF) is read up to the end of the file.
   */
  dataBytes: number;
  /** Samples in the file (a trailing odd byte of 16-bit data is dropped). */
  frames: number;
}

/** A file that is not a WAV this module reads, with the reason. */
export class WavError extends Error {}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** Bytes 4-15 of every WAVE_FORMAT_EXTENSIBLE sub-format GUID (the first 4 are the format code). */
const KSDATAFORMAT_TAIL = Buffer.from([0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71]);
const FORMAT_NAMES: Record<number, string> = {
  2: 'MS ADPCM',
  3: 'IEEE float',
  6: 'A-law',
  7: 'mu-law',
  0x11: 'IMA ADPCM',
  0x55: 'MP3'
};

/** Walks the chunks and checks the fmt chunk; throws a `WavError` saying what is wrong. */
export function readWavInfo(buf: Buffer): WavInfo {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new WavError('not a RIFF/WAVE file');
  }
  let pos = 12;
  let fmt: { rate: number; channels: number; bits: number } | undefined;
  // Each step moves at least 8 bytes, so a file of N bytes takes at most N/8 steps.
  while (pos + 8 <= buf.length) {
    const id = buf.toString('ascii', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (fmt) throw new WavError('WAV has two fmt chunks');
      fmt = readFmt(buf, body, size);
    } else if (id === 'data') {
      if (!fmt) throw new WavError('WAV has no fmt chunk before its data chunk');
      const dataBytes = Math.min(size, buf.length - body);
      return { ...fmt, dataOffset: body, dataBytes, frames: Math.floor(dataBytes / (fmt.bits / 8)) };
    }
    pos = body + size + (size & 1);
  }
  throw new WavError(fmt ? 'WAV has no data chunk' : 'WAV has no fmt chunk (the header is missing or cut short)');
}

function readFmt(buf: Buffer, body: number, size: number): { rate: number; channels: number; bits: number } {
  if (size < 16) throw new WavError(`WAV fmt chunk is ${size} bytes; at least 16 needed`);
  if (body + 16 > buf.length) throw new WavError('WAV fmt chunk is cut short (the file ends inside it)');
  let format = buf.readUInt16LE(body);
  const channels = buf.readUInt16LE(body + 2);
  const rate = buf.readUInt32LE(body + 4);
  const bits = buf.readUInt16LE(body + 14);
  if (format === WAVE_FORMAT_EXTENSIBLE) {
    if (size < 40) throw new WavError(`WAV fmt chunk (WAVE_FORMAT_EXTENSIBLE) is ${size} bytes; 40 needed`);
    if (body + 40 > buf.length)
      throw new WavError('WAV fmt chunk (WAVE_FORMAT_EXTENSIBLE) is cut short (the file ends inside it)');
    const code = buf.readUInt32LE(body + 24);
    if (!buf.subarray(body + 28, body + 40).equals(KSDATAFORMAT_TAIL) || code > 0xffff) {
      throw new WavError('WAV (WAVE_FORMAT_EXTENSIBLE) has an unknown sub-format; PCM supported');
    }
    format = code;
  }
  if (format !== WAVE_FORMAT_PCM) {
    const name = FORMAT_NAMES[format];
    throw new WavError(`WAV format ${format}${name ? ` (${name})` : ''} is not PCM`);
  }
  if (channels !== 1) throw new WavError(`WAV has ${channels} channels; the unit records mono (1 channel)`);
  if (bits !== 8 && bits !== 16) throw new WavError(`WAV has ${bits}-bit samples; 8 or 16 supported`);
  if (rate === 0) throw new WavError('WAV sample rate is 0 Hz');
  return { rate, channels, bits };
}

/** The samples `info` (from `readWavInfo` on the same buffer) describes, as unsigned 8-bit. */
export function decodeWav(buf: Buffer, info: WavInfo): Wav {
  const { dataOffset: at, frames } = info;
  if (info.bits === 8) return { rate: info.rate, samples: new Uint8Array(buf.subarray(at, at + frames)) };
  const out = new Uint8Array(frames);
  for (let i = 0; i < frames; i++) out[i] = (buf.readInt16LE(at + 2 * i) >> 8) + 128;
  return { rate: info.rate, samples: out };
}

export function parseWav(buf: Buffer): Wav {
  return decodeWav(buf, readWavInfo(buf));
}

/** A PCM 8-bit mono WAV file image. */
export function encodeWav(samples: Uint8Array, rate: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + samples.length, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate, 28);
  h.writeUInt16LE(1, 32);
  h.writeUInt16LE(8, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(samples.length, 40);
  const pad = samples.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0);
  return Buffer.concat([h, Buffer.from(samples.buffer, samples.byteOffset, samples.length), pad]);
}
