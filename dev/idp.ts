// An in-process OpenID provider (oidc-provider) for tests and the dev runner.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { importJWK, SignJWT, type JWK } from 'jose';
import { mtlsConfiguration, mtlsFeature, startMtlsListener, type MtlsOptions } from './idp-mtls.js';
// @ts-expect-error -- oidc-provider ships no type declarations; the slice we use is typed below.
import OidcProvider from 'oidc-provider';
// @ts-expect-error -- the same helper oidc-provider's own grants use to check a DPoP proof (nonce, replay, signature).
import validateDpop from 'oidc-provider/lib/helpers/validate_dpop.js';

export interface IdpClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  token_endpoint_auth_method?: string;
  /** OpenID Connect Back-Channel Logout: where the IdP POSTs logout tokens. */
  backchannel_logout_uri?: string;
  backchannel_logout_session_required?: boolean;
  /** private_key_jwt: the client's public keys. */
  jwks?: { keys: Array<Record<string, unknown>> };
  /** tls_client_auth: the subject DN its certificate must carry, RFC 4514 style (CN=client,O=Org). */
  tls_client_auth_subject_dn?: string;
  /** RFC 9701: introspection answers to this client are signed JWTs when it asks for them (needs IdpOptions.introspection). */
  introspection_signed_response_alg?: string;
}

export interface IdpOptions {
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /**
   * Issuer identifier, when it is not the address the IdP listens on: in a container the IdP
   * listens on 0.0.0.0 while browsers and the BFF know it by a published URL such as
   * http://127.0.0.1:4001. Default: http://<listening address>:<port>.
   */
  issuer?: string;
  clients: IdpClient[];
  interactive?: boolean;
  accessTokenTtl?: number;
  idTokenTtl?: number;
  rotateRefreshToken?: boolean;
  par?: boolean;
  requirePar?: boolean;
  revocation?: boolean;
  endSession?: boolean;
  /** Back-channel logout feature (logout tokens to clients with a backchannel_logout_uri); default true. */
  backchannelLogout?: boolean;
  /** RFC 8707 resource servers the IdP knows: resource indicator → the scopes it accepts. Their access tokens are JWTs. */
  resources?: Record<string, { scope: string }>;
  /**
   * Authentication context classes this IdP offers (acr_values_supported). The automatic login
   * authenticates at the first requested one it offers, and with no acr when none is offered
   * (acr_values is a voluntary request: an IdP may ignore it).
   */
  acrValues?: string[];
  /** RFC 9449: the token endpoint demands DPoP nonces (DPoP itself is always accepted). */
  dpopNonce?: boolean;
  /** The client_credentials grant for the registered clients. */
  clientCredentials?: boolean;
  /** RFC 8693 token exchange (a small custom grant: subject = an access token this IdP issued to the same client). */
  tokenExchange?: boolean;
  /**
   * RFC 8705: a second, https listener asking for client certificates, advertised as the
   * `mtls_endpoint_aliases` of the token, revocation and PAR endpoints (tls_client_auth).
   */
  mtls?: MtlsOptions;
  /** Serve the IdP itself over https with this key and certificate (PEM): the issuer is https://… */
  tls?: { key: string; cert: string };
  /**
   * RFC 7662 introspection (and RFC 9701 signed answers, oidc-provider's own). `jwtBody` and
   * `jwtMember` emulate IdPs that hand out a JWT for an opaque token, signed with this IdP's
   * key: as the body for `Accept: application/jwt` (204 when inactive; Curity's dialect), or as
   * the JSON answer's `jwt` member.
   */
  introspection?: boolean | 'jwtBody' | 'jwtMember';
}

export interface IdpCounts {
  token: number;
  clientCredentials: number;
  tokenExchange: number;
  authorizationCode: number;
  refresh: number;
  revocation: number;
  par: number;
  authorization: number;
  endSession: number;
  /** Introspection requests answered. */
  introspection: number;
  /** Logout tokens delivered (answered 200) and refused by a client's backchannel_logout_uri. */
  backchannelDelivered: number;
  backchannelFailed: number;
}

interface InteractionDetails {
  uid: string;
  prompt: { name: string; details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> } };
  params: Record<string, string | undefined>;
  session?: { accountId?: string };
  grantId?: string;
}

interface Grant {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}

/** The part of oidc-provider's Provider (a Koa app) that this module and its callers use. */
export type Provider = Koa & {
  readonly issuer: string;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: object, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
  Grant: { new (init: { accountId: string; clientId: string }): Grant; find(id: string): Promise<Grant | undefined> };
};

export interface RunningIdp {
  issuer: string;
  port: number;
  provider: Provider;
  counts: IdpCounts;
  issued: Set<string>;
  /** The private signing key (JWK with kid): lets tests forge logout tokens the BFF must accept or refuse. */
  signingKey: Record<string, unknown>;
  /** With IdpOptions.mtls: the https listener's origin, and its requests by oidc-provider route name (token, revocation…). */
  mtls: { origin: string; counts: Record<string, number> } | undefined;
  close(): Promise<void>;
}

// Properties oidc-provider puts on the Koa context of requests its router matched.
type OidcContext = Koa.Context & {
  _matchedRouteName?: string;
  oidc?: { params?: Record<string, unknown> };
};

export const AUTO_INTERACTION_PATH = '/auto-interaction/';

export async function startIdp(options: IdpOptions): Promise<RunningIdp> {
  const interactive = options.interactive ?? false;
  const par = options.par ?? true;

  // The issuer must contain the port, so listen first and attach the provider afterwards.
  const server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }) : http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const issuer = options.issuer ?? `${options.tls ? 'https' : 'http'}://${address.includes(':') ? `[${address}]` : address}:${port}`;

  const mtls = options.mtls ? await startMtlsListener(options.mtls, options.host ?? '127.0.0.1') : undefined;

  const key = signingKey();
  const provider: Provider = new OidcProvider(issuer, {
    ...(mtls ? mtlsConfiguration(mtls.origin) : {}),
    clients: options.clients.map((c) => toClientMetadata(c, grantTypes(options))),
    jwks: { keys: [key] },
    // oidc-provider refuses outgoing calls to special-use addresses (SSRF protection); this
    // IdP only ever runs on loopback for development and tests, where the BFF lives on 127.0.0.1.
    fetch: (url: string, init: RequestInit & { dispatcher?: unknown }) => {
      const { dispatcher: _ssrfGuard, ...rest } = init;
      return globalThis.fetch(url, rest);
    },
    // Our own adapter only to avoid the "in-memory adapter" warning; state is per IdP instance.
    adapter: memoryAdapterFactory(),
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    // Put scope claims into the ID token too (like most hosted IdPs), so a BFF can show the user without /userinfo.
    conformIdTokenClaims: false,
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    acrValues: options.acrValues ?? [],
    responseTypes: ['code'],
    pkce: { required: () => true },
    // The default only issues refresh tokens for offline_access, which it drops unless prompt=consent.
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: options.rotateRefreshToken ?? true,
    findAccount: async (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: async () => account(sub),
    }),
    // Tokens must never reach a browser in this project, so no CORS at all.
    clientBasedCORS: () => false,
    renderError: async (ctx: Koa.Context, out: Record<string, string>) => {
      ctx.type = 'json';
      ctx.body = out;
    },
    // devInteractions replaces interactions.url itself and warns if we set one too.
    ...(interactive
      ? {}
      : {
          interactions: {
            url: (_ctx: unknown, interaction: { uid: string }) => `${AUTO_INTERACTION_PATH}${interaction.uid}`,
          },
        }),
    features: {
      devInteractions: { enabled: interactive },
      ...(mtls ? { mTLS: mtlsFeature() } : {}),
      revocation: {
        enabled: options.revocation ?? true,
        allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId: string }) => token.clientId === client.clientId,
      },
      rpInitiatedLogout: {
        enabled: options.endSession ?? true,
        logoutSource: async (ctx: Koa.Context, form: string) => {
          ctx.type = 'html';
          ctx.body = `<!DOCTYPE html><title>Sign out</title>${form}` + '<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>';
        },
        postLogoutSuccessSource: async (ctx: Koa.Context) => {
          ctx.type = 'html';
          ctx.body = '<!DOCTYPE html><title>Signed out</title><p>Signed out</p>';
        },
      },
      backchannelLogout: { enabled: options.backchannelLogout ?? true },
      introspection: { enabled: !!options.introspection },
      jwtIntrospection: { enabled: !!options.introspection },
      clientCredentials: { enabled: options.clientCredentials ?? false },
      dPoP: {
        enabled: true,
        ...(options.dpopNonce ? { nonceSecret: randomBytes(32), requireNonce: () => true } : {}),
      },
      resourceIndicators: resourceIndicators(options.resources ?? {}),
      pushedAuthorizationRequests: {
        enabled: par || (options.requirePar ?? false),
        requirePushedAuthorizationRequests: options.requirePar ?? false,
      },
    },
    ttl: {
      AccessToken: options.accessTokenTtl ?? 300,
      IdToken: options.idTokenTtl ?? 3600,
      RefreshToken: 24 * 3600,
      AuthorizationCode: 60,
      Session: 24 * 3600,
      Interaction: 600,
      Grant: 24 * 3600,
    },
  });

  const counts: IdpCounts = {
    token: 0,
    clientCredentials: 0,
    tokenExchange: 0,
    authorizationCode: 0,
    refresh: 0,
    revocation: 0,
    par: 0,
    authorization: 0,
    endSession: 0,
    introspection: 0,
    backchannelDelivered: 0,
    backchannelFailed: 0,
  };
  (provider as unknown as NodeJS.EventEmitter).on('backchannel.success', () => counts.backchannelDelivered++);
  (provider as unknown as NodeJS.EventEmitter).on('backchannel.error', () => counts.backchannelFailed++);
  const issued = new Set<string>();

  provider.use(async (koaCtx, next) => {
    await next();
    const ctx = koaCtx as OidcContext;
    switch (ctx._matchedRouteName) {
      case 'authorization':
        counts.authorization++;
        break;
      case 'pushed_authorization_request':
        counts.par++;
        break;
      case 'revocation':
        counts.revocation++;
        break;
      case 'end_session':
        counts.endSession++;
        break;
      case 'introspection':
        counts.introspection++;
        break;
      case 'token': {
        counts.token++;
        const grantType = ctx.oidc?.params?.['grant_type'];
        if (grantType === 'authorization_code') counts.authorizationCode++;
        if (grantType === 'refresh_token') counts.refresh++;
        if (grantType === 'client_credentials') counts.clientCredentials++;
        if (grantType === TOKEN_EXCHANGE) counts.tokenExchange++;
        const body = ctx.body as Record<string, unknown> | undefined;
        for (const name of ['access_token', 'refresh_token', 'id_token']) {
          const token = body?.[name];
          if (typeof token === 'string') issued.add(token);
        }
        break;
      }
      default:
    }
  });

  if (options.introspection === 'jwtBody' || options.introspection === 'jwtMember') provider.use(introspectionJwt(options.introspection, key));
  if (!interactive) provider.use(autoInteraction(provider, options.acrValues));
  if (options.tokenExchange) registerTokenExchange(provider, options.resources ?? {});

  server.on('request', provider.callback());
  const mtlsCounts: Record<string, number> = {};
  if (mtls) {
    provider.use(async (koaCtx, next) => {
      await next();
      const route = (koaCtx as OidcContext)._matchedRouteName;
      if (route && koaCtx.protocol === 'https') mtlsCounts[route] = (mtlsCounts[route] ?? 0) + 1;
    });
    mtls.server.on('request', provider.callback());
  }

  return {
    issuer,
    port,
    provider,
    counts,
    issued,
    signingKey: key,
    mtls: mtls && { origin: mtls.origin, counts: mtlsCounts },
    close: async () => {
      await Promise.all([
        new Promise<void>((resolve, reject) => {
          server.close((err) => (err ? reject(err) : resolve()));
          // Keep-alive sockets from fetch would otherwise hold close() open.
          server.closeAllConnections();
        }),
        mtls?.close(),
      ]);
    },
  };
}

// Logs in as login_hint (or alice) and grants whatever is asked, mirroring lib/actions/interaction.js submit.
export function autoInteraction(provider: Provider, acrValues: readonly string[] = []): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'GET' || !ctx.path.startsWith(AUTO_INTERACTION_PATH)) return next();
    const { prompt, params, session, grantId } = await provider.interactionDetails(ctx.req, ctx.res);
    let result: object;
    if (prompt.name === 'login') {
      const acr = (params['acr_values'] ?? '').split(' ').find((value) => acrValues.includes(value));
      result = { login: { accountId: params['login_hint'] || 'alice', ...(acr ? { acr } : {}) } };
    } else if (prompt.name === 'consent') {
      const grant =
        (grantId && (await provider.Grant.find(grantId))) || new provider.Grant({ accountId: session?.accountId ?? '', clientId: params['client_id'] ?? '' });
      const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '));
      result = { consent: { grantId: await grant.save() } };
    } else {
      return ctx.throw(501, `auto interaction cannot handle prompt ${prompt.name}`);
    }
    await provider.interactionFinished(ctx.req, ctx.res, result, {
      mergeWithLastSubmission: prompt.name !== 'login',
    });
    // interactionFinished already wrote the 303 to the raw response.
    ctx.respond = false;
  };
}

/**
 * The introspection dialects of IdPs that hand out a JWT for an opaque token (from their
 * documentation: Curity answers `Accept: application/jwt` with the JWT as the body and 204
 * when inactive; others add a `jwt` member). oidc-provider answers first; this signs its claims.
 */
function introspectionJwt(mode: 'jwtBody' | 'jwtMember', key: Record<string, unknown>): Koa.Middleware {
  return async (koaCtx, next) => {
    await next();
    const ctx = koaCtx as OidcContext;
    if (ctx._matchedRouteName !== 'introspection' || ctx.status !== 200) return;
    const answer = ctx.body as Record<string, unknown>;
    const wantsJwt = mode === 'jwtBody' && ctx.get('accept') === 'application/jwt';
    if (!answer['active']) {
      if (wantsJwt) ctx.status = 204;
      return;
    }
    const { active: _active, ...claims } = answer;
    const jwt = await new SignJWT({ ...claims, jti: randomBytes(16).toString('base64url') })
      .setProtectedHeader({ alg: 'RS256', kid: key['kid'] as string, typ: 'at+jwt' })
      .sign(await importJWK(key as JWK, 'RS256'));
    if (wantsJwt) {
      ctx.type = 'application/jwt';
      ctx.body = jwt;
    } else if (mode === 'jwtMember') ctx.body = { ...answer, jwt };
  };
}

function grantTypes(options: IdpOptions): string[] {
  return [
    'authorization_code',
    'refresh_token',
    ...(options.clientCredentials ? ['client_credentials'] : []),
    ...(options.tokenExchange ? [TOKEN_EXCHANGE] : []),
  ];
}

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

interface ResourceServerInfo {
  scope: string;
  audience: string;
  accessTokenFormat: 'jwt';
  jwt: { sign: { alg: string } };
}

const resourceServerInfo = (resource: string, scope: string): ResourceServerInfo => ({
  scope,
  audience: resource,
  accessTokenFormat: 'jwt',
  jwt: { sign: { alg: 'RS256' } },
});

// Known resources get JWT access tokens (so a test upstream can verify them offline); unknown ones are refused.
function resourceIndicators(resources: Record<string, { scope: string }>) {
  return {
    enabled: true,
    getResourceServerInfo: async (_ctx: unknown, indicator: string) => {
      const known = resources[indicator];
      if (!known) throw new (OidcProvider as unknown as { errors: { InvalidTarget: new () => Error } }).errors.InvalidTarget();
      return resourceServerInfo(indicator, known.scope);
    },
  };
}

interface ExchangeContext {
  oidc: { params: Record<string, string | undefined>; client: { clientId: string } };
  body: unknown;
}

/**
 * RFC 8693 token exchange, reduced to what the BFF uses: an access token this IdP issued to
 * the same client is exchanged for a JWT access token for the requested audience or resource.
 */
function registerTokenExchange(provider: Provider, resources: Record<string, { scope: string }>): void {
  const { errors } = OidcProvider as unknown as {
    errors: { InvalidGrant: new (m: string) => Error; InvalidTarget: new (m: string) => Error; InvalidRequest: new (m: string) => Error };
  };
  const p = provider as unknown as {
    AccessToken: {
      new (init: object): {
        resourceServer?: unknown;
        scope?: string;
        tokenType: string;
        expiration: number;
        setThumbprint(p: string, v: string): void;
        save(): Promise<string>;
      };
      find(v: string): Promise<{ clientId: string; accountId: string; grantId: string; scope?: string } | undefined>;
    };
    ResourceServer: new (id: string, info: ResourceServerInfo) => unknown;
  };
  const handler = async (ctx: ExchangeContext) => {
    const { subject_token: subjectToken, subject_token_type: subjectType, audience, resource, scope } = ctx.oidc.params;
    if (subjectType !== ACCESS_TOKEN_TYPE || !subjectToken) throw new errors.InvalidRequest('subject_token must be an access token');
    const subject = await p.AccessToken.find(subjectToken);
    if (!subject || subject.clientId !== ctx.oidc.client.clientId) throw new errors.InvalidGrant('subject_token is invalid');
    const target = audience ?? resource ?? '';
    const known = resources[target];
    if (!known) throw new errors.InvalidTarget(`unknown audience ${target}`);
    const dpop = await (validateDpop as (p: Provider, c: ExchangeContext) => Promise<{ thumbprint: string } | undefined>)(provider, ctx);
    const granted = (scope ?? known.scope)
      .split(' ')
      .filter((s) => known.scope.split(' ').includes(s))
      .join(' ');
    const token = new p.AccessToken({ accountId: subject.accountId, client: ctx.oidc.client, grantId: subject.grantId, gty: 'token_exchange', scope: granted });
    token.resourceServer = new p.ResourceServer(target, resourceServerInfo(target, known.scope));
    token.scope = granted;
    if (dpop) token.setThumbprint('jkt', dpop.thumbprint);
    ctx.body = {
      access_token: await token.save(),
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: token.tokenType,
      expires_in: token.expiration,
      scope: granted,
    };
  };
  (provider as unknown as { registerGrantType(n: string, h: typeof handler, p: string[]): void }).registerGrantType(TOKEN_EXCHANGE, handler, [
    'subject_token',
    'subject_token_type',
    'requested_token_type',
    'audience',
    'resource',
    'scope',
  ]);
}

function toClientMetadata(client: IdpClient, grants: string[]): Record<string, unknown> {
  const method = client.token_endpoint_auth_method ?? 'client_secret_basic';
  return {
    client_id: client.client_id,
    ...(SECRETLESS_METHODS.includes(method) ? {} : { client_secret: client.client_secret }),
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    grant_types: grants,
    response_types: ['code'],
    token_endpoint_auth_method: method,
    ...(client.backchannel_logout_uri
      ? {
          backchannel_logout_uri: client.backchannel_logout_uri,
          backchannel_logout_session_required: client.backchannel_logout_session_required ?? true,
        }
      : {}),
    ...(client.jwks ? { jwks: client.jwks } : {}),
    ...(client.tls_client_auth_subject_dn ? { tls_client_auth_subject_dn: client.tls_client_auth_subject_dn } : {}),
    ...(client.introspection_signed_response_alg ? { introspection_signed_response_alg: client.introspection_signed_response_alg } : {}),
  };
}

/** Client authentication methods that use no client_secret (oidc-provider would keep an unused one). */
const SECRETLESS_METHODS = ['none', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'];

export function account(id: string) {
  return {
    sub: id,
    name: id.charAt(0).toUpperCase() + id.slice(1),
    preferred_username: id,
    email: `${id}@example.test`,
    email_verified: true,
  };
}

export function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

// Same contract as oidc-provider's bundled MemoryAdapter, which warns loudly when used.
type Payload = Record<string, unknown> & { grantId?: string; uid?: string; userCode?: string; consumed?: number };

export function memoryAdapterFactory() {
  const store = new Map<string, { payload: Payload; expiresAt: number }>();
  const byGrant = new Map<string, Set<string>>();
  const byUid = new Map<string, string>();
  const byUserCode = new Map<string, string>();
  const live = (key: string | undefined) => {
    const entry = key === undefined ? undefined : store.get(key);
    return entry && entry.expiresAt > Date.now() ? entry.payload : undefined;
  };

  return (model: string) => {
    const key = (id: string) => `${model}:${id}`;
    return {
      async upsert(id: string, payload: Payload, expiresIn?: number) {
        const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
        store.set(key(id), { payload, expiresAt });
        if (payload.grantId) byGrant.set(payload.grantId, (byGrant.get(payload.grantId) ?? new Set()).add(key(id)));
        if (model === 'Session' && payload.uid) byUid.set(payload.uid, id);
        if (payload.userCode) byUserCode.set(payload.userCode, id);
      },
      async find(id: string) {
        return live(key(id));
      },
      async findByUid(uid: string) {
        const id = byUid.get(uid);
        return id && live(key(id));
      },
      async findByUserCode(code: string) {
        const id = byUserCode.get(code);
        return id && live(key(id));
      },
      async consume(id: string) {
        const payload = live(key(id));
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id: string) {
        store.delete(key(id));
      },
      async revokeByGrantId(grantId: string) {
        for (const k of byGrant.get(grantId) ?? []) store.delete(k);
        byGrant.delete(grantId);
      },
    };
  };
}
