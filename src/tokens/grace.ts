import { createHash } from 'node:crypto';
import type { Sealer } from '../session/seal.js';
import type { TokenSet } from '../session/session.js';
import type { KeyValueStore } from '../store/store.js';

/**
 * Short-lived records `(session, token set it replaced) → new token set`, written by every
 * refresh. A request that still carries the replaced set (it read the session, or its cookie
 * left the browser, before the refresh ended) uses the new tokens instead of refreshing again:
 * with an IdP that rotates refresh tokens a second use of the old one is treated as theft and
 * ends the grant; with one that does not, it is a wasted refresh. Keyed by the session and the
 * replaced set rather than by the old refresh token alone, so that it also answers when the
 * refresh token did not change, and a record can only ever answer requests of its own session.
 */
export interface GraceRecords {
  remember(sessionKey: string, replaced: TokenSet, tokens: TokenSet): Promise<void>;
  forget(sessionKey: string, replaced: TokenSet): Promise<void>;
  recall(sessionKey: string, held: TokenSet): Promise<TokenSet | undefined>;
}

/** Names one token set of one session: a hash, so a key never carries a token. */
export function tokenSetId(sessionKey: string, tokens: TokenSet): string {
  return createHash('sha256')
    .update(`${sessionKey}\n${tokens.accessToken}\n${tokens.refreshToken ?? ''}`)
    .digest('base64url');
}

/**
 * How long a record must live: at least the grace period, and until the replaced access token
 * expires. A request may carry the replaced set long after the refresh (a slow answer from
 * another instance re-issued the old cookie last; a response with the new cookie was lost), and
 * it first needs the record when that set falls due, which is before its access token expires.
 */
export function graceTtl(graceMs: number, replaced: TokenSet, nowMs: number): number {
  if (graceMs <= 0) return 0;
  const untilExpiry = replaced.expiresAt > 0 ? replaced.expiresAt - nowMs : 0;
  return Math.min(Math.max(graceMs, untilExpiry + graceMs), MAX_TTL_MS);
}

/** No record outlives a day, whatever an IdP says of its access tokens' lifetime. */
const MAX_TTL_MS = 86_400_000;

/** Kept in the shared store, sealed: every instance sees every refresh. */
export function storeGrace(store: KeyValueStore, sealer: Sealer, ttlMs: number, now: () => number = Date.now): GraceRecords {
  const key = (sessionKey: string, tokens: TokenSet) => `g:${tokenSetId(sessionKey, tokens)}`;
  const aad = (k: string) => `grace ${k}`;
  return {
    async remember(sessionKey, replaced, tokens) {
      const ttl = graceTtl(ttlMs, replaced, now());
      if (ttl <= 0) return;
      const k = key(sessionKey, replaced);
      await store.set(k, sealer.seal(JSON.stringify(tokens), aad(k)), ttl);
    },
    async forget(sessionKey, replaced) {
      await store.delete(key(sessionKey, replaced));
    },
    async recall(sessionKey, held) {
      if (ttlMs <= 0) return undefined;
      const k = key(sessionKey, held);
      const sealed = await store.get(k);
      const opened = sealed === undefined ? undefined : sealer.unseal(sealed, aad(k));
      return opened ? (JSON.parse(opened.plaintext) as TokenSet) : undefined;
    },
  };
}

/**
 * The records of this process in front of the shared ones. A refresh remembers its new set here
 * first: when the store fails right after the IdP rotated the tokens, this instance still has
 * them, and its next request of that session uses (and writes back) them instead of sending the
 * replaced refresh token again. It also answers this instance's own recalls without a store read.
 */
export function layeredGrace(local: GraceRecords, shared: GraceRecords): GraceRecords {
  return {
    async remember(sessionKey, replaced, tokens) {
      await local.remember(sessionKey, replaced, tokens);
      await shared.remember(sessionKey, replaced, tokens);
    },
    async forget(sessionKey, replaced) {
      await local.forget(sessionKey, replaced);
      await shared.forget(sessionKey, replaced);
    },
    async recall(sessionKey, held) {
      return (await local.recall(sessionKey, held)) ?? shared.recall(sessionKey, held);
    },
  };
}

/** Kept in this process (cookie sessions without Redis, and in front of the store's: layeredGrace). */
export function memoryGrace(ttlMs: number, now: () => number): GraceRecords {
  const records = new Map<string, { tokens: TokenSet; until: number }>();
  let pruneAt = 0;
  return {
    async remember(sessionKey, replaced, tokens) {
      const t = now();
      // Expired records go at most once a second, not on every refresh of a busy instance.
      if (t >= pruneAt) {
        for (const [k, v] of records) if (v.until <= t) records.delete(k);
        pruneAt = t + 1000;
      }
      const ttl = graceTtl(ttlMs, replaced, t);
      if (ttl > 0) records.set(tokenSetId(sessionKey, replaced), { tokens, until: t + ttl });
    },
    async forget(sessionKey, replaced) {
      records.delete(tokenSetId(sessionKey, replaced));
    },
    async recall(sessionKey, held) {
      const hit = records.get(tokenSetId(sessionKey, held));
      return hit && hit.until > now() ? hit.tokens : undefined;
    },
  };
}
