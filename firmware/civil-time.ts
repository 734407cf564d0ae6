/**
 * Civil time: UTC milliseconds to and from the `HH:MM:SS,MM-DD-YYYY` form that DC-09 timestamps,
 * the service period and the journal's readers use (proleptic Gregorian, no time zones: the unit
 * keeps UTC). A leaf: it imports nothing, so the evidence and service paths need not import the
 * alarm wire protocol.
 */

/** `n` in decimal, zero-padded to `width` digits. */
export function dec(n: number, width: number): string {
  let s = String(n);
  while (s.length < width) s = '0' + s;
  return s;
}

/** Days since 1970-01-01 → [year, month 1-12, day 1-31] (proleptic Gregorian). */
function civil(days: number): number[] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

/** UTC ms → `HH:MM:SS,MM-DD-YYYY` (DC-09 timestamp without the leading `_`). */
export function formatTime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const days = Math.floor(s / 86400);
  const sod = s - days * 86400;
  const c = civil(days);
  return (
    dec(Math.floor(sod / 3600), 2) +
    ':' +
    dec(Math.floor(sod / 60) % 60, 2) +
    ':' +
    dec(sod % 60, 2) +
    ',' +
    dec(c[1], 2) +
    '-' +
    dec(c[2], 2) +
    '-' +
    dec(c[0], 4)
  );
}

/** The `n` decimal digits of `s` at `from` as a number; -1 when any is not a digit. */
export function digits(s: string, from: number, n: number): number {
  let v = 0;
  for (let i = from; i < from + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** `HH:MM:SS,MM-DD-YYYY` → UTC ms; `undefined` when malformed or out of range. */
export function parseTime(t: string): number | undefined {
  if (
    t.length !== 19 ||
    t.charAt(2) !== ':' ||
    t.charAt(5) !== ':' ||
    t.charAt(8) !== ',' ||
    t.charAt(11) !== '-' ||
    t.charAt(14) !== '-'
  ) {
    return undefined;
  }
  const hh = digits(t, 0, 2);
  const mi = digits(t, 3, 2);
  const ss = digits(t, 6, 2);
  const mo = digits(t, 9, 2);
  const dd = digits(t, 12, 2);
  const yy = digits(t, 15, 4);
  if (
    hh < 0 ||
    hh > 23 ||
    mi < 0 ||
    mi > 59 ||
    ss < 0 ||
    ss > 59 ||
    mo < 1 ||
    mo > 12 ||
    dd < 1 ||
    dd > 31 ||
    yy < 1970
  ) {
    return undefined;
  }
  return ((daysFromCivil(yy, mo, dd) * 24 + hh) * 60 + mi) * 60000 + ss * 1000;
}
