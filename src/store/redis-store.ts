import { randomBytes } from 'node:crypto';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisConnection } from '../config/load.js';
import type { EventLogger } from '../observability/logger.js';
import { errorFields } from '../observability/logger.js';
import { TrackedReads } from './redis-cache/invalidation-tracking.js';
import { StoreUnavailableError, type SessionStore } from './store.js';

export interface RedisStoreOptions {
  connection: RedisConnection;
  keyPrefix: string;
  /** Milliseconds a command may take before the request gets 503 instead of hanging. */
  commandTimeoutMs?: number;
  /**
   * Serve session reads from memory, kept coherent by Redis invalidation messages (standalone
   * and Sentinel; a Cluster always reads Redis). Undefined: every read is a round trip.
   */
  sessionCache?: { maxStaleMs: number; maxEntries: number; refreshEveryMs: number } | undefined;
}

// Compare-and-set of a whole value: 1 written, 0 key gone, 2 value changed by another writer.
const REPLACE_IF = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if cur ~= ARGV[1] then return 2 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`;
// Deletes the lock only for the token that took it.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

// A sorted set scored by each member's expiry; the set expires with its longest-lived member.
const INDEX_ADD = `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local want = tonumber(ARGV[1]) - tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < want then redis.call('PEXPIRE', KEYS[1], want) end
return 1`;
// A counter that expires with its window, created and bounded in one step.
const INCREMENT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;
const INDEX_MEMBERS = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)`;

type Client = (Redis | Cluster) & {
  replaceIf(key: string, expected: string, value: string, ttlMs: number): Promise<number>;
  releaseLock(key: string, token: string): Promise<number>;
  indexAdd(key: string, score: number, member: string, now: number): Promise<number>;
  indexMembers(key: string, now: number): Promise<string[]>;
  incrementWindow(key: string, ttlMs: number): Promise<number>;
};

/** One ioredis client for the configured topology: standalone URL, Sentinel or Cluster. */
function connect(connection: RedisConnection, keyPrefix: string, commandTimeoutMs: number): Client {
  const common: RedisOptions = {
    keyPrefix,
    // Fail fast while Redis is unreachable: a request gets 503 at once instead of piling up.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 5000,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 3000),
    ...(connection.password ? { password: connection.password } : {}),
    ...(connection.tls ? { tls: {} } : {}),
  };
  let client: Redis | Cluster;
  switch (connection.kind) {
    case 'url':
      client = new Redis(connection.url, common);
      break;
    case 'sentinel':
      // failoverDetector: follow +switch-master at once, instead of writing to a demoted master for seconds.
      client = new Redis({
        ...common,
        sentinels: connection.nodes,
        name: connection.name,
        failoverDetector: true,
        ...(connection.password ? { sentinelPassword: connection.password } : {}),
      });
      break;
    case 'cluster':
      client = new Cluster(connection.nodes, {
        redisOptions: common,
        keyPrefix,
        enableOfflineQueue: false,
        clusterRetryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 3000),
      });
      break;
  }
  client.defineCommand('replaceIf', { numberOfKeys: 1, lua: REPLACE_IF });
  client.defineCommand('releaseLock', { numberOfKeys: 1, lua: RELEASE });
  client.defineCommand('indexAdd', { numberOfKeys: 1, lua: INDEX_ADD });
  client.defineCommand('indexMembers', { numberOfKeys: 1, lua: INDEX_MEMBERS });
  client.defineCommand('incrementWindow', { numberOfKeys: 1, lua: INCREMENT });
  return client as Client;
}

/**
 * Redis-backed store (ioredis): standalone, Sentinel or Cluster. Keys of one session share a
 * hash tag (see server-sessions.ts), so every multi-step operation stays on one slot. ioredis
 * reconnects in the background and the same sessions work again when Redis returns; the outage
 * is logged once when it starts and once when it ends, not once per request.
 */
export function createRedisStore(options: RedisStoreOptions, log: EventLogger): SessionStore {
  const redis = connect(options.connection, options.keyPrefix, options.commandTimeoutMs ?? 2000);
  let down = false;
  let connected = false;
  let closing = false;
  const markDown = (err: unknown) => {
    if (down) return;
    down = true;
    log.event('store.unavailable', { store: 'redis', err: errorFields(err, false) });
  };
  // ioredis reports a lost server through 'close' and failing commands as much as through 'error'.
  redis.on('error', markDown);
  redis.on('close', () => {
    if (connected && !closing) markDown(new Error('connection to Redis closed'));
  });
  redis.on('ready', () => {
    if (!connected) {
      connected = true;
      log.event('store.ready', { store: 'redis' });
    }
    if (!down) return;
    down = false;
    log.event('store.recovered', { store: 'redis' });
  });

  // Redis answered with an error (READONLY after a failover, OOM, …): log it, but not per request.
  const lastReplyError = new Map<string, number>();
  const reportReplyError = (err: Error) => {
    const kind = err.message.split(' ')[0] ?? 'ERR';
    const now = Date.now();
    if ((lastReplyError.get(kind) ?? 0) > now - 60_000) return;
    lastReplyError.set(kind, now);
    log.event('store.command_failed', { store: 'redis', err: errorFields(err, false) });
  };

  const run = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      if (isReplyError(err)) reportReplyError(err);
      // A slow command on a live connection is not an outage, nor is one sent while the first
      // connection is still being made (ioredis reports a refused connection as 'error'); a lost one is.
      else if (connected && redis.status !== 'ready') markDown(err);
      throw new StoreUnavailableError(err);
    }
  };
  /** A read of a key that holds something we never write (another type) finds nothing, and clears it. */
  const read = async (key: string, op: () => Promise<string | null>): Promise<string | undefined> => {
    try {
      return (await op()) ?? undefined;
    } catch (err) {
      if (!isReplyError(err) || !err.message.includes('WRONGTYPE')) return run(() => Promise.reject(err));
      await run(() => redis.del(key));
      return undefined;
    }
  };
  const px = (ms: number) => Math.max(1, Math.ceil(ms));

  const tracked =
    options.sessionCache && redis instanceof Redis ? new TrackedReads(redis, { keyPrefix: options.keyPrefix, ...options.sessionCache }, log) : undefined;
  /** A write of this instance: the cached copy goes before the write is sent and once it is answered. */
  const write = tracked
    ? <T>(key: string, op: () => Promise<T>): Promise<T> => {
        tracked.wrote(key);
        return op().finally(() => tracked.wrote(key));
      }
    : <T>(_key: string, op: () => Promise<T>): Promise<T> => op();

  return {
    kind: 'redis',
    // GETEX (Redis >= 6.2) reads and slides the expiry in one round trip: the hot path's only Redis
    // call, and none at all when the session cache may serve it.
    getAndTouch: tracked
      ? (key, ttlMs) =>
          tracked.getAndTouch(
            key,
            px(ttlMs),
            (op) => read(key, op),
            () => redis.getex(key, 'PX', px(ttlMs)),
          )
      : (key, ttlMs) => read(key, () => redis.getex(key, 'PX', px(ttlMs))),
    get: (key) => read(key, () => redis.get(key)),
    trackedGet: tracked
      ? (key) =>
          tracked.get(
            key,
            (op) => read(key, op),
            () => redis.get(key),
          )
      : (key) => read(key, () => redis.get(key)),
    set: (key, value, ttlMs) => write(key, () => run(() => redis.set(key, value, 'PX', px(ttlMs)))).then(() => undefined),
    replaceIf: (key, expected, value, ttlMs) =>
      write(key, () => run(() => redis.replaceIf(key, expected, value, px(ttlMs)))).then((r) => (r === 1 ? 'ok' : r === 0 ? 'missing' : 'changed')),
    acquireLock: (key, ttlMs) => {
      const token = randomBytes(16).toString('base64url');
      return run(() => redis.set(key, token, 'PX', px(ttlMs), 'NX')).then((r) => (r === 'OK' ? token : undefined));
    },
    releaseLock: (key, token) => run(() => redis.releaseLock(key, token)).then(() => undefined),
    take: (key) => write(key, () => read(key, () => redis.getdel(key))),
    increment: (key, ttlMs) => run(() => redis.incrementWindow(key, px(ttlMs))),
    setIfAbsent: (key, value, ttlMs) => write(key, () => run(() => redis.set(key, value, 'PX', px(ttlMs), 'NX'))).then((r) => r === 'OK'),
    remainingTtl: (key) => run(() => redis.pttl(key)).then((ms) => (ms >= 0 ? ms : undefined)),
    indexAdd: (key, member, expiresAtMs) => run(() => redis.indexAdd(key, expiresAtMs, member, Date.now())).then(() => undefined),
    indexRemove: (key, member) => run(() => redis.zrem(key, member)).then(() => undefined),
    indexMembers: (key) => run(() => redis.indexMembers(key, Date.now())),
    delete: (key) => write(key, () => run(() => redis.del(key))).then(() => undefined),
    ping: () => run(() => redis.ping()).then(() => undefined),
    ...(tracked
      ? { caughtUp: () => tracked.caughtUp(), cachedValue: (key: string, ttlMs: number) => tracked.cached(key, px(ttlMs)), cacheStats: () => tracked.stats() }
      : {}),
    async close() {
      closing = true;
      await tracked?.close();
      await redis.quit().catch(() => undefined);
      // quit() alone leaves a Sentinel failover detector's connections reconnecting forever.
      redis.disconnect();
    },
  };
}

function isReplyError(err: unknown): err is Error {
  return err instanceof Error && err.name === 'ReplyError';
}
