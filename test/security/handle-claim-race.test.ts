import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import { createSealer } from '../../src/session/seal.js';
import { newSession } from '../../src/session/sealed-session.js';
import { createMemoryStore } from '../../src/store/memory-store.js';
import type { KeyValueStore } from '../../src/store/store.js';
import { createHandles } from '../../src/tokens/handles.js';
import type { Step } from '../../src/web/context.js';
import { testClock } from '../support/clock.js';
import { routesFile } from '../support/routes-file.js';

const SECRET = 'handle-claim-race-secret-0123456789abcdefgh';
const GW = { id: 'orders-gw', secret: 'orders-gateway-secret-0123456789-abcdefgh' };

/** Resolves every waiter once `count` of them are waiting: two requests meet at one point. */
const barrier = (count: number) => {
  const waiting: (() => void)[] = [];
  return () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length === count) for (const go of waiting) go();
    });
};

describe('gateway handles: two first requests of one session race for its handle', () => {
  it('the request that lost the claim never sends a handle that does not resolve when the winning index vanished before its re-read', async () => {
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
        { sub: 'alice', claims: { sub: 'alice' }, tokens: { accessToken: 'opaque-1', tokenType: 'Bearer', expiresAt: clock.now() + 600_000 } },
        clock.now(),
      );
      const inner = createMemoryStore(clock.now);
      // The interleaving, step by step: both requests find no index (they meet at the barrier
      // after reading it), both write their record and claim the index; the one that loses
      // sees the winner's index vanish (expired, evicted, lost in a failover) before it re-reads.
      const bothRead = barrier(2);
      let vanished = false;
      const store: KeyValueStore = {
        ...inner,
        get: async (key) => {
          const value = await inner.get(key);
          if (key.startsWith('hi:') && value === undefined && !vanished) await bothRead();
          return value;
        },
        setIfAbsent: async (key, value, ttl) => {
          const claimed = await inner.setIfAbsent(key, value, ttl);
          if (!claimed && key.startsWith('hi:') && !vanished) {
            vanished = true;
            await inner.delete(key);
          }
          return claimed;
        },
      };
      const handles = createHandles({
        config,
        store,
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
      const sentHandles = await Promise.all([sent(), sent()]);
      assert.equal(vanished, true, 'the race did not take place: the test drives nothing');
      for (const handle of sentHandles) {
        const answer = await handles.resolve(handle, GW.id);
        assert.equal(answer.active, true, `a request sent its upstream a handle the store does not know (${answer.active ? '' : answer.reason})`);
      }
    } finally {
      routes.remove();
    }
  });
});
