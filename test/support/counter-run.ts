/** Longest run of consecutive counter samples (k, k+1, k+2 … mod 256) anywhere in `b`. */
export function longestCounterRun(b: Uint8Array): number {
  let best = 0;
  let run = 0;
  for (let i = 1; i < b.length; i++) {
    run = b[i] === ((b[i - 1] + 1) & 255) ? run + 1 : 0;
    if (run > best) best = run;
  }
  return best + 1;
}
