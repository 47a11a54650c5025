import type { Step } from '../web/context.js';
import type { OidcClient } from '../idp/client.js';
import type { StoreHealth } from '../store/store.js';

export interface Readiness {
  /** Flipped on SIGTERM so the load balancer stops sending new requests before we stop listening. */
  draining: boolean;
}

/** GET /healthz: the process is alive and its event loop turns. */
export const healthz: Step = (ctx) => {
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { status: 'ok' };
};

/** GET /readyz: 200 when logins can be served (IdP metadata loaded, store reachable), else 503 with the reasons. */
export function readyz(idp: OidcClient, store: StoreHealth | undefined, readiness: Readiness, pingTimeoutMs = 1000): Step {
  return async (ctx) => {
    const problems: string[] = [];
    if (readiness.draining) problems.push('shutting down');
    if (!idp.isReady()) problems.push('identity provider metadata not loaded');
    if (store && !(await pingWithin(store, pingTimeoutMs))) problems.push('session store unreachable');
    ctx.set('Cache-Control', 'no-store');
    ctx.status = problems.length ? 503 : 200;
    ctx.body = problems.length ? { status: 'unavailable', problems } : { status: 'ready' };
  };
}

async function pingWithin(store: StoreHealth, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      store.ping().then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** What /readyz needs of each frontend of BFF_CONFIG. */
export interface FrontendHealth {
  readonly frontend: { readonly id: string; readonly providerId: string };
  readonly idp: OidcClient;
  readonly store: StoreHealth | undefined;
}

/**
 * GET /readyz with several frontends: 200 when every frontend can serve logins; the body names
 * each provider's discovery state either way, so one failing IdP is found at a glance.
 */
export function readyzFrontends(current: () => readonly FrontendHealth[], readiness: Readiness, pingTimeoutMs = 1000): Step {
  return async (ctx) => {
    const units = current();
    const problems: string[] = [];
    if (readiness.draining) problems.push('shutting down');
    const providers: Record<string, 'ready' | 'loading'> = {};
    for (const { frontend, idp } of units) {
      const ready = idp.isReady();
      // Two frontends of one provider each have a client: the provider is ready when all are.
      if (providers[frontend.providerId] !== 'loading') providers[frontend.providerId] = ready ? 'ready' : 'loading';
      if (!ready) problems.push(`frontend ${frontend.id}: identity provider ${frontend.providerId} metadata not loaded`);
    }
    const stores = [...new Set(units.map((u) => u.store).filter((s): s is StoreHealth => s !== undefined))];
    const pings = await Promise.all(stores.map((s) => pingWithin(s, pingTimeoutMs)));
    if (pings.includes(false)) problems.push('session store unreachable');
    ctx.set('Cache-Control', 'no-store');
    ctx.status = problems.length ? 503 : 200;
    ctx.body = problems.length ? { status: 'unavailable', problems, providers } : { status: 'ready', providers };
  };
}
