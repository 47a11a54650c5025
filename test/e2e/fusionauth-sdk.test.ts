import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import Koa from 'koa';
import type { Page } from 'playwright-core';
import { sdkPage, sdkPageScript } from '../../dev/fusionauth-sdk-page.js';
import type { BffState, Step } from '../../src/web/context.js';
import { launchChromium, type LaunchedChromium } from '../support/browser.js';
import { freePort } from '../support/free-port.js';
import { CLIENT_ID, startHarness, type Harness } from '../support/harness.js';

// FusionAuth's own @fusionauth/react-sdk (from node_modules, bundled with esbuild, no network)
// in a real headless Chromium, against oidc-bff in front of the in-process oidc-provider: the
// SDK's hosted-backend mode, unchanged, with tokens kept server-side.

const USERNAME = 'dana.sdk';
const PASSWORD = 'any-password-works';

/** Serves the SDK page on its own origin (another port of localhost than the BFF). */
async function startSpaServer(port: number, bffUrl: string): Promise<{ url: string; close(): Promise<void> }> {
  const url = `http://localhost:${port}`;
  const app = new Koa<BffState>();
  app.use(sdkPage('/spa/', { serverUrl: bffUrl, clientId: CLIENT_ID, redirectUri: `${url}/spa/` }));
  const server: Server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const text = (page: Page, id: string) => page.locator(`#${id}`);

for (const layout of ['same origin', 'another origin (CORS)'] as const)
  describe(`e2e: @fusionauth/react-sdk in Chromium against oidc-bff (SPA on ${layout})`, function () {
    let h: Harness | undefined;
    let spa: { url: string; close(): Promise<void> } | undefined;
    let chrome: LaunchedChromium | undefined;
    let page: Page;
    let spaUrl = '';

    before(async function () {
      this.timeout(60_000);
      await sdkPageScript(); // bundled once, before any step's clock starts
      const spaPort = await freePort();
      const crossOrigin = layout !== 'same origin';
      // Same origin: the BFF serves the page itself, after its own routes (set once its URL is known).
      let ownPage: Step | undefined;
      const [harnessStart, chromeStart] = await Promise.allSettled([
        startHarness({
          idp: { interactive: true },
          hostname: 'localhost',
          env: (url) => {
            spaUrl = crossOrigin ? `http://localhost:${spaPort}/spa/` : `${url}/spa/`;
            if (!crossOrigin) ownPage = sdkPage('/spa/', { serverUrl: url, clientId: CLIENT_ID, redirectUri: spaUrl });
            return { FUSIONAUTH_SDK: 'true', FUSIONAUTH_SDK_REDIRECT_URIS: spaUrl };
          },
          extra: (ctx, next) => (ownPage ? ownPage(ctx, next) : next()),
        }),
        launchChromium(),
      ]);
      if (harnessStart.status === 'fulfilled') h = harnessStart.value;
      if (chromeStart.status === 'fulfilled') chrome = chromeStart.value;
      if (harnessStart.status === 'rejected') throw harnessStart.reason;
      if (chromeStart.status === 'rejected') throw chromeStart.reason;
      page = await chromeStart.value.newPage();
      if (crossOrigin) spa = await startSpaServer(spaPort, harnessStart.value.url);
    });

    after(async () => {
      await Promise.all([chrome?.close(), h?.close(), spa?.close()]);
    });

    it('not logged in → startLogin → IdP → logged in with userInfo → refreshToken() → /api with the bearer → startLogout → logged out', async function () {
      this.timeout(60_000);
      assert.ok(h);
      const { url, idp, upstream } = h;
      const idpOrigin = new URL(idp.issuer).origin;

      // 1. Not logged in: the SDK finds no app.at_exp cookie.
      await page.goto(spaUrl);
      await text(page, 'login-state').filter({ hasText: 'logged-out' }).waitFor();

      // 2. startLogin('back-to-the-page'): the BFF's /app/login/, then the IdP's own pages.
      await page.click('#login');
      const loginInput = page.locator('form input[name="login"]');
      await loginInput.waitFor();
      assert.equal(new URL(page.url()).origin, idpOrigin, `expected the IdP's login page, got ${page.url()}`);
      await loginInput.fill(USERNAME);
      await page.locator('form input[name="password"]').fill(PASSWORD);
      await page.locator('form button[type="submit"]').click();
      const consent = page.locator('form:has(input[name="prompt"][value="consent"])');
      await consent.waitFor();
      await consent.locator('button[type="submit"]').click();

      // 3. Back at the page, logged in (app.at_exp), with the SDK's state echoed and userInfo from /app/me/.
      await page.waitForURL((u) => u.href.startsWith(spaUrl));
      assert.equal(new URL(page.url()).searchParams.get('state'), 'back-to-the-page');
      await text(page, 'login-state').filter({ hasText: 'logged-in' }).waitFor();
      await text(page, 'user').filter({ hasText: USERNAME }).waitFor();
      const cookies = await page.context().cookies(url);
      const atExp = cookies.find((c) => c.name === 'app.at_exp');
      assert.ok(atExp, 'no app.at_exp cookie');
      assert.equal(atExp.httpOnly, false);
      assert.ok(Number(atExp.value) * 1000 > Date.now());
      assert.equal(cookies.find((c) => c.name === 'bff-session')?.httpOnly, true);
      const readable = await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie);
      for (const token of idp.issued) assert.ok(!readable.includes(token), 'a token is readable by the page');

      // 4. refreshToken(): POST /app/refresh/ from the page (text/plain, credentials included).
      await page.click('#refresh');
      await text(page, 'status').filter({ hasText: 'refreshed 204' }).waitFor();

      // 5. An /api call with credentials reaches the upstream with the bearer token.
      const sentBefore = upstream.received.length;
      await page.click('#api');
      await text(page, 'api-result').filter({ hasText: /^200 / }).waitFor();
      const received = upstream.received[sentBefore];
      assert.ok(received, 'the upstream received nothing');
      const bearer = /^Bearer (\S+)$/.exec(received.headers.authorization ?? '');
      assert.ok(bearer && idp.issued.has(bearer[1]!), `upstream authorization: ${String(received.headers.authorization)}`);

      // 6. startLogout(): /app/logout/ ends the session, the IdP's end-session page, back to the page.
      await page.click('#logout');
      const signOut = page.locator('button[name="logout"]');
      await signOut.waitFor();
      assert.equal(new URL(page.url()).origin, idpOrigin);
      await signOut.click();
      await page.waitForURL((u) => u.href.startsWith(spaUrl));
      await text(page, 'login-state').filter({ hasText: 'logged-out' }).waitFor();
      assert.equal(
        (await page.context().cookies(url)).find((c) => c.name === 'app.at_exp'),
        undefined,
      );
      assert.equal(
        (await page.context().cookies(url)).find((c) => c.name === 'bff-session'),
        undefined,
      );
    });
  });
