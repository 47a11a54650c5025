import type { Config } from '../config/load.js';
import { cookieIo } from '../web/cookie-io.js';
import type { Step } from '../web/context.js';
import type { Session, Sessions } from './session.js';

/** The body of GET /session (and POST /refresh) for a signed-in browser. Never a token. */
export interface SessionInfo {
  authenticated: true;
  claims: Readonly<Record<string, unknown>>;
  sid: string;
  /** Epoch seconds: absolute end of the session. */
  expiresAt: number;
  /** Epoch seconds: end of the session if the browser stays idle from now. */
  idleExpiresAt: number;
  logoutUrl: string;
}

export function sessionInfo(config: Config, sessions: Sessions, session: Session): SessionInfo {
  return {
    authenticated: true,
    claims: session.claims,
    sid: session.sid,
    expiresAt: sessions.expiresAt(session),
    idleExpiresAt: sessions.idleExpiresAt(session),
    logoutUrl: `${config.publicOrigin}${config.paths.logout}?sid=${encodeURIComponent(session.sid)}`,
  };
}

/** GET /session: 200 with the session's info, or 401 `{authenticated:false, loginUrl}`. */
export function sessionEndpoint(config: Config, sessions: Sessions): Step {
  const loginUrl = config.publicOrigin + config.paths.login;
  return async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const session = await sessions.load(cookieIo(ctx));
    if (!session) {
      ctx.status = 401;
      ctx.body = { authenticated: false, loginUrl };
      return;
    }
    ctx.body = sessionInfo(config, sessions, session);
  };
}
