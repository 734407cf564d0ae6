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

/** Contact ID code → SIA event code, restore code. */
const SIA: { [code: string]: string[] } = {
  '120': ['PA', 'PH'],
  '121': ['HA', 'HH'],
  '122': ['HA', 'HH'],
  '137': ['TA', 'TR'],
  '144': ['TA', 'TR'],
  '301': ['AT', 'AR'],
  '302': ['YT', 'YR'],
  '305': ['YW', 'YW'],
  '308': ['YZ', 'YZ'],
  '350': ['YC', 'YK'],
  '354': ['YC', 'YK'],
  '406': ['OC', 'OC'],
  '300': ['YX', 'YZ'],
  '601': ['RX', 'RX'],
  '616': ['YX', 'YZ'],
  '602': ['RP', 'RP']
};

/** SIA-DCS code for a Contact ID code and qualifier (3 = restore). */
export function siaCode(cid: number, qualifier: number): string {
  const pair = SIA[String(cid)];
  if (!pair) return 'UX';
  return qualifier === 3 ? pair[1] : pair[0];
}

/**
 * Events EN 50131-1 allows no more than 10 s for (hold-up and tamper), and the cancel that
 * follows a hold-up: these go on every route at once (after `failoverMs`, 0 by default) and go first.
 */
export function isUrgent(cid: number): boolean {
  return cid === 120 || cid === 121 || cid === 122 || cid === 137 || cid === 406;
}
