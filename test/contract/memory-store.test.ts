import { createMemoryStore } from '../../src/store/memory-store.js';
import { testClock } from '../support/clock.js';
import { sessionStoreContract } from './session-store.contract.js';

sessionStoreContract('memory', async () => {
  const clock = testClock();
  const store = createMemoryStore(clock.now);
  return {
    store,
    async expire(_key, afterMs) {
      clock.advance(afterMs);
    },
    ttl: async (key) => store.ttlOf(key) ?? -2,
    close: () => store.close(),
  };
});
