/**
 * The installer module's image in its flash sector (hal/types.ts `CodeArea`): a 16-byte header
 * `IM01` + the module text's length (8 hex) + 4 spaces, then the text, padded with spaces to whole
 * words. build.js writes dist/installer-module.img in this form; the board's and the simulator's
 * code areas read it with `codeLength`.
 */
export const CODE_HEAD = 16;

/** The text's length from a header: 0 for an erased sector, -1 for a header that does not read. */
export function codeLength(head: string, size: number): number {
  let erased = true;
  for (let i = 0; i < CODE_HEAD; i++) if (head.charCodeAt(i) !== 0xff) erased = false;
  if (erased) return 0;
  const n = parseInt(head.substr(4, 8), 16);
  return head.substr(0, 4) === 'IM01' && n > 0 && n <= size - CODE_HEAD ? n : -1;
}
