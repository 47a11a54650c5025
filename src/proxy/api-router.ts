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
  const { config, sessions, refresher, routeTokens, csrf } = deps;
  const { maxConcurrency, maxConcurrencyPerClient, upstreamConnectionsPerClient } = config.api;
  const gate = new ConcurrencyGate(maxConcurrency, maxConcurrencyPerClient);
  // With several routes, one admits at most half of the instance's slots: calls stuck on it
  // (a hanging upstream, a crowd of trickling uploads) leave the other half to the rest.
  const routeShare = config.api.routes.length > 1 ? Math.max(1, Math.floor(maxConcurrency / 2)) : maxConcurrency;
  const forwarders: Forwarder[] = [];
  const session = requireSession(sessions);
  const maybeSession = optionalSession(sessions);

  // A session refreshed meanwhile by another request of it: this response carries the newer tokens.
  const beforeResponse = (ctx: BffContext) => {
    if (ctx.state.session) refresher.carryNewest(ctx.state.session, cookieIo(ctx));
  };

  const pipeline = (route: ApiRoute): Step => {
    const routeGate = new ConcurrencyGate(routeShare, upstreamConnectionsPerClient, `route ${route.path}`);
    const forwarder = createForwarder(route, { ...deps, gate, routeGate, beforeResponse });
    forwarders.push(forwarder);
    const fresh = ensureFreshToken(sessions, refresher, false, route.resource);
    const scopes = requireScopes(route, config);
    const steps: Array<Step | undefined> = (() => {
      switch (route.token) {
        case 'user': return [session, csrf, fresh, scopes, sendUserToken(route)];
        // Fresh token and scopes apply only when there is a session (the steps skip otherwise).
        case 'user-optional': return [maybeSession, csrf, whenSession(fresh), scopes, sendUserToken(route)];
        case 'client': return [session, csrf, scopes, routeTokens.sendClientToken(route)];
        case 'exchange': return [session, csrf, ensureFreshToken(sessions, refresher), scopes, routeTokens.sendExchangedToken(route)];
        case 'none': return [csrf];
      }
    })();
    return compose<BffContext>([...steps.filter((s): s is Step => s !== undefined), forwarder.step]);
  };

  const table = config.api.routes.map((route) => ({ prefix: route.path, below: `${route.path}/`, run: pipeline(route) }));
  const canonicalTable = table.map((e) => ({ ...e, prefix: e.prefix.toLowerCase(), below: e.below.toLowerCase() }));
  const only = table.length === 1 ? table[0] : undefined;
  // Routes are sorted longest first, so the first match is the most specific.
  const find = (entries: typeof table, path: string) => entries.findIndex((entry) => matches(path, entry));

  return {
    step: only ? (ctx, next) => (matches(ctx.path, only) ? only.run(ctx, next) : notFound()) : (ctx, next) => {
      const path = ctx.path;
      const index = find(table, path);
      // An upstream may read /api/%61dmin, /api/admin;x or /api/ADMIN as /api/admin: such a path
      // must not slip past the /api/admin route (its scopes, its token) to a shorter one.
      if (MAY_DISGUISE.test(path) && find(canonicalTable, canonicalPath(path)) !== index) {
        throw new BffError('invalid_path', { event: 'proxy.path_refused', detail: 'path names another route once normalised' });
      }
      return index === -1 ? notFound() : table[index]!.run(ctx, next);
    },
    close: async () => {
      await Promise.all(forwarders.map((f) => f.close()));
    },
  };
}

const matches = (path: string, entry: { prefix: string; below: string }) => path === entry.prefix || path.startsWith(entry.below);

const MAY_DISGUISE = /[%;A-Z]/;
const UNRESERVED_ESCAPE = /%(?:[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[DEde]|5[Ff]|7[Ee])/g;

/**
 * The path as lenient servers read it (RFC 3986 6.2.2): escapes of unreserved characters
 * decoded, `;parameters` dropped from each segment, and case folded (case-insensitive servers).
 */
export function canonicalPath(path: string): string {
  return path
    .split('/')
    .map((segment) => segment.replace(UNRESERVED_ESCAPE, (e) => String.fromCharCode(parseInt(e.slice(1), 16))).split(';')[0]!)
    .join('/')
    .toLowerCase();
}

function notFound(): never {
  throw new BffError('not_found', { detail: 'no API route matches this path' });
}

/** Runs `step` only for requests that have a session; others go straight on. */
function whenSession(step: Step): Step {
  return (ctx, next) => (ctx.state.session ? step(ctx, next) : next());
}
