// An in-process OpenID provider (oidc-provider) for tests and the dev runner.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
// @ts-expect-error -- oidc-provider ships no type declarations; the slice we use is typed below.
import OidcProvider from 'oidc-provider';

export interface IdpClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  token_endpoint_auth_method?: string;
  /** OpenID Connect Back-Channel Logout: where the IdP POSTs logout tokens. */
  backchannel_logout_uri?: string;
  backchannel_logout_session_required?: boolean;
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
}

export interface IdpCounts {
  token: number;
  authorizationCode: number;
  refresh: number;
  revocation: number;
  par: number;
  authorization: number;
  endSession: number;
  /** Logout tokens delivered (answered 200) and refused by a client's backchannel_logout_uri. */
  backchannelDelivered: number;
  backchannelFailed: number;
}

interface InteractionDetails {
  uid: string;
  prompt: { name: string; details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[] } };
  params: Record<string, string | undefined>;
  session?: { accountId?: string };
  grantId?: string;
}

interface Grant {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  save(): Promise<string>;
}

/** The part of oidc-provider's Provider (a Koa app) that this module and its callers use. */
export type Provider = Koa & {
  readonly issuer: string;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: object,
    options?: { mergeWithLastSubmission?: boolean },
  ): Promise<void>;
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
  close(): Promise<void>;
}

// Properties oidc-provider puts on the Koa context of requests its router matched.
type OidcContext = Koa.Context & {
  _matchedRouteName?: string;
  oidc?: { params?: Record<string, unknown> };
};

const AUTO_INTERACTION_PATH = '/auto-interaction/';

export async function startIdp(options: IdpOptions): Promise<RunningIdp> {
  const interactive = options.interactive ?? false;
  const par = options.par ?? true;

  // The issuer must contain the port, so listen first and attach the provider afterwards.
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const issuer = options.issuer ?? `http://${address.includes(':') ? `[${address}]` : address}:${port}`;

  const key = signingKey();
  const provider: Provider = new OidcProvider(issuer, {
    clients: options.clients.map(toClientMetadata),
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
    responseTypes: ['code'],
    pkce: { required: () => true },
    // The default only issues refresh tokens for offline_access, which it drops unless prompt=consent.
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) =>
      client.grantTypeAllowed('refresh_token'),
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
    ...(interactive ? {} : {
      interactions: {
        url: (_ctx: unknown, interaction: { uid: string }) => `${AUTO_INTERACTION_PATH}${interaction.uid}`,
      },
    }),
    features: {
      devInteractions: { enabled: interactive },
      revocation: {
        enabled: options.revocation ?? true,
        allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId: string }) =>
          token.clientId === client.clientId,
      },
      rpInitiatedLogout: {
        enabled: options.endSession ?? true,
        logoutSource: async (ctx: Koa.Context, form: string) => {
          ctx.type = 'html';
          ctx.body = `<!DOCTYPE html><title>Sign out</title>${form}`
            + '<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>';
        },
        postLogoutSuccessSource: async (ctx: Koa.Context) => {
          ctx.type = 'html';
          ctx.body = '<!DOCTYPE html><title>Signed out</title><p>Signed out</p>';
        },
      },
      backchannelLogout: { enabled: options.backchannelLogout ?? true },
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
    token: 0, authorizationCode: 0, refresh: 0, revocation: 0, par: 0, authorization: 0, endSession: 0,
    backchannelDelivered: 0, backchannelFailed: 0,
  };
  (provider as unknown as NodeJS.EventEmitter).on('backchannel.success', () => counts.backchannelDelivered++);
  (provider as unknown as NodeJS.EventEmitter).on('backchannel.error', () => counts.backchannelFailed++);
  const issued = new Set<string>();

  provider.use(async (koaCtx, next) => {
    await next();
    const ctx = koaCtx as OidcContext;
    switch (ctx._matchedRouteName) {
      case 'authorization': counts.authorization++; break;
      case 'pushed_authorization_request': counts.par++; break;
      case 'revocation': counts.revocation++; break;
      case 'end_session': counts.endSession++; break;
      case 'token': {
        counts.token++;
        const grantType = ctx.oidc?.params?.['grant_type'];
        if (grantType === 'authorization_code') counts.authorizationCode++;
        if (grantType === 'refresh_token') counts.refresh++;
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

  if (!interactive) provider.use(autoInteraction(provider));

  server.on('request', provider.callback());

  return {
    issuer,
    port,
    provider,
    counts,
    issued,
    signingKey: key,
    close: () => new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      // Keep-alive sockets from fetch would otherwise hold close() open.
      server.closeAllConnections();
    }),
  };
}

// Logs in as login_hint (or alice) and grants whatever is asked, mirroring lib/actions/interaction.js submit.
function autoInteraction(provider: Provider): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'GET' || !ctx.path.startsWith(AUTO_INTERACTION_PATH)) return next();
    const { prompt, params, session, grantId } = await provider.interactionDetails(ctx.req, ctx.res);
    let result: object;
    if (prompt.name === 'login') {
      result = { login: { accountId: params['login_hint'] || 'alice' } };
    } else if (prompt.name === 'consent') {
      const grant = (grantId && await provider.Grant.find(grantId))
        || new provider.Grant({ accountId: session?.accountId ?? '', clientId: params['client_id'] ?? '' });
      const { missingOIDCScope, missingOIDCClaims } = prompt.details;
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
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

function toClientMetadata(client: IdpClient): Record<string, unknown> {
  const method = client.token_endpoint_auth_method ?? 'client_secret_basic';
  return {
    client_id: client.client_id,
    ...(method === 'none' ? {} : { client_secret: client.client_secret }),
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: method,
    ...(client.backchannel_logout_uri ? {
      backchannel_logout_uri: client.backchannel_logout_uri,
      backchannel_logout_session_required: client.backchannel_logout_session_required ?? true,
    } : {}),
  };
}

function account(id: string) {
  return {
    sub: id,
    name: id.charAt(0).toUpperCase() + id.slice(1),
    preferred_username: id,
    email: `${id}@example.test`,
    email_verified: true,
  };
}

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

// Same contract as oidc-provider's bundled MemoryAdapter, which warns loudly when used.
type Payload = Record<string, unknown> & { grantId?: string; uid?: string; userCode?: string; consumed?: number };

function memoryAdapterFactory() {
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
      async find(id: string) { return live(key(id)); },
      async findByUid(uid: string) { const id = byUid.get(uid); return id && live(key(id)); },
      async findByUserCode(code: string) { const id = byUserCode.get(code); return id && live(key(id)); },
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
