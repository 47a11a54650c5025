import assert from 'node:assert/strict';
import { idpFaults, tokenEndpointAnswers, tokenEndpointDown, tokenResponseEdited } from '../support/faults.js';
import { CLIENT_SECRET, startHarness, type Harness } from '../support/harness.js';
import { forge } from '../support/jwt.js';
import type { UserAgent } from '../support/user-agent.js';

async function callbackUrlOf(h: Harness, ua: UserAgent): Promise<string> {
  const { response } = await ua.follow(`${h.url}/login`, { stopAt: (u) => u.origin === h.url && u.pathname === '/callback' });
  return new URL(response.headers.get('location')!, response.url).href;
}

const json = { accept: 'application/json' };

describe('GET /callback validates the response and starts a new session', () => {
  const faults = idpFaults();
  let h: Harness;
  before(async () => {
    h = await startHarness({ idpFetch: faults.fetch });
  });
  afterEach(() => faults.clear());
  after(async () => h?.close());

  /** Runs a login whose callback meets the given fault; returns the callback response, and proves no session was made. */
  async function failedLogin(setup: () => void, mutateUrl?: (u: URL) => void) {
    const ua = h.browser();
    const cb = new URL(await callbackUrlOf(h, ua));
    mutateUrl?.(cb);
    setup();
    const res = await ua.get(cb.href, { headers: json });
    faults.clear();
    assert.ok(!res.setCookies.some((c) => c.startsWith('bff-session=') && !c.includes('Max-Age=0')), 'a session cookie was set');
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
    return res;
  }

  it('issues a new session id at every login, also over a valid session (no fixation)', async () => {
    const ua = h.browser();
    await h.login(ua);
    const first = ua.cookie(new URL(h.url).host, 'bff-session')!;
    await h.login(ua);
    const second = ua.cookie(new URL(h.url).host, 'bff-session')!;
    assert.notEqual(first, second);
    const stale = h.browser();
    stale.setCookie(new URL(h.url).host, 'bff-session', first);
    assert.equal((await stale.get(`${h.url}/session`)).status, 401);
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
  });

  it('answers access_denied from the IdP with a 403 page', async () => {
    const ua = h.browser();
    const cb = new URL(await callbackUrlOf(h, ua));
    const url = `${h.url}/callback?error=access_denied&state=${cb.searchParams.get('state')}&iss=${encodeURIComponent(h.idp.issuer)}`;
    const res = await ua.get(url);
    assert.equal(res.status, 403);
    assert.match(res.text, /cancelled/);
    assert.match(res.text, /Sign in again/);
  });

  it('refuses a response whose iss is another issuer (mix-up, RFC 9207): 400', async () => {
    const res = await failedLogin(
      () => {},
      (u) => u.searchParams.set('iss', 'https://evil.example'),
    );
    assert.equal(res.status, 400);
    assert.equal(h.logs.named('callback.response_invalid').length > 0, true);
  });

  it('refuses a response without iss when the IdP advertises it: 400', async () => {
    const res = await failedLogin(
      () => {},
      (u) => u.searchParams.delete('iss'),
    );
    assert.equal(res.status, 400);
  });

  it('answers 502 when the token endpoint fails with 500, and logs why', async () => {
    const res = await failedLogin(() => faults.set(tokenEndpointAnswers(500, '<html>oops</html>', 'text/html')));
    assert.equal(res.status, 502);
    assert.equal(res.json<{ error: string }>().error, 'idp_error');
  });

  it('answers 502 idp_unreachable when the token endpoint cannot be reached', async () => {
    const res = await failedLogin(() => faults.set(tokenEndpointDown));
    assert.equal(res.status, 502);
    assert.equal(res.json<{ error: string }>().error, 'idp_unreachable');
    assert.ok(h.logs.named('callback.idp_unreachable').length > 0);
  });

  it('answers 400 login_failed when the IdP rejects the code (invalid_grant)', async () => {
    const res = await failedLogin(() => faults.set(tokenEndpointAnswers(400, { error: 'invalid_grant' })));
    assert.equal(res.status, 400);
    assert.equal(res.json<{ error: string }>().error, 'login_failed');
  });

  const forgeries: Array<[string, (idToken: string) => string]> = [
    ['an ID token signed by a key the IdP never published', forge.resigned],
    ['an unsigned ID token (alg: none)', forge.unsigned],
    ['an ID token signed HS256 with the client secret (algorithm confusion)', (t) => forge.hs256(t, CLIENT_SECRET)],
    ['an ID token with another nonce', (t) => forge.edited(t, { nonce: 'attacker' })],
    ['an ID token for another audience', (t) => forge.edited(t, { aud: 'other-client' })],
    ['an ID token from another issuer', (t) => forge.edited(t, { iss: 'https://evil.example' })],
    ['an expired ID token', (t) => forge.edited(t, { exp: 1_000_000_000 })],
  ];
  for (const [name, tamper] of forgeries) {
    it(`refuses ${name}: 502, no session`, async () => {
      const res = await failedLogin(() => faults.set(tokenResponseEdited((body) => ({ ...body, id_token: tamper(body['id_token'] as string) }))));
      assert.equal(res.status, 502);
      assert.equal(res.json<{ error: string }>().error, 'idp_error');
    });
  }

  it('refuses a token response without an ID token', async () => {
    const res = await failedLogin(() => faults.set(tokenResponseEdited(({ id_token: _drop, ...rest }) => rest)));
    assert.equal(res.status, 502);
  });
});
