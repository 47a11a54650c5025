import type { Session, Sessions } from '../session/session.js';
import type { Step } from '../web/context.js';
import type { OriginalRequest } from './original-request.js';

/**
 * How long a gateway may keep a forward-auth answer (docs/phantom-tokens.md, "Forward-auth:
 * caching the answer"). Only a `phantom` route's 200 is ever cacheable: its JWT is the same for
 * every call until it falls due, which is what lets a gateway spare the BFF a call per request.
 *
 * The answer is a function of the session cookie (and the browser's other cookies, which it
 * echoes), the original path, the original method, `Origin`, `Sec-Fetch-Site` and `X-CSRF`. The
 * gateway's cache key must hold all of them (the documented nginx key does); on top of that the
 * BFF keeps out of any cache what a key could still get wrong:
 *
 * - an unsafe original request: its verdict hangs on `X-CSRF`, and it must reach the BFF each
 *   time anyway (a cached GET answer must never be what lets a POST through);
 * - an answer with a `Set-Cookie` (a refreshed or cleared session): it is meant for one
 *   response to one browser, and the next request carries another cookie anyway;
 * - every refusal (401, 403, 5xx).
 *
 * And no answer outlives what it vouches for: at most `FORWARD_AUTH_CACHE_MAX_AGE`, the JWT's
 * use-by time (its expiry minus TOKEN_REFRESH_SKEW) and the session's idle and absolute ends.
 * A logout is therefore honoured by a caching gateway within that max-age (a browser that
 * logged out sends another cookie, so it is refused at once; only a copy of the old cookie can
 * ride on the cached answer, and for that long at most).
 */
export interface CacheInput {
  maxAgeMs: number;
  now: number;
  original: OriginalRequest;
  session: Session | undefined;
  /** The JWT's use-by time (epoch ms), set by a `phantom` route's token step; undefined on other routes. */
  phantomUseUntil: number | undefined;
  /** The answer carries a Set-Cookie. */
  setsCookie: boolean;
}

/** Whole seconds the answer may be cached; 0 = not at all (`no-store`). */
export function cacheSeconds(sessions: Pick<Sessions, 'expiresAt' | 'idleExpiresAt'>, input: CacheInput): number {
  const { maxAgeMs, now, original, session, phantomUseUntil, setsCookie } = input;
  if (maxAgeMs <= 0 || !session || phantomUseUntil === undefined || original.unsafe || setsCookie) return 0;
  const until = Math.min(now + maxAgeMs, phantomUseUntil, sessions.expiresAt(session) * 1000, sessions.idleExpiresAt(session) * 1000);
  // Rounded down: a gateway that counts whole seconds never keeps the answer past `until`.
  return Math.max(0, Math.floor((until - now) / 1000));
}

/**
 * Cache headers of an answer, Cache-Control first. `private` keeps a cacheable answer out of any
 * cache that is not deliberately keyed per session; nginx, told to ignore Cache-Control, takes
 * the time from `X-Accel-Expires` (seconds). nginx reads the two in order, and one that does not
 * ignore Cache-Control caches nothing only if `private` comes first.
 */
export function cacheHeaders(seconds: number): Record<string, string> {
  return seconds > 0
    ? { 'cache-control': `private, max-age=${seconds}`, 'x-accel-expires': String(seconds) }
    : { 'cache-control': 'no-store', 'x-accel-expires': '0' };
}

/**
 * Wraps the forward-auth pipeline: every answer is uncacheable (`X-Accel-Expires: 0`, which nginx
 * obeys even over a `proxy_cache_valid`) unless the last step says otherwise, refusals included.
 */
export const uncachedByDefault: Step = async (ctx, next) => {
  ctx.set('X-Accel-Expires', '0');
  await next();
};
