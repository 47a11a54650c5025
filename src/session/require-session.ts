import { BffError } from '../errors/bff-error.js';
import { cookieIo } from '../web/cookie-io.js';
import type { Step } from '../web/context.js';
import type { Session, Sessions } from './session.js';

/** Loads the browser's session into ctx.state.session, or refuses with 401 `unauthenticated`. */
export function requireSession(sessions: Sessions): Step {
  return async (ctx, next) => {
    const session = await sessions.load(cookieIo(ctx));
    if (!session) throw new BffError('unauthenticated');
    ctx.state.session = session;
    await next();
  };
}

/** Loads the browser's session into ctx.state.session when it has one; anonymous requests go on. */
export function optionalSession(sessions: Sessions): Step {
  return async (ctx, next) => {
    const session = await sessions.load(cookieIo(ctx));
    if (session) ctx.state.session = session;
    await next();
  };
}

declare module '../web/context.js' {
  interface BffState {
    /** Set by requireSession / loadSession. */
    session?: Session;
  }
}
