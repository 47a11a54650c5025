import { randomBytes } from 'node:crypto';
import type { SessionStore } from './store.js';

interface Entry {
  value: string;
  expiresAt: number;
}

type Index = Map<string, number>;

/**
 * In-process store for development and single-instance tests. Not shared between instances
 * and lost on restart; the configuration warns whenever it is in use.
 */
export interface MemoryStore extends SessionStore {
  /** Remaining time to live of a key in ms (for the store contract tests). */
  ttlOf(key: string): number | undefined;
}

export function createMemoryStore(now: () => number = Date.now, sweepEveryMs = 60_000): MemoryStore {
  const entries = new Map<string, Entry>();
  const indexes = new Map<string, Index>();
  const liveIndex = (key: string): Index | undefined => {
    const index = indexes.get(key);
    if (!index) return undefined;
    const t = now();
    for (const [member, until] of index) if (until <= t) index.delete(member);
    if (index.size === 0) indexes.delete(key);
    return index.size ? index : undefined;
  };
  const live = (key: string): Entry | undefined => {
    const e = entries.get(key);
    if (e && e.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return e;
  };
  // Expired entries are also dropped on read; the sweep bounds memory when they are never read.
  const sweep = setInterval(() => {
    const t = now();
    for (const [k, e] of entries) if (e.expiresAt <= t) entries.delete(k);
    for (const k of indexes.keys()) liveIndex(k);
  }, sweepEveryMs);
  sweep.unref();

  return {
    kind: 'memory',
    async getAndTouch(key, ttlMs) {
      const e = live(key);
      if (!e) return undefined;
      e.expiresAt = now() + ttlMs;
      return e.value;
    },
    async get(key) {
      return live(key)?.value;
    },
    async trackedGet(key) {
      return live(key)?.value;
    },
    async set(key, value, ttlMs) {
      entries.set(key, { value, expiresAt: now() + ttlMs });
    },
    async replaceIf(key, expected, value, ttlMs) {
      const e = live(key);
      if (!e) return 'missing';
      if (e.value !== expected) return 'changed';
      entries.set(key, { value, expiresAt: now() + ttlMs });
      return 'ok';
    },
    async acquireLock(key, ttlMs) {
      if (live(key)) return undefined;
      const token = randomBytes(16).toString('base64url');
      entries.set(key, { value: token, expiresAt: now() + ttlMs });
      return token;
    },
    async releaseLock(key, token) {
      if (live(key)?.value === token) entries.delete(key);
    },
    async take(key) {
      const e = live(key);
      entries.delete(key);
      return e?.value;
    },
    async delete(key) {
      entries.delete(key);
    },
    async increment(key, ttlMs) {
      const e = live(key);
      const n = e ? Number(e.value) + 1 : 1;
      entries.set(key, { value: String(n), expiresAt: e?.expiresAt ?? now() + ttlMs });
      return n;
    },
    async setIfAbsent(key, value, ttlMs) {
      if (live(key)) return false;
      entries.set(key, { value, expiresAt: now() + ttlMs });
      return true;
    },
    async remainingTtl(key) {
      const e = live(key);
      return e && e.expiresAt - now();
    },
    async indexAdd(key, member, expiresAtMs) {
      const index = liveIndex(key) ?? new Map<string, number>();
      index.set(member, expiresAtMs);
      indexes.set(key, index);
    },
    async indexRemove(key, member) {
      liveIndex(key)?.delete(member);
      liveIndex(key);
    },
    async indexMembers(key) {
      return [...(liveIndex(key)?.keys() ?? [])];
    },
    async ping() {},
    ttlOf(key) {
      const e = live(key);
      return e && e.expiresAt - now();
    },
    async close() {
      clearInterval(sweep);
      entries.clear();
      indexes.clear();
    },
  };
}
