/**
 * A journal record read as plain fields, for tests that look at a record's fields without first
 * narrowing it to its kind (the firmware's `JournalRecord` is a union discriminated on `k`), and for
 * the journal's own storage tests, which write kinds the firmware does not have.
 */
import type { Journal } from '../../firmware/journal';

export interface LooseRecord {
  i: number;
  k: string;
  u: number;
  t: number;
  [field: string]: any;
}

export interface LooseJournal {
  append(kind: string, fields?: Record<string, unknown>): LooseRecord;
  records(): LooseRecord[];
  corruptAtOpen(): number;
  nextIndex(): number;
}

export const loose = (r: unknown): LooseRecord => r as LooseRecord;
export const looseJournal = (j: Journal): LooseJournal => j as unknown as LooseJournal;
