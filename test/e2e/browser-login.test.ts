import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { Page } from 'playwright-core';
import type { Step } from '../../src/web/context.js';
import { launchChromium, type LaunchedChromium } from '../support/browser.js';
import { testClock } from '../support/clock.js';
import { startHarness, type Harness } from '../support/harness.js';

// A real headless Chromium against a real oidc-provider (its own login and consent pages), the
// BFF on http://localhost:PORT and the IdP on http://127.0.0.1:PORT, so their cookies never mix.

const USERNAME = 'carol.browser';
const PASSWORD = 'any-password-works';

/** The test SPA: one page, no external resource. It sets a cookie of its own, which the API may see. */
const SPA_HTML = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Test SPA</title></head>
<body>
<h1>Test SPA</h1>
<a id="login" href="/login?returnTo=/app">Sign in</a>
<script>document.cookie = 'spa-theme=dark; Path=/; SameSite=Lax';</script>
</body>
</html>`;

const serveSpa: Step = async (ctx, next) => {
  if (ctx.method !== 'GET' || ctx.path !== '/app') return next();
  ctx.type = 'html';
  ctx.body = SPA_HTML;
};

/** The slice of the DOM the in-page functions use (the tsconfig has no DOM lib). */
interface StorageLike {
  readonly length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
}
interface PageGlobals {
  document: { cookie: string };
  localStorage: StorageLike;
  sessionStorage: StorageLike;
}

interface PageResponse {
  status: number;
  contentType: string;
  text: string;
}

/** fetch() run by the page itself: same origin, the browser's own cookies and headers. */
function pageFetch(page: Page, path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<PageResponse> {
  // No named helpers inside evaluated functions: tsx's keepNames would wrap them in __name(), unknown in the page.
  return page.evaluate(
    async ({ path, init }) => {
      const r = await fetch(path, init);
      return { status: r.status, contentType: r.headers.get('content-type') ?? '', text: await r.text() };
    },
    { path, init },
  );
}

/** What page JavaScript can read: document.cookie and every Web Storage entry (keys and values). */
function readableByScript(page: Page): Promise<{ cookie: string; storage: string[] }> {
  return page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals;
    const storage: string[] = [];
    for (const s of [g.localStorage, g.sessionStorage]) {
      for (let i = 0; i < s.length; i++) {
        const key = s.key(i) ?? '';
        storage.push(key, s.getItem(key) ?? '');
      }
    }
    return { cookie: g.document.cookie, storage };
  });
}

function json(r: PageResponse): Record<string, unknown> {
  assert.match(r.contentType, /^application\/json\b/, `expected JSON, got ${r.contentType}: ${r.text.slice(0, 200)}`);
  return JSON.parse(r.text) as Record<string, unknown>;
}

for (const store of ['memory', 'cookie'] as const)
  describe(`e2e: a real browser signs in through the BFF (SESSION_STORE=${store})`, function () {
    let h: Harness | undefined;
    let chrome: LaunchedChromium | undefined;
    let page: Page;
    const clock = testClock();

    before(async function () {
      // Both start at once; whichever started is kept for after() even when the other failed.
      const [harnessStart, chromeStart] = await Promise.allSettled([
        // An IdP that does not rotate refresh tokens, as several certified OPs are set up.
        startHarness({
          idp: { interactive: true, rotateRefreshToken: false },
          hostname: 'localhost',
          extra: serveSpa,
          now: clock.now,
          env: { SESSION_STORE: store },
        }),
        launchChromium(),
      ]);
      if (harnessStart.status === 'fulfilled') h = harnessStart.value;
      if (chromeStart.status === 'fulfilled') chrome = chromeStart.value;
      if (harnessStart.status === 'rejected') throw harnessStart.reason;
      if (chromeStart.status === 'rejected') throw chromeStart.reason;
      page = await chromeStart.value.newPage();
    });

    after(async function () {
      const profileDir = chrome?.profileDir;
      await Promise.all([chrome?.close(), h?.close()]);
      if (profileDir) assert.equal(existsSync(profileDir), false, 'the temporary Chromium profile was not removed');
    });

    const harness = (): Harness => {
      assert.ok(h, 'harness not started');
      return h;
    };

    it('logs in, calls the API with a bearer token the page never sees, and logs out', async function () {
      const { url, idp, upstream } = harness();
      const idpOrigin = new URL(idp.issuer).origin;

      // 1. The user opens the SPA, follows its sign-in link, and goes through the IdP's own pages.
      await page.goto(`${url}/app`);
      assert.equal(await page.title(), 'Test SPA');
      const freshCookies = await page.context().cookies(url);
      assert.deepEqual(
        freshCookies.map((c) => c.name),
        ['spa-theme'],
        'the profile is not fresh: it already has cookies',
      );

      await page.click('#login');
      const loginInput = page.locator('form input[name="login"]');
      await loginInput.waitFor();
      assert.equal(new URL(page.url()).origin, idpOrigin, `expected the IdP's login page, got ${page.url()}`);
      await loginInput.fill(USERNAME);
      await page.locator('form input[name="password"]').fill(PASSWORD);
      await page.locator('form button[type="submit"]').click();

      const consent = page.locator('form:has(input[name="prompt"][value="consent"])');
      await consent.waitFor();
      assert.equal(new URL(page.url()).origin, idpOrigin, `expected the IdP's consent page, got ${page.url()}`);
      await consent.locator('button[type="submit"]').click();

      await page.waitForURL(`${url}/app`);
      assert.equal(page.url(), `${url}/app`);
      assert.equal(await page.title(), 'Test SPA');

      const session = (await page.context().cookies(url)).find((c) => c.name === 'bff-session');
      assert.ok(session, 'no bff-session cookie after the callback');
      assert.equal(session.httpOnly, true, 'the session cookie must be HttpOnly');
      assert.equal(session.sameSite, 'Lax');
      assert.equal(session.path, '/');
      assert.equal(session.domain, 'localhost', 'the session cookie must be host-only on the BFF host');

      // 2. The SPA asks who is signed in.
      const sessionResponse = await pageFetch(page, '/session');
      assert.equal(sessionResponse.status, 200, sessionResponse.text);
      const info = json(sessionResponse);
      assert.equal(info['authenticated'], true);
      assert.equal((info['claims'] as Record<string, unknown> | undefined)?.['sub'], USERNAME);

      // 3. An API call: the upstream gets the bearer token, not the BFF's cookies.
      const sentBefore = upstream.received.length;
      const apiResponse = await pageFetch(page, '/api/things', { headers: { 'X-CSRF': '1' } });
      assert.equal(apiResponse.status, 200, apiResponse.text);
      assert.equal(json(apiResponse)['url'], '/v1/things');
      assert.equal(upstream.received.length, sentBefore + 1, 'the upstream did not receive exactly one request');
      const received = upstream.received[sentBefore];
      assert.ok(received);
      const bearer = /^Bearer (\S+)$/.exec(received.headers.authorization ?? '');
      assert.ok(bearer, `upstream authorization header: ${String(received.headers.authorization)}`);
      assert.ok(idp.issued.has(bearer[1]!), 'the bearer token is not one the IdP issued');
      const upstreamCookie = received.headers.cookie ?? '';
      assert.doesNotMatch(upstreamCookie, /bff-/, `the upstream received the BFF's cookies: ${upstreamCookie}`);
      // The SPA's own cookie is not the BFF's business: it goes through (src/proxy/headers.ts).
      assert.equal(upstreamCookie, 'spa-theme=dark');

      // 4. Nothing the page's JavaScript can read holds a token or the session cookie.
      const issued = [...idp.issued];
      assert.ok(issued.length >= 2, `the IdP issued ${issued.length} token(s); expected an access and an ID token at least`);
      const readable = await readableByScript(page);
      assert.match(readable.cookie, /(?:^|; )spa-theme=dark(?:;|$)/, `document.cookie: ${readable.cookie}`);
      assert.doesNotMatch(readable.cookie, /bff-session/, `document.cookie exposes the session cookie: ${readable.cookie}`);
      const html = await page.content();
      const places: Array<[string, string]> = [
        ['document.cookie', readable.cookie],
        ['Web Storage', readable.storage.join('\n')],
        ['the page HTML', html],
        ['the /session response', sessionResponse.text],
      ];
      for (const [where, text] of places) {
        assert.ok(!text.includes(session.value), `${where} contains the session id`);
        issued.forEach((token, i) => assert.ok(!text.includes(token), `${where} contains token #${i} issued by the IdP`));
      }

      // 5. Without the anti-CSRF header the API call is refused before reaching the upstream.
      const refused = await pageFetch(page, '/api/things');
      assert.equal(refused.status, 403, refused.text);
      assert.equal(json(refused)['error'], 'csrf');
      assert.equal(upstream.received.length, sentBefore + 1, 'a request without X-CSRF reached the upstream');

      // 5b. The access token expires; the page fires ten calls at once, the browser sends them over
      // its own connections, each with the cookie it had when it started: one refresh at the IdP.
      clock.advance(10 * 60_000);
      const refreshesBefore = idp.counts.refresh;
      const burst = await page.evaluate(async () => {
        const calls = Array.from({ length: 10 }, (_, i) => fetch(`/api/burst/${i}`, { headers: { 'X-CSRF': '1' } }).then((r) => r.status));
        return Promise.all(calls);
      });
      assert.deepEqual(burst, Array(10).fill(200));
      assert.equal(idp.counts.refresh - refreshesBefore, 1, 'ten concurrent calls after expiry must make one refresh');
      assert.equal((await pageFetch(page, '/api/after-burst', { headers: { 'X-CSRF': '1' } })).status, 200);
      assert.equal(idp.counts.refresh - refreshesBefore, 1, 'the browser kept a cookie with the refreshed tokens');

      // 6. Logout: the BFF ends its session and hands back the IdP's end-session URL.
      const logout = await pageFetch(page, '/logout?returnTo=/signed-out', { method: 'POST', headers: { 'X-CSRF': '1' } });
      assert.equal(logout.status, 200, logout.text);
      const { logoutUrl } = json(logout);
      assert.equal(typeof logoutUrl, 'string');
      assert.equal(new URL(logoutUrl as string).origin, idpOrigin);
      assert.equal(
        (await page.context().cookies(url)).some((c) => c.name === 'bff-session'),
        false,
        'the session cookie survived POST /logout',
      );

      await page.goto(logoutUrl as string);
      const signOut = page.locator('button[name="logout"]');
      await signOut.waitFor();
      await signOut.click();
      // Back through /logout/callback: the state the IdP returns is checked (the Lax binding cookie survives
      // the IdP's cross-site redirect in a real browser), and only then is the browser sent to returnTo.
      await page.waitForURL(`${url}/signed-out`);
      assert.equal(page.url(), `${url}/signed-out`);

      const signedOut = await pageFetch(page, '/session');
      assert.equal(signedOut.status, 401, signedOut.text);
      assert.equal(json(signedOut)['authenticated'], false);
    });
  });
