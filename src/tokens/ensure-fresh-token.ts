import { cookieIo } from '../http/cookie-io.js';
import type { Step } from '../http/context.js';
import type { Sessions } from '../session/session.js';
import type { TokenRefresher } from './refresh.js';

/**
 * Step after requireSession: refreshes the access token when it expires within the skew, or
 * always with `force` (POST /refresh).
 */
export function ensureFreshToken(sessions: Sessions, refresher: TokenRefresher, force = false): Step {
  return async (ctx, next) => {
    const io = cookieIo(ctx);
    try {
      await refresher.ensureFresh(ctx.state.session!, { force, requestId: ctx.state.requestId, io });
    } catch (err) {
      // A session that the refresh ended must not linger in the browser either.
      if ((err as { code?: unknown }).code === 'unauthenticated') sessions.clear(io);
      throw err;
    }
    await next();
  };
}
