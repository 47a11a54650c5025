import assert from 'node:assert/strict';
import { HANDLE_GATEWAY, handleFixture } from '../support/handle-fixture.js';

/** Resolves every waiter once `count` of them are waiting: two requests meet at one point. */
const barrier = (count: number) => {
  const waiting: (() => void)[] = [];
  return () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length === count) for (const go of waiting) go();
    });
};

describe('gateway handles: two first requests of one session race for its handle', () => {
  it('the request that lost the claim never sends a handle that does not resolve when the winning index vanished before its re-read', async () => {
    const f = handleFixture({ expiresAt: (now) => now + 600_000 });
    try {
      // The interleaving, step by step: both requests find no index (they meet at the barrier
      // after reading it), both write their record and claim the index; the one that loses
      // sees the winner's index vanish (expired, evicted, lost in a failover) before it re-reads.
      const bothRead = barrier(2);
      let vanished = false;
      const handles = f.handles((inner) => ({
        ...inner,
        get: async (key) => {
          const value = await inner.get(key);
          if (key.startsWith('hi:') && value === undefined && !vanished) await bothRead();
          return value;
        },
        setIfAbsent: async (key, value, ttl) => {
          const claimed = await inner.setIfAbsent(key, value, ttl);
          if (!claimed && key.startsWith('hi:') && !vanished) {
            vanished = true;
            await inner.delete(key);
          }
          return claimed;
        },
      }));
      const sentHandles = await Promise.all([f.send(handles), f.send(handles)]);
      assert.equal(vanished, true, 'the race did not take place: the test drives nothing');
      for (const handle of sentHandles) {
        const answer = await handles.resolve(handle, HANDLE_GATEWAY.id);
        assert.equal(answer.active, true, `a request sent its upstream a handle the store does not know (${answer.active ? '' : answer.reason})`);
      }
    } finally {
      f.remove();
    }
  });
});
