import * as oidc from 'openid-client';
import type { ApiRoute } from '../config/api-routes.js';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import type { Next } from 'koa';
import type { BffContext, Step } from '../web/context.js';
import type { EventLogger } from '../observability/logger.js';
import type { OidcClient } from '../idp/client.js';
import { classifyIdp } from '../idp/failure.js';
import type { Session, TokenSet } from '../session/session.js';
import { TokenCache, type CachedToken } from './cached-tokens.js';
import { createDpopKey, dpopKey, tokenEndpointDpop, type DpopKey } from './dpop.js';
import { createHandles, type HandleDeps } from './handles.js';
import { userToken } from './user-token.js';
import { createPhantomTokens, type PhantomDeps } from './phantom.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export { userToken };

const isDpopBound = (tokenType: string) => tokenType.toLowerCase() === 'dpop';

/** Scopes granted to what a route sends: the token response's `scope`, or what login asked for (RFC 6749 5.1). */
function grantedScopes(session: Session, route: ApiRoute, requested: string): Set<string> {
  return new Set((userToken(session, route)?.scope ?? session.tokens.scope ?? requested).split(' '));
}

/** 403 `insufficient_scope` before the upstream is called, when the session lacks a required scope. */
export function requireScopes(route: ApiRoute, config: Config): Step | undefined {
  if (route.requiredScopes.length === 0) return undefined;
  return async (ctx, next) => {
    const session = ctx.state.session;
    if (session) {
      const granted = grantedScopes(session, route, config.oidc.scopes);
      const missing = route.requiredScopes.filter((s) => !granted.has(s));
      if (missing.length) {
        throw new BffError('insufficient_scope', { event: 'proxy.scope_refused', detail: `route ${route.path} needs ${missing.join(' ')}` });
      }
    }
    await next();
  };
}

/** Sends the session's token (user, user-optional): Bearer, or DPoP with the session's key when it is bound. */
export function sendUserToken(route: ApiRoute): Step {
  const withDpop = async (ctx: BffContext, next: Next, session: Session, accessToken: string) => {
    ctx.state.upstreamAuth = { token: accessToken, dpop: await keyFor(session.tokens) };
    await next();
  };
  // The hot path (a Bearer token) is synchronous: no async frame of its own.
  return (ctx, next) => {
    const session = ctx.state.session;
    if (!session) return next();
    const token = userToken(session, route);
    // ensureFreshToken fetched it; its absence is a bug, and the session's own token must not stand in.
    if (!token) throw new BffError('internal_error', { detail: `no token for resource ${route.resource}` });
    const { accessToken, tokenType } = token;
    if (isDpopBound(tokenType)) return withDpop(ctx, next, session, accessToken);
    ctx.state.upstreamAuth = { token: accessToken, dpop: undefined };
    return next();
  };
}

function keyFor(tokens: TokenSet): Promise<DpopKey> {
  if (!tokens.dpopKey) throw new BffError('internal_error', { detail: 'DPoP-bound token without a DPoP key in the session' });
  return dpopKey(tokens.dpopKey);
}

export interface RouteTokenDeps extends PhantomDeps, Pick<HandleDeps, 'liveSession'> {
  config: Config;
  idp: OidcClient;
  log: EventLogger;
  now: () => number;
}

/**
 * Tokens the BFF obtains for a route itself: client-credentials tokens (one per route, for
 * every user), exchanged tokens (RFC 8693, one per session and route) and phantom JWTs
 * (phantom.ts, one per opaque token). All are cached
 * until shortly before they expire, and concurrent requests share one fetch.
 */
export function createRouteTokens(deps: RouteTokenDeps) {
  const { config, idp, log, now } = deps;
  const cache = new TokenCache({ maxEntries: 10_000, skewMs: config.session.refreshSkewMs, fallbackMs: 60_000, now });
  // Client-credentials tokens are the instance's own: bound to an instance key, never a session's.
  let instanceKey: Promise<DpopKey> | undefined;
  const clientKey = () =>
    (instanceKey ??= createDpopKey()
      .then(dpopKey)
      .catch((err: unknown) => {
        instanceKey = undefined; // a failed key generation is tried again by the next request
        throw err;
      }));

  const request = async (
    route: ApiRoute,
    kind: 'client' | 'exchange',
    grant: (dpop: oidc.DPoPOptions) => Promise<oidc.TokenEndpointResponse>,
    key: DpopKey | undefined,
  ): Promise<CachedToken> => {
    const started = now();
    let response: oidc.TokenEndpointResponse;
    try {
      response = await grant(key ? { DPoP: tokenEndpointDpop(idp.configuration(), key) } : {});
    } catch (err) {
      const failure = classifyIdp(err);
      log.event(kind === 'client' ? 'token.client_failed' : 'token.exchange_failed', { route: route.path, reason: `${failure.kind}: ${failure.detail}` });
      throw new BffError(failure.kind === 'unreachable' ? 'idp_unreachable' : 'idp_error', {
        detail: `${kind} token for ${route.path}: ${failure.detail}`,
        cause: err,
      });
    }
    log.event(kind === 'client' ? 'token.client_ok' : 'token.exchange_ok', { route: route.path });
    return {
      accessToken: response.access_token,
      tokenType: response.token_type ?? 'Bearer',
      expiresAt: typeof response.expires_in === 'number' ? started + response.expires_in * 1000 : 0,
    };
  };

  const params = (route: ApiRoute): Record<string, string> => ({
    ...(route.audience ? { audience: route.audience } : {}),
    ...(route.resource ? { resource: route.resource } : {}),
    ...(route.scope ? { scope: route.scope } : {}),
  });

  /** Sends the route's client-credentials token. */
  const sendClientToken = (route: ApiRoute): Step => {
    const key = `client\n${route.path}`;
    return async (ctx, next) => {
      const dpop = route.dpop ? await clientKey() : undefined;
      const token = await cache.get(key, () => request(route, 'client', (o) => oidc.clientCredentialsGrant(idp.configuration(), params(route), o), dpop));
      ctx.state.upstreamAuth = { token: token.accessToken, dpop: isDpopBound(token.tokenType) ? dpop : undefined };
      await next();
    };
  };

  /** Sends the session's token exchanged for the route's audience/resource. */
  const sendExchangedToken =
    (route: ApiRoute): Step =>
    async (ctx, next) => {
      const session = ctx.state.session!;
      const dpop = route.dpop && session.tokens.dpopKey ? await dpopKey(session.tokens.dpopKey) : undefined;
      const token = await cache.get(`exchange\n${session.key}\n${route.path}`, () =>
        request(
          route,
          'exchange',
          (o) =>
            oidc.genericGrantRequest(
              idp.configuration(),
              TOKEN_EXCHANGE,
              {
                subject_token: session.tokens.accessToken,
                subject_token_type: ACCESS_TOKEN_TYPE,
                requested_token_type: ACCESS_TOKEN_TYPE,
                ...params(route),
              },
              o,
            ),
          dpop,
        ),
      );
      ctx.state.upstreamAuth = { token: token.accessToken, dpop: isDpopBound(token.tokenType) ? dpop : undefined };
      await next();
    };

  const phantom = createPhantomTokens(deps);
  const handles = createHandles({ ...deps, phantom });
  return { sendClientToken, sendExchangedToken, sendPhantomToken: phantom.sendPhantomToken, sendHandle: handles.sendHandle, resolveHandle: handles.resolve };
}

export type RouteTokens = ReturnType<typeof createRouteTokens>;
