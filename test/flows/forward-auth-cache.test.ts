import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { testClock, type TestClock } from '../support/clock.js';
import { startHarness, type Harness } from '../support/harness.js';
import { routesFile, type RoutesFile } from '../support/routes-file.js';
import type { UaResponse, UserAgent } from '../support/user-agent.js';

const SKEW_MS = 30_000;

interface Setup {
  h: Harness;
  routes: RoutesFile;
  clock: TestClock;
}

/** A BFF with a `phantom` route (/api/orders) and a `user` route (/api/profile), behind FORWARD_AUTH_PATH=/auth. */
async function start(env: Record<string, string> = {}): Promise<Setup> {
  const clock = testClock();
  const routes = routesFile([
    { path: '/api/orders', upstream: 'http://127.0.0.1:9/orders', token: 'phantom' },
    { path: '/api/profile', upstream: 'http://127.0.0.1:9/profile', token: 'user' },
  ]);
  const h = await startHarness({
    now: clock.now,
    idp: { introspection: 'jwtBody' },
    env: { API_ROUTES: routes.path, OIDC_INTROSPECTION_DIALECT: 'jwt', FORWARD_AUTH_PATH: '/auth', ...env },
  });
  return { h, routes, clock };
}

async function stop(s: Setup | undefined): Promise<void> {
  if (!s) return;
  await s.h.close();
  s.routes.remove();
}

/** The gateway's authorization request for the original request `method uri`, with the browser's headers. */
function ask(s: Setup, ua: UserAgent, uri: string, headers: Record<string, string> = {}, method = 'GET'): Promise<UaResponse> {
  return ua.request('GET', `${s.h.url}/auth`, { headers: { 'x-original-method': method, 'x-original-uri': uri, ...headers } });
}

const cacheOf = (res: UaResponse) => ({ cacheControl: res.headers.get('cache-control'), accelExpires: res.headers.get('x-accel-expires') });
const NOT_CACHED = { cacheControl: 'no-store', accelExpires: '0' };
const cachedFor = (seconds: number) => ({ cacheControl: `private, max-age=${seconds}`, accelExpires: String(seconds) });
/** Cacheable for `seconds`, or one less: the session's ends are kept in whole seconds, and max-age rounds down. */
function assertCachedAbout(res: UaResponse, seconds: number): void {
  const got = cacheOf(res);
  assert.ok(
    [cachedFor(seconds), cachedFor(seconds - 1)].some((c) => c.cacheControl === got.cacheControl && c.accelExpires === got.accelExpires),
    JSON.stringify(got),
  );
}
/** Seconds from the BFF's clock to the JWT's expiry minus the skew, as the cap would be without any other bound. */
const jwtSecondsLeft = (s: Setup, res: UaResponse) => {
  const exp = decodeJwt((res.headers.get('authorization') ?? '').replace(/^Bearer /, '')).exp!;
  return Math.floor((exp * 1000 - SKEW_MS - s.clock.now()) / 1000);
};

describe('forward-auth answer of a phantom route: cacheable by a gateway, per session, only when safe', () => {
  let s: Setup;
  let ua: UserAgent;
  before(async () => {
    s = await start({ FORWARD_AUTH_CACHE_MAX_AGE: '60' });
    ua = s.h.browser();
    await s.h.login(ua);
  });
  after(() => stop(s));

  it('a same-site safe call: Cache-Control private with max-age = FORWARD_AUTH_CACHE_MAX_AGE, and X-Accel-Expires the same', async () => {
    const res = await ask(s, ua, '/api/orders/1', { 'sec-fetch-site': 'same-origin', 'x-csrf': '1' });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get('authorization') ?? '', /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    assert.deepEqual(cacheOf(res), cachedFor(60), res.setCookies.join(' | '));
    assert.equal(s.h.logs.named('gateway.authorized').at(-1)?.['cache_seconds'], 60);
  });

  it('an unsafe original request (POST with X-CSRF) is never cacheable: its verdict hangs on X-CSRF', async () => {
    const res = await ask(s, ua, '/api/orders/1', { 'x-csrf': '1', origin: s.h.url }, 'POST');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(cacheOf(res), NOT_CACHED);
  });

  it('a GET whose gateway also names an unsafe method (X-Forwarded-Method: DELETE slipped through) is never cacheable', async () => {
    const res = await ask(s, ua, '/api/orders/1', { 'x-csrf': '1', 'x-forwarded-method': 'DELETE' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(cacheOf(res), NOT_CACHED);
  });

  it('a route that is not phantom (user) is never cacheable', async () => {
    const res = await ask(s, ua, '/api/profile', { 'x-csrf': '1' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(cacheOf(res), NOT_CACHED);
  });

  it('every refusal is no-store and X-Accel-Expires: 0: anonymous, forged cookie, cross-site, unsafe without X-CSRF', async () => {
    const refusals = [
      await ask(s, s.h.browser(), '/api/orders/1', { 'x-csrf': '1' }),
      await ask(s, s.h.browser(), '/api/orders/1', { 'x-csrf': '1', cookie: 'bff-session=forged' }),
      await ask(s, ua, '/api/orders/1', { 'sec-fetch-site': 'cross-site' }),
      await ask(s, ua, '/api/orders/1', { origin: 'https://evil.example' }),
      await ask(s, ua, '/api/orders/1', {}, 'POST'),
    ];
    assert.deepEqual(
      refusals.map((r) => r.status),
      [401, 401, 403, 403, 403],
    );
    for (const res of refusals) assert.deepEqual(cacheOf(res), NOT_CACHED);
  });
});

describe('forward-auth answer of a phantom route: never cached longer than its JWT or its session lives', () => {
  let s: Setup | undefined;
  afterEach(async () => {
    await stop(s);
    s = undefined;
  });

  it("is bounded by the JWT's expiry minus TOKEN_REFRESH_SKEW, however high FORWARD_AUTH_CACHE_MAX_AGE", async () => {
    s = await start({ FORWARD_AUTH_CACHE_MAX_AGE: '3600' });
    const ua = s.h.browser();
    await s.h.login(ua);
    const fresh = await ask(s, ua, '/api/orders/1');
    assert.equal(fresh.status, 200, fresh.text);
    assert.ok(jwtSecondsLeft(s, fresh) < 3600);
    assert.deepEqual(cacheOf(fresh), cachedFor(jwtSecondsLeft(s, fresh)));
    s.clock.advance(200_000);
    const later = await ask(s, ua, '/api/orders/2');
    assert.equal(later.headers.get('authorization'), fresh.headers.get('authorization'), 'the same JWT, from the cache');
    assert.ok(jwtSecondsLeft(s, later) < 100);
    assert.deepEqual(cacheOf(later), cachedFor(jwtSecondsLeft(s, later)));
  });

  it("is bounded by the session's absolute end (SESSION_MAX_AGE), however active the browser", async () => {
    s = await start({ FORWARD_AUTH_CACHE_MAX_AGE: '3600', SESSION_IDLE_TIMEOUT: '60', SESSION_MAX_AGE: '120' });
    const ua = s.h.browser();
    await s.h.login(ua);
    s.clock.advance(50_000);
    assert.equal((await ask(s, ua, '/api/orders/1')).status, 200);
    s.clock.advance(50_000);
    const res = await ask(s, ua, '/api/orders/2');
    assert.equal(res.status, 200, res.text);
    assertCachedAbout(res, 20);
  });

  it("is bounded by the session's idle end (SESSION_IDLE_TIMEOUT)", async () => {
    s = await start({ FORWARD_AUTH_CACHE_MAX_AGE: '3600', SESSION_IDLE_TIMEOUT: '90' });
    const ua = s.h.browser();
    await s.h.login(ua);
    const res = await ask(s, ua, '/api/orders/1');
    assert.equal(res.status, 200, res.text);
    assertCachedAbout(res, 90);
  });

  it('FORWARD_AUTH_CACHE_MAX_AGE=0: no answer is cacheable', async () => {
    s = await start({ FORWARD_AUTH_CACHE_MAX_AGE: '0' });
    const ua = s.h.browser();
    await s.h.login(ua);
    const res = await ask(s, ua, '/api/orders/1');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(cacheOf(res), NOT_CACHED);
  });

  it('an answer that carries a Set-Cookie (a cookie session re-sealed after a refresh) is never cacheable', async () => {
    s = await start({ FORWARD_AUTH_CACHE_MAX_AGE: '60', SESSION_STORE: 'cookie' });
    const ua = s.h.browser();
    await s.h.login(ua);
    s.clock.advance(300_001);
    const res = await ask(s, ua, '/api/orders/1');
    assert.equal(res.status, 200, res.text);
    assert.ok(
      res.setCookies.some((c) => c.startsWith('bff-session=')),
      'the refreshed session is re-sealed into the answer',
    );
    assert.deepEqual(cacheOf(res), NOT_CACHED);
  });
});
