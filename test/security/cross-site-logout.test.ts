import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/harness.js';

const crossSite = { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' };

/** Set-Cookie headers of a response that touch the session cookie (or one of its chunks). */
function sessionCookieWrites(res: Response): string[] {
  return res.headers.getSetCookie().filter((c) => /^bff-session(?:[.-]\d+)?=/.test(c));
}

/**
 * With SameSite=Strict, a cross-site navigation arrives without the session cookie. An answer
 * that deletes "the" cookie anyway signs the user out in the browser while the server session
 * lives on: a cross-site logout. No cross-site request may change or delete the session cookie.
 */
for (const [sameSite, store] of [
  ['strict', 'memory'],
  ['strict', 'cookie'],
  ['lax', 'memory'],
  ['lax', 'cookie'],
] as const) {
  describe(`a cross-site request never deletes the session cookie (SESSION_COOKIE_SAMESITE=${sameSite}, SESSION_STORE=${store})`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ env: { SESSION_COOKIE_SAMESITE: sameSite, SESSION_STORE: store } });
    });
    after(async () => h?.close());

    it('a cross-site GET /logout without the cookie does not Set-Cookie the session cookie expired, and the session lives on', async () => {
      const ua = h.browser();
      await h.login(ua);
      const res = await fetch(`${h.url}/logout`, { redirect: 'manual', headers: crossSite });
      assert.deepEqual(sessionCookieWrites(res), []);
      assert.equal((await ua.get(`${h.url}/session`)).status, 200);
    });

    it('a cross-site GET /logout carrying a dead session cookie leaves it alone', async () => {
      const res = await fetch(`${h.url}/logout`, { redirect: 'manual', headers: { ...crossSite, cookie: 'bff-session=not-a-live-session' } });
      assert.deepEqual(sessionCookieWrites(res), []);
    });

    for (const [method, path] of [
      ['GET', '/login'],
      ['GET', '/callback?state=forged'],
      ['GET', '/callback?error=access_denied&state=forged'],
      ['GET', '/logout?sid=guess'],
      ['GET', '/logout/callback?state=forged'],
      ['GET', '/session'],
      ['POST', '/logout'],
      ['POST', '/refresh'],
      ['GET', '/api/anything'],
    ] as const) {
      it(`a cross-site ${method} ${path} without the cookie does not touch the session cookie`, async () => {
        const res = await fetch(`${h.url}${path}`, { method, redirect: 'manual', headers: crossSite });
        await res.arrayBuffer();
        assert.deepEqual(sessionCookieWrites(res), []);
      });
    }
  });
}
