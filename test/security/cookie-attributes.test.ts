import assert from 'node:assert/strict';
import { CLIENT_ID, CLIENT_SECRET, startHarness, type Harness } from '../support/harness.js';
import { findSetCookie, hostOf, type ParsedSetCookie } from '../support/security.js';
import type { UaResponse, UserAgent } from '../support/user-agent.js';

const HTTPS_ORIGIN = 'https://bff.example.test';
const BASE64URL_43 = /^[A-Za-z0-9_-]{43}$/;

function assertLockedDown(cookie: ParsedSetCookie | undefined, name: string, secure: boolean): asserts cookie is ParsedSetCookie {
  assert.ok(cookie, `no Set-Cookie for ${name}`);
  assert.ok(cookie.attributes.has('httponly'), `${name} is not HttpOnly: ${cookie.raw}`);
  assert.equal(cookie.attributes.get('samesite')?.toLowerCase(), 'lax', `${name} is not SameSite=Lax: ${cookie.raw}`);
  assert.equal(cookie.attributes.get('path'), '/', `${name} is not Path=/: ${cookie.raw}`);
  assert.equal(cookie.attributes.has('domain'), false, `${name} has a Domain: ${cookie.raw}`);
  assert.equal(cookie.attributes.has('secure'), secure, `${name} Secure should be ${secure}: ${cookie.raw}`);
  const maxAge = Number(cookie.attributes.get('max-age'));
  assert.ok(Number.isInteger(maxAge) && maxAge > 0, `${name} has no positive Max-Age: ${cookie.raw}`);
}

function assertOpaque(value: string, h: Harness): void {
  assert.match(value, BASE64URL_43);
  assert.equal(Buffer.from(value, 'base64url').length, 32, 'not 256 bits');
  assert.equal(value.includes('.'), false, 'looks like a JWT');
  assert.ok(h.idp.issued.size >= 2, 'the IdP issued no tokens: the comparison below would be empty');
  for (const token of h.idp.issued) {
    assert.equal(value.includes(token), false, 'the cookie contains a token');
    assert.equal(token.includes(value), false, 'the cookie is part of a token');
  }
}

/**
 * Login when PUBLIC_URL is https but the harness listens on http: the IdP redirects to
 * https://bff.example.test/callback, which this test replays on the harness URL.
 */
async function loginBehindTls(h: Harness, ua: UserAgent): Promise<UaResponse> {
  const { response } = await ua.follow(`${h.url}/login`, { stopAt: (u) => u.origin === HTTPS_ORIGIN });
  assert.equal(response.status >= 300 && response.status < 400, true, `login stopped at ${response.status} ${response.url}`);
  const target = new URL(response.headers.get('location') ?? '', response.url);
  assert.equal(target.origin, HTTPS_ORIGIN);
  assert.equal(target.pathname, '/callback');
  return ua.get(`${h.url}${target.pathname}${target.search}`);
}

describe('session cookie attributes: HttpOnly, SameSite=Lax, Path=/, Secure and __Host- on https, opaque value', () => {
  let plain: Harness;
  let tls: Harness;
  before(async () => {
    plain = await startHarness();
    tls = await startHarness({
      env: { PUBLIC_URL: HTTPS_ORIGIN },
      idp: {
        clients: [
          {
            client_id: CLIENT_ID,
            client_secret: CLIENT_SECRET,
            redirect_uris: [`${HTTPS_ORIGIN}/callback`],
            post_logout_redirect_uris: [`${HTTPS_ORIGIN}/logout/callback`],
          },
        ],
      },
    });
  });
  after(async () => {
    await plain?.close();
    await tls?.close();
  });

  describe('with an http PUBLIC_URL', () => {
    let ua: UserAgent;
    let loginResponse: UaResponse;
    let callback: UaResponse;
    before(async () => {
      ua = plain.browser();
      loginResponse = await ua.get(`${plain.url}/login`);
      const { callback: cb } = await ua.login(`${plain.url}/login`, { stopAtOrigin: plain.url });
      callback = cb;
    });

    it('the browser gets the login-binding cookie bff-login from /login as HttpOnly, SameSite=Lax, Path=/, without Secure', () => {
      assert.equal(loginResponse.status, 302);
      const cookie = findSetCookie(loginResponse.setCookies, 'bff-login');
      assertLockedDown(cookie, 'bff-login', false);
      assert.ok(Number(cookie.attributes.get('max-age')) <= 600, 'the login binding outlives the 10-minute transaction');
      assert.match(cookie.value, BASE64URL_43);
    });

    it('the browser gets the session cookie bff-session from /callback as HttpOnly, SameSite=Lax, Path=/, without Secure, with Max-Age', () => {
      assert.equal(callback.status, 302);
      const cookie = findSetCookie(callback.setCookies, 'bff-session');
      assertLockedDown(cookie, 'bff-session', false);
      assert.equal(Number(cookie.attributes.get('max-age')), plain.config.session.maxAgeMs / 1000);
      assert.equal(findSetCookie(callback.setCookies, '__Host-bff-session'), undefined);
    });

    it('the session cookie value the browser holds is an opaque 256-bit id, not a token, and it signs the browser in', async () => {
      const value = findSetCookie(callback.setCookies, 'bff-session')?.value ?? '';
      assertOpaque(value, plain);
      assert.equal(ua.cookie(hostOf(plain), 'bff-session'), value);
      assert.equal((await ua.get(`${plain.url}/session`)).status, 200);
    });
  });

  describe('with an https PUBLIC_URL', () => {
    let ua: UserAgent;
    let callback: UaResponse;
    before(async () => {
      ua = tls.browser();
      callback = await loginBehindTls(tls, ua);
    });

    it('the browser gets __Host-bff-login as Secure, HttpOnly, SameSite=Lax, Path=/ and without Domain', () => {
      const cookie = findSetCookie(ua.setCookies, '__Host-bff-login');
      assertLockedDown(cookie, '__Host-bff-login', true);
      assert.equal(findSetCookie(ua.setCookies, 'bff-login'), undefined, 'an unprefixed login cookie was set too');
    });

    it('the browser gets __Host-bff-session from /callback as Secure, HttpOnly, SameSite=Lax, Path=/ and without Domain', () => {
      assert.equal(callback.status, 302, callback.text);
      const cookie = findSetCookie(callback.setCookies, '__Host-bff-session');
      assertLockedDown(cookie, '__Host-bff-session', true);
      assert.equal(findSetCookie(callback.setCookies, 'bff-session'), undefined, 'an unprefixed session cookie was set too');
    });

    it('the __Host- session cookie value is an opaque 256-bit id that contains no token, and it signs the browser in', async () => {
      const value = findSetCookie(callback.setCookies, '__Host-bff-session')?.value ?? '';
      assertOpaque(value, tls);
      const session = await ua.get(`${tls.url}/session`);
      assert.equal(session.status, 200, session.text);
      assert.equal(session.json<{ authenticated: boolean }>().authenticated, true);
    });

    it('a browser presenting the same id under the unprefixed name bff-session (a cookie a sibling host could plant) is anonymous', async () => {
      const value = findSetCookie(callback.setCookies, '__Host-bff-session')?.value ?? '';
      const other = tls.browser();
      other.setCookie(hostOf(tls), 'bff-session', value);
      assert.equal((await other.get(`${tls.url}/session`)).status, 401);
    });

    it('a browser logging out gets __Host-bff-session deleted with Secure and Path=/ (a browser ignores a __Host- deletion without them)', async () => {
      const logout = await ua.post(`${tls.url}/logout`, { headers: { 'x-csrf': '1' } });
      assert.equal(logout.status, 200, logout.text);
      const cleared = findSetCookie(logout.setCookies, '__Host-bff-session');
      assert.ok(cleared, 'logout did not clear the session cookie');
      assert.equal(cleared.value, '');
      assert.equal(cleared.attributes.get('max-age'), '0');
      assert.ok(cleared.attributes.has('secure'), cleared.raw);
      assert.equal(cleared.attributes.get('path'), '/');
      assert.equal(cleared.attributes.has('domain'), false);
      assert.equal((await ua.get(`${tls.url}/session`)).status, 401);
    });
  });
});
