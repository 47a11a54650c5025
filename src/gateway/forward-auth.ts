import { checkUpstreamPath } from '../proxy/upstream-path.js';
import compose from 'koa-compose';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { Step } from '../web/context.js';
import type { EventLogger } from '../observability/logger.js';
import { routePolicy } from '../proxy/api-router.js';
import { CSRF_HEADER, crossSiteProblem, csrfProblem } from '../proxy/csrf.js';
import { isRefusedMethod } from '../proxy/method-guard.js';
import { routeTable } from '../proxy/route-table.js';
import { cookieNames } from '../session/cookie-names.js';
import type { Sessions } from '../session/session.js';
import type { TokenRefresher } from '../tokens/refresh.js';
import type { RouteTokens } from '../tokens/route-tokens.js';
import { answerHeaders } from './answer.js';
import { cacheHeaders, cacheSeconds, uncachedByDefault } from './answer-cache.js';
import { originalRequest } from './original-request.js';
import { oneSetCookiePerName } from './set-cookie.js';
import { trustedGateway } from './trusted-gateway.js';

export interface ForwardAuthParts {
  config: Config;
  log: EventLogger;
  sessions: Sessions;
  refresher: TokenRefresher;
  routeTokens: RouteTokens;
  now: () => number;
}

export interface ForwardAuthRoute {
  /** True for FORWARD_AUTH_PATH and every path below it (Envoy appends the original path). */
  matches(path: string): boolean;
  step: Step;
}

/**
 * `ANY FORWARD_AUTH_PATH[/…]`: the BFF as a gateway's authorization step (nginx `auth_request`,
 * Envoy `ext_authz`, Traefik `forwardAuth`). The gateway sends the original request's headers
 * (no body); the BFF finds the API_ROUTES route of the original path, exactly as /api/* would,
 * applies that route's own rules (routePolicy: session, anti-CSRF on the original request, fresh
 * token for its resource, scopes, its token policy) and answers 200 with the headers to put on
 * the upstream request (see answer.ts), or the error /api/* would give. Refreshed or cleared
 * session cookies are on either answer as Set-Cookie, for the gateway to pass to the browser.
 *
 * Refused outright: no original path, a path no route serves or one that leaves its route once
 * decoded, TRACE/TRACK/CONNECT, and a DPoP route — its token is bound to a key the gateway does
 * not hold, and a proof binds the exact upstream URL, which only the BFF's own proxy knows.
 *
 * Undefined (no route at all) unless FORWARD_AUTH_PATH is set.
 */
export function forwardAuthRoute(p: ForwardAuthParts): ForwardAuthRoute | undefined {
  const base = p.config.forwardAuth.path;
  if (!base) return undefined;
  const below = `${base}/`;
  const step = compose<Parameters<Step>[0]>([trustedGateway(p.config), uncachedByDefault, oneSetCookiePerName, byRoute(p, base)]) as unknown as Step;
  // Below the base only along a clean path: '/auth/..%2flogin' must not reach forward-auth
  // through a proxy that routed it as '/login' after normalising it.
  return { matches: (path) => path === base || (path.startsWith(below) && checkUpstreamPath(path.slice(base.length)) !== null), step };
}

/** Picks the original request's API route (the proxy's own route table) and runs its rules, then answers. */
function byRoute(p: ForwardAuthParts, base: string): Step {
  const { config } = p;
  const deps = { ...p, csrf: checkOriginalRequest(config, base) };
  const pipelines = new Map(config.api.routes.map((route) => [route, compose([...routePolicy(route, deps), answer(p, base)])]));
  const routeOf = routeTable(config.api.routes);
  const refuse = (code: 'invalid_request' | 'not_found' | 'dpop_not_forwardable', detail: string) =>
    new BffError(code, { event: 'gateway.route_refused', detail });
  return (ctx, next) => {
    const original = originalRequest(ctx, base);
    if (original.methods.some(isRefusedMethod)) {
      throw new BffError('method_not_allowed', { event: 'proxy.method_refused', detail: `original request ${original.method} is never forwarded` });
    }
    if (!original.target) throw refuse('invalid_request', 'the gateway named no original path (X-Original-URI, X-Forwarded-Uri, or a path below the endpoint)');
    // The same traversal check as /api/*: a path that leaves its route once decoded names another route.
    if (checkUpstreamPath(original.target) === null) {
      throw new BffError('invalid_path', { event: 'proxy.path_refused', detail: 'original path leaves its route after decoding' });
    }
    const route = routeOf(original.target);
    if (!route) throw refuse('not_found', `no API route serves ${original.path}`);
    if (route.dpop) throw refuse('dpop_not_forwardable', `route ${route.path} sends DPoP-bound tokens`);
    return pipelines.get(route)!(ctx, next);
  };
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

/**
 * Last step: 200 with the token the route's policy chose and the rest of what goes upstream;
 * never cached, except a `phantom` route's answer to a safe request (answer-cache.ts).
 */
function answer({ config, log, sessions, now }: ForwardAuthParts, base: string): Step {
  const { isOwn } = cookieNames(config);
  const identity = config.forwardAuth.identityHeaders;
  const maxAgeMs = config.forwardAuth.cacheMaxAgeMs;
  return (ctx) => {
    const session = ctx.state.session;
    const auth = ctx.state.upstreamAuth;
    // A bound token without its proof is useless upstream, and as Bearer it would be a downgrade.
    if (auth?.dpop) throw new BffError('dpop_not_forwardable', { event: 'gateway.route_refused', detail: "the route's token is DPoP-bound" });
    const original = originalRequest(ctx, base);
    const seconds = cacheSeconds(sessions, {
      maxAgeMs,
      now: now(),
      original,
      session,
      phantomUseUntil: ctx.state.phantomUseUntil,
      setsCookie: ctx.res.hasHeader('set-cookie'),
    });
    ctx.set(answerHeaders(session, ctx.req.headers.cookie, isOwn, identity, auth?.token));
    // Cache-Control first: nginx reads them in order, and a `private` read before X-Accel-Expires
    // keeps the answer out of any nginx cache that does not ignore Cache-Control (one not set up
    // with the per-session key of docs/phantom-tokens.md, e.g. keyed by URI alone).
    ctx.remove('X-Accel-Expires');
    ctx.set(cacheHeaders(seconds));
    ctx.status = 200;
    ctx.body = '';
    log.event('gateway.authorized', {
      request_id: ctx.state.requestId,
      ...(session ? { session: sessions.logHandle(session), sub: session.sub } : {}),
      method: original.method,
      path: original.path,
      ...(seconds > 0 ? { cache_seconds: seconds } : {}),
    });
  };
}
