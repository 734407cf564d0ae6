#!/usr/bin/env python3
"""
Pseudo-terminals for the Espruino Linux interpreter's Serial devices (npm run test:espruino).

  python3 pty-bridge.py NAME...

Creates one raw pty per NAME and prints `PTY <index> <name> <slave path>` for each on stderr. The
interpreter opens a slave (`SerialN.setup(baud, {path})`, targets/linux/jshardware.c) and what the
unit sends on that port comes out of this process's stdout in frames `[index][length: 2 bytes, big
endian][bytes]`. Each slave is held open here too, so the interpreter closing one (a restart)
never hangs its pty up. Exits when stdin closes.

Only the unit's transmit side goes through the ptys. What a device sends TO the unit is appended
by the harness to a file the prelude reads (tools/espruino-board/prelude.js): the Linux build of
Espruino 2v29 loses serial input under load (its input thread reads 32 bytes at a time and queues
them; a first queued event of more than 17 bytes becomes a flat string the rest of the batch is not
appended to; and the queue is shared by two threads with no lock): measured here, a 1,000-byte
burst arrived as 96 bytes, and with the JavaScript loop kept busy 3-24% was lost or reordered even
when fed 4-16 bytes at a time (docs/espruino-notes.md).
"""
import os, select, signal, struct, sys, tty

ptys = []
for i, n in enumerate(sys.argv[1:]):
    m, s = os.openpty()
    tty.setraw(s)
    tty.setraw(m)
    os.set_blocking(m, False)
    ptys.append((m, s))
    sys.stderr.write('PTY %d %s %s\n' % (i, n, os.ttyname(s)))
sys.stderr.flush()
signal.signal(signal.SIGINT, signal.SIG_IGN)
inp, out = sys.stdin.fileno(), sys.stdout.fileno()


def send(i, data):
    frame = struct.pack('>BH', i, len(data)) + data
    while frame:
        try:
            frame = frame[os.write(out, frame):]
        except BlockingIOError:
            select.select([], [out], [])


while True:
    try:
        r, _, _ = select.select([inp] + [m for m, _ in ptys], [], [])
    except InterruptedError:
        continue
    if inp in r and not os.read(inp, 65536):
        break
    for i, (m, s) in enumerate(ptys):
        if m in r:
            try:
                d = os.read(m, 60000)
            except OSError:
                d = b''
            if d:
                send(i, d)
