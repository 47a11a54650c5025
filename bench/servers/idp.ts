// The bench's OpenID provider, in its own process: oidc-provider like dev/idp.ts, but issuing
// RS256 JWT access tokens for one API resource (features.resourceIndicators), so that the
// upstream can verify every proxied call against the JWKS. dev/idp.ts has no option for that,
// so the minimal pieces are repeated here.
//
// Env: BENCH_IDP_REDIRECT_URIS (comma-separated BFF callback URLs), BENCH_CLIENT_ID/SECRET (the
// BFF's client), BENCH_DIRECT_CLIENT_ID/SECRET (a client_credentials client: the token the bare
// hops' load generator sends), BENCH_AUDIENCE (resource indicator = JWT aud), BENCH_STORM_PREFIX
// and BENCH_STORM_TTL (users whose name starts with the prefix get a first access token of that
// many seconds — the refresh storm's expired token; refreshed tokens are long-lived).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
// @ts-expect-error -- oidc-provider ships no type declarations; the slice used here is typed below.
import OidcProvider from 'oidc-provider';
import { answer, exitWith, ready, requiredEnv } from './child.js';

interface InteractionDetails {
  prompt: {
    name: string;
    details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  };
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
type Provider = Koa & {
  interactionDetails(req: http.IncomingMessage, res: http.ServerResponse): Promise<InteractionDetails>;
  interactionFinished(req: http.IncomingMessage, res: http.ServerResponse, result: object, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
  Grant: { new (init: { accountId: string; clientId: string }): Grant; find(id: string): Promise<Grant | undefined> };
};
type OidcContext = Koa.Context & { _matchedRouteName?: string; oidc?: { params?: Record<string, unknown> } };
interface TokenLike { accountId?: string }

const AUTO = '/auto-interaction/';
const LONG_TTL = 3600;

const redirectUris = requiredEnv('BENCH_IDP_REDIRECT_URIS').split(',').filter(Boolean);
const audience = requiredEnv('BENCH_AUDIENCE');
const stormPrefix = process.env['BENCH_STORM_PREFIX'] || 'storm';
const stormTtl = Number(process.env['BENCH_STORM_TTL'] || 2);

const server = http.createServer();
server.keepAliveTimeout = 65_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;
const issuer = `http://127.0.0.1:${port}`;

const counts = { authorization: 0, par: 0, token: 0, authorizationCode: 0, refresh: 0, clientCredentials: 0, errors: 0 };

const provider: Provider = new OidcProvider(issuer, {
  clients: [
    {
      client_id: requiredEnv('BENCH_CLIENT_ID'),
      client_secret: requiredEnv('BENCH_CLIENT_SECRET'),
      redirect_uris: redirectUris,
      post_logout_redirect_uris: redirectUris.map((u) => `${new URL(u).origin}/`),
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: requiredEnv('BENCH_DIRECT_CLIENT_ID'),
      client_secret: requiredEnv('BENCH_DIRECT_CLIENT_SECRET'),
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey()] },
  adapter: memoryAdapterFactory(),
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'] },
  conformIdTokenClaims: false,
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  responseTypes: ['code'],
  pkce: { required: () => true },
  issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => account(sub) }),
  clientBasedCORS: () => false,
  renderError: async (ctx: Koa.Context, out: Record<string, string>) => {
    ctx.type = 'json';
    ctx.body = out;
  },
  interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `${AUTO}${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    pushedAuthorizationRequests: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Every request that names no resource is for the bench API; its tokens are JWTs.
      defaultResource: async () => audience,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx: unknown, resource: string) => {
        if (resource !== audience) throw new Error(`unknown resource ${resource}`);
        return { scope: 'api', audience, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
  ttl: {
    AccessToken: (ctx: OidcContext, token: TokenLike) =>
      token.accountId?.startsWith(stormPrefix) && ctx.oidc?.params?.['grant_type'] === 'authorization_code' ? stormTtl : LONG_TTL,
    ClientCredentials: LONG_TTL,
    IdToken: LONG_TTL,
    RefreshToken: 24 * 3600,
    AuthorizationCode: 60,
    Session: 24 * 3600,
    Interaction: 600,
    Grant: 24 * 3600,
  },
});

provider.use(async (koaCtx, next) => {
  await next();
  const ctx = koaCtx as OidcContext;
  if (ctx.status >= 400) counts.errors++;
  switch (ctx._matchedRouteName) {
    case 'authorization': counts.authorization++; break;
    case 'pushed_authorization_request': counts.par++; break;
    case 'token': {
      counts.token++;
      const grantType = ctx.oidc?.params?.['grant_type'];
      if (grantType === 'authorization_code') counts.authorizationCode++;
      if (grantType === 'refresh_token') counts.refresh++;
      if (grantType === 'client_credentials') counts.clientCredentials++;
      break;
    }
    default:
  }
});
provider.use(autoInteraction(provider));
provider.on('server_error', (_ctx: unknown, err: Error) => process.stderr.write(`idp server_error: ${err.stack ?? err.message}\n`));
server.on('request', provider.callback());

answer({ counts: () => ({ ...counts }) });
exitWith(() => new Promise<void>((resolve) => {
  server.close(() => resolve());
  server.closeAllConnections();
}));
ready({ port, issuer });

// Logs in as login_hint (or alice) and grants what is asked, OIDC and resource scopes alike.
function autoInteraction(p: Provider): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'GET' || !ctx.path.startsWith(AUTO)) return next();
    const { prompt, params, session, grantId } = await p.interactionDetails(ctx.req, ctx.res);
    let result: object;
    if (prompt.name === 'login') {
      result = { login: { accountId: params['login_hint'] || 'alice' } };
    } else if (prompt.name === 'consent') {
      const grant = (grantId && await p.Grant.find(grantId))
        || new p.Grant({ accountId: session?.accountId ?? '', clientId: params['client_id'] ?? '' });
      const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '));
      result = { consent: { grantId: await grant.save() } };
    } else {
      return ctx.throw(501, `auto interaction cannot handle prompt ${prompt.name}`);
    }
    await p.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: prompt.name !== 'login' });
    ctx.respond = false;
  };
}

function account(id: string) {
  return { sub: id, name: id, preferred_username: id, email: `${id}@example.test`, email_verified: true };
}

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

// The contract of oidc-provider's MemoryAdapter (which warns when used), with expiry.
type Payload = Record<string, unknown> & { grantId?: string; uid?: string; userCode?: string; consumed?: number };
function memoryAdapterFactory() {
  const store = new Map<string, { payload: Payload; expiresAt: number }>();
  const byGrant = new Map<string, Set<string>>();
  const byUid = new Map<string, string>();
  const live = (key: string | undefined) => {
    const entry = key === undefined ? undefined : store.get(key);
    return entry && entry.expiresAt > Date.now() ? entry.payload : undefined;
  };
  return (model: string) => {
    const key = (id: string) => `${model}:${id}`;
    return {
      async upsert(id: string, payload: Payload, expiresIn?: number) {
        store.set(key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
        if (payload.grantId) byGrant.set(payload.grantId, (byGrant.get(payload.grantId) ?? new Set()).add(key(id)));
        if (model === 'Session' && payload.uid) byUid.set(payload.uid, id);
      },
      async find(id: string) { return live(key(id)); },
      async findByUid(uid: string) { const id = byUid.get(uid); return id && live(key(id)); },
      async findByUserCode() { return undefined; },
      async consume(id: string) {
        const payload = live(key(id));
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id: string) { store.delete(key(id)); },
      async revokeByGrantId(grantId: string) {
        for (const k of byGrant.get(grantId) ?? []) store.delete(k);
        byGrant.delete(grantId);
      },
    };
  };
}
