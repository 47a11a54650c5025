import type { FusionAuthSdkConfig } from '../config/load.js';
import type { Sessions } from '../session/session.js';
import type { Step } from '../web/context.js';

/**
 * The SDKs' only notion of "signed in" is a cookie JavaScript can read (`app.at_exp` by
 * default) holding epoch seconds, compared with the clock. It carries the session's next idle
 * expiry, never a token: the BFF refreshes access tokens itself, so the session is what ends.
 * Not HttpOnly on purpose (the SDK reads document.cookie); SameSite=Lax like the login binding.
 */
export interface ExpiryCookie {
  set(expiresAtSeconds: number, nowMs: number): string;
  expired(): string;
}

export function expiryCookie(sdk: FusionAuthSdkConfig, secure: boolean): ExpiryCookie {
  const attributes = `Path=/; SameSite=Lax${secure ? '; Secure' : ''}`;
  return {
    set: (at, nowMs) => `${sdk.expiryCookie}=${at}; ${attributes}; Max-Age=${Math.max(0, at - Math.floor(nowMs / 1000))}`,
    expired: () => `${sdk.expiryCookie}=; ${attributes}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT`,
  };
}

/**
 * Wraps a route that loads or creates the session (into ctx.state.session): once it answered,
 * the cookie is re-set to the session's next idle expiry, which just slid. A route that found
 * no session (401) deletes the cookie, so the SDK stops believing it is signed in.
 */
export function withExpiryCookie(cookie: ExpiryCookie, sessions: Sessions, now: () => number): Step {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if ((err as { code?: unknown }).code === 'unauthenticated') ctx.append('Set-Cookie', cookie.expired());
      throw err;
    }
    const session = ctx.state.session;
    if (session) ctx.append('Set-Cookie', cookie.set(sessions.idleExpiresAt(session), now()));
  };
}
