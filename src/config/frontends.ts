import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseRouteEntries } from './api-routes.js';
import { parseYaml } from './yaml.js';
import { providerCredentials, type ProviderCredentials } from './provider-credentials.js';
import { authParams, sdkCookieName } from './parsers.js';
import { deepFreeze, PLACEHOLDER, ConfigError, touchEveryMs, type Config, type FrontendIdentity, type FusionAuthSdkConfig } from './load.js';

/**
 * BFF_CONFIG: several frontends (single-page apps) and the identity providers they sign in with,
 * in one deployment. Each frontend becomes a full {@link Config}: the environment's, overlaid
 * with the file's `defaults`, then with the frontend's own fields, so every module keeps taking
 * one Config. This schema is also the documentation (scripts/docs.ts renders its descriptions).
 */

const ID = /^[A-Za-z0-9_]+$/;
const id = z.string().regex(ID, 'must hold letters, digits and _ only');
const absoluteUrl = z.string().refine(isHttpUrl, { message: 'must be an absolute http(s) URL' });
const origin = z.string().refine((raw) => isHttpUrl(raw) && new URL(raw).origin === raw.replace(/\/$/, ''), {
  message: 'must be an origin like https://app.example.com',
});
const seconds = (min: number) => z.number().int().min(min, `must be a whole number of seconds >= ${min}`);

export const providerSchema = z
  .strictObject({
    issuer: absoluteUrl.describe('Issuer identifier; metadata is discovered from it (http only with OIDC_ALLOW_HTTP=true).'),
    clientId: z.string().min(1).describe('Client id registered at this provider.'),
    clientSecret: z.string().min(1).optional().describe('Client secret (required with client_secret_basic and client_secret_post).'),
    clientAuth: z
      .enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'none'])
      .default('client_secret_basic')
      .describe(
        'Client authentication at the token, revocation and PAR endpoints: client_secret_basic (default), client_secret_post, private_key_jwt, tls_client_auth or none (as OIDC_CLIENT_AUTH).',
      ),
    clientKeyFile: z
      .string()
      .min(1)
      .optional()
      .describe('private_key_jwt: file of the private key (JWK, or PEM PKCS#8) that signs client assertions (as OIDC_CLIENT_KEY_FILE).'),
    clientKeyId: z
      .string()
      .min(1)
      .optional()
      .describe("private_key_jwt: kid of the assertion header; default the JWK's kid, else the key's RFC 7638 thumbprint (as OIDC_CLIENT_KEY_ID)."),
    clientAssertionAudience: z
      .enum(['issuer', 'token_endpoint'])
      .default('issuer')
      .describe("private_key_jwt: the assertion's aud, issuer (default) or token_endpoint (as OIDC_CLIENT_ASSERTION_AUDIENCE)."),
    clientCertFile: z
      .string()
      .min(1)
      .optional()
      .describe('tls_client_auth: PEM file of the client certificate (chain, leaf first) presented to this provider (as OIDC_CLIENT_CERT_FILE).'),
    clientCertKeyFile: z
      .string()
      .min(1)
      .optional()
      .describe("tls_client_auth: PEM file of the client certificate's private key (as OIDC_CLIENT_CERT_KEY_FILE)."),
    scopes: z.string().min(1).optional().describe('Scopes of the authorization request (default OIDC_SCOPES).'),
    authParams: z.record(z.string(), z.string()).optional().describe('Extra parameters of every authorization request, name → value.'),
    displayName: z.string().min(1).optional().describe('Name shown on the chooser page (default the id).'),
    logoUrl: absoluteUrl.optional().describe('Logo shown on the chooser page.'),
  })
  .describe('An identity provider, declared once and referenced by frontends.');

const PREFIX = /^(?:\/[A-Za-z0-9._~-]+)+$/;
const pathPrefix = z
  .string()
  .regex(PREFIX, 'must be a path like /app (no trailing slash, no . or .. segment)')
  .refine((p) => !/\/\.{1,2}(?:\/|$)/.test(p), 'must not hold a . or .. segment');

/** The FUSIONAUTH_SDK_* settings of one frontend; what it leaves out comes from the environment's. */
export const fusionAuthSdkSchema = z
  .strictObject({
    enabled: z.boolean().optional().describe('Serve the SDK routes for this frontend (default FUSIONAUTH_SDK).'),
    clientId: z
      .string()
      .min(1)
      .optional()
      .describe("The clientId the SDK is configured with (default FUSIONAUTH_SDK_CLIENT_ID, else the provider's clientId)."),
    redirectUris: z
      .array(absoluteUrl.refine((u) => !isHttpUrl(u) || !new URL(u).hash, 'must not hold a fragment'))
      .min(1)
      .optional()
      .describe('The redirect_uri / post_logout_redirect_uri values the SDK may name, exactly (default FUSIONAUTH_SDK_REDIRECT_URIS; required when on).'),
    origins: z
      .array(origin)
      .optional()
      .describe('SPA origins allowed to call with credentials (default the origins of redirectUris); publicUrl is always allowed.'),
    registerParams: authParams('registerParams')
      .optional()
      .describe('Extra parameters of /app/register/ as a query string (default FUSIONAUTH_SDK_REGISTER_PARAMS).'),
    accountUrl: absoluteUrl.optional().describe('Where /account/ sends the browser (default FUSIONAUTH_SDK_ACCOUNT_URL).'),
    expiryCookie: sdkCookieName('expiryCookie').optional().describe('Name of the JavaScript-readable expiry cookie (default FUSIONAUTH_SDK_EXPIRY_COOKIE).'),
    pathPrefix: pathPrefix.optional().describe("A path between match.pathPrefix and the SDK's /app/... and /account (default FUSIONAUTH_SDK_PATH_PREFIX)."),
  })
  .describe(
    "FusionAuth's web SDKs (docs/fusionauth-sdks.md): this frontend's block replaces the one in defaults, and overlays the environment's FUSIONAUTH_SDK_*.",
  );

/** What a frontend may set, and `defaults` may set for every frontend. */
export const frontendFieldsSchema = z.strictObject({
  publicUrl: origin.optional().describe("The frontend's origin as the browser sees it (default PUBLIC_URL); redirect_uri = origin + prefix + CALLBACK_PATH."),
  provider: id.optional().describe('The id of the identity provider this frontend signs in with (this or providers is required, here or in defaults).'),
  providers: z
    .array(id)
    .min(1)
    .optional()
    .describe('Several identity providers, in the order a chooser page lists them: /login?idp=<id> picks one; /login alone shows the chooser.'),
  cookieName: z
    .string()
    .regex(ID, 'must hold letters, digits and _ only')
    .optional()
    .describe('Base name of its cookies (default SESSION_COOKIE_NAME + "_" + frontend id); unique across frontends.'),
  sameSite: z.enum(['lax', 'strict']).optional().describe('SameSite of its cookies (default SESSION_COOKIE_SAMESITE).'),
  apiRoutes: z.array(z.unknown()).optional().describe('Its upstream APIs under API_PATH: entries as in an API_ROUTES file (docs/api-routes.md).'),
  allowedReturnToOrigins: z.array(origin).optional().describe('Other origins returnTo may name (default ALLOWED_RETURN_TO_ORIGINS).'),
  postLogoutRedirectUri: absoluteUrl.optional().describe('Where the browser lands after logout (default its origin + prefix + /).'),
  sessionIdleTimeout: seconds(60).optional().describe('Seconds of inactivity after which a session ends (default SESSION_IDLE_TIMEOUT).'),
  sessionMaxAge: seconds(60).optional().describe('Seconds after login after which a session ends (default SESSION_MAX_AGE).'),
  fusionAuthSdk: fusionAuthSdkSchema
    .optional()
    .describe("Its FusionAuth web SDK routes (see `fusionAuthSdk` below): replaces the block in defaults, overlays the environment's FUSIONAUTH_SDK_*."),
});

export const matchSchema = z
  .strictObject({
    host: z
      .string()
      .regex(/^(?:\*|[A-Za-z0-9.[\]:-]+)$/, 'must be host[:port] or *')
      .optional()
      .describe("The Host header it answers, host[:port] as the browser sends it (default publicUrl's); * = any host."),
    pathPrefix: pathPrefix.optional().describe('A path prefix: every route of the frontend (login, callback, API…) lies under it, and so do its cookies.'),
  })
  .describe('How a request is matched to the frontend; the most specific match wins (a named host before *, then the longest prefix).');

export const frontendSchema = frontendFieldsSchema.extend({ match: matchSchema.default({}) });

export const fileSchema = z.strictObject({
  defaults: frontendFieldsSchema.optional().describe('Any frontend field, for every frontend that does not set it.'),
  providers: z.record(id, providerSchema).describe('Identity providers by id.'),
  frontends: z.record(id, frontendSchema).describe('Frontends by id (at least one).'),
});

export type FrontendsFile = z.output<typeof fileSchema>;

/**
 * Reads BFF_CONFIG (JSON, or YAML by extension) and derives one Config per frontend, in the
 * order written. @throws ConfigError with every problem found, not only the first.
 */
export function loadFrontends(base: Config, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): Config[] {
  const file = base.frontendsFile;
  if (!file) return [base];
  let document: unknown;
  try {
    const raw = readFile(file);
    document = /\.ya?ml$/i.test(file) ? parseYaml(raw) : JSON.parse(raw);
  } catch (err) {
    // JSON.parse quotes the text around the error, which may be a client secret: never repeat its message.
    const position = err instanceof SyntaxError ? / at position \d+/.exec(err.message)?.[0] : undefined;
    const reason =
      (err as NodeJS.ErrnoException).code ?? (err instanceof SyntaxError ? `not valid JSON${position ?? ''}` : (err as Error).message.split('\n')[0]);
    throw new ConfigError([`BFF_CONFIG: cannot read ${file} (${reason})`]);
  }
  return frontendConfigs(base, document);
}

/** The frontends of a parsed BFF_CONFIG document. @throws ConfigError with every problem. */
export function frontendConfigs(base: Config, document: unknown): Config[] {
  const parsed = fileSchema.safeParse(document);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `BFF_CONFIG ${i.path.join('.') || '(file)'}: ${i.message}`));
  const { defaults = {}, providers, frontends } = parsed.data;
  const problems: string[] = [];
  const configs: Config[] = [];
  if (Object.keys(frontends).length === 0) problems.push('BFF_CONFIG frontends: list at least one frontend');
  const credentials = new Map<string, Credentials>();
  for (const [name, provider] of Object.entries(providers)) {
    const read = providerCredentials(`BFF_CONFIG providers.${name}`, provider, base.oidc.tls.extraCa);
    problems.push(...read.problems);
    // A provider with bad credentials is reported here; its frontends are still derived (without
    // them), so that their own problems and collisions are listed too. The file is refused anyway.
    credentials.set(
      name,
      'tls' in read
        ? read
        : { problems: [], clientSecret: undefined, assertionKey: undefined, tls: { extraCa: base.oidc.tls.extraCa, clientCertificate: undefined } },
    );
    if (new URL(provider.issuer).protocol === 'http:' && !base.oidc.allowHttp)
      problems.push(`BFF_CONFIG providers.${name}: an http issuer needs OIDC_ALLOW_HTTP=true`);
  }
  const cookieBase = (name: string) => frontends[name]!.cookieName ?? defaults.cookieName ?? `${base.session.cookieBase}_${name}`;
  // A frontend of several providers keeps one session per provider: <base>_<provider id>.
  const cookieBases = Object.entries(frontends).flatMap(([name, f]) => {
    const list = f.providers ?? defaults.providers;
    return list && list.length > 1 && !f.provider ? list.map((p) => `${cookieBase(name)}_${p}`) : [cookieBase(name)];
  });
  for (const [name, own] of Object.entries(frontends)) {
    const at = `BFF_CONFIG frontends.${name}`;
    const before = problems.length;
    const f = { ...defaults, ...own };
    const chosen = f.providers ?? (f.provider ? [f.provider] : []);
    if (own.provider && own.providers) problems.push(`${at}: set provider or providers, not both`);
    if (chosen.length === 0) problems.push(`${at}: provider (or providers) is required (here or in defaults)`);
    for (const p of chosen) if (!providers[p]) problems.push(`${at}: provider "${p}" is not declared under providers`);
    if (new Set(chosen).size !== chosen.length) problems.push(`${at}: providers lists a provider twice`);
    if (!f.publicUrl && base.publicOrigin === PLACEHOLDER) problems.push(`${at}: publicUrl is required (here, in defaults, or as PUBLIC_URL)`);
    if (!f.apiRoutes && base.api.routes.some((r) => r.upstream.href.startsWith(PLACEHOLDER))) {
      problems.push(`${at}: apiRoutes is required (here, in defaults, or as API_UPSTREAM/API_ROUTES)`);
    }
    const idle = (f.sessionIdleTimeout ?? base.session.idleTimeoutMs / 1000) * 1000;
    const maxAge = (f.sessionMaxAge ?? base.session.maxAgeMs / 1000) * 1000;
    if (maxAge < idle) problems.push(`${at}: sessionMaxAge must not be shorter than sessionIdleTimeout`);
    if (sdkOn(base, f) && !(f.fusionAuthSdk?.redirectUris ?? base.fusionAuthSdk?.redirectUris)?.length) {
      problems.push(`${at}: fusionAuthSdk.redirectUris is required when the SDK routes are on (here, in defaults, or as FUSIONAUTH_SDK_REDIRECT_URIS)`);
    }
    const prefix = own.match.pathPrefix ?? '';
    const defaultsFor = { apiPath: prefix + base.paths.api, timeoutMs: base.api.routeTimeoutMs, maxBodyBytes: base.api.routeMaxBodyBytes, dpop: base.api.dpop };
    // Routes are written relative to API_PATH's own value, as in API_ROUTES; the prefix goes in front.
    const routes =
      f.apiRoutes &&
      parseRouteEntries(
        f.apiRoutes.map((r) => withPrefix(r, prefix)),
        defaultsFor,
        `${at} apiRoutes`,
      );
    if (routes) problems.push(...routes.problems);
    // A frontend with problems of its own is not derived; the others still are, so collisions are reported too.
    if (chosen.length === 0 || problems.length > before) continue;
    const identity = { id: name, host: own.match.host ?? '', pathPrefix: prefix, providers: chosen, cookieBases };
    const unitRoutes = routes?.routes ?? prefixRoutes(base, prefix);
    // Each provider keeps its sessions (and the handles made for them) under its own keys, and the
    // frontend's introspection endpoint answers for its first provider only: a handle of another
    // would always be inactive there.
    if (chosen.length > 1 && unitRoutes.some((r) => r.handle)) {
      problems.push(`${at}: a route with handle needs a frontend of one provider (give each provider its own frontend)`);
      continue;
    }
    for (const p of chosen) {
      const provider = { ...providers[p]!, ...credentials.get(p)! };
      const shown = { providerId: p, providerName: provider.displayName ?? p, providerLogoUrl: provider.logoUrl };
      configs.push(derive(base, { ...identity, ...shown }, f, provider, unitRoutes, idle, maxAge, cookieBase(name)));
    }
  }
  problems.push(...collisions(configs));
  if (problems.length) throw new ConfigError(problems);
  return configs;
}

type Fields = z.output<typeof frontendFieldsSchema>;
type Credentials = Extract<ProviderCredentials, { tls: unknown }>;
type Provider = z.output<typeof providerSchema> & Credentials;

function derive(
  base: Config,
  identity: FrontendIdentity,
  f: Fields,
  provider: Provider,
  routes: Config['api']['routes'],
  idleTimeoutMs: number,
  maxAgeMs: number,
  cookieBase: string,
): Config {
  const prefix = identity.pathPrefix;
  const publicOrigin = f.publicUrl ? new URL(f.publicUrl).origin : base.publicOrigin;
  const publicUrl = new URL(publicOrigin);
  const moved = Object.fromEntries(Object.entries(base.paths).map(([k, v]) => [k, prefix + v])) as unknown as Config['paths'];
  // Several providers: each its own redirect URI (which also tells apart whose response it is,
  // RFC 9207's mix-up defence), logout return and back-channel endpoint; one session per provider.
  const several = identity.providers.length > 1;
  const own = (path: string) => (several ? `${path}/${identity.providerId}` : path);
  const paths = { ...moved, callback: own(moved.callback), logoutCallback: own(moved.logoutCallback), backchannelLogout: own(moved.backchannelLogout) };

  // The Host header the browser sends for the frontend's origin, unless the file names another (or *).
  const frontend: FrontendIdentity = { ...identity, host: (identity.host || publicUrl.host).toLowerCase() };
  return deepFreeze<Config>({
    ...base,
    publicUrl,
    publicOrigin,
    secure: publicUrl.protocol === 'https:',
    oidc: {
      ...base.oidc,
      issuer: new URL(provider.issuer),
      clientId: provider.clientId,
      clientSecret: provider.clientSecret,
      clientAuth: provider.clientAuth,
      assertionKey: provider.assertionKey,
      // The environment's OIDC_CA_FILE, and this provider's own client certificate (never the environment's).
      tls: provider.tls,
      scopes: provider.scopes ? provider.scopes.split(/\s+/).join(' ') : base.oidc.scopes,
      authParams: provider.authParams ? Object.entries(provider.authParams) : base.oidc.authParams,
      redirectUri: publicOrigin + paths.callback,
      postLogoutRedirectUri: f.postLogoutRedirectUri ?? `${publicOrigin}${prefix}/`,
      logoutCallbackUri: publicOrigin + paths.logoutCallback,
    },
    api: { ...base.api, routes: [...routes].sort((a, b) => b.path.length - a.path.length) },
    session: {
      ...base.session,
      idleTimeoutMs,
      maxAgeMs,
      touchEveryMs: touchEveryMs(idleTimeoutMs),
      cookieBase: several ? `${cookieBase}_${identity.providerId}` : cookieBase,
      sameSite: f.sameSite ?? base.session.sameSite,
    },
    // Keys of each frontend apart: a session id of one is no key of another, even on one Redis.
    redis: { ...base.redis, keyPrefix: `${base.redis.keyPrefix}${identity.id}:${several ? `${identity.providerId}:` : ''}` },
    paths,
    allowedReturnToOrigins: (f.allowedReturnToOrigins ?? base.allowedReturnToOrigins).map((o) => new URL(o).origin),
    forwardAuth: { ...base.forwardAuth, path: base.forwardAuth.path && prefix + base.forwardAuth.path },
    // Under the prefix like every other route: a prefix-matched frontend is only reached there.
    gatewayIntrospection: { ...base.gatewayIntrospection, path: base.gatewayIntrospection.path && prefix + base.gatewayIntrospection.path },
    fusionAuthSdk: sdkOf(base, f, provider, publicOrigin, prefix),
    frontend,
  });
}

const sdkOn = (base: Config, f: Fields): boolean => f.fusionAuthSdk?.enabled ?? base.fusionAuthSdk !== undefined;

/**
 * The frontend's FusionAuth SDK settings: its own block over the environment's, under its
 * prefix, and its own origin always allowed (the environment's PUBLIC_URL is not its origin).
 */
function sdkOf(base: Config, f: Fields, provider: Provider, publicOrigin: string, prefix: string): FusionAuthSdkConfig | undefined {
  if (!sdkOn(base, f)) return undefined;
  const own = f.fusionAuthSdk ?? {};
  const env = base.fusionAuthSdk;
  const redirectUris = own.redirectUris ? own.redirectUris.map((u) => new URL(u).href) : (env?.redirectUris ?? []);
  const origins = own.origins?.map((o) => new URL(o).origin) ?? (own.redirectUris ? redirectUris.map((u) => new URL(u).origin) : (env?.origins ?? []));
  // The environment's client id is the environment's provider's unless FUSIONAUTH_SDK_CLIENT_ID named another.
  const envClientId = env && env.clientId !== base.oidc.clientId ? env.clientId : undefined;
  return {
    clientId: own.clientId ?? envClientId ?? provider.clientId,
    redirectUris,
    origins: [...new Set([publicOrigin, ...origins.filter((o) => o !== base.publicOrigin)])],
    registerParams: own.registerParams ?? env?.registerParams ?? [['prompt', 'create']],
    accountUrl: own.accountUrl ? new URL(own.accountUrl).href : env?.accountUrl,
    expiryCookie: own.expiryCookie ?? env?.expiryCookie ?? 'app.at_exp',
    pathPrefix: prefix + (own.pathPrefix ?? env?.pathPrefix ?? ''),
  };
}

/** The environment's routes, moved under the frontend's prefix. */
function prefixRoutes(base: Config, prefix: string): Config['api']['routes'] {
  return base.api.routes.map((r) => ({ ...r, path: prefix + r.path }));
}

function withPrefix(entry: unknown, prefix: string): unknown {
  if (!prefix || typeof entry !== 'object' || entry === null || typeof (entry as { path?: unknown }).path !== 'string') return entry;
  return { ...entry, path: prefix + (entry as { path: string }).path };
}

/** Two frontends must not answer the same requests, nor share cookie names. */
function collisions(configs: readonly Config[]): string[] {
  const problems: string[] = [];
  const matches = new Map<string, string>();
  const cookies = new Map<string, string>();
  for (const c of configs) {
    const f = c.frontend!;
    const key = `${f.host.toLowerCase()} ${f.pathPrefix}`;
    const other = matches.get(key);
    if (other && other !== f.id) problems.push(`BFF_CONFIG frontends.${f.id}: matches the same host and prefix as frontends.${other}`);
    matches.set(key, f.id);
    const owner = cookies.get(c.session.cookieBase);
    if (owner && owner !== f.id) problems.push(`BFF_CONFIG frontends.${f.id}: cookieName ${c.session.cookieBase} is also used by frontends.${owner}`);
    cookies.set(c.session.cookieBase, f.id);
  }
  return problems;
}

function isHttpUrl(raw: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(raw).protocol);
  } catch {
    return false;
  }
}
