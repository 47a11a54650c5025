import { createRedisStore } from '../../src/store/redis-store.js';
import { captureLogs } from '../support/log-capture.js';
import { startTestRedis, whenStoreReady } from '../support/redis.js';
import { sessionStoreContract } from './session-store.contract.js';

sessionStoreContract('redis', async () => {
  const redis = await startTestRedis();
  const store = createRedisStore({ connection: { kind: 'url', url: redis.url }, keyPrefix: redis.prefix }, captureLogs().log);
  await whenStoreReady(store);
  return {
    store,
    // Redis expires keys by its own clock: shorten the TTL to 1 ms and wait for the key to go.
    async expire(key) {
      await redis.client.pexpire(redis.prefix + key, 1);
      while ((await redis.client.exists(redis.prefix + key)) === 1) await new Promise((r) => setImmediate(r));
    },
    ttl: (key) => redis.client.pttl(redis.prefix + key),
    async close() {
      await store.close();
      await redis.close();
    },
  };
});
