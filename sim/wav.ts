/**
 * Minimal WAV (RIFF) reading and writing for the simulator: PCM mono, 8-bit unsigned (the unit's
 * native format) or 16-bit signed (converted to 8-bit when read).
 */

export interface Wav {
  rate: number;
  /** Unsigned 8-bit samples, 128 = silence. */
  samples: Uint8Array;
}

export function parseWav(buf: Buffer): Wav {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  let pos = 12;
  let rate = 0;
  let bits = 0;
  let channels = 0;
  let format = 0;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('ascii', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      format = buf.readUInt16LE(body);
      channels = buf.readUInt16LE(body + 2);
      rate = buf.readUInt32LE(body + 4);
      bits = buf.readUInt16LE(body + 14);
    } else if (id === 'data') {
      if (format !== 1) throw new Error(`WAV format ${format} is not PCM`);
      if (channels !== 1) throw new Error(`WAV has ${channels} channels; the unit records mono`);
      const end = Math.min(buf.length, body + size);
      if (bits === 8) return { rate, samples: new Uint8Array(buf.subarray(body, end)) };
      if (bits === 16) {
        const n = Math.floor((end - body) / 2);
        const out = new Uint8Array(n);
        for (let i = 0; i < n; i++) out[i] = (buf.readInt16LE(body + 2 * i) >> 8) + 128;
        return { rate, samples: out };
      }
      throw new Error(`WAV has ${bits}-bit samples; 8 or 16 supported`);
    }
    pos = body + size + (size & 1);
  }
  throw new Error('WAV has no data chunk');
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
