import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import { createMemoryStore } from '../../src/store/memory-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { writeClientKey } from '../support/certs.js';
import { startHarness, type Harness } from '../support/harness.js';
import { routesFile, type RoutesFile } from '../support/routes-file.js';
import { startEchoUpstream, type EchoUpstream } from '../support/upstream-echo.js';
import type { UserAgent } from '../support/user-agent.js';

const PATH = '/gateway/introspect';
const ORDERS_GW = { id: 'orders-gw', secret: 'orders-gateway-secret-0123456789-abcdefgh' };
const REPORTS_GW = { id: 'reports-gw', secret: 'reports-gateway-secret-0123456789-abcdefg' };
const HANDLE = /^[A-Za-z0-9_-]{43}$/; // 256 random bits, base64url

interface Setup {
  h: Harness;
  orders: EchoUpstream;
  reports: EchoUpstream;
  routes: RoutesFile;
  keyDir: string;
}

async function start(store?: SessionStore, extraEnv: Record<string, string> = {}): Promise<Setup> {
  const orders = await startEchoUpstream();
  const reports = await startEchoUpstream();
  const routes = routesFile([
    { path: '/api/orders', upstream: orders.url, token: 'user', handle: ORDERS_GW.id },
    { path: '/api/reports', upstream: reports.url, token: 'phantom', handle: REPORTS_GW.id },
  ]);
  const keyDir = mkdtempSync(join(tmpdir(), 'bff-gateway-key-'));
  const signingKey = writeClientKey(keyDir, 'gateway-signing', { type: 'ec', curve: 'P-256' }, 'jwk', { kid: 'bff-gw-1' });
  const h = await startHarness({
    idp: { introspection: true },
    client: { introspection_signed_response_alg: 'RS256' },
    ...(store ? { store } : {}),
    env: {
      API_ROUTES: routes.path,
      GATEWAY_INTROSPECTION_PATH: PATH,
      GATEWAY_CLIENTS: [ORDERS_GW, REPORTS_GW].map((c) => `${c.id}:${c.secret}`).join(','),
      GATEWAY_SIGNING_KEY_FILE: signingKey.path,
      ...extraEnv,
    },
  });
  return { h, orders, reports, routes, keyDir };
}

const handleAt = (u: EchoUpstream) => String(u.received.at(-1)!.headers['authorization']).replace(/^Bearer /, '');

/** The gateway's RFC 7662 call, as a gateway module makes it. */
function introspect(s: Pick<Setup, 'h'>, handle: string, client: { id: string; secret: string }, accept = 'application/json'): Promise<Response> {
  return fetch(`${s.h.url}${PATH}`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
      accept,
    },
    body: new URLSearchParams({ token: handle }),
  });
}

/** openid-client, as a gateway written against it would be configured for the BFF's endpoint. */
function gatewayClient(s: Setup, client: { id: string; secret: string }): oidc.Configuration {
  const configuration = new oidc.Configuration(
    { issuer: s.h.url, introspection_endpoint: `${s.h.url}${PATH}` },
    client.id,
    undefined,
    oidc.ClientSecretBasic(client.secret),
  );
  oidc.allowInsecureRequests(configuration);
  return configuration;
}

describe('gateway handles: the upstream gets an opaque handle, which only its gateway client can resolve at the BFF', () => {
  let s: Setup;
  let ua: UserAgent;
  before(async () => {
    s = await start();
    ua = s.h.browser();
    await s.h.login(ua);
    for (const path of ['/orders/1', '/orders/2', '/reports/1']) assert.equal((await s.h.api(ua, path)).status, 200);
  });
  after(async () => {
    await s.h.close();
    await s.orders.close();
    await s.reports.close();
    s.routes.remove();
    rmSync(s.keyDir, { recursive: true, force: true });
  });

  it('the upstream receives a 256-bit handle, never a token the IdP issued, the same one for each call with the token', () => {
    const handle = handleAt(s.orders);
    assert.match(handle, HANDLE);
    assert.ok(!s.h.idp.issued.has(handle));
    assert.equal(String(s.orders.received[0]!.headers['authorization']), String(s.orders.received[1]!.headers['authorization']));
    assert.match(handleAt(s.reports), HANDLE);
    assert.notEqual(handleAt(s.reports), handle, 'each route its own handle');
  });

  it("openid-client's tokenIntrospection against the BFF gets the RFC 7662 answer for the session", async () => {
    const answer = await oidc.tokenIntrospection(gatewayClient(s, ORDERS_GW), handleAt(s.orders));
    assert.equal(answer.active, true);
    assert.equal(answer.sub, 'alice');
    assert.ok(typeof answer.exp === 'number' && answer.exp * 1000 > Date.now());
  });

  it('every active answer says how long a gateway may cache it: max-age = seconds until expiry minus the skew', async () => {
    const res = await introspect(s, handleAt(s.orders), ORDERS_GW);
    const { exp } = (await res.json()) as { exp: number };
    const maxAge = Number(/^max-age=(\d+)$/.exec(res.headers.get('cache-control') ?? '')?.[1]);
    const expected = exp - Math.floor(Date.now() / 1000) - s.h.config.session.refreshSkewMs / 1000;
    assert.ok(Math.abs(maxAge - expected) <= 2, `max-age ${maxAge}, expected about ${expected}`);
  });

  it("Accept: application/jwt on a phantom route's handle answers with the JWT itself, signed by the IdP", async () => {
    const res = await introspect(s, handleAt(s.reports), REPORTS_GW, 'application/jwt');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/jwt/);
    const jwks = createRemoteJWKSet(new URL(`${s.h.idp.issuer}/jwks`));
    const { payload } = await jwtVerify(await res.text(), jwks, { issuer: s.h.idp.issuer });
    assert.equal((payload['token_introspection'] as { sub: string }).sub, 'alice');
  });

  it("an RFC 9701 answer (application/token-introspection+jwt) verifies with oauth4webapi against the BFF's JWKS", async () => {
    const as: oauth.AuthorizationServer = {
      issuer: s.h.url,
      introspection_endpoint: `${s.h.url}${PATH}`,
      jwks_uri: `${s.h.url}${PATH}/jwks`,
    };
    const client: oauth.Client = { client_id: REPORTS_GW.id, introspection_signed_response_alg: 'ES256' };
    const options = { [oauth.allowInsecureRequests]: true };
    const res = await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(REPORTS_GW.secret), handleAt(s.reports), {
      ...options,
      requestJwtResponse: true,
    });
    const answer = await oauth.processIntrospectionResponse(as, client, res);
    await oauth.validateApplicationLevelSignature(as, res, options);
    assert.equal(answer.active, true);
    assert.equal(answer.sub, 'alice');
    assert.equal(typeof answer['jwt'], 'string', 'a phantom route: the JWT rides along');
  });

  it('a handle of one route is inactive for the gateway client of another', async () => {
    const res = await introspect(s, handleAt(s.orders), REPORTS_GW);
    assert.deepEqual(await res.json(), { active: false });
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  it('wrong or missing gateway credentials: 401 invalid_client, nothing resolved', async () => {
    const res = await introspect(s, handleAt(s.orders), { id: ORDERS_GW.id, secret: REPORTS_GW.secret });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic/);
    const none = await fetch(`${s.h.url}${PATH}`, { method: 'POST', body: new URLSearchParams({ token: handleAt(s.orders) }) });
    assert.equal(none.status, 401);
  });

  it('the handle follows a refresh: it resolves to the session’s new token', async () => {
    const handle = handleAt(s.orders);
    const before = await (await introspect(s, handle, ORDERS_GW, 'application/jwt')).text();
    const refreshed = await ua.request('POST', `${s.h.url}/refresh`, { headers: { 'x-csrf': '1' } });
    assert.equal(refreshed.status, 200);
    const after = await (await introspect(s, handle, ORDERS_GW, 'application/jwt')).text();
    assert.notEqual(after, before);
    assert.ok(s.h.idp.issued.has(after), 'a token the IdP issued, to the gateway only');
  });

  it('no handle, token or gateway secret is written to the log', () => {
    const logged = s.h.logs.text();
    for (const secret of [handleAt(s.orders), handleAt(s.reports), ORDERS_GW.secret, REPORTS_GW.secret]) assert.ok(!logged.includes(secret));
    assert.ok(s.h.logs.named('gateway.introspection').length > 0);
  });

  it('after logout the handle is inactive: 204 for application/jwt, {active:false} with no-store for JSON', async () => {
    const handle = handleAt(s.orders);
    assert.equal((await introspect(s, handle, ORDERS_GW, 'application/jwt')).status, 200);
    assert.equal((await ua.request('POST', `${s.h.url}/logout`, { headers: { 'x-csrf': '1' } })).status, 200);
    const jwt = await introspect(s, handle, ORDERS_GW, 'application/jwt');
    assert.equal(jwt.status, 204);
    assert.equal(jwt.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await (await introspect(s, handle, ORDERS_GW)).json(), { active: false });
  });
});

describe('gateway handles across instances: a logout on one instance makes the handle inactive on every other', () => {
  let s: Setup;
  let b: Harness;
  const store = createMemoryStore();
  before(async () => {
    s = await start(store);
    b = await startHarness({
      shareWith: s.h,
      store,
      env: {
        API_ROUTES: s.routes.path,
        PUBLIC_URL: s.h.url,
        GATEWAY_INTROSPECTION_PATH: PATH,
        GATEWAY_CLIENTS: `${ORDERS_GW.id}:${ORDERS_GW.secret},${REPORTS_GW.id}:${REPORTS_GW.secret}`,
      },
    });
  });
  after(async () => {
    await b.close();
    await s.h.close();
    await s.orders.close();
    await s.reports.close();
    s.routes.remove();
    rmSync(s.keyDir, { recursive: true, force: true });
  });

  it('instance B resolves the handle instance A made, and answers 204 once A logged the session out', async () => {
    const ua = s.h.browser();
    await s.h.login(ua);
    assert.equal((await s.h.api(ua, '/orders/1')).status, 200);
    const handle = handleAt(s.orders);
    assert.equal((await introspect({ h: b }, handle, ORDERS_GW, 'application/jwt')).status, 200);
    assert.equal((await ua.request('POST', `${s.h.url}/logout`, { headers: { 'x-csrf': '1' } })).status, 200);
    const after = await introspect({ h: b }, handle, ORDERS_GW, 'application/jwt');
    assert.equal(after.status, 204);
  });
});

describe('gateway handles: the introspection endpoint has its own rate limit per gateway address', () => {
  let s: Setup;
  before(async () => {
    s = await start(undefined, { RATE_LIMIT_PER_MINUTE: '2', GATEWAY_INTROSPECTION_RATE_LIMIT: '5' });
  });
  after(async () => {
    await s.h.close();
    await s.orders.close();
    await s.reports.close();
    s.routes.remove();
    rmSync(s.keyDir, { recursive: true, force: true });
  });

  it('a gateway asking for many users is not cut off by the per-browser RATE_LIMIT_PER_MINUTE, but by GATEWAY_INTROSPECTION_RATE_LIMIT', async () => {
    const ua = s.h.browser();
    await s.h.login(ua);
    await s.h.api(ua, '/orders/1');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await introspect(s, handleAt(s.orders), ORDERS_GW)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
  });
});
