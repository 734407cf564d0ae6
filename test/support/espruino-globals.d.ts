/**
 * Node-side view of the Espruino natives that hal/espruino/crypto.ts uses, so the tests that run it
 * against an emulated `crypto` module type-check. (The device context declares these in
 * hal/espruino/espruino-extra.d.ts.)
 */
declare namespace E {
  function CRC32(data: string | ArrayBuffer | Uint8Array): number;
  function hwRand(): number;
  function toString(data: Uint8Array): string;
}
declare function getTime(): number;
