/**
 * Every code the unit's installer service (firmware/installer.ts, and firmware/console.ts before it) can answer with, in one list
 * shared by the unit and the tool: the unit imports only the types (`import type`, so nothing here
 * reaches the image), the tool (tools/installer-link.ts) holds the words for each code, and a test
 * checks that every code has words and that the unit sends no other.
 */

/** Errors: `{id, ok: false, error: <code>, ...figures}`. */
export const INSTALLER_ERRORS = [
  'config-refused',
  'config-store',
  'busy-recording',
  'low-memory',
  'button-timeout',
  'mic-none',
  'mic-silent',
  'mic-bias',
  'mic-clip',
  'no-receivers',
  'path-down',
  'no-receiver',
  'report-noack',
  'mains-absent',
  'battery-low',
  'spool-small',
  'card-fault',
  'no-recorder',
  'flash-full',
  'clock-unknown',
  'bad-digest',
  'no-key',
  'not-commissioned',
  'password-bad',
  'password-none',
  'old-password',
  'wrong-password',
  'not-uploaded',
  'centre-noack',
  'too-long',
  'unknown-op',
  'exception',
  // Answered by the boot image's console (firmware/console.ts), not the module:
  'no-module',
  'code-bad',
  'unavailable'
] as const;

export type InstallerError = (typeof INSTALLER_ERRORS)[number];

/** Progress lines of long steps: `{id, progress: <code>, ...figures}`. */
export const INSTALLER_PROGRESS = ['button', 'mic', 'report', 'retire'] as const;

export type InstallerProgress = (typeof INSTALLER_PROGRESS)[number];
