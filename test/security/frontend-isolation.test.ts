import assert from 'node:assert/strict';
import { rawGet, startFrontends, type Frontends } from '../support/frontends.js';
import { logoutClaims, signLogoutToken } from '../support/logout-token.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';
import { UserAgent } from '../support/user-agent.js';

// Isolation of the frontends of one BFF_CONFIG file: whatever frontend A issued (session,
// login transaction, cookie, token) is worth nothing at frontend B, and a provider's logout
// reaches only its own sessions. Each property is one test, each able to fail.

const host = (f: Frontends, id: string) => new URL(f.url[id]!).host;
const status = async (ua: UserAgent, f: Frontends, id: string) => (await ua.get(`${f.url[id]}/session`)).status;

/** Sends `ua`'s cookie `from` of frontend A to frontend B under B's cookie name `to`. */
function transplant(ua: UserAgent, f: Frontends, from: { id: string; cookie: string }, to: { id: string; cookie: string }): void {
  const value = ua.cookie(host(f, from.id), from.cookie);
  assert.ok(value, `no ${from.cookie} cookie at ${from.id}`);
  ua.setCookie(host(f, to.id), to.cookie, value);
}

describe('frontends of one BFF_CONFIG are isolated from each other', () => {
  describe('two frontends on one host by prefix, same secrets, same IdP and same client (cookie sessions)', () => {
    let f: Frontends;
    before(async () => {
      f = await startFrontends(
        {
          shop: { hostname: '127.0.0.1', pathPrefix: '/shop', idp: 'a', client: 'shared' },
          blog: { hostname: '127.0.0.1', pathPrefix: '/blog', idp: 'a', client: 'shared' },
        },
        { env: { SESSION_STORE: 'cookie', OIDC_USE_PAR: 'false' } }, // without PAR the state is in the redirect
      );
    });
    after(() => f?.close());

    it("a session cookie of frontend A replayed at frontend B (under B's name) is anonymous there", async () => {
      const ua = new UserAgent();
      await f.login(ua, 'shop');
      assert.equal(await status(ua, f, 'shop'), 200);
      transplant(ua, f, { id: 'shop', cookie: 'bff_shop-session' }, { id: 'blog', cookie: 'bff_blog-session' });
      assert.equal(await status(ua, f, 'blog'), 401);
    });

    it("the state and login cookie of a login begun at A are refused at B's callback", async () => {
      const ua = new UserAgent();
      const start = await ua.get(`${f.url['shop']}/login`);
      assert.equal(start.status, 302);
      const state = new URL(start.headers.get('location')!).searchParams.get('state');
      assert.ok(state);
      transplant(ua, f, { id: 'shop', cookie: 'bff_shop-login' }, { id: 'blog', cookie: 'bff_blog-login' });
      const res = await ua.get(`${f.url['blog']}/callback?code=any-code&state=${state}`, { headers: { accept: 'application/json' } });
      assert.equal(res.status, 400);
      assert.equal(res.json<{ error: string }>().error, 'invalid_state');
      assert.equal(await status(ua, f, 'blog'), 401);
    });
  });

  describe('two frontends on one host by prefix, same IdP and client, one Redis', () => {
    let redis: TestRedis;
    let f: Frontends;
    before(async () => {
      redis = await startTestRedis();
      f = await startFrontends(
        {
          shop: { hostname: '127.0.0.1', pathPrefix: '/shop', idp: 'a', client: 'shared' },
          blog: { hostname: '127.0.0.1', pathPrefix: '/blog', idp: 'a', client: 'shared' },
        },
        { redis },
      );
    });
    after(async () => {
      await f?.close();
      await redis?.close();
    });

    it("a server session of A replayed at B is anonymous: B's store keys and sealed ids are its own", async () => {
      const ua = new UserAgent();
      await f.login(ua, 'shop');
      transplant(ua, f, { id: 'shop', cookie: 'bff_shop-session' }, { id: 'blog', cookie: 'bff_blog-session' });
      assert.equal(await status(ua, f, 'blog'), 401);
    });
  });

  describe('two frontends on one host by prefix, each its own IdP', () => {
    let f: Frontends;
    before(async () => {
      f = await startFrontends({
        shop: { hostname: '127.0.0.1', pathPrefix: '/shop', idp: 'a' },
        blog: { hostname: '127.0.0.1', pathPrefix: '/blog', idp: 'b' },
      });
    });
    after(() => f?.close());

    it("B's token and B's session cookie never reach A's upstream, though the browser sends B's cookie along", async () => {
      const ua = new UserAgent(); // sends every cookie of the host to every path, as a parent-path cookie would be
      await f.login(ua, 'blog');
      await f.login(ua, 'shop');
      await f.api(ua, 'blog', '/orders');
      const res = await f.api(ua, 'shop', '/orders');
      assert.equal(res.status, 200);
      const got = f.upstreams['shop']!.received.at(-1)!;
      const token = String(got.headers['authorization']).replace(/^Bearer /, '');
      assert.ok(f.idps.a.issued.has(token), "A's upstream did not get A's token");
      assert.equal(f.idps.b.issued.has(token), false, "B's token reached A's upstream");
      assert.doesNotMatch(String(got.headers['cookie'] ?? ''), /bff_/, "a BFF cookie reached A's upstream");
    });
  });

  describe('one frontend offering two providers', () => {
    let f: Frontends;
    before(async () => {
      f = await startFrontends({ multi: { hostname: '127.0.0.1', idp: 'both' } });
    });
    after(() => f?.close());

    it("a back-channel logout from provider X ends the frontend's sessions of X only, and X's token is refused at Y's endpoint", async () => {
      const a = new UserAgent();
      const b = new UserAgent();
      await f.login(a, 'multi', '?idp=multi_a');
      await f.login(b, 'multi', '?idp=multi_b');
      const token = () => signLogoutToken(f.idps.a, logoutClaims(f.idps.a, { sub: 'alice', aud: 'multi' }));
      const post = (provider: string) =>
        fetch(`${f.url['multi']}/backchannel-logout/${provider}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ logout_token: token() }).toString(),
        });
      assert.equal((await post('multi_b')).status, 400, "Y's back-channel endpoint accepted X's logout token");
      assert.equal(await status(b, f, 'multi'), 200);
      assert.equal((await post('multi_a')).status, 200);
      assert.equal(await status(a, f, 'multi'), 401);
      assert.equal(await status(b, f, 'multi'), 200, "X's logout ended the session of Y's user");
    });

    it("a session of provider X replayed under provider Y's cookie name is anonymous", async () => {
      const ua = new UserAgent();
      await f.login(ua, 'multi', '?idp=multi_a');
      transplant(ua, f, { id: 'multi', cookie: 'bff_multi_multi_a-session' }, { id: 'multi', cookie: 'bff_multi_multi_b-session' });
      ua.deleteCookie(host(f, 'multi'), 'bff_multi_multi_a-session');
      assert.equal(await status(ua, f, 'multi'), 401);
    });
  });

  describe('two frontends by host, each its own IdP', () => {
    let f: Frontends;
    before(async () => {
      f = await startFrontends({ one: { hostname: '127.0.0.1', idp: 'a' }, two: { hostname: 'localhost', idp: 'b' } });
    });
    after(() => f?.close());

    it('a back-channel logout from provider X ends no session of provider Y, and is refused at Y', async () => {
      const ua = new UserAgent();
      await f.login(ua, 'one');
      await f.login(ua, 'two');
      const token = () => signLogoutToken(f.idps.a, logoutClaims(f.idps.a, { sub: 'alice', aud: 'one' }));
      const post = (id: string) =>
        fetch(`${f.url[id]}/backchannel-logout`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ logout_token: token() }).toString(),
        });
      assert.equal((await post('two')).status, 400, "Y's back-channel endpoint accepted X's logout token");
      assert.equal(await status(ua, f, 'two'), 200);
      assert.equal((await post('one')).status, 200);
      assert.equal(await status(ua, f, 'one'), 401);
      assert.equal(await status(ua, f, 'two'), 200, "X's logout ended Y's session");
    });

    it("a request at a host no frontend claims is 404, never another frontend's session", async () => {
      const ua = new UserAgent();
      await f.login(ua, 'one');
      const cookie = ua.cookieHeader(host(f, 'one'));
      const res = await rawGet(f.port, '/session', { host: `unknown.example:${f.port}`, cookie });
      assert.equal(res.status, 404);
      assert.doesNotMatch(res.body, /alice/);
    });
  });
});
