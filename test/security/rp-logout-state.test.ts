import assert from 'node:assert/strict';
import { testClock } from '../support/clock.js';
import { idpFaults } from '../support/faults.js';
import { startHarness, type Harness } from '../support/harness.js';
import type { UaResponse, UserAgent } from '../support/user-agent.js';

const csrf = { 'x-csrf': '1' };

async function sidOf(h: Harness, ua: UserAgent): Promise<string> {
  return (await ua.get(`${h.url}/session`)).json<{ sid: string }>().sid;
}

/**
 * The browser at the IdP's end-session URL: confirms the sign-out on oidc-provider's page and
 * returns the IdP's redirect back to the BFF (not followed).
 */
async function signOutAtIdp(ua: UserAgent, endSessionUrl: string): Promise<URL> {
  const page = await ua.get(endSessionUrl);
  assert.equal(page.status, 200, `the IdP refused the end-session request: ${page.text}`);
  const confirmed = await ua.submitForm(page, { logout: 'yes' });
  assert.ok(confirmed.status >= 300 && confirmed.status < 400, `the IdP did not redirect back: ${confirmed.status} ${confirmed.text}`);
  return new URL(confirmed.headers.get('location')!, confirmed.url);
}

const locationOf = (res: UaResponse) => res.headers.get('location');

describe('RP-initiated logout carries a state bound to the browser and returns through the BFF', () => {
  const clock = testClock();
  let h: Harness;
  let ua: UserAgent;
  before(async () => {
    h = await startHarness({ now: clock.now });
  });
  beforeEach(async () => {
    ua = h.browser();
    await h.login(ua);
  });
  after(async () => h?.close());

  it('GET /logout?sid=…&returnTo=/bye sends a fresh state and post_logout_redirect_uri=/logout/callback, and the IdP return ends at /bye', async () => {
    const res = await ua.get(`${h.url}/logout?sid=${await sidOf(h, ua)}&returnTo=/bye`);
    assert.equal(res.status, 302);
    const endSession = new URL(locationOf(res)!);
    assert.equal(endSession.searchParams.get('post_logout_redirect_uri'), `${h.url}/logout/callback`);
    const state = endSession.searchParams.get('state');
    assert.match(state ?? '', /^[A-Za-z0-9_-]{32,}$/);
    const back = await signOutAtIdp(ua, endSession.href);
    assert.equal(back.origin + back.pathname, `${h.url}/logout/callback`);
    assert.equal(back.searchParams.get('state'), state);
    const done = await ua.get(back.href);
    assert.equal(done.status, 302);
    assert.equal(locationOf(done), `${h.url}/bye`);
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
  });

  it('POST /logout?returnTo=/bye answers a logoutUrl with a state of its own, that also returns to /bye', async () => {
    const first = new URL((await ua.post(`${h.url}/logout?returnTo=/bye`, { headers: csrf })).json<{ logoutUrl: string }>().logoutUrl);
    await h.login(ua);
    const second = new URL((await ua.post(`${h.url}/logout?returnTo=/bye`, { headers: csrf })).json<{ logoutUrl: string }>().logoutUrl);
    assert.ok(first.searchParams.get('state'));
    assert.notEqual(first.searchParams.get('state'), second.searchParams.get('state'));
    const done = await ua.get((await signOutAtIdp(ua, second.href)).href);
    assert.equal(locationOf(done), `${h.url}/bye`);
  });

  it('a reused logout state goes to the safe default (POST_LOGOUT_REDIRECT_URI), not to the returnTo', async () => {
    const res = await ua.get(`${h.url}/logout?sid=${await sidOf(h, ua)}&returnTo=/bye`);
    const back = await signOutAtIdp(ua, locationOf(res)!);
    assert.equal(locationOf(await ua.get(back.href)), `${h.url}/bye`);
    const replay = await ua.get(back.href);
    assert.equal(replay.status, 302);
    assert.equal(locationOf(replay), `${h.url}/`);
    assert.ok(h.logs.named('logout.state_invalid').length > 0);
  });

  it('an unknown, missing or malformed logout state goes to the safe default', async () => {
    for (const query of ['?state=never-issued-by-us', '', '?state=', `?state=${'a'.repeat(600)}`]) {
      const res = await ua.get(`${h.url}/logout/callback${query}`);
      assert.equal(res.status, 302, query);
      assert.equal(locationOf(res), `${h.url}/`, query);
    }
    // A garbled query string is refused before it is read, as on every browser-facing route: no redirect at all.
    const garbled = await ua.get(`${h.url}/logout/callback?state[]=x`);
    assert.equal(garbled.status, 400);
    assert.equal(locationOf(garbled), null);
  });

  it('a logout state completed in another browser (not bound to it) goes to the safe default', async () => {
    const res = await ua.get(`${h.url}/logout?sid=${await sidOf(h, ua)}&returnTo=/bye`);
    const back = await signOutAtIdp(ua, locationOf(res)!);
    const other = await h.browser().get(back.href);
    assert.equal(locationOf(other), `${h.url}/`);
  });

  it('an expired logout state (after 10 minutes) goes to the safe default', async () => {
    const res = await ua.get(`${h.url}/logout?sid=${await sidOf(h, ua)}&returnTo=/bye`);
    const back = await signOutAtIdp(ua, locationOf(res)!);
    clock.advance(10 * 60 * 1000 + 1);
    assert.equal(locationOf(await ua.get(back.href)), `${h.url}/`);
  });

  for (const evil of ['https://evil.example/', '//evil.example', '/\\evil.example', 'javascript:alert(1)']) {
    it(`returnTo=${evil} never becomes the post-logout target (open redirect)`, async () => {
      const res = await ua.get(`${h.url}/logout?sid=${await sidOf(h, ua)}&returnTo=${encodeURIComponent(evil)}`);
      const done = await ua.get((await signOutAtIdp(ua, locationOf(res)!)).href);
      assert.equal(locationOf(done), `${h.url}/`);
    });
  }
});

describe('RP-initiated logout state with cookie sessions', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ env: { SESSION_STORE: 'cookie' } });
  });
  after(async () => h?.close());

  it('GET /logout?sid=…&returnTo=/bye returns through /logout/callback to /bye, once', async () => {
    const ua = h.browser();
    await h.login(ua);
    const res = await ua.get(`${h.url}/logout?sid=${await sidOf(h, ua)}&returnTo=/bye`);
    const back = await signOutAtIdp(ua, locationOf(res)!);
    assert.equal(locationOf(await ua.get(back.href)), `${h.url}/bye`);
    assert.equal(locationOf(await ua.get(back.href)), `${h.url}/`);
  });
});

describe('logout without an end_session_endpoint at the IdP', () => {
  let h: Harness;
  before(async () => {
    const faults = idpFaults();
    faults.set((url, init) =>
      url.endsWith('/.well-known/openid-configuration')
        ? fetch(url, init as RequestInit).then(async (res) => {
            const { end_session_endpoint: _none, ...metadata } = (await res.json()) as Record<string, unknown>;
            return Response.json(metadata);
          })
        : undefined,
    );
    h = await startHarness({ idpFetch: faults.fetch });
  });
  after(async () => h?.close());

  it('GET /logout?sid=…&returnTo=/bye goes straight to /bye, with no state and no transaction', async () => {
    const ua = h.browser();
    await h.login(ua);
    const res = await ua.get(`${h.url}/logout?sid=${await sidOf(h, ua)}&returnTo=/bye`);
    assert.equal(res.status, 302);
    assert.equal(locationOf(res), `${h.url}/bye`);
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
  });

  it('POST /logout answers POST_LOGOUT_REDIRECT_URI as before', async () => {
    const ua = h.browser();
    await h.login(ua);
    const res = await ua.post(`${h.url}/logout`, { headers: csrf });
    assert.equal(res.json<{ logoutUrl: string }>().logoutUrl, `${h.url}/`);
  });
});
