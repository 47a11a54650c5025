import Koa from 'koa';
import type { CustomFetch } from 'openid-client';
import type { Config } from './config/load.js';
import type { BffState, Step } from './web/context.js';
import { createAdminApp } from './admin/admin-app.js';
import { fusionAuthSdk } from './fusionauth/sdk-routes.js';
import { errorHandler } from './http/error-handler.js';
import { rateLimit } from './http/rate-limit.js';
import { countingLogger, timedIdpFetch, timedStore } from './http/instrument.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import type { Tracing } from './observability/otel.js';
import { traceContext } from './observability/trace-context.js';
import { metricsEndpoint } from './http/metrics-endpoint.js';
import { requestContext } from './http/request-context.js';
import { routes } from './http/routes.js';
import type { Readiness } from './http/health.js';
import type { EventLogger } from './observability/logger.js';
import { createOidcClient, type OidcClient } from './idp/client.js';
import { createCookieTransactions } from './oidc/cookie-transactions.js';
import { createServerTransactions, type Transactions } from './oidc/transactions.js';
import { createApiRouter } from './proxy/api-router.js';
import { checkCsrf } from './proxy/csrf.js';
import { createRouteTokens } from './tokens/route-tokens.js';
import { cookieNames } from './session/cookie-names.js';
import { createMemoryStore } from './store/memory-store.js';
import { createRedisStore } from './store/redis-store.js';
import { createSealer } from './session/seal.js';
import { cookieSessionHandle, createCookieSessions } from './session/cookie-sessions.js';
import { createRevocations, type Revocations } from './session/revocations.js';
import { createServerSessions } from './session/server-sessions.js';
import type { SessionDirectory } from './session/directory.js';
import type { Session, Sessions } from './session/session.js';
import type { SessionStore } from './store/store.js';
import { layeredGrace, memoryGrace, storeGrace } from './tokens/grace.js';
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
  /** The store every instance shares: the server store, or Redis under cookie sessions; undefined without Redis. */
  sharedStore: SessionStore | undefined;
  readiness: Readiness;
  /** Releases the store, the upstream pool and the discovery timer; flushes and stops the trace export. */
  close(): Promise<void>;
}

/** Wires the service from its configuration; does not listen (see main.ts). */
export function createApp(config: Config, deps: AppDeps): BffApp {
  const now = deps.now ?? Date.now;
  // The store is created below; the session cache's counters are read from it at scrape time.
  const metrics = createMetrics(
    config.session.cache && (config.session.store === 'redis' || config.redis.connection) ? { sessionCache: () => sideStore?.cacheStats?.() } : {},
  );
  // Several frontends (BFF_CONFIG): each unit's series carry its id.
  if (config.frontend) metrics.registry.setDefaultLabels({ frontend: config.frontend.id });
  const log = countingLogger(deps.log, metrics);
  const chosen = deps.store ?? createStore(config, log, now);
  const store = chosen && timedStore(chosen, metrics, deps.tracing);
  // Cookie sessions keep no session state on the server, but with Redis configured they share
  // its refresh locks, grace records, records of ended sessions and jti replay records.
  const sideStore =
    store ??
    (config.redis.connection
      ? timedStore(
          createRedisStore({ connection: config.redis.connection, keyPrefix: config.redis.keyPrefix, sessionCache: sessionCache(config) }, log),
          metrics,
          deps.tracing,
        )
      : undefined);
  // Without any shared store: rate limits and the records of ended cookie sessions stay in this process.
  const localStore = sideStore ?? createMemoryStore(now);
  const sealer = createSealer(config.session.secrets, deploymentOf(config));
  const cookies = cookieNames(config);
  const { sessions, transactions, directory, revocations } = sessionsFor(config, store, sideStore, localStore, sealer, cookies, log, now);
  const idp = createOidcClient(config, log, {
    fetch: timedIdpFetch(deps.idpFetch ?? ((url, options) => fetch(url, options as RequestInit)), metrics, deps.tracing),
    ...(deps.discoveryRetry ? { retry: deps.discoveryRetry } : {}),
  });
  const localGrace = memoryGrace(config.session.refreshGraceMs, now);
  const grace = sideStore ? layeredGrace(localGrace, storeGrace(sideStore, sealer, config.session.refreshGraceMs, now)) : localGrace;
  const refresher = createRefresher({ config, idp, sessions, grace, store: sideStore, log, now });
  // A gateway's handle is live while its session is: re-read from the server store, or (cookie
  // sessions, whose only copy is the browser's) not recorded as ended.
  const liveSession = store ? (s: Session) => sessions.reload(s) : async (s: Session) => ((await revocations.isRevoked(s)) ? undefined : s);
  const routeTokens = createRouteTokens({ config, idp, log, now, store: localStore, sealer, sessions, refresher, liveSession });
  // Pages of these origins may call with credentials: ours, and the SPA origins the FusionAuth
  // SDK routes serve CORS to (FUSIONAUTH_SDK_ORIGINS). Every other origin is cross-site.
  const csrf = checkCsrf(new Set([config.publicOrigin, ...(config.fusionAuthSdk?.origins ?? [])]));
  const api = createApiRouter({ config, cookies, log, metrics, tracing: deps.tracing, sessions, refresher, routeTokens, csrf });
  const readiness: Readiness = { draining: false };
  // FUSIONAUTH_SDK: the hosted-backend routes of FusionAuth's web SDKs (src/fusionauth).
  const fusionAuth = config.fusionAuthSdk && fusionAuthSdk(config, config.fusionAuthSdk, sessions, log, now);

  // Koa's own X-Forwarded-For handling stays off: requestContext sets ctx.ip by TRUST_PROXY.
  const app = new Koa<BffState>();
  app.silent = true; // every error is logged by errorHandler, once
  app.use(requestContext(config, log, metrics));
  // Tracing on: a server span per request, before errorHandler so that it sees the final status;
  // it carries the trace to the calls made for the request. Off: only an incoming traceparent.
  if (deps.tracing) app.use(deps.tracing.step);
  app.use(errorHandler(config, log, metrics));
  if (!deps.tracing) app.use(traceContext);
  const limiterStore = localStore;
  app.use(
    routes({
      config,
      log,
      idp,
      store: sideStore,
      sessions,
      directory,
      revocations,
      transactions,
      refresher,
      routeTokens,
      api,
      readiness,
      now,
      limiterStore,
      replayStore: localStore,
      fusionAuth,
      csrf,
    }),
  );
  if (deps.extra) app.use(deps.extra);

  const admin = createAdminApp({
    config,
    log,
    directory,
    extra: metricsEndpoint(metrics),
    limit: rateLimit(limiterStore, 'admin', config.rateLimitPerMinute, now),
  });

  return {
    app,
    admin,
    metrics,
    idp,
    store,
    sharedStore: sideStore,
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

/** What a sealed value is bound to: a value sealed by another deployment with the same secrets does not open. */
export function deploymentOf(config: Config): string {
  const own = `${config.oidc.issuer.href} ${config.oidc.clientId} ${config.publicOrigin}`;
  // Frontends of one file may share secrets, provider, client and origin: the id keeps them apart.
  return config.frontend ? `${own} ${config.frontend.id} ${config.frontend.pathPrefix} ${config.frontend.providerId}` : own;
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

/** The Redis store's session cache: a cached session is read again (sliding its idle expiry) every touchEveryMs, in the background while it is served. */
function sessionCache(config: Config) {
  const cache = config.session.cache;
  return cache && { ...cache, refreshEveryMs: config.session.touchEveryMs };
}

/**
 * Server sessions over a store, or sessions sealed into the cookie when there is none. Either way
 * a back-channel logout or an admin revocation by user is also recorded (revocations.ts), so a
 * login that raced it is ended too.
 */
function sessionsFor(
  config: Config,
  store: SessionStore | undefined,
  sideStore: SessionStore | undefined,
  localStore: SessionStore,
  sealer: ReturnType<typeof createSealer>,
  cookies: ReturnType<typeof cookieNames>,
  log: EventLogger,
  now: () => number,
): { sessions: Sessions; transactions: Transactions; directory: SessionDirectory | undefined; revocations: Revocations } {
  const { maxAgeMs } = config.session;
  if (store) {
    const sessions = createServerSessions({ config, store, sealer, cookies, now });
    const revocations = createRevocations(store, deploymentOf(config), maxAgeMs, now, sessions.logHandle);
    const directory: SessionDirectory = {
      ...sessions,
      async endMatching(match) {
        await revocations.endMatching(match);
        return sessions.endMatching(match);
      },
    };
    return { sessions, directory, revocations, transactions: createServerTransactions(store, sealer, cookies) };
  }
  const revocations = createRevocations(localStore, deploymentOf(config), maxAgeMs, now, cookieSessionHandle);
  return {
    sessions: createCookieSessions({ config, sealer, cookies, revocations, log, now }),
    // Back-channel logout and the admin API need records that every instance sees.
    directory: sideStore ? revocations : undefined,
    revocations,
    transactions: createCookieTransactions(sealer, cookies, now),
  };
}
