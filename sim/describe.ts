/**
 * A monitoring-centre event in words, for people reading a log or the simulator page
 * (e.g. "panic (CID 1 120, zone 001) [Rrec 0001]").
 */
import type { CentreEvent } from './centre';

export const CID_NAMES: Record<string, string> = {
  '120': 'panic', '121': 'duress', '122': 'silent panic', '137': 'tamper', '301': 'mains loss', '302': 'low battery',
  '305': 'system reset', '350': 'communication trouble', '354': 'failure to communicate', '406': 'cancel',
  '300': 'system trouble', '308': 'system shutdown', '601': 'manual test', '602': 'periodic test',
  '616': 'service request'
};

export function describe(e: CentreEvent): string {
  if (e.id === 'NULL') return 'link test (NULL)';
  const what = e.cid
    ? `${e.cid.qualifier === 3 ? 'restore of ' : ''}${CID_NAMES[e.cid.code] ?? e.cid.code} (CID ${e.cid.qualifier} ${e.cid.code}, zone ${e.cid.zone})`
    : `SIA ${e.sia?.code} zone ${e.sia?.zone}`;
  return `${what}${e.xdata.length ? ' ' + e.xdata.map((x) => `[${x}]`).join('') : ''}${e.duplicate ? ' (duplicate)' : ''}`;
}

