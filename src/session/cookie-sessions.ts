import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { CookieIo } from '../web/cookie-io.js';
import type { EventLogger } from '../observability/logger.js';
import { expiredCookie, serializeCookie } from '../web/cookies.js';
import { cookieMap, MAX_CHUNKS, presentChunkNames, readChunks, splitIntoChunks } from './chunked-cookie.js';
import type { CookieNames } from './cookie-names.js';
import { RecentMap } from '../store/recent-map.js';
import { deepFreeze, fromSealed, newSession, parseSealedSession, toSealed, type SealedSession } from './sealed-session.js';
import type { Sealer } from './seal.js';
import type { Revocations } from './revocations.js';
import type { Session, Sessions } from './session.js';

export interface CookieSessionsDeps {
  config: Config;
  sealer: Sealer;
  cookies: CookieNames;
  /**
   * Ended sessions (logout, admin, back-channel): a copied cookie of one is anonymous. In Redis
   * when configured (every instance), else in this process.
   */
  revocations?: Revocations | undefined;
  /** Where a cookie that does not open is reported (`session.cookie_invalid`). */
  log?: EventLogger | undefined;
  now?: () => number;
}

const AAD = 'cookie session v1';

/** Short, non-reversible handle of a cookie session (logs, admin revocation): its key's hash, cut short. */
export const cookieSessionHandle = (s: Pick<Session, 'key'>): string => s.key.slice(2, 14);
/** Sealed cookies remembered with what they opened to (a few KB each). */
const RECENT_COOKIES = 1000;
/** Base64url characters at the end of a sealed value that hold its 16-byte GCM tag (and then some). */
const TAIL_CHARS = 32;

/**
 * Sessions that travel in the browser: the whole session sealed (AES-256-GCM) into the
 * session cookie, split into chunks when over ~4 KB. Idle and absolute timeouts are checked
 * from timestamps inside the sealed value, so a replayed old cookie past either is anonymous.
 * The cookie is re-issued when the session changes and, for the idle timeout, at most every
 * minute or tenth of the idle timeout (not on every request).
 *
 * A logout records the ended session (see revocations.ts), so a copy of its cookie is anonymous
 * wherever that record is seen: every instance with Redis, this process without.
 */
export function createCookieSessions({ config, sealer, cookies, revocations, log, now = Date.now }: CookieSessionsDeps): Sessions {
  const { idleTimeoutMs, maxAgeMs, cookieBudgetBytes, touchEveryMs } = config.session;
  const base = cookies.session;
  const keyOf = (sid: string) => `c:${createHash('sha256').update(sid).digest('base64url')}`;

  const write = (s: Session, io: CookieIo) => {
    const stored = toSealed(s, now());
    const chunks = splitIntoChunks(base, sealer.seal(JSON.stringify(stored), AAD));
    const bytes = chunks.reduce((sum, [name, value]) => sum + name.length + value.length + 3, 0);
    if (bytes > cookieBudgetBytes || chunks.length > MAX_CHUNKS) {
      throw new BffError('session_too_large', { detail: `cookie session needs ${bytes} bytes, SESSION_COOKIE_BUDGET is ${cookieBudgetBytes}` });
    }
    const maxAgeSeconds = Math.max(1, (s.createdAt + maxAgeMs - now()) / 1000);
    for (const [name, value] of chunks) io.set(serializeCookie(name, value, { ...cookies.attributes, maxAgeSeconds }));
    const written = new Set(chunks.map(([name]) => name));
    for (const name of presentChunkNames(cookieMap(io.header), base)) if (!written.has(name)) io.set(expiredCookie(name, cookies.attributes));
  };

  // Only the chunks this request carried: an answer to a request without them (a cross-site
  // navigation under SameSite=Strict) must not delete the browser's live session cookie.
  const clear = (io: CookieIo) => {
    for (const name of presentChunkNames(cookieMap(io.header), base)) io.set(expiredCookie(name, cookies.attributes));
  };

  // A browser sends the same sealed cookie until it is re-issued (at most every minute): what it
  // opened to is remembered, so the hot path does not decrypt and parse it on every call. Only
  // values that unsealed go in; every timestamp check below still runs on each request.
  // Looked up by the sealed value's last characters (its AEAD tag), not the whole value: a Map
  // hashes a new key string in full, a few KB on every call. The whole value must still match.
  const recent = new RecentMap<{ sealed: string; stored: SealedSession; key: string; stale: boolean }>(RECENT_COOKIES, touchEveryMs);
  const tail = (sealed: string) => sealed.slice(-TAIL_CHARS);
  const open = (sealed: string) => {
    const known = recent.get(tail(sealed));
    if (known?.sealed === sealed) return known;
    const plain = sealer.unseal(sealed, AAD);
    const stored = plain && parseSealedSession(plain.plaintext);
    if (!stored) return undefined;
    const result = { sealed, stored: deepFreeze(stored), key: keyOf(stored.sid), stale: plain.stale };
    recent.set(tail(sealed), result);
    return result;
  };

  return {
    async load(io) {
      const sealed = readChunks(cookieMap(io.header), base);
      if (sealed === undefined) return undefined;
      const opened = open(sealed);
      if (!opened) {
        // Tampered, truncated, sealed under a retired secret or by another deployment.
        log?.event('session.cookie_invalid', { reason: 'the session cookie does not open' });
        return undefined;
      }
      const { stored } = opened;
      const t = now();
      const session = fromSealed(opened.key, stored);
      // A server store forgets an expired or ended session, which then looks like no session at
      // all; a cookie still opens, so here the operator can be told why it no longer admits.
      const lifetimeOver = stored.createdAt + maxAgeMs <= t;
      if (lifetimeOver || stored.seenAt + idleTimeoutMs <= t) {
        const reason = lifetimeOver ? 'the session reached its lifetime (SESSION_MAX_AGE)' : 'the session was idle for SESSION_IDLE_TIMEOUT';
        log?.event('session.expired', { session: cookieSessionHandle(session), sub: session.sub, reason });
        return undefined;
      }
      if (revocations && (await revocations.isRevoked(session))) {
        log?.event('session.ended', {
          session: cookieSessionHandle(session),
          sub: session.sub,
          reason: 'a copy of a session that was ended (logout, back-channel logout or administrator)',
        });
        return undefined;
      }
      // Re-issue to slide the idle timeout (bounded rate) or to re-seal under the current secret.
      if (opened.stale || t - stored.seenAt >= touchEveryMs) write(session, io);
      return session;
    },
    async reload(s) {
      return s; // the cookie is the only copy: nothing newer to read
    },
    async create(data, io) {
      const sid = randomBytes(16).toString('base64url');
      // The browser's User-Agent is kept for the admin API of server stores only: not worth its bytes here.
      const { userAgent: _notKept, ...kept } = data;
      const session = newSession(keyOf(sid), sid, kept, now());
      write(session, io);
      return session;
    },
    async save(s, io) {
      write(s, io);
      return true;
    },
    propagate: write,
    async adopt(s, io) {
      write(s, io);
    },
    async destroy(s, io) {
      // Recorded before the cookie is cleared: a copy taken earlier must not outlive the logout.
      await revocations?.endSession(s);
      clear(io);
    },
    clear,
    expiresAt: (s) => Math.floor((s.createdAt + maxAgeMs) / 1000),
    idleExpiresAt: (s) => Math.floor(Math.min(now() + idleTimeoutMs, s.createdAt + maxAgeMs) / 1000),
    logHandle: cookieSessionHandle,
  };
}
