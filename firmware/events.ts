/**
 * The events this unit reports: Contact ID codes (SIA DC-05) and their SIA-DCS equivalents.
 * Zones and users: docs/reporting.md.
 */

export const CID = {
  PANIC: 120,
  DURESS: 121,
  SILENT_PANIC: 122,
  TAMPER: 137,
  /** System trouble; zone says which (7 audio store full, 8 storage corrupt, 9 firmware faults). */
  TROUBLE: 300,
  MAINS: 301,
  BATTERY: 302,
  RESET: 305,
  /** Decommissioned by the installer (docs/installer.md). */
  SHUTDOWN: 308,
  COMMS: 350,
  FAIL: 354,
  CANCEL: 406,
  MANUAL_TEST: 601,
  SERVICE: 616,
  PERIODIC_TEST: 602
};

/**
 * Contact ID code → SIA event code and restore code, as one string of 7-character entries (the
 * code, then the two SIA codes). A string literal stays in the image's flash on the board; the
 * table object it replaced held 96 variables of RAM for as long as the unit ran, for a format the
 * default config does not use (docs/footprint.md).
 */
const SIA =
  '120PAPH121HAHH122HAHH137TATR144TATR301ATAR302YTYR305YWYW308YZYZ350YCYK354YCYK406OCOC300YXYZ601RXRX616YXYZ602RPRP';

/** SIA-DCS code for a Contact ID code and qualifier (3 = restore); `UX` for a code it does not know. */
export function siaCode(cid: number, qualifier: number): string {
  const c = String(cid);
  for (let i = 0; i < SIA.length; i += 7) {
    if (SIA.substr(i, 3) === c) return SIA.substr(qualifier === 3 ? i + 5 : i + 3, 2);
  }
  return 'UX';
}

/**
 * Events EN 50131-1 allows no more than 10 s for (hold-up and tamper), and the cancel that
 * follows a hold-up: these go on every route at once (after `failoverMs`, 0 by default) and go first.
 */
export function isUrgent(cid: number): boolean {
  return cid === 120 || cid === 121 || cid === 122 || cid === 137 || cid === 406;
}
