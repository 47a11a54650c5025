import { createHash } from 'node:crypto';
import type { Sealer } from '../session/seal.js';
import type { TokenSet } from '../session/session.js';
import type { SessionStore } from '../session/store.js';

/**
 * Short-lived records `hash(old refresh token) → new token set`. A request that still carries
 * a just-rotated refresh token (it read the session, or its cookie left the browser, before
 * the refresh ended) uses the new tokens instead of replaying the old refresh token, which an
 * IdP that rotates refresh tokens would treat as theft and answer by ending the grant.
 */
export interface GraceRecords {
  remember(oldRefreshToken: string, tokens: TokenSet): Promise<void>;
  forget(oldRefreshToken: string): Promise<void>;
  recall(refreshToken: string): Promise<TokenSet | undefined>;
}

const digest = (refreshToken: string) => createHash('sha256').update(refreshToken).digest('base64url');

/** Kept in the shared store, sealed: every instance sees every rotation. */
export function storeGrace(store: SessionStore, sealer: Sealer, ttlMs: number): GraceRecords {
  const key = (rt: string) => `g:${digest(rt)}`;
  const aad = (k: string) => `grace ${k}`;
  return {
    async remember(oldRefreshToken, tokens) {
      if (ttlMs <= 0) return;
      const k = key(oldRefreshToken);
      await store.set(k, sealer.seal(JSON.stringify(tokens), aad(k)), ttlMs);
    },
    async forget(oldRefreshToken) {
      await store.delete(key(oldRefreshToken));
    },
    async recall(refreshToken) {
      if (ttlMs <= 0) return undefined;
      const k = key(refreshToken);
      const sealed = await store.get(k);
      const opened = sealed === undefined ? undefined : sealer.unseal(sealed, aad(k));
      return opened ? (JSON.parse(opened.plaintext) as TokenSet) : undefined;
    },
  };
}

/** Kept in this process (cookie sessions have no shared store). */
export function memoryGrace(ttlMs: number, now: () => number): GraceRecords {
  const records = new Map<string, { tokens: TokenSet; until: number }>();
  return {
    async remember(oldRefreshToken, tokens) {
      const t = now();
      for (const [k, v] of records) if (v.until <= t) records.delete(k);
      if (ttlMs > 0) records.set(digest(oldRefreshToken), { tokens, until: t + ttlMs });
    },
    async forget(oldRefreshToken) {
      records.delete(digest(oldRefreshToken));
    },
    async recall(refreshToken) {
      const hit = records.get(digest(refreshToken));
      return hit && hit.until > now() ? hit.tokens : undefined;
    },
  };
}
