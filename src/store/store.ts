import type { SessionCacheStats } from '../observability/metrics.js';

export type { SessionCacheStats };
/**
 * The shared state of the BFF, split by role: each consumer asks only for the role it uses
 * (rate limits count, the refresher locks, sessions keep values and indexes), and a backend
 * implements all of them ({@link SessionStore}). Everything above a port (sealing, ids,
 * cookies, timeouts) is done once by its consumer, so every backend behaves the same; one
 * contract suite per role (test/contract/) holds every backend to it.
 *
 * Implementations throw {@link StoreUnavailableError} when the backing service cannot be
 * reached; callers turn it into 503 `session_store_unavailable`, never into "anonymous".
 */

/** Key → (sealed) string with expiry: sessions, login transactions, grace, revocation and replay records. */
export interface KeyValueStore {
  /** Reads a value and, if it exists, resets its time to live (sliding expiry) in one round trip. */
  getAndTouch(key: string, ttlMs: number): Promise<string | undefined>;
  /**
   * The value of `key` when a session cache may serve it right now, without a round trip
   * (see invalidation-tracking.ts); undefined means "ask getAndTouch". Like getAndTouch it
   * slides the expiry to `ttlMs` (in the background, every so often). Stores without a cache
   * leave it out.
   */
  cachedValue?(key: string, ttlMs: number): string | undefined;
  get(key: string): Promise<string | undefined>;
  /**
   * The same answer as {@link get}, for the reads a cookie session makes on every request (the
   * revocation list, keys under `r:`): the Redis store answers them from memory — absence
   * included — while its cache may serve them, kept coherent like the session cache (a change
   * on any instance is seen here within SESSION_CACHE_MAX_STALE, Redis is read whenever that
   * is not proven). Other keys, and stores without a cache, read as {@link get} does.
   */
  trackedGet?(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Compare-and-set: overwrites the value only if it is still exactly `expected`. 'missing'
   * when the key is gone (a logout deleted it, or it expired): an update never brings an ended
   * session back. 'changed' when another writer got there first: the caller re-reads.
   */
  replaceIf(key: string, expected: string, value: string, ttlMs: number): Promise<'ok' | 'missing' | 'changed'>;
  /** Reads and deletes in one atomic step: a single-use record can be taken only once. */
  take(key: string): Promise<string | undefined>;
  delete(key: string): Promise<void>;
  /** Sets `key` only if it does not exist (replay records); true when this call set it. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Remaining time to live of `key` in ms; undefined when it does not exist. */
  remainingTtl(key: string): Promise<number | undefined>;
}

/** Locks every instance sees: one refresh per session across instances. */
export interface LockStore {
  /**
   * Takes the lock `key` for at most `ttlMs` if nobody holds it; returns the token that
   * releases it, or undefined when it is held. Shared by every instance using the store.
   */
  acquireLock(key: string, ttlMs: number): Promise<string | undefined>;
  /** Releases the lock only if `token` still owns it (a lock that expired and was re-taken is left alone). */
  releaseLock(key: string, token: string): Promise<void>;
}

/** Sets of members, each with its own expiry: the sessions of a user and of an IdP session. */
export interface IndexStore {
  /**
   * Adds `member` to the index `key` until `expiresAtMs` (epoch ms); the index itself lives as
   * long as its longest-lived member, so nothing outlives the sessions it points to.
   */
  indexAdd(key: string, member: string, expiresAtMs: number): Promise<void>;
  indexRemove(key: string, member: string): Promise<void>;
  /** The members of index `key` whose time has not passed. */
  indexMembers(key: string): Promise<string[]>;
}

/** Counters with a time to live: rate limits. */
export interface CounterStore {
  /** Adds one to the counter `key` (created with time to live `ttlMs`); returns the new count (rate limits). */
  increment(key: string, ttlMs: number): Promise<number>;
}

/** What readiness asks of the store. */
export interface StoreHealth {
  readonly kind: 'redis' | 'memory';
  /** Resolves when the store can serve requests. */
  ping(): Promise<void>;
}

/** A backend: every role, plus its session cache's counters and its lifecycle. */
export interface SessionStore extends KeyValueStore, LockStore, IndexStore, CounterStore, StoreHealth {
  /** Counters of the session cache (lookups by the hot path), when the store has one. */
  cacheStats?(): SessionCacheStats;
  /**
   * Resolves once no change made to the store before the call can still be read stale by this
   * instance (the Redis session cache; stores without one resolve at once).
   */
  caughtUp?(): Promise<void>;
  close(): Promise<void>;
}

export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super('session store unavailable', { cause });
    this.name = 'StoreUnavailableError';
  }
}
