import assert from 'node:assert/strict';
import { testClock } from '../support/clock.js';
import { CLIENT_ID, startHarness, type Harness } from '../support/harness.js';
import type { UserAgent } from '../support/user-agent.js';

const ACCESS_TTL_MS = 300_000; // the test IdP's default access-token lifetime
const SPA = 'http://spa.example.test/app/';
const sdkEnv = {
  FUSIONAUTH_SDK: 'true',
  FUSIONAUTH_SDK_REDIRECT_URIS: `${SPA},http://spa.example.test/signed-out`,
  FUSIONAUTH_SDK_ACCOUNT_URL: 'http://idp.example.test/account',
};
const query = (params: Record<string, string>) => `?${new URLSearchParams(params).toString()}`;
const expiryOf = (setCookies: string[]) => {
  const c = setCookies.find((s) => s.startsWith('app.at_exp='));
  return c === undefined ? undefined : { value: c.slice('app.at_exp='.length, c.indexOf(';')), header: c };
};

describe('FusionAuth web SDKs: the hosted-backend contract (/app/login/, /app/refresh/, /app/me/, /app/logout/, /account/)', () => {
  let h: Harness;
  let ua: UserAgent;
  beforeEach(async () => {
    h = await startHarness({ env: sdkEnv });
    ua = h.browser();
  });
  afterEach(() => h?.close());

  /** Logs in through /app/login/ as the SDK does; returns the callback response. */
  const sdkLogin = async (path = '/app/login/', extra: Record<string, string> = {}) =>
    (
      await ua.login(
        `${h.url}${path}${query({ client_id: CLIENT_ID, redirect_uri: SPA, scope: 'openid offline_access', state: 'sdk-state:/page', ...extra })}`,
        { stopAtOrigin: h.url },
      )
    ).callback;

  it("login: the callback ends at the SPA's redirect_uri echoing the SDK's state, with app.at_exp = the session's idle expiry", async () => {
    const callback = await sdkLogin();
    assert.equal(callback.status, 302);
    const target = new URL(callback.headers.get('location')!);
    assert.equal(target.origin + target.pathname, SPA);
    assert.equal(target.searchParams.get('state'), 'sdk-state:/page');
    const expiry = expiryOf(callback.setCookies);
    assert.ok(expiry, 'app.at_exp is set');
    assert.doesNotMatch(expiry.header, /HttpOnly/i, 'the SDK reads it from document.cookie');
    const { idleExpiresAt } = (await ua.get(`${h.url}/session`)).json<{ idleExpiresAt: number }>();
    assert.ok(Math.abs(Number(expiry.value) - idleExpiresAt) <= 1);
  });

  it('login works on every path form: without the trailing slash and /app/login/{clientId}', async () => {
    for (const path of ['/app/login', `/app/login/${CLIENT_ID}`]) {
      const callback = await sdkLogin(path);
      assert.equal(callback.status, 302, path);
      assert.ok(callback.headers.get('location')!.startsWith(SPA), path);
    }
  });

  it('GET /app/me/ answers the claims (200) when signed in, re-setting app.at_exp; 401 and the cookie deleted when anonymous', async () => {
    const anonymous = await ua.get(`${h.url}/app/me/`);
    assert.equal(anonymous.status, 401);
    assert.match(expiryOf(anonymous.setCookies)?.header ?? '', /Max-Age=0/);
    await sdkLogin();
    const me = await ua.get(`${h.url}/app/me`);
    assert.equal(me.status, 200);
    assert.equal(me.json<{ sub: string }>().sub, 'alice');
    assert.equal(JSON.stringify(me.json()).includes('eyJ'), false, 'no token in the answer');
    assert.ok(expiryOf(me.setCookies));
  });

  it('POST /app/refresh/ (text/plain, no custom header, same origin) slides the session: 204 and a new app.at_exp; 401 when the session is gone', async () => {
    await sdkLogin();
    const res = await ua.post(`${h.url}/app/refresh/?client_id=${CLIENT_ID}`, {
      headers: { 'content-type': 'text/plain', origin: h.url, 'sec-fetch-site': 'same-origin' },
    });
    assert.equal(res.status, 204);
    assert.ok(expiryOf(res.setCookies));
    await ua.get(`${h.url}/app/logout/${query({ client_id: CLIENT_ID, post_logout_redirect_uri: SPA })}`, { headers: { 'sec-fetch-site': 'same-origin' } });
    const gone = await ua.post(`${h.url}/app/refresh`, { headers: { 'content-type': 'text/plain', origin: h.url } });
    assert.equal(gone.status, 401);
    assert.match(expiryOf(gone.setCookies)?.header ?? '', /Max-Age=0/);
  });

  it("GET /app/logout/ ends the session, deletes app.at_exp and goes through the IdP's end-session endpoint back to post_logout_redirect_uri", async () => {
    await sdkLogin();
    const res = await ua.get(`${h.url}/app/logout/${query({ client_id: CLIENT_ID, post_logout_redirect_uri: 'http://spa.example.test/signed-out' })}`, {
      headers: { 'sec-fetch-site': 'same-origin' },
    });
    assert.equal(res.status, 302);
    assert.ok(res.headers.get('location')!.startsWith(`${h.idp.issuer}/session/end?`));
    assert.match(expiryOf(res.setCookies)?.header ?? '', /Max-Age=0/);
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
    assert.equal(h.idp.counts.revocation, 1);
    // The IdP returns to the logout callback, which ends at the validated target.
    const page = await ua.get(res.headers.get('location')!);
    const confirmed = await ua.submitForm(page, { logout: 'yes' });
    const done = await ua.get(new URL(confirmed.headers.get('location')!, confirmed.url).href);
    assert.equal(done.status, 302);
    assert.equal(done.headers.get('location'), 'http://spa.example.test/signed-out');
  });

  it('GET /app/logout also takes redirect_uri, and without a session just goes to the target', async () => {
    const res = await ua.get(`${h.url}/app/logout${query({ client_id: CLIENT_ID, redirect_uri: SPA })}`, { headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), SPA);
  });

  it('GET /account/ redirects to FUSIONAUTH_SDK_ACCOUNT_URL', async () => {
    for (const path of ['/account/', '/account']) {
      const res = await ua.get(`${h.url}${path}?client_id=${CLIENT_ID}`);
      assert.equal(res.status, 302, path);
      assert.equal(res.headers.get('location'), 'http://idp.example.test/account');
    }
  });

  it('a client_id other than the configured one is refused (400)', async () => {
    const res = await ua.get(`${h.url}/app/login/${query({ client_id: 'someone-else', redirect_uri: SPA })}`);
    assert.equal(res.status, 400);
    assert.equal(h.logs.named('fusionauth.client_id_refused').length, 1);
  });
});

describe('FusionAuth SDK refresh slides the session and refreshes tokens when due', () => {
  const clock = testClock();
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ env: sdkEnv, now: clock.now });
  });
  afterEach(() => h?.close());

  it('app.at_exp moves with the clock on POST /app/refresh/, and an access token past its expiry is refreshed at the IdP once', async () => {
    const ua = h.browser();
    const callback = (await ua.login(`${h.url}/app/login/${query({ client_id: CLIENT_ID, redirect_uri: SPA })}`, { stopAtOrigin: h.url })).callback;
    const first = Number(expiryOf(callback.setCookies)!.value);
    const refresh = () => ua.post(`${h.url}/app/refresh/`, { headers: { 'content-type': 'text/plain', origin: h.url } });
    clock.advance(60_000);
    const slid = await refresh();
    assert.equal(slid.status, 204);
    assert.equal(Number(expiryOf(slid.setCookies)!.value), first + 60);
    assert.equal(h.idp.counts.refresh, 0, 'not due yet: nothing asked of the IdP');
    clock.advance(ACCESS_TTL_MS + 1);
    assert.equal((await refresh()).status, 204);
    assert.equal(h.idp.counts.refresh, 1);
  });
});

describe('FusionAuth SDK register: the authorization request gets FUSIONAUTH_SDK_REGISTER_PARAMS', () => {
  it('prompt=create by default on /app/register/, not on /app/login/; a configured value replaces it (screen_hint=signup)', async () => {
    for (const [params, expected] of [
      [{}, { prompt: 'create' }],
      [{ FUSIONAUTH_SDK_REGISTER_PARAMS: 'screen_hint=signup' }, { screen_hint: 'signup' }],
    ] as const) {
      // Without PAR the parameters are in the authorization URL itself.
      const h = await startHarness({ env: { ...sdkEnv, OIDC_USE_PAR: 'false', ...params } });
      try {
        const ua = h.browser();
        const at = async (path: string) =>
          new URL((await ua.get(`${h.url}${path}${query({ client_id: CLIENT_ID, redirect_uri: SPA, prompt: 'login' })}`)).headers.get('location')!)
            .searchParams;
        const register = await at('/app/register/');
        for (const [name, value] of Object.entries(expected)) assert.equal(register.get(name), value, name);
        const login = await at('/app/login/');
        assert.equal(login.get('prompt'), 'login');
        assert.equal(login.get('screen_hint'), null);
      } finally {
        await h.close();
      }
    }
  });
});

describe('FusionAuth SDK routes are off unless FUSIONAUTH_SDK=true', () => {
  it('answers 404 on /app/login/ and sets no app.at_exp on a normal login', async () => {
    const h = await startHarness();
    try {
      const ua = h.browser();
      assert.equal((await ua.get(`${h.url}/app/login/`)).status, 404);
      const callback = await h.login(ua);
      assert.equal(expiryOf(callback.setCookies), undefined);
    } finally {
      await h.close();
    }
  });
});

describe('FusionAuth SDK routes under FUSIONAUTH_SDK_PATH_PREFIX', () => {
  it('serves /bff/app/... and /bff/account (with and without the trailing slash), and 404 on the default paths', async () => {
    const h = await startHarness({ env: { ...sdkEnv, OIDC_USE_PAR: 'false', FUSIONAUTH_SDK_PATH_PREFIX: '/bff' } });
    try {
      const ua = h.browser();
      const login = (path: string) => ua.get(`${h.url}${path}${query({ client_id: CLIENT_ID, redirect_uri: SPA })}`);
      for (const path of ['/bff/app/login/', '/bff/app/login', '/bff/app/register/', '/bff/account', '/bff/account/']) {
        assert.equal((await login(path)).status, 302, path);
      }
      for (const path of ['/app/login/', '/app/login', '/account/']) assert.equal((await login(path)).status, 404, path);
    } finally {
      await h.close();
    }
  });
});
