import type { ConnectionHandlers, Link } from '../../hal/types';

/**
 * A link whose connections the test feeds by hand: every connect opens on the next microtask and
 * hands its handlers to `handlers()`, so a test can push any bytes as if they arrived.
 */
export function handLink(): { link: Link; handlers(): ConnectionHandlers } {
  let h: ConnectionHandlers | undefined;
  const link: Link = {
    path: 'wifi',
    status: () => ({ up: true, signal: 50 }),
    onStatus: () => undefined,
    connect: (_t, handlers) => {
      h = handlers;
      Promise.resolve().then(() => handlers.onOpen());
      return { write: () => true, close: () => undefined };
    }
  };
  return {
    link,
    handlers: () => {
      if (!h) throw new Error('nothing connected yet');
      return h;
    }
  };
}
