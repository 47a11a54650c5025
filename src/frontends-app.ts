import Koa from 'koa';
import compose from 'koa-compose';
import { AggregatorRegistry } from 'prom-client';
import { loadFrontends } from './config/frontends.js';
import { ConfigError, type Config } from './config/load.js';
import { jwkThumbprint, PrivateKeyFile } from './config/private-key.js';
import type { EventLogger } from './observability/logger.js';
import { createApp, type AppDeps, type BffApp } from './app.js';
import { errorHandler } from './http/error-handler.js';
import { frontendDispatch, type FrontendUnit } from './http/frontend-dispatch.js';
import { providerChoice } from './http/provider-choice.js';
import { healthz, readyzFrontends, type Readiness } from './http/health.js';
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
  /** SIGHUP: serves `configs` from now on; unchanged frontends keep their unit (and sessions), removed ones are closed. */
  reload(configs: readonly Config[]): Promise<{ kept: number; added: number; removed: number }>;
  close(): Promise<void>;
}

/**
 * Builds each frontend with createApp (its own sessions, transactions, refresher, routes, and
 * store keys under its own prefix) and a dispatcher in front; `base` answers what matches no
 * frontend (a 404, never another frontend's session).
 */
export function createFrontendsApp(base: Config, configs: readonly Config[], deps: AppDeps): FrontendsApp {
  // The trace export is the process's: a unit retired by a reload must not stop it for the others.
  const unitDeps: AppDeps = deps.tracing ? { ...deps, tracing: { ...deps.tracing, shutdown: () => Promise.resolve() } } : deps;
  let units: FrontendsApp['units'] = configs.map((config) => ({ config, bff: createApp(config, unitDeps) }));
  const readiness: Readiness = { draining: false };
  const retiring: Array<{ timer: NodeJS.Timeout; units: FrontendsApp['units'] }> = [];
  const shared = createMetrics();
  const health = () => units.map(({ config, bff }) => ({ frontend: config.frontend!, idp: bff.idp, store: bff.sharedStore }));
  // Unmatched requests still get a request id, a log line and the one error rendering.
  const unmatched = compose([
    requestContext(base, deps.log, shared),
    errorHandler(base, deps.log, shared),
    () => {
      throw new BffError('not_found', { description: 'No frontend is served at this host and path.' });
    },
  ]) as unknown as Step;
  const dispatch = frontendDispatch(frontendSteps(units), unmatched, { healthz, readyz: readyzFrontends(health, readiness) });
  const app = new Koa<BffState>();
  app.silent = true;
  app.use(dispatch);

  return {
    app,
    admin: frontendsAdmin(base, deps, () => units),
    get units() {
      return units;
    },
    rejected: (code) => shared.rejected(code),
    readiness,
    async reload(next) {
      // A frontend (or provider) whose configuration is unchanged keeps its unit; a changed one
      // gets a new unit over the same store keys and seal binding, so Redis and cookie sessions
      // live on (memory sessions of a replaced unit do not).
      const keep = new Map(units.map((u) => [fingerprint(u.config), u]));
      const fresh = next.map((config) => keep.get(fingerprint(config)) ?? { config, bff: createApp(config, unitDeps) });
      const dropped = units.filter((u) => !fresh.includes(u));
      const created = fresh.filter((u) => !units.includes(u));
      const added = created.length;
      // New units take over once their store and IdP answer, so a live session never meets a cold unit (503).
      await Promise.all(created.map((u) => untilReady(u.bff, READY_WITHIN_MS)));
      units = fresh;
      dispatch.replace(frontendSteps(units));
      // Requests already dispatched to a replaced unit get the shutdown grace before its store closes.
      const timer = setTimeout(() => void Promise.all(dropped.map((u) => u.bff.close())), base.server.shutdownTimeoutMs);
      timer.unref();
      retiring.push({ timer, units: dropped });
      return { kept: fresh.length - added, added, removed: dropped.length };
    },
    async close() {
      for (const r of retiring.splice(0)) {
        clearTimeout(r.timer);
        for (const { bff } of r.units) await bff.close();
      }
      for (const { bff } of units) await bff.close();
      await deps.tracing?.shutdown();
    },
  };
}

/**
 * SIGHUP: reads BFF_CONFIG again over the running environment. A good file is served from now
 * on; a bad one changes nothing and each of its problems is logged (`config.reload_failed`).
 */
export async function reloadFrontendsFile(service: FrontendsApp, base: Config, log: EventLogger): Promise<boolean> {
  let configs: Config[];
  try {
    configs = loadFrontends(base);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const problem of err.problems) log.event('config.reload_failed', { reason: problem });
    return false;
  }
  const { kept, added, removed } = await service.reload(configs);
  log.event('config.reloaded', { reason: `${configs.length} frontend unit(s): ${kept} kept, ${added} new, ${removed} retired` });
  return true;
}

const READY_WITHIN_MS = 10_000;

/** Resolves when the unit's IdP metadata is loaded and its store answers, or after `withinMs` (it is served either way). */
async function untilReady(bff: BffApp, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, withinMs).unref());
  await Promise.race([bff.idp.whenReady(), timeout]);
  const store = bff.sharedStore;
  while (store && Date.now() < deadline) {
    if (
      await store.ping().then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A configuration as text: two equal texts serve the same frontend the same way. */
function fingerprint(config: Config): string {
  // A key file prints as its path only (it never reaches a log); a key replaced at the same path is a change all the same.
  return JSON.stringify(config, function (this: Record<string, unknown>, key: string, value: unknown) {
    const original = this[key];
    return original instanceof PrivateKeyFile ? { path: original.path, key: jwkThumbprint(original.keyObject()) } : value;
  });
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
function frontendsAdmin(base: Config, deps: AppDeps, current: () => FrontendsApp['units']): Koa<BffState> {
  const admin = new Koa<BffState>();
  admin.silent = true;
  // A frontend of several providers has a session directory per provider: ?frontend=<id>.<provider>.
  const keyOf = (f: NonNullable<Config['frontend']>) => (f.providers.length > 1 ? `${f.id}.${f.providerId}` : f.id);
  const byId = () => new Map(current().map((u) => [keyOf(u.config.frontend!), compose(u.bff.admin.middleware) as unknown as Step]));
  const fallback = compose([requestContext(base, deps.log, undefined, { hops: 0 }), errorHandler(base, deps.log)]) as unknown as Step;
  admin.use(async (ctx, next) => {
    if (ctx.path === '/metrics' && ctx.method === 'GET') {
      const merged = AggregatorRegistry.aggregate(await Promise.all(current().map((u) => u.bff.metrics.registry.getMetricsAsJSON())));
      ctx.set('Cache-Control', 'no-store');
      ctx.type = merged.contentType;
      ctx.body = await merged.metrics();
      return;
    }
    const id = ctx.query['frontend'];
    const units = byId();
    const unit = typeof id === 'string' ? units.get(id) : undefined;
    if (unit) return unit(ctx, next);
    return fallback(ctx, () => {
      if (ctx.path.startsWith('/admin/')) {
        throw new BffError('invalid_request', { description: `Name the frontend: ?frontend=${[...units.keys()].join('|')}` });
      }
      return Promise.resolve();
    });
  });
  return admin;
}
