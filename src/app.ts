import Koa from 'koa';
import type { CustomFetch } from 'openid-client';
import type { Config } from './config/load.js';
import type { BffState, Step } from './http/context.js';
import { createAdminApp } from './admin/admin-app.js';
import { errorHandler } from './http/error-handler.js';
import { rateLimit } from './http/rate-limit.js';
import { countingLogger, timedIdpFetch, timedStore } from './observability/instrument.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import type { Tracing } from './observability/otel.js';
import { traceContext } from './observability/trace-context.js';
import { metricsEndpoint } from './observability/metrics-endpoint.js';
import { requestContext } from './http/request-context.js';
import { routes } from './http/routes.js';
import type { Readiness } from './observability/health.js';
import type { EventLogger } from './observability/logger.js';
import { createOidcClient, type OidcClient } from './oidc/client.js';
import { createCookieTransactions } from './oidc/cookie-transactions.js';
import { createServerTransactions, type Transactions } from './oidc/transactions.js';
import { createApiRouter } from './proxy/api-router.js';
import { checkCsrf } from './proxy/csrf.js';
import { createRouteTokens } from './tokens/route-tokens.js';
import { cookieNames } from './session/cookie-names.js';
import { createMemoryStore } from './session/memory-store.js';
import { createRedisStore } from './session/redis-store.js';
import { createSealer } from './session/seal.js';
import { createCookieSessions } from './session/cookie-sessions.js';
import { createRevocations } from './session/revocations.js';
import { createServerSessions } from './session/server-sessions.js';
import type { SessionDirectory } from './session/directory.js';
import type { Sessions } from './session/session.js';
import type { SessionStore } from './session/store.js';
import { memoryGrace, storeGrace } from './tokens/grace.js';
import { createRefresher } from './tokens/refresh.js';

export interface AppDeps {
  log: EventLogger;
  /** Replaces the store chosen by SESSION_STORE (tests share one store between two apps). */
  store?: SessionStore;
  /** Replaces fetch for every IdP call (fault injection in tests). */
  idpFetch?: CustomFetch;
  discoveryRetry?: { initialMs: number; maxMs: number };
  now?: () => number;
  /** Extra routes mounted after the BFF's own (the development demo page). */
  extra?: Step;
  /** OpenTelemetry export (see startTracing); undefined = off. The app owns it: close() flushes and stops it. */
  tracing?: Tracing | undefined;
}

export interface BffApp {
  app: Koa<BffState>;
  /** The admin listener's app (ADMIN_PORT): /metrics and the session admin API. */
  admin: Koa<BffState>;
  metrics: Metrics;
  idp: OidcClient;
  /** The server store; undefined for cookie sessions. */
  store: SessionStore | undefined;
  readiness: Readiness;
  /** Releases the store, the upstream pool and the discovery timer; flushes and stops the trace export. */
  close(): Promise<void>;
}

/** Wires the service from its configuration; does not listen (see main.ts). */
export function createApp(config: Config, deps: AppDeps): BffApp {
  const now = deps.now ?? Date.now;
  // The store is created below; the session cache's counters are read from it at scrape time.
  const metrics = createMetrics(config.session.store === 'redis' && config.session.cache ? { sessionCache: () => store?.cacheStats?.() } : {});
  const log = countingLogger(deps.log, metrics);
  const chosen = deps.store ?? createStore(config, log, now);
  const store = chosen && timedStore(chosen, metrics, deps.tracing);
  // Cookie sessions keep no server state, but with Redis configured they get a revocation list
  // (back-channel logout) and a shared jti replay record.
  const sideStore = store ?? (config.redis.connection ? timedStore(createRedisStore({ connection: config.redis.connection, keyPrefix: config.redis.keyPrefix }, log), metrics, deps.tracing) : undefined);
  const sealer = createSealer(config.session.secrets);
  const cookies = cookieNames(config);
  const { sessions, transactions, directory } = sessionsFor(config, store, sideStore, sealer, cookies, now);
  const idp = createOidcClient(config, log, {
    fetch: timedIdpFetch(deps.idpFetch ?? ((url, options) => fetch(url, options as RequestInit)), metrics, deps.tracing),
    ...(deps.discoveryRetry ? { retry: deps.discoveryRetry } : {}),
  });
  const grace = store ? storeGrace(store, sealer, config.session.refreshGraceMs) : memoryGrace(config.session.refreshGraceMs, now);
  const refresher = createRefresher({ config, idp, sessions, grace, store, log, now });
  const routeTokens = createRouteTokens({ config, idp, log, now });
  const api = createApiRouter({ config, cookies, log, metrics, tracing: deps.tracing, sessions, refresher, routeTokens, csrf: checkCsrf(config) });
  const readiness: Readiness = { draining: false };

  const app = new Koa<BffState>({ proxy: config.server.proxyHops > 0, maxIpsCount: config.server.proxyHops });
  app.silent = true; // every error is logged by errorHandler, once
  app.use(requestContext(config, log, metrics));
  // Tracing on: a server span per request, before errorHandler so that it sees the final status;
  // it carries the trace to the calls made for the request. Off: only an incoming traceparent.
  if (deps.tracing) app.use(deps.tracing.step);
  app.use(errorHandler(config, log, metrics));
  if (!deps.tracing) app.use(traceContext);
  const limiterStore = sideStore ?? createMemoryStore(now);
  app.use(routes({ config, log, idp, store: sideStore, sessions, directory, transactions, refresher, routeTokens, api, readiness, now, limiterStore }));
  if (deps.extra) app.use(deps.extra);

  const admin = createAdminApp({ config, log, directory, extra: metricsEndpoint(metrics), limit: rateLimit(limiterStore, 'admin', config.rateLimitPerMinute, now) });

  return {
    app,
    admin,
    metrics,
    idp,
    store,
    readiness,
    async close() {
      idp.close();
      await api.close();
      if (!deps.store) await sideStore?.close();
      if (limiterStore !== sideStore) await limiterStore.close();
      await deps.tracing?.shutdown();
    },
  };
}

function createStore(config: Config, log: EventLogger, now: () => number): SessionStore | undefined {
  switch (config.session.store) {
    case 'redis':
      return createRedisStore({ connection: config.redis.connection!, keyPrefix: config.redis.keyPrefix, sessionCache: sessionCache(config) }, log);
    case 'memory':
      return createMemoryStore(now);
    default:
      return undefined;
  }
}

/** The Redis store's session cache: a cached session goes back to Redis (and slides its idle expiry) every touchEveryMs. */
function sessionCache(config: Config) {
  const cache = config.session.cache;
  return cache && { ...cache, refreshEveryMs: config.session.touchEveryMs };
}

/** Server sessions over a store, or sessions sealed into the cookie when there is none. */
function sessionsFor(
  config: Config,
  store: SessionStore | undefined,
  sideStore: SessionStore | undefined,
  sealer: ReturnType<typeof createSealer>,
  cookies: ReturnType<typeof cookieNames>,
  now: () => number,
): { sessions: Sessions; transactions: Transactions; directory: SessionDirectory | undefined } {
  if (store) {
    const sessions = createServerSessions({ config, store, sealer, cookies, now });
    return { sessions, directory: sessions, transactions: createServerTransactions(store, sealer, cookies) };
  }
  const revocations = sideStore && createRevocations(sideStore, config.session.maxAgeMs, now);
  return {
    sessions: createCookieSessions({ config, sealer, cookies, revocations, now }),
    directory: revocations,
    transactions: createCookieTransactions(sealer, cookies, now),
  };
}
