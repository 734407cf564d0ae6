import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * hal/espruino/crypto.ts's AES piece and spare-run sizes, read from its source (they are not
 * exported: the board's image keeps only what the firmware uses).
 */
export function aesSizes(): { piece: number; spare: number } {
  const src = fs.readFileSync(path.join(__dirname, '..', '..', 'hal', 'espruino', 'crypto.ts'), 'utf8');
  const piece = Number(/const AES_PIECE = (\d+);/.exec(src)?.[1]);
  return { piece, spare: piece + Number(/const AES_SPARE = AES_PIECE \+ (\d+);/.exec(src)?.[1]) };
}
