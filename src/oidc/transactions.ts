import { createHash, randomBytes, type webcrypto } from 'node:crypto';
import type { CookieIo } from '../web/cookie-io.js';
import { sameSecret } from '../web/constant-time.js';
import { readCookie, serializeCookie } from '../web/cookies.js';
import type { CookieNames } from '../session/cookie-names.js';
import type { Sealer } from '../session/seal.js';
import type { KeyValueStore } from '../store/store.js';
import type { RequestedAuthentication } from './id-token-checks.js';

/** What /login remembers for /callback. */
export interface LoginTransaction {
  codeVerifier: string;
  nonce: string;
  returnTo: string;
  /** OIDC_DPOP: the private key the authorization code is bound to; it becomes the session's. */
  dpopKey?: webcrypto.JsonWebKey;
  /** The acr_values / max_age the authorization request asked for: the ID token must honour them. */
  requested?: RequestedAuthentication;
}

/** A login transaction expires after this long (the SPEC's 10 minutes). */
export const TRANSACTION_TTL_MS = 10 * 60 * 1000;

/** What GET and POST /logout remember for the IdP's return to LOGOUT_CALLBACK_PATH. */
export interface LogoutTransaction {
  /** The validated post-logout target (returnTo, or POST_LOGOUT_REDIRECT_URI). */
  returnTo: string;
}

export interface Transactions {
  /** Remembers a transaction under `state`, bound to this browser (sets the cookie that binds it). */
  begin(state: string, tx: LoginTransaction, io: CookieIo): Promise<void>;
  /** Takes the transaction for `state` (single use) if it was started by this browser. */
  take(state: string, io: CookieIo): Promise<LoginTransaction | undefined>;
  /**
   * The same for RP-initiated logout: the `state` sent to the end-session endpoint, bound to
   * this browser, used once. Kept apart from logins: a login's state is never a logout's.
   */
  beginLogout(state: string, tx: LogoutTransaction, io: CookieIo): Promise<void>;
  takeLogout(state: string, io: CookieIo): Promise<LogoutTransaction | undefined>;
}

const BINDING = /^[A-Za-z0-9_-]{43}$/;
const hash = (s: string) => createHash('sha256').update(s).digest();

/**
 * Login transactions live server-side, keyed by a hash of `state`, and are bound to the
 * browser by one small random cookie that every tab shares. Any number of tabs may log in at
 * once and the Cookie header does not grow with them: the binding cookie is ~60 bytes
 * whatever the number of pending logins (the classic "431 after many abandoned logins" bug
 * comes from one cookie per transaction). Logout transactions use the same records and
 * binding under their own key prefix and sealing context.
 */
export function createServerTransactions(store: KeyValueStore, sealer: Sealer, cookies: CookieNames): Transactions {
  const logins = boundRecords<LoginTransaction>(store, sealer, cookies, 't', 'login');
  const logouts = boundRecords<LogoutTransaction>(store, sealer, cookies, 'o', 'logout');
  return {
    begin: (state, tx, io) => logins.put(state, tx, io),
    async take(state, io) {
      const stored = await logins.take(state, io);
      if (!stored) return undefined;
      return {
        codeVerifier: stored.codeVerifier,
        nonce: stored.nonce,
        returnTo: stored.returnTo,
        ...(stored.dpopKey ? { dpopKey: stored.dpopKey } : {}),
        ...(stored.requested ? { requested: stored.requested } : {}),
      };
    },
    beginLogout: (state, tx, io) => logouts.put(state, tx, io),
    async takeLogout(state, io) {
      const stored = await logouts.take(state, io);
      return stored && typeof stored.returnTo === 'string' ? { returnTo: stored.returnTo } : undefined;
    },
  };
}

/** Records of one kind, sealed in the store under a hash of their state, bound to the browser's binding cookie. */
function boundRecords<T extends object>(store: KeyValueStore, sealer: Sealer, cookies: CookieNames, prefix: string, purpose: string) {
  const key = (state: string) => `${prefix}:${hash(state).toString('base64url')}`;
  const aad = (k: string) => `${purpose} ${k}`;
  // The IdP redirects back with a cross-site top-level GET: the binding cookie must be Lax
  // even when the session cookie is Strict.
  const attributes = { ...cookies.attributes, sameSite: 'Lax' as const, maxAgeSeconds: TRANSACTION_TTL_MS / 1000 };

  return {
    async put(state: string, tx: T, io: CookieIo): Promise<void> {
      const existing = readCookie(io.header, cookies.login);
      const binding = existing !== undefined && BINDING.test(existing) ? existing : randomBytes(32).toString('base64url');
      const k = key(state);
      // b: hash of the browser's binding cookie.
      const stored = { ...tx, b: hash(binding).toString('base64url') };
      await store.set(k, sealer.seal(JSON.stringify(stored), aad(k)), TRANSACTION_TTL_MS);
      // Re-sent on every transaction so the binding outlives the newest one.
      io.set(serializeCookie(cookies.login, binding, attributes));
    },
    async take(state: string, io: CookieIo): Promise<T | undefined> {
      const k = key(state);
      // Taken (deleted) before checking the binding: a state presented from the wrong browser is burnt too.
      const sealed = await store.take(k);
      const opened = sealed === undefined ? undefined : sealer.unseal(sealed, aad(k));
      const binding = readCookie(io.header, cookies.login);
      if (!opened || binding === undefined || !BINDING.test(binding)) return undefined;
      let stored: T & { b: string };
      try {
        stored = JSON.parse(opened.plaintext) as T & { b: string };
      } catch {
        return undefined;
      }
      const expected = Buffer.from(String(stored.b), 'base64url');
      const actual = hash(binding);
      if (!sameSecret(actual, expected)) return undefined;
      return stored;
    },
  };
}
