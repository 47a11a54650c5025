import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/harness.js';
import { findSetCookie } from '../support/security.js';
import type { UaResponse, UserAgent } from '../support/user-agent.js';

interface SessionBody {
  authenticated: boolean;
  sid?: string;
}

describe('anti-CSRF: the API, /refresh and /logout refuse requests a cross-site page could make', () => {
  let h: Harness;
  let ua: UserAgent;
  let sid: string;

  before(async () => {
    h = await startHarness();
    ua = h.browser();
    await h.login(ua);
    const session = await ua.get(`${h.url}/session`);
    assert.equal(session.status, 200);
    sid = session.json<SessionBody>().sid!;
  });
  after(async () => h?.close());

  /** Runs `request`, asserts it was refused as CSRF and that nothing reached the upstream or the IdP's token endpoint. */
  const refused = async (request: () => Promise<UaResponse>, what: string) => {
    const upstream = h.upstream.received.length;
    const tokenCalls = h.idp.counts.token;
    const res = await request();
    assert.equal(res.status, 403, `${what}: ${res.status} ${res.text.slice(0, 200)}`);
    assert.equal(res.json<{ error: string }>().error, 'csrf');
    assert.equal(h.upstream.received.length, upstream, `${what}: the upstream received a request`);
    assert.equal(h.idp.counts.token, tokenCalls, `${what}: the IdP token endpoint was called`);
  };
  const assertSessionSurvives = async () => {
    const session = await ua.get(`${h.url}/session`);
    assert.equal(session.status, 200, 'the session was ended');
    assert.equal(session.json<SessionBody>().sid, sid);
  };

  it('a signed-in page calling /api without the X-CSRF header gets 403 csrf', async () => {
    await refused(() => ua.get(`${h.url}/api/x`), 'GET without header');
    await refused(() => ua.post(`${h.url}/api/x`, { headers: { 'content-type': 'text/plain' }, body: 'a=1' }), 'simple POST without header');
  });

  it('a signed-in page calling /api with X-CSRF: 0 gets 403 csrf', async () => {
    await refused(() => h.api(ua, '/x', { headers: { 'x-csrf': '0' } }), 'X-CSRF: 0');
  });

  it('a cross-site page (Origin https://evil.example) sending the header gets 403 csrf', async () => {
    await refused(() => h.api(ua, '/x', { headers: { origin: 'https://evil.example' } }), 'evil Origin');
    await refused(() => h.api(ua, '/x', { method: 'POST', headers: { origin: 'https://evil.example' }, body: '{}' }), 'evil Origin POST');
  });

  it('a request the browser marks Sec-Fetch-Site: cross-site gets 403 csrf even with the header', async () => {
    await refused(() => h.api(ua, '/x', { headers: { 'sec-fetch-site': 'cross-site' } }), 'Sec-Fetch-Site: cross-site');
  });

  it('a sandboxed or privacy-redirected page (Origin: null) gets 403 csrf even with the header', async () => {
    await refused(() => h.api(ua, '/x', { headers: { origin: 'null' } }), 'Origin: null');
  });

  it('a page on a look-alike origin (another port, scheme or host of ours) gets 403 csrf', async () => {
    const own = new URL(h.url);
    await refused(() => h.api(ua, '/x', { headers: { origin: `http://${own.hostname}:${Number(own.port) + 1}` } }), 'other port');
    await refused(() => h.api(ua, '/x', { headers: { origin: `https://${own.host}` } }), 'other scheme');
    await refused(() => h.api(ua, '/x', { headers: { origin: `${h.url}.evil.example` } }), 'suffixed host');
  });

  it('the SPA on the same origin (Origin = PUBLIC_URL, Sec-Fetch-Site: same-origin) with the header reaches the upstream', async () => {
    const before = h.upstream.received.length;
    const res = await h.api(ua, '/same-origin', { headers: { origin: h.url, 'sec-fetch-site': 'same-origin' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(h.upstream.received.length, before + 1);
    assert.equal(h.upstream.received.at(-1)!.url, '/v1/same-origin');
    assert.equal(h.upstream.received.at(-1)!.headers['x-csrf'], undefined, 'the anti-CSRF header was forwarded');
  });

  it('a cross-site page POSTing /logout without the header gets 403 and the session survives', async () => {
    await refused(() => ua.post(`${h.url}/logout`), 'POST /logout without header');
    await refused(() => ua.post(`${h.url}/logout`, { headers: { 'x-csrf': '1', origin: 'https://evil.example' } }), 'POST /logout cross-origin');
    await assertSessionSurvives();
  });

  it('a cross-site page POSTing /refresh without the header gets 403 and no refresh happens', async () => {
    const refreshes = h.idp.counts.refresh;
    await refused(() => ua.post(`${h.url}/refresh`), 'POST /refresh without header');
    await refused(() => ua.post(`${h.url}/refresh`, { headers: { 'x-csrf': '1', 'sec-fetch-site': 'cross-site' } }), 'POST /refresh cross-site');
    assert.equal(h.idp.counts.refresh, refreshes);
    await assertSessionSurvives();
  });

  it('a cross-site link to GET /logout without a sid, or with a wrong sid, gets 400 and the session survives', async () => {
    const upstream = h.upstream.received.length;
    for (const query of ['', '?sid=', '?sid=wrong', `?sid=${encodeURIComponent(sid.slice(0, -1))}`, `?sid=${encodeURIComponent(`${sid}x`)}`]) {
      const res = await ua.get(`${h.url}/logout${query}`);
      assert.equal(res.status, 400, `GET /logout${query}: ${res.status}`);
      assert.equal(findSetCookie(res.setCookies, 'bff-session'), undefined, `GET /logout${query} touched the session cookie`);
      await assertSessionSurvives();
    }
    assert.equal(h.upstream.received.length, upstream);
    assert.equal(h.idp.counts.revocation, 0, 'a refused logout revoked a token');
  });

  it("the SPA navigating to GET /logout with the session's own sid gets 302 to the IdP and the session is over", async () => {
    const before = h.upstream.received.length;
    const res = await ua.get(`${h.url}/logout?sid=${encodeURIComponent(sid)}`);
    assert.equal(res.status, 302, res.text);
    const location = new URL(res.headers.get('location') ?? '');
    assert.equal(location.origin, new URL(h.idp.issuer).origin, `logout went to ${location.href}`);
    assert.ok(location.searchParams.get('id_token_hint'), 'no id_token_hint for the IdP');
    assert.equal(findSetCookie(res.setCookies, 'bff-session')?.attributes.get('max-age'), '0');
    const session = await ua.get(`${h.url}/session`);
    assert.equal(session.status, 401);
    assert.equal(h.upstream.received.length, before);
  });
});
