import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/harness.js';
import { testClock } from '../support/clock.js';

const host = (h: Harness) => new URL(h.url).host;
/** Follows /login into the IdP and stops before the BFF's /callback; returns that callback URL. */
async function callbackUrlOf(h: Harness, ua: ReturnType<Harness['browser']>, query = ''): Promise<string> {
  const { response } = await ua.follow(`${h.url}/login${query}`, { stopAt: (u) => u.origin === h.url && u.pathname === '/callback' });
  return new URL(response.headers.get('location')!, response.url).href;
}

describe('GET /login starts an Authorization Code + PKCE transaction', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ env: { OIDC_USE_PAR: 'false' } });
  });
  after(async () => h?.close());

  it('redirects to the IdP with response_type=code, S256 challenge, fresh state and nonce, scopes and redirect_uri', async () => {
    const ua = h.browser();
    const first = await ua.get(`${h.url}/login`);
    const second = await ua.get(`${h.url}/login`);
    assert.equal(first.status, 302);
    const a = new URL(first.headers.get('location')!);
    const b = new URL(second.headers.get('location')!);
    assert.equal(a.origin + a.pathname, `${h.idp.issuer}/auth`);
    assert.equal(a.searchParams.get('response_type'), 'code');
    assert.equal(a.searchParams.get('code_challenge_method'), 'S256');
    assert.match(a.searchParams.get('code_challenge')!, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(a.searchParams.get('redirect_uri'), `${h.url}/callback`);
    assert.equal(a.searchParams.get('scope'), 'openid profile email offline_access');
    assert.equal(a.searchParams.get('client_id'), 'spa-bff');
    for (const p of ['state', 'nonce', 'code_challenge']) {
      assert.ok((a.searchParams.get(p) ?? '').length >= 22, `${p} too short`);
      assert.notEqual(a.searchParams.get(p), b.searchParams.get(p), `${p} reused`);
    }
    assert.equal(first.headers.get('cache-control'), 'no-store');
  });

  it('passes the allowed extra parameters and drops every other one', async () => {
    const res = await h
      .browser()
      .get(`${h.url}/login?prompt=login&login_hint=bob&ui_locales=de-CH&acr_values=urn:mfa&client_id=evil&redirect_uri=https://evil.example&scope=admin`);
    const url = new URL(res.headers.get('location')!);
    assert.equal(url.searchParams.get('prompt'), 'login');
    assert.equal(url.searchParams.get('login_hint'), 'bob');
    assert.equal(url.searchParams.get('ui_locales'), 'de-CH');
    assert.equal(url.searchParams.get('acr_values'), 'urn:mfa');
    assert.equal(url.searchParams.get('client_id'), 'spa-bff');
    assert.equal(url.searchParams.get('redirect_uri'), `${h.url}/callback`);
    assert.equal(url.searchParams.get('scope'), 'openid profile email offline_access');
  });

  it('refuses a malformed allowed parameter with 400 instead of a different login', async () => {
    const res = await h.browser().get(`${h.url}/login?prompt=everything`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 400);
    assert.equal(res.json<{ error: string }>().error, 'invalid_request');
  });

  it('logs in the user the IdP authenticated (login_hint reaches the IdP)', async () => {
    const ua = h.browser();
    await h.login(ua, '?login_hint=carol');
    const s = await ua.get(`${h.url}/session`);
    assert.equal(s.json<{ claims: { sub: string } }>().claims.sub, 'carol');
  });
});

describe('PAR is used when the IdP advertises it and it is enabled', () => {
  it('pushes the request and sends only client_id and request_uri through the browser', async () => {
    const h = await startHarness();
    try {
      const before = h.idp.counts.par;
      const res = await h.browser().get(`${h.url}/login`);
      const url = new URL(res.headers.get('location')!);
      assert.equal(h.idp.counts.par, before + 1);
      assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
      const ua = h.browser();
      assert.equal((await h.login(ua)).status, 302);
    } finally {
      await h.close();
    }
  });

  it('does not push when OIDC_USE_PAR=false', async () => {
    const h = await startHarness({ env: { OIDC_USE_PAR: 'false' } });
    try {
      await h.browser().get(`${h.url}/login`);
      assert.equal(h.idp.counts.par, 0);
    } finally {
      await h.close();
    }
  });
});

for (const store of ['memory', 'cookie'] as const)
  describe(`login transactions of several tabs do not crowd each other out (SESSION_STORE=${store})`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ env: { SESSION_STORE: store } });
    });
    after(async () => h?.close());

    it('lets three tabs of one browser, each with a 500-byte returnTo, log in at once and finish in any order', async () => {
      const ua = h.browser();
      const paths = ['a', 'b', 'c'].map((tab) => `/${tab}/${tab.repeat(497)}`);
      const callbacks = [];
      for (const path of paths) callbacks.push(await callbackUrlOf(h, ua, `?returnTo=${encodeURIComponent(path)}`));
      for (const i of [1, 2, 0]) {
        const done = await ua.get(callbacks[i]!);
        assert.equal(done.status, 302, `tab ${i}: ${done.text.slice(0, 200)}`);
        assert.equal(done.headers.get('location'), `${h.url}${paths[i]}`);
      }
      assert.equal((await ua.get(`${h.url}/session`)).status, 200);
      // A browser drops a cookie over 4 KB (name, value and attributes): none may come near it.
      for (const header of ua.setCookies) assert.ok(header.length <= 4096, `a ${header.length}-byte Set-Cookie`);
    });
  });

describe('login transactions: several tabs, single use, bound to the browser, 10 minutes', () => {
  const clock = testClock();
  let h: Harness;
  before(async () => {
    h = await startHarness({ now: clock.now });
  });
  after(async () => h?.close());

  it('lets two tabs of one browser log in at once, in any order', async () => {
    const ua = h.browser();
    const tabA = await callbackUrlOf(h, ua, '?returnTo=/a');
    const tabB = await callbackUrlOf(h, ua, '?returnTo=/b');
    const b = await ua.get(tabB);
    const a = await ua.get(tabA);
    assert.equal(b.headers.get('location'), `${h.url}/b`);
    assert.equal(a.headers.get('location'), `${h.url}/a`);
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
  });

  it('refuses a callback replayed a second time (400 invalid_state)', async () => {
    const ua = h.browser();
    const cb = await callbackUrlOf(h, ua);
    assert.equal((await ua.get(cb)).status, 302);
    const replay = await ua.get(cb, { headers: { accept: 'application/json' } });
    assert.equal(replay.status, 400);
    assert.equal(replay.json<{ error: string }>().error, 'invalid_state');
  });

  it("refuses a callback started in another browser (login CSRF), and burns the attacker's state", async () => {
    const attacker = h.browser();
    const victim = h.browser();
    const cb = await callbackUrlOf(h, attacker);
    const res = await victim.get(cb);
    assert.equal(res.status, 400);
    assert.equal((await victim.get(`${h.url}/session`)).status, 401);
    assert.equal((await attacker.get(cb)).status, 400);
  });

  it('refuses a transaction older than 10 minutes', async () => {
    const ua = h.browser();
    const cb = await callbackUrlOf(h, ua);
    clock.advance(10 * 60_000 + 1);
    assert.equal((await ua.get(cb)).status, 400);
  });

  it('keeps the Cookie header small however many logins are abandoned (no 431)', async () => {
    const ua = h.browser();
    for (let i = 0; i < 50; i++) await ua.get(`${h.url}/login?returnTo=/page-${i}`);
    assert.ok(ua.cookieHeader(host(h)).length < 200, ua.cookieHeader(host(h)));
    assert.equal((await h.login(ua)).status, 302);
  });

  it('renders an HTML page with a way to sign in again for a browser, JSON when preferred', async () => {
    const ua = h.browser();
    const page = await ua.get(`${h.url}/callback?state=unknown&code=x`);
    assert.equal(page.status, 400);
    assert.match(page.headers.get('content-type')!, /text\/html/);
    assert.match(page.text, /Sign in again/);
    assert.match(page.text, new RegExp(page.headers.get('x-request-id')!));
    const json = await ua.get(`${h.url}/callback?state=unknown&code=x`, { headers: { accept: 'application/json' } });
    assert.deepEqual(Object.keys(json.json<object>()).sort(), ['error', 'error_description']);
  });
});
