import { cookieIo } from '../web/cookie-io.js';
import type { Step } from '../web/context.js';
import type { Sessions } from '../session/session.js';
import type { TokenRefresher } from './refresh.js';

/**
 * Step after requireSession: refreshes the access token when it expires within the skew, or
 * always with `force` (POST /refresh). With a `resource` (RFC 8707), the token kept for that
 * resource is the one checked and refreshed.
 */
export function ensureFreshToken(sessions: Sessions, refresher: TokenRefresher, force = false, resource?: string): Step {
  const refreshing: Step = async (ctx, next) => {
    const io = cookieIo(ctx);
    try {
      await refresher.ensureFresh(ctx.state.session!, { force, requestId: ctx.state.requestId, io, resource });
    } catch (err) {
      // A session that the refresh ended must not linger in the browser either.
      if ((err as { code?: unknown }).code === 'unauthenticated') sessions.clear(io);
      throw err;
    }
    await next();
  };
  // Almost every API call has a token that is not due: the same check ensureFresh starts with,
  // answered without an async frame of its own (this is the hot path).
  return (ctx, next) => (force || refresher.isDue(ctx.state.session!, resource) ? refreshing(ctx, next) : next());
}
