import assert from 'node:assert/strict';
import http from 'node:http';
import { startHarness, type Harness } from '../support/harness.js';
import type { UserAgent } from '../support/user-agent.js';

/** A request with the method exactly as written (fetch refuses TRACE, TRACK and CONNECT). */
function rawRequest(h: Harness, ua: UserAgent, method: string, path: string): Promise<{ status: number; allow: string | undefined; body: string }> {
  const url = new URL(h.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers: { cookie: ua.cookieHeader(url.host), 'x-csrf': '1' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, allow: res.headers.allow, body: Buffer.concat(chunks).toString('utf8') }));
    });
    // CONNECT: node hands the answer to 'connect' when it is a 2xx, as a tunnel.
    req.on('connect', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, allow: res.headers.allow, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Issue 16 item 13: TRACE was forwarded upstream with the session's bearer token (an upstream
 * or a proxy in front of it that echoes TRACE hands the token back: cross-site tracing).
 */
describe('/api/* refuses TRACE, TRACK and CONNECT: 405, never forwarded with the bearer token', () => {
  let h: Harness;
  let ua: UserAgent;
  before(async () => {
    h = await startHarness();
    ua = h.browser();
    await h.login(ua);
  });
  after(async () => h?.close());

  for (const method of ['TRACE', 'TRACK', 'CONNECT']) {
    it(`${method} /api/x with a session: refused, the upstream never sees it`, async () => {
      const before = h.upstream.received.length;
      const res = await rawRequest(h, ua, method, '/api/x');
      // TRACE and CONNECT: 405; TRACK is no method Node's parser knows: 400 before any handler.
      assert.equal(res.status, method === 'TRACK' ? 400 : 405, `${method}: ${res.status}`);
      assert.equal(h.upstream.received.length, before, `${method} reached the upstream`);
    });
  }

  it('TRACE /api/x answers 405 method_not_allowed with Allow, and the session still works', async () => {
    const res = await rawRequest(h, ua, 'TRACE', '/api/x');
    assert.equal(res.status, 405, res.body);
    assert.equal((JSON.parse(res.body) as { error: string }).error, 'method_not_allowed');
    assert.ok(res.allow && !/TRACE|TRACK|CONNECT/.test(res.allow), `Allow: ${res.allow}`);
    assert.equal((await h.api(ua, '/x')).status, 200);
  });
});
