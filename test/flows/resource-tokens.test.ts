import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { testClock } from '../support/clock.js';
import { startHarness, type Harness, type HarnessOptions } from '../support/harness.js';
import { routesFile, type RoutesFile } from '../support/routes-file.js';
import { startEchoUpstream } from '../support/upstream-echo.js';

const ORDERS = 'https://orders.example.test';
const BILLING = 'https://billing.example.test';
const RESOURCES = { [ORDERS]: { scope: 'orders:read' }, [BILLING]: { scope: 'billing:read' } };
const SCOPES = 'openid profile offline_access orders:read billing:read';

/** An upstream that holds each response until the test releases it: orders responses deterministically. */
async function startGatedUpstream() {
  const held: http.ServerResponse[] = [];
  const server = http.createServer((_req, res) => {
    held.push(res);
    server.emit('held');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrived: () => (held.length ? Promise.resolve() : once(server, 'held').then(() => undefined)),
    releaseAll: () => held.splice(0).forEach((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}')),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Setup {
  h: Harness;
  routes: RoutesFile;
  closers: Array<() => Promise<void>>;
}

async function start(routes: object[], options: HarnessOptions, closers: Array<() => Promise<void>>): Promise<Setup> {
  const file = routesFile(routes);
  const h = await startHarness({
    ...options,
    idp: { resources: RESOURCES, ...options.idp },
    env: { API_ROUTES: file.path, OIDC_SCOPES: SCOPES, ...options.env },
  });
  return { h, routes: file, closers };
}

async function stop(s: Setup | undefined): Promise<void> {
  if (!s) return;
  await s.h.close();
  for (const close of s.closers) await close();
  s.routes.remove();
}

describe('resource tokens with refresh tokens the IdP does not rotate', () => {
  let s: Setup | undefined;
  afterEach(async () => {
    await stop(s);
    s = undefined;
  });
  for (const store of ['memory', 'cookie']) {
    it(`${store} store: a second resource right after the first gets its own token (no stale grace answer)`, async () => {
      const orders = await startEchoUpstream();
      const billing = await startEchoUpstream();
      s = await start(
        [
          { path: '/api/orders', upstream: orders.url, token: 'user', resource: ORDERS },
          { path: '/api/billing', upstream: billing.url, token: 'user', resource: BILLING },
        ],
        { idp: { rotateRefreshToken: false }, env: { SESSION_STORE: store } },
        [orders.close, billing.close],
      );
      const ua = s.h.browser();
      await s.h.login(ua);
      assert.equal((await s.h.api(ua, '/orders/1')).status, 200);
      const second = await s.h.api(ua, '/billing/1');
      assert.equal(second.status, 200, second.text);
      assert.equal(s.h.idp.counts.refresh, 2);
    });
  }
});

describe('cookie sessions: concurrent refreshes of one session leave the newest refresh token in the browser', () => {
  let s: Setup | undefined;
  afterEach(() => stop(s));

  it('a slow response that was refreshed first still carries the tokens of the refresh that came after it', async () => {
    const clock = testClock();
    const gated = await startGatedUpstream();
    const billing = await startEchoUpstream();
    s = await start(
      [
        { path: '/api/orders', upstream: gated.url, token: 'user', resource: ORDERS },
        { path: '/api/billing', upstream: billing.url, token: 'user', resource: BILLING },
      ],
      { now: clock.now, env: { SESSION_STORE: 'cookie', TOKEN_REFRESH_GRACE: '5' } },
      [gated.close, billing.close],
    );
    const ua = s.h.browser();
    await s.h.login(ua);
    // A refreshes for orders (rt0 → rt1) and waits on its upstream; B, still sending rt0, gets
    // rt1 from the grace record and refreshes for billing (rt1 → rt2); then A's response arrives last.
    const a = s.h.api(ua, '/orders/1');
    await gated.arrived();
    assert.equal((await s.h.api(ua, '/billing/1')).status, 200);
    gated.releaseAll();
    assert.equal((await a).status, 200);
    assert.equal(s.h.idp.counts.refresh, 2);
    // Past the grace window, the browser's refresh token is the one that counts: rt1 would be a replay.
    clock.advance(6_000);
    const forced = await ua.request('POST', `${s.h.url}/refresh`, { headers: { 'x-csrf': '1' } });
    assert.equal(forced.status, 200, forced.text);
  });

  it("an upstream that sets its own cookie does not drop the BFF's refreshed session cookie", async () => {
    const clock = testClock();
    s = await start([], { now: clock.now, env: { SESSION_STORE: 'cookie', API_ROUTES: '' } }, []);
    const ua = s.h.browser();
    await s.h.login(ua);
    clock.advance(300_001); // the access token expired: this call refreshes, rotating the refresh token
    const res = await s.h.api(ua, '/set-cookie');
    assert.equal(res.status, 200);
    assert.equal(s.h.idp.counts.refresh, 1);
    assert.ok(
      res.setCookies.some((c) => c.startsWith('upstream-pref=')),
      'the upstream cookie passes',
    );
    assert.ok(
      res.setCookies.some((c) => c.startsWith('bff-session=')),
      'the refreshed session cookie is kept',
    );
    const forced = await ua.request('POST', `${s.h.url}/refresh`, { headers: { 'x-csrf': '1' } });
    assert.equal(forced.status, 200, forced.text);
  });
});
