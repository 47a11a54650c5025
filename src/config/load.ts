import { configuredRoutes, handleProblems, type ApiRoute } from './api-routes.js';
import { clientAssertionKey, idpTls, type ClientAssertionKey, type ClientAuthMethod, type IdpTls } from './client-credentials.js';
import { crossChecks, devWarnings, rawProblems } from './checks.js';
import { readSettings, type Env } from './settings.js';
import { redisConnection, resolveStore, type RedisConnection, type SessionStoreKind } from './store-choice.js';
import type { ProxyTrust } from '../web/client-address.js';
import type { GatewayClient } from './parsers.js';
import { jwkThumbprint, type PrivateKeyFile } from './private-key.js';
import type { GatewayKeyClient } from './public-keys.js';

export type { ClientAuthMethod, RedisConnection, SessionStoreKind };

export type LogLevel = Env['LOG_LEVEL'];
/** How the IdP answers an introspection with the JWT behind an opaque token (docs/phantom-tokens.md). */
export type IntrospectionDialect = Env['OIDC_INTROSPECTION_DIALECT'];

/** The parsed, validated, frozen configuration. Nothing else in the service reads `process.env`. */
export interface Config {
  readonly publicUrl: URL;
  readonly publicOrigin: string;
  /** PUBLIC_URL is https: cookies get Secure and the __Host- prefix. */
  readonly secure: boolean;
  readonly oidc: {
    readonly issuer: URL;
    readonly clientId: string;
    readonly clientSecret: string | undefined;
    readonly clientAuth: ClientAuthMethod;
    /** private_key_jwt: the assertion signing key (never logged: it prints as its path, kid and alg). */
    readonly assertionKey: ClientAssertionKey | undefined;
    /** TLS towards the IdP: extra trusted CAs, and the client certificate of tls_client_auth. */
    readonly tls: IdpTls;
    /**
     * RFC 7662 introspection of the session's opaque access token (phantom routes). Grouped as a
     * provider's field: with several providers (BFF_CONFIG) each names its own dialect.
     */
    readonly introspection: { readonly dialect: IntrospectionDialect };
    readonly scopes: string;
    /** OIDC_AUTH_PARAMS: extra name/value pairs of every authorization request. */
    readonly authParams: ReadonlyArray<readonly [string, string]>;
    readonly usePar: boolean;
    readonly allowHttp: boolean;
    readonly timeoutSeconds: number;
    /** OIDC_CLOCK_TOLERANCE: the one clock tolerance of every ID token and logout token time check. */
    readonly clockToleranceSeconds: number;
    /** OIDC_ID_TOKEN_MAX_AGE: how old (by iat) an ID token may be at the callback. */
    readonly idTokenMaxAgeSeconds: number;
    readonly redirectUri: string;
    /** The default post-logout target (POST_LOGOUT_REDIRECT_URI). */
    readonly postLogoutRedirectUri: string;
    /** post_logout_redirect_uri sent to the IdP: PUBLIC_URL + LOGOUT_CALLBACK_PATH. */
    readonly logoutCallbackUri: string;
  };
  readonly api: {
    /** The upstream APIs under API_PATH, longest path first (API_ROUTES, plus the API_UPSTREAM shorthand). */
    readonly routes: readonly ApiRoute[];
    readonly maxConcurrency: number;
    /** In flight at once for one session or address; 0 = no per-client cap. */
    readonly maxConcurrencyPerClient: number;
    /** Connections in each route's upstream pool. */
    readonly upstreamConnections: number;
    /** In flight at once on one route for one user or address: their most of the route's pool. */
    readonly upstreamConnectionsPerClient: number;
    /** A request body that stops arriving for this long ends the call (408). */
    readonly bodyIdleTimeoutMs: number;
    /** A client that stops reading a response for this long has it cut. */
    readonly writeIdleTimeoutMs: number;
    /** OIDC_DPOP: tokens are bound to a per-session DPoP key at the token endpoint (RFC 9449). */
    readonly dpop: boolean;
    /** API_TIMEOUT and API_MAX_BODY: what a route that does not set its own gets (frontends' apiRoutes in BFF_CONFIG). */
    readonly routeTimeoutMs: number;
    readonly routeMaxBodyBytes: number;
  };
  /** Requests per minute per client address on the rate-limited routes; 0 = off. */
  readonly rateLimitPerMinute: number;
  /** Login transactions one client address may start per transaction lifetime (10 min); 0 = off. */
  readonly loginMaxPendingPerClient: number;
  readonly session: {
    readonly store: SessionStoreKind;
    readonly secrets: readonly string[];
    readonly idleTimeoutMs: number;
    /**
     * How often a session in use slides its idle expiry: a tenth of the idle timeout, at most a
     * minute (cookie sessions re-issue their cookie, the Redis session cache re-reads Redis).
     */
    readonly touchEveryMs: number;
    /** Redis store: sessions served from memory, coherent within maxStaleMs (invalidation-tracking.ts); undefined = off. */
    readonly cache: { readonly maxStaleMs: number; readonly maxEntries: number } | undefined;
    readonly maxAgeMs: number;
    readonly cookieBase: string;
    readonly sameSite: 'lax' | 'strict';
    readonly cookieBudgetBytes: number;
    readonly claims: readonly string[];
    readonly refreshSkewMs: number;
    readonly refreshWaitMs: number;
    readonly refreshGraceMs: number;
    readonly backchannelMaxAgeSeconds: number;
  };
  readonly redis: { readonly connection: RedisConnection | undefined; readonly keyPrefix: string };
  readonly paths: {
    readonly login: string;
    readonly callback: string;
    readonly session: string;
    readonly refresh: string;
    readonly logout: string;
    readonly logoutCallback: string;
    readonly backchannelLogout: string;
    readonly api: string;
  };
  readonly allowedReturnToOrigins: readonly string[];
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly adminHost: string;
    readonly adminPort: number;
    /** Who may name the client in X-Forwarded-For: a hop count (0 = nobody) or the trusted proxies' addresses. */
    readonly trustProxy: ProxyTrust;
    readonly shutdownTimeoutMs: number;
  };
  readonly adminToken: string | undefined;
  /** V8 heap policy of the process, applied once at start (src/observability/heap-growth.ts). */
  readonly memory: {
    /** --heap-growing-percent: old-generation growth past the last full GC's survivors; 0 = V8's own (up to 300 %). */
    readonly heapGrowthPercent: number;
  };
  /** The gateway forward-auth endpoint (src/gateway); path undefined = off. */
  readonly forwardAuth: {
    readonly path: string | undefined;
    /** IP addresses and CIDR blocks, as written. */
    readonly trustedIps: readonly string[];
    readonly identityHeaders: boolean;
    /** Longest max-age of a cacheable answer (a `phantom` route's), ms; 0 = never cacheable. */
    readonly cacheMaxAgeMs: number;
  };
  /**
   * FUSIONAUTH_SDK: the hosted-backend routes of FusionAuth's web SDKs (src/fusionauth); undefined = off.
   * Settings of the one frontend configured here, grouped so they can become a frontend's own.
   */
  readonly fusionAuthSdk: FusionAuthSdkConfig | undefined;
  /** Direction 2 of phantom tokens: the handle introspection endpoint (path undefined = off) and its clients . */
  readonly gatewayIntrospection: {
    readonly path: string | undefined;
    /** HTTP Basic clients (GATEWAY_CLIENTS). */
    readonly clients: ReadonlyArray<GatewayClient>;
    /** private_key_jwt clients (GATEWAY_CLIENT_KEYS): RFC 7523 client assertions verified with these public keys. */
    readonly keyClients: ReadonlyArray<GatewayKeyClient>;
    /** Introspections per minute per gateway address; 0 = off. */
    readonly ratePerMinute: number;
    /** Signs RFC 9701 answers; published at `${path}/jwks`. undefined = JSON and application/jwt only. */
    readonly signingKey: { readonly file: PrivateKeyFile; readonly kid: string; readonly alg: string } | undefined;
  };
  readonly logLevel: LogLevel;
  /** OpenTelemetry trace export (OTEL_EXPORTER_OTLP_ENDPOINT); `endpoint` undefined = tracing off. */
  readonly otel: { readonly endpoint: URL | undefined; readonly serviceName: string };
  /** BFF_CONFIG: the file of frontends and identity providers; undefined = the environment is the one frontend. */
  readonly frontendsFile: string | undefined;
  /** Set on each frontend's configuration derived from BFF_CONFIG (frontends.ts); absent for the environment's own. */
  readonly frontend?: FrontendIdentity;
  /** Development-only choices in effect; printed once at start as WARNING lines. */
  readonly warnings: readonly string[];
}

export interface FusionAuthSdkConfig {
  /** The client_id the SDK sends. */
  readonly clientId: string;
  /** Exact redirect_uri / post_logout_redirect_uri values the SDK may name (normalised by URL). */
  readonly redirectUris: readonly string[];
  /** Origins allowed to call with credentials (CORS), PUBLIC_URL's included. */
  readonly origins: readonly string[];
  /** Extra authorization parameters of register. */
  readonly registerParams: ReadonlyArray<readonly [string, string]>;
  readonly accountUrl: string | undefined;
  readonly expiryCookie: string;
  /** '' or a path in front of /app/... and /account (the frontend's match.pathPrefix included). */
  readonly pathPrefix: string;
}

/** Which frontend of BFF_CONFIG a configuration serves, and where: requests are matched by host and path prefix. */
export interface FrontendIdentity {
  readonly id: string;
  /** The Host header this frontend answers (host[:port]); '*' = any host. */
  readonly host: string;
  /** '' or a path prefix like /app; every route of the frontend lies under it, and so do its cookies. */
  readonly pathPrefix: string;
  /** The id of this configuration's identity provider (providers in BFF_CONFIG). */
  readonly providerId: string;
  /** Every provider the frontend offers, in the file's order; several = one configuration per provider, one dispatcher. */
  readonly providers: readonly string[];
  /** How the chooser page shows this configuration's provider. */
  readonly providerName: string;
  readonly providerLogoUrl: string | undefined;
  /**
   * The cookie base names of every frontend of the file: a browser sends a sibling's cookies
   * along (same host, another port or a parent path), and none of them may reach an upstream.
   */
  readonly cookieBases: readonly string[];
}

/** Thrown by {@link loadConfig} with every problem found, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * With BFF_CONFIG the file names each frontend's origin, client and routes, so the environment
 * need not: these stand in for what it leaves out, and every frontend overrides them (frontends.ts
 * refuses a frontend that would inherit one).
 */
/** Routes name a gateway client of either method; a client is registered for one method only. */
function gatewayProblems(e: Env, routes: readonly ApiRoute[]): string[] {
  const both = e.GATEWAY_CLIENT_KEYS.filter((k) => e.GATEWAY_CLIENTS.some((c) => c.id === k.id));
  return [
    ...both.map((k) => `GATEWAY_CLIENT_KEYS: client ${k.id} is also in GATEWAY_CLIENTS; a gateway client authenticates one way, Basic or private_key_jwt`),
    ...handleProblems(routes, [...e.GATEWAY_CLIENTS, ...e.GATEWAY_CLIENT_KEYS], e.GATEWAY_INTROSPECTION_PATH),
  ];
}

export const PLACEHOLDER = 'https://frontends.invalid';

function withPlaceholders(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const routes = env.API_ROUTES || env.API_UPSTREAM ? {} : { API_UPSTREAM: PLACEHOLDER };
  const secret = env.OIDC_CLIENT_SECRET ? {} : { OIDC_CLIENT_SECRET: 'placeholder' };
  return { PUBLIC_URL: PLACEHOLDER, OIDC_ISSUER: PLACEHOLDER, OIDC_CLIENT_ID: PLACEHOLDER, ...secret, ...routes, ...env };
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !(o instanceof URL) && !Object.isFrozen(o)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * How often a session in use is written back or read again to slide its idle expiry (cookie
 * re-issue, session cache refresh): a tenth of the idle timeout, at most a minute. The session
 * cache's serving bound relies on it being at most a tenth (near-cache.ts, SERVED_FOR_REFRESHES).
 */
export function touchEveryMs(idleTimeoutMs: number): number {
  return Math.min(60_000, idleTimeoutMs / 10);
}

/**
 * Parses the environment once into a frozen {@link Config}: the rows of settings.ts give the
 * typed variables, this assembles them.
 * @throws ConfigError listing every problem, not only the first.
 */
export function loadConfig(env: Record<string, string | undefined>, randomSecret: () => string): Config {
  const settings = readSettings(env.BFF_CONFIG ? withPlaceholders(env) : env);
  const early = rawProblems(settings.raw);
  // Cross-field checks need every field; the field problems alone are still all reported at once.
  if (!settings.env) throw new ConfigError([...settings.problems, ...early]);
  const e = settings.env;
  const routes = configuredRoutes(e);
  const problems = [...crossChecks(e), ...early, ...routes.problems, ...gatewayProblems(e, routes.routes)];
  if (problems.length) throw new ConfigError(problems);

  const store = resolveStore(e);
  const publicOrigin = e.PUBLIC_URL.origin;
  return deepFreeze<Config>({
    publicUrl: new URL(publicOrigin),
    publicOrigin,
    secure: e.PUBLIC_URL.protocol === 'https:',
    oidc: {
      issuer: e.OIDC_ISSUER,
      clientId: e.OIDC_CLIENT_ID,
      clientSecret: e.OIDC_CLIENT_SECRET || undefined,
      clientAuth: e.OIDC_CLIENT_AUTH,
      assertionKey: clientAssertionKey(e),
      tls: idpTls(e),
      introspection: { dialect: e.OIDC_INTROSPECTION_DIALECT },
      scopes: e.OIDC_SCOPES.split(/\s+/).join(' '),
      authParams: e.OIDC_AUTH_PARAMS,
      usePar: e.OIDC_USE_PAR,
      allowHttp: e.OIDC_ALLOW_HTTP,
      timeoutSeconds: e.OIDC_TIMEOUT,
      clockToleranceSeconds: e.OIDC_CLOCK_TOLERANCE,
      idTokenMaxAgeSeconds: e.OIDC_ID_TOKEN_MAX_AGE,
      redirectUri: publicOrigin + e.CALLBACK_PATH,
      postLogoutRedirectUri: e.POST_LOGOUT_REDIRECT_URI || `${publicOrigin}/`,
      logoutCallbackUri: publicOrigin + e.LOGOUT_CALLBACK_PATH,
    },
    api: {
      routes: routes.routes,
      maxConcurrency: e.API_MAX_CONCURRENCY,
      maxConcurrencyPerClient: e.API_MAX_CONCURRENCY_PER_CLIENT,
      upstreamConnections: e.API_UPSTREAM_CONNECTIONS,
      upstreamConnectionsPerClient: e.API_UPSTREAM_CONNECTIONS_PER_CLIENT,
      bodyIdleTimeoutMs: e.API_BODY_IDLE_TIMEOUT * 1000,
      writeIdleTimeoutMs: e.API_WRITE_IDLE_TIMEOUT * 1000,
      dpop: e.OIDC_DPOP,
      routeTimeoutMs: e.API_TIMEOUT * 1000,
      routeMaxBodyBytes: e.API_MAX_BODY,
    },
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    loginMaxPendingPerClient: e.LOGIN_MAX_PENDING_PER_CLIENT,
    session: {
      store,
      secrets: e.SESSION_SECRETS.length ? e.SESSION_SECRETS : [randomSecret()],
      idleTimeoutMs: e.SESSION_IDLE_TIMEOUT * 1000,
      touchEveryMs: touchEveryMs(e.SESSION_IDLE_TIMEOUT * 1000),
      cache: e.SESSION_CACHE_MAX_STALE > 0 ? { maxStaleMs: e.SESSION_CACHE_MAX_STALE * 1000, maxEntries: e.SESSION_CACHE_ENTRIES } : undefined,
      maxAgeMs: e.SESSION_MAX_AGE * 1000,
      cookieBase: e.SESSION_COOKIE_NAME,
      sameSite: e.SESSION_COOKIE_SAMESITE,
      cookieBudgetBytes: e.SESSION_COOKIE_BUDGET,
      claims: e.SESSION_CLAIMS,
      refreshSkewMs: e.TOKEN_REFRESH_SKEW * 1000,
      refreshWaitMs: e.TOKEN_REFRESH_WAIT * 1000,
      refreshGraceMs: e.TOKEN_REFRESH_GRACE * 1000,
      backchannelMaxAgeSeconds: e.BACKCHANNEL_LOGOUT_MAX_AGE,
    },
    redis: { connection: redisConnection(e), keyPrefix: e.REDIS_KEY_PREFIX },
    paths: {
      login: e.LOGIN_PATH,
      callback: e.CALLBACK_PATH,
      session: e.SESSION_PATH,
      refresh: e.REFRESH_PATH,
      logout: e.LOGOUT_PATH,
      logoutCallback: e.LOGOUT_CALLBACK_PATH,
      backchannelLogout: e.BACKCHANNEL_LOGOUT_PATH,
      api: e.API_PATH,
    },
    allowedReturnToOrigins: e.ALLOWED_RETURN_TO_ORIGINS.map((o) => new URL(o).origin),
    server: {
      host: e.HOST,
      port: e.PORT,
      adminHost: e.ADMIN_HOST,
      adminPort: e.ADMIN_PORT,
      trustProxy: e.TRUST_PROXY,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT * 1000,
    },
    adminToken: e.ADMIN_TOKEN || undefined,
    memory: { heapGrowthPercent: e.HEAP_GROWTH_PERCENT },
    forwardAuth: {
      path: e.FORWARD_AUTH_PATH || undefined,
      trustedIps: e.FORWARD_AUTH_TRUSTED_IPS,
      identityHeaders: e.FORWARD_AUTH_IDENTITY_HEADERS,
      cacheMaxAgeMs: e.FORWARD_AUTH_CACHE_MAX_AGE * 1000,
    },
    fusionAuthSdk: fusionAuthSdk(e, publicOrigin),
    gatewayIntrospection: {
      path: e.GATEWAY_INTROSPECTION_PATH || undefined,
      clients: e.GATEWAY_CLIENTS,
      keyClients: e.GATEWAY_CLIENT_KEYS,
      ratePerMinute: e.GATEWAY_INTROSPECTION_RATE_LIMIT,
      signingKey: e.GATEWAY_SIGNING_KEY_FILE && {
        file: e.GATEWAY_SIGNING_KEY_FILE.file,
        kid: e.GATEWAY_SIGNING_KEY_FILE.kid ?? jwkThumbprint(e.GATEWAY_SIGNING_KEY_FILE.file.keyObject()),
        alg: e.GATEWAY_SIGNING_KEY_FILE.alg,
      },
    },
    logLevel: e.LOG_LEVEL,
    otel: { endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME },
    frontendsFile: e.BFF_CONFIG || undefined,
    warnings: devWarnings(e, store),
  });
}

function fusionAuthSdk(e: Env, publicOrigin: string): FusionAuthSdkConfig | undefined {
  if (!e.FUSIONAUTH_SDK) return undefined;
  const redirectUris = e.FUSIONAUTH_SDK_REDIRECT_URIS.map((u) => new URL(u).href);
  const origins = e.FUSIONAUTH_SDK_ORIGINS.length ? e.FUSIONAUTH_SDK_ORIGINS.map((o) => new URL(o).origin) : redirectUris.map((u) => new URL(u).origin);
  return {
    clientId: e.FUSIONAUTH_SDK_CLIENT_ID || e.OIDC_CLIENT_ID,
    redirectUris,
    origins: [...new Set([publicOrigin, ...origins])],
    registerParams: e.FUSIONAUTH_SDK_REGISTER_PARAMS,
    accountUrl: e.FUSIONAUTH_SDK_ACCOUNT_URL?.href,
    expiryCookie: e.FUSIONAUTH_SDK_EXPIRY_COOKIE,
    pathPrefix: e.FUSIONAUTH_SDK_PATH_PREFIX,
  };
}
