import assert from 'node:assert/strict';
import { idpFaults, tokenResponseEdited } from '../support/faults.js';
import { startHarness, type Harness } from '../support/harness.js';
import { decodeJwt, forge } from '../support/jwt.js';
import type { UaResponse, UserAgent } from '../support/user-agent.js';

const DAY = 86_400;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const json = { accept: 'application/json' };

/** Runs /login?query through the real IdP and returns the URL the IdP sent the browser back to. */
async function callbackUrlOf(h: Harness, ua: UserAgent, query = ''): Promise<string> {
  const { response } = await ua.follow(`${h.url}/login${query}`, { stopAt: (u) => u.origin === h.url && u.pathname === '/callback' });
  return new URL(response.headers.get('location')!, response.url).href;
}

/** The ID token the real IdP issued, with `claims` changed and signed again with the IdP's own key. */
const idTokenReissued = (h: Harness, claims: (original: Record<string, unknown>) => Record<string, unknown>) =>
  tokenResponseEdited((body) => {
    const idToken = body['id_token'] as string;
    return { ...body, id_token: forge.reissued(idToken, h.idp.signingKey, claims(decodeJwt(idToken).payload)) };
  });

function assertNoSession(res: UaResponse): void {
  assert.ok(!res.setCookies.some((c) => c.startsWith('bff-session=') && !c.includes('Max-Age=0')), 'a session cookie was set');
}

describe('ID token iat: within OIDC_CLOCK_TOLERANCE in the future, at most OIDC_ID_TOKEN_MAX_AGE in the past', () => {
  const faults = idpFaults();
  let h: Harness;
  before(async () => {
    h = await startHarness({ idpFetch: faults.fetch });
  });
  afterEach(() => faults.clear());
  after(async () => h?.close());

  async function loginWith(edit: (claims: Record<string, unknown>) => Record<string, unknown>, headers: Record<string, string> = json) {
    const ua = h.browser();
    const cb = await callbackUrlOf(h, ua);
    faults.set(idTokenReissued(h, edit));
    const res = await ua.get(cb, { headers });
    faults.clear();
    return { ua, res };
  }

  it('refuses an ID token issued a day in the future: 400 page, no session, callback.id_token_invalid', async () => {
    const { ua, res } = await loginWith(() => ({ iat: nowSeconds() + DAY, exp: nowSeconds() + DAY + 3600 }), {});
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /html/);
    assert.match(res.text, /id_token_invalid/);
    assert.match(res.text, /Sign in again/);
    assertNoSession(res);
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
    const [event] = h.logs.named('callback.id_token_invalid').slice(-1);
    assert.equal(event?.['reason'], 'iat in the future');
  });

  it('refuses an ID token issued longer ago than OIDC_ID_TOKEN_MAX_AGE (600 s) although not expired: 400', async () => {
    const { ua, res } = await loginWith(() => ({ iat: nowSeconds() - 700, exp: nowSeconds() + 3600 }));
    assert.equal(res.status, 400);
    assert.equal(res.json<{ error: string }>().error, 'id_token_invalid');
    assertNoSession(res);
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
    assert.equal(h.logs.named('callback.id_token_invalid').slice(-1)[0]?.['reason'], 'iat too old');
  });

  it('accepts an ID token issued 30 s in the future (within the 60 s tolerance)', async () => {
    const { ua, res } = await loginWith(() => ({ iat: nowSeconds() + 30 }));
    assert.equal(res.status, 302);
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
  });

  it("applies OIDC_CLOCK_TOLERANCE to openid-client's own checks: an ID token expired 45 s ago is accepted (its default is 30 s)", async () => {
    const { ua, res } = await loginWith(() => ({ iat: nowSeconds() - 120, exp: nowSeconds() - 45 }));
    assert.equal(res.status, 302);
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
  });
});

describe('ID token iat bounds follow the configuration', () => {
  const faults = idpFaults();
  let h: Harness;
  before(async () => {
    h = await startHarness({ idpFetch: faults.fetch, env: { OIDC_CLOCK_TOLERANCE: '5', OIDC_ID_TOKEN_MAX_AGE: '60' } });
  });
  after(async () => h?.close());

  for (const [name, claims, status] of [
    ['refuses an ID token issued 30 s in the future with OIDC_CLOCK_TOLERANCE=5', () => ({ iat: nowSeconds() + 30 }), 400],
    ['refuses an ID token issued 90 s ago with OIDC_ID_TOKEN_MAX_AGE=60', () => ({ iat: nowSeconds() - 90 }), 400],
    ['refuses an ID token expired 10 s ago with OIDC_CLOCK_TOLERANCE=5', () => ({ iat: nowSeconds() - 50, exp: nowSeconds() - 10 }), 502],
  ] as const) {
    it(name, async () => {
      const ua = h.browser();
      const cb = await callbackUrlOf(h, ua);
      faults.set(idTokenReissued(h, claims));
      const res = await ua.get(cb, { headers: json });
      faults.clear();
      assert.equal(res.status, status);
      assertNoSession(res);
    });
  }
});

describe('requested acr_values and max_age are checked in the ID token (OIDC Core 3.1.3.7, 11-13)', () => {
  const faults = idpFaults();
  let h: Harness;
  before(async () => {
    h = await startHarness({ idpFetch: faults.fetch, idp: { acrValues: ['urn:example:mfa'] } });
  });
  afterEach(() => faults.clear());
  after(async () => h?.close());

  async function loginWith(query: string, edit?: (claims: Record<string, unknown>) => Record<string, unknown>, headers: Record<string, string> = json) {
    const ua = h.browser();
    const cb = await callbackUrlOf(h, ua, query);
    if (edit) faults.set(idTokenReissued(h, edit));
    const res = await ua.get(cb, { headers });
    faults.clear();
    return { ua, res };
  }

  it('accepts an ID token whose acr is one of the requested acr_values', async () => {
    const { ua, res } = await loginWith('?acr_values=urn:example:gold%20urn:example:mfa');
    assert.equal(res.status, 302);
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
  });

  it('refuses an ID token without the requested acr (the IdP ignored acr_values): 403 page, no session', async () => {
    const { ua, res } = await loginWith('?acr_values=urn:example:gold', undefined, {});
    assert.equal(res.status, 403);
    assert.match(res.text, /insufficient_user_authentication/);
    assert.match(res.text, /Sign in again/);
    assertNoSession(res);
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
    assert.match(String(h.logs.named('callback.authentication_insufficient').slice(-1)[0]?.['reason']), /acr/);
  });

  it('refuses an ID token whose acr is not among the requested ones (a downgraded authentication): 403', async () => {
    const { res } = await loginWith('?acr_values=urn:example:mfa', () => ({ acr: 'urn:example:password' }));
    assert.equal(res.status, 403);
    assert.equal(res.json<{ error: string }>().error, 'insufficient_user_authentication');
    assertNoSession(res);
  });

  it('accepts a fresh enough auth_time when max_age was requested', async () => {
    const { ua, res } = await loginWith('?max_age=300');
    assert.equal(res.status, 302);
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
  });

  it('refuses an ID token whose auth_time is older than the requested max_age: 403, no session', async () => {
    const { ua, res } = await loginWith('?max_age=60', () => ({ auth_time: nowSeconds() - 3600 }));
    assert.equal(res.status, 403);
    assert.equal(res.json<{ error: string }>().error, 'insufficient_user_authentication');
    assertNoSession(res);
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
    assert.match(String(h.logs.named('callback.authentication_insufficient').slice(-1)[0]?.['reason']), /auth_time/);
  });

  it('refuses an ID token without auth_time when max_age was requested: 403', async () => {
    const { res } = await loginWith('?max_age=60', () => ({ auth_time: undefined }));
    assert.equal(res.status, 403);
    assertNoSession(res);
  });

  it('refuses a malformed max_age at /login (400) instead of starting a different login', async () => {
    const res = await h.browser().get(`${h.url}/login?max_age=soon`, { headers: json });
    assert.equal(res.status, 400);
  });
});

describe('with cookie sessions, the requested acr_values / max_age travel in the login cookie and are enforced too', () => {
  const faults = idpFaults();
  let h: Harness;
  before(async () => {
    h = await startHarness({ idpFetch: faults.fetch, env: { SESSION_STORE: 'cookie' }, idp: { acrValues: ['urn:example:mfa'] } });
  });
  after(async () => h?.close());

  it('refuses an ID token without the requested acr, and accepts one with it', async () => {
    const refused = h.browser();
    assert.equal((await refused.get(await callbackUrlOf(h, refused, '?acr_values=urn:example:gold'), { headers: json })).status, 403);
    const accepted = h.browser();
    assert.equal((await accepted.get(await callbackUrlOf(h, accepted, '?acr_values=urn:example:mfa'), { headers: json })).status, 302);
  });

  it('refuses an ID token whose auth_time is older than the requested max_age', async () => {
    const ua = h.browser();
    const cb = await callbackUrlOf(h, ua, '?max_age=60');
    faults.set(idTokenReissued(h, () => ({ auth_time: nowSeconds() - 3600 })));
    const res = await ua.get(cb, { headers: json });
    faults.clear();
    assert.equal(res.status, 403);
    assertNoSession(res);
  });
});

describe('acr_values set by OIDC_AUTH_PARAMS are enforced like those the SPA asked for', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ env: { OIDC_AUTH_PARAMS: 'acr_values=urn:example:gold' } });
  });
  after(async () => h?.close());

  it('refuses the login when the IdP does not return the configured acr: 403', async () => {
    const ua = h.browser();
    const res = await ua.get(await callbackUrlOf(h, ua), { headers: json });
    assert.equal(res.status, 403);
    assertNoSession(res);
  });
});
