import * as oidc from 'openid-client';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import { cookieIo, type CookieIo } from '../web/cookie-io.js';
import type { BffContext, Step } from '../web/context.js';
import { sameSecret } from '../web/constant-time.js';
import type { EventLogger } from '../observability/logger.js';
import { errorFields } from '../observability/logger.js';
import type { Session, Sessions } from '../session/session.js';
import type { OidcClient } from '../idp/client.js';
import { postLogoutTarget } from './logout-target.js';
import type { Transactions } from './transactions.js';

export interface LogoutDeps {
  config: Config;
  idp: OidcClient;
  sessions: Sessions;
  transactions: Transactions;
  log: EventLogger;
}

/**
 * Ends the session: deletes server state first (so the session is over whatever the IdP
 * does), revokes the refresh token when the IdP has a revocation endpoint, and returns the
 * URL that ends the IdP session too (RP-initiated logout with id_token_hint and a fresh
 * `state`, remembered as a logout transaction bound to this browser). The IdP returns to
 * LOGOUT_CALLBACK_PATH, which checks the state and redirects to the post-logout target.
 * @see https://openid.net/specs/openid-connect-rpinitiated-1_0.html
 * @see https://www.rfc-editor.org/rfc/rfc7009 (token revocation)
 */
function createLogout({ config, idp, sessions, transactions, log }: LogoutDeps) {
  const revoke = async (session: Session, requestId: string) => {
    if (!idp.isReady()) return;
    const configuration = idp.configuration();
    if (!configuration.serverMetadata().revocation_endpoint) return;
    const { refreshToken, accessToken } = session.tokens;
    try {
      await oidc.tokenRevocation(configuration, refreshToken ?? accessToken, { token_type_hint: refreshToken ? 'refresh_token' : 'access_token' });
    } catch (err) {
      // The session is already gone here; a failed revocation only leaves a token to expire at the IdP.
      log.event('logout.revocation_failed', { request_id: requestId, session: sessions.logHandle(session), err: errorFields(err, false) });
    }
  };

  /** The IdP's end-session URL carrying `state`, or undefined when the IdP offers none (or a broken one). */
  const endSessionUrl = (session: Session, state: string): string | undefined => {
    if (!idp.isReady()) return undefined;
    const configuration = idp.configuration();
    if (!configuration.serverMetadata().end_session_endpoint) return undefined;
    const params: Record<string, string> = { post_logout_redirect_uri: config.oidc.logoutCallbackUri, state };
    if (session.tokens.idToken) params['id_token_hint'] = session.tokens.idToken;
    try {
      return oidc.buildEndSessionUrl(configuration, params).href;
    } catch {
      // A broken end_session_endpoint in the IdP metadata must not keep anyone signed in.
      return undefined;
    }
  };

  /** Ends `session` (if any) and answers where the browser goes next. */
  return async (session: Session | undefined, io: CookieIo, requestId: string, target: string): Promise<string> => {
    if (!session) {
      sessions.clear(io);
      return target;
    }
    await sessions.destroy(session, io);
    const state = oidc.randomState();
    const url = endSessionUrl(session, state);
    // Without an end-session endpoint the browser goes to the target at once: nothing to return from.
    if (url) await transactions.beginLogout(state, { returnTo: target }, io);
    await revoke(session, requestId);
    log.event('logout.completed', { request_id: requestId, session: sessions.logHandle(session), sub: session.sub });
    return url ?? target;
  };
}

/** POST /logout[?returnTo=…] (after checkCsrf): 200 `{logoutUrl}`; idempotent for a browser without a session. */
export function logoutApi(deps: LogoutDeps): Step {
  const logout = createLogout(deps);
  return async (ctx) => {
    const io = cookieIo(ctx);
    const session = await deps.sessions.load(io);
    const logoutUrl = await logout(session, io, ctx.state.requestId, postLogoutTarget(ctx.query['returnTo'], deps.config));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { logoutUrl };
  };
}

/**
 * GET /logout?sid=…[&returnTo=…]: the same as a top-level navigation. The sid must be this
 * session's own (only the SPA, through /session, knows it), so a cross-site link or image
 * cannot log a user out: without it, 400 and nothing is ended. A browser without a session is
 * sent on, and its (dead) session cookie deleted only when the request is not cross-site: with
 * SameSite=Strict a cross-site navigation arrives without the live cookie, and deleting it
 * then would sign the user out in the browser while the session lives on.
 */
export function logoutNavigation(deps: LogoutDeps): Step {
  const logout = createLogout(deps);
  return async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const io = cookieIo(ctx);
    const session = await deps.sessions.load(io);
    if (!session) {
      if (ctx.get('sec-fetch-site') !== 'cross-site') deps.sessions.clear(io);
      ctx.redirect(postLogoutTarget(ctx.query['returnTo'], deps.config));
      return;
    }
    const sid = ctx.query['sid'];
    if (typeof sid !== 'string' || !sameSecret(sid, session.sid)) {
      throw new BffError('logout_refused', { event: 'logout.refused', detail: sid === undefined ? 'sid missing' : 'sid does not match the session' });
    }
    ctx.redirect(await logout(session, io, ctx.state.requestId, postLogoutTarget(ctx.query['returnTo'], deps.config)));
  };
}

/**
 * GET logout for a route that decided the target and guarded the request itself (the FusionAuth
 * SDK's /app/logout/, which refuses cross-site requests before this step): ends the session like
 * GET /logout, without the sid (the SDK has none to send), and goes to `targetOf(ctx)`, through
 * the IdP's end-session endpoint when it has one.
 */
export function logoutTo(deps: LogoutDeps, targetOf: (ctx: BffContext) => string): Step {
  const logout = createLogout(deps);
  return async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const target = targetOf(ctx);
    const io = cookieIo(ctx);
    const session = await deps.sessions.load(io);
    ctx.redirect(await logout(session, io, ctx.state.requestId, target));
  };
}
