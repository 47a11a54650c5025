import { checkUpstreamPath } from '../proxy/upstream-path.js';
import compose from 'koa-compose';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { Step } from '../web/context.js';
import type { EventLogger } from '../observability/logger.js';
import { CSRF_HEADER, crossSiteProblem, csrfProblem } from '../proxy/csrf.js';
import { cookieNames } from '../session/cookie-names.js';
import { requireSession } from '../session/require-session.js';
import type { Sessions } from '../session/session.js';
import { ensureFreshToken } from '../tokens/ensure-fresh-token.js';
import type { TokenRefresher } from '../tokens/refresh.js';
import { answerHeaders } from './answer.js';
import { originalRequest } from './original-request.js';
import { oneSetCookiePerName } from './set-cookie.js';
import { trustedGateway } from './trusted-gateway.js';

export interface ForwardAuthParts {
  config: Config;
  log: EventLogger;
  sessions: Sessions;
  refresher: TokenRefresher;
}

export interface ForwardAuthRoute {
  /** True for FORWARD_AUTH_PATH and every path below it (Envoy appends the original path). */
  matches(path: string): boolean;
  step: Step;
}

/**
 * `ANY FORWARD_AUTH_PATH[/…]`: the BFF as a gateway's authorization step (nginx `auth_request`,
 * Envoy `ext_authz`, Traefik `forwardAuth`). The gateway sends the original request's headers
 * (no body); the BFF applies the /api/* rules to that request and answers 200 with the headers
 * to put on the upstream request (see answer.ts), or 401/403 JSON. Refreshed or cleared session
 * cookies are on either answer as Set-Cookie, for the gateway to pass to the browser.
 *
 * Undefined (no route at all) unless FORWARD_AUTH_PATH is set.
 */
export function forwardAuthRoute(p: ForwardAuthParts): ForwardAuthRoute | undefined {
  const base = p.config.forwardAuth.path;
  if (!base) return undefined;
  const below = `${base}/`;
  const step = compose<Parameters<Step>[0]>([
    trustedGateway(p.config),
    oneSetCookiePerName,
    requireSession(p.sessions),
    checkOriginalRequest(p.config, base),
    ensureFreshToken(p.sessions, p.refresher),
    answer(p, base),
  ]) as unknown as Step;
  // Below the base only along a clean path: '/auth/..%2flogin' must not reach forward-auth
  // through a proxy that routed it as '/login' after normalising it.
  return { matches: (path) => path === base || (path.startsWith(below) && checkUpstreamPath(path.slice(base.length)) !== null), step };
}

/**
 * The /api/* anti-CSRF rules, applied to the original request: a cross-site request (by
 * `Sec-Fetch-Site` or `Origin`) is refused whatever its method; an unsafe method also needs
 * `X-CSRF: 1`. 403 `csrf`.
 */
function checkOriginalRequest(config: Config, base: string): Step {
  const origins = new Set([config.publicOrigin]);
  return async (ctx, next) => {
    const original = originalRequest(ctx, base);
    const origin = ctx.get('origin');
    const fetchSite = ctx.get('sec-fetch-site');
    const reason = original.unsafe ? csrfProblem(ctx.get(CSRF_HEADER), origin, fetchSite, origins) : crossSiteProblem(origin, fetchSite, origins);
    if (reason) throw new BffError('csrf', { event: 'csrf.rejected', detail: `${reason} (original request ${original.method} ${original.path})` });
    await next();
  };
}

/** Last step: 200, never cached, with the token and the rest of what goes upstream. */
function answer({ config, log, sessions }: ForwardAuthParts, base: string): Step {
  const { isOwn } = cookieNames(config);
  const identity = config.forwardAuth.identityHeaders;
  return (ctx) => {
    const session = ctx.state.session!;
    ctx.set(answerHeaders(session, ctx.req.headers.cookie, isOwn, identity));
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 200;
    ctx.body = '';
    const original = originalRequest(ctx, base);
    log.event('gateway.authorized', {
      request_id: ctx.state.requestId,
      session: sessions.logHandle(session),
      sub: session.sub,
      method: original.method,
      path: original.path,
    });
  };
}
