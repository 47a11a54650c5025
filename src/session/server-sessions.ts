import { createHash, hash, randomBytes } from 'node:crypto';
import type { Config } from '../config/load.js';
import { readCookie, serializeCookie, expiredCookie } from '../web/cookies.js';
import type { CookieNames } from './cookie-names.js';
import type { Sealer } from './seal.js';
import { StoreUnavailableError, type IndexStore, type KeyValueStore } from '../store/store.js';
import type { SessionDirectory, SessionSummary } from './directory.js';
import type { Session, Sessions, TokenSet } from './session.js';
import { RecentMap } from '../store/recent-map.js';
import { deepFreeze, fromSealed, newSession, parseSealedSession, toSealed, type SealedSession } from './sealed-session.js';

const NONE: Promise<undefined> = Promise.resolve(undefined);

/** 256 random bits, base64url: the only shape of session id we ever issue. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export interface ServerSessionsDeps {
  config: Config;
  /** Sessions are values; the indexes find them by user and IdP session (back-channel logout, admin). */
  store: KeyValueStore & IndexStore;
  sealer: Sealer;
  cookies: CookieNames;
  now?: () => number;
}

/**
 * Sessions kept in a server store (Redis, memory). The cookie holds only a random id; the
 * store key is a hash of it (a store dump yields no usable cookie) and the value is sealed
 * and bound to that key. The idle timeout is the store's sliding expiry, the absolute one is
 * checked from the login time inside the sealed value.
 */
export type ServerSessions = Sessions & SessionDirectory;

export function createServerSessions({ config, store, sealer, cookies, now = Date.now }: ServerSessionsDeps): ServerSessions {
  const { idleTimeoutMs, maxAgeMs } = config.session;
  // The hash in braces is a Redis Cluster hash tag: the session and its lock share one slot.
  // One-shot hash (no Hash object per call): this runs on every API call.
  const storeKey = (id: string) => `s:{${hash('sha256', id, 'base64url')}}`;
  // A browser sends the same id on every call: its key is remembered (for as long as the
  // session cache keeps an entry) instead of hashed on each one.
  const keys = new RecentMap<string>(config.session.cache?.maxEntries ?? 0, config.session.touchEveryMs);
  const keyOf = (id: string) => {
    let key = keys.get(id);
    if (key === undefined) {
      key = storeKey(id);
      keys.set(id, key);
    }
    return key;
  };
  // Sealing binds the value to its key, so a value copied under another key does not unseal.
  const aad = (key: string) => `session ${key}`;
  const digest = (v: string) => createHash('sha256').update(v).digest('base64url');
  const subIndex = (sub: string) => `i:sub:${digest(sub)}`;
  const sidIndex = (idpSid: string) => `i:sid:${digest(idpSid)}`;
  const ttl = (createdAt: number) => Math.max(1, Math.min(idleTimeoutMs, createdAt + maxAgeMs - now()));
  const clearCookie = expiredCookie(cookies.session, cookies.attributes);

  const seal = (s: Session) => {
    return sealer.seal(JSON.stringify(toSealed(s, 0)), aad(s.key));
  };
  const indexes = (s: { sub: string; idpSid?: string | undefined }) => [subIndex(s.sub), ...(s.idpSid ? [sidIndex(s.idpSid)] : [])];
  // The stored value each session was read as: the 'expected' of its compare-and-set writes.
  const readAs = new WeakMap<Session, string>();

  /**
   * Writes the session's tokens with compare-and-set: never over a deleted session (a logout
   * wins), and never over a newer token set written meanwhile (that one is adopted instead).
   */
  const update = async (s: Session): Promise<boolean> => {
    let expected = readAs.get(s) ?? (await store.get(s.key));
    for (let attempt = 0; attempt < 3 && expected !== undefined; attempt++) {
      const value = seal(s);
      const result = await store.replaceIf(s.key, expected, value, ttl(s.createdAt));
      if (result === 'ok') {
        readAs.set(s, value);
        return true;
      }
      if (result === 'missing') return false;
      expected = await store.get(s.key);
      const theirs = expected === undefined ? undefined : unsealStored(s.key, expected);
      // A newer set, or this very set (written by another request): adopt it, write nothing.
      if (theirs && (theirs.tokens.expiresAt > s.tokens.expiresAt || sameTokens(theirs.tokens, s.tokens))) {
        s.tokens = theirs.tokens;
        readAs.set(s, expected!);
        return true;
      }
    }
    if (expected === undefined) return false;
    throw new StoreUnavailableError(new Error('the session kept changing under compare-and-set'));
  };

  /**
   * Re-seals a session read under an older secret with the current one: one compare-and-set
   * against the value it was read as, never retried. If the value changed meanwhile, another
   * request wrote it (a refresh saving rotated tokens, another re-seal) and every write seals
   * with the current secret: there is nothing left to do, and writing this request's copy
   * again would put the used refresh token back. The session goes on with what is stored now.
   * False when the session was deleted meanwhile (a logout wins).
   */
  const reseal = async (s: Session): Promise<boolean> => {
    const expected = readAs.get(s);
    if (expected === undefined) return true;
    const value = seal(s);
    const result = await store.replaceIf(s.key, expected, value, ttl(s.createdAt));
    if (result === 'ok') readAs.set(s, value);
    if (result !== 'changed') return result === 'ok';
    const current = await store.get(s.key);
    const theirs = current === undefined ? undefined : unsealStored(s.key, current);
    if (!theirs) return false;
    s.tokens = theirs.tokens;
    readAs.set(s, current!);
    return true;
  };

  /**
   * Writes a recalled set (a grace record's) only over the set this request read: a recalled set
   * may be older than what the store holds now, and expiry does not tell them apart (a refresh
   * for a resource rotates the refresh token and keeps `expiresAt`), so anything else stored
   * meanwhile is taken, never overwritten. Never over a deleted session.
   */
  const adoptInto = async (s: Session): Promise<void> => {
    let expected = readAs.get(s) ?? (await store.get(s.key));
    const held = expected === undefined ? undefined : unsealStored(s.key, expected)?.tokens;
    for (let attempt = 0; attempt < 3 && expected !== undefined; attempt++) {
      const value = seal(s);
      const result = await store.replaceIf(s.key, expected, value, ttl(s.createdAt));
      if (result === 'ok') {
        readAs.set(s, value);
        return;
      }
      if (result === 'missing') return;
      expected = await store.get(s.key);
      const theirs = expected === undefined ? undefined : unsealStored(s.key, expected);
      if (!theirs) return;
      // The set this request read, only re-sealed meanwhile: still the one to replace.
      if (held && sameTokens(theirs.tokens, held)) continue;
      s.tokens = theirs.tokens;
      readAs.set(s, expected!);
      return;
    }
  };

  const unsealStored = (key: string, sealed: string) => {
    const opened = sealer.unseal(sealed, aad(key));
    return opened ? parseSealedSession(opened.plaintext) : undefined;
  };

  const end = async (s: { key: string; sub: string; idpSid?: string | undefined }) => {
    opened.delete(s.key);
    await store.delete(s.key);
    for (const index of indexes(s)) await store.indexRemove(index, s.key);
  };

  /** The sealed session under `key`, without touching its expiry (admin and back-channel reads). */
  const peek = async (key: string) => {
    const sealed = await store.get(key);
    return sealed === undefined ? undefined : unsealStored(key, sealed);
  };

  // With the session cache on, the same sealed value comes back on every call of a session:
  // remember what it opened to (frozen: sessions share it) instead of decrypting it again.
  const opened = new RecentMap<{ sealed: string; stored: SealedSession; stale: boolean }>(config.session.cache?.maxEntries ?? 0, config.session.touchEveryMs);
  const unsealMemo = (key: string, sealed: string) => {
    const known = opened.get(key);
    if (known?.sealed === sealed) return known;
    const plain = sealer.unseal(sealed, aad(key));
    const stored = plain && parseSealedSession(plain.plaintext);
    if (!stored) return undefined;
    const result = { sealed, stored: deepFreeze(stored), stale: plain.stale };
    opened.set(key, result);
    return result;
  };

  /**
   * Unseals and checks what the store gave for `key`; undefined for anything not a live session.
   * Not async: a live session under the current secret (every API call) settles without an
   * async frame of its own; expiry and re-sealing take the slow path.
   */
  const open = (key: string, sealed: string | undefined): Promise<Session | undefined> => {
    if (sealed === undefined) return NONE;
    const found = unsealMemo(key, sealed);
    if (!found) return NONE;
    const session = fromSealed(key, found.stored);
    readAs.set(session, sealed);
    if (found.stored.createdAt + maxAgeMs <= now() || found.stale) return openSlow(key, session, found.stale);
    return Promise.resolve(session);
  };
  const openSlow = async (key: string, session: Session, stale: boolean): Promise<Session | undefined> => {
    if (session.createdAt + maxAgeMs <= now()) {
      await store.delete(key);
      return undefined;
    }
    // Written under an older secret: re-seal with the current one so old secrets can be retired.
    if (stale && !(await reseal(session))) return undefined;
    return session;
  };

  return {
    load(io) {
      // Not async (see open): a session the store's cache holds is one resolved promise away.
      try {
        const id = readCookie(io.header, cookies.session);
        if (id === undefined || !SESSION_ID.test(id)) return NONE;
        const key = keyOf(id);
        const cached = store.cachedValue?.(key, idleTimeoutMs);
        return cached !== undefined ? open(key, cached) : store.getAndTouch(key, idleTimeoutMs).then((sealed) => open(key, sealed));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },
    async reload(s) {
      return open(s.key, await store.get(s.key));
    },
    async create(data, io) {
      const id = randomBytes(32).toString('base64url');
      const session = newSession(storeKey(id), randomBytes(16).toString('base64url'), data, now());
      const value = seal(session);
      await store.set(session.key, value, ttl(session.createdAt));
      readAs.set(session, value);
      // Indexed by user and by IdP session, for back-channel logout and the admin API.
      for (const index of indexes(session)) await store.indexAdd(index, session.key, session.createdAt + maxAgeMs);
      io.set(serializeCookie(cookies.session, id, { ...cookies.attributes, maxAgeSeconds: maxAgeMs / 1000 }));
      return session;
    },
    save: (s) => update(s),
    propagate() {
      // The store already holds what the other request saved; the cookie (an id) is unchanged.
    },
    async adopt(s) {
      // Usually the store holds this set already (the compare-and-set finds it and writes
      // nothing); after a failed save it is how the new tokens get back before their grace
      // record expires and the replaced refresh token would be sent again.
      await adoptInto(s).catch((err: unknown) => {
        if (!(err instanceof StoreUnavailableError)) throw err;
      });
    },
    async destroy(s, io) {
      await end(s);
      io.set(clearCookie);
    },
    clear(io) {
      // Only a cookie this request carried: an answer to a request without it (a cross-site
      // navigation under SameSite=Strict) must not delete the browser's live session cookie.
      if (readCookie(io.header, cookies.session) !== undefined) io.set(clearCookie);
    },
    expiresAt: (s) => Math.floor((s.createdAt + maxAgeMs) / 1000),
    idleExpiresAt: (s) => Math.floor(Math.min(now() + idleTimeoutMs, s.createdAt + maxAgeMs) / 1000),
    logHandle: (s) => s.key.slice(3, 15),

    async endMatching({ sub, idpSid }) {
      let keys = idpSid ? await store.indexMembers(sidIndex(idpSid)) : await store.indexMembers(subIndex(sub ?? ''));
      if (idpSid && sub) {
        const ofUser = await store.indexMembers(subIndex(sub));
        const inSid = new Set(keys);
        keys = ofUser.filter((k) => inSid.has(k));
        // A session whose ID token carried no sid cannot be matched by it: the sub decides.
        for (const k of ofUser) if (!inSid.has(k) && !(await peek(k))?.idpSid) keys.push(k);
      }
      let ended = 0;
      for (const key of keys) {
        const stored = await peek(key);
        await end({ key, sub: stored?.sub ?? sub ?? '', idpSid: stored?.idpSid ?? idpSid });
        if (stored) ended++;
      }
      return ended;
    },
    async list(sub) {
      const out: SessionSummary[] = [];
      for (const key of await store.indexMembers(subIndex(sub))) {
        const stored = await peek(key);
        if (!stored) continue;
        const remaining = await store.remainingTtl(key);
        out.push({
          handle: handleOf(key),
          sub: stored.sub,
          createdAt: Math.floor(stored.createdAt / 1000),
          expiresAt: Math.floor((stored.createdAt + maxAgeMs) / 1000),
          idleExpiresAt: remaining === undefined ? undefined : Math.floor((now() + remaining) / 1000),
          userAgent: stored.ua,
        });
      }
      return out;
    },
    async endByHandle(handle) {
      if (!/^[A-Za-z0-9_-]{43}$/.test(handle)) return false;
      const key = `s:{${handle}}`;
      const stored = await peek(key);
      if (!stored) return false;
      await end({ key, sub: stored.sub, idpSid: stored.idpSid });
      return true;
    },
  };
}

const handleOf = (key: string) => key.slice(3, -1);

function sameTokens(a: TokenSet, b: TokenSet): boolean {
  return a.accessToken === b.accessToken && a.refreshToken === b.refreshToken;
}
