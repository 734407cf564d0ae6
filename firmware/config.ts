/**
 * The unit's configuration: its shape, the factory defaults, and what the rest of the image needs
 * of it (a receiver key's bytes, the audio ring's size). The check the unit runs on every config
 * it is given is firmware/config-check.ts, which lives in the installer module (outside the boot
 * image, docs/journal.md "Flash layout"); the installer tool runs the same function.
 *
 * Regexes here avoid `?` and `{n,m}`: Espruino's engine never matches them (docs/espruino-notes.md).
 */

export interface IndicatorConfig {
  /** Pattern shown once the centre has acknowledged an alarm: `blink` or `off`. */
  confirm: 'blink' | 'off';
  /** Brief LED flash at boot so an installer sees the unit start. */
  bootFlash: boolean;
}

/** One monitoring-centre receiver reached over one path. */
export interface ReceiverConfig {
  /** Bearer: `wifi` or `cellular`. */
  path: 'wifi' | 'cellular';
  /** Receiver host name or IPv4 address. */
  host: string;
  port: number;
  transport: 'tcp' | 'udp';
  /** Account at this receiver (3–16 hex digits); default: the unit's `account`. */
  account?: string;
  /** DC-09 receiver number `R` (1–6 hex digits); omitted from frames when absent. */
  receiver?: string;
  /** DC-09 line prefix `L` (1–6 hex digits). */
  line: string;
  /**
   * AES key: 32/48/64 hex digits (binary key) or a 16/24/32-character string (its ASCII bytes).
   * Never logged. Absent only with `report.labUnencrypted`.
   */
  key?: string;
  /** How to read `key` when it could be either (a 32-character hex string): default `hex`. */
  keyFormat?: 'hex' | 'ascii';
}

export interface ReportConfig {
  /** Data format: `cid` (ADM-CID, Contact ID) or `sia` (SIA-DCS). */
  format: 'cid' | 'sia';
  /** `[primary, secondary]`; empty on an uncommissioned unit (events are journalled, not sent). */
  receivers: ReceiverConfig[];
  /** Lab only: allow receivers without a key. The unit then warns at every boot and connection. */
  labUnencrypted: boolean;
  /** Wait for a reply to one frame, ms (1000–30000). */
  ackTimeoutMs: number;
  /**
   * Urgent events (hold-up, duress, tamper, cancel) go to the secondary this long after the
   * primary, ms (0–9000); 0 (the default): on every route at once, so a silent primary costs
   * nothing. The one sequence number lets the centre keep one copy.
   */
  failoverMs: number;
  /** Other events go to the secondary after this long without an ACK, ms (1000–3600000). */
  slowFailoverMs: number;
  /** Longest pause between retries of one event on one path, ms (1000–600000). */
  retryMaxMs: number;
  /** Contact ID code for a panic: 120 (panic) or 122 (silent panic). */
  panicCode: number;
}

export interface SupervisionConfig {
  /** NULL link test interval on the primary path, s (10–90000). */
  primaryS: number;
  /** NULL link test interval on the secondary path, s (10–90000). */
  secondaryS: number;
  /** Secondary interval while the primary path is failed, s (10–90000). */
  degradedS: number;
  /** Failed link tests in a row before a path is reported failed (1–10). */
  failAfter: number;
  /** Periodic test report (602) interval, hours (0 = off, 1–168). */
  testReportH: number;
}

export interface GestureConfig {
  /** Taps (short presses) that cancel an active alarm (406); 0 = no cancel gesture. 2–9. */
  cancelTaps: number;
  /** Taps that send duress (121) while looking exactly like a cancel; 0 = none. 2–9. */
  duressTaps: number;
  /** A tap sequence ends this long after the last release, ms (300–5000). */
  tapGapMs: number;
}

export interface InputsConfig {
  /** Mains must stay lost (or back) this long before it is reported, s (0–3600). */
  mainsDelayS: number;
  /** Battery below this is low, V (2–20); it must rise 0.2 V above it to restore. */
  lowBatteryV: number;
  /** Tamper must stay open (or closed) this long before it is reported, ms (0–9000). */
  tamperMs: number;
  /** At most this many reports per input per hour; later changes wait for the hour (1–20). */
  perHour: number;
}

/** Audio capture (docs/evidence.md). */
export interface AudioConfig {
  /** Sample rate, Hz (4000–16000); 8-bit mono. */
  rate: number;
  /** Audio kept from before the alarm is recognised, ms (0–10000). */
  preMs: number;
  /** Chunk duration, ms (250–4000): the unit of hashing, spooling and upload. */
  chunkMs: number;
  /** Longest recording, s (60–14400). */
  maxS: number;
}

/** The evidence server the recordings go to, over TCP on either path (set at commissioning). */
export interface EvidenceConfig {
  /** Server host name or IPv4 address. */
  host: string;
  port: number;
  /**
   * Per-unit evidence key (64 hex digits = 32 bytes): seals every chunk, signs manifests and
   * authenticates the server's replies (docs/evidence.md). Never logged.
   */
  key: string;
  /** Chunks per upload request (1–8). */
  batch: number;
  /** Evidence sent over cellular per recording, KB (0 = no cap: it is an emergency); the rest waits for Wi-Fi. */
  cellularKB: number;
}

/** The service period (docs/service.md). */
export interface ServiceConfig {
  /** First day of service, `YYYY-MM-DD` (UTC), set at commissioning; '' = not yet commissioned. */
  start: string;
  /** Length of the service period, days (1–730; 182 = six months). */
  days: number;
}

export interface NetworkConfig {
  wifi?: { ssid: string; password: string };
  apn?: string;
}

export interface Config {
  /** Schema version of this config object. */
  version: number;
  /** Installer-visible unit id (letters, digits, `-`), 1–24 characters. */
  unitId: string;
  /** Monitoring account: 3–16 hexadecimal digits (SIA DC-09). */
  account: string;
  /** How long the button must be held to raise an alarm, ms; 0 means on press. 0–5000. */
  holdMs: number;
  /** How long an alarm stays active before its restore is sent, s (60–86400). */
  alarmS: number;
  indicator: IndicatorConfig;
  /** Hardware watchdog timeout, s (5–60); the firmware kicks it while healthy. */
  watchdogS: number;
  report: ReportConfig;
  supervision: SupervisionConfig;
  gestures: GestureConfig;
  inputs: InputsConfig;
  audio: AudioConfig;
  service: ServiceConfig;
  /** Absent until commissioned: recordings then stay on the spool until it is set. */
  evidence?: EvidenceConfig;
  network?: NetworkConfig;
}

export const CONFIG_VERSION = 4;

/**
 * Factory defaults: a unit that is not yet commissioned still records presses and shows them, and
 * journals its events for delivery once receivers are configured. `unitId` and `account` are
 * placeholders an installer must replace. Timings follow EN 50136-1 DP4 and EN 50131-1.
 */
export function defaultConfig(): Config {
  return {
    version: CONFIG_VERSION,
    unitId: 'UNCOMMISSIONED',
    account: '0000',
    holdMs: 1500,
    alarmS: 1800,
    indicator: { confirm: 'blink', bootFlash: true },
    watchdogS: 20,
    report: {
      format: 'cid',
      receivers: [],
      labUnencrypted: false,
      ackTimeoutMs: 5000,
      failoverMs: 0,
      slowFailoverMs: 60000,
      retryMaxMs: 30000,
      panicCode: 120
    },
    supervision: { primaryS: 90, secondaryS: 18000, degradedS: 90, failAfter: 2, testReportH: 24 },
    gestures: { cancelTaps: 3, duressTaps: 0, tapGapMs: 1500 },
    inputs: { mainsDelayS: 60, lowBatteryV: 3.6, tamperMs: 1000, perHour: 3 },
    audio: { rate: 8000, preMs: 4000, chunkMs: 500, maxS: 1800 },
    service: { start: '', days: 182 }
  };
}

export const HEX = /^[0-9A-Fa-f]+$/;

/**
 * The key's bytes as a byte string, or why it is unusable (a code: config-words.ts has the words).
 * Hex when `format` says so or when it is 32/48/64 hex digits; otherwise the ASCII bytes of a
 * 16/24/32-character string.
 */
export function keyBytes(key: unknown, format?: unknown): string | { error: string } {
  if (typeof key !== 'string') return { error: 'key-type' };
  const n = key.length;
  const hexLen = n === 32 || n === 48 || n === 64;
  if (format === 'hex' || (format === undefined && hexLen && HEX.test(key))) {
    if (!hexLen || !HEX.test(key)) return { error: 'key-hex' };
    let out = '';
    for (let i = 0; i < n; i += 2) out += String.fromCharCode(parseInt(key.substr(i, 2), 16));
    return out;
  }
  if (format !== undefined && format !== 'ascii') return { error: 'key-format' };
  if (n !== 16 && n !== 24 && n !== 32) return { error: 'key-length' };
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c < 32 || c > 126) return { error: 'key-ascii' };
  }
  return key;
}

/** Chunk slots of the ring kept in RAM where the pre-trigger audio lives on the card: the filling one and two for a slow card. */
export const RAM_SLOTS = 3;

/**
 * The largest chunk (bytes: rate x chunkMs) a config may ask for: the default's, the one RAM slot
 * the Espruino WiFi was measured with at its worst moment (~150 variables above the floor of
 * 1,200, docs/footprint.md). A ring of fewer, larger slots passed the ring's budget (preMs 0, one
 * 12,000-byte slot) but would take ~616 variables more than the board has.
 */
export const MAX_CHUNK_BYTES = 4000;

/**
 * Samples per chunk, the ring's slots (the pre-trigger chunks plus the one filling), and the RAM
 * the ring takes: `RAM_SLOTS` chunks, because the pre-trigger chunks wait on the card, sealed
 * (firmware/recorder.ts, docs/evidence.md "The pre-trigger ring"). The two spare slots hold 2
 * chunks (1 s at the defaults) while the card is busy: twice the longest write busy time the SD
 * specification allows an SDXC card (500 ms).
 */
export function audioRing(a: AudioConfig): { chunk: number; slots: number; bytes: number } {
  const chunk = (a.rate * a.chunkMs) / 1000;
  const slots = Math.ceil(a.preMs / a.chunkMs) + 1;
  return { chunk: chunk, slots: slots, bytes: chunk * Math.min(slots, RAM_SLOTS) };
}
