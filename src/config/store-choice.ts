import type { Env } from './settings.js';

export type SessionStoreKind = Exclude<Env['SESSION_STORE'], ''>;

/** How to reach Redis: one of the three topologies ioredis speaks. */
export type RedisConnection =
  | { kind: 'url'; url: string; password?: undefined; tls?: undefined }
  | { kind: 'sentinel'; nodes: Array<{ host: string; port: number }>; name: string; password: string | undefined; tls: boolean }
  | { kind: 'cluster'; nodes: Array<{ host: string; port: number }>; password: string | undefined; tls: boolean };

/** SESSION_STORE, or by default redis when some Redis is configured, memory otherwise. */
export function resolveStore(e: Env): SessionStoreKind {
  if (e.SESSION_STORE) return e.SESSION_STORE;
  return redisConnection(e) ? 'redis' : 'memory';
}

/** The topology the REDIS_* variables name (checks.ts refuses more than one). */
export function redisConnection(e: Env): RedisConnection | undefined {
  const password = e.REDIS_PASSWORD || undefined;
  if (e.REDIS_SENTINELS.length) return { kind: 'sentinel', nodes: e.REDIS_SENTINELS, name: e.REDIS_SENTINEL_NAME, password, tls: e.REDIS_TLS };
  if (e.REDIS_CLUSTER_NODES.length) return { kind: 'cluster', nodes: e.REDIS_CLUSTER_NODES, password, tls: e.REDIS_TLS };
  return e.REDIS_URL ? { kind: 'url', url: e.REDIS_URL } : undefined;
}
