import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { TrackedReads } from '../../src/store/redis-cache/invalidation-tracking.js';
import { createRedisStore } from '../../src/store/redis-store.js';
import { cookieSessionHandle } from '../../src/session/cookie-sessions.js';
import { createRevocations, type Revocations } from '../../src/session/revocations.js';
import type { Session } from '../../src/session/session.js';
import type { SessionStore } from '../../src/store/store.js';
import { shareCookies, startHarness, type Harness } from '../support/harness.js';
import { captureLogs } from '../support/log-capture.js';
import { logoutClaims, postLogoutToken, signLogoutToken } from '../support/logout-token.js';
import { startTestRedis, whenStoreReady, type TestRedis } from '../support/redis.js';

// Cookie sessions with Redis check a revocation list (`r:` keys) on every request. These tests
// hold the answer from memory to the rules of the session cache (session-cache.test.ts): zero
// round trips in steady state, a new revocation seen everywhere within SESSION_CACHE_MAX_STALE,
// Redis read again whenever the invalidation channel cannot prove itself.

const MAX_STALE_MS = 400;
const MAX_AGE_MS = 3_600_000;
const SCOPE = 'https://idp.example/ spa https://app.example';
/** Where the bound itself is not under test, a wide one: a busy machine must not lapse the proof. */
const relaxed = { maxStaleMs: 5000, maxEntries: 1000, refreshEveryMs: 60_000 };
const tight = { maxStaleMs: MAX_STALE_MS, maxEntries: 1000, refreshEveryMs: 60_000 };
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Plain GETs that reached Redis: the revocation list's reads. */
async function getCalls(redis: TestRedis): Promise<number> {
  const stats = await redis.client.info('commandstats');
  return Number(/cmdstat_get:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

/** Calls `read` until one call no longer reaches Redis: its answers are served from memory. */
async function untilServedFromMemory(redis: TestRedis, read: () => Promise<unknown>): Promise<void> {
  for (let attempt = 0; attempt < 5000; attempt++) {
    const before = await getCalls(redis);
    await read();
    if ((await getCalls(redis)) === before) return;
    await nextTurn();
  }
  throw new Error('the revocation cache never served the answer');
}

function readyStore(redis: TestRedis, sessionCache: typeof relaxed): Promise<SessionStore> {
  return whenStoreReady(createRedisStore({ connection: { kind: 'url', url: redis.url }, keyPrefix: redis.prefix, sessionCache }, captureLogs().log));
}

function sessionOf(sub: string, idpSid: string): Session {
  return {
    key: `k-${sub}`,
    sid: `sid-${sub}`,
    sub,
    idpSid,
    claims: {},
    tokens: { accessToken: 'at', tokenType: 'Bearer', expiresAt: 0 },
    createdAt: Date.now() - 1000,
  };
}

/**
 * Checks `session` on `revocations` from the moment `changedAt` (performance.now()) until it is
 * refused; returns how long after the change it was last let through (-1: never).
 */
async function allowedFor(revocations: Revocations, session: Session, changedAt: number): Promise<number> {
  let lastAllowed = -1;
  for (;;) {
    const checkedAt = performance.now();
    if (await revocations.isRevoked(session)) return lastAllowed;
    lastAllowed = checkedAt - changedAt;
    if (lastAllowed > 10 * MAX_STALE_MS) return lastAllowed;
    await nextTurn();
  }
}

describe('revocation cache: checking a session nobody revoked costs no Redis round trip', () => {
  let redis: TestRedis;
  let store: SessionStore;
  let revocations: Revocations;
  before(async () => {
    redis = await startTestRedis();
    store = await readyStore(redis, relaxed);
    revocations = createRevocations(store, SCOPE, MAX_AGE_MS, Date.now, cookieSessionHandle);
  });
  after(async () => {
    await store?.close();
    await redis?.close();
  });

  it('1000 revocation checks of an unrevoked session after the first make no GET at all', async () => {
    const session = sessionOf('alice', 'idp-sid-alice');
    await untilServedFromMemory(redis, () => revocations.isRevoked(session));
    const before = await getCalls(redis);
    for (let i = 0; i < 1000; i++) assert.equal(await revocations.isRevoked(session), false);
    assert.equal((await getCalls(redis)) - before, 0);
  });

  it('keys outside the revocation list are never answered from memory: nothing would tell us they changed', async () => {
    await store.set('j:replay', 'seen', 60_000);
    const before = await getCalls(redis);
    for (let i = 0; i < 20; i++) assert.equal(await store.trackedGet?.('j:replay'), 'seen');
    assert.equal((await getCalls(redis)) - before, 20);
  });
});

describe('revocation cache: an answer due for its refresh is given from memory while Redis is read again in the background', () => {
  const REFRESH_MS = 1000;
  let redis: TestRedis;
  let main: Redis;
  let tracked: TrackedReads;
  // The cache's clock runs ahead of the real one by `ahead`: an interval passes without waiting for it.
  let ahead = 0;
  const read = (key: string) =>
    tracked.get(
      key,
      (op) => op().then((v) => v ?? undefined),
      () => main.get(key),
    );

  before(async () => {
    redis = await startTestRedis();
    main = new Redis(redis.url, { keyPrefix: redis.prefix, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    await once(main, 'ready');
    tracked = new TrackedReads(
      main,
      { ...relaxed, keyPrefix: redis.prefix, refreshEveryMs: REFRESH_MS, clock: () => performance.now() + ahead },
      captureLogs().log,
    );
  });
  after(async () => {
    await tracked?.close();
    main?.disconnect();
    await redis?.close();
  });

  it('a cached absence past its interval is still the answer, and one GET refreshes it', async () => {
    await untilServedFromMemory(redis, () => read('r:ses:due'));
    ahead += REFRESH_MS;
    const before = { gets: await getCalls(redis), misses: tracked.stats().misses };
    assert.equal(await read('r:ses:due'), undefined);
    assert.equal(tracked.stats().misses, before.misses, 'the check waited on Redis');
    for (let turn = 0; (await getCalls(redis)) === before.gets; turn++) {
      assert.ok(turn < 5000, 'the due answer was never read again');
      await nextTurn();
    }
    await tracked.caughtUp();
    assert.equal(await read('r:ses:due'), undefined);
    assert.equal((await getCalls(redis)) - before.gets, 1, 'the refilled answer was read again before its interval');
  });
});

describe('revocation cache: a revocation made through another instance is seen here within SESSION_CACHE_MAX_STALE', () => {
  let redis: TestRedis;
  let a: SessionStore;
  let b: SessionStore;
  before(async () => {
    redis = await startTestRedis();
    a = await readyStore(redis, tight);
    b = await readyStore(redis, tight);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.close();
  });

  for (const by of ['sid', 'sub'] as const) {
    it(`a back-channel logout by ${by} recorded on B refuses the session on A, never past the bound`, async () => {
      const onA = createRevocations(a, SCOPE, MAX_AGE_MS, Date.now, cookieSessionHandle);
      const onB = createRevocations(b, SCOPE, MAX_AGE_MS, Date.now, cookieSessionHandle);
      const session = sessionOf(`carol-${by}`, `idp-sid-carol-${by}`);
      await untilServedFromMemory(redis, () => onA.isRevoked(session));
      await onB.endMatching(by === 'sid' ? { idpSid: session.idpSid! } : { sub: session.sub });
      const lastAllowed = await allowedFor(onA, session, performance.now());
      assert.ok(lastAllowed <= MAX_STALE_MS, `A let the revoked session through ${lastAllowed.toFixed(1)} ms after the revocation`);
      await a.caughtUp?.();
      assert.equal(await onA.isRevoked(session), true);
    });
  }

  it('a revocation written behind every instance (another client) is seen too', async () => {
    const onA = createRevocations(a, SCOPE, MAX_AGE_MS, Date.now, cookieSessionHandle);
    const session = sessionOf('dave', 'idp-sid-dave');
    await untilServedFromMemory(redis, () => onA.isRevoked(session));
    const sidKeys = async () => (await redis.keys()).filter((k) => k.startsWith(`${redis.prefix}r:sid:`));
    const before = new Set(await sidKeys());
    // What another deployment's revocation looks like on the wire: the key B would write.
    await createRevocations(b, SCOPE, MAX_AGE_MS, Date.now, cookieSessionHandle).endMatching({ idpSid: 'idp-sid-dave' });
    const written = (await sidKeys()).filter((k) => !before.has(k));
    assert.equal(written.length, 1);
    const value = await redis.client.get(written[0]!);
    await redis.client.del(written[0]!);
    await a.caughtUp?.();
    assert.equal(await onA.isRevoked(session), false);
    await untilServedFromMemory(redis, () => onA.isRevoked(session));
    await redis.client.set(written[0]!, value!, 'PX', MAX_AGE_MS);
    await a.caughtUp?.();
    assert.equal(await onA.isRevoked(session), true);
  });
});

describe('revocation cache: when the invalidation channel fails, checks read Redis again within the bound', () => {
  let redis: TestRedis;
  let main: Redis;
  let writer: SessionStore;
  let tracked: TrackedReads;
  let onA: Revocations;
  let onWriter: Revocations;
  const logs = captureLogs();

  before(async () => {
    redis = await startTestRedis();
    main = new Redis(redis.url, { keyPrefix: redis.prefix, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    tracked = new TrackedReads(main, { keyPrefix: redis.prefix, ...tight }, logs.log);
    writer = await readyStore(redis, tight);
    // Instance A: the revocation list over the tracked reads alone, so that the test can reach its subscriber.
    const trackedGet = (key: string) =>
      tracked.get(
        key,
        (op) => op().then((v) => v ?? undefined),
        () => main.get(key),
      );
    onA = createRevocations({ ...writer, trackedGet }, SCOPE, MAX_AGE_MS, Date.now, cookieSessionHandle);
    onWriter = createRevocations(writer, SCOPE, MAX_AGE_MS, Date.now, cookieSessionHandle);
  });
  after(async () => {
    await tracked?.close();
    main?.disconnect();
    await writer?.close();
    await redis?.close();
  });

  it('messages that stop arriving (a stuck subscriber connection): a revocation is never missed past the bound', async () => {
    const session = sessionOf('erin', 'idp-sid-erin');
    await untilServedFromMemory(redis, () => onA.isRevoked(session));
    const subscriber = (tracked as unknown as { subscriber: Redis }).subscriber;
    subscriber.stream.pause();
    try {
      await onWriter.endMatching({ idpSid: 'idp-sid-erin' });
      const lastAllowed = await allowedFor(onA, session, performance.now());
      assert.ok(lastAllowed <= MAX_STALE_MS, `let through ${lastAllowed.toFixed(1)} ms after the revocation`);
    } finally {
      subscriber.stream.resume();
    }
    const later = sessionOf('erin-2', 'idp-sid-erin-2');
    await untilServedFromMemory(redis, () => onA.isRevoked(later));
  });

  it('a killed subscriber connection: a revocation is never missed past the bound, and caching resumes after the reconnect', async () => {
    const session = sessionOf('frank', 'idp-sid-frank');
    await untilServedFromMemory(redis, () => onA.isRevoked(session));
    const clients = (await redis.client.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
    const ids = clients
      .split('\n')
      .filter((l) => l.includes('name=oidc-bff:invalidations'))
      .map((l) => /id=(\d+)/.exec(l)![1]!);
    assert.ok(ids.length > 0, 'no subscriber connection found');
    for (const id of ids) await redis.client.call('CLIENT', 'KILL', 'ID', id);
    await onWriter.endMatching({ sub: 'frank' });
    const lastAllowed = await allowedFor(onA, session, performance.now());
    assert.ok(lastAllowed <= MAX_STALE_MS, `let through ${lastAllowed.toFixed(1)} ms after the revocation`);
    const later = sessionOf('frank-2', 'idp-sid-frank-2');
    await untilServedFromMemory(redis, () => onA.isRevoked(later));
    await onWriter.endMatching({ idpSid: 'idp-sid-frank-2' });
    await tracked.caughtUp();
    assert.equal(await onA.isRevoked(later), true);
  });
});

describe('revocation cache: memory is bounded by SESSION_CACHE_ENTRIES, without churning', () => {
  let redis: TestRedis;
  let store: SessionStore;
  before(async () => {
    redis = await startTestRedis();
    store = await readyStore(redis, { ...relaxed, maxEntries: 3 });
  });
  after(async () => {
    await store?.close();
    await redis?.close();
  });

  it('keeps answering the keys it holds from memory and reads the ones it turned away from Redis', async () => {
    const keys = ['r:sid:k0', 'r:sid:k1', 'r:sid:k2', 'r:sid:k3', 'r:sid:k4'];
    await untilServedFromMemory(redis, () => store.trackedGet!(keys[0]!));
    for (const key of keys.slice(1)) assert.equal(await store.trackedGet!(key), undefined);
    assert.equal(store.cacheStats?.().entries, 3);
    for (let round = 0; round < 10; round++) {
      const before = await getCalls(redis);
      for (const key of keys) assert.equal(await store.trackedGet!(key), undefined);
      assert.equal((await getCalls(redis)) - before, 2, 'the two keys beyond the cap are read, the three it holds are not');
    }
  });
});

describe('revocation cache: two BFF instances with cookie sessions — /api costs no Redis round trip, a back-channel logout on one is a 401 on the other within the bound', () => {
  let redis: TestRedis;
  let a: Harness;
  let b: Harness;
  const env = { SESSION_STORE: 'cookie', SESSION_CACHE_MAX_STALE: '1' };
  before(async () => {
    redis = await startTestRedis();
    a = await startHarness({ redis, backchannel: true, env });
    b = await startHarness({ redis, shareWith: a, env: { ...env, PUBLIC_URL: a.url } });
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await redis?.close();
  });

  it('B serves API calls with no Redis command, and refuses the session once the logout on A reaches it', async () => {
    const ua = a.browser();
    await a.login(ua, '?login_hint=grace');
    shareCookies(ua, a, b);
    await untilServedFromMemory(redis, async () => assert.equal((await b.api(ua, '/warm')).status, 200));
    const before = await getCalls(redis);
    for (let i = 0; i < 50; i++) assert.equal((await b.api(ua, '/steady')).status, 200);
    assert.equal((await getCalls(redis)) - before, 0, 'an API call read the revocation list from Redis');

    const logout = await postLogoutToken(a.url, signLogoutToken(a.idp, logoutClaims(a.idp, { sub: 'grace' })));
    assert.equal(logout.status, 200);
    const loggedOutAt = performance.now();
    const boundMs = b.config.session.cache!.maxStaleMs;
    for (;;) {
      const sentAt = performance.now();
      const status = (await b.api(ua, '/after-logout')).status;
      if (status === 401) break;
      assert.equal(status, 200);
      const lastAllowed = sentAt - loggedOutAt;
      assert.ok(lastAllowed <= boundMs, `B still let the ended session through ${lastAllowed.toFixed(1)} ms after the logout`);
    }
    assert.equal((await b.api(ua, '/later')).status, 401);
  });
});
