import { loadConfig, type Config } from '../../src/config/load.js';
import type { ApiRoute } from '../../src/config/api-routes.js';
import { createSealer } from '../../src/session/seal.js';
import { newSession } from '../../src/session/sealed-session.js';
import type { Session } from '../../src/session/session.js';
import { createMemoryStore } from '../../src/store/memory-store.js';
import type { KeyValueStore } from '../../src/store/store.js';
import { createHandles } from '../../src/tokens/handles.js';
import type { Step } from '../../src/web/context.js';
import { testClock, type TestClock } from './clock.js';
import { routesFile } from './routes-file.js';

export const HANDLE_GATEWAY = { id: 'orders-gw', secret: 'orders-gateway-secret-0123456789-abcdefgh' };
const SECRET = 'handle-fixture-secret-0123456789abcdefghijk';

export interface HandleFixture {
  config: Config;
  /** The `handle` route (/api/orders → HANDLE_GATEWAY). */
  route: ApiRoute;
  clock: TestClock;
  /** Alice's session, its access token `opaque-1`. */
  session: Session;
  /** The handles over `wrap(store)`, where store is a memory store on the test clock. */
  handles(wrap?: (store: KeyValueStore) => KeyValueStore): ReturnType<typeof createHandles>;
  /** One request of the session through the route's handle step: the token the upstream gets. */
  send(handles: ReturnType<typeof createHandles>): Promise<string>;
  remove(): void;
}

/**
 * The gateway-handle pieces on their own (no server): a `handle` route, a session whose token
 * expires at `expiresAt` (0: unknown), and handles over a store the test may wrap to drive an
 * interleaving or a fault.
 */
export function handleFixture(options: { expiresAt: (now: number) => number }): HandleFixture {
  const routes = routesFile([{ path: '/api/orders', upstream: 'http://127.0.0.1:3002', token: 'user', handle: HANDLE_GATEWAY.id }]);
  const clock = testClock();
  const config = loadConfig(
    {
      PUBLIC_URL: 'http://127.0.0.1:3000',
      OIDC_ISSUER: 'http://127.0.0.1:3001',
      OIDC_ALLOW_HTTP: 'true',
      OIDC_CLIENT_ID: 'c',
      OIDC_CLIENT_SECRET: 's',
      API_UPSTREAM: 'http://127.0.0.1:3002',
      SESSION_STORE: 'memory',
      SESSION_SECRETS: SECRET,
      API_ROUTES: routes.path,
      GATEWAY_INTROSPECTION_PATH: '/gateway/introspect',
      GATEWAY_CLIENTS: `${HANDLE_GATEWAY.id}:${HANDLE_GATEWAY.secret}`,
    },
    () => SECRET,
  );
  const route = config.api.routes.find((r) => r.handle)!;
  const session = newSession(
    's:{k}',
    'sid',
    { sub: 'alice', claims: { sub: 'alice' }, tokens: { accessToken: 'opaque-1', tokenType: 'Bearer', expiresAt: options.expiresAt(clock.now()) } },
    clock.now(),
  );
  return {
    config,
    route,
    clock,
    session,
    handles: (wrap = (s) => s) =>
      createHandles({
        config,
        store: wrap(createMemoryStore(clock.now)),
        sealer: createSealer([SECRET]),
        phantom: { phantomFor: () => Promise.reject(new Error('not a phantom route')) },
        liveSession: async (s) => s,
        now: clock.now,
      }),
    async send(handles) {
      const ctx = { state: { session, upstreamAuth: { token: 'opaque-1', dpop: undefined } } } as unknown as Parameters<Step>[0];
      await (handles.sendHandle(route) as Step)(ctx, () => Promise.resolve());
      return (ctx.state.upstreamAuth as { token: string }).token;
    },
    remove: () => routes.remove(),
  };
}
