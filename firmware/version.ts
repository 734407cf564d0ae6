/** Firmware version, reported in the boot record and (later) to the centre and the installer. */
export const FIRMWARE_VERSION = '0.1.0';
