/**
 * What an AT modem makes of the bytes the unit writes to it (the SIM800 of sim/modem.ts and the
 * ESP8266 of sim/esp8266.ts alike): command lines ended by CR, and after a send prompt exactly the
 * announced number of raw bytes, which are data, not commands.
 */
export class AtInput<T extends { len: number }> {
  private line = '';
  private lastCr = false;
  private pending: { to: T; data: string } | undefined;

  constructor(
    private readonly onCommand: (line: string) => void,
    private readonly onData: (to: T, data: string) => void
  ) {}

  /** A send was prompted: the next `to.len` bytes are its data. */
  expect(to: T): void {
    this.pending = { to, data: '' };
  }

  /** Power off: a half-typed command and a half-sent block are gone. */
  reset(): void {
    this.pending = undefined;
    this.line = '';
  }

  feed(data: string): void {
    for (const ch of data) {
      const afterCr = this.lastCr;
      this.lastCr = ch === '\r';
      const p = this.pending;
      // The line feed after a command's CR belongs to the command, not to the data that follows
      // the `> ` prompt.
      if (p && p.data === '' && ch === '\n' && afterCr) continue;
      if (p) {
        p.data += ch;
        if (p.data.length === p.to.len) {
          this.pending = undefined;
          this.onData(p.to, p.data);
        }
        continue;
      }
      if (ch === '\r') {
        const l = this.line.replace(/^\n+/, '');
        this.line = '';
        if (l) this.onCommand(l);
      } else if (ch !== '\n' || this.line !== '') this.line += ch;
    }
  }
}
