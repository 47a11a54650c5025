import assert from 'node:assert/strict';
import { idpFaults } from '../support/faults.js';
import { CLIENT_ID, CLIENT_SECRET, startHarness, type Harness } from '../support/harness.js';
import type { UserAgent } from '../support/user-agent.js';

const csrf = { 'x-csrf': '1' };

/** Asks the IdP directly whether a refresh token still works. */
async function refreshWorks(h: Harness, refreshToken: string): Promise<boolean> {
  const res = await fetch(`${h.idp.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  });
  return res.status === 200;
}

describe('logout ends the session, revokes the refresh token and ends the IdP session', () => {
  const faults = idpFaults();
  let h: Harness;
  let ua: UserAgent;
  beforeEach(async () => {
    h = await startHarness({ idpFetch: faults.fetch });
    ua = h.browser();
    await h.login(ua);
  });
  afterEach(async () => {
    faults.clear();
    await h?.close();
  });

  it('POST /logout answers 200 {logoutUrl} with id_token_hint, state and post_logout_redirect_uri, and the session is gone', async () => {
    const res = await ua.post(`${h.url}/logout`, { headers: csrf });
    assert.equal(res.status, 200);
    const url = new URL(res.json<{ logoutUrl: string }>().logoutUrl);
    assert.equal(url.origin + url.pathname, `${h.idp.issuer}/session/end`);
    assert.equal(url.searchParams.get('post_logout_redirect_uri'), `${h.url}/logout/callback`);
    assert.ok(url.searchParams.get('state'));
    assert.ok(h.idp.issued.has(url.searchParams.get('id_token_hint')!));
    assert.ok(res.setCookies.some((c) => c.startsWith('bff-session=;') && c.includes('Max-Age=0')));
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
  });

  it('revokes the refresh token at the IdP', async () => {
    const ours = [...h.idp.issued];
    await ua.post(`${h.url}/logout`, { headers: csrf });
    assert.equal(h.idp.counts.revocation, 1);
    assert.equal((await Promise.all(ours.map((t) => refreshWorks(h, t)))).some(Boolean), false);
    // Control: the same check finds the refresh token of a session that did not log out.
    await h.login(h.browser(), '?login_hint=bob');
    const others = [...h.idp.issued].filter((t) => !ours.includes(t));
    assert.equal((await Promise.all(others.map((t) => refreshWorks(h, t)))).some(Boolean), true);
  });

  it('still logs out when revocation fails, and says so in the log', async () => {
    faults.set((url) => (url.endsWith('/token/revocation') ? Promise.resolve(new Response('boom', { status: 500 })) : undefined));
    const res = await ua.post(`${h.url}/logout`, { headers: csrf });
    assert.equal(res.status, 200);
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
    assert.equal(h.logs.named('logout.revocation_failed').length, 1);
  });

  it('POST /logout without the anti-CSRF header is refused (403) and the session survives', async () => {
    assert.equal((await ua.post(`${h.url}/logout`)).status, 403);
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
  });

  it("GET /logout?sid=<the session's sid> ends the session and redirects to the IdP's end-session URL", async () => {
    const { sid } = (await ua.get(`${h.url}/session`)).json<{ sid: string }>();
    const res = await ua.get(`${h.url}/logout?sid=${sid}`);
    assert.equal(res.status, 302);
    assert.ok(res.headers.get('location')!.startsWith(`${h.idp.issuer}/session/end?`));
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
  });

  it('GET /logout without the sid, or with another one, is refused (400 page) and ends nothing', async () => {
    for (const query of ['', '?sid=', '?sid=not-the-sid', '?sid[]=x']) {
      const res = await ua.get(`${h.url}/logout${query}`);
      assert.equal(res.status, 400, query);
      assert.match(res.text, /Sign in again/);
    }
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
    assert.equal(h.idp.counts.revocation, 0);
  });

  it('POST /logout of a browser without a session answers 200 with the post-logout URL', async () => {
    const res = await h.browser().post(`${h.url}/logout`, { headers: csrf });
    assert.equal(res.status, 200);
    assert.equal(res.json<{ logoutUrl: string }>().logoutUrl, `${h.url}/`);
  });
});

describe('logout with a broken end_session_endpoint in the IdP metadata', () => {
  it('still ends the session and falls back to POST_LOGOUT_REDIRECT_URI', async () => {
    const faults = idpFaults();
    faults.set((url, init) =>
      url.endsWith('/.well-known/openid-configuration')
        ? fetch(url, init as RequestInit).then(async (res) => {
            const metadata = (await res.json()) as Record<string, unknown>;
            return Response.json({ ...metadata, end_session_endpoint: 'ftp://idp.example/logout' });
          })
        : undefined,
    );
    const h = await startHarness({ idpFetch: faults.fetch });
    try {
      faults.clear();
      const ua = h.browser();
      await h.login(ua);
      const res = await ua.post(`${h.url}/logout`, { headers: csrf });
      assert.equal(res.status, 200);
      assert.equal(res.json<{ logoutUrl: string }>().logoutUrl, `${h.url}/`);
      assert.equal((await ua.get(`${h.url}/session`)).status, 401);
    } finally {
      await h.close();
    }
  });
});
