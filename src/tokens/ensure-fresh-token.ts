import type { Step } from '../http/context.js';
import type { Sessions } from '../session/session.js';
import type { TokenRefresher } from './refresh.js';

/**
 * Step after requireSession: refreshes the access token when it expires within the skew, or
 * always with `force` (POST /refresh).
 */
export function ensureFreshToken(sessions: Sessions, refresher: TokenRefresher, force = false): Step {
  return async (ctx, next) => {
    try {
      await refresher.ensureFresh(ctx.state.session!, { force, requestId: ctx.state.requestId });
    } catch (err) {
      // A session that the refresh ended must not linger in the browser either.
      if ((err as { code?: unknown }).code === 'unauthenticated') ctx.append('Set-Cookie', sessions.clearCookie());
      throw err;
    }
    await next();
  };
}
