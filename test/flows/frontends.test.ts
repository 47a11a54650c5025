import assert from 'node:assert/strict';
import { listen } from '../../src/http/server.js';
import { rawGet, startFrontends, type Frontends } from '../support/frontends.js';
import { UserAgent } from '../support/user-agent.js';

const bearerAt = (f: Frontends, id: string) => String(f.upstreams[id]!.received.at(-1)?.headers['authorization'] ?? '').replace(/^Bearer /, '');

/** login → /session → API → refresh → logout at one frontend, the other staying signed in. */
async function wholeFlow(f: Frontends, ua: UserAgent, id: string, other: string): Promise<void> {
  const callback = await f.login(ua, id);
  assert.equal(callback.status, 302, `callback at ${id}: ${callback.text}`);
  assert.equal(callback.headers.get('location'), `${f.url[id]}/`);
  const session = await ua.get(`${f.url[id]}/session`);
  assert.equal(session.status, 200);
  const api = await f.api(ua, id, '/orders?x=1');
  assert.equal(api.status, 200);
  assert.equal(f.upstreams[id]!.received.at(-1)?.url, '/v1/orders?x=1');
  const token = bearerAt(f, id);
  assert.ok(f.idpOf(id).issued.has(token), `the token at ${id}'s upstream is not from ${id}'s IdP`);
  const refresh = await ua.post(`${f.url[id]}/refresh`, { headers: { 'x-csrf': '1' } });
  assert.equal(refresh.status, 200, refresh.text);
  await f.api(ua, id, '/orders');
  assert.notEqual(bearerAt(f, id), token, 'the refresh did not replace the access token');
  assert.equal((await ua.get(`${f.url[other]}/session`)).status, 200, `${other} lost its session`);
  const logout = await ua.post(`${f.url[id]}/logout`, { headers: { 'x-csrf': '1' } });
  assert.equal(logout.status, 200, logout.text);
  assert.equal((await ua.get(`${f.url[id]}/session`)).status, 401);
  assert.equal((await ua.get(`${f.url[other]}/session`)).status, 200, `logging out of ${id} ended ${other}'s session`);
}

describe('BFF_CONFIG: several frontends in one process', () => {
  describe('two frontends by host (127.0.0.1 and localhost on one port), each with its own IdP', () => {
    let f: Frontends;
    before(async () => {
      f = await startFrontends({ one: { hostname: '127.0.0.1', idp: 'a' }, two: { hostname: 'localhost', idp: 'b' } });
    });
    after(() => f?.close());

    it('each frontend: login → session → API → refresh → logout, both signed in at once in one browser', async () => {
      const browser = new UserAgent();
      await f.login(browser, 'two');
      await wholeFlow(f, browser, 'one', 'two');
      await f.login(browser, 'one');
      await wholeFlow(f, browser, 'two', 'one');
    });

    it('a host no frontend claims gets 404, with or without a session cookie', async () => {
      const ua = new UserAgent();
      await f.login(ua, 'one');
      const cookie = ua.cookieHeader(new URL(f.url['one']!).host);
      for (const headers of [{}, { cookie }]) {
        const res = await rawGet(f.port, '/session', { host: `unknown.example:${f.port}`, ...headers });
        assert.equal(res.status, 404);
        assert.equal((JSON.parse(res.body) as { error: string }).error, 'not_found');
      }
    });

    it('/readyz reports each provider by id; /healthz answers on any host', async () => {
      const ready = await fetch(`${f.url['one']}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(((await ready.json()) as { providers: unknown }).providers, { idp_one: 'ready', idp_two: 'ready' });
      assert.equal((await rawGet(f.port, '/healthz', { host: 'unknown.example' })).status, 200);
    });
  });

  describe('one frontend offering two identity providers', () => {
    let f: Frontends;
    before(async () => {
      f = await startFrontends({ multi: { hostname: '127.0.0.1', pathPrefix: '/multi', idp: 'both' } });
    });
    after(() => f?.close());

    it('/login alone shows a chooser page listing each provider; an unknown idp gets it with 400', async () => {
      const page = await new UserAgent().get(`${f.url['multi']}/login?returnTo=/multi/orders`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(page.text, /href="\/multi\/login\?idp=multi_a&amp;returnTo=%2Fmulti%2Forders"/);
      assert.match(page.text, /href="\/multi\/login\?idp=multi_b&amp;returnTo=%2Fmulti%2Forders"/);
      assert.match(page.text, /IdP b/);
      assert.equal(page.headers.get('x-frame-options'), 'DENY');
      assert.equal((await new UserAgent().get(`${f.url['multi']}/login?idp=nobody`)).status, 400);
    });

    it('a user of each provider: login → API → refresh → logout, each with the tokens of the provider that signed them in', async () => {
      const users = { a: new UserAgent(), b: new UserAgent() };
      for (const which of ['a', 'b'] as const) {
        const ua = users[which];
        const callback = await f.login(ua, 'multi', `?idp=multi_${which}`);
        assert.equal(callback.status, 302, callback.text);
        assert.equal((await f.api(ua, 'multi', '/orders')).status, 200);
        const token = bearerAt(f, 'multi');
        assert.ok(f.idps[which].issued.has(token), `user of ${which} got a token not from IdP ${which}`);
        assert.equal((await ua.post(`${f.url['multi']}/refresh`, { headers: { 'x-csrf': '1' } })).status, 200);
        await f.api(ua, 'multi', '/orders');
        assert.ok(f.idps[which].issued.has(bearerAt(f, 'multi')), `the refresh of ${which} went to another IdP`);
        assert.notEqual(bearerAt(f, 'multi'), token);
      }
      assert.equal((await users.a.post(`${f.url['multi']}/logout`, { headers: { 'x-csrf': '1' } })).status, 200);
      assert.equal((await users.a.get(`${f.url['multi']}/session`)).status, 401);
      assert.equal((await users.b.get(`${f.url['multi']}/session`)).status, 200);
    });

    it('/readyz lists both providers', async () => {
      const ready = (await (await fetch(`${f.url['multi']?.replace('/multi', '')}/readyz`)).json()) as { providers: unknown };
      assert.deepEqual(ready.providers, { multi_a: 'ready', multi_b: 'ready' });
    });
  });

  describe('the admin listener with several frontends', () => {
    const ADMIN_TOKEN = 'an-admin-token-that-is-long-enough-0123456789';
    let f: Frontends;
    before(async () => {
      f = await startFrontends({ one: { hostname: '127.0.0.1', idp: 'a' }, two: { hostname: 'localhost', idp: 'b' } }, { env: { ADMIN_TOKEN } });
    });
    after(() => f?.close());

    it('/metrics carries a frontend label; the session admin API lists and ends sessions of the frontend named by ?frontend=', async () => {
      const admin = await listen(f.service.admin, '127.0.0.1', 0);
      try {
        const call = (method: string, path: string) =>
          fetch(`http://127.0.0.1:${admin.port}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        const one = new UserAgent();
        const two = new UserAgent();
        await f.login(one, 'one');
        await f.login(two, 'two');
        const metrics = await (await call('GET', '/metrics')).text();
        assert.match(metrics, /bff_http_requests_total\{[^}]*frontend="one"/);
        assert.match(metrics, /bff_http_requests_total\{[^}]*frontend="two"/);
        assert.equal((await call('GET', '/admin/sessions?sub=alice')).status, 400, 'an admin call without ?frontend= was answered');
        const listed = (await (await call('GET', '/admin/sessions?sub=alice&frontend=one')).json()) as { sessions: unknown[] };
        assert.equal(listed.sessions.length, 1);
        assert.equal((await call('DELETE', '/admin/sessions?sub=alice&frontend=one')).status < 300, true);
        assert.equal((await one.get(`${f.url['one']}/session`)).status, 401);
        assert.equal((await two.get(`${f.url['two']}/session`)).status, 200, "ending frontend one's sessions ended two's");
      } finally {
        await admin.drain(0);
      }
    });
  });

  describe('two frontends by path prefix on one host', () => {
    let f: Frontends;
    before(async () => {
      f = await startFrontends({
        shop: { hostname: '127.0.0.1', pathPrefix: '/shop', idp: 'a' },
        blog: { hostname: '127.0.0.1', pathPrefix: '/blog', idp: 'b' },
      });
    });
    after(() => f?.close());

    it('each frontend: login → session → API → refresh → logout under its prefix', async () => {
      const ua = new UserAgent();
      await f.login(ua, 'blog');
      await wholeFlow(f, ua, 'shop', 'blog');
      await f.login(ua, 'shop');
      await wholeFlow(f, ua, 'blog', 'shop');
    });

    it("cookies are scoped to the frontend's prefix and named for it", async () => {
      const callback = await f.login(new UserAgent(), 'shop');
      const session = callback.headers.getSetCookie().find((c) => c.startsWith('bff_shop-session='));
      assert.match(session ?? '', /; Path=\/shop;/);
    });

    it('a path outside every prefix, and one that only starts like a prefix, get 404', async () => {
      const origin = new URL(f.url['shop']!).origin;
      assert.equal((await fetch(`${origin}/session`)).status, 404);
      assert.equal((await fetch(`${origin}/shopping/session`)).status, 404);
    });
  });

  describe("FusionAuth's web SDKs per frontend (its own fusionAuthSdk block over FUSIONAUTH_SDK_*)", () => {
    const SPA_ONE = 'http://spa-one.example.test/app/';
    const SPA_ENV = 'http://spa-env.example.test/app/';
    let f: Frontends;
    before(async () => {
      f = await startFrontends(
        {
          one: {
            hostname: '127.0.0.1',
            idp: 'a',
            fields: { fusionAuthSdk: { redirectUris: [SPA_ONE], pathPrefix: '/bff', expiryCookie: 'one.at_exp' } },
          },
          two: { hostname: 'localhost', idp: 'b', fields: { fusionAuthSdk: { enabled: false } } },
        },
        { env: { FUSIONAUTH_SDK: 'true', FUSIONAUTH_SDK_REDIRECT_URIS: SPA_ENV } },
      );
    });
    after(() => f?.close());

    const sdkLogin = (ua: UserAgent, path: string, redirectUri: string) =>
      ua.login(`${f.url['one']}${path}?${new URLSearchParams({ client_id: 'one', redirect_uri: redirectUri, state: 'sdk-state' }).toString()}`, {
        stopAtOrigin: f.url['one']!,
      });

    it('the frontend that turns them on: its own redirect_uri allowlist, expiry cookie and path prefix, with and without the trailing slash', async () => {
      for (const path of ['/bff/app/login/', '/bff/app/login']) {
        const ua = new UserAgent();
        const { callback } = await sdkLogin(ua, path, SPA_ONE);
        assert.equal(callback.status, 302, `${path}: ${callback.text}`);
        const target = new URL(callback.headers.get('location')!);
        assert.equal(target.origin + target.pathname, SPA_ONE, path);
        assert.equal(target.searchParams.get('state'), 'sdk-state');
        assert.ok(
          callback.setCookies.some((c) => c.startsWith('one.at_exp=')),
          `${path}: no one.at_exp cookie`,
        );
        assert.equal((await ua.get(`${f.url['one']}/bff/app/me/`)).status, 200);
      }
    });

    it("the frontend's list replaces the environment's: the environment's redirect_uri is refused there (400)", async () => {
      const refused = await new UserAgent().get(
        `${f.url['one']}/bff/app/login/?${new URLSearchParams({ client_id: 'one', redirect_uri: SPA_ENV }).toString()}`,
      );
      assert.equal(refused.status, 400);
    });

    it('outside the custom prefix, and at the frontend that turns them off, the SDK routes are 404', async () => {
      for (const path of ['/app/login/', '/app/login', '/app/me/']) {
        assert.equal((await new UserAgent().get(`${f.url['one']}${path}`)).status, 404, `one ${path}`);
        assert.equal((await new UserAgent().get(`${f.url['two']}${path}`)).status, 404, `two ${path}`);
      }
      assert.equal((await new UserAgent().get(`${f.url['two']}/bff/app/login/`)).status, 404);
      assert.equal(f.configs['two']!.fusionAuthSdk, undefined);
    });
  });
});
