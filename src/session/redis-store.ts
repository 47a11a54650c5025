import { Redis, type RedisOptions } from 'ioredis';
import type { EventLogger } from '../observability/logger.js';
import { errorFields } from '../observability/logger.js';
import { StoreUnavailableError, type SessionStore } from './store.js';

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  /** Milliseconds a command may take before the request gets 503 instead of hanging. */
  commandTimeoutMs?: number;
}

/**
 * Redis-backed store (ioredis). Commands fail fast while Redis is unreachable (no offline
 * queue), so a request gets 503 at once instead of piling up; ioredis reconnects in the
 * background and the same sessions work again when Redis returns. The outage is logged once
 * when it starts and once when it ends, not once per request.
 */
export function createRedisStore(options: RedisStoreOptions, log: EventLogger): SessionStore {
  const redisOptions: RedisOptions = {
    keyPrefix: options.keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    connectTimeout: 5000,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 3000),
    lazyConnect: false,
  };
  const redis = new Redis(options.url, redisOptions);
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
      // A slow command on a live connection is not an outage; a lost connection is.
      else if (redis.status !== 'ready') markDown(err);
      throw new StoreUnavailableError(err);
    }
  };
  /** A read of a key that holds something we never write (another type) finds nothing, and clears it. */
  const read = async (key: string, op: () => Promise<string | null>): Promise<string | undefined> => {
    try {
      return (await op()) ?? undefined;
    } catch (err) {
      if (!isReplyError(err) || !err.message.startsWith('WRONGTYPE')) return run(() => Promise.reject(err));
      await run(() => redis.del(key));
      return undefined;
    }
  };

  return {
    kind: 'redis',
    // GETEX (Redis >= 6.2) reads and slides the expiry in one round trip: the hot path's only Redis call.
    getAndTouch: (key, ttlMs) => read(key, () => redis.getex(key, 'PX', Math.max(1, Math.ceil(ttlMs)))),
    get: (key) => read(key, () => redis.get(key)),
    set: (key, value, ttlMs) => run(() => redis.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs)))).then(() => undefined),
    // SET … XX writes only over an existing key: an update cannot resurrect a deleted session.
    replace: (key, value, ttlMs) => run(() => redis.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs)), 'XX')).then((r) => r === 'OK'),
    take: (key) => read(key, () => redis.getdel(key)),
    delete: (key) => run(() => redis.del(key)).then(() => undefined),
    ping: () => run(() => redis.ping()).then(() => undefined),
    async close() {
      closing = true;
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

function isReplyError(err: unknown): err is Error {
  return err instanceof Error && err.name === 'ReplyError';
}
