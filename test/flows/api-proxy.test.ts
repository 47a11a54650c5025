import assert from 'node:assert/strict';
import http from 'node:http';
import { startHarness, type Harness } from '../support/harness.js';
import type { UserAgent } from '../support/user-agent.js';

const bearerOf = (h: Harness, i = -1) => String(h.upstream.received.at(i)?.headers['authorization'] ?? '');

describe('ANY /api/* forwards to API_UPSTREAM with the bearer token', () => {
  let h: Harness;
  let ua: UserAgent;
  before(async () => {
    h = await startHarness({ env: { API_TIMEOUT: '1' } });
    ua = h.browser();
    await h.login(ua);
  });
  after(async () => h?.close());

  it('refuses a browser without a session: 401 JSON, upstream not called', async () => {
    const before = h.upstream.received.length;
    const res = await h.api(h.browser(), '/things');
    assert.equal(res.status, 401);
    assert.equal(res.json<{ error: string }>().error, 'unauthenticated');
    assert.equal(h.upstream.received.length, before);
  });

  it('forwards method, path below the upstream base, query and body, with Authorization: Bearer', async () => {
    const res = await h.api(ua, '/things/42?expand=a&x=%20y', { method: 'PUT', body: '{"n":1}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    const got = h.upstream.received.at(-1)!;
    assert.equal(got.method, 'PUT');
    assert.equal(got.url, '/v1/things/42?expand=a&x=%20y');
    assert.equal(got.body, '{"n":1}');
    assert.equal(got.headers['content-type'], 'application/json');
    assert.match(bearerOf(h), /^Bearer .+/);
    assert.ok(h.idp.issued.has(bearerOf(h).slice('Bearer '.length)));
  });

  it("strips the BFF's cookies, the anti-CSRF header and any incoming Authorization; keeps other cookies", async () => {
    const host = new URL(h.url).host;
    ua.setCookie(host, 'theme', 'dark');
    await h.api(ua, '/echo', { headers: { authorization: 'Bearer attacker-token' } });
    ua.deleteCookie(host, 'theme');
    const got = h.upstream.received.at(-1)!;
    assert.equal(got.headers['cookie'], 'theme=dark');
    assert.equal(got.headers['x-csrf'], undefined);
    assert.notEqual(bearerOf(h), 'Bearer attacker-token');
  });

  it('adds X-Forwarded-For/-Proto/-Host and the request id', async () => {
    const res = await h.api(ua, '/echo', { headers: { 'x-forwarded-for': '6.6.6.6' } });
    const got = h.upstream.received.at(-1)!;
    assert.equal(got.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(got.headers['x-forwarded-proto'], 'http');
    assert.equal(got.headers['x-forwarded-host'], new URL(h.url).host);
    assert.equal(got.headers['x-request-id'], res.headers.get('x-request-id'));
  });

  it('answers with the request id the BFF logged and sent upstream, not one the upstream names', async () => {
    const res = await h.api(ua, '/own-request-id');
    const got = h.upstream.received.at(-1)!;
    assert.equal(res.status, 200);
    assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(got.headers['x-request-id'], res.headers.get('x-request-id'));
  });

  it('passes upstream statuses and end-to-end headers through, bodyless ones too', async () => {
    const res = await h.api(ua, '/status/418');
    assert.equal(res.status, 418);
    assert.equal(res.headers.get('x-upstream'), 'echo');
    const empty = await h.api(ua, '/status/204');
    assert.equal(empty.status, 204);
  });

  it("drops an upstream Set-Cookie that would overwrite the BFF's cookies, keeps the others", async () => {
    const res = await h.api(ua, '/set-cookie');
    assert.deepEqual(res.setCookies, ['upstream-pref=dark; Path=/']);
    assert.equal((await ua.get(`${h.url}/session`)).status, 200);
  });

  const escapes = ['/..', '/%2e%2e/admin', '/a/..%2f..%2fadmin', '/%252e%252e/admin', '/a%2fb', '/a%5cb', '/..;/admin', '/%2E%2E%5Cadmin'];
  for (const path of escapes) {
    it(`refuses a path that leaves the upstream base after decoding: ${path} → 400`, async () => {
      const before = h.upstream.received.length;
      const res = await rawGet(h, `/api${path}`, ua);
      assert.equal(res.status, 400);
      assert.equal(h.upstream.received.length, before);
    });
  }

  it('streams a large request body to the upstream intact', async () => {
    const body = 'x'.repeat(3 * 1024 * 1024);
    await h.api(ua, '/upload', { method: 'POST', body });
    assert.equal(h.upstream.received.at(-1)!.body.length, body.length);
  });

  it('answers 504 upstream_timeout when the upstream does not answer within API_TIMEOUT', async () => {
    const res = await h.api(ua, '/hang');
    assert.equal(res.status, 504);
    assert.equal(res.json<{ error: string }>().error, 'upstream_timeout');
  });

  it('survives a client that hangs up mid-response, and serves the next request', async () => {
    const cookie = `bff-session=${ua.cookie(new URL(h.url).host, 'bff-session')}`;
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${h.url}/api/stream`, { headers: { cookie, 'x-csrf': '1' } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    });
    const res = await h.api(ua, '/after-abort');
    assert.equal(res.status, 200);
  });
});

describe('ANY /api/* when the upstream is down', () => {
  it('answers 502 upstream_unreachable and logs it', async () => {
    const h = await startHarness();
    try {
      const ua = h.browser();
      await h.login(ua);
      await h.upstream.close();
      const res = await h.api(ua, '/things');
      assert.equal(res.status, 502);
      assert.equal(res.json<{ error: string }>().error, 'upstream_unreachable');
      const logged = h.logs.named('proxy.upstream_unreachable');
      assert.equal(logged.length, 1);
      // The answer names the request its log line is under.
      assert.equal(res.headers.get('x-request-id'), logged[0]!['request_id']);
    } finally {
      await h.close().catch(() => undefined);
    }
  });
});

/** A GET with the path exactly as written (fetch would normalise dot segments). */
function rawGet(h: Harness, path: string, ua: UserAgent): Promise<{ status: number }> {
  const url = new URL(h.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path, headers: { cookie: ua.cookieHeader(url.host), 'x-csrf': '1' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.end();
  });
}
