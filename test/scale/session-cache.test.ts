import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { TrackedReads, type TrackedReadsOptions } from '../../src/store/redis-cache/invalidation-tracking.js';
import { createRedisStore } from '../../src/store/redis-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { sessionStoreContract } from '../contract/session-store.contract.js';
import { shareCookies, startHarness, type Harness } from '../support/harness.js';
import { captureLogs } from '../support/log-capture.js';
import { startTestRedis, whenStoreReady, type TestRedis } from '../support/redis.js';

const MAX_STALE_MS = 400;
const TTL_MS = 60_000;
const cacheOptions = { maxStaleMs: MAX_STALE_MS, maxEntries: 1000, refreshEveryMs: 60_000 };
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Session reads that reached Redis: GETEX, and the cache-filling read script. */
async function getexCalls(redis: TestRedis): Promise<number> {
  const stats = await redis.client.info('commandstats');
  const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  return calls('getex') + calls('evalsha') + calls('eval');
}

/** Reads `key` through `read` until a read no longer reaches Redis: the value is served from memory. */
async function untilCached(redis: TestRedis, read: () => Promise<string | undefined>): Promise<void> {
  for (let attempt = 0; attempt < 5000; attempt++) {
    const before = await getexCalls(redis);
    await read();
    if ((await getexCalls(redis)) === before) return;
    await nextTurn();
  }
  throw new Error('the session cache never served the value');
}

function readyStore(redis: TestRedis, prefix = redis.prefix): Promise<SessionStore> {
  return whenStoreReady(createRedisStore({ connection: { kind: 'url', url: redis.url }, keyPrefix: prefix, sessionCache: cacheOptions }, captureLogs().log));
}

/**
 * Reads `key` on `store` from the moment `changedAt` (performance.now()) until it no longer
 * returns `stale`; returns how long after the change the last stale answer was read.
 */
async function staleFor(store: Pick<SessionStore, 'getAndTouch'>, key: string, stale: string, changedAt: number): Promise<number> {
  let lastStale = -1;
  for (;;) {
    const readAt = performance.now();
    const value = await store.getAndTouch(key, TTL_MS);
    if (value !== stale) return lastStale;
    lastStale = readAt - changedAt;
    if (lastStale > 10 * MAX_STALE_MS) return lastStale;
    await nextTurn();
  }
}

/** A TrackedReads on a Redis of its own (with its own main connection), and a store that writes beside it. */
interface TrackedRig {
  redis: TestRedis;
  main: Redis;
  tracked: TrackedReads;
  writer: SessionStore;
  /** A session read as the store reads it: from memory when the cache may serve it, else from Redis. */
  read(key: string): Promise<string | undefined>;
  close(): Promise<void>;
}

async function trackedRig(options: Partial<TrackedReadsOptions>, log = captureLogs().log): Promise<TrackedRig> {
  const redis = await startTestRedis();
  const main = new Redis(redis.url, { keyPrefix: redis.prefix, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  const tracked = new TrackedReads(main, { keyPrefix: redis.prefix, ...cacheOptions, ...options }, log);
  const writer = await readyStore(redis);
  return {
    redis,
    main,
    tracked,
    writer,
    read: (key) =>
      tracked.getAndTouch(
        key,
        TTL_MS,
        (op) => op().then((v) => v ?? undefined),
        () => main.getex(key, 'PX', TTL_MS),
      ),
    async close() {
      await tracked.close();
      main.disconnect();
      await writer.close();
      await redis.close();
    },
  };
}

sessionStoreContract('redis with the session cache', async () => {
  const redis = await startTestRedis();
  const store = await readyStore(redis);
  return {
    store,
    async expire(key) {
      await redis.client.pexpire(redis.prefix + key, 1);
      while ((await redis.client.exists(redis.prefix + key)) === 1) await nextTurn();
      await store.caughtUp?.();
    },
    ttl: (key) => redis.client.pttl(redis.prefix + key),
    async close() {
      await store.close();
      await redis.close();
    },
  };
});

describe('session cache: a session read again on the same instance costs no Redis round trip', () => {
  let redis: TestRedis;
  let store: SessionStore;
  before(async () => {
    redis = await startTestRedis();
    store = await readyStore(redis);
  });
  after(async () => {
    await store?.close();
    await redis?.close();
  });

  it('100 reads of an unchanged session after the first make no GETEX at all', async () => {
    await store.set('s:{hot}', 'sealed-1', TTL_MS);
    await untilCached(redis, () => store.getAndTouch('s:{hot}', TTL_MS));
    const before = await getexCalls(redis);
    for (let i = 0; i < 100; i++) assert.equal(await store.getAndTouch('s:{hot}', TTL_MS), 'sealed-1');
    assert.equal((await getexCalls(redis)) - before, 0);
  });

  it("this instance's own logout and refresh are read at once, without waiting for a message", async () => {
    await store.set('s:{own}', 'before', TTL_MS);
    await untilCached(redis, () => store.getAndTouch('s:{own}', TTL_MS));
    assert.equal(await store.replaceIf('s:{own}', 'before', 'after', TTL_MS), 'ok');
    assert.equal(await store.getAndTouch('s:{own}', TTL_MS), 'after');
    await untilCached(redis, () => store.getAndTouch('s:{own}', TTL_MS));
    await store.delete('s:{own}');
    assert.equal(await store.getAndTouch('s:{own}', TTL_MS), undefined);
  });
});

describe('session cache: a logout or refresh on another instance is seen here within SESSION_CACHE_MAX_STALE', () => {
  let redis: TestRedis;
  let a: SessionStore;
  let b: SessionStore;
  before(async () => {
    redis = await startTestRedis();
    a = await readyStore(redis);
    b = await readyStore(redis);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.close();
  });

  it('a session deleted on B is gone on A once the invalidation arrived, and was never read stale past the bound', async () => {
    await b.set('s:{logout}', 'alive', TTL_MS);
    await untilCached(redis, () => a.getAndTouch('s:{logout}', TTL_MS));
    await b.delete('s:{logout}');
    const lastStale = await staleFor(a, 's:{logout}', 'alive', performance.now());
    assert.ok(lastStale <= MAX_STALE_MS, `A read the ended session ${lastStale.toFixed(1)} ms after the logout`);
    await a.caughtUp?.();
    assert.equal(await a.getAndTouch('s:{logout}', TTL_MS), undefined);
  });

  it('new tokens written on B are what A reads next', async () => {
    await b.set('s:{refresh}', 'tokens-1', TTL_MS);
    await untilCached(redis, () => a.getAndTouch('s:{refresh}', TTL_MS));
    assert.equal(await b.replaceIf('s:{refresh}', 'tokens-1', 'tokens-2', TTL_MS), 'ok');
    await a.caughtUp?.();
    assert.equal(await a.getAndTouch('s:{refresh}', TTL_MS), 'tokens-2');
  });

  it('a change made behind every instance (another client, an expiry) is seen too', async () => {
    await b.set('s:{behind}', 'v1', TTL_MS);
    await untilCached(redis, () => a.getAndTouch('s:{behind}', TTL_MS));
    await redis.client.set(`${redis.prefix}s:{behind}`, 'v2', 'KEEPTTL');
    await a.caughtUp?.();
    assert.equal(await a.getAndTouch('s:{behind}', TTL_MS), 'v2');
    await untilCached(redis, () => a.getAndTouch('s:{behind}', TTL_MS));
    await redis.client.pexpire(`${redis.prefix}s:{behind}`, 1);
    while ((await redis.client.exists(`${redis.prefix}s:{behind}`)) === 1) await nextTurn();
    await a.caughtUp?.();
    assert.equal(await a.getAndTouch('s:{behind}', TTL_MS), undefined);
  });

  it('instances behind a load balancer without stickiness keep serving from memory: a refill on one does not evict the others', async () => {
    await b.set('s:{roundrobin}', 'shared', TTL_MS);
    await untilCached(redis, () => a.getAndTouch('s:{roundrobin}', TTL_MS));
    await untilCached(redis, () => b.getAndTouch('s:{roundrobin}', TTL_MS));
    const before = await getexCalls(redis);
    for (let i = 0; i < 100; i++) assert.equal(await (i % 2 ? a : b).getAndTouch('s:{roundrobin}', TTL_MS), 'shared');
    assert.equal((await getexCalls(redis)) - before, 0);
  });

  it('instances with another REDIS_KEY_PREFIX neither see nor drop each other’s sessions', async () => {
    const other = await readyStore(redis, `${redis.prefix}other:`);
    try {
      await other.set('s:{same}', 'theirs', TTL_MS);
      await a.set('s:{same}', 'ours', TTL_MS);
      await untilCached(redis, () => a.getAndTouch('s:{same}', TTL_MS));
      assert.equal(await a.getAndTouch('s:{same}', TTL_MS), 'ours');
      assert.equal(await other.getAndTouch('s:{same}', TTL_MS), 'theirs');
    } finally {
      await other.close();
    }
  });
});

describe('session cache: when the invalidation channel fails, the cache turns itself off within the bound and comes back', () => {
  let rig: TrackedRig;
  let redis: TestRedis;
  let writer: SessionStore;
  let tracked: TrackedReads;
  const read = (key: string) => rig.read(key);
  const store = () => ({ getAndTouch: (key: string) => read(key) });

  before(async () => {
    rig = await trackedRig({});
    ({ redis, writer, tracked } = rig);
  });
  after(() => rig?.close());

  it('messages that stop arriving (a stuck subscriber connection): an ended session is never read past the bound', async () => {
    await writer.set('s:{silent}', 'alive', TTL_MS);
    await untilCached(redis, () => read('s:{silent}'));
    // The subscriber's socket stops being read: no close, no error, just silence.
    const subscriber = (tracked as unknown as { subscriber: Redis }).subscriber;
    subscriber.stream.pause();
    try {
      await writer.delete('s:{silent}');
      const lastStale = await staleFor(store(), 's:{silent}', 'alive', performance.now());
      assert.ok(lastStale <= MAX_STALE_MS, `read ${lastStale.toFixed(1)} ms after the logout`);
    } finally {
      subscriber.stream.resume();
    }
    await writer.set('s:{silent}', 'again', TTL_MS);
    await untilCached(redis, () => read('s:{silent}'));
    assert.equal(await read('s:{silent}'), 'again');
  });

  it('a killed subscriber connection: nothing stale is served, and caching resumes after the reconnect', async () => {
    await writer.set('s:{killed}', 'alive', TTL_MS);
    await untilCached(redis, () => read('s:{killed}'));
    const clients = (await redis.client.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
    const ids = clients
      .split('\n')
      .filter((l) => l.includes('name=oidc-bff:invalidations'))
      .map((l) => /id=(\d+)/.exec(l)![1]!);
    assert.ok(ids.length > 0, 'no subscriber connection found');
    for (const id of ids) await redis.client.call('CLIENT', 'KILL', 'ID', id);
    await writer.delete('s:{killed}');
    const lastStale = await staleFor(store(), 's:{killed}', 'alive', performance.now());
    assert.ok(lastStale <= MAX_STALE_MS, `read ${lastStale.toFixed(1)} ms after the logout`);
    await writer.set('s:{killed}', 'back', TTL_MS);
    await untilCached(redis, () => read('s:{killed}'));
    await writer.delete('s:{killed}');
    await tracked.caughtUp();
    assert.equal(await read('s:{killed}'), undefined);
  });
});

describe("session cache: a busy session's idle expiry slides without any request waiting on Redis", () => {
  const REFRESH_MS = 1000;
  let rig: TrackedRig;
  let redis: TestRedis;
  let writer: SessionStore;
  let tracked: TrackedReads;
  // The cache's clock runs ahead of the real one by `ahead`: an interval passes without waiting for it.
  let ahead = 0;
  const read = (key: string) => rig.read(key);

  before(async () => {
    rig = await trackedRig({ maxStaleMs: 5000, refreshEveryMs: REFRESH_MS, clock: () => performance.now() + ahead });
    ({ redis, writer, tracked } = rig);
  });
  after(() => rig?.close());

  it('an entry due for its refresh is served at once, and read again in the background: the read slides the expiry', async () => {
    await writer.set('s:{busy}', 'alive', TTL_MS);
    await untilCached(redis, () => read('s:{busy}'));
    ahead += REFRESH_MS;
    const before = await getexCalls(redis);
    // A longer idle timeout than the key has left: the background read must slide it.
    assert.equal(tracked.cached('s:{busy}', 2 * TTL_MS), 'alive', 'a request waited on Redis for an entry due for its refresh');
    for (let turn = 0; (await redis.client.pttl(`${redis.prefix}s:{busy}`)) <= TTL_MS; turn++) {
      assert.ok(turn < 5000, 'the background read never slid the expiry');
      await nextTurn();
    }
    assert.equal((await getexCalls(redis)) - before, 1, 'one read for the due entry');
    assert.equal(tracked.cached('s:{busy}', 2 * TTL_MS), 'alive');
    assert.equal((await getexCalls(redis)) - before, 1, 'the refilled entry was read again before its interval');
  });

  it('an entry nobody refreshed for twice the interval is not served: that request reads Redis itself', async () => {
    await writer.set('s:{quiet}', 'alive', TTL_MS);
    await untilCached(redis, () => read('s:{quiet}'));
    ahead += 2 * REFRESH_MS;
    assert.equal(tracked.cached('s:{quiet}', TTL_MS), undefined);
    assert.equal(await read('s:{quiet}'), 'alive');
  });
});

describe('session cache: Redis users with restricted permissions', () => {
  let redis: TestRedis;
  const user = `limited-${process.pid}`;
  const hardened = `hardened-${process.pid}`;
  const withUser = (name: string, password: string) => {
    const url = new URL(redis.url);
    url.username = name;
    url.password = password;
    return url.href;
  };
  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    for (const name of [user, hardened]) await redis?.client.call('ACL', 'DELUSER', name).catch(() => undefined);
    await redis?.close();
  });

  it('a user without the admin and dangerous commands (no CLIENT LIST) still gets the cache', async () => {
    await redis.client.call('ACL', 'SETUSER', hardened, 'on', '>hardened-password', '~*', 'allchannels', '+@all', '-@dangerous');
    const logs = captureLogs();
    const store = createRedisStore(
      { connection: { kind: 'url', url: withUser(hardened, 'hardened-password') }, keyPrefix: redis.prefix, sessionCache: cacheOptions },
      logs.log,
    );
    try {
      await whenStoreReady(store);
      await store.set('s:{hardened}', 'v1', TTL_MS);
      await untilCached(redis, () => store.getAndTouch('s:{hardened}', TTL_MS));
      assert.equal(logs.named('store.cache_unavailable').length, 0);
    } finally {
      await store.close();
    }
  });

  it('a user denied SUBSCRIBE (Redis 7 default: no channels) reads and writes sessions without the cache, logged once', async () => {
    await redis.client.call('ACL', 'SETUSER', user, 'on', '>limited-password', '~*', 'resetchannels', '+@all');
    const logs = captureLogs();
    const store = createRedisStore(
      { connection: { kind: 'url', url: withUser(user, 'limited-password') }, keyPrefix: redis.prefix, sessionCache: cacheOptions },
      logs.log,
    );
    try {
      await whenStoreReady(store);
      await logs.waitFor('store.cache_unavailable');
      await store.set('s:{limited}', 'v1', TTL_MS);
      const before = await getexCalls(redis);
      for (let i = 0; i < 5; i++) assert.equal(await store.getAndTouch('s:{limited}', TTL_MS), 'v1');
      assert.equal((await getexCalls(redis)) - before, 5);
      assert.equal(logs.named('store.cache_unavailable').length, 1);
    } finally {
      await store.close();
    }
  });
});

describe('session cache: two BFF instances — a logout on one is a 401 on the other within SESSION_CACHE_MAX_STALE', () => {
  let redis: TestRedis;
  let a: Harness;
  let b: Harness;
  before(async () => {
    redis = await startTestRedis();
    a = await startHarness({ redis });
    b = await startHarness({ redis, shareWith: a, env: { PUBLIC_URL: a.url } });
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await redis?.close();
  });

  it('B serves API calls from its cache, and stops the moment the logout on A reaches it', async () => {
    const ua = a.browser();
    await a.login(ua);
    shareCookies(ua, a, b);
    await untilCached(redis, async () => {
      assert.equal((await b.api(ua, '/warm')).status, 200);
      return undefined;
    });
    const logout = await ua.post(`${a.url}${a.config.paths.logout}`, { headers: { 'X-CSRF': '1' } });
    assert.equal(logout.status, 200);
    const loggedOutAt = performance.now();
    for (;;) {
      const sentAt = performance.now();
      const status = (await b.api(ua, '/after-logout')).status;
      if (status === 401) break;
      assert.equal(status, 200);
      const lastAllowed = sentAt - loggedOutAt;
      assert.ok(lastAllowed <= b.config.session.cache!.maxStaleMs, `B still let the ended session through ${lastAllowed.toFixed(1)} ms after the logout`);
    }
    await b.bff.store?.caughtUp?.();
    assert.equal((await b.api(ua, '/later')).status, 401);
  });
});
