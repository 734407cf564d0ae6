/**
 * The installer module: the code the unit needs only while an installer works on it or while a
 * config is checked (the installer's service, firmware/installer.ts, and the config check,
 * firmware/config-check.ts). The build makes it a bundle of its own (dist/installer-module.img)
 * which the installer tool writes to a flash sector beside the record store; the boot image holds
 * only its SHA-256 and loads it through the HAL's code area while it is used, so it costs neither
 * Storage nor RAM at idle (docs/journal.md, "Flash layout"). Nothing in the boot image may import
 * this file except as a type.
 */
import { checkConfig, problemCodes } from './config-check';
import { createInstaller } from './installer';

export interface InstallerModule {
  checkConfig: typeof checkConfig;
  problemCodes: typeof problemCodes;
  createInstaller: typeof createInstaller;
}

export const installerModule: InstallerModule = {
  checkConfig: checkConfig,
  problemCodes: problemCodes,
  createInstaller: createInstaller
};
