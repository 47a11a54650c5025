import { createHash, type webcrypto } from 'node:crypto';
import type { CookieIo } from '../web/cookie-io.js';
import { expiredCookie, readCookie, serializeCookie } from '../web/cookies.js';
import type { CookieNames } from '../session/cookie-names.js';
import type { Sealer } from '../session/seal.js';
import type { RequestedAuthentication } from './id-token-checks.js';
import { TRANSACTION_TTL_MS, type LogoutTransaction, type Transactions } from './transactions.js';

/** Pending logins kept per browser; starting another drops the oldest, so the cookie stays bounded. */
export const MAX_PENDING_LOGINS = 4;
const AAD = 'login transactions v1';
const MAX_COOKIE_VALUE = 3800;

interface Entry {
  /** Hash of the state (the state itself travels in the URL only). */
  h: string;
  /** 1 for a logout transaction (only returnTo); absent for a login. */
  o?: 1;
  v?: string;
  n?: string;
  r: string;
  /** The DPoP key the code is bound to (OIDC_DPOP). */
  k?: webcrypto.JsonWebKey;
  /** The acr_values / max_age asked for. */
  q?: RequestedAuthentication;
  /** Expiry, epoch ms. */
  e: number;
}

const stateHash = (state: string) => createHash('sha256').update(state).digest('base64url').slice(0, 22);

/**
 * Login transactions for cookie sessions (no server store): the pending ones are sealed into
 * the login cookie itself, at most {@link MAX_PENDING_LOGINS} of them (logout transactions
 * included, marked as such so that neither kind completes as the other). The cookie is the
 * binding to the browser; a transaction taken is removed from it. A callback replayed with an
 * old copy of the cookie still meets the IdP's single-use code.
 */
export function createCookieTransactions(sealer: Sealer, cookies: CookieNames, now: () => number = Date.now): Transactions {
  const attributes = { ...cookies.attributes, sameSite: 'Lax' as const, maxAgeSeconds: TRANSACTION_TTL_MS / 1000 };

  const read = (io: CookieIo): Entry[] => {
    const raw = readCookie(io.header, cookies.login);
    const opened = raw === undefined ? undefined : sealer.unseal(raw, AAD);
    if (!opened) return [];
    try {
      const entries = JSON.parse(opened.plaintext) as Entry[];
      const t = now();
      return Array.isArray(entries) ? entries.filter((e) => typeof e?.h === 'string' && e.e > t).slice(-MAX_PENDING_LOGINS) : [];
    } catch {
      return [];
    }
  };
  const write = (io: CookieIo, entries: Entry[]) => {
    let kept = entries;
    let sealed = kept.length ? sealer.seal(JSON.stringify(kept), AAD) : '';
    // A browser silently drops a cookie over ~4 KB: give up the oldest pending logins instead.
    while (kept.length > 1 && sealed.length > MAX_COOKIE_VALUE) {
      kept = kept.slice(1);
      sealed = sealer.seal(JSON.stringify(kept), AAD);
    }
    io.set(kept.length && sealed.length <= MAX_COOKIE_VALUE ? serializeCookie(cookies.login, sealed, attributes) : expiredCookie(cookies.login, attributes));
  };

  /** Takes (removes) the entry for `state` of the given kind. */
  const takeEntry = (state: string, logout: boolean, io: CookieIo): Entry | undefined => {
    const entries = read(io);
    const h = stateHash(state);
    const found = entries.find((e) => e.h === h && (e.o === 1) === logout);
    if (found)
      write(
        io,
        entries.filter((e) => e !== found),
      );
    return found;
  };
  const add = (io: CookieIo, entry: Entry) => write(io, [...read(io), entry].slice(-MAX_PENDING_LOGINS));

  return {
    async begin(state, tx, io) {
      add(io, {
        h: stateHash(state),
        v: tx.codeVerifier,
        n: tx.nonce,
        r: tx.returnTo,
        ...(tx.dpopKey ? { k: tx.dpopKey } : {}),
        ...(tx.requested ? { q: tx.requested } : {}),
        e: now() + TRANSACTION_TTL_MS,
      });
    },
    async take(state, io) {
      const found = takeEntry(state, false, io);
      if (!found || typeof found.v !== 'string' || typeof found.n !== 'string') return undefined;
      return { codeVerifier: found.v, nonce: found.n, returnTo: found.r, ...(found.k ? { dpopKey: found.k } : {}), ...(found.q ? { requested: found.q } : {}) };
    },
    async beginLogout(state, tx: LogoutTransaction, io) {
      add(io, { h: stateHash(state), o: 1, r: tx.returnTo, e: now() + TRANSACTION_TTL_MS });
    },
    async takeLogout(state, io) {
      const found = takeEntry(state, true, io);
      return found && typeof found.r === 'string' ? { returnTo: found.r } : undefined;
    },
  };
}
