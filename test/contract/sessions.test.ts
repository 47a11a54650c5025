import { createCookieSessions } from '../../src/session/cookie-sessions.js';
import { cookieNames } from '../../src/session/cookie-names.js';
import { createMemoryStore } from '../../src/store/memory-store.js';
import { createRedisStore } from '../../src/store/redis-store.js';
import { createSealer } from '../../src/session/seal.js';
import { createServerSessions } from '../../src/session/server-sessions.js';
import type { SessionStore } from '../../src/store/store.js';
import { loadConfig, type Config } from '../../src/config/load.js';
import { testClock } from '../support/clock.js';
import { captureLogs } from '../support/log-capture.js';
import { startTestRedis } from '../support/redis.js';
import { IDLE_MS, MAX_AGE_MS, OLD_SECRET, sessionsContract } from './sessions.contract.js';

function configFor(store: string): Config {
  return loadConfig(
    {
      PUBLIC_URL: 'http://127.0.0.1:3000',
      OIDC_ISSUER: 'http://127.0.0.1:3001',
      OIDC_ALLOW_HTTP: 'true',
      OIDC_CLIENT_ID: 'c',
      OIDC_CLIENT_SECRET: 's',
      API_UPSTREAM: 'http://127.0.0.1:3002',
      SESSION_STORE: store,
      REDIS_URL: 'redis://127.0.0.1:1',
      SESSION_SECRETS: OLD_SECRET,
      SESSION_IDLE_TIMEOUT: String(IDLE_MS / 1000),
      SESSION_MAX_AGE: String(MAX_AGE_MS / 1000),
    },
    () => OLD_SECRET,
  );
}

/** Flips one character in the middle of a value. */
const flip = (v: string) => v.slice(0, v.length >> 1) + (v[v.length >> 1] === 'A' ? 'B' : 'A') + v.slice((v.length >> 1) + 1);

function serverRunner(
  name: string,
  makeStore: (clock: ReturnType<typeof testClock>) => Promise<{
    store: SessionStore;
    raw: { keys(): Promise<string[]>; get(k: string): Promise<string | null>; set(k: string, v: string): Promise<unknown> };
    close(): Promise<void>;
  }>,
) {
  sessionsContract(name, { serverState: true }, async () => {
    const clock = testClock();
    const { store, raw, close } = await makeStore(clock);
    const config = configFor('memory');
    return {
      clock,
      make: (secrets) => createServerSessions({ config, store, sealer: createSealer(secrets), cookies: cookieNames(config), now: clock.now }),
      async tamper() {
        for (const key of await raw.keys()) {
          const v = await raw.get(key);
          if (v) await raw.set(key, flip(v));
        }
      },
      close,
    };
  });
}

serverRunner('memory store', async (clock) => {
  const store = createMemoryStore(clock.now);
  const keys = new Set<string>();
  const tracked: SessionStore = { ...store, set: (k, v, ttl) => (keys.add(k), store.set(k, v, ttl)) };
  return {
    store: tracked,
    raw: {
      keys: async () => [...keys],
      get: async (k) => (await store.get(k)) ?? null,
      set: async (k, v) => store.replaceIf(k, (await store.get(k)) ?? '', v, IDLE_MS),
    },
    close: () => store.close(),
  };
});

serverRunner('redis store', async (clock) => {
  const redis = await startTestRedis();
  const store = createRedisStore({ connection: { kind: 'url', url: redis.url }, keyPrefix: redis.prefix }, captureLogs().log);
  while (
    await store.ping().then(
      () => false,
      () => true,
    )
  )
    await new Promise((r) => setImmediate(r));
  return {
    store: withIdleMirror(store, clock),
    raw: {
      keys: () => redis.keys().then((ks) => ks.map((k) => k.slice(redis.prefix.length)).filter((k) => k.startsWith('s:'))),
      get: (k) => redis.client.get(redis.prefix + k),
      set: (k, v) => redis.client.set(redis.prefix + k, v, 'KEEPTTL'),
    },
    async close() {
      await store.close();
      await redis.close();
    },
  };
});

/**
 * Redis enforces the idle timeout with its own clock, which the test cannot move: this wrapper
 * remembers when each key was last touched on the test clock and treats it as gone once the
 * test clock passes its TTL, exactly as Redis would.
 */
function withIdleMirror(store: SessionStore, clock: ReturnType<typeof testClock>): SessionStore {
  const expiry = new Map<string, number>();
  const alive = (k: string) => (expiry.get(k) ?? Infinity) > clock.now();
  return {
    ...store,
    async set(k, v, ttl) {
      expiry.set(k, clock.now() + ttl);
      return store.set(k, v, ttl);
    },
    async replaceIf(k, expected, v, ttl) {
      if (!alive(k)) return 'missing';
      const result = await store.replaceIf(k, expected, v, ttl);
      if (result === 'ok') expiry.set(k, clock.now() + ttl);
      return result;
    },
    async getAndTouch(k, ttl) {
      if (!alive(k)) return undefined;
      const v = await store.getAndTouch(k, ttl);
      if (v !== undefined) expiry.set(k, clock.now() + ttl);
      return v;
    },
    async get(k) {
      return alive(k) ? store.get(k) : undefined;
    },
  };
}

sessionsContract('cookie sessions', { serverState: false }, async () => {
  const clock = testClock();
  const config = configFor('cookie');
  return {
    clock,
    make: (secrets) => createCookieSessions({ config, sealer: createSealer(secrets), cookies: cookieNames(config), now: clock.now }),
    async tamper(jar) {
      for (const [name, value] of jar.cookies) jar.cookies.set(name, flip(value));
    },
    close: async () => {},
  };
});
