import type { z } from 'zod';
import { certificateFile, privateKeyFile, signingKeyFile } from './client-credentials.js';
import { gatewayClientKeys } from './public-keys.js';
import {
  authParams,
  bool,
  bytes,
  collectorUrl,
  cookieName,
  count,
  gatewayClients,
  hostPorts,
  ipList,
  list,
  nonEmpty,
  oneOf,
  optionalPath,
  optionalUrl,
  path,
  port,
  proxyTrust,
  required,
  scopes,
  sdkCookieName,
  seconds,
  secrets,
  text,
  trimmed,
  url,
  type Parser,
} from './parsers.js';

/**
 * One environment variable: everything about it is written here, once. The parsed environment's
 * type ({@link Env}) is inferred from the rows' parsers; `.env.example` and the configuration
 * table are generated from the rows (scripts/env-example.ts, scripts/readme-tables.ts).
 */
export interface Setting {
  /** Environment variable name. */
  readonly name: string;
  /** Default as written in `.env.example`; '' means "no default" (required or optional). */
  readonly default: string;
  /** Reads the text (the default when unset or empty) into the typed value, or reports problems. */
  readonly parse: Parser;
  /** One line for humans. */
  readonly doc: string;
  /** The documentation section the variable is listed under (rows of one group are adjacent). */
  readonly group: string;
}

/** The rows of one documentation section, each tagged with it (types of the rows kept). */
const section = <const G extends string, const R extends ReadonlyArray<Omit<Setting, 'group'>>>(group: G, rows: R) =>
  rows.map((row) => ({ ...row, group })) as unknown as { readonly [K in keyof R]: R[K] & { readonly group: G } };

/** Every setting oidc-bff reads from its environment, in the documented order. */
export const SETTINGS = [
  ...section('The BFF and its identity provider', [
    {
      name: 'PUBLIC_URL',
      default: '',
      parse: url,
      doc: "The BFF's external origin as the browser sees it (required); redirect_uri = PUBLIC_URL + CALLBACK_PATH.",
    },
    {
      name: 'BFF_CONFIG',
      default: '',
      parse: trimmed,
      doc: 'JSON or YAML file of frontends and identity providers: several apps in one deployment, each its own client, cookies, routes and sessions. Unset: the environment describes the one frontend.',
    },
    { name: 'OIDC_ISSUER', default: '', parse: url, doc: 'Issuer identifier of the OpenID provider (required); metadata is discovered from it.' },
    { name: 'OIDC_CLIENT_ID', default: '', parse: required, doc: 'Client id registered at the IdP (required).' },
    { name: 'OIDC_CLIENT_SECRET', default: '', parse: text, doc: 'Client secret (required with client_secret_basic and client_secret_post).' },
    {
      name: 'OIDC_CLIENT_AUTH',
      default: 'client_secret_basic',
      parse: oneOf(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'none']),
      doc: 'Client authentication at the token, revocation and PAR endpoints: client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth or none.',
    },
    {
      name: 'OIDC_CLIENT_KEY_FILE',
      default: '',
      parse: signingKeyFile,
      doc: 'private_key_jwt: file of the private key (JWK, or PEM PKCS#8) that signs client assertions; a certificate next to a PEM key adds its x5t.',
    },
    {
      name: 'OIDC_CLIENT_KEY_ID',
      default: '',
      parse: trimmed,
      doc: "private_key_jwt: kid sent in the assertion header; default the JWK's kid, else the key's RFC 7638 thumbprint.",
    },
    {
      name: 'OIDC_CLIENT_ASSERTION_AUDIENCE',
      default: 'issuer',
      parse: oneOf(['issuer', 'token_endpoint']),
      doc: "private_key_jwt: the assertion's aud, issuer or token_endpoint (Entra ID documents the token endpoint URL).",
    },
    {
      name: 'OIDC_CLIENT_CERT_FILE',
      default: '',
      parse: certificateFile,
      doc: 'tls_client_auth: PEM file of the client certificate (chain, leaf first) presented to the IdP (RFC 8705).',
    },
    { name: 'OIDC_CLIENT_CERT_KEY_FILE', default: '', parse: privateKeyFile, doc: "tls_client_auth: PEM file of the client certificate's private key." },
    {
      name: 'OIDC_CA_FILE',
      default: '',
      parse: certificateFile,
      doc: "PEM bundle of extra CAs trusted for the IdP's TLS certificates (a private CA), in addition to Node's bundled CAs.",
    },
    { name: 'OIDC_SCOPES', default: 'openid profile email offline_access', parse: scopes, doc: 'Scopes requested at login; must contain openid.' },
    {
      name: 'OIDC_AUTH_PARAMS',
      default: '',
      parse: authParams,
      doc: 'Extra authorization request parameters as a query string, e.g. audience=https://api.example.com (Auth0) or kc_idp_hint=corp (Keycloak); a name set here wins over the same one passed to LOGIN_PATH (prompt, login_hint, acr_values, max_age, ui_locales); a requested acr_values or max_age is checked in the ID token; protocol parameters are refused.',
    },
    { name: 'OIDC_USE_PAR', default: 'true', parse: bool, doc: 'Use Pushed Authorization Requests (RFC 9126) when the IdP advertises them.' },
    { name: 'OIDC_ALLOW_HTTP', default: 'false', parse: bool, doc: 'Allow an http:// issuer. Development and tests only; the BFF warns loudly.' },
    { name: 'OIDC_TIMEOUT', default: '10', parse: seconds(1), doc: 'Seconds an IdP request (discovery, token, revocation, PAR) may take.' },
    {
      name: 'OIDC_CLOCK_TOLERANCE',
      default: '60',
      parse: seconds(),
      doc: "Seconds the IdP's clock may differ from ours in every time check of ID tokens and logout tokens (iat in the future, exp, nbf, auth_time).",
    },
    {
      name: 'OIDC_ID_TOKEN_MAX_AGE',
      default: '600',
      parse: seconds(10),
      doc: 'Seconds (by its iat) an ID token is accepted for at login; not max_age, which bounds auth_time when a login asks for it.',
    },
    {
      name: 'OIDC_DPOP',
      default: 'false',
      parse: bool,
      doc: 'Bind tokens to a per-session DPoP key (RFC 9449): proofs at the token endpoint, and Authorization: DPoP on the routes (all by default).',
    },
    {
      name: 'OIDC_INTROSPECTION_DIALECT',
      default: 'token-introspection+jwt',
      parse: oneOf(['token-introspection+jwt', 'jwt', 'json-jwt']),
      doc: "How the IdP's introspection endpoint hands out the JWT of an opaque access token (phantom routes): token-introspection+jwt (RFC 9701, a signed response, verified against the IdP's JWKS and forwarded), jwt (Accept: application/jwt, the JWT as the body; Curity) or json-jwt (the JSON answer's jwt member); see docs/phantom-tokens.md.",
    },
  ]),
  ...section('API upstream', [
    {
      name: 'API_UPSTREAM',
      default: '',
      parse: optionalUrl,
      doc: "Base URL of the API gateway that /api/* is forwarded to with the user's token (required unless API_ROUTES is set; shorthand for one route at API_PATH).",
    },
    {
      name: 'API_ROUTES',
      default: '',
      parse: trimmed,
      doc: 'JSON or YAML file of upstream routes under API_PATH, each with its token policy (user, user-optional, client, exchange, none), scopes, resource, DPoP, timeout and body limit; see docs/api-routes.md.',
    },
    {
      name: 'API_MAX_BODY',
      default: '10485760',
      parse: count(0),
      doc: 'Most bytes of a request body forwarded to the API (413 above; counted while streaming, never buffered).',
    },
    {
      name: 'API_MAX_CONCURRENCY',
      default: '1024',
      parse: count(1),
      doc: 'Most API requests in flight to the upstream at once per instance (503 upstream_busy above).',
    },
    {
      name: 'API_MAX_CONCURRENCY_PER_CLIENT',
      default: '256',
      parse: count(0),
      doc: 'Most API requests in flight at once per instance for one user (all their sessions), or without a session for one client address; 429 too_many_in_flight above; 0 turns it off.',
    },
    {
      name: 'API_TIMEOUT',
      default: '30',
      parse: seconds(1),
      doc: 'Seconds the upstream may take to send response headers (time spent waiting for a free pool connection included), to take more of a request body it stopped reading, and between response body chunks.',
    },
    {
      name: 'API_UPSTREAM_CONNECTIONS',
      default: '256',
      parse: count(1),
      doc: "Upstream connections in each route's pool; a call finding all busy waits for one, within API_TIMEOUT (504 upstream_timeout). One route also admits at most half of API_MAX_CONCURRENCY (503 upstream_busy above), so calls stuck on it leave the rest to the other routes.",
    },
    {
      name: 'API_UPSTREAM_CONNECTIONS_PER_CLIENT',
      default: '64',
      parse: count(1),
      doc: "Most calls one user (all their sessions), or without a session one client address, may have in flight on one route, so it holds at most that share of the route's pool (a quarter by default); 429 too_many_in_flight above; at most API_UPSTREAM_CONNECTIONS.",
    },
    {
      name: 'API_BODY_IDLE_TIMEOUT',
      default: '30',
      parse: seconds(1),
      doc: 'Seconds a request body being forwarded may stop arriving (while the BFF is ready to read it) before the call ends with 408 body_timeout, counted on the client, not the upstream.',
    },
    {
      name: 'API_WRITE_IDLE_TIMEOUT',
      default: '30',
      parse: seconds(1),
      doc: "Seconds a client may stop reading a response (the BFF cannot write) before the response is cut; logged as proxy.client_slow_reader, not as an upstream failure. Keep it below the upstream's own send timeout, or the upstream cuts first.",
    },
  ]),
  ...section('Session store and Redis', [
    {
      name: 'SESSION_STORE',
      default: '',
      parse: oneOf(['', 'redis', 'cookie', 'memory']),
      doc: 'redis, cookie or memory; default redis when REDIS_URL is set, memory otherwise (development only, warns).',
    },
    {
      name: 'REDIS_URL',
      default: '',
      parse: trimmed,
      doc: 'Standalone Redis: connection URL (redis:// or rediss:// for TLS, with user and password if needed).',
    },
    { name: 'REDIS_SENTINELS', default: '', parse: hostPorts, doc: 'Redis Sentinel: comma-separated host:port of the sentinels (instead of REDIS_URL).' },
    { name: 'REDIS_SENTINEL_NAME', default: 'mymaster', parse: nonEmpty, doc: 'Redis Sentinel: name of the monitored master group.' },
    {
      name: 'REDIS_CLUSTER_NODES',
      default: '',
      parse: hostPorts,
      doc: 'Redis Cluster: comma-separated host:port of some cluster nodes (instead of REDIS_URL).',
    },
    { name: 'REDIS_PASSWORD', default: '', parse: text, doc: 'Password for REDIS_SENTINELS or REDIS_CLUSTER_NODES (with REDIS_URL, put it in the URL).' },
    { name: 'REDIS_TLS', default: 'false', parse: bool, doc: 'Use TLS to REDIS_SENTINELS or REDIS_CLUSTER_NODES (with REDIS_URL, use rediss://).' },
    { name: 'REDIS_KEY_PREFIX', default: 'bff:', parse: text, doc: 'Prefix of every Redis key the BFF writes, so several deployments can share one Redis.' },
  ]),
  ...section('Sessions and tokens', [
    {
      name: 'SESSION_SECRETS',
      default: '',
      parse: secrets,
      doc: 'Comma-separated secrets of 32+ characters; the first seals, all unseal (rotation). Required for redis and cookie stores.',
    },
    { name: 'SESSION_IDLE_TIMEOUT', default: '1800', parse: seconds(60), doc: 'Seconds of inactivity after which a session ends (sliding).' },
    { name: 'SESSION_MAX_AGE', default: '43200', parse: seconds(60), doc: 'Seconds after login after which a session ends, whatever the activity.' },
    {
      name: 'SESSION_CACHE_MAX_STALE',
      default: '1',
      parse: seconds(),
      doc: 'With Redis: seconds a change made through another instance may go unseen here (a logout or refresh of a Redis-store session; a revocation of cookie sessions). Sessions, and the revocation list cookie sessions check, are then read from memory, kept current by Redis invalidation messages (Redis 6.2+, not Cluster); 0 = read Redis on every request.',
    },
    {
      name: 'SESSION_CACHE_ENTRIES',
      default: '2000',
      parse: count(1),
      doc: 'Most entries that cache keeps: Redis-store sessions (about 5 KB each, sealed value and its opened copy), or with cookie sessions revocation-list keys (a few per session in use, about 200 bytes each).',
    },
    {
      name: 'SESSION_COOKIE_NAME',
      default: 'bff',
      parse: cookieName,
      doc: "Base name of the BFF's cookies (<name>-session, <name>-login); prefixed with __Host- when PUBLIC_URL is https.",
    },
    {
      name: 'SESSION_COOKIE_BUDGET',
      default: '8192',
      parse: bytes(4096),
      doc: "Most bytes the BFF's session cookies may take together (cookie store); a login that needs more fails with a clear error.",
    },
    {
      name: 'SESSION_COOKIE_SAMESITE',
      default: 'lax',
      parse: oneOf(['lax', 'strict'], 'None would re-open cross-site requests'),
      doc: 'SameSite of the session cookie: lax or strict.',
    },
    {
      name: 'SESSION_CLAIMS',
      default: 'sub,sid,name,given_name,family_name,preferred_username,email,email_verified,picture,locale',
      parse: list,
      doc: 'ID token claims kept in the session and shown by /session.',
    },
    {
      name: 'TOKEN_REFRESH_SKEW',
      default: '30',
      parse: seconds(),
      doc: 'Seconds before access-token expiry at which it is refreshed (plus a per-session jitter of up to half of it, at most 15 s).',
    },
    {
      name: 'TOKEN_REFRESH_WAIT',
      default: '10',
      parse: seconds(1),
      doc: "Seconds a request waits for another instance's refresh of the same session before answering 503.",
    },
    {
      name: 'TOKEN_REFRESH_GRACE',
      default: '10',
      parse: seconds(),
      doc: 'Seconds a request still carrying a replaced token set gets the new tokens instead of refreshing again (at least; a record lives until the replaced access token expires). 0 = off.',
    },
  ]),
  ...section('Logout and return targets', [
    {
      name: 'POST_LOGOUT_REDIRECT_URI',
      default: '',
      parse: trimmed,
      doc: 'Where the browser ends up after logout when no valid returnTo was given (or the logout state is unknown, used or expired); default PUBLIC_URL + /.',
    },
    { name: 'ALLOWED_RETURN_TO_ORIGINS', default: '', parse: list, doc: 'Comma-separated extra origins that returnTo may point to (besides PUBLIC_URL).' },
  ]),
  ...section('Routes', [
    { name: 'LOGIN_PATH', default: '/login', parse: path, doc: 'Path of the login route.' },
    { name: 'CALLBACK_PATH', default: '/callback', parse: path, doc: 'Path of the redirect_uri.' },
    { name: 'SESSION_PATH', default: '/session', parse: path, doc: 'Path of the session info route.' },
    { name: 'REFRESH_PATH', default: '/refresh', parse: path, doc: 'Path of the forced-refresh route.' },
    { name: 'LOGOUT_PATH', default: '/logout', parse: path, doc: 'Path of the logout route.' },
    {
      name: 'LOGOUT_CALLBACK_PATH',
      default: '/logout/callback',
      parse: path,
      doc: 'Path the IdP returns to after RP-initiated logout (post_logout_redirect_uri = PUBLIC_URL + this path; register it at the IdP); it checks the logout state and redirects to the post-logout target.',
    },
    {
      name: 'BACKCHANNEL_LOGOUT_PATH',
      default: '/backchannel-logout',
      parse: path,
      doc: 'Path of the OpenID Connect back-channel logout endpoint (register PUBLIC_URL + this path at the IdP).',
    },
    {
      name: 'BACKCHANNEL_LOGOUT_MAX_AGE',
      default: '300',
      parse: seconds(10),
      doc: 'Seconds (by its iat) a logout token is accepted for; its jti is remembered for longer.',
    },
    {
      name: 'API_PATH',
      default: '/api',
      parse: path,
      doc: 'Path prefix of the API: API_UPSTREAM is forwarded from here, and every API_ROUTES route lies under it (the matched prefix is removed).',
    },
  ]),
  ...section('Gateway handles (phantom tokens, direction 2)', [
    {
      name: 'GATEWAY_INTROSPECTION_PATH',
      default: '',
      parse: optionalPath,
      doc: 'Path of the RFC 7662 introspection endpoint for the opaque handles that routes with a `handle` send instead of tokens (e.g. /gateway/introspect); empty = off. See docs/phantom-tokens.md.',
    },
    {
      name: 'GATEWAY_CLIENTS',
      default: '',
      parse: gatewayClients,
      doc: 'Comma-separated id:secret pairs of the gateways allowed to introspect handles with HTTP Basic (GATEWAY_CLIENT_KEYS for private_key_jwt); a route names in `handle` the one client whose gateway may resolve its handles. Never logged.',
    },
    {
      name: 'GATEWAY_CLIENT_KEYS',
      default: '',
      parse: gatewayClientKeys,
      doc: "Comma-separated id:path pairs of the gateways that authenticate with private_key_jwt (RFC 7523 client assertions) instead of HTTP Basic; the path names a file of the client's public key(s): a JWK, a JWK Set (several keys, for a rotation) or PEM (PUBLIC KEY or CERTIFICATE blocks). An id is in GATEWAY_CLIENTS or here, not both: a client uses the one method it is registered for.",
    },
    {
      name: 'GATEWAY_SIGNING_KEY_FILE',
      default: '',
      parse: signingKeyFile,
      doc: 'Private key (JWK, or PEM PKCS#8) that signs RFC 9701 introspection answers (Accept: application/token-introspection+jwt); its public half is published at GATEWAY_INTROSPECTION_PATH + /jwks. Empty = those answers are not offered.',
    },
    {
      name: 'GATEWAY_INTROSPECTION_RATE_LIMIT',
      default: '6000',
      parse: count(0),
      doc: 'Introspections per minute per gateway address at GATEWAY_INTROSPECTION_PATH (429 above; shared through Redis); a gateway asks for its users, so this is not RATE_LIMIT_PER_MINUTE. 0 turns it off.',
    },
  ]),
  ...section('Gateway forward-auth', [
    {
      name: 'FORWARD_AUTH_PATH',
      default: '',
      parse: optionalPath,
      doc: "Path of the gateway forward-auth endpoint (nginx auth_request, Envoy ext_authz, Traefik forwardAuth), e.g. /auth, also below it (Envoy's path_prefix); empty = off.",
    },
    {
      name: 'FORWARD_AUTH_TRUSTED_IPS',
      default: '127.0.0.0/8,::1',
      parse: ipList,
      doc: "Comma-separated IPs or CIDRs of the gateways allowed to call FORWARD_AUTH_PATH, matched against the connection's address (never X-Forwarded-For); others get 403.",
    },
    {
      name: 'FORWARD_AUTH_IDENTITY_HEADERS',
      default: 'false',
      parse: bool,
      doc: 'Add X-Auth-Request-User (sub) and X-Auth-Request-Email (email claim, only when email_verified is true) to the forward-auth answer, for the gateway to pass upstream.',
    },
    {
      name: 'FORWARD_AUTH_CACHE_MAX_AGE',
      default: '10',
      parse: seconds(),
      doc: 'Longest time (seconds) a gateway may cache a forward-auth 200 of a `phantom` route (Cache-Control: private, max-age and X-Accel-Expires; never longer than the JWT or the session lives): a logout is honoured by such a gateway within this time, a new cookie at once. Only for a safe method, no Set-Cookie; see docs/phantom-tokens.md for the cache key. 0 = every answer no-store.',
    },
  ]),
  ...section('FusionAuth web SDKs', [
    {
      name: 'FUSIONAUTH_SDK',
      default: 'false',
      parse: bool,
      doc: "Serve the hosted-backend routes FusionAuth's web SDKs call (/app/login/, /app/register/, /app/refresh/, /app/me/, /app/logout/, /account/, each with or without the trailing slash); off by default.",
    },
    {
      name: 'FUSIONAUTH_SDK_CLIENT_ID',
      default: '',
      parse: trimmed,
      doc: 'The clientId the SDK is configured with; a request naming another client_id is refused (400). Empty = OIDC_CLIENT_ID.',
    },
    {
      name: 'FUSIONAUTH_SDK_REDIRECT_URIS',
      default: '',
      parse: list,
      doc: "Comma-separated absolute URLs the SDK may name as redirect_uri or post_logout_redirect_uri (exact match, the SDK's redirectUri / postLogoutRedirectUri); anything else is refused with a 400 page. Required with FUSIONAUTH_SDK=true.",
    },
    {
      name: 'FUSIONAUTH_SDK_ORIGINS',
      default: '',
      parse: list,
      doc: "Comma-separated SPA origins allowed to call the SDK routes with credentials (CORS, and the Origin check of POST /app/refresh/); empty = the origins of FUSIONAUTH_SDK_REDIRECT_URIS. PUBLIC_URL's origin is always allowed.",
    },
    {
      name: 'FUSIONAUTH_SDK_REGISTER_PARAMS',
      default: 'prompt=create',
      parse: authParams,
      doc: 'Extra authorization request parameters of /app/register/ as a query string: prompt=create (OpenID Connect Prompt Create) by default; screen_hint=signup for Auth0, kc_action=register for Keycloak.',
    },
    {
      name: 'FUSIONAUTH_SDK_ACCOUNT_URL',
      default: '',
      parse: optionalUrl,
      doc: "Where GET /account/ (the SDK's manageAccount()) sends the browser, e.g. the IdP's account console; empty = 404.",
    },
    {
      name: 'FUSIONAUTH_SDK_PATH_PREFIX',
      default: '',
      parse: optionalPath,
      doc: "A path in front of every SDK route (e.g. /bff → /bff/app/login/, /bff/account/), for an SDK whose serverUrl names a path; empty = the SDKs' defaults /app/... and /account/. Under BFF_CONFIG a frontend's match.pathPrefix comes first.",
    },
    {
      name: 'FUSIONAUTH_SDK_EXPIRY_COOKIE',
      default: 'app.at_exp',
      parse: sdkCookieName,
      doc: "Name of the JavaScript-readable cookie holding the session's next idle expiry in epoch seconds (the SDK's accessTokenExpireCookieName). Never a token.",
    },
  ]),
  ...section('Rate limits', [
    {
      name: 'RATE_LIMIT_PER_MINUTE',
      default: '300',
      parse: count(0),
      doc: 'Requests per minute per client address to /login, /callback, /refresh and the admin API (429 above; shared by all instances through Redis); 0 turns it off.',
    },
    {
      name: 'LOGIN_MAX_PENDING_PER_CLIENT',
      default: '100',
      parse: count(0),
      doc: 'Login transactions one client address may start per 10 minutes (each is stored until used or 10 minutes old, so at most twice this many are stored for one address); 429 above; 0 turns it off. Raise it when many users share one NAT address.',
    },
  ]),
  ...section('Listeners', [
    { name: 'HOST', default: '0.0.0.0', parse: nonEmpty, doc: 'Address the public listener binds to.' },
    { name: 'PORT', default: '3000', parse: port, doc: 'Port of the public listener.' },
    { name: 'ADMIN_PORT', default: '9090', parse: port, doc: 'Port of the admin listener (metrics, admin API); 0 turns it off.' },
    { name: 'ADMIN_HOST', default: '127.0.0.1', parse: nonEmpty, doc: 'Address the admin listener binds to; never public by default.' },
    { name: 'ADMIN_TOKEN', default: '', parse: text, doc: 'Bearer token of the session admin API; absent = API off.' },
    {
      name: 'TRUST_PROXY',
      default: 'false',
      parse: proxyTrust,
      doc: 'Who may name the client in X-Forwarded-For: false; true or a hop count (every peer is taken for the nearest of that many proxies); or, better, comma-separated IPs or CIDR blocks of the trusted proxies (X-Forwarded-For is read only from them, walked from the right past them).',
    },
    { name: 'SHUTDOWN_TIMEOUT', default: '10', parse: seconds(), doc: 'Seconds in-flight requests get to finish after SIGTERM.' },
  ]),
  ...section('Memory', [
    {
      name: 'HEAP_GROWTH_PERCENT',
      default: '0',
      parse: count(0, 300, 'V8 on its own grows the old generation by at most 300 %, i.e. 4×: more is most likely a typo; 0 leaves it to V8'),
      doc: "How far V8 lets the old generation grow past what its last full garbage collection kept, in per cent, before the next one. Left to itself (0), V8 grows it up to 4× on a machine with much memory, so under load the process holds several times its live data as garbage (see docs/operations.md, Memory). Set (e.g. 50, or 20 in the memory-tight profile of docs/operations.md): RSS nearer the live data, full collections more often, so more CPU per request; 0 (default): V8's own policy. Range 0 to 300 (300 % is V8's own largest growth, 4×: a larger value is most likely a typo).",
    },
  ]),
  ...section('Observability', [
    {
      name: 'LOG_LEVEL',
      default: 'info',
      parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
      doc: 'fatal, error, warn, info, debug, trace or silent.',
    },
    {
      name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
      default: '',
      parse: collectorUrl,
      doc: 'OpenTelemetry: base URL of an OTLP/HTTP collector; spans are sent to <endpoint>/v1/traces. Absent = tracing off (the SDK is not even loaded).',
    },
    { name: 'OTEL_SERVICE_NAME', default: 'oidc-bff', parse: nonEmpty, doc: 'OpenTelemetry: service.name of the exported spans.' },
  ]),
] as const satisfies readonly Setting[];

export type SettingName = (typeof SETTINGS)[number]['name'];

/** The parsed environment: each variable typed by what its row's parser returns. */
export type Env = { readonly [S in (typeof SETTINGS)[number] as S['name']]: z.output<ReturnType<S['parse']>> };

/** Each variable's text, or its default when unset. */
export type RawEnv = Readonly<Record<SettingName, string>>;

export type ReadSettings =
  | { readonly raw: RawEnv; readonly env: Env; readonly problems?: undefined }
  | { readonly raw: RawEnv; readonly env?: undefined; readonly problems: readonly string[] };

/**
 * Reads every row's variable from `source` (and nothing else), parses each with its row's parser,
 * and returns the typed environment, or every field problem at once.
 */
export function readSettings(source: Readonly<Record<string, string | undefined>>): ReadSettings {
  const raw = {} as Record<SettingName, string>;
  const env: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const s of SETTINGS) {
    // An empty variable counts as unset: `.env` files and compose often carry `NAME=`.
    raw[s.name] = source[s.name] || s.default;
    const parsed = s.parse(s.name).safeParse(raw[s.name]);
    if (parsed.success) env[s.name] = parsed.data;
    // A custom issue already names the variable; zod's own (enum, min, regex) get the name in front.
    else for (const i of parsed.error.issues) problems.push(i.code === 'custom' ? i.message : `${s.name}: ${i.message}`);
  }
  return problems.length ? { raw, problems } : { raw, env: env as Env };
}
