import type { ConnectionHandlers, Link } from '../../hal/types';
import { createChannel, Channel, ChannelOptions } from '../../firmware/channel';

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

/**
 * A channel as the tests set one up: one TCP route named primary to host `h`, waiting up to
 * 10 minutes for a reply unless told otherwise; the link, clock, keys and logs are the test's.
 */
export function testChannel(
  o: Pick<ChannelOptions, 'link' | 'target' | 'clock' | 'crypto' | 'log' | 'times'> & Partial<ChannelOptions>
): Channel {
  return createChannel({ host: 'h', port: 1, transport: 'tcp', ackTimeoutMs: 600_000, name: 'primary', ...o });
}
