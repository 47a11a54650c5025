import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../support/harness.js';
import { findSetCookie } from '../support/security.js';

/** Logs a fresh browser in with `returnTo` and returns where /callback sends it. */
async function landing(h: Harness, returnTo: string): Promise<string> {
  const ua = h.browser();
  const callback = await h.login(ua, `?returnTo=${encodeURIComponent(returnTo)}`);
  assert.equal(callback.status, 302, `${returnTo}: ${callback.status} ${callback.text.slice(0, 200)}`);
  assert.ok(findSetCookie(callback.setCookies, 'bff-session')?.value, `${returnTo}: the login did not complete`);
  const location = callback.headers.get('location');
  assert.ok(location, `${returnTo}: no Location`);
  return location;
}

describe('returnTo accepts only same-origin paths or listed origins (no open redirect)', () => {
  let h: Harness;
  let listed: Harness;
  before(async () => {
    h = await startHarness();
    listed = await startHarness({ env: { ALLOWED_RETURN_TO_ORIGINS: 'https://admin.example.test' } });
  });
  after(async () => {
    await h?.close();
    await listed?.close();
  });

  const refused: Array<[string, string]> = [
    ['a scheme-relative //evil.example', '//evil.example'],
    ['a backslash /\\evil.example', '/\\evil.example'],
    ['an absolute https://evil.example/x', 'https://evil.example/x'],
    ['a javascript: URL', 'javascript:alert(document.cookie)'],
    ['an encoded scheme-relative /%2F%2Fevil.example', '/%2F%2Fevil.example'],
    ['an encoded backslash /%5Cevil.example', '/%5Cevil.example'],
    ['a tab-split /\\t/evil.example', '/\t/evil.example'],
    ['a dot-segment escape /a/..//evil.example', '/a/..//evil.example'],
    ['an https: URL without slashes', 'https:evil.example'],
    ['an unlisted origin https://admin.example.test/x', 'https://admin.example.test/x'],
  ];
  for (const [what, returnTo] of refused) {
    it(`a browser sent to /login with ${what} lands on the BFF's root after login`, async () => {
      assert.equal(await landing(h, returnTo), `${h.url}/`);
    });
  }

  it("a browser sent to /login with userinfo in front of the BFF's own origin lands on the root after login", async () => {
    assert.equal(await landing(h, `${h.url.replace('://', '://evil.example@')}/x`), `${h.url}/`);
  });

  it('a browser sent to /login with returnTo=/dashboard?tab=2 lands on that same-origin path after login', async () => {
    assert.equal(await landing(h, '/dashboard?tab=2'), `${h.url}/dashboard?tab=2`);
  });

  it('a browser sent to /login with a listed origin https://admin.example.test/x lands there after login', async () => {
    assert.equal(await landing(listed, 'https://admin.example.test/x'), 'https://admin.example.test/x');
  });

  it('a browser sent to /login with https://evil.example/x still lands on the root when other origins are listed', async () => {
    assert.equal(await landing(listed, 'https://evil.example/x'), `${listed.url}/`);
    assert.equal(await landing(listed, 'https://admin.example.test.evil.example/x'), `${listed.url}/`);
    assert.equal(await landing(listed, '//admin.example.test/x'), `${listed.url}/`);
  });
});
