import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createRedisStore } from '../../src/store/redis-store.js';
import { sessionStoreContract } from '../contract/session-store.contract.js';
import { testClock } from '../support/clock.js';
import { shareCookies, startHarness, type Harness } from '../support/harness.js';
import { captureLogs } from '../support/log-capture.js';
import { whenStoreReady } from '../support/redis.js';
import { startRedisCluster, startRedisSentinel, type TestCluster, type TestSentinel } from '../support/redis-topologies.js';
import type { UserAgent } from '../support/user-agent.js';

const ACCESS_TTL_MS = 300_000;
const hostPorts = (nodes: Array<{ host: string; port: number }>) => nodes.map((n) => `${n.host}:${n.port}`).join(',');

/** Two instances on one topology: 50 concurrent calls with an expired token, one refresh, no logout. */
async function raceOnce(a: Harness, b: Harness, clock: ReturnType<typeof testClock>, ua: UserAgent): Promise<void> {
  clock.advance(ACCESS_TTL_MS + 1);
  const refreshes = a.idp.counts.refresh;
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? b : a).api(ua, `/t${i}`)));
  assert.deepEqual(
    results.map((r) => r.status),
    Array(50).fill(200),
  );
  assert.equal(a.idp.counts.refresh - refreshes, 1);
}

describe('Redis Cluster (three masters): the store contract and one refresh across instances', function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  before(async () => {
    cluster = await startRedisCluster(3);
  });
  after(async () => cluster?.close());

  sessionStoreContract('redis cluster', async () => {
    const store = await whenStoreReady(
      createRedisStore(
        { connection: { kind: 'cluster', nodes: cluster.nodes, password: undefined, tls: false }, keyPrefix: cluster.prefix },
        captureLogs().log,
      ),
    );
    return {
      store,
      async expire(key) {
        await cluster.client.pexpire(cluster.prefix + key, 1);
        while ((await cluster.client.exists(cluster.prefix + key)) === 1) await new Promise((r) => setImmediate(r));
      },
      ttl: (key) => cluster.client.pttl(cluster.prefix + key),
      close: () => store.close(),
    };
  });

  it('two instances on the cluster make exactly one refresh for 50 concurrent calls, and the session lives on', async () => {
    const clock = testClock();
    const redisEnv = { REDIS_CLUSTER_NODES: hostPorts(cluster.nodes), REDIS_KEY_PREFIX: cluster.prefix };
    const a = await startHarness({ redisEnv, now: clock.now });
    const b = await startHarness({ redisEnv, now: clock.now, shareWith: a, env: { PUBLIC_URL: a.url } });
    try {
      const ua = a.browser();
      await a.login(ua);
      shareCookies(ua, a, b);
      for (let round = 0; round < 3; round++) await raceOnce(a, b, clock, ua);
      assert.equal((await ua.get(`${a.url}/session`)).status, 200);
      // The session and its lock share a hash tag: one slot.
      const keys = (await Promise.all(cluster.client.nodes('master').map((n) => n.keys(`${cluster.prefix}s:*`)))).flat();
      const slots = new Set(await Promise.all(keys.map((k) => cluster.client.cluster('KEYSLOT', k.replace(/:lock$/, '')))));
      assert.ok(keys.length >= 1 && slots.size === keys.filter((k) => !k.endsWith(':lock')).length);
    } finally {
      await b.close();
      await a.close();
    }
  });
});

describe('Redis Sentinel (one master, one replica): the store contract, the race, and a failover under traffic', function () {
  this.timeout(60_000);
  let sentinel: TestSentinel;
  before(async () => {
    sentinel = await startRedisSentinel();
  });
  after(async () => sentinel?.close());

  sessionStoreContract('redis sentinel', async () => {
    const store = await whenStoreReady(
      createRedisStore(
        { connection: { kind: 'sentinel', nodes: sentinel.sentinels, name: sentinel.name, password: undefined, tls: false }, keyPrefix: sentinel.prefix },
        captureLogs().log,
      ),
    );
    const raw = new Redis({ sentinels: sentinel.sentinels, name: sentinel.name }).on('error', () => undefined);
    return {
      store,
      async expire(key) {
        await raw.pexpire(sentinel.prefix + key, 1);
        while ((await raw.exists(sentinel.prefix + key)) === 1) await new Promise((r) => setImmediate(r));
      },
      ttl: (key) => raw.pttl(sentinel.prefix + key),
      async close() {
        raw.disconnect();
        await store.close();
      },
    };
  });

  it('two instances make one refresh per round, and a failover during traffic loses no session', async () => {
    const clock = testClock();
    const redisEnv = { REDIS_SENTINELS: hostPorts(sentinel.sentinels), REDIS_SENTINEL_NAME: sentinel.name, REDIS_KEY_PREFIX: sentinel.prefix };
    const a = await startHarness({ redisEnv, now: clock.now });
    const b = await startHarness({ redisEnv, now: clock.now, shareWith: a, env: { PUBLIC_URL: a.url } });
    const raw = new Redis({ sentinels: sentinel.sentinels, name: sentinel.name }).on('error', () => undefined);
    try {
      const browsers = [a.browser(), a.browser(), a.browser()];
      for (const ua of browsers) {
        await a.login(ua);
        shareCookies(ua, a, b);
      }
      await raceOnce(a, b, clock, browsers[0]!);
      // Sessions written before the failover must have reached the replica.
      assert.ok((await raw.wait(1, 2000)) >= 1, 'the replica did not acknowledge');
      const before = await sentinel.master();
      let stop = false;
      const traffic = (async () => {
        const statuses: number[] = [];
        while (!stop) statuses.push(...(await Promise.all(browsers.map((ua, i) => (i % 2 ? b : a).api(ua, '/during')))).map((r) => r.status));
        return statuses;
      })();
      await sentinel.failover();
      assert.notDeepEqual(await sentinel.master(), before);
      // Give both instances time to follow the new master: until a call on each succeeds.
      for (const h of [a, b]) {
        for (let i = 0; i < 100 && (await h.api(browsers[0]!, '/probe')).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
      }
      stop = true;
      const statuses = await traffic;
      assert.ok(
        statuses.every((s) => s === 200 || s === 503),
        `only 200 or 503 during the failover: ${[...new Set(statuses)]}`,
      );
      for (const ua of browsers) {
        assert.equal((await ua.get(`${a.url}/session`)).status, 200, 'a session was lost in the failover');
        assert.equal((await b.api(ua, '/after')).status, 200);
      }
    } finally {
      raw.disconnect();
      await b.close();
      await a.close();
    }
  });
});
