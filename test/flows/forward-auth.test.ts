import http from 'node:http';
import assert from 'node:assert/strict';
import { testClock } from '../support/clock.js';
import { idpFaults, tokenEndpointAnswers } from '../support/faults.js';
import { startHarness, type Harness } from '../support/harness.js';
import type { UaResponse, UserAgent } from '../support/user-agent.js';

const ACCESS_TTL_MS = 300_000;

/**
 * The gateway's authorization request, as it reaches the BFF (with the browser's cookies). Every
 * gateway names the original path (nginx X-Original-URI, Traefik X-Forwarded-Uri, Envoy below the
 * endpoint); unless the test does, it is an /api path.
 */
function ask(h: Harness, ua: UserAgent, init: { method?: string; path?: string; headers?: Record<string, string> } = {}): Promise<UaResponse> {
  const path = init.path ?? '/auth';
  const named = path.includes('/api') || Object.keys(init.headers ?? {}).some((name) => /^x-(original|forwarded)-ur[il]$/i.test(name));
  const headers = { ...(named ? {} : { 'x-original-uri': '/api/things' }), ...init.headers };
  return ua.request(init.method ?? 'GET', `${h.url}${path}`, { headers });
}
const errorOf = (res: UaResponse) => res.json<{ error: string }>().error;
const tokenOf = (res: UaResponse) => (res.headers.get('authorization') ?? '').replace(/^Bearer /, '');

describe('FORWARD_AUTH_PATH: the forward-auth endpoint for gateways', () => {
  it('does not exist unless FORWARD_AUTH_PATH is set', async () => {
    const h = await startHarness();
    try {
      const ua = h.browser();
      await h.login(ua);
      for (const path of ['/auth', '/auth/api/things']) {
        const res = await ask(h, ua, { path });
        assert.equal(res.status, 404, path);
        assert.equal(res.headers.get('authorization'), null);
      }
    } finally {
      await h.close();
    }
  });

  describe('when enabled (FORWARD_AUTH_PATH=/auth)', () => {
    const clock = testClock();
    const faults = idpFaults();
    let h: Harness;
    let ua: UserAgent;
    before(async () => {
      h = await startHarness({ now: clock.now, idpFetch: faults.fetch, env: { FORWARD_AUTH_PATH: '/auth' } });
      ua = h.browser();
      await h.login(ua);
    });
    afterEach(() => faults.clear());
    after(async () => h?.close());

    it('never answers a path that only looks like it is below the forward-auth path (/auth/..%2flogin): no token', async () => {
      for (const path of ['/auth/..%2flogin', '/auth/%2e%2e/session', '/auth/..%2Fsession', '/auth/%2E%2E%5Clogin']) {
        const res = await rawGet(h, ua, path);
        assert.notEqual(res.status, 200, path);
        assert.equal(res.authorization, undefined, `${path} gave a bearer token`);
      }
    });

    it("answers 200 with the session's bearer token, never cached, and an empty body", async () => {
      const res = await ask(h, ua, { headers: { 'x-original-method': 'GET', 'x-original-uri': '/api/things?secret=1' } });
      assert.equal(res.status, 200);
      assert.ok(h.idp.issued.has(tokenOf(res)));
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.text, '');
      assert.equal(res.headers.get('x-auth-request-user'), null, 'identity headers only with FORWARD_AUTH_IDENTITY_HEADERS');
      const [logged] = h.logs.named('gateway.authorized').slice(-1);
      assert.equal(logged?.['method'], 'GET');
      assert.equal(logged?.['path'], '/api/things', 'the path only: a query string may carry secrets');
    });

    it("answers the request's cookies without the BFF's, and tells Envoy what to drop", async () => {
      const host = new URL(h.url).host;
      ua.setCookie(host, 'theme', 'dark');
      ua.setCookie(host, 'bff-login', 'pending');
      const mixed = await ask(h, ua);
      ua.deleteCookie(host, 'theme');
      ua.deleteCookie(host, 'bff-login');
      assert.equal(mixed.headers.get('cookie'), 'theme=dark');
      assert.equal(mixed.headers.get('x-envoy-auth-headers-to-remove'), 'x-auth-request-user, x-auth-request-email, x-csrf');
      const own = await ask(h, ua);
      assert.equal(own.headers.get('cookie'), null);
      assert.equal(own.headers.get('x-envoy-auth-headers-to-remove'), 'cookie, x-auth-request-user, x-auth-request-email, x-csrf');
    });

    it('answers 401 JSON without a session (no cookie, a forged one), never a token', async () => {
      const stranger = h.browser();
      for (const cookie of [undefined, 'bff-session=forged']) {
        const res = await ask(h, stranger, cookie ? { headers: { cookie } } : {});
        assert.equal(res.status, 401);
        assert.equal(errorOf(res), 'unauthenticated');
        assert.equal(res.headers.get('authorization'), null);
      }
    });

    const unsafeWithoutHeader: Array<[string, { method?: string; path?: string; headers?: Record<string, string> }]> = [
      ['nginx: X-Original-Method: POST', { headers: { 'x-original-method': 'POST' } }],
      ['Traefik: X-Forwarded-Method: DELETE', { headers: { 'x-forwarded-method': 'DELETE' } }],
      ['Envoy: the original method and path, below the endpoint', { method: 'PUT', path: '/auth/api/things/1' }],
      ['a method header claiming GET on an unsafe request', { method: 'PATCH', path: '/auth/api/x', headers: { 'x-original-method': 'GET' } }],
    ];
    for (const [name, init] of unsafeWithoutHeader) {
      it(`refuses an unsafe original request without X-CSRF: 1 (${name}): 403 csrf`, async () => {
        const res = await ask(h, ua, init);
        assert.equal(res.status, 403);
        assert.equal(errorOf(res), 'csrf');
        assert.equal(res.headers.get('authorization'), null);
        const allowed = await ask(h, ua, { ...init, headers: { ...init.headers, 'x-csrf': '1' } });
        assert.equal(allowed.status, 200, 'the same request with the anti-CSRF header passes');
      });
    }

    it('refuses a cross-site original request whatever its method, and needs no X-CSRF for a same-site safe one', async () => {
      for (const headers of [
        { 'sec-fetch-site': 'cross-site' },
        { origin: 'https://evil.example' },
        { 'x-original-method': 'POST', 'x-csrf': '1', origin: 'https://evil.example' },
      ]) {
        const res = await ask(h, ua, { headers });
        assert.equal(res.status, 403, JSON.stringify(headers));
        assert.equal(errorOf(res), 'csrf');
      }
      assert.equal((await ask(h, ua, { headers: { 'x-original-method': 'GET', 'sec-fetch-site': 'same-origin' } })).status, 200);
      assert.equal((await ask(h, ua, { headers: { 'x-original-method': 'POST', 'x-csrf': '1', origin: h.url } })).status, 200);
    });

    it('refreshes an expiring token first: one refresh for 10 concurrent gateway calls, all with the new token', async () => {
      clock.advance(ACCESS_TTL_MS + 1);
      const before = h.idp.counts.refresh;
      const answers = await Promise.all(Array.from({ length: 10 }, () => ask(h, ua)));
      assert.deepEqual(
        answers.map((r) => r.status),
        Array(10).fill(200),
      );
      assert.equal(h.idp.counts.refresh - before, 1);
      assert.equal(new Set(answers.map(tokenOf)).size, 1);
      assert.ok(h.idp.issued.has(tokenOf(answers[0]!)));
    });

    it('a refresh the IdP rejects ends the session: 401, with its cookie cleared on that answer', async () => {
      const other = h.browser();
      await h.login(other);
      clock.advance(ACCESS_TTL_MS + 1);
      faults.set(tokenEndpointAnswers(400, { error: 'invalid_grant' }));
      const res = await ask(h, other);
      assert.equal(res.status, 401);
      assert.ok(
        res.setCookies.some((c) => /^bff-session=;/.test(c) && /Max-Age=0/i.test(c)),
        res.setCookies.join(' | '),
      );
      faults.clear();
      assert.equal((await ask(h, other)).status, 401);
    });

    it('counts every authorization in bff_events_total, like every catalogue event', async () => {
      const text = await h.bff.metrics.registry.metrics();
      const count = Number(/^bff_events_total\{event="gateway\.authorized"\} (\d+)$/m.exec(text)?.[1]);
      assert.equal(count, h.logs.named('gateway.authorized').length);
      assert.ok(count >= 10);
    });
  });

  describe('FORWARD_AUTH_TRUSTED_IPS', () => {
    it("refuses a caller outside the list by the connection's address, whatever X-Forwarded-For says: 403, before any session work", async () => {
      const h = await startHarness({ env: { FORWARD_AUTH_PATH: '/auth', FORWARD_AUTH_TRUSTED_IPS: '10.0.0.0/8, fd00::/8' } });
      try {
        const ua = h.browser();
        await h.login(ua);
        const res = await ask(h, ua, { headers: { 'x-forwarded-for': '10.1.2.3', 'x-real-ip': '10.1.2.3' } });
        assert.equal(res.status, 403);
        assert.equal(errorOf(res), 'untrusted_gateway');
        assert.equal(res.headers.get('authorization'), null);
        assert.deepEqual(res.setCookies, []);
        const [logged] = h.logs.named('gateway.untrusted_caller');
        assert.match(String(logged?.['reason']), /caller (::ffff:)?127\.0\.0\.1 is not in FORWARD_AUTH_TRUSTED_IPS/);
        // The BFF's other routes do not care.
        assert.equal((await h.api(ua, '/still-works')).status, 200);
      } finally {
        await h.close();
      }
    });
  });

  describe('FORWARD_AUTH_IDENTITY_HEADERS=true', () => {
    it('adds X-Auth-Request-User (sub) and X-Auth-Request-Email (email claim)', async () => {
      const h = await startHarness({ env: { FORWARD_AUTH_PATH: '/gateway/check', FORWARD_AUTH_IDENTITY_HEADERS: 'true' } });
      try {
        const ua = h.browser();
        await h.login(ua, '?login_hint=carol');
        const res = await ask(h, ua, { path: '/gateway/check' });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('x-auth-request-user'), 'carol');
        assert.equal(res.headers.get('x-auth-request-email'), 'carol@example.test');
        assert.equal(res.headers.get('x-envoy-auth-headers-to-remove'), 'cookie, x-csrf');
      } finally {
        await h.close();
      }
    });
  });

  describe('with cookie sessions', () => {
    it('carries the re-sealed session cookie on the 200, once per cookie name', async () => {
      const clock = testClock();
      const h = await startHarness({ now: clock.now, env: { FORWARD_AUTH_PATH: '/auth', SESSION_STORE: 'cookie' } });
      try {
        const ua = h.browser();
        await h.login(ua);
        const host = new URL(h.url).host;
        const before = ua.cookie(host, 'bff-session');
        clock.advance(ACCESS_TTL_MS + 1);
        const res = await ask(h, ua);
        assert.equal(res.status, 200);
        assert.equal(res.setCookies.filter((c) => c.startsWith('bff-session=')).length, 1, res.setCookies.join(' | '));
        assert.notEqual(ua.cookie(host, 'bff-session'), before);
        assert.equal((await ask(h, ua)).headers.get('authorization'), res.headers.get('authorization'), 'the new cookie holds the new token');
      } finally {
        await h.close();
      }
    });
  });
});

/** A GET with the path exactly as written (fetch would normalise it). */
function rawGet(h: Harness, ua: UserAgent, path: string): Promise<{ status: number; authorization: string | undefined }> {
  const url = new URL(h.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path, headers: { cookie: ua.cookieHeader(url.host) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, authorization: res.headers.authorization }));
    });
    req.on('error', reject);
    req.end();
  });
}
