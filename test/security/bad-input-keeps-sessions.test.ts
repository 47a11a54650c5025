import assert from 'node:assert/strict';
import type { Harness } from '../support/harness.js';
import type { TestRedis } from '../support/redis.js';
import {
  assertCleanClientError,
  hostOf,
  newKeys,
  rawRequest,
  STORE_KINDS,
  startStoreHarness,
  type RawResponse,
  type StoreHarness,
} from '../support/security.js';
import type { UserAgent } from '../support/user-agent.js';

interface SessionBody {
  authenticated: boolean;
  sid?: string;
}

describe('bad input gets a 4xx and leaves every stored session intact', () => {
  for (const kind of STORE_KINDS) {
    describe(`with the ${kind} store`, () => {
      let s: StoreHarness;
      let h: Harness;
      let redis: TestRedis | undefined;
      let ua: UserAgent;
      let cookie: string;
      let loginCookie: string;
      let sid: string;
      let sessionKey: string | undefined;
      let storedValue: string | undefined;

      before(async () => {
        s = await startStoreHarness(kind);
        ({ h, redis } = s);
        ua = h.browser();
        const keysBefore = redis ? new Set(await redis.keys()) : new Set<string>();
        await h.login(ua);
        cookie = ua.cookie(hostOf(h), 'bff-session') ?? '';
        loginCookie = ua.cookie(hostOf(h), 'bff-login') ?? '';
        assert.ok(cookie && loginCookie, 'login left no cookies');
        const session = await ua.get(`${h.url}/session`);
        assert.equal(session.status, 200);
        ({ sid } = session.json<{ sid: string }>());
        if (redis) {
          const keys = await newKeys(redis, keysBefore);
          assert.equal(keys.length, 1, `login left ${keys.length} new keys`);
          sessionKey = keys[0]!;
          storedValue = (await redis.client.get(sessionKey)) ?? undefined;
        }
      });
      after(async () => s?.close());

      /** Runs `probe` and asserts the upstream received nothing meanwhile. */
      const upstreamUntouched = async <T>(probe: () => Promise<T>): Promise<T> => {
        const before = h.upstream.received.length;
        const result = await probe();
        assert.equal(h.upstream.received.length, before, 'the upstream received a request');
        return result;
      };
      const withCookieHeader = (path: string, cookieHeader: string | Buffer, extra: Array<[string, string]> = []) =>
        rawRequest(h.url, { path, headers: [['Cookie', cookieHeader], ['Accept', 'application/json'], ...extra] });

      it('a client sending a 20 KB header gets 431, with or without the session cookie', async () => {
        const big = 'x'.repeat(20 * 1024);
        const withSession = await rawRequest(h.url, {
          path: '/session',
          headers: [
            ['Cookie', `bff-session=${cookie}`],
            ['X-Filler', big],
          ],
        });
        assert.equal(withSession.status, 431);
        const bigCookie = await rawRequest(h.url, {
          path: '/api/x',
          headers: [
            ['Cookie', `bff-session=${cookie}; junk=${big}`],
            ['X-CSRF', '1'],
          ],
        });
        assert.equal(bigCookie.status, 431);
        const anonymous = await rawRequest(h.url, { path: '/login', headers: [['X-Filler', big]] });
        assert.equal(anonymous.status, 431);
      });

      const malformedCookies: Array<[string, string | Buffer]> = [
        ['percent garbage', 'bff-session=%%%'],
        ['a 10 000-character value', `bff-session=${'A'.repeat(10_000)}`],
        ['an empty value', 'bff-session='],
        ['no value at all', 'bff-session'],
        ['two bff-session cookies, garbage first', `bff-session=%%%; bff-session=${'B'.repeat(43)}`],
        ['two well-formed unknown bff-session cookies', `bff-session=${'C'.repeat(43)}; bff-session=${'D'.repeat(43)}`],
        ['non-ASCII bytes', Buffer.concat([Buffer.from('bff-session='), Buffer.from([0xff, 0xfe, 0xc3, 0xa9, 0x80]), Buffer.from('A'.repeat(38))])],
        ['UTF-8 in the cookie name and value', Buffer.from('bff-sessión=é; bff-session=ééé', 'utf8')],
      ];
      for (const [what, header] of malformedCookies) {
        it(`a browser sending a malformed session cookie (${what}) is anonymous on /session (401 JSON) and on /api (401), never 5xx`, async () => {
          const session = await withCookieHeader('/session', header);
          assert.equal(session.status, 401, session.body);
          assert.equal((JSON.parse(session.body) as SessionBody).authenticated, false);
          const api = await upstreamUntouched(() => withCookieHeader('/api/x', header, [['X-CSRF', '1']]));
          assert.equal(api.status, 401, api.body);
          assert.equal((JSON.parse(api.body) as { error: string }).error, 'unauthenticated');
        });
      }

      it('a signed-in browser whose Cookie header also carries garbage cookies stays signed in', async () => {
        const header = Buffer.concat([
          Buffer.from(`junk=%%%; bff-login=`),
          Buffer.from([0xff, 0xfe]),
          Buffer.from(`; =novalue; ;; bff-session=${cookie}; big=${'x'.repeat(5000)}`),
        ]);
        const session = await withCookieHeader('/session', header);
        assert.equal(session.status, 200, session.body);
        assert.equal((JSON.parse(session.body) as SessionBody).sid, sid);
      });

      it('a second, planted bff-session cookie makes the request anonymous (neither copy is trusted), and the session survives', async () => {
        for (const header of [`bff-session=%%%; bff-session=${cookie}`, `bff-session=${cookie}; bff-session=${cookie}`]) {
          const res = await withCookieHeader('/session', header);
          assert.equal(res.status, 401, res.body);
        }
        const alone = await withCookieHeader('/session', `bff-session=${cookie}`);
        assert.equal(alone.status, 200, alone.body);
        assert.equal((JSON.parse(alone.body) as SessionBody).sid, sid);
      });

      it('a client sending control characters in the Cookie header gets a 4xx, never 5xx', async () => {
        for (const path of ['/session', '/api/x']) {
          const res = await upstreamUntouched(() => withCookieHeader(path, 'bff-session=\x01\x02\x7f', [['X-CSRF', '1']]));
          assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status} ${res.body}`);
        }
      });

      const garbageQueries: Array<[string, string]> = [
        ['/login with an array returnTo', '/login?returnTo[]=x'],
        ['/login with a script in prompt', '/login?prompt=%3Cscript%3Ealert(1)%3C/script%3E'],
        ['/login with a 10 KB query', `/login?${'q'.repeat(10 * 1024)}=${'z'.repeat(16)}`],
        ['/login with a lone percent', '/login?%'],
        ['/callback without state', '/callback?code=x'],
        ['/callback with an array state', '/callback?state[]=a&code=x'],
        ['/callback with an unknown state', '/callback?code=x&state=unknown'],
        ['/callback with an error carrying markup', '/callback?error=%3Cimg%20src=x%20onerror=alert(1)%3E'],
        ['/logout with an array sid', '/logout?sid[]=x'],
      ];
      for (const [what, path] of garbageQueries) {
        it(`a signed-in browser sending ${what} gets a clean 4xx and keeps its session`, async () => {
          const res = await upstreamUntouched(() => ua.get(`${h.url}${path}`));
          assertCleanClientError({ status: res.status, body: res.text }, what);
          assert.doesNotMatch(res.text, /<script|<img/i, 'markup from the query is reflected');
          const session = await ua.get(`${h.url}/session`);
          assert.equal(session.status, 200, `${what} ended the session`);
        });
      }

      for (const [method, path] of [
        ['PUT', '/login'],
        ['DELETE', '/session'],
        ['PATCH', '/callback'],
        ['DELETE', '/logout'],
      ] as const) {
        it(`a signed-in browser sending ${method} ${path} gets a 4xx and keeps its session`, async () => {
          const res = await ua.request(method, `${h.url}${path}`, { headers: { 'x-csrf': '1' } });
          assertCleanClientError({ status: res.status, body: res.text }, `${method} ${path}`);
          assert.equal((await ua.get(`${h.url}/session`)).status, 200);
        });
      }

      for (const path of ['/api/%2e%2e/admin', '/api/..%2fadmin', '/api/%252e%252e/x', '/api/..;/admin', '/api/a/%2E%2E/%2E%2E/admin', '/api/%5c..%5cadmin']) {
        it(`a signed-in browser requesting the traversal ${path} gets 400 and the upstream never sees it`, async () => {
          const res: RawResponse = await upstreamUntouched(() =>
            rawRequest(h.url, {
              path,
              headers: [
                ['Cookie', `bff-session=${cookie}`],
                ['X-CSRF', '1'],
              ],
            }),
          );
          assert.equal(res.status, 400, res.body);
          assert.equal((JSON.parse(res.body) as { error: string }).error, 'invalid_path');
          assert.equal(
            h.upstream.received.some((r) => /admin|\.\.|%2e/i.test(r.url)),
            false,
          );
        });
      }

      it('after all of it, the original session is intact: same stored value, /session 200 with the same sid, and /api reaches the upstream', async () => {
        if (redis) assert.equal(await redis.client.get(sessionKey!), storedValue, 'the stored session changed');
        const session = await ua.get(`${h.url}/session`);
        assert.equal(session.status, 200);
        assert.equal(session.json<SessionBody>().sid, sid);
        const before = h.upstream.received.length;
        const api = await h.api(ua, '/ok');
        assert.equal(api.status, 200, api.text);
        assert.equal(h.upstream.received.length, before + 1);
        const received = h.upstream.received.at(-1)!;
        assert.equal(received.url, '/v1/ok');
        assert.match(String(received.headers['authorization']), /^Bearer \S+$/);
        assert.equal(String(received.headers['cookie'] ?? '').includes(cookie), false, 'the session cookie reached the upstream');
      });
    });
  }
});
