import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/harness.js';
import type { UserAgent } from '../support/user-agent.js';

describe('an answer without a body gives its pooled upstream connection back', () => {
  let h: Harness;
  let ua: UserAgent;
  before(async () => {
    // One pooled connection, and a route timeout well under the upstream's keep-alive (5 s), so
    // a connection that is never given back shows as a 504 instead of being closed under us.
    h = await startHarness({ env: { API_UPSTREAM_CONNECTIONS: '1', API_UPSTREAM_CONNECTIONS_PER_CLIENT: '1', API_TIMEOUT: '1' } });
    ua = h.browser();
    await h.login(ua);
  });
  after(async () => h?.close());

  for (const [name, first] of [
    ['a HEAD call', { method: 'HEAD', path: '/things' }],
    ['a 204 answer', { method: 'GET', path: '/status/204' }],
    ['a 304 answer', { method: 'GET', path: '/status/304' }],
  ] as const) {
    it(`attack: ${name} leaves no pooled upstream connection stuck (the next call is answered, not 504)`, async () => {
      const res = await h.api(ua, first.path, { method: first.method });
      assert.ok(res.status < 500, `first call: ${res.status}`);
      const next = await h.api(ua, '/things');
      assert.equal(next.status, 200, `the next call got ${next.status}: the pool's one connection was never given back`);
    });
  }
});
