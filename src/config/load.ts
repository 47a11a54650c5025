import { z } from 'zod';
import { isIP } from 'node:net';
import { readApiRoutes, shorthandRoute, type ApiRoute } from './api-routes.js';
import {
  clientAssertionKey, clientCertificateProblems, clientCredentialFields, clientCredentialProblems, idpTls, SECRET_METHODS,
  type ClientAssertionKey, type ClientAuthMethod, type IdpTls,
} from './client-credentials.js';
import type { ProxyTrust } from '../web/client-address.js';
import { SETTINGS, type SettingName } from './schema.js';

export type { ClientAuthMethod };
export type SessionStoreKind = 'redis' | 'cookie' | 'memory';
/** How to reach Redis: one of the three topologies ioredis speaks. */
export type RedisConnection =
  | { kind: 'url'; url: string; password?: undefined; tls?: undefined }
  | { kind: 'sentinel'; nodes: Array<{ host: string; port: number }>; name: string; password: string | undefined; tls: boolean }
  | { kind: 'cluster'; nodes: Array<{ host: string; port: number }>; password: string | undefined; tls: boolean };


export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

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
  /** The gateway forward-auth endpoint (src/gateway); path undefined = off. */
  readonly forwardAuth: {
    readonly path: string | undefined;
    /** IP addresses and CIDR blocks, as written. */
    readonly trustedIps: readonly string[];
    readonly identityHeaders: boolean;
  };
  readonly logLevel: LogLevel;
  /** OpenTelemetry trace export (OTEL_EXPORTER_OTLP_ENDPOINT); `endpoint` undefined = tracing off. */
  readonly otel: { readonly endpoint: URL | undefined; readonly serviceName: string };
  /** Development-only choices in effect; printed once at start as WARNING lines. */
  readonly warnings: readonly string[];
}

/** Thrown by {@link loadConfig} with every problem found, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const MIN_SECRET_LENGTH = 32;
/** Authorization request parameters the login flow owns (OIDC_AUTH_PARAMS may not override them). */
const RESERVED_AUTH_PARAMS = new Set([
  'client_id', 'response_type', 'redirect_uri', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method',
  'request', 'request_uri', 'response_mode', 'client_assertion', 'client_assertion_type', 'client_secret',
  'resource', 'dpop_jkt',
]);
const DURATION = /^(\d+)(s|m|h|d)?$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

const seconds = (name: string, min = 0) =>
  z.string().trim().transform((raw, ctx) => {
    const m = DURATION.exec(raw);
    const value = m ? Number(m[1]) * (UNIT_SECONDS[m[2] ?? 's'] ?? 1) : NaN;
    if (!Number.isSafeInteger(value) || value < min) {
      ctx.addIssue({ code: 'custom', message: `${name} must be a whole number of seconds >= ${min} (or 30m, 12h, 1d), got "${raw}"` });
      return z.NEVER;
    }
    return value;
  });

const count = (name: string, min: number) =>
  z.string().trim().transform((raw, ctx) => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min) {
      ctx.addIssue({ code: 'custom', message: `${name} must be a whole number >= ${min}, got "${raw}"` });
      return z.NEVER;
    }
    return n;
  });

const bool = (name: string) =>
  z.string().trim().toLowerCase().transform((raw, ctx) => {
    if (['true', '1', 'yes', 'on'].includes(raw)) return true;
    if (['false', '0', 'no', 'off'].includes(raw)) return false;
    ctx.addIssue({ code: 'custom', message: `${name} must be true or false, got "${raw}"` });
    return z.NEVER;
  });

const port = (name: string) =>
  z.string().trim().transform((raw, ctx) => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n > 65535) {
      ctx.addIssue({ code: 'custom', message: `${name} must be a port number 0-65535, got "${raw}"` });
      return z.NEVER;
    }
    return n;
  });

const url = (name: string) =>
  z.string().trim().transform((raw, ctx) => {
    if (!raw) {
      ctx.addIssue({ code: 'custom', message: `${name} is required` });
      return z.NEVER;
    }
    try {
      const u = new URL(raw);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      return u;
    } catch {
      ctx.addIssue({ code: 'custom', message: `${name} must be an absolute http(s) URL, got "${raw}"` });
      return z.NEVER;
    }
  });

/** Empty means unset (undefined); anything else must be a valid {@link url}. */
const optionalUrl = (name: string) =>
  z.string().trim().transform((raw, ctx) => {
    if (!raw) return undefined;
    const parsed = url(name).safeParse(raw);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message });
    return z.NEVER;
  });

const path = (name: string) =>
  z.string().trim().refine((p) => /^\/[A-Za-z0-9._~\-/]*$/.test(p) && !p.includes('//') && (p === '/' || !p.endsWith('/')), {
    message: `${name} must be an absolute path like /login (letters, digits, - . _ ~ /; no trailing slash)`,
  });

const hostPorts = (name: string) =>
  z.string().transform((raw, ctx) => {
    const nodes = raw.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
      const m = /^([^\s:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(s);
      return m ? { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) } : undefined;
    });
    if (nodes.some((n) => n === undefined)) {
      ctx.addIssue({ code: 'custom', message: `${name} must be comma-separated host:port pairs, got "${raw}"` });
      return z.NEVER;
    }
    return nodes as Array<{ host: string; port: number }>;
  });

const list = z.string().transform((raw) => raw.split(',').map((s) => s.trim()).filter(Boolean));

const optionalPath = (name: string) => z.string().trim().refine((p) => p === '' || path(name).safeParse(p).success, {
  message: `${name} must be empty or an absolute path like /auth (letters, digits, - . _ ~ /; no trailing slash)`,
});

const ipList = (name: string) =>
  list.superRefine((entries, ctx) => {
    for (const entry of entries) {
      if (!isIpOrCidr(entry)) ctx.addIssue({ code: 'custom', message: `${name} entry "${entry}" must be an IP address or a CIDR block like 10.0.0.0/8 or fd00::/8` });
    }
  });

const envSchema = z.object({
  PUBLIC_URL: url('PUBLIC_URL'),
  OIDC_ISSUER: url('OIDC_ISSUER'),
  OIDC_CLIENT_ID: z.string().trim().min(1, 'OIDC_CLIENT_ID is required'),
  OIDC_CLIENT_SECRET: z.string(),
  OIDC_CLIENT_AUTH: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'none'], {
    message: 'OIDC_CLIENT_AUTH must be client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth or none',
  }),
  ...clientCredentialFields,
  OIDC_SCOPES: z.string().trim().refine((s) => s.split(/\s+/).includes('openid'), { message: 'OIDC_SCOPES must contain openid' }),
  OIDC_AUTH_PARAMS: z.string().trim().transform((raw, ctx) => {
    const params = new URLSearchParams(raw);
    const reserved = [...params.keys()].filter((k) => RESERVED_AUTH_PARAMS.has(k));
    if (reserved.length) {
      ctx.addIssue({ code: 'custom', message: `OIDC_AUTH_PARAMS must not set ${reserved.join(', ')}: the BFF sets those itself` });
      return z.NEVER;
    }
    const maxAge = params.get('max_age');
    if (maxAge !== null && !/^\d{1,10}$/.test(maxAge)) {
      ctx.addIssue({ code: 'custom', message: `OIDC_AUTH_PARAMS max_age must be a number of seconds, got "${maxAge}"` });
      return z.NEVER;
    }
    return [...params.entries()];
  }),
  OIDC_USE_PAR: bool('OIDC_USE_PAR'),
  OIDC_ALLOW_HTTP: bool('OIDC_ALLOW_HTTP'),
  OIDC_TIMEOUT: seconds('OIDC_TIMEOUT', 1),
  OIDC_CLOCK_TOLERANCE: seconds('OIDC_CLOCK_TOLERANCE'),
  OIDC_ID_TOKEN_MAX_AGE: seconds('OIDC_ID_TOKEN_MAX_AGE', 10),
  API_UPSTREAM: optionalUrl('API_UPSTREAM'),
  API_ROUTES: z.string().trim(),
  OIDC_DPOP: bool('OIDC_DPOP'),
  API_TIMEOUT: seconds('API_TIMEOUT', 1),
  API_MAX_BODY: count('API_MAX_BODY', 0),
  API_MAX_CONCURRENCY: count('API_MAX_CONCURRENCY', 1),
  API_MAX_CONCURRENCY_PER_CLIENT: count('API_MAX_CONCURRENCY_PER_CLIENT', 0),
  API_UPSTREAM_CONNECTIONS: count('API_UPSTREAM_CONNECTIONS', 1),
  API_UPSTREAM_CONNECTIONS_PER_CLIENT: count('API_UPSTREAM_CONNECTIONS_PER_CLIENT', 1),
  API_BODY_IDLE_TIMEOUT: seconds('API_BODY_IDLE_TIMEOUT', 1),
  API_WRITE_IDLE_TIMEOUT: seconds('API_WRITE_IDLE_TIMEOUT', 1),
  RATE_LIMIT_PER_MINUTE: count('RATE_LIMIT_PER_MINUTE', 0),
  LOGIN_MAX_PENDING_PER_CLIENT: count('LOGIN_MAX_PENDING_PER_CLIENT', 0),
  SESSION_STORE: z.enum(['', 'redis', 'cookie', 'memory'], { message: 'SESSION_STORE must be redis, cookie or memory' }),
  REDIS_URL: z.string().trim(),
  REDIS_SENTINELS: hostPorts('REDIS_SENTINELS'),
  REDIS_SENTINEL_NAME: z.string().trim().min(1, 'REDIS_SENTINEL_NAME must not be empty'),
  REDIS_CLUSTER_NODES: hostPorts('REDIS_CLUSTER_NODES'),
  REDIS_PASSWORD: z.string(),
  REDIS_TLS: bool('REDIS_TLS'),
  REDIS_KEY_PREFIX: z.string(),
  SESSION_SECRETS: list.superRefine((secrets, ctx) => {
    secrets.forEach((s, i) => {
      if (s.length < MIN_SECRET_LENGTH) {
        ctx.addIssue({ code: 'custom', message: `SESSION_SECRETS entry #${i + 1} is ${s.length} characters; at least ${MIN_SECRET_LENGTH} are needed (try: openssl rand -base64 32)` });
      }
    });
  }),
  SESSION_IDLE_TIMEOUT: seconds('SESSION_IDLE_TIMEOUT', 60),
  SESSION_MAX_AGE: seconds('SESSION_MAX_AGE', 60),
  SESSION_CACHE_MAX_STALE: seconds('SESSION_CACHE_MAX_STALE'),
  SESSION_CACHE_ENTRIES: count('SESSION_CACHE_ENTRIES', 1),
  SESSION_COOKIE_NAME: z.string().regex(/^[A-Za-z0-9_]+$/, 'SESSION_COOKIE_NAME may hold letters, digits and _ only'),
  SESSION_COOKIE_BUDGET: z.string().trim().transform((raw, ctx) => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < 4096) {
      ctx.addIssue({ code: 'custom', message: `SESSION_COOKIE_BUDGET must be a number of bytes >= 4096, got "${raw}"` });
      return z.NEVER;
    }
    return n;
  }),
  SESSION_COOKIE_SAMESITE: z.enum(['lax', 'strict'], { message: 'SESSION_COOKIE_SAMESITE must be lax or strict (None would re-open cross-site requests)' }),
  SESSION_CLAIMS: list,
  TOKEN_REFRESH_SKEW: seconds('TOKEN_REFRESH_SKEW'),
  TOKEN_REFRESH_WAIT: seconds('TOKEN_REFRESH_WAIT', 1),
  TOKEN_REFRESH_GRACE: seconds('TOKEN_REFRESH_GRACE'),
  POST_LOGOUT_REDIRECT_URI: z.string().trim(),
  ALLOWED_RETURN_TO_ORIGINS: list,
  LOGIN_PATH: path('LOGIN_PATH'),
  CALLBACK_PATH: path('CALLBACK_PATH'),
  SESSION_PATH: path('SESSION_PATH'),
  REFRESH_PATH: path('REFRESH_PATH'),
  LOGOUT_PATH: path('LOGOUT_PATH'),
  LOGOUT_CALLBACK_PATH: path('LOGOUT_CALLBACK_PATH'),
  BACKCHANNEL_LOGOUT_PATH: path('BACKCHANNEL_LOGOUT_PATH'),
  BACKCHANNEL_LOGOUT_MAX_AGE: seconds('BACKCHANNEL_LOGOUT_MAX_AGE', 10),
  API_PATH: path('API_PATH'),
  FORWARD_AUTH_PATH: optionalPath('FORWARD_AUTH_PATH'),
  FORWARD_AUTH_TRUSTED_IPS: ipList('FORWARD_AUTH_TRUSTED_IPS'),
  FORWARD_AUTH_IDENTITY_HEADERS: bool('FORWARD_AUTH_IDENTITY_HEADERS'),
  HOST: z.string().trim().min(1, 'HOST must not be empty'),
  PORT: port('PORT'),
  ADMIN_PORT: port('ADMIN_PORT'),
  ADMIN_HOST: z.string().trim().min(1, 'ADMIN_HOST must not be empty'),
  ADMIN_TOKEN: z.string(),
  TRUST_PROXY: z.string().trim().toLowerCase().transform((raw, ctx): ProxyTrust => {
    if (raw === 'true') return { hops: 1 };
    if (raw === 'false' || raw === '') return { hops: 0 };
    if (/^\d+$/.test(raw)) return { hops: Number(raw) };
    const proxies = raw.split(',').map((s) => s.trim()).filter(Boolean);
    if (proxies.length && proxies.every(isIpOrCidr)) return { proxies };
    ctx.addIssue({ code: 'custom', message: `TRUST_PROXY must be true, false, a number of proxy hops, or comma-separated IPs or CIDR blocks of the trusted proxies, got "${raw}"` });
    return z.NEVER;
  }),
  SHUTDOWN_TIMEOUT: seconds('SHUTDOWN_TIMEOUT'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    message: 'LOG_LEVEL must be fatal, error, warn, info, debug, trace or silent',
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().trim().transform((raw, ctx) => {
    if (!raw) return undefined;
    try {
      const u = new URL(raw);
      if ((u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash) return u;
    } catch {
      // reported below
    }
    ctx.addIssue({ code: 'custom', message: `OTEL_EXPORTER_OTLP_ENDPOINT must be the base http(s) URL of an OTLP collector (like http://collector:4318), got "${raw}"` });
    return z.NEVER;
  }),
  OTEL_SERVICE_NAME: z.string().trim().min(1, 'OTEL_SERVICE_NAME must not be empty'),
});

type Env = z.output<typeof envSchema>;

/** Fills every unset variable with its documented default, so the schema sees one complete record. */
function withDefaults(env: Record<string, string | undefined>): Record<SettingName, string> {
  const out = {} as Record<SettingName, string>;
  // An empty variable counts as unset: `.env` files and compose often carry `NAME=`.
  for (const s of SETTINGS) out[s.name] = env[s.name] || s.default;
  return out;
}

/** Checks that involve several variables; returns problems, never throws. */
function crossChecks(e: Env): string[] {
  const problems: string[] = [];
  const store = resolveStore(e);
  if (e.OIDC_ISSUER.protocol === 'http:' && !e.OIDC_ALLOW_HTTP) {
    problems.push(`OIDC_ISSUER is http:// (${e.OIDC_ISSUER.href}); use https, or set OIDC_ALLOW_HTTP=true for development and tests only`);
  }
  if (e.PUBLIC_URL.protocol === 'http:' && !isLoopback(e.PUBLIC_URL.hostname) && !e.OIDC_ALLOW_HTTP) {
    problems.push(`PUBLIC_URL is http:// on ${e.PUBLIC_URL.hostname}: cookies would travel unencrypted and could be planted; use https (or OIDC_ALLOW_HTTP=true for development and tests only)`);
  }
  if (SECRET_METHODS.includes(e.OIDC_CLIENT_AUTH) && !e.OIDC_CLIENT_SECRET) {
    problems.push(`OIDC_CLIENT_SECRET is required with OIDC_CLIENT_AUTH=${e.OIDC_CLIENT_AUTH}`);
  }
  problems.push(...clientCertificateProblems(e));
  if (e.PUBLIC_URL.pathname !== '/' || e.PUBLIC_URL.search || e.PUBLIC_URL.hash) {
    problems.push(`PUBLIC_URL must be an origin without a path (cookies use the __Host- prefix, which needs Path=/), got "${e.PUBLIC_URL.href}"`);
  }
  const topologies = [e.REDIS_URL && 'REDIS_URL', e.REDIS_SENTINELS.length && 'REDIS_SENTINELS', e.REDIS_CLUSTER_NODES.length && 'REDIS_CLUSTER_NODES'].filter(Boolean);
  if (store === 'redis' && topologies.length === 0) problems.push('SESSION_STORE=redis needs REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES');
  if (topologies.length > 1) problems.push(`set only one of ${topologies.join(', ')}`);
  if (e.REDIS_URL && !/^rediss?:\/\//.test(e.REDIS_URL)) problems.push('REDIS_URL must start with redis:// or rediss://');
  if (store !== 'memory' && e.SESSION_SECRETS.length === 0) {
    problems.push(`SESSION_SECRETS is required with SESSION_STORE=${store}: tokens at rest are sealed with it`);
  }
  if (e.SESSION_MAX_AGE < e.SESSION_IDLE_TIMEOUT) {
    problems.push('SESSION_MAX_AGE must not be shorter than SESSION_IDLE_TIMEOUT');
  }
  for (const o of e.ALLOWED_RETURN_TO_ORIGINS) {
    if (!isOrigin(o)) problems.push(`ALLOWED_RETURN_TO_ORIGINS entry "${o}" must be an origin like https://app.example.com`);
  }
  if (e.POST_LOGOUT_REDIRECT_URI && !isHttpUrl(e.POST_LOGOUT_REDIRECT_URI)) {
    problems.push(`POST_LOGOUT_REDIRECT_URI must be an absolute http(s) URL, got "${e.POST_LOGOUT_REDIRECT_URI}"`);
  }
  const paths = [e.LOGIN_PATH, e.CALLBACK_PATH, e.SESSION_PATH, e.REFRESH_PATH, e.LOGOUT_PATH, e.LOGOUT_CALLBACK_PATH, e.BACKCHANNEL_LOGOUT_PATH, e.API_PATH];
  if (new Set(paths).size !== paths.length) problems.push('LOGIN_PATH, CALLBACK_PATH, SESSION_PATH, REFRESH_PATH, LOGOUT_PATH, LOGOUT_CALLBACK_PATH, BACKCHANNEL_LOGOUT_PATH and API_PATH must differ');
  if (e.POST_LOGOUT_REDIRECT_URI && isHttpUrl(e.POST_LOGOUT_REDIRECT_URI) && new URL(e.POST_LOGOUT_REDIRECT_URI).href === new URL(e.LOGOUT_CALLBACK_PATH, e.PUBLIC_URL).href) {
    problems.push('POST_LOGOUT_REDIRECT_URI must not be PUBLIC_URL + LOGOUT_CALLBACK_PATH: that is where the IdP returns, the target comes after it');
  }
  if (e.ADMIN_TOKEN && e.ADMIN_TOKEN.length < MIN_SECRET_LENGTH) problems.push(`ADMIN_TOKEN must be at least ${MIN_SECRET_LENGTH} characters`);
  problems.push(...forwardAuthProblems(e));
  if (e.API_UPSTREAM_CONNECTIONS_PER_CLIENT > e.API_UPSTREAM_CONNECTIONS) {
    problems.push(`API_UPSTREAM_CONNECTIONS_PER_CLIENT (${e.API_UPSTREAM_CONNECTIONS_PER_CLIENT}) must not exceed API_UPSTREAM_CONNECTIONS (${e.API_UPSTREAM_CONNECTIONS})`);
  }
  return problems;
}

/** API_ROUTES and the API_UPSTREAM shorthand, longest path first so the first match is the most specific. */
function apiRoutes(e: Env): { routes: ApiRoute[]; problems: string[] } {
  const defaults = { apiPath: e.API_PATH, timeoutMs: e.API_TIMEOUT * 1000, maxBodyBytes: e.API_MAX_BODY, dpop: e.OIDC_DPOP };
  if (!e.API_ROUTES && !e.API_UPSTREAM) return { routes: [], problems: [] }; // reported with the field problems
  const { routes, problems } = e.API_ROUTES ? readApiRoutes(e.API_ROUTES, defaults) : { routes: [], problems: [] };
  if (e.API_UPSTREAM) {
    if (routes.some((r) => r.path === e.API_PATH)) problems.push(`API_UPSTREAM and an API_ROUTES route both claim API_PATH (${e.API_PATH}): keep one`);
    routes.push(shorthandRoute(e.API_UPSTREAM, defaults));
  }
  if (!problems.length && routes.length === 0) problems.push(`API_ROUTES: ${e.API_ROUTES} lists no route`);
  return { routes: routes.sort((a, b) => b.path.length - a.path.length), problems };
}

function resolveStore(e: Env): SessionStoreKind {
  if (e.SESSION_STORE) return e.SESSION_STORE;
  return redisConnection(e) ? 'redis' : 'memory';
}

function redisConnection(e: Env): RedisConnection | undefined {
  const password = e.REDIS_PASSWORD || undefined;
  if (e.REDIS_SENTINELS.length) return { kind: 'sentinel', nodes: e.REDIS_SENTINELS, name: e.REDIS_SENTINEL_NAME, password, tls: e.REDIS_TLS };
  if (e.REDIS_CLUSTER_NODES.length) return { kind: 'cluster', nodes: e.REDIS_CLUSTER_NODES, password, tls: e.REDIS_TLS };
  return e.REDIS_URL ? { kind: 'url', url: e.REDIS_URL } : undefined;
}

/** The forward-auth path must not shadow, or be shadowed by, another route (it also matches below itself). */
function forwardAuthProblems(e: Env): string[] {
  const own = e.FORWARD_AUTH_PATH;
  if (!own) return [];
  if (own === '/') return ['FORWARD_AUTH_PATH must not be / (every path lies below it)'];
  if (own === e.API_PATH || own.startsWith(`${e.API_PATH}/`)) return [`FORWARD_AUTH_PATH must not lie under API_PATH (${e.API_PATH})`];
  const others = [e.LOGIN_PATH, e.CALLBACK_PATH, e.SESSION_PATH, e.REFRESH_PATH, e.LOGOUT_PATH, e.LOGOUT_CALLBACK_PATH, e.BACKCHANNEL_LOGOUT_PATH, e.API_PATH, '/healthz', '/readyz'];
  return others
    .filter((p) => p === own || p.startsWith(`${own}/`))
    .map((p) => `FORWARD_AUTH_PATH ${own} would shadow ${p}: choose a path that no other route equals or lies under`);
}

/** An IPv4 or IPv6 address, optionally with a /prefix length. */
function isIpOrCidr(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

function isOrigin(raw: string): boolean {
  try {
    const u = new URL(raw);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === raw.replace(/\/$/, '');
  } catch {
    return false;
  }
}

function isHttpUrl(raw: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(raw).protocol);
  } catch {
    return false;
  }
}

function devWarnings(e: Env, store: SessionStoreKind): string[] {
  const w: string[] = [];
  if (store === 'memory') w.push('SESSION_STORE=memory: sessions live in this process only (lost on restart, not shared between instances). Development only.');
  if (store === 'memory' && e.SESSION_SECRETS.length === 0) w.push('SESSION_SECRETS is not set: a random secret was generated for this process. Development only.');
  if (store === 'cookie' && !e.REDIS_URL && e.REDIS_SENTINELS.length === 0 && e.REDIS_CLUSTER_NODES.length === 0) {
    w.push('SESSION_STORE=cookie without Redis: refreshes are single-flight and logouts are recorded in this process only. '
      + 'Several instances with an IdP that rotates refresh tokens need REDIS_URL, sticky sessions, or the IdP\'s refresh-token reuse grace period; '
      + 'a copied cookie stays valid on other instances after a logout (see README, Session stores).');
  }
  if (e.OIDC_ALLOW_HTTP) w.push('OIDC_ALLOW_HTTP=true: IdP traffic may travel unencrypted. Development and tests only.');
  if (e.PUBLIC_URL.protocol === 'http:') w.push('PUBLIC_URL is http://: session cookies are not Secure. Development only; put a TLS terminator in front (see README).');
  return w;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !(o instanceof URL) && !Object.isFrozen(o)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * Parses the environment once into a frozen {@link Config}.
 * @throws ConfigError listing every problem, not only the first.
 */
export function loadConfig(env: Record<string, string | undefined>, randomSecret: () => string): Config {
  const raw = withDefaults(env);
  const parsed = envSchema.safeParse(raw);
  // Judged on the raw values, so reported together with field problems too.
  const credentialProblems = clientCredentialProblems(raw);
  if (!raw.API_UPSTREAM.trim() && !raw.API_ROUTES.trim()) credentialProblems.push('API_UPSTREAM (or an API_ROUTES file) is required');
  if (!parsed.success) {
    // Cross-field checks need every field; the field problems alone are still all reported at once.
    throw new ConfigError([...parsed.error.issues.map((i) => (i.code === 'custom' ? i.message : `${String(i.path[0])}: ${i.message}`)), ...credentialProblems]);
  }
  const e = parsed.data;
  const routes = apiRoutes(e);
  const problems = [...crossChecks(e), ...credentialProblems, ...routes.problems];
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
    },
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    loginMaxPendingPerClient: e.LOGIN_MAX_PENDING_PER_CLIENT,
    session: {
      store,
      secrets: e.SESSION_SECRETS.length ? e.SESSION_SECRETS : [randomSecret()],
      idleTimeoutMs: e.SESSION_IDLE_TIMEOUT * 1000,
      touchEveryMs: Math.min(60_000, (e.SESSION_IDLE_TIMEOUT * 1000) / 10),
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
    forwardAuth: {
      path: e.FORWARD_AUTH_PATH || undefined,
      trustedIps: e.FORWARD_AUTH_TRUSTED_IPS,
      identityHeaders: e.FORWARD_AUTH_IDENTITY_HEADERS,
    },
    logLevel: e.LOG_LEVEL,
    otel: { endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME },
    warnings: devWarnings(e, store),
  });
}
