import { clientCertificateProblems, clientCredentialProblems, SECRET_METHODS } from './client-credentials.js';
import { MIN_SECRET_LENGTH } from './parsers.js';
import type { Env, RawEnv } from './settings.js';
import { resolveStore, type SessionStoreKind } from './store-choice.js';

/**
 * Problems judged on the raw text, so they are reported together with the field problems even
 * when some variable does not parse: one start-up lists them all.
 */
export function rawProblems(raw: RawEnv): string[] {
  const problems = clientCredentialProblems(raw);
  if (!raw.API_UPSTREAM.trim() && !raw.API_ROUTES.trim()) problems.push('API_UPSTREAM (or an API_ROUTES file) is required');
  return problems;
}

/** Checks that involve several variables; returns problems, never throws. */
export function crossChecks(e: Env): string[] {
  const problems = [
    ...transportProblems(e),
    ...clientAuthProblems(e),
    ...storeProblems(e),
    ...returnTargetProblems(e),
    ...routeProblems(e),
    ...fusionAuthSdkProblems(e),
  ];
  if (e.ADMIN_TOKEN && e.ADMIN_TOKEN.length < MIN_SECRET_LENGTH) problems.push(`ADMIN_TOKEN must be at least ${MIN_SECRET_LENGTH} characters`);
  if (e.API_UPSTREAM_CONNECTIONS_PER_CLIENT > e.API_UPSTREAM_CONNECTIONS) {
    problems.push(
      `API_UPSTREAM_CONNECTIONS_PER_CLIENT (${e.API_UPSTREAM_CONNECTIONS_PER_CLIENT}) must not exceed API_UPSTREAM_CONNECTIONS (${e.API_UPSTREAM_CONNECTIONS})`,
    );
  }
  return problems;
}

/** Plain http only where it cannot leak (loopback) or was asked for; cookies need an origin. */
function transportProblems(e: Env): string[] {
  const problems: string[] = [];
  if (e.OIDC_ISSUER.protocol === 'http:' && !e.OIDC_ALLOW_HTTP) {
    problems.push(`OIDC_ISSUER is http:// (${e.OIDC_ISSUER.href}); use https, or set OIDC_ALLOW_HTTP=true for development and tests only`);
  }
  if (e.PUBLIC_URL.protocol === 'http:' && !isLoopback(e.PUBLIC_URL.hostname) && !e.OIDC_ALLOW_HTTP) {
    problems.push(
      `PUBLIC_URL is http:// on ${e.PUBLIC_URL.hostname}: cookies would travel unencrypted and could be planted; use https (or OIDC_ALLOW_HTTP=true for development and tests only)`,
    );
  }
  if (e.PUBLIC_URL.pathname !== '/' || e.PUBLIC_URL.search || e.PUBLIC_URL.hash) {
    problems.push(`PUBLIC_URL must be an origin without a path (cookies use the __Host- prefix, which needs Path=/), got "${e.PUBLIC_URL.href}"`);
  }
  return problems;
}

function clientAuthProblems(e: Env): string[] {
  const problems = clientCertificateProblems(e);
  if (SECRET_METHODS.includes(e.OIDC_CLIENT_AUTH) && !e.OIDC_CLIENT_SECRET) {
    problems.unshift(`OIDC_CLIENT_SECRET is required with OIDC_CLIENT_AUTH=${e.OIDC_CLIENT_AUTH}`);
  }
  return problems;
}

function storeProblems(e: Env): string[] {
  const problems: string[] = [];
  const store = resolveStore(e);
  const topologies = [e.REDIS_URL && 'REDIS_URL', e.REDIS_SENTINELS.length && 'REDIS_SENTINELS', e.REDIS_CLUSTER_NODES.length && 'REDIS_CLUSTER_NODES'].filter(
    Boolean,
  );
  if (store === 'redis' && topologies.length === 0) problems.push('SESSION_STORE=redis needs REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES');
  if (topologies.length > 1) problems.push(`set only one of ${topologies.join(', ')}`);
  if (e.REDIS_URL && !/^rediss?:\/\//.test(e.REDIS_URL)) problems.push('REDIS_URL must start with redis:// or rediss://');
  if (store !== 'memory' && e.SESSION_SECRETS.length === 0) {
    problems.push(`SESSION_SECRETS is required with SESSION_STORE=${store}: tokens at rest are sealed with it`);
  }
  if (e.SESSION_MAX_AGE < e.SESSION_IDLE_TIMEOUT) problems.push('SESSION_MAX_AGE must not be shorter than SESSION_IDLE_TIMEOUT');
  return problems;
}

function returnTargetProblems(e: Env): string[] {
  const problems: string[] = [];
  for (const o of e.ALLOWED_RETURN_TO_ORIGINS) {
    if (!isOrigin(o)) problems.push(`ALLOWED_RETURN_TO_ORIGINS entry "${o}" must be an origin like https://app.example.com`);
  }
  const target = e.POST_LOGOUT_REDIRECT_URI;
  if (target && !isHttpUrl(target)) problems.push(`POST_LOGOUT_REDIRECT_URI must be an absolute http(s) URL, got "${target}"`);
  if (target && isHttpUrl(target) && new URL(target).href === new URL(e.LOGOUT_CALLBACK_PATH, e.PUBLIC_URL).href) {
    problems.push('POST_LOGOUT_REDIRECT_URI must not be PUBLIC_URL + LOGOUT_CALLBACK_PATH: that is where the IdP returns, the target comes after it');
  }
  return problems;
}

/** The SDK routes need an allowlist of where they may send the browser: without one they would have nowhere safe to go. */
function fusionAuthSdkProblems(e: Env): string[] {
  if (!e.FUSIONAUTH_SDK) return [];
  const problems: string[] = [];
  if (e.FUSIONAUTH_SDK_REDIRECT_URIS.length === 0)
    problems.push("FUSIONAUTH_SDK_REDIRECT_URIS is required with FUSIONAUTH_SDK=true: the SPA's redirectUri (and postLogoutRedirectUri)");
  for (const u of e.FUSIONAUTH_SDK_REDIRECT_URIS) {
    if (!isHttpUrl(u) || new URL(u).hash) problems.push(`FUSIONAUTH_SDK_REDIRECT_URIS entry "${u}" must be an absolute http(s) URL without a fragment`);
  }
  for (const o of e.FUSIONAUTH_SDK_ORIGINS) {
    if (!isOrigin(o)) problems.push(`FUSIONAUTH_SDK_ORIGINS entry "${o}" must be an origin like https://app.example.com`);
  }
  return problems;
}

function routeProblems(e: Env): string[] {
  const paths = [e.LOGIN_PATH, e.CALLBACK_PATH, e.SESSION_PATH, e.REFRESH_PATH, e.LOGOUT_PATH, e.LOGOUT_CALLBACK_PATH, e.BACKCHANNEL_LOGOUT_PATH, e.API_PATH];
  const problems =
    new Set(paths).size === paths.length
      ? []
      : ['LOGIN_PATH, CALLBACK_PATH, SESSION_PATH, REFRESH_PATH, LOGOUT_PATH, LOGOUT_CALLBACK_PATH, BACKCHANNEL_LOGOUT_PATH and API_PATH must differ'];
  return [...problems, ...forwardAuthProblems(e, [...paths, '/healthz', '/readyz'])];
}

/** The forward-auth path must not shadow, or be shadowed by, another route (it also matches below itself). */
function forwardAuthProblems(e: Env, others: readonly string[]): string[] {
  const own = e.FORWARD_AUTH_PATH;
  if (!own) return [];
  if (own === '/') return ['FORWARD_AUTH_PATH must not be / (every path lies below it)'];
  if (own === e.API_PATH || own.startsWith(`${e.API_PATH}/`)) return [`FORWARD_AUTH_PATH must not lie under API_PATH (${e.API_PATH})`];
  return others
    .filter((p) => p === own || p.startsWith(`${own}/`))
    .map((p) => `FORWARD_AUTH_PATH ${own} would shadow ${p}: choose a path that no other route equals or lies under`);
}

/** Development-only choices in effect: printed once at start, refused nowhere. */
export function devWarnings(e: Env, store: SessionStoreKind): string[] {
  const w: string[] = [];
  if (store === 'memory') w.push('SESSION_STORE=memory: sessions live in this process only (lost on restart, not shared between instances). Development only.');
  if (store === 'memory' && e.SESSION_SECRETS.length === 0)
    w.push('SESSION_SECRETS is not set: a random secret was generated for this process. Development only.');
  if (store === 'cookie' && !e.REDIS_URL && e.REDIS_SENTINELS.length === 0 && e.REDIS_CLUSTER_NODES.length === 0) {
    w.push(
      'SESSION_STORE=cookie without Redis: refreshes are single-flight and logouts are recorded in this process only. ' +
        "Several instances with an IdP that rotates refresh tokens need REDIS_URL, sticky sessions, or the IdP's refresh-token reuse grace period; " +
        'a copied cookie stays valid on other instances after a logout (see docs/sessions-and-scaling.md).',
    );
  }
  const noRedis = !e.REDIS_URL && e.REDIS_SENTINELS.length === 0 && e.REDIS_CLUSTER_NODES.length === 0;
  if (noRedis && e.GATEWAY_CLIENT_KEYS.length > 0) {
    w.push('GATEWAY_CLIENT_KEYS without Redis: a client assertion is single-use on this instance only; several instances need REDIS_URL.');
  }
  // The file's providers carry their own client authentication: the environment's is not used for them.
  if (e.BFF_CONFIG && (e.OIDC_CLIENT_KEY_FILE || e.OIDC_CLIENT_CERT_FILE)) {
    w.push(
      'BFF_CONFIG is set: OIDC_CLIENT_KEY_FILE / OIDC_CLIENT_CERT_FILE are not used; each provider in the file names its own clientKeyFile / clientCertFile.',
    );
  }
  if (e.OIDC_ALLOW_HTTP) w.push('OIDC_ALLOW_HTTP=true: IdP traffic may travel unencrypted. Development and tests only.');
  if (e.PUBLIC_URL.protocol === 'http:')
    w.push('PUBLIC_URL is http://: session cookies are not Secure. Development only; put a TLS terminator in front (see docs/operations.md).');
  return w;
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
