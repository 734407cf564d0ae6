/**
 * Node-side view of the Espruino natives that hal/espruino/crypto.ts uses, so the tests that run it
 * against an emulated `crypto` module type-check. (The device context declares these in
 * hal/espruino/espruino-extra.d.ts.)
 */
declare namespace E {
  function CRC32(data: string | ArrayBuffer | Uint8Array): number;
  function hwRand(): number;
  function toString(data: Uint8Array): string;
  function toUint8Array(data: string): Uint8Array;
  function defrag(): void;
  function mapInPlace(
    from: Uint8Array,
    to: Uint8Array | Uint16Array,
    map: Uint8Array | Uint16Array,
    bits: number
  ): void;
}
declare const __BOARD__: string;
declare function getTime(): number;
