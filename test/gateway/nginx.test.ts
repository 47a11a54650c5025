import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testClock, type TestClock } from '../support/clock.js';
import { idpFaults, tokenEndpointAnswers, type IdpFaults } from '../support/faults.js';
import { freePort } from '../support/free-port.js';
import { CLIENT_ID, CLIENT_SECRET, startHarness, type Harness } from '../support/harness.js';
import { startNginx, type RunningNginx } from '../support/nginx.js';
import { UserAgent, type UaResponse } from '../support/user-agent.js';

const TEMPLATE = readFileSync(new URL('../../examples/nginx/nginx.conf', import.meta.url), 'utf8');
const ACCESS_TTL_MS = 300_000;
const SPA_PAGE = '<!doctype html><title>the SPA</title>';

/**
 * The SPA's origin is nginx (examples/nginx/nginx.conf, rendered with free ports): it routes
 * /login, /callback… to the BFF, serves the SPA, and proxies /api/* to the echo upstream itself
 * after asking the BFF's forward-auth endpoint (auth_request).
 */
interface GatewayStack {
  h: Harness;
  nginx: RunningNginx;
  /** nginx's origin: PUBLIC_URL. */
  url: string;
  host: string;
  login(ua: UserAgent): Promise<UaResponse>;
  call(ua: UserAgent, path: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<UaResponse>;
  close(): Promise<void>;
}

async function startGatewayStack(options: {
  clock: TestClock;
  faults?: IdpFaults;
  env?: Record<string, string>;
  rotateRefreshToken?: boolean;
}): Promise<GatewayStack> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const h = await startHarness({
    now: options.clock.now,
    ...(options.faults ? { idpFetch: options.faults.fetch } : {}),
    env: { PUBLIC_URL: url, FORWARD_AUTH_PATH: '/auth', ...options.env },
    idp: {
      clients: [
        { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${url}/callback`], post_logout_redirect_uris: [`${url}/logout/callback`] },
      ],
      ...(options.rotateRefreshToken ? { rotateRefreshToken: true } : {}),
    },
  });
  const spaRoot = mkdtempSync(join(tmpdir(), 'oidc-bff-spa-'));
  writeFileSync(join(spaRoot, 'index.html'), SPA_PAGE);
  let nginx: RunningNginx;
  try {
    nginx = await startNginx({
      template: TEMPLATE,
      port,
      vars: { LISTEN: `127.0.0.1:${port}`, BFF_ADDR: new URL(h.url).host, API_ADDR: new URL(h.upstream.url).host, API_PATH: '/v1', SPA_ROOT: spaRoot },
    });
  } catch (err) {
    await h.close();
    rmSync(spaRoot, { recursive: true, force: true });
    throw err;
  }
  return {
    h,
    nginx,
    url,
    host: `127.0.0.1:${port}`,
    async login(ua) {
      const { callback } = await ua.login(`${url}/login`, { stopAtOrigin: url });
      return callback;
    },
    call(ua, path, init = {}) {
      return ua.request(init.method ?? 'GET', `${url}${path}`, {
        ...(init.headers ? { headers: init.headers } : {}),
        ...(init.body === undefined ? {} : { body: init.body }),
      });
    },
    async close() {
      await nginx.close();
      await h.close();
      rmSync(spaRoot, { recursive: true, force: true });
    },
  };
}

const CSRF = { 'x-csrf': '1' };
const bearerOf = (h: Harness, i = -1) => String(h.upstream.received.at(i)?.headers['authorization'] ?? '');
const errorOf = (res: UaResponse) => res.json<{ error: string }>().error;

describe('nginx in front (examples/nginx/nginx.conf): the BFF as its auth_request step', () => {
  const clock = testClock();
  const faults = idpFaults();
  let s: GatewayStack;
  let ua: UserAgent;
  before(async () => {
    s = await startGatewayStack({ clock, faults });
    ua = new UserAgent();
    const callback = await s.login(ua);
    assert.equal(callback.status, 302, callback.text);
    assert.ok(ua.cookie(s.host, 'bff-session'), 'the session cookie is set for the origin nginx serves');
  });
  afterEach(() => faults.clear());
  after(async () => s?.close());

  it("a signed-in browser's /api call reaches the API through nginx with the session's bearer token", async () => {
    const res = await s.call(ua, '/api/things/42?expand=a', { headers: CSRF });
    assert.equal(res.status, 200, res.text);
    const got = s.h.upstream.received.at(-1)!;
    assert.equal(got.method, 'GET');
    assert.equal(got.url, '/v1/things/42?expand=a');
    assert.match(bearerOf(s.h), /^Bearer .+/);
    assert.ok(s.h.idp.issued.has(bearerOf(s.h).slice('Bearer '.length)), 'a token the IdP issued for this session');
    assert.equal(got.headers['x-csrf'], undefined);
    assert.equal(res.headers.get('authorization'), null, 'the token never reaches the browser');
    assert.ok(s.h.logs.named('gateway.authorized').length > 0);
  });

  it('passes an unsafe request with the anti-CSRF header, body and all', async () => {
    const res = await s.call(ua, '/api/things', { method: 'POST', headers: { ...CSRF, 'content-type': 'application/json', origin: s.url }, body: '{"n":1}' });
    assert.equal(res.status, 200, res.text);
    const got = s.h.upstream.received.at(-1)!;
    assert.equal(got.method, 'POST');
    assert.equal(got.body, '{"n":1}');
    assert.match(bearerOf(s.h), /^Bearer .+/);
  });

  it("never lets the BFF's cookies reach the API, and passes the browser's other cookies", async () => {
    ua.setCookie(s.host, 'theme', 'dark');
    ua.setCookie(s.host, 'bff-login', 'pending-login-state');
    ua.setCookie(s.host, 'bff-session.1', 'a-stray-chunk');
    ua.setCookie(s.host, 'lang', 'en');
    try {
      assert.equal((await s.call(ua, '/api/with-cookies', { headers: CSRF })).status, 200);
      assert.equal(s.h.upstream.received.at(-1)!.headers['cookie'], 'theme=dark; lang=en');
    } finally {
      for (const name of ['theme', 'bff-login', 'bff-session.1', 'lang']) ua.deleteCookie(s.host, name);
    }
    assert.equal((await s.call(ua, '/api/only-the-session', { headers: CSRF })).status, 200);
    assert.equal(s.h.upstream.received.at(-1)!.headers['cookie'], undefined, 'no Cookie header when only the BFF had cookies');
  });

  it('drops an Authorization or identity header the browser sends itself', async () => {
    await s.call(ua, '/api/smuggle', { headers: { ...CSRF, authorization: 'Bearer attacker', 'x-auth-request-user': 'admin' } });
    const got = s.h.upstream.received.at(-1)!;
    assert.notEqual(got.headers['authorization'], 'Bearer attacker');
    assert.equal(got.headers['x-auth-request-user'], undefined);
  });

  it('answers an anonymous call 401 JSON, and the API is not called', async () => {
    const before = s.h.upstream.received.length;
    for (const stranger of [new UserAgent(), withCookie(s.host, 'bff-session', 'forged-or-expired')]) {
      const res = await s.call(stranger, '/api/things', { headers: CSRF });
      assert.equal(res.status, 401);
      assert.equal(errorOf(res), 'unauthenticated');
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    }
    assert.equal(s.h.upstream.received.length, before);
  });

  it('answers a cross-site or header-less unsafe call 403, and the API is not called', async () => {
    const before = s.h.upstream.received.length;
    const refused = [
      await s.call(ua, '/api/things', { method: 'POST', body: '{}' }),
      await s.call(ua, '/api/things', { method: 'DELETE', headers: { ...CSRF, origin: 'https://evil.example' } }),
      await s.call(ua, '/api/things', { headers: { ...CSRF, 'sec-fetch-site': 'cross-site' } }),
      await s.call(ua, '/api/things', { headers: { origin: 'https://evil.example' } }),
    ];
    assert.deepEqual(
      refused.map((r) => r.status),
      [403, 403, 403, 403],
    );
    assert.deepEqual(refused.map(errorOf), ['csrf', 'csrf', 'csrf', 'csrf']);
    assert.equal(s.h.upstream.received.length, before);
    assert.ok(s.h.logs.named('csrf.rejected').length >= 4);
  });

  it('lets a same-site safe call through without the anti-CSRF header (only unsafe methods need it)', async () => {
    const res = await s.call(ua, '/api/plain-get', { headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(res.status, 200);
  });

  it('gives a browser no way to the forward-auth endpoint through nginx', async () => {
    for (const path of ['/auth', '/_bff_auth', '/auth/api/things']) {
      const res = await s.call(ua, path, { headers: CSRF });
      assert.equal(res.headers.get('authorization'), null, path);
      assert.ok(res.status === 404 || res.text === SPA_PAGE, `${path}: ${res.status}`);
    }
  });

  it('refreshes an expiring token once under 20 concurrent calls through nginx', async () => {
    clock.advance(ACCESS_TTL_MS + 1);
    const refreshesBefore = s.h.idp.counts.refresh;
    const receivedBefore = s.h.upstream.received.length;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => s.call(ua, `/api/concurrent/${i}`, { headers: CSRF })));
    assert.deepEqual(
      results.map((r) => r.status),
      Array(20).fill(200),
      results.map((r) => r.status).join(','),
    );
    assert.equal(s.h.idp.counts.refresh - refreshesBefore, 1, 'refreshes at the IdP');
    const bearers = new Set(s.h.upstream.received.slice(receivedBefore).map((r) => r.headers['authorization']));
    assert.equal(bearers.size, 1, `the API saw ${bearers.size} different tokens`);
    const token = String([...bearers][0]).slice('Bearer '.length);
    assert.ok(s.h.idp.issued.has(token));
    assert.equal(s.h.upstream.received.length - receivedBefore, 20);
  });

  it('a refresh the IdP rejects ends the session: 401 through nginx, with the session cookie cleared', async () => {
    const other = new UserAgent();
    await s.login(other);
    clock.advance(ACCESS_TTL_MS + 1);
    faults.set(tokenEndpointAnswers(400, { error: 'invalid_grant' }));
    const res = await s.call(other, '/api/after-revocation', { headers: CSRF });
    assert.equal(res.status, 401);
    assert.equal(errorOf(res), 'unauthenticated');
    assert.ok(
      res.setCookies.some((c) => /^bff-session=;/.test(c) && /Max-Age=0/i.test(c)),
      res.setCookies.join(' | '),
    );
    assert.equal(other.cookie(s.host, 'bff-session'), undefined);
  });

  it("never let any of the BFF's cookies reach the API in this whole run", () => {
    assert.ok(s.h.upstream.received.length >= 25);
    for (const r of s.h.upstream.received) assert.doesNotMatch(String(r.headers['cookie'] ?? ''), /bff-/);
  });
});

describe('nginx in front, cookie sessions: the refreshed session cookie reaches the browser', () => {
  const clock = testClock();
  let s: GatewayStack;
  before(async () => {
    s = await startGatewayStack({ clock, env: { SESSION_STORE: 'cookie' }, rotateRefreshToken: true });
  });
  after(async () => s?.close());

  it('re-issues the sealed session through nginx at each refresh, so the rotated refresh token is never replayed', async () => {
    const ua = new UserAgent();
    await s.login(ua);
    for (let round = 1; round <= 3; round++) {
      const cookieBefore = ua.cookie(s.host, 'bff-session');
      clock.advance(ACCESS_TTL_MS + 1);
      const res = await s.call(ua, `/api/round/${round}`, { headers: CSRF });
      assert.equal(res.status, 200, `round ${round}: ${res.status} ${res.text}`);
      assert.equal(res.setCookies.filter((c) => c.startsWith('bff-session=')).length, 1, 'one Set-Cookie per cookie');
      assert.notEqual(ua.cookie(s.host, 'bff-session'), cookieBefore, `round ${round}: the browser holds the new sealed session`);
    }
    assert.equal(s.h.idp.counts.refresh, 3);
  });
});

function withCookie(host: string, name: string, value: string): UserAgent {
  const ua = new UserAgent();
  ua.setCookie(host, name, value);
  return ua;
}
