/**
 * Typing at the Linux interpreter's console a few bytes at a time. The 2v29 Linux build's input
 * thread pushes stdin onto the event queue its main loop takes from, with no lock
 * (`jshInterruptOff` is empty on Linux), and drops the rest of a batch once a queued event of more
 * than 17 bytes has become a flat string: a 1.2 KB installer line written at once arrived garbled
 * now and then while the unit was busy (docs/espruino-notes.md). The board's USB console has flow
 * control and loses nothing, so the harnesses type as it would receive.
 */
export interface Typist {
  /** Type `text` after what is already queued; resolves once its last piece is written. */
  type(text: string): Promise<void>;
  /** Drop what is not yet typed (a reset: a half-typed line must not reach the next boot). */
  drop(): void;
}

/** `write` is called only while `alive()`; `piece` characters every `everyMs`. */
export function createTypist(write: (s: string) => void, alive: () => boolean, piece: number, everyMs: number): Typist {
  let queue: { text: string; done?: () => void }[] = [];
  const next = (q: typeof queue): void => {
    const p = q[0];
    if (!p) return;
    if (alive()) write(p.text);
    setTimeout(() => {
      q.shift();
      if (p.done) p.done();
      // A queue dropped at a reset ends here; the new boot's has its own.
      if (q === queue) next(q);
    }, everyMs);
  };
  return {
    type: (text) =>
      new Promise<void>((resolve) => {
        if (text === '') return resolve();
        const first = queue.length === 0;
        for (let i = 0; i < text.length; i += piece) queue.push({ text: text.slice(i, i + piece) });
        queue[queue.length - 1].done = resolve;
        if (first) next(queue);
      }),
    drop: () => {
      for (const p of queue) if (p.done) p.done();
      queue = [];
    }
  };
}
