import compose from 'koa-compose';
import type { ApiRoute } from '../config/api-routes.js';
import type { Config } from '../config/load.js';
import { BffError } from '../errors/bff-error.js';
import { cookieIo } from '../web/cookie-io.js';
import type { BffContext, Step } from '../web/context.js';
import type { Sessions } from '../session/session.js';
import { optionalSession, requireSession } from '../session/require-session.js';
import { ensureFreshToken } from '../tokens/ensure-fresh-token.js';
import type { TokenRefresher } from '../tokens/refresh.js';
import { requireScopes, sendUserToken, type RouteTokens } from '../tokens/route-tokens.js';
import { ConcurrencyGate } from './concurrency-gate.js';
import { createForwarder, type Forwarder, type ForwarderDeps } from './forward.js';
import { isRefusedMethod, refuseEchoMethods } from './method-guard.js';
import { routeTable } from './route-table.js';

export interface ApiRouterDeps extends Omit<ForwarderDeps, 'gate' | 'routeGate'> {
  config: Config;
  sessions: Sessions;
  refresher: TokenRefresher;
  routeTokens: RouteTokens;
  csrf: Step;
}

export interface ApiRouter {
  /** Handles a request under API_PATH: the most specific route's pipeline, or 404. */
  step: Step;
  close(): Promise<void>;
}

/**
 * Every API route as its pipeline of steps, by token policy. Each route has its own
 * forwarder (and connection pool): a token chosen for one route is only ever set on a request
 * to that route's upstream.
 */
export function createApiRouter(deps: ApiRouterDeps): ApiRouter {
  const { config, refresher } = deps;
  const { maxConcurrency, maxConcurrencyPerClient, upstreamConnectionsPerClient } = config.api;
  const gate = new ConcurrencyGate(maxConcurrency, maxConcurrencyPerClient);
  // With several routes, one admits at most half of the instance's slots: calls stuck on it
  // (a hanging upstream, a crowd of trickling uploads) leave the other half to the rest.
  const routeShare = config.api.routes.length > 1 ? Math.max(1, Math.floor(maxConcurrency / 2)) : maxConcurrency;
  const forwarders: Forwarder[] = [];

  // A session refreshed meanwhile by another request of it: this response carries the newer tokens.
  const beforeResponse = (ctx: BffContext) => {
    if (ctx.state.session) refresher.carryNewest(ctx.state.session, cookieIo(ctx));
  };

  const pipeline = (route: ApiRoute): Step => {
    const routeGate = new ConcurrencyGate(routeShare, upstreamConnectionsPerClient, `route ${route.path}`);
    const forwarder = createForwarder(route, { ...deps, gate, routeGate, beforeResponse });
    forwarders.push(forwarder);
    return compose<BffContext>([...routePolicy(route, deps), forwarder.step]);
  };

  const runs = new Map(config.api.routes.map((route) => [route, pipeline(route)]));
  const routeOf = routeTable(config.api.routes);
  const route: Step = (ctx, next) => {
    const found = routeOf(ctx.path);
    return found ? runs.get(found)!(ctx, next) : notFound();
  };

  return {
    step: (ctx, next) => (isRefusedMethod(ctx.method) ? refuseEchoMethods(ctx, next) : route(ctx, next)),
    close: async () => {
      await Promise.all(forwarders.map((f) => f.close()));
    },
  };
}

export interface RoutePolicyDeps {
  config: Config;
  sessions: Sessions;
  refresher: TokenRefresher;
  routeTokens: RouteTokens;
  /** The anti-CSRF step: /api/* checks the request itself, forward-auth the gateway's original request. */
  csrf: Step;
}

/**
 * A route's rules, by token policy: session, anti-CSRF, a fresh token (for the route's
 * resource), required scopes, and the token chosen for the upstream (`ctx.state.upstreamAuth`,
 * Bearer or DPoP). The /api/* proxy forwards after them; the gateway's forward-auth endpoint
 * answers after them: one set of rules whichever way a request comes in.
 */
export function routePolicy(route: ApiRoute, { config, sessions, refresher, routeTokens, csrf }: RoutePolicyDeps): Step[] {
  const session = requireSession(sessions);
  const fresh = ensureFreshToken(sessions, refresher, false, route.resource);
  const scopes = requireScopes(route, config);
  const steps: Array<Step | undefined> = (() => {
    switch (route.token) {
      case 'user':
        return [session, csrf, fresh, scopes, sendUserToken(route)];
      // Fresh token and scopes apply only when there is a session (the steps skip otherwise).
      case 'user-optional':
        return [optionalSession(sessions), csrf, whenSession(fresh), scopes, sendUserToken(route)];
      case 'client':
        return [session, csrf, scopes, routeTokens.sendClientToken(route)];
      case 'exchange':
        return [session, csrf, ensureFreshToken(sessions, refresher), scopes, routeTokens.sendExchangedToken(route)];
      case 'phantom':
        return [session, csrf, fresh, scopes, routeTokens.sendPhantomToken(route)];
      case 'none':
        return [csrf];
    }
  })();
  // Direction 2 of phantom tokens: the upstream (a gateway) gets an opaque handle for the token.
  if (route.handle) steps.push(routeTokens.sendHandle(route));
  return steps.filter((s): s is Step => s !== undefined);
}

function notFound(): never {
  throw new BffError('not_found', { detail: 'no API route matches this path' });
}

/** Runs `step` only for requests that have a session; others go straight on. */
function whenSession(step: Step): Step {
  return (ctx, next) => (ctx.state.session ? step(ctx, next) : next());
}
