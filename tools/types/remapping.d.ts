/**
 * The one call build.js makes of @jridgewell/remapping. Its own declaration file (types/remapping.d.cts)
 * writes `export = function …`, which TypeScript 5.9 does not parse, so checkJs reads this instead.
 */
declare function remapping(
  maps: unknown[],
  loader: (file: string) => unknown
): { toString(): string; [k: string]: unknown };
export = remapping;
