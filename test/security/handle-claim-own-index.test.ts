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

describe('gateway handles: a claim of the index that reports "taken" while the index holds this request\'s own handle', () => {
  it('never deletes the record of the handle it then sends (a SET NX applied but answered as not applied: a resend after a lost reply)', async () => {
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
      // The first SET NX on the index is applied, but its reply is lost; the client's resend
      // finds the key (its own write) and answers "not set".
      let lostReply = false;
      const store: KeyValueStore = {
        ...inner,
        setIfAbsent: async (key, value, ttl) => {
          const claimed = await inner.setIfAbsent(key, value, ttl);
          if (claimed && key.startsWith('hi:') && !lostReply) {
            lostReply = true;
            return inner.setIfAbsent(key, value, ttl);
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
      const ctx = { state: { session, upstreamAuth: { token: 'opaque-1', dpop: undefined } } } as unknown as Parameters<Step>[0];
      await send(ctx, () => Promise.resolve());
      const handle = (ctx.state.upstreamAuth as { token: string }).token;
      assert.equal(lostReply, true, 'the lost reply did not take place: the test drives nothing');
      const answer = await handles.resolve(handle, GW.id);
      // And not once: the index names that handle for the token's lifetime, so later requests
      // (past the 30 s this instance remembers it) read it from the store and send it again.
      clock.advance(31_000);
      const later = { state: { session, upstreamAuth: { token: 'opaque-1', dpop: undefined } } } as unknown as Parameters<Step>[0];
      await send(later, () => Promise.resolve());
      assert.equal((later.state.upstreamAuth as { token: string }).token, handle);
      assert.equal(answer.active, true, `the request sent its upstream a handle the store does not know (${answer.active ? '' : answer.reason})`);
    } finally {
      routes.remove();
    }
  });
});
