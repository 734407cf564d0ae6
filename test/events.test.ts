import { strict as assert } from 'node:assert';
import { siaCode } from '../firmware/events';

/**
 * Contact ID → SIA-DCS codes (docs/reporting.md): the event code, and the restore code for
 * qualifier 3. The firmware keeps them as one string (no table object in RAM); every entry is
 * checked here against the mapping written out in full.
 */
describe('SIA-DCS codes for the Contact ID events', () => {
  const table: [number, string, string][] = [
    [120, 'PA', 'PH'],
    [121, 'HA', 'HH'],
    [122, 'HA', 'HH'],
    [137, 'TA', 'TR'],
    [144, 'TA', 'TR'],
    [300, 'YX', 'YZ'],
    [301, 'AT', 'AR'],
    [302, 'YT', 'YR'],
    [305, 'YW', 'YW'],
    [308, 'YZ', 'YZ'],
    [350, 'YC', 'YK'],
    [354, 'YC', 'YK'],
    [406, 'OC', 'OC'],
    [601, 'RX', 'RX'],
    [602, 'RP', 'RP'],
    [616, 'YX', 'YZ']
  ];
  for (const [cid, event, restore] of table) {
    it(`${cid}: ${event} new, ${restore} restored`, () => {
      assert.equal(siaCode(cid, 1), event);
      assert.equal(siaCode(cid, 6), event, 'a status report is not a restore');
      assert.equal(siaCode(cid, 3), restore);
    });
  }
  it('a code it does not know is UX, including numbers that only appear across two entries', () => {
    for (const cid of [0, 100, 999, 20, 1201, 212, 3011]) assert.equal(siaCode(cid, 1), 'UX', String(cid));
  });
});
