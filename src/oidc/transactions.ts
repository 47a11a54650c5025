import { createHash, randomBytes, timingSafeEqual, type webcrypto } from 'node:crypto';
import type { CookieIo } from '../http/cookie-io.js';
import { readCookie, serializeCookie } from '../http/cookies.js';
import type { CookieNames } from '../session/cookie-names.js';
import type { Sealer } from '../session/seal.js';
import type { SessionStore } from '../session/store.js';
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

export interface Transactions {
  /** Remembers a transaction under `state`, bound to this browser (sets the cookie that binds it). */
  begin(state: string, tx: LoginTransaction, io: CookieIo): Promise<void>;
  /** Takes the transaction for `state` (single use) if it was started by this browser. */
  take(state: string, io: CookieIo): Promise<LoginTransaction | undefined>;
}

interface StoredTransaction extends LoginTransaction {
  /** Hash of the browser's login-binding cookie. */
  b: string;
}

const BINDING = /^[A-Za-z0-9_-]{43}$/;
const hash = (s: string) => createHash('sha256').update(s).digest();

/**
 * Login transactions live server-side, keyed by a hash of `state`, and are bound to the
 * browser by one small random cookie that every tab shares. Any number of tabs may log in at
 * once and the Cookie header does not grow with them: the binding cookie is ~60 bytes
 * whatever the number of pending logins (the classic "431 after many abandoned logins" bug
 * comes from one cookie per transaction).
 */
export function createServerTransactions(store: SessionStore, sealer: Sealer, cookies: CookieNames): Transactions {
  const key = (state: string) => `t:${hash(state).toString('base64url')}`;
  const aad = (k: string) => `login ${k}`;
  // The IdP redirects back with a cross-site top-level GET: the binding cookie must be Lax
  // even when the session cookie is Strict.
  const attributes = { ...cookies.attributes, sameSite: 'Lax' as const, maxAgeSeconds: TRANSACTION_TTL_MS / 1000 };

  return {
    async begin(state, tx, io) {
      const existing = readCookie(io.header, cookies.login);
      const binding = existing !== undefined && BINDING.test(existing) ? existing : randomBytes(32).toString('base64url');
      const k = key(state);
      const stored: StoredTransaction = { ...tx, b: hash(binding).toString('base64url') };
      await store.set(k, sealer.seal(JSON.stringify(stored), aad(k)), TRANSACTION_TTL_MS);
      // Re-sent on every login so the binding outlives the newest transaction.
      io.set(serializeCookie(cookies.login, binding, attributes));
    },
    async take(state, io) {
      const k = key(state);
      // Taken (deleted) before checking the binding: a state presented from the wrong browser is burnt too.
      const sealed = await store.take(k);
      const opened = sealed === undefined ? undefined : sealer.unseal(sealed, aad(k));
      const binding = readCookie(io.header, cookies.login);
      if (!opened || binding === undefined || !BINDING.test(binding)) return undefined;
      let stored: StoredTransaction;
      try {
        stored = JSON.parse(opened.plaintext) as StoredTransaction;
      } catch {
        return undefined;
      }
      const expected = Buffer.from(stored.b, 'base64url');
      const actual = hash(binding);
      if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
      return {
        codeVerifier: stored.codeVerifier, nonce: stored.nonce, returnTo: stored.returnTo,
        ...(stored.dpopKey ? { dpopKey: stored.dpopKey } : {}),
        ...(stored.requested ? { requested: stored.requested } : {}),
      };
    },
  };
}
