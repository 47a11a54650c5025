import Koa from 'koa';
import compose from 'koa-compose';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from './config/load.js';
import { createApp, type AppDeps, type BffApp } from './app.js';
import { errorHandler } from './http/error-handler.js';
import { frontendDispatch, type FrontendUnit } from './http/frontend-dispatch.js';
import { providerChoice } from './http/provider-choice.js';
import { healthz, readyzFrontends, type FrontendHealth, type Readiness } from './http/health.js';
import { requestContext } from './http/request-context.js';
import { BffError } from './errors/bff-error.js';
import { createMetrics } from './observability/metrics.js';
import type { BffState, Step } from './web/context.js';

/** Several frontends (BFF_CONFIG) in one listener: one unit per frontend, picked per request. */
export interface FrontendsApp {
  app: Koa<BffState>;
  /** The admin listener: /metrics of every frontend (label `frontend`), the session admin API by ?frontend=<id>. */
  admin: Koa<BffState>;
  /** The units in the file's order, each a whole BFF over its own configuration. */
  units: ReadonlyArray<{ config: Config; bff: BffApp }>;
  /** Counts what the listener refuses before any frontend is chosen. */
  rejected(code: string): void;
  readiness: Readiness;
  close(): Promise<void>;
}

/**
 * Builds each frontend with createApp (its own sessions, transactions, refresher, routes, and
 * store keys under its own prefix) and a dispatcher in front; `base` answers what matches no
 * frontend (a 404, never another frontend's session).
 */
export function createFrontendsApp(base: Config, configs: readonly Config[], deps: AppDeps): FrontendsApp {
  const units = configs.map((config) => ({ config, bff: createApp(config, deps) }));
  const readiness: Readiness = { draining: false };
  const shared = createMetrics();
  const health: FrontendHealth[] = units.map(({ config, bff }) => ({ frontend: config.frontend!, idp: bff.idp, store: bff.sharedStore }));
  const dispatchUnits = frontendSteps(units);
  // Unmatched requests still get a request id, a log line and the one error rendering.
  const unmatched = compose([
    requestContext(base, deps.log, shared),
    errorHandler(base, deps.log, shared),
    () => {
      throw new BffError('not_found', { description: 'No frontend is served at this host and path.' });
    },
  ]) as unknown as Step;
  const app = new Koa<BffState>();
  app.silent = true;
  app.use(frontendDispatch(dispatchUnits, unmatched, { healthz, readyz: readyzFrontends(health, readiness) }));

  return {
    app,
    admin: frontendsAdmin(base, deps, units),
    units,
    rejected: (code) => shared.rejected(code),
    readiness,
    async close() {
      for (const { bff } of units) await bff.close();
    },
  };
}

/** One step per frontend: its unit, or the provider choice over its units when it offers several providers. */
function frontendSteps(units: FrontendsApp['units']): FrontendUnit[] {
  const groups = new Map<string, Array<{ config: Config; step: Step }>>();
  for (const { config, bff } of units) {
    const group = groups.get(config.frontend!.id) ?? [];
    group.push({ config, step: compose(bff.app.middleware) as unknown as Step });
    groups.set(config.frontend!.id, group);
  }
  return [...groups.values()].map((group) => ({
    frontend: group[0]!.config.frontend!,
    step: group.length === 1 ? group[0]!.step : providerChoice(group),
  }));
}

/** /metrics merges every unit's registry (their series differ by the `frontend` label); /admin/* goes to the unit named by ?frontend=. */
function frontendsAdmin(base: Config, deps: AppDeps, units: FrontendsApp['units']): Koa<BffState> {
  const admin = new Koa<BffState>();
  admin.silent = true;
  // A frontend of several providers has a session directory per provider: ?frontend=<id>.<provider>.
  const keyOf = (f: NonNullable<Config['frontend']>) => (f.providers.length > 1 ? `${f.id}.${f.providerId}` : f.id);
  const byId = new Map(units.map((u) => [keyOf(u.config.frontend!), compose(u.bff.admin.middleware) as unknown as Step]));
  const fallback = compose([requestContext(base, deps.log, undefined, { hops: 0 }), errorHandler(base, deps.log)]) as unknown as Step;
  admin.use(async (ctx, next) => {
    if (ctx.path === '/metrics' && ctx.method === 'GET') {
      const merged = AggregatorRegistry.aggregate(await Promise.all(units.map((u) => u.bff.metrics.registry.getMetricsAsJSON())));
      ctx.set('Cache-Control', 'no-store');
      ctx.type = merged.contentType;
      ctx.body = await merged.metrics();
      return;
    }
    const id = ctx.query['frontend'];
    const unit = typeof id === 'string' ? byId.get(id) : undefined;
    if (unit) return unit(ctx, next);
    return fallback(ctx, () => {
      if (ctx.path.startsWith('/admin/')) {
        throw new BffError('invalid_request', { description: `Name the frontend: ?frontend=${[...byId.keys()].join('|')}` });
      }
      return Promise.resolve();
    });
  });
  return admin;
}
