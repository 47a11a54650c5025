import Router from '@koa/router';
import compose from 'koa-compose';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { FusionAuthSdk } from '../fusionauth/sdk-routes.js';
import { forwardAuthRoute } from '../gateway/forward-auth.js';
import { gatewayJwks, handleIntrospection } from '../gateway/handle-introspection.js';
import { healthz, readyz, type Readiness } from './health.js';
import type { OidcClient } from '../idp/client.js';
import { backchannelLogout } from '../oidc/backchannel-logout.js';
import { callback } from '../oidc/callback.js';
import { login } from '../oidc/login.js';
import { logoutApi, logoutNavigation, logoutTo } from '../oidc/logout.js';
import { logoutCallback } from '../oidc/logout-callback.js';
import { TRANSACTION_TTL_MS, type Transactions } from '../oidc/transactions.js';
import type { EventLogger } from '../observability/logger.js';
import type { ApiRouter } from '../proxy/api-router.js';
import { requireSession } from '../session/require-session.js';
import { sessionEndpoint } from '../session/session-endpoint.js';
import type { SessionDirectory } from '../session/directory.js';
import type { Revocations } from '../session/revocations.js';
import type { Sessions } from '../session/session.js';
import type { CounterStore, KeyValueStore, StoreHealth } from '../store/store.js';
import { ensureFreshToken } from '../tokens/ensure-fresh-token.js';
import { refreshEndpoint } from '../tokens/refresh-endpoint.js';
import type { TokenRefresher } from '../tokens/refresh.js';
import type { RouteTokens } from '../tokens/route-tokens.js';
import type { BffState, Step } from '../web/context.js';
import { queryProblem } from '../web/query-guard.js';
import { rateLimit } from './rate-limit.js';

export interface RouteParts {
  config: Config;
  log: EventLogger;
  idp: OidcClient;
  /** The shared store (Redis, or the server store): jti replay records and readiness. */
  store: (KeyValueStore & StoreHealth) | undefined;
  sessions: Sessions;
  directory: SessionDirectory | undefined;
  /** Records of ended sessions: the callback ends a login that raced a logout of its user or IdP session. */
  revocations: Revocations;
  transactions: Transactions;
  refresher: TokenRefresher;
  /** Tokens the BFF obtains for a route itself: forward-auth applies a route's token policy as /api/* does. */
  routeTokens: RouteTokens;
  api: ApiRouter;
  readiness: Readiness;
  now: () => number;
  /** Where rate-limit counters live: the shared store, or this process for cookie sessions without Redis. */
  limiterStore: CounterStore;
  /** The same store as a key-value store: single-use records (gateway client assertions' jti). */
  replayStore: KeyValueStore;
  /** The FusionAuth web SDKs' hosted-backend routes, when FUSIONAUTH_SDK is on (src/fusionauth). */
  fusionAuth: FusionAuthSdk | undefined;
  /** The anti-CSRF step of /api/* and the state-changing routes (src/proxy/csrf.ts), over the origins app.ts allows. */
  csrf: Step;
}

/**
 * Marks a browser-facing route: its errors render as an HTML page unless JSON is preferred,
 * and its query string must be well-formed.
 */
const page: Step = async (ctx, next) => {
  ctx.state.page = true;
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  const problem = queryProblem(ctx.querystring);
  if (problem) throw new BffError('invalid_request', { detail: problem });
  await next();
};

/**
 * The route table. Each route reads as its pipeline of steps, in order; every path comes
 * from the configuration.
 */
export function routes(p: RouteParts): Step {
  const { config, sessions, refresher } = p;
  const paths = config.paths;
  const csrf = p.csrf;
  const session = requireSession(sessions);
  const router = new Router<BffState>();

  const limited = (name: string) => rateLimit(p.limiterStore, name, config.rateLimitPerMinute, p.now);
  // Each login stores a transaction for TRANSACTION_TTL_MS: one address may start only so many
  // per that lifetime, so what it can make the store hold is bounded (at most twice the cap).
  const pendingLogins = rateLimit(p.limiterStore, 'login-pending', config.loginMaxPendingPerClient, p.now, TRANSACTION_TTL_MS);
  router.get(paths.login, limited('login'), pendingLogins, page, login(p));
  // The FusionAuth SDK's expiry cookie is set by every callback once the SDK routes are on.
  const afterCallback = p.fusionAuth ? [p.fusionAuth.expiryCookie] : [];
  router.get(paths.callback, limited('callback'), page, ...afterCallback, callback(p));
  router.get(paths.session, sessionEndpoint(config, sessions));
  router.post(paths.refresh, limited('refresh'), session, csrf, ensureFreshToken(sessions, refresher, true), refreshEndpoint(config, sessions));
  router.post(paths.logout, csrf, logoutApi(p));
  router.get(paths.logout, page, logoutNavigation(p));
  router.get(paths.logoutCallback, page, logoutCallback(p));
  router.post(paths.backchannelLogout, backchannelLogout(p));
  const sdk = p.fusionAuth;
  if (sdk) {
    const at = sdk.paths;
    router.get(at.login, limited('login'), pendingLogins, page, sdk.cors, login(p, sdk.loginRequest('login')));
    router.get(at.register, limited('login'), pendingLogins, page, sdk.cors, login(p, sdk.loginRequest('register')));
    router.options([...at.refresh, ...at.me], sdk.cors);
    router.post(at.refresh, limited('refresh'), sdk.cors, sdk.sameSiteOnly, sdk.expiryCookie, session, ensureFreshToken(sessions, refresher), sdk.refreshed);
    router.get(at.me, sdk.cors, sdk.expiryCookie, session, sdk.me);
    router.get(at.logout, page, sdk.cors, sdk.logoutGuard, logoutTo(p, sdk.logoutTarget));
    router.get(at.account, page, sdk.account);
  }
  const introspectionPath = config.gatewayIntrospection.path;
  // A gateway introspects for all its users: its own limit, not the per-browser one of /login.
  const gatewayLimit = rateLimit(p.limiterStore, 'gateway-introspection', config.gatewayIntrospection.ratePerMinute, p.now);
  if (introspectionPath) router.post(introspectionPath, gatewayLimit, handleIntrospection(p));
  const jwks = introspectionPath ? gatewayJwks(config) : undefined;
  if (jwks) router.get(`${introspectionPath}/jwks`, jwks);
  router.get('/healthz', healthz);
  router.get('/readyz', readyz(p.idp, p.store, p.readiness));

  // /api/* skips the router: a prefix test is all it needs, and it is the hot path.
  const apiPrefix = `${paths.api}/`;
  // With the FusionAuth SDK routes on, SPAs on their listed origins get CORS on /api/* too.
  const apiCors = p.fusionAuth?.apiCors;
  const api: Step = apiCors ? (ctx, next) => apiCors(ctx, async () => p.api.step(ctx, next)) : p.api.step;
  const other = compose([router.routes(), router.allowedMethods()]) as unknown as Step;
  // The gateway forward-auth endpoint, only when FORWARD_AUTH_PATH is set (src/gateway).
  const gateway = forwardAuthRoute(p);
  return (ctx, next) => {
    if (ctx.path === paths.api || ctx.path.startsWith(apiPrefix)) return api(ctx, next);
    return gateway?.matches(ctx.path) ? gateway.step(ctx, next) : other(ctx, next);
  };
}
