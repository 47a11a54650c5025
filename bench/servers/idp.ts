// The bench's OpenID provider, in its own process: oidc-provider like dev/idp.ts, but issuing
// RS256 JWT access tokens for one API resource (features.resourceIndicators), so that the
// upstream can verify every proxied call against the JWKS, and a short first token for the
// refresh storm's users. The shared pieces (adapter, keys, accounts, auto-interaction) are dev/idp.ts's.
//
// Env: BENCH_IDP_REDIRECT_URIS (comma-separated BFF callback URLs), BENCH_CLIENT_ID/SECRET (the
// BFF's client), BENCH_DIRECT_CLIENT_ID/SECRET (a client_credentials client: the token the bare
// hops' load generator sends), BENCH_AUDIENCE (resource indicator = JWT aud), BENCH_STORM_PREFIX
// and BENCH_STORM_TTL (users whose name starts with the prefix get a first access token of that
// many seconds — the refresh storm's expired token; refreshed tokens are long-lived).
// BENCH_SECOND_CLIENT_ID/SECRET and BENCH_SECOND_REDIRECT_URIS (optional): the client of a second
// frontend of a two-frontend BFF_CONFIG, registered apart from the first (its own id and callbacks).
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
// @ts-expect-error -- oidc-provider ships no type declarations; the slice used here is typed below.
import OidcProvider from 'oidc-provider';
import { account, AUTO_INTERACTION_PATH, autoInteraction, memoryAdapterFactory, signingKey, type Provider } from '../../dev/idp.js';
import { answer, exitWith, ready, requiredEnv } from './child.js';

type OidcContext = Koa.Context & { _matchedRouteName?: string; oidc?: { params?: Record<string, unknown> } };
interface TokenLike {
  accountId?: string;
}

const LONG_TTL = 3600;

const redirectUris = requiredEnv('BENCH_IDP_REDIRECT_URIS').split(',').filter(Boolean);
const audience = requiredEnv('BENCH_AUDIENCE');
const stormPrefix = process.env['BENCH_STORM_PREFIX'] || 'storm';
const stormTtl = Number(process.env['BENCH_STORM_TTL'] || 2);
const secondClientId = process.env['BENCH_SECOND_CLIENT_ID'];
const secondRedirectUris = (process.env['BENCH_SECOND_REDIRECT_URIS'] ?? '').split(',').filter(Boolean);

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
      post_logout_redirect_uris: redirectUris.map((u) => `${new URL(u).origin}/logout/callback`),
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
    ...(secondClientId
      ? [
          {
            client_id: secondClientId,
            client_secret: requiredEnv('BENCH_SECOND_CLIENT_SECRET'),
            redirect_uris: secondRedirectUris,
            post_logout_redirect_uris: secondRedirectUris.map((u) => u.replace(/\/callback$/, '/logout/callback')),
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'client_secret_basic',
          },
        ]
      : []),
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
  interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `${AUTO_INTERACTION_PATH}${interaction.uid}` },
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
    case 'authorization':
      counts.authorization++;
      break;
    case 'pushed_authorization_request':
      counts.par++;
      break;
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
exitWith(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
);
ready({ port, issuer });
