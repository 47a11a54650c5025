import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/harness.js';
import { decodeJwt } from '../support/jwt.js';
import { routesFile, type RoutesFile } from '../support/routes-file.js';
import { startEchoUpstream, type EchoUpstream } from '../support/upstream-echo.js';
import type { UserAgent } from '../support/user-agent.js';

const ORDERS = 'https://orders.example.test';
const BILLING = 'https://billing.example.test';
const REPORTS = 'https://reports.example.test';
const PARTNER = 'https://partner.example.test';
const IDP_RESOURCES = {
  [ORDERS]: { scope: 'orders:read' },
  [BILLING]: { scope: 'billing:read' },
  [REPORTS]: { scope: 'reports:read' },
  [PARTNER]: { scope: 'partner:read' },
};

/** One echo upstream per route, named like the route, so every token can be traced to where it went. */
const UPSTREAMS = ['orders', 'billing', 'reports', 'partner', 'public', 'profile', 'admin'] as const;
type UpstreamName = (typeof UPSTREAMS)[number];

interface Setup {
  h: Harness;
  upstreams: Record<UpstreamName, EchoUpstream>;
  routes: RoutesFile;
}

async function start(extraEnv: Record<string, string> = {}): Promise<Setup> {
  const upstreams = Object.fromEntries(await Promise.all(UPSTREAMS.map(async (n) => [n, await startEchoUpstream()] as const))) as Record<
    UpstreamName,
    EchoUpstream
  >;
  const routes = routesFile(
    [
      { path: '/api/orders', upstream: `${upstreams.orders.url}/v2`, token: 'user', resource: ORDERS, scopes: ['orders:read'] },
      { path: '/api/billing', upstream: upstreams.billing.url, token: 'user', resource: BILLING },
      { path: '/api/reports', upstream: upstreams.reports.url, token: 'exchange', audience: REPORTS },
      { path: '/api/partner', upstream: upstreams.partner.url, token: 'client', resource: PARTNER },
      { path: '/api/public', upstream: upstreams.public.url, token: 'none' },
      { path: '/api/profile', upstream: upstreams.profile.url, token: 'user-optional' },
      { path: '/api/admin', upstream: upstreams.admin.url, token: 'user', scopes: 'admin:write' },
    ],
    'yaml',
  );
  const h = await startHarness({
    idp: { resources: IDP_RESOURCES, clientCredentials: true, tokenExchange: true },
    env: { API_ROUTES: routes.path, OIDC_SCOPES: 'openid profile email offline_access orders:read billing:read', ...extraEnv },
  });
  return { h, upstreams, routes };
}

async function stop(s: Setup | undefined): Promise<void> {
  if (!s) return;
  await s.h.close();
  await Promise.all(Object.values(s.upstreams).map((u) => u.close()));
  s.routes.remove();
}

const tokensAt = (u: EchoUpstream) => u.received.map((r) => r.headers['authorization']).filter((a): a is string => typeof a === 'string');
const bearer = (header: string) => header.replace(/^(Bearer|DPoP) /, '');
const audienceOf = (token: string) => decodeJwt(token).payload['aud'];

describe('API_ROUTES: each route forwards the token its policy names, to its own upstream only', () => {
  let s: Setup;
  let ua: UserAgent;
  before(async () => {
    s = await start();
    ua = s.h.browser();
    await s.h.login(ua);
    for (const path of ['/orders/1', '/billing/1', '/reports/1', '/partner/1', '/public/1', '/profile/1', '/x']) {
      const res = await s.h.api(ua, path);
      assert.equal(res.status, 200, `${path}: ${res.text}`);
    }
  });
  after(() => stop(s));

  it('user + resource: an access token whose audience is the route resource, and the prefix replaced by the upstream base', () => {
    const [auth] = tokensAt(s.upstreams.orders);
    assert.equal(audienceOf(bearer(auth!)), ORDERS);
    assert.equal(s.upstreams.orders.received[0]!.url, '/v2/1');
    assert.equal(audienceOf(bearer(tokensAt(s.upstreams.billing)[0]!)), BILLING);
  });

  it('exchange: a token exchanged for the route audience, about the same user', () => {
    const token = bearer(tokensAt(s.upstreams.reports)[0]!);
    assert.equal(audienceOf(token), REPORTS);
    assert.equal(decodeJwt(token).payload['sub'], 'alice');
  });

  it('client: a client-credentials token of the BFF, with no user in it', () => {
    const payload = decodeJwt(bearer(tokensAt(s.upstreams.partner)[0]!)).payload;
    assert.equal(payload['aud'], PARTNER);
    assert.equal(payload['sub'], 'spa-bff');
  });

  it('none: no Authorization at all, and none of the BFF cookies', () => {
    const r = s.upstreams.public.received[0]!;
    assert.equal(r.headers['authorization'], undefined);
    assert.doesNotMatch(String(r.headers['cookie'] ?? ''), /bff-/);
  });

  it('user-optional with a session and the API_UPSTREAM shorthand: the session token', () => {
    const profile = bearer(tokensAt(s.upstreams.profile)[0]!);
    assert.ok(s.h.idp.issued.has(profile));
    assert.equal(bearer(tokensAt(s.h.upstream).at(-1)!), profile);
  });

  it('no token reaches an upstream other than its route: every upstream saw a different token', () => {
    const seen = new Map<string, string>();
    for (const [name, u] of [...Object.entries(s.upstreams), ['shorthand', s.h.upstream] as const]) {
      for (const token of tokensAt(u).map(bearer)) {
        const other = seen.get(token);
        // user-optional and the shorthand route both carry the session's own token, by design.
        if (other && !(new Set([other, name]).size === 2 && [other, name].every((n) => n === 'profile' || n === 'shorthand'))) {
          assert.fail(`one token reached both ${other} and ${name}`);
        }
        seen.set(token, name);
      }
    }
    assert.equal(seen.size, 5);
  });
});

describe('API_ROUTES: policies without a session, and required scopes', () => {
  let s: Setup;
  after(() => stop(s));
  before(async () => {
    s = await start();
  });

  it('user-optional without a session forwards anonymously', async () => {
    const res = await s.h.api(s.h.browser(), '/profile/me');
    assert.equal(res.status, 200);
    assert.equal(s.upstreams.profile.received[0]!.headers['authorization'], undefined);
  });

  it('user, client and exchange routes refuse a request without a session (401), upstream not called', async () => {
    for (const path of ['/orders/1', '/partner/1', '/reports/1']) {
      const res = await s.h.api(s.h.browser(), path);
      assert.equal(res.status, 401, path);
    }
    assert.equal(s.upstreams.orders.received.length + s.upstreams.partner.received.length + s.upstreams.reports.received.length, 0);
    assert.equal(s.h.idp.counts.clientCredentials + s.h.idp.counts.tokenExchange, 0);
  });

  it('a route whose scope the session lacks answers 403 insufficient_scope without calling the upstream', async () => {
    const ua = s.h.browser();
    await s.h.login(ua);
    const res = await s.h.api(ua, '/admin/users');
    assert.equal(res.status, 403);
    assert.equal(res.json<{ error: string }>().error, 'insufficient_scope');
    assert.equal(s.upstreams.admin.received.length, 0);
    assert.equal((await s.h.api(ua, '/orders/1')).status, 200, 'a granted scope passes');
  });

  it('a path that names a more specific route once normalised (%61dmin, admin;x, ADMIN) is 400, not sent to the catch-all', async () => {
    const ua = s.h.browser();
    await s.h.login(ua);
    const before = s.h.upstream.received.length;
    for (const disguised of ['/%61dmin/users', '/admin;x/users', '/ADMIN/users', '/Orders/1']) {
      const res = await s.h.api(ua, disguised);
      assert.equal(res.status, 400, disguised);
      assert.equal(res.json<{ error: string }>().error, 'invalid_path');
    }
    assert.equal(s.h.upstream.received.length + s.upstreams.admin.received.length, before);
    assert.equal((await s.h.api(ua, '/orders/ABC-%41')).status, 200, "case and escapes after the route prefix are the upstream's business");
  });

  it('a DPoP header from the browser never reaches an upstream', async () => {
    const res = await s.h.api(s.h.browser(), '/public/x', { headers: { dpop: 'attacker-chosen-proof' } });
    assert.equal(res.status, 200);
    assert.equal(s.upstreams.public.received.at(-1)!.headers['dpop'], undefined);
  });

  it('every route still needs the anti-CSRF header', async () => {
    const before = s.upstreams.public.received.length;
    const res = await s.h.browser().request('GET', `${s.h.url}/api/public/x`);
    assert.equal(res.status, 403);
    assert.equal(s.upstreams.public.received.length, before);
  });

  it('a path under API_PATH that no route claims is 404 when there is no catch-all route', async () => {
    const routes = routesFile([{ path: '/api/public', upstream: s.upstreams.public.url, token: 'none' }]);
    const only = await startHarness({ env: { API_UPSTREAM: '', API_ROUTES: routes.path } });
    try {
      const res = await only.api(only.browser(), '/elsewhere');
      assert.equal(res.status, 404);
    } finally {
      await only.close();
      routes.remove();
    }
  });
});

describe('API_ROUTES: client-credentials, exchanged and resource tokens are fetched once and cached', () => {
  let s: Setup;
  let ua: UserAgent;
  beforeEach(async () => {
    s = await start();
    ua = s.h.browser();
    await s.h.login(ua);
  });
  afterEach(() => stop(s));

  it('50 concurrent calls on a client route make one client_credentials request', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => s.h.api(ua, `/partner/${i}`)));
    assert.deepEqual(
      results.map((r) => r.status),
      Array(50).fill(200),
    );
    assert.equal(s.h.idp.counts.clientCredentials, 1);
    assert.equal(new Set(tokensAt(s.upstreams.partner)).size, 1);
  });

  it('50 concurrent calls on an exchange route make one token exchange for the session', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => s.h.api(ua, `/reports/${i}`)));
    assert.deepEqual(
      results.map((r) => r.status),
      Array(50).fill(200),
    );
    assert.equal(s.h.idp.counts.tokenExchange, 1);
    const other = s.h.browser();
    await s.h.login(other, '?login_hint=bob');
    await s.h.api(other, '/reports/x');
    assert.equal(s.h.idp.counts.tokenExchange, 2, 'another session gets its own exchanged token');
    assert.equal(decodeJwt(bearer(tokensAt(s.upstreams.reports).at(-1)!)).payload['sub'], 'bob');
  });

  it('one refresh token, one access token per resource: 50 concurrent calls over two resources make one refresh each', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => s.h.api(ua, i % 2 ? `/orders/${i}` : `/billing/${i}`)));
    assert.deepEqual(
      results.map((r) => r.status),
      Array(50).fill(200),
    );
    assert.equal(s.h.idp.counts.refresh, 2);
    assert.equal(new Set(tokensAt(s.upstreams.orders)).size, 1);
    assert.equal(new Set(tokensAt(s.upstreams.billing)).size, 1);
    // The rotated refresh token was kept: the session still refreshes (a replay would end it).
    const forced = await ua.request('POST', `${s.h.url}/refresh`, { headers: { 'x-csrf': '1' } });
    assert.equal(forced.status, 200);
    assert.equal((await s.h.api(ua, '/orders/again')).status, 200);
    assert.equal(s.h.idp.counts.refresh, 3, 'resource tokens outlive a refresh of the session token');
  });
});

describe('API_ROUTES: timeouts and body limits are per route', () => {
  let h: Harness;
  let upstream: EchoUpstream;
  let routes: RoutesFile;
  before(async () => {
    upstream = await startEchoUpstream();
    routes = routesFile([
      { path: '/api/small', upstream: upstream.url, token: 'none', maxBody: 16 },
      { path: '/api/quick', upstream: upstream.url, token: 'none', timeout: 1 },
    ]);
    h = await startHarness({ env: { API_ROUTES: routes.path } });
  });
  after(async () => {
    await h.close();
    await upstream.close();
    routes.remove();
  });

  it('a body over the route maxBody is 413 while the catch-all route takes it', async () => {
    const ua = h.browser();
    await h.login(ua);
    const body = 'x'.repeat(64);
    assert.equal((await h.api(ua, '/small/upload', { method: 'POST', body })).status, 413);
    assert.equal((await h.api(ua, '/other/upload', { method: 'POST', body })).status, 200);
  });

  it('an upstream slower than the route timeout is 504 upstream_timeout', async () => {
    const res = await h.api(h.browser(), '/quick/hang');
    assert.equal(res.status, 504);
    assert.equal(res.json<{ error: string }>().error, 'upstream_timeout');
  });
});

describe('login asks for what the routes need: every user route resource (RFC 8707), and OIDC_AUTH_PARAMS', () => {
  let s: Setup;
  after(() => stop(s));

  it('sends one resource parameter per user resource and the extra parameters, which the query cannot override', async () => {
    s = await start({ OIDC_USE_PAR: 'false', OIDC_AUTH_PARAMS: 'audience=https://api.example.test&kc_idp_hint=corp&acr_values=urn:mfa' });
    const res = await s.h.browser().get(`${s.h.url}/login?prompt=login&acr_values=urn:weak`);
    const url = new URL(res.headers.get('location')!);
    assert.deepEqual(url.searchParams.getAll('resource').sort(), [BILLING, ORDERS]);
    assert.equal(url.searchParams.get('audience'), 'https://api.example.test');
    assert.equal(url.searchParams.get('kc_idp_hint'), 'corp');
    assert.equal(url.searchParams.get('prompt'), 'login');
    assert.deepEqual(url.searchParams.getAll('acr_values'), ['urn:mfa'], "the operator's acr_values is not downgraded by the query");
  });
});
