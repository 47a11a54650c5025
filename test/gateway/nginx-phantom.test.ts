import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../support/free-port.js';
import { CLIENT_ID, CLIENT_SECRET, startHarness, type Harness } from '../support/harness.js';
import { startJwtUpstream, type JwtUpstream } from '../support/jwt-upstream.js';
import { startNginx, type RunningNginx } from '../support/nginx.js';
import { routesFile, type RoutesFile } from '../support/routes-file.js';
import { UserAgent, type UaResponse } from '../support/user-agent.js';

/** The nginx example of docs/phantom-tokens.md: its only ```nginx block, run exactly as printed. */
function docsExample(): string {
  const page = readFileSync(new URL('../../docs/phantom-tokens.md', import.meta.url), 'utf8');
  const blocks = [...page.matchAll(/^```nginx\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  assert.equal(blocks.length, 1, 'docs/phantom-tokens.md has exactly one nginx block');
  return blocks[0]!;
}

/** Seconds a cached answer may live (FORWARD_AUTH_CACHE_MAX_AGE): long enough for a burst, short enough to wait out. */
const MAX_AGE_S = 3;
const CSRF = { 'x-csrf': '1' };

interface Stack {
  h: Harness;
  api: JwtUpstream;
  routes: RoutesFile;
  nginx: RunningNginx;
  url: string;
  host: string;
  cacheDir: string;
  login(ua: UserAgent, username?: string): Promise<void>;
  call(ua: UserAgent, path: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<UaResponse>;
  /** Forward-auth requests the BFF has answered 200 (refusals are told apart by their status: a cached answer is a 200). */
  bffCalls(): number;
  close(): Promise<void>;
}

async function startStack(template = docsExample()): Promise<Stack> {
  let issuer = '';
  const api = await startJwtUpstream(() => issuer);
  const routes = routesFile([{ path: '/api/orders', upstream: 'http://127.0.0.1:9', token: 'phantom' }]);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const h = await startHarness({
    idp: {
      introspection: 'jwtBody',
      clients: [
        { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${url}/callback`], post_logout_redirect_uris: [`${url}/logout/callback`] },
      ],
    },
    env: {
      PUBLIC_URL: url,
      API_ROUTES: routes.path,
      OIDC_INTROSPECTION_DIALECT: 'jwt',
      FORWARD_AUTH_PATH: '/auth',
      FORWARD_AUTH_CACHE_MAX_AGE: String(MAX_AGE_S),
    },
  });
  issuer = h.idp.issuer;
  const cacheDir = mkdtempSync(join(tmpdir(), 'oidc-bff-nginx-cache-'));
  let nginx: RunningNginx;
  try {
    nginx = await startNginx({
      template,
      port,
      vars: { LISTEN: `127.0.0.1:${port}`, BFF_ADDR: new URL(h.url).host, API_ADDR: new URL(api.url).host, CACHE_DIR: cacheDir },
    });
  } catch (err) {
    await h.close();
    await api.close();
    routes.remove();
    rmSync(cacheDir, { recursive: true, force: true });
    throw err;
  }
  return {
    h,
    api,
    routes,
    nginx,
    url,
    host: `127.0.0.1:${port}`,
    cacheDir,
    async login(ua, username) {
      await ua.login(`${url}/login`, { ...(username ? { username } : {}), stopAtOrigin: url });
    },
    call(ua, path, init = {}) {
      return ua.request(init.method ?? 'GET', `${url}${path}`, {
        ...(init.headers ? { headers: init.headers } : {}),
        ...(init.body === undefined ? {} : { body: init.body }),
      });
    },
    bffCalls: () => h.logs.named('gateway.authorized').length,
    async close() {
      await nginx.close();
      await h.close();
      await api.close();
      routes.remove();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

describe('nginx caching the forward-auth answer of a phantom route (the example of docs/phantom-tokens.md)', () => {
  let s: Stack;
  let alice: UserAgent;
  let other: UserAgent;
  before(async () => {
    s = await startStack();
    alice = new UserAgent();
    other = new UserAgent();
    await s.login(alice);
    await s.login(other);
    assert.ok(alice.cookie(s.host, 'bff-session') && other.cookie(s.host, 'bff-session'));
  });
  after(async () => s?.close());

  it("the API gets the JWT behind the session's opaque token, verified against the IdP's JWKS", async () => {
    const res = await s.call(alice, '/api/orders/1', { headers: CSRF });
    assert.equal(res.status, 200, res.text);
    const verdict = s.api.verdicts.at(-1)!;
    assert.equal(verdict.refusal, undefined);
    assert.equal(verdict.claims!['sub'], 'alice');
    assert.equal(verdict.bearer!.split('.').length, 3, 'a JWT, not the opaque token');
    assert.equal(res.headers.get('authorization'), null, 'the JWT never reaches the browser');
  });

  it('repeated calls within max-age are answered from the cache: they do not reach the BFF (the query is not in the key)', async () => {
    assert.equal((await s.call(alice, '/api/orders/burst', { headers: CSRF })).status, 200);
    const calls = s.bffCalls();
    const introspections = s.h.idp.counts.introspection;
    const bearers = new Set<string | undefined>();
    for (let i = 0; i < 10; i++) {
      const res = await s.call(alice, `/api/orders/burst?page=${i}`, { headers: CSRF });
      assert.equal(res.status, 200, res.text);
      bearers.add(s.api.verdicts.at(-1)!.bearer);
    }
    assert.equal(s.bffCalls(), calls, 'forward-auth calls at the BFF');
    assert.equal(s.h.idp.counts.introspection, introspections);
    assert.equal(bearers.size, 1);
    assert.equal(s.api.verdicts.at(-1)!.refusal, undefined);
  });

  it("another session never gets a cached answer: another browser's call on alice's cached path reaches the BFF and carries its own JWT", async () => {
    assert.equal((await s.call(alice, '/api/orders/shared', { headers: CSRF })).status, 200);
    const alicesJwt = s.api.verdicts.at(-1)!.bearer;
    const calls = s.bffCalls();
    const res = await s.call(other, '/api/orders/shared', { headers: CSRF });
    assert.equal(res.status, 200, res.text);
    assert.equal(s.bffCalls(), calls + 1);
    const verdict = s.api.verdicts.at(-1)!;
    assert.equal(verdict.refusal, undefined);
    assert.notEqual(verdict.bearer, alicesJwt);
  });

  it("a browser without a session, or with a forged cookie, gets 401 on alice's cached path; the API is not called", async () => {
    assert.equal((await s.call(alice, '/api/orders/anon', { headers: CSRF })).status, 200);
    const apiCalls = s.api.verdicts.length;
    const forged = new UserAgent();
    forged.setCookie(s.host, 'bff-session', 'forged');
    for (const stranger of [new UserAgent(), forged]) {
      const res = await s.call(stranger, '/api/orders/anon', { headers: CSRF });
      assert.equal(res.status, 401, res.text);
    }
    assert.equal(s.api.verdicts.length, apiCalls);
  });

  it("a cross-site request with alice's cookie never rides on her cached same-site answer: 403, the API not called", async () => {
    assert.equal((await s.call(alice, '/api/orders/xsite', { headers: { ...CSRF, 'sec-fetch-site': 'same-origin' } })).status, 200);
    assert.equal((await s.call(alice, '/api/orders/xsite', { headers: { 'sec-fetch-site': 'same-origin' } })).status, 200);
    const apiCalls = s.api.verdicts.length;
    for (const headers of [
      { 'sec-fetch-site': 'cross-site' },
      { ...CSRF, 'sec-fetch-site': 'cross-site' },
      { origin: 'https://evil.example' },
      { ...CSRF, origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' },
    ]) {
      const res = await s.call(alice, '/api/orders/xsite', { headers });
      assert.equal(res.status, 403, `${JSON.stringify(headers)}: ${res.status}`);
    }
    assert.equal(s.api.verdicts.length, apiCalls);
  });

  it('an unsafe request without X-CSRF never rides on a cached GET answer: 403; with X-CSRF it reaches the BFF every time', async () => {
    // Cached GETs with and without the header (a safe call needs none), and without Origin or
    // Sec-Fetch-Site (an older browser): a form POST of such a browser sends no more than that.
    assert.equal((await s.call(alice, '/api/orders/unsafe', { headers: CSRF })).status, 200);
    assert.equal((await s.call(alice, '/api/orders/unsafe')).status, 200);
    const apiCalls = s.api.verdicts.length;
    for (const method of ['POST', 'DELETE']) {
      const res = await s.call(alice, '/api/orders/unsafe', { method, body: '{}' });
      assert.equal(res.status, 403, `${method}: ${res.status}`);
    }
    const spoofed = await s.call(alice, '/api/orders/unsafe', {
      method: 'POST',
      headers: { 'x-original-method': 'GET', 'x-forwarded-method': 'GET' },
      body: '{}',
    });
    assert.equal(spoofed.status, 403, 'method headers of the browser change nothing');
    assert.equal(s.api.verdicts.length, apiCalls);
    const calls = s.bffCalls();
    for (let i = 0; i < 2; i++) {
      const res = await s.call(alice, '/api/orders/unsafe', { method: 'POST', headers: { ...CSRF, origin: s.url }, body: '{}' });
      assert.equal(res.status, 200, res.text);
    }
    assert.equal(s.bffCalls(), calls + 2, 'each unsafe request is decided by the BFF');
  });

  it('a path that leaves its route once decoded never rides on the cached answer of the path nginx normalises it to', async () => {
    assert.equal((await s.call(alice, '/api/orders/1', { headers: CSRF })).status, 200);
    const apiCalls = s.api.verdicts.length;
    // nginx routes this as /api/orders/1 (decoded, dot segments removed); the BFF judges the raw path and refuses it.
    const res = await s.call(alice, '/api/orders%2F..%2Forders/1', { headers: CSRF });
    assert.notEqual(res.status, 200, res.text);
    assert.equal(s.api.verdicts.length, apiCalls);
  });

  it('a logout is honoured at once for the browser that logged out, and within max-age for a copy of its old cookie', async () => {
    const carol = new UserAgent();
    await s.login(carol);
    // A copy of carol's cookies: the same Cookie header, so the same cache entry.
    const copied = carol.cookieHeader(s.host);
    const stolen = new UserAgent();
    for (const pair of copied.split('; ')) stolen.setCookie(s.host, pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    assert.equal(stolen.cookieHeader(s.host), copied);
    assert.equal((await s.call(carol, '/api/orders/logout', { headers: CSRF })).status, 200);
    const calls = s.bffCalls();
    assert.equal((await s.call(stolen, '/api/orders/logout', { headers: CSRF })).status, 200);
    assert.equal(s.bffCalls(), calls, 'the copy is served the cached answer');
    const logout = await s.call(carol, '/logout', { method: 'POST', headers: { ...CSRF, origin: s.url } });
    assert.ok(logout.status < 400, `${logout.status} ${logout.text}`);
    const loggedOutAt = Date.now();
    assert.equal(carol.cookie(s.host, 'bff-session'), undefined, 'the browser dropped its cookie');
    assert.equal((await s.call(carol, '/api/orders/logout', { headers: CSRF })).status, 401, 'the browser that logged out: at once');

    // The copy of the old cookie rides on the cached answer until its max-age runs out, then never again.
    let status = 200;
    let served = 0;
    while (status === 200) {
      assert.ok(Date.now() - loggedOutAt <= (MAX_AGE_S + 1) * 1000 + 500, 'the cached answer outlived FORWARD_AUTH_CACHE_MAX_AGE');
      status = (await s.call(stolen, '/api/orders/logout', { headers: CSRF })).status;
      if (status === 200) {
        served++;
        await sleep(100); // nginx's cache expiry is wall-clock time: nothing to await
      }
    }
    assert.equal(status, 401);
    assert.ok(served > 0, 'the copy was served the cached answer after the logout (the documented bound, not a stricter one)');
  });

  it('runs the documented example unchanged, with its cache', () => {
    assert.equal(
      s.nginx.config.includes('proxy_cache_key      "$request_method|$http_origin|$http_sec_fetch_site|$http_x_csrf|$bff_auth_path|$http_cookie";'),
      true,
    );
    assert.doesNotMatch(s.nginx.errorLog(), /\[(emerg|alert|crit)\]/);
  });
});

describe('nginx caching the auth location without the documented set-up (Cache-Control honoured, the default key): nothing is cached', () => {
  let s: Stack;
  before(async () => {
    // What an operator might write from a generic "cache auth_request" recipe: proxy_cache on, the
    // default key ($scheme$proxy_host$request_uri: no Cookie in it), Cache-Control not ignored.
    const example = docsExample();
    const careless = example.replace(/^\s*proxy_cache_key .*\n/m, '').replace(/^\s*proxy_ignore_headers .*\n/m, '');
    assert.notEqual(careless, example);
    assert.doesNotMatch(careless, /proxy_cache_key|proxy_ignore_headers/);
    s = await startStack(careless);
  });
  after(async () => s?.close());

  it('Cache-Control: private keeps every answer out of that cache: each call reaches the BFF, and another session gets its own JWT', async () => {
    const alice = new UserAgent();
    const other = new UserAgent();
    await s.login(alice);
    await s.login(other);
    const calls = s.bffCalls();
    for (let i = 0; i < 3; i++) assert.equal((await s.call(alice, '/api/orders/same', { headers: CSRF })).status, 200);
    const alicesJwt = s.api.verdicts.at(-1)!.bearer;
    assert.equal((await s.call(other, '/api/orders/same', { headers: CSRF })).status, 200);
    assert.equal(s.bffCalls(), calls + 4);
    assert.notEqual(s.api.verdicts.at(-1)!.bearer, alicesJwt);
    assert.equal((await s.call(new UserAgent(), '/api/orders/same', { headers: CSRF })).status, 401);
  });
});
