/**
 * What every board's composition file (./boards/<board>.ts) exports. The build resolves the
 * device entry's `../hal/espruino/board` to the file of the board being built (build.js,
 * BOARD_FILES), so an image holds that board's composition and the drivers it names, nothing of
 * another board's; this declaration is what the type check sees instead.
 */
import type { Crypto, FlashArea, Hal } from '../types';
import type { DeviceSettings } from './index';

/** The board's crypto (native AES, or the JavaScript AES where its build has none). */
export declare function createBoardCrypto(): Crypto;
/**
 * The HAL of the board. `flash` and `crypto` are given when the entry point made them first (to
 * read the stored config before the bearers start).
 */
export declare function createBoardHal(settings: DeviceSettings, made: { flash: FlashArea; crypto: Crypto }): Hal;
