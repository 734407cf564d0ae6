/**
 * A monitoring-centre event in words, for people reading a log or the simulator page
 * (e.g. "panic (CID 1 120, zone 001) [Rrec 0001]").
 */
import type { CentreEvent } from './centre';
import { isUrgent } from '../firmware/events';

export const CID_NAMES: Record<string, string> = {
  '120': 'panic',
  '121': 'duress',
  '122': 'silent panic',
  '137': 'tamper',
  '301': 'mains loss',
  '302': 'low battery',
  '305': 'system reset',
  '350': 'communication trouble',
  '354': 'failure to communicate',
  '406': 'cancel',
  '300': 'system trouble',
  '308': 'system shutdown',
  '601': 'manual test',
  '602': 'periodic test',
  '616': 'service request'
};

export function describe(e: CentreEvent): string {
  if (e.id === 'NULL') return 'link test (NULL)';
  const what = e.cid
    ? `${e.cid.qualifier === 3 ? 'restore of ' : ''}${CID_NAMES[e.cid.code] ?? e.cid.code} (CID ${e.cid.qualifier} ${e.cid.code}, zone ${e.cid.zone})`
    : `SIA ${e.sia?.code} zone ${e.sia?.zone}`;
  return `${what}${e.xdata.length ? ' ' + e.xdata.map((x) => `[${x}]`).join('') : ''}${e.duplicate ? ' (duplicate)' : ''}`;
}

/**
 * The run in one line an operator can read at a glance: what the unit sent, what was acknowledged
 * (and in which form), what was refused and why; `alarmsMissed` counts alarms left unacknowledged.
 */
export function verdict(
  recs: { k: string; i: number; c?: unknown; r?: unknown; f?: unknown }[],
  why: Map<string, number>
): { line: string; alarmsMissed: number } {
  const events = recs.filter((r) => r.k === 'ev');
  const ok = new Map(recs.filter((r) => r.k === 'ok').map((r) => [r.r, r]));
  const acked = events.filter((e) => ok.has(e.i));
  const leaner = acked.filter((e) => ok.get(e.i)!.f !== undefined).length;
  const refused = new Set(recs.filter((r) => r.k === 'duh').map((r) => r.r)).size;
  const missed = events.filter((e) => !ok.has(e.i));
  const alarmsMissed = missed.filter((e) => isUrgent(e.c as number)).length;
  const reasons = [...why.entries()].map(([w, n]) => `${w} x${n}`).join('; ');
  const line =
    `VERDICT: ${alarmsMissed ? 'FAIL' : 'OK'}: ${events.length} events sent, ${acked.length} acknowledged` +
    `${leaner ? ` (${leaner} in a leaner form)` : ''}, ${refused} refused in every form, ${missed.length} unacknowledged` +
    `${alarmsMissed ? ` (${alarmsMissed} ALARM${alarmsMissed > 1 ? 'S' : ''})` : ''}${reasons ? `; replies refused or not taken: ${reasons}` : ''}`;
  return { line, alarmsMissed };
}

/** What the unit's log says about replies it did not take and events refused: reason → count. */
export function replyTroubles(lines: string[]): Map<string, number> {
  const why = new Map<string, number>();
  const add = (w: string) => why.set(w, (why.get(w) ?? 0) + 1);
  for (const l of lines) {
    const ignored = /(\w+): reply ignored: (.*)$/.exec(l);
    if (ignored) add(`${ignored[1]} ignored a reply: ${ignored[2].replace(/ \(\d+\)$/, '')}`);
    const refused = /^event \d+ refused by (\w+)(.*)$/.exec(l);
    if (refused)
      add(
        `${refused[1]} refused an event ${/minimal form$/.test(refused[2]) && /even/.test(refused[2]) ? 'in every form' : '(sent again leaner)'}`
      );
  }
  return why;
}
