import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startRedisCluster, startRedisSentinel } from '../../support/redis-topologies.js';
import type { TestCluster, TestSentinel } from '../../support/redis-topologies.js';

/** A direct (non-cluster, non-sentinel) connection to one node, for checking where data lives. */
function direct(port: number): Redis {
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  return client;
}

async function withTimeout<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Retries while a client is still moving to the new master (READONLY, closed connection…). */
async function retrying<T>(fn: () => Promise<T>, attempts = 30): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const transient = /READONLY|LOADING|MASTERDOWN|Connection is closed|ECONNRE|EPIPE|ETIMEDOUT|max retries/i.test(String(e));
      if (!transient || attempt >= attempts) throw e;
      await sleep(100);
    }
  }
}

describe('test/support/redis-topologies', () => {
  describe('startRedisCluster', () => {
    let cluster: TestCluster;
    const directs: Redis[] = [];

    before(async function () {
      this.timeout(20_000);
      cluster = await startRedisCluster();
    });

    after(async () => {
      for (const d of directs) d.disconnect();
      await cluster?.close();
    });

    /** Port of the master owning `slot`, from CLUSTER SLOTS. */
    async function ownerOf(slot: number): Promise<number> {
      const ranges = (await cluster.client.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]]]>;
      const range = ranges.find(([start, end]) => slot >= start && slot <= end);
      assert.ok(range, `no node owns slot ${slot}`);
      return Number(range[2][1]);
    }

    it('starts 3 masters on 127.0.0.1 and exposes a unique prefix', async () => {
      assert.equal(cluster.nodes.length, 3);
      assert.equal(new Set(cluster.nodes.map((n) => n.port)).size, 3);
      for (const node of cluster.nodes) assert.equal(node.host, '127.0.0.1');
      assert.match(cluster.prefix, /^bff-test:[0-9a-f]{8}:$/);
      const masters = cluster.client.nodes('master');
      assert.equal(masters.length, 3);
    });

    it('spreads keys with different hash tags over at least two masters', async () => {
      const owners = new Map<string, number>();
      for (let i = 0; i < 12; i++) {
        const key = `${cluster.prefix}{tag-${i}}:k`;
        const slot = Number(await cluster.client.call('CLUSTER', 'KEYSLOT', key));
        const port = await ownerOf(slot);
        await cluster.client.set(key, String(i));
        owners.set(key, port);
      }
      const used = new Set(owners.values());
      assert.ok(used.size >= 2, `all keys landed on ${[...used].join(',')}`);
      // Each key really is stored on the node CLUSTER SLOTS names (a direct, non-redirecting read).
      for (const [key, port] of owners) {
        const node = direct(port);
        directs.push(node);
        assert.equal(await node.exists(key), 1, `${key} not on 127.0.0.1:${port}`);
      }
    });

    it('round-trips SET/GET through the ioredis Cluster client', async () => {
      const key = `${cluster.prefix}round-trip`;
      assert.equal(await cluster.client.set(key, 'value', 'EX', 60), 'OK');
      assert.equal(await cluster.client.get(key), 'value');
    });

    it('puts keys sharing a {tag} in one slot, so multi-key commands work', async () => {
      const a = `${cluster.prefix}{user:1}:a`;
      const b = `${cluster.prefix}{user:1}:b`;
      const slotA = Number(await cluster.client.call('CLUSTER', 'KEYSLOT', a));
      const slotB = Number(await cluster.client.call('CLUSTER', 'KEYSLOT', b));
      assert.equal(slotA, slotB);
      assert.equal(await cluster.client.mset(a, '1', b, '2'), 'OK');
      assert.deepEqual(await cluster.client.mget(a, b), ['1', '2']);
      const node = direct(await ownerOf(slotA));
      directs.push(node);
      assert.equal(await node.exists(a, b), 2);
    });
  });

  describe('startRedisSentinel', () => {
    let sentinel: TestSentinel;
    let client: Redis;

    before(async function () {
      this.timeout(20_000);
      sentinel = await startRedisSentinel();
      // failoverDetector: without it ioredis stays on the former master (still a writable master
      // until the sentinel demotes it ~10 s later) and keeps writing there.
      client = new Redis({ sentinels: sentinel.sentinels, name: sentinel.name, failoverDetector: true });
      client.on('error', () => undefined);
      await withTimeout('sentinel client ready', 10_000, new Promise((resolve) => client.once('ready', resolve)));
    });

    after(async () => {
      client?.disconnect();
      await sentinel?.close();
    });

    it('reports the master, which replicates to the replica', async () => {
      assert.equal(sentinel.name, 'bffmaster');
      assert.match(sentinel.prefix, /^bff-test:[0-9a-f]{8}:$/);
      const master = await sentinel.master();
      assert.equal(master.host, '127.0.0.1');
      const node = direct(master.port);
      try {
        assert.equal(((await node.call('ROLE')) as unknown[])[0], 'master');
      } finally {
        node.disconnect();
      }
      const key = `${sentinel.prefix}before-any-failover`;
      await client.set(key, 'v');
      assert.equal(await client.wait(1, 2_000), 1, 'the replica did not acknowledge the write');
    });

    it('fails over; the ioredis sentinel client follows and keeps the data', async function () {
      this.timeout(15_000);
      const before = await sentinel.master();
      const key = `${sentinel.prefix}session`;
      await client.set(key, 'kept');
      // SENTINEL FAILOVER does not wait for the replica to catch up: make sure it has the key.
      assert.equal(await client.wait(1, 2_000), 1);

      // Listen before failing over: ioredis reconnects as soon as the sentinel publishes +switch-master.
      const reconnected = new Promise((resolve) => client.once('ready', resolve));
      const started = Date.now();
      await sentinel.failover();
      const after = await sentinel.master();
      assert.notEqual(after.port, before.port);
      await withTimeout('ioredis reconnect to the new master', 10_000, reconnected);
      const elapsed = Date.now() - started;

      const info = await client.info('server');
      assert.equal(info.match(/^tcp_port:(\d+)/m)?.[1], String(after.port), 'client is not on the new master');
      assert.equal(await client.get(key), 'kept');
      const later = `${sentinel.prefix}after-failover`;
      assert.equal(await retrying(() => client.set(later, 'new')), 'OK');

      const node = direct(after.port);
      try {
        assert.equal(await node.get(later), 'new');
      } finally {
        node.disconnect();
      }
      assert.ok(elapsed < 10_000, `failover + reconnect took ${elapsed} ms`);
    });
  });
});
