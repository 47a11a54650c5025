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
