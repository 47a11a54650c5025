import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import http from 'node:http';
import { idpFaults } from '../support/faults.js';
import { startHarness, type Harness } from '../support/harness.js';
import { routesFile } from '../support/routes-file.js';
import { startEchoUpstream } from '../support/upstream-echo.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';
import type { UserAgent } from '../support/user-agent.js';

/** POSTs a chunked body of `size` bytes through node:http (fetch would set a length). */
function postChunked(h: Harness, ua: UserAgent, size: number): Promise<number> {
  const url = new URL(`${h.url}/api/upload`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent: false, headers: { cookie: ua.cookieHeader(url.host), 'x-csrf': '1', 'transfer-encoding': 'chunked' } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      },
    );
    req.on('error', (e) => (req.destroyed ? resolve(0) : reject(e)));
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

describe('limits and abuse controls: 413, 429 and 503 with sessions intact', () => {
  let redis: TestRedis;
  let h: Harness;
  let ua: UserAgent;
  before(async () => {
    redis = await startTestRedis();
    h = await startHarness({ redis, env: { API_MAX_BODY: '100000', RATE_LIMIT_PER_MINUTE: '8' } });
    ua = h.browser();
    await h.login(ua);
  });
  after(async () => {
    await h?.close();
    await redis?.close();
  });

  it('refuses a declared body over API_MAX_BODY with 413 before the upstream sees it', async () => {
    const before = h.upstream.received.length;
    const res = await h.api(ua, '/upload', { method: 'POST', body: 'x'.repeat(100_001) });
    assert.equal(res.status, 413);
    assert.equal(res.json<{ error: string }>().error, 'payload_too_large');
    assert.equal(h.upstream.received.length, before);
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
  });

  it('cuts a chunked body as soon as it passes API_MAX_BODY (413), and accepts one under it', async () => {
    assert.equal(await postChunked(h, ua, 1_000_000), 413);
    assert.equal(await postChunked(h, ua, 64 * 1024), 200);
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
  });

  it('answers 429 with Retry-After past RATE_LIMIT_PER_MINUTE on /login, counted across instances, and the session survives', async () => {
    const other = await startHarness({ redis, shareWith: h, env: { PUBLIC_URL: h.url, RATE_LIMIT_PER_MINUTE: '8' } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) statuses.push((await h.browser().get(`${(i % 2 ? other : h).url}/login`)).status);
      // The login in before() spent one of the 8; the two instances share the budget.
      assert.deepEqual(statuses, [...Array(7).fill(302), 429, 429, 429]);
      const limited = await h.browser().get(`${h.url}/login`, { headers: { accept: 'application/json' } });
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      assert.equal(limited.json<{ error: string }>().error, 'rate_limited');
      assert.equal((await ua.get(`${h.url}/session`)).status, 200);
      assert.equal((await h.api(ua, '/still-fine')).status, 200);
    } finally {
      await other.close();
    }
  });
});

describe('API_MAX_CONCURRENCY caps the requests in flight to the upstream', () => {
  it('answers 503 upstream_busy past the cap, and serves again once the slot frees', async () => {
    const h = await startHarness({ env: { API_MAX_CONCURRENCY: '1', API_TIMEOUT: '1' } });
    try {
      const ua = h.browser();
      await h.login(ua);
      const hanging = h.api(ua, '/hang');
      await h.upstream.waitFor(h.upstream.received.length + 1);
      const busy = await h.api(ua, '/second');
      assert.equal(busy.status, 503);
      assert.equal(busy.json<{ error: string }>().error, 'upstream_busy');
      assert.equal((await hanging).status, 504);
      assert.equal((await h.api(ua, '/third')).status, 200);
    } finally {
      await h.close();
    }
  });
});

describe('API_MAX_CONCURRENCY_PER_CLIENT keeps one browser from taking every upstream slot', () => {
  it('answers 429 too_many_in_flight to the user past their cap, in any of their sessions, while other users are served, and frees the slot', async () => {
    const h = await startHarness({ env: { API_MAX_CONCURRENCY: '8', API_MAX_CONCURRENCY_PER_CLIENT: '1', API_TIMEOUT: '1' } });
    try {
      const greedy = h.browser();
      const other = h.browser();
      await h.login(greedy);
      await h.login(other, '?login_hint=bob');
      const hanging = h.api(greedy, '/hang');
      await h.upstream.waitFor(h.upstream.received.length + 1);
      const refused = await h.api(greedy, '/second');
      assert.equal(refused.status, 429);
      assert.equal(refused.json<{ error: string }>().error, 'too_many_in_flight');
      assert.equal((await h.api(other, '/meanwhile')).status, 200);
      // Another login of the same user does not buy another slot.
      const again = h.browser();
      await h.login(again);
      assert.equal((await h.api(again, '/second-login')).status, 429);
      assert.equal((await hanging).status, 504);
      assert.equal((await h.api(greedy, '/third')).status, 200);
    } finally {
      await h.close();
    }
  });
});

describe('a client that hangs up while its request waits for a token frees its upstream slot', () => {
  it('the hung-up request never reaches the upstream, and the session is served again at once', async () => {
    const faults = idpFaults();
    const partner = 'https://partner.example.test';
    const upstream = await startEchoUpstream();
    const routes = routesFile([{ path: '/api/partner', upstream: upstream.url, token: 'client', resource: partner }]);
    const h = await startHarness({
      idpFetch: faults.fetch,
      idp: { resources: { [partner]: { scope: 'partner:read' } }, clientCredentials: true },
      env: { API_ROUTES: routes.path, API_MAX_CONCURRENCY_PER_CLIENT: '1' },
    });
    try {
      const ua = h.browser();
      await h.login(ua);
      // The client-credentials request waits at the token endpoint until the test lets it go.
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const atTokenEndpoint = new Promise<void>((arrived) =>
        faults.set((url, init) => {
          if (!new URL(url).pathname.endsWith('/token')) return undefined;
          arrived();
          return released.then(() => fetch(url, init as RequestInit));
        }),
      );
      const serverSide = once(h.listening.server, 'connection') as Promise<[Socket]>;
      const socket = connect(h.listening.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(`GET /api/partner/a HTTP/1.1\r\nHost: 127.0.0.1\r\nX-CSRF: 1\r\nCookie: ${ua.cookieHeader(new URL(h.url).host)}\r\n\r\n`);
      const [accepted] = await serverSide;
      await atTokenEndpoint;
      socket.destroy();
      await once(accepted, 'close');
      release();
      await h.logs.waitFor('proxy.client_aborted');
      faults.clear();
      // The slot of the hung-up request is free again: the next call is not refused with 429.
      assert.equal((await h.api(ua, '/partner/b')).status, 200);
      assert.deepEqual(
        upstream.received.map((r) => r.url),
        ['/b'],
      );
      // Logged as nginx does: 499 client closed request, not Koa's 404.
      const completed = h.logs.named('request.completed').find((e) => e['path'] === '/api/partner/a');
      assert.equal(completed?.['status'], 499);
    } finally {
      await h.close();
      await upstream.close();
      routes.remove();
    }
  });
});
