import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import { createSealer } from '../../src/session/seal.js';
import { newSession } from '../../src/session/sealed-session.js';
import { createMemoryStore } from '../../src/store/memory-store.js';
import { createHandles } from '../../src/tokens/handles.js';
import type { Step } from '../../src/web/context.js';
import { testClock } from '../support/clock.js';
import { routesFile } from '../support/routes-file.js';

const SECRET = 'handle-fallback-secret-0123456789abcdefghij';
const GW = { id: 'orders-gw', secret: 'orders-gateway-secret-0123456789-abcdefgh' };

describe('gateway handles of a token without a known expiry (the IdP sent no expires_in)', () => {
  it('a handle remembered in memory is never sent after its store record expired: the upstream never gets a dead handle', async () => {
    const routes = routesFile([{ path: '/api/orders', upstream: 'http://127.0.0.1:3002', token: 'user', handle: GW.id }]);
    try {
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
          GATEWAY_CLIENTS: `${GW.id}:${GW.secret}`,
        },
        () => SECRET,
      );
      const route = config.api.routes.find((r) => r.handle)!;
      const session = newSession(
        's:{k}',
        'sid',
        { sub: 'alice', claims: { sub: 'alice' }, tokens: { accessToken: 'opaque-1', tokenType: 'Bearer', expiresAt: 0 } },
        clock.now(),
      );
      const handles = createHandles({
        config,
        store: createMemoryStore(clock.now),
        sealer: createSealer([SECRET]),
        phantom: { phantomFor: () => Promise.reject(new Error('not a phantom route')) },
        liveSession: async (s) => s,
        now: clock.now,
      });
      const send = handles.sendHandle(route) as Step;
      const sent = async () => {
        const ctx = { state: { session, upstreamAuth: { token: 'opaque-1', dpop: undefined } } } as unknown as Parameters<Step>[0];
        await send(ctx, () => Promise.resolve());
        return (ctx.state.upstreamAuth as { token: string }).token;
      };
      await sent();
      // Every few seconds a request, over more than the 5 minutes a handle of such a token lives.
      for (let t = 0; t < 420; t += 7) {
        clock.advance(7_000);
        const handle = await sent();
        const answer = await handles.resolve(handle, GW.id);
        assert.equal(answer.active, true, `at ${t + 7} s the upstream got a handle the store no longer knows (${answer.active ? '' : answer.reason})`);
      }
    } finally {
      routes.remove();
    }
  });
});
