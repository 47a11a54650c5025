import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../config/load.js';
import { readCookie, serializeCookie, expiredCookie } from '../http/cookies.js';
import type { CookieNames } from './cookie-names.js';
import type { Sealer } from './seal.js';
import { StoreUnavailableError, type SessionStore } from './store.js';
import type { Session, Sessions } from './session.js';
import { parseSealedSession, type SealedSession } from './sealed-session.js';

/** 256 random bits, base64url: the only shape of session id we ever issue. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export interface ServerSessionsDeps {
  config: Config;
  store: SessionStore;
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
export function createServerSessions({ config, store, sealer, cookies, now = Date.now }: ServerSessionsDeps): Sessions {
  const { idleTimeoutMs, maxAgeMs } = config.session;
  // The hash in braces is a Redis Cluster hash tag: the session and its lock share one slot.
  const storeKey = (id: string) => `s:{${createHash('sha256').update(id).digest('base64url')}}`;
  // Sealing binds the value to its key, so a value copied under another key does not unseal.
  const aad = (key: string) => `session ${key}`;
  const ttl = (createdAt: number) => Math.max(1, Math.min(idleTimeoutMs, createdAt + maxAgeMs - now()));
  const clearCookie = expiredCookie(cookies.session, cookies.attributes);

  const seal = (s: Session) => {
    const stored: SealedSession = { f: 1, sid: s.sid, sub: s.sub, claims: { ...s.claims }, tokens: s.tokens, createdAt: s.createdAt, seenAt: 0 };
    return sealer.seal(JSON.stringify(stored), aad(s.key));
  };
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
      if (theirs && theirs.tokens.expiresAt > s.tokens.expiresAt) {
        s.tokens = theirs.tokens;
        readAs.set(s, expected!);
        return true;
      }
    }
    if (expected === undefined) return false;
    throw new StoreUnavailableError(new Error('the session kept changing under compare-and-set'));
  };

  const unsealStored = (key: string, sealed: string) => {
    const opened = sealer.unseal(sealed, aad(key));
    return opened ? parseSealedSession(opened.plaintext) : undefined;
  };

  /** Unseals and checks what the store gave for `key`; undefined for anything not a live session. */
  const open = async (key: string, sealed: string | undefined): Promise<Session | undefined> => {
    if (sealed === undefined) return undefined;
    const opened = sealer.unseal(sealed, aad(key));
    const stored = opened && parseSealedSession(opened.plaintext);
    if (!stored) return undefined;
    const session: Session = { key, sid: stored.sid, sub: stored.sub, claims: stored.claims, tokens: stored.tokens, createdAt: stored.createdAt };
    readAs.set(session, sealed);
    if (stored.createdAt + maxAgeMs <= now()) {
      await store.delete(key);
      return undefined;
    }
    // Written under an older secret: re-seal with the current one so old secrets can be retired.
    if (opened.stale) await update(session);
    return session;
  };

  return {
    async load(io) {
      const id = readCookie(io.header, cookies.session);
      if (id === undefined || !SESSION_ID.test(id)) return undefined;
      const key = storeKey(id);
      return open(key, await store.getAndTouch(key, idleTimeoutMs));
    },
    async reload(s) {
      return open(s.key, await store.get(s.key));
    },
    async create(data, io) {
      const id = randomBytes(32).toString('base64url');
      const session: Session = {
        key: storeKey(id),
        sid: randomBytes(16).toString('base64url'),
        sub: data.sub,
        claims: data.claims,
        tokens: data.tokens,
        createdAt: now(),
      };
      const value = seal(session);
      await store.set(session.key, value, ttl(session.createdAt));
      readAs.set(session, value);
      io.set(serializeCookie(cookies.session, id, { ...cookies.attributes, maxAgeSeconds: maxAgeMs / 1000 }));
      return session;
    },
    save: (s) => update(s),
    propagate() {
      // The store already holds what the other request saved; the cookie (an id) is unchanged.
    },
    async destroy(s, io) {
      await store.delete(s.key);
      io.set(clearCookie);
    },
    clear(io) {
      io.set(clearCookie);
    },
    expiresAt: (s) => Math.floor((s.createdAt + maxAgeMs) / 1000),
    idleExpiresAt: (s) => Math.floor(Math.min(now() + idleTimeoutMs, s.createdAt + maxAgeMs) / 1000),
    logHandle: (s) => s.key.slice(3, 15),
  };
}

