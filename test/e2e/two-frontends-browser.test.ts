import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { launchChromium, type LaunchedChromium } from '../support/browser.js';
import { startFrontends, type Frontends } from '../support/frontends.js';

// One BFF serving two SPAs on two hosts (127.0.0.1 and localhost, one port), each with its own
// IdP, in one real Chromium profile: both signed in at once, signing out of one leaves the other.

/** GET or POST run by a page of `origin` itself: the browser's own cookies, same origin. */
async function inPage(page: Page, path: string, method = 'GET'): Promise<{ status: number; text: string }> {
  return page.evaluate(
    async ({ path, method }) => {
      const r = await fetch(path, { method, headers: { 'X-CSRF': '1' } });
      return { status: r.status, text: await r.text() };
    },
    { path, method },
  );
}

describe('e2e: two SPAs on two hosts, one BFF, one real browser', function () {
  let f: Frontends | undefined;
  let chrome: LaunchedChromium | undefined;
  before(async function () {
    const [started, launched] = await Promise.allSettled([
      startFrontends({ one: { hostname: '127.0.0.1', idp: 'a' }, two: { hostname: 'localhost', idp: 'b' } }),
      launchChromium(),
    ]);
    if (started.status === 'fulfilled') f = started.value;
    if (launched.status === 'fulfilled') chrome = launched.value;
    if (started.status === 'rejected') throw started.reason;
    if (launched.status === 'rejected') throw launched.reason;
  });
  after(() => Promise.all([chrome?.close(), f?.close()]));

  it('signs in to both, each SPA sees its own session and API, and signing out of one leaves the other signed in', async function () {
    assert.ok(f && chrome);
    const pages: Record<string, Page> = {};
    for (const id of ['one', 'two']) {
      const page = await chrome.newPage();
      // The IdP signs in without a form; the browser comes back to the SPA's home (a 404 here: no SPA is served).
      await page.goto(`${f.url[id]}/login`);
      await page.waitForURL(`${f.url[id]}/`);
      pages[id] = page;
    }
    for (const id of ['one', 'two']) {
      const session = await inPage(pages[id]!, '/session');
      assert.equal(session.status, 200, `${id}: ${session.text}`);
      const api = await inPage(pages[id]!, '/api/things');
      assert.equal(api.status, 200, `${id}: ${api.text}`);
      const bearer = String(f.upstreams[id]!.received.at(-1)?.headers['authorization']).replace(/^Bearer /, '');
      assert.ok(f.idpOf(id).issued.has(bearer), `${id}'s upstream got a token not from ${id}'s IdP`);
    }
    const cookies = await chrome.context.cookies();
    const names = (host: string) => cookies.filter((c) => c.domain === host && c.name.endsWith('-session')).map((c) => c.name);
    assert.deepEqual(names('127.0.0.1'), ['bff_one-session']);
    assert.deepEqual(names('localhost'), ['bff_two-session']);

    const logout = await inPage(pages['one']!, '/logout', 'POST');
    assert.equal(logout.status, 200, logout.text);
    assert.equal((await inPage(pages['one']!, '/session')).status, 401);
    assert.equal((await inPage(pages['two']!, '/session')).status, 200, 'signing out of one signed the browser out of two');
  });
});
