import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../config/load.js';
import type { EventLogger } from '../observability/logger.js';
import { readCookie, serializeCookie, expiredCookie } from '../http/cookies.js';
import type { CookieNames } from './cookie-names.js';
import type { Sealer } from './seal.js';
import type { SessionStore } from './store.js';
import type { Session, Sessions, TokenSet } from './session.js';

/** 256 random bits, base64url: the only shape of session id we ever issue. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
const FORMAT = 1;

/** What is sealed into the store: everything but the id, which only the browser holds. */
interface StoredSession {
  f: number;
  sid: string;
  sub: string;
  claims: Record<string, unknown>;
  tokens: TokenSet;
  createdAt: number;
}

export interface SessionsDeps {
  config: Config;
  store: SessionStore;
  sealer: Sealer;
  cookies: CookieNames;
  log: EventLogger;
  now?: () => number;
}

export function createSessions({ config, store, sealer, cookies, now = Date.now }: SessionsDeps): Sessions {
  const { idleTimeoutMs, maxAgeMs } = config.session;
  const storeKey = (id: string) => `s:${createHash('sha256').update(id).digest('base64url')}`;
  // Sealing binds the value to its key, so a value copied under another key does not unseal.
  const aad = (key: string) => `session ${key}`;
  const ttl = (createdAt: number) => Math.max(1, Math.min(idleTimeoutMs, createdAt + maxAgeMs - now()));

  const sealed = (s: Session) => {
    const stored: StoredSession = { f: FORMAT, sid: s.sid, sub: s.sub, claims: { ...s.claims }, tokens: s.tokens, createdAt: s.createdAt };
    return sealer.seal(JSON.stringify(stored), aad(s.key));
  };
  // Updates never create: a session deleted by a concurrent logout stays deleted.
  const update = (s: Session) => store.replace(s.key, sealed(s), ttl(s.createdAt));

  /** Unseals and checks what the store gave for `key`; undefined for anything not a live session. */
  const open = async (id: string, key: string, sealed: string | undefined): Promise<Session | undefined> => {
    if (sealed === undefined) return undefined;
    const opened = sealer.unseal(sealed, aad(key));
    const stored = opened && parse(opened.plaintext);
    if (!stored) return undefined;
    const session: Session = { id, key, sid: stored.sid, sub: stored.sub, claims: stored.claims, tokens: stored.tokens, createdAt: stored.createdAt };
    if (stored.createdAt + maxAgeMs <= now()) {
      await store.delete(key);
      return undefined;
    }
    // Written under an older secret: re-seal with the current one so old secrets can be retired.
    if (opened.stale) await update(session);
    return session;
  };

  return {
    async load(cookieHeader) {
      const id = readCookie(cookieHeader, cookies.session);
      if (id === undefined || !SESSION_ID.test(id)) return undefined;
      const key = storeKey(id);
      return open(id, key, await store.getAndTouch(key, idleTimeoutMs));
    },
    async reload(s) {
      return open(s.id, s.key, await store.get(s.key));
    },
    async create(data) {
      const id = randomBytes(32).toString('base64url');
      const session: Session = {
        id,
        key: storeKey(id),
        sid: randomBytes(16).toString('base64url'),
        sub: data.sub,
        claims: data.claims,
        tokens: data.tokens,
        createdAt: now(),
      };
      await store.set(session.key, sealed(session), ttl(session.createdAt));
      const setCookie = serializeCookie(cookies.session, id, { ...cookies.attributes, maxAgeSeconds: maxAgeMs / 1000 });
      return { session, setCookie };
    },
    save: update,
    async destroy(s) {
      await store.delete(s.key);
    },
    clearCookie: () => expiredCookie(cookies.session, cookies.attributes),
    expiresAt: (s) => Math.floor((s.createdAt + maxAgeMs) / 1000),
    idleExpiresAt: (s) => Math.floor(Math.min(now() + idleTimeoutMs, s.createdAt + maxAgeMs) / 1000),
    logHandle: (s) => s.key.slice(2, 14),
  };
}

function parse(plaintext: string): StoredSession | undefined {
  try {
    const v = JSON.parse(plaintext) as Partial<StoredSession>;
    const ok = v.f === FORMAT && typeof v.sid === 'string' && typeof v.sub === 'string' && typeof v.createdAt === 'number'
      && typeof v.tokens?.accessToken === 'string' && typeof v.claims === 'object' && v.claims !== null;
    return ok ? (v as StoredSession) : undefined;
  } catch {
    return undefined;
  }
}
