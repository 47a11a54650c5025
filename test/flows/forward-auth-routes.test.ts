import assert from 'node:assert/strict';
import http from 'node:http';
import { startHarness, type Harness } from '../support/harness.js';
import { routesFile, type RoutesFile } from '../support/routes-file.js';
import type { UaResponse, UserAgent } from '../support/user-agent.js';

const ORDERS = 'https://orders.example.test';
const errorOf = (res: { text: string }) => (JSON.parse(res.text) as { error: string }).error;
const jwtPayload = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

/** The gateway's authorization request for the original request `method path` (nginx style). */
function ask(h: Harness, ua: UserAgent, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<UaResponse> {
  return ua.get(`${h.url}/auth`, {
    headers: { 'x-original-method': method, 'x-original-uri': path, ...(method === 'GET' ? {} : { 'x-csrf': '1' }), ...headers },
  });
}

/** The same question with the original path exactly as written (fetch would normalise it), Envoy style. */
function askRaw(h: Harness, ua: UserAgent, path: string): Promise<{ status: number; authorization: string | undefined; text: string }> {
  const url = new URL(h.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: `/auth${path}`, headers: { cookie: ua.cookieHeader(url.host) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, authorization: res.headers.authorization, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Issue 16 item 12: forward-auth answered 200 with the session's token whatever the original
 * path, while /api/* applies the route's rules. It must apply exactly those rules, or refuse.
 */
describe('forward-auth applies the API_ROUTES route of the original path: the same rules as /api/*', () => {
  let h: Harness;
  let routes: RoutesFile;
  let ua: UserAgent;
  before(async () => {
    const upstream = 'http://127.0.0.1:9/v1'; // never called: forward-auth only answers
    routes = routesFile([
      { path: '/api/admin', upstream, token: 'user', scopes: ['admin'] },
      { path: '/api/orders', upstream, token: 'user', resource: ORDERS },
      { path: '/api/public', upstream, token: 'none' },
    ]);
    h = await startHarness({
      idp: { resources: { [ORDERS]: { scope: 'orders:read' } } },
      env: { FORWARD_AUTH_PATH: '/auth', API_ROUTES: routes.path, OIDC_SCOPES: 'openid profile offline_access orders:read' },
    });
    ua = h.browser();
    await h.login(ua);
  });
  after(async () => {
    await h?.close();
    routes?.remove();
  });

  it('a path /api/* refuses for a missing scope gets 403 insufficient_scope from forward-auth too, never a token', async () => {
    const proxied = await h.api(ua, '/admin/users');
    assert.equal(proxied.status, 403);
    const res = await ask(h, ua, '/api/admin/users');
    assert.equal(res.status, 403, res.text);
    assert.equal(errorOf(res), 'insufficient_scope');
    assert.equal(res.headers.get('authorization'), null);
  });

  it("a route with a resource gets that resource's token (RFC 8707), never the session's own", async () => {
    const own = await ask(h, ua, '/api/things');
    assert.equal(own.status, 200);
    const res = await ask(h, ua, '/api/orders/1');
    assert.equal(res.status, 200, res.text);
    const token = (res.headers.get('authorization') ?? '').replace(/^Bearer /, '');
    assert.notEqual(token, (own.headers.get('authorization') ?? '').replace(/^Bearer /, ''));
    assert.equal(jwtPayload(token)['aud'], ORDERS);
  });

  it('a `token: none` route: 200 without any token, and Envoy is told to drop Authorization; no session needed', async () => {
    for (const who of [ua, h.browser()]) {
      const res = await ask(h, who, '/api/public/news');
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('authorization'), null);
      assert.match(res.headers.get('x-envoy-auth-headers-to-remove') ?? '', /\bauthorization\b/);
    }
  });

  it('a path no route serves, or no original path at all: refused, never a token', async () => {
    const outside = await ask(h, ua, '/login');
    assert.equal(outside.status, 404, outside.text);
    assert.equal(outside.headers.get('authorization'), null);
    const none = await ua.get(`${h.url}/auth`);
    assert.equal(none.status, 400, none.text);
    assert.equal(none.headers.get('authorization'), null);
  });

  it('a path that names another route once normalised or decoded (/api/%61dmin, /api/public/../admin): refused, never a token', async () => {
    for (const path of ['/api/%61dmin/users', '/api/ADMIN/users', '/api/admin;x/users', '/api/public/../admin/users', '/api/public/%2e%2e/admin/users']) {
      const viaHeader = await ask(h, ua, path);
      assert.equal(viaHeader.status, 400, `${path}: ${viaHeader.text}`);
      assert.equal(errorOf(viaHeader), 'invalid_path');
      assert.equal(viaHeader.headers.get('authorization'), null);
    }
    const envoy = await askRaw(h, ua, '/api/%61dmin/users');
    assert.equal(envoy.status, 400, envoy.text);
    assert.equal(envoy.authorization, undefined);
  });

  it('an original TRACE: 405 method_not_allowed, never a token', async () => {
    const res = await ask(h, ua, '/api/things', 'TRACE');
    assert.equal(res.status, 405, res.text);
    assert.equal(res.headers.get('authorization'), null);
  });
});

describe('forward-auth with OIDC_DPOP=true never hands out a DPoP-bound token as Bearer', () => {
  it('refuses a DPoP route: 403 dpop_not_forwardable, no token, while /api/* sends it with a proof', async () => {
    const h = await startHarness({ env: { FORWARD_AUTH_PATH: '/auth', OIDC_DPOP: 'true' } });
    try {
      const ua = h.browser();
      await h.login(ua);
      const proxied = await h.api(ua, '/things');
      assert.equal(proxied.status, 200);
      assert.match(String(h.upstream.received.at(-1)?.headers['authorization']), /^DPoP /);
      const res = await ask(h, ua, '/api/things');
      assert.equal(res.status, 403, res.text);
      assert.equal(errorOf(res), 'dpop_not_forwardable');
      assert.equal(res.headers.get('authorization'), null);
    } finally {
      await h.close();
    }
  });
});
