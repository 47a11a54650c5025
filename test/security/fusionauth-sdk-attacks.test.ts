import assert from 'node:assert/strict';
import { CLIENT_ID, startHarness, type Harness } from '../support/harness.js';
import { findSetCookie } from '../support/security.js';
import type { UserAgent } from '../support/user-agent.js';

// The attacks FusionAuth's reference hosted backend (fusionauth-javascript-sdk-express) falls
// for, against oidc-bff's implementation of the same contract (src/fusionauth/).
const SPA = 'http://spa.example.test/app/';
const SPA_ORIGIN = 'http://spa.example.test';
const EVIL = 'https://evil.example';
const sdkEnv = { FUSIONAUTH_SDK: 'true', FUSIONAUTH_SDK_REDIRECT_URIS: SPA };
const query = (params: Record<string, string>) => `?${new URLSearchParams(params).toString()}`;

describe('FusionAuth SDK routes: attacks the reference server falls for', () => {
  let h: Harness;
  let ua: UserAgent;
  before(async () => {
    h = await startHarness({ env: sdkEnv });
  });
  beforeEach(async () => {
    ua = h.browser();
  });
  after(() => h?.close());

  const signIn = async (browser: UserAgent) => {
    const { callback } = await browser.login(`${h.url}/app/login/${query({ client_id: CLIENT_ID, redirect_uri: SPA, state: 's' })}`, { stopAtOrigin: h.url });
    assert.equal(callback.status, 302);
  };
  const alive = async (browser: UserAgent) => (await browser.get(`${h.url}/session`)).status === 200;

  describe('foreign redirect_uri (open redirect)', () => {
    const foreign: Array<[string, string]> = [
      ['another origin', `${EVIL}/app/`],
      ['a longer path on the SPA origin', `${SPA}evil`],
      ['a look-alike host', 'http://spa.example.test.evil.example/app/'],
      ['userinfo before another host', `http://spa.example.test@evil.example/app/`],
      ['a javascript: URL', 'javascript:alert(1)'],
      ['a relative path', '/app/'],
      ['the SPA with a query added', `${SPA}?next=${EVIL}`],
    ];
    for (const [what, target] of foreign) {
      it(`/app/login/ and /app/register/ refuse ${what} with a 400 page before any IdP request`, async () => {
        const before = h.idp.counts.authorization + h.idp.counts.par;
        for (const path of ['/app/login/', '/app/register/']) {
          const res = await ua.get(`${h.url}${path}${query({ client_id: CLIENT_ID, redirect_uri: target, state: 'x' })}`);
          assert.equal(res.status, 400, `${path} ${target}`);
          assert.equal(res.headers.get('location'), null);
          assert.match(res.headers.get('content-type') ?? '', /html/);
        }
        assert.equal(h.idp.counts.authorization + h.idp.counts.par, before);
      });
    }

    it('GET /app/logout/ refuses a foreign post_logout_redirect_uri (400) and the session survives', async () => {
      await signIn(ua);
      for (const name of ['post_logout_redirect_uri', 'redirect_uri']) {
        const res = await ua.get(`${h.url}/app/logout/${query({ client_id: CLIENT_ID, [name]: `${EVIL}/` })}`, {
          headers: { 'sec-fetch-site': 'same-origin' },
        });
        assert.equal(res.status, 400, name);
      }
      assert.ok(await alive(ua));
      assert.ok(h.logs.named('fusionauth.redirect_uri_refused').length >= 2);
    });
  });

  describe('forged state (login CSRF, redirect smuggled in state)', () => {
    it('the SDK state comes back as the SPA sent it, from the sealed transaction; a state naming another target changes nothing', async () => {
      const smuggled = Buffer.from(`${EVIL}/steal`).toString('base64url') + `:${EVIL}`;
      const { callback } = await ua.login(`${h.url}/app/login/${query({ client_id: CLIENT_ID, redirect_uri: SPA, state: smuggled })}`, { stopAtOrigin: h.url });
      const target = new URL(callback.headers.get('location')!);
      assert.equal(target.origin, SPA_ORIGIN);
      assert.equal(target.searchParams.get('state'), smuggled);
    });

    it('a callback with a state the BFF never issued is refused (400): no session, no app.at_exp, no redirect to the SPA', async () => {
      const res = await ua.get(`${h.url}/callback?code=forged&state=${encodeURIComponent(`${SPA}:forged`)}`);
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('location'), null);
      assert.equal(findSetCookie(res.setCookies, 'app.at_exp'), undefined);
      assert.equal(await alive(ua), false);
    });

    it("an attacker's own completed login, replayed in the victim's browser, is refused (the transaction is bound to the browser that started it)", async () => {
      const attacker = h.browser();
      const started = await attacker.get(`${h.url}/app/login/${query({ client_id: CLIENT_ID, redirect_uri: SPA, state: 'attacker' })}`);
      assert.equal(started.status, 302);
      // The attacker runs the IdP part in their own browser and stops before the callback.
      const { chain } = await attacker.login(started.headers.get('location')!, { stopAtOrigin: h.url });
      const callbackUrl = chain.at(-1)!;
      const victim = await ua.get(callbackUrl);
      assert.equal(victim.status, 400);
      assert.equal(findSetCookie(victim.setCookies, 'app.at_exp'), undefined);
      assert.equal(await alive(ua), false);
    });
  });

  describe('CORS with credentials for the listed SPA origins only', () => {
    it('a listed origin gets its exact origin echoed with credentials and Vary: Origin', async () => {
      await signIn(ua);
      const res = await ua.get(`${h.url}/app/me/`, { headers: { origin: SPA_ORIGIN } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), SPA_ORIGIN);
      assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
      assert.match(res.headers.get('vary') ?? '', /Origin/i);
      const preflight = await ua.request('OPTIONS', `${h.url}/app/refresh/`, { headers: { origin: SPA_ORIGIN, 'access-control-request-method': 'POST' } });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), SPA_ORIGIN);
    });

    for (const origin of [EVIL, 'null', 'http://spa.example.test:8080', 'http://spa.example.test.evil.example']) {
      it(`a foreign origin (${origin}) is refused (403) on /app/me/, /app/refresh/ and their preflight, without CORS headers`, async () => {
        await signIn(ua);
        const answers = [
          await ua.get(`${h.url}/app/me/`, { headers: { origin } }),
          await ua.request('OPTIONS', `${h.url}/app/me/`, { headers: { origin, 'access-control-request-method': 'GET' } }),
          await ua.post(`${h.url}/app/refresh/`, { headers: { origin, 'content-type': 'text/plain' } }),
        ];
        for (const res of answers) {
          assert.equal(res.status, 403);
          assert.equal(res.headers.get('access-control-allow-origin'), null);
          assert.equal(res.headers.get('access-control-allow-credentials'), null);
          assert.equal(findSetCookie(res.setCookies, 'app.at_exp'), undefined, 'a refused request does not slide the session');
        }
      });
    }
  });

  describe('/api/* for an SPA on a listed origin (its own anti-CSRF check still applies)', () => {
    it('a listed origin gets CORS on /api/* and reaches the upstream with X-CSRF; a foreign one is refused (403) before the upstream', async () => {
      await signIn(ua);
      const preflight = await ua.request('OPTIONS', `${h.url}/api/things`, { headers: { origin: SPA_ORIGIN, 'access-control-request-headers': 'x-csrf' } });
      assert.equal(preflight.status, 204);
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /X-CSRF/i);
      const listed = await ua.get(`${h.url}/api/things`, { headers: { origin: SPA_ORIGIN, 'x-csrf': '1' } });
      assert.equal(listed.status, 200);
      assert.equal(listed.headers.get('access-control-allow-origin'), SPA_ORIGIN);
      const sent = h.upstream.received.length;
      for (const res of [
        await ua.request('OPTIONS', `${h.url}/api/things`, { headers: { origin: EVIL, 'access-control-request-headers': 'x-csrf' } }),
        await ua.get(`${h.url}/api/things`, { headers: { origin: EVIL, 'x-csrf': '1' } }),
      ]) {
        assert.equal(res.status, 403);
        assert.equal(res.headers.get('access-control-allow-origin'), null);
      }
      // Without X-CSRF even a listed origin is refused: CORS does not replace the anti-CSRF header.
      assert.equal((await ua.get(`${h.url}/api/things`, { headers: { origin: SPA_ORIGIN } })).status, 403);
      assert.equal(h.upstream.received.length, sent);
    });
  });

  describe('cross-site refresh (the SDK sends no custom header)', () => {
    it('POST /app/refresh/ from another site is refused (403): by its Origin, or by Sec-Fetch-Site when it carries none', async () => {
      await signIn(ua);
      const cases: Array<Record<string, string>> = [
        { origin: EVIL, 'sec-fetch-site': 'cross-site' },
        { 'sec-fetch-site': 'cross-site' },
        { 'sec-fetch-site': 'same-site' },
      ];
      for (const headers of cases) {
        const res = await ua.post(`${h.url}/app/refresh/`, { headers: { 'content-type': 'text/plain', ...headers } });
        assert.equal(res.status, 403, JSON.stringify(headers));
        assert.equal(findSetCookie(res.setCookies, 'app.at_exp'), undefined);
      }
      // Control: the SPA's own origin is accepted.
      assert.equal(
        (await ua.post(`${h.url}/app/refresh/`, { headers: { 'content-type': 'text/plain', origin: SPA_ORIGIN, 'sec-fetch-site': 'same-site' } })).status,
        204,
      );
    });
  });

  describe('cross-site logout', () => {
    const logoutUrl = () => `${h.url}/app/logout/${query({ client_id: CLIENT_ID, post_logout_redirect_uri: SPA })}`;

    for (const [what, headers] of [
      ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
      // A sibling subdomain (a user-content host, say) is the same site but not the SPA's origin.
      ['Sec-Fetch-Site: same-site (a sibling subdomain)', { 'sec-fetch-site': 'same-site' }],
      ['no Sec-Fetch-Site at all', {}],
    ] as const) {
      it(`GET /app/logout/ with ${what} answers a confirmation page (not framable) and ends nothing`, async () => {
        await signIn(ua);
        const res = await ua.get(logoutUrl(), { headers });
        assert.equal(res.status, 200);
        assert.match(res.text, /Sign out\?/);
        assert.equal(res.headers.get('x-frame-options'), 'DENY');
        assert.equal(findSetCookie(res.setCookies, 'app.at_exp'), undefined);
        assert.ok(await alive(ua));
        assert.equal(h.logs.named('fusionauth.logout_confirm').length > 0, true);
      });
    }

    it("the confirmation page's link, followed from that page (same-origin), signs out", async () => {
      await signIn(ua);
      const page = await ua.get(logoutUrl(), { headers: { 'sec-fetch-site': 'cross-site' } });
      const href = /id="confirm" href="([^"]+)"/.exec(page.text)![1]!.replaceAll('&#38;', '&');
      const res = await ua.get(new URL(href, h.url).href, { headers: { 'sec-fetch-site': 'same-origin' } });
      assert.equal(res.status, 302);
      assert.equal(await alive(ua), false);
    });
  });
});
