import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importJWK, SignJWT, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import { createMemoryStore } from '../../src/store/memory-store.js';
import { startHarness, type Harness } from '../support/harness.js';
import { routesFile, type RoutesFile } from '../support/routes-file.js';
import { startEchoUpstream, type EchoUpstream } from '../support/upstream-echo.js';
import type { UserAgent } from '../support/user-agent.js';

const PATH = '/gateway/introspect';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** A gateway client registered for private_key_jwt, with an EC key. */
const JWT_GW = { id: 'orders-jwt-gw', kid: 'orders-gw-2026' };
/** Another private_key_jwt client, with an RSA key. */
const OTHER_GW = { id: 'reports-jwt-gw', kid: 'reports-gw-1' };
/** A client registered for HTTP Basic. */
const BASIC_GW = { id: 'basic-gw', secret: 'basic-gateway-secret-0123456789-abcdefghij' };

type PrivateKey = Exclude<Parameters<typeof oidc.PrivateKeyJwt>[0], { type: string }>;

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
/** A key no client registered. */
const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });

interface Setup {
  a: Harness;
  b: Harness;
  orders: EchoUpstream;
  basic: EchoUpstream;
  routes: RoutesFile;
  dir: string;
  ua: UserAgent;
  handle: string;
}

const handleAt = (u: EchoUpstream) => String(u.received.at(-1)!.headers['authorization']).replace(/^Bearer /, '');

async function start(): Promise<Setup> {
  const orders = await startEchoUpstream();
  const basic = await startEchoUpstream();
  const routes = routesFile([
    { path: '/api/orders', upstream: orders.url, token: 'user', handle: JWT_GW.id },
    { path: '/api/basic', upstream: basic.url, token: 'user', handle: BASIC_GW.id },
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'bff-gateway-assertion-'));
  const ordersKeys = join(dir, 'orders-gw.jwks.json');
  writeFileSync(ordersKeys, JSON.stringify({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: JWT_GW.kid }] }));
  const reportsKey = join(dir, 'reports-gw.pem');
  writeFileSync(reportsKey, rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  const store = createMemoryStore();
  const env = {
    API_ROUTES: routes.path,
    GATEWAY_INTROSPECTION_PATH: PATH,
    GATEWAY_CLIENTS: `${BASIC_GW.id}:${BASIC_GW.secret}`,
    GATEWAY_CLIENT_KEYS: `${JWT_GW.id}:${ordersKeys},${OTHER_GW.id}:${reportsKey}`,
  };
  const a = await startHarness({ store, env });
  const b = await startHarness({ shareWith: a, store, env: { ...env, PUBLIC_URL: a.url } });
  const ua = a.browser();
  await a.login(ua);
  assert.equal((await a.api(ua, '/orders/1')).status, 200);
  assert.equal((await a.api(ua, '/basic/1')).status, 200);
  return { a, b, orders, basic, routes, dir, ua, handle: handleAt(orders) };
}

/** An assertion as RFC 7523 describes it, for `JWT_GW` unless told otherwise. */
async function assertion(
  s: Setup,
  { claims = {}, key = ec.privateKey as KeyObject | Uint8Array, alg = 'ES256', kid = JWT_GW.kid, omit = [] as string[] } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = { iss: JWT_GW.id, sub: JWT_GW.id, aud: s.a.url, jti: randomUUID(), iat: now, exp: now + 60, ...claims };
  for (const name of omit) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).sign(key);
}

/** The gateway's introspection call with a client assertion in the form (RFC 7523 2.2). */
function introspect(h: Harness, handle: string, clientAssertion: string, extra: { headers?: Record<string, string>; form?: Record<string, string> } = {}) {
  return fetch(`${h.url}${PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...extra.headers },
    body: new URLSearchParams({ token: handle, client_assertion_type: JWT_BEARER, client_assertion: clientAssertion, ...extra.form }),
  });
}

/** Refused as a client authentication failure, for the reason the test names (from the log). */
async function assertRefused(s: Setup, res: Response, reason: RegExp, h: Harness = s.a): Promise<void> {
  assert.equal(res.status, 401);
  assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
  assert.match(res.headers.get('www-authenticate') ?? '', /^Basic/);
  assert.match(String(h.logs.named('gateway.introspection_refused').at(-1)?.['reason']), reason);
}

describe('gateway clients with private_key_jwt (RFC 7523 client assertions) at the handle introspection endpoint', () => {
  let s: Setup;
  before(async () => {
    s = await start();
  });
  after(async () => {
    await s.b.close();
    await s.a.close();
    await s.orders.close();
    await s.basic.close();
    s.routes.remove();
    rmSync(s.dir, { recursive: true, force: true });
  });

  it("openid-client's PrivateKeyJwt client authentication gets the RFC 7662 answer (tokenIntrospection)", async () => {
    const configuration = new oidc.Configuration(
      { issuer: s.a.url, introspection_endpoint: `${s.a.url}${PATH}` },
      JWT_GW.id,
      undefined,
      oidc.PrivateKeyJwt({ key: (await importJWK(ec.privateKey.export({ format: 'jwk' }), 'ES256')) as PrivateKey['key'], kid: JWT_GW.kid }),
    );
    oidc.allowInsecureRequests(configuration);
    const answer = await oidc.tokenIntrospection(configuration, s.handle);
    assert.equal(answer.active, true);
    assert.equal(answer.sub, 'alice');
  });

  it('an assertion whose aud is the introspection endpoint URL (RFC 7523 3) is accepted too; an RSA key from a PEM file works', async () => {
    const res = await introspect(s.a, s.handle, await assertion(s, { claims: { aud: `${s.a.url}${PATH}` } }));
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { active: boolean }).active, true);
    const basicHandle = handleAt(s.basic);
    const other = await assertion(s, { claims: { iss: OTHER_GW.id, sub: OTHER_GW.id }, key: rsa.privateKey, alg: 'PS256', kid: '' });
    // Authenticated, but the handle belongs to another client's route: inactive, not 401.
    const res2 = await introspect(s.a, basicHandle, other);
    assert.equal(res2.status, 200);
    assert.deepEqual(await res2.json(), { active: false });
  });

  it('a key without kid (from a PEM file) verifies an assertion whatever kid its header names (client libraries set one)', async () => {
    const basicHandle = handleAt(s.basic);
    const named = await assertion(s, { claims: { iss: OTHER_GW.id, sub: OTHER_GW.id }, key: rsa.privateKey, alg: 'PS256', kid: 'reports-gw-2026' });
    const res = await introspect(s.a, basicHandle, named);
    assert.equal(res.status, 200, `answered ${res.status}: ${String(s.a.logs.named('gateway.introspection_refused').at(-1)?.['reason'])}`);
  });

  it('wrong aud: an assertion made for another server (the IdP) is refused', async () => {
    const res = await introspect(s.a, s.handle, await assertion(s, { claims: { aud: s.a.idp.issuer } }));
    await assertRefused(s, res, /aud/);
  });

  it('expired: an assertion past its exp (beyond OIDC_CLOCK_TOLERANCE) is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const res = await introspect(s.a, s.handle, await assertion(s, { claims: { iat: now - 600, exp: now - 120 } }));
    await assertRefused(s, res, /exp/);
  });

  it('long-lived: an assertion whose exp lies an hour ahead is refused (it would be a reusable credential)', async () => {
    const res = await introspect(s.a, s.handle, await assertion(s, { claims: { exp: Math.floor(Date.now() / 1000) + 3600 } }));
    await assertRefused(s, res, /exp more than 300 s ahead/);
  });

  it('iat in the future is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const res = await introspect(s.a, s.handle, await assertion(s, { claims: { iat: now + 200, exp: now + 250 } }));
    await assertRefused(s, res, /iat/);
  });

  it('replayed jti on a second instance: the assertion is used once across every instance sharing the store', async () => {
    const once = await assertion(s);
    assert.equal((await introspect(s.a, s.handle, once)).status, 200);
    await assertRefused(s, await introspect(s.b, s.handle, once), /jti replayed/, s.b);
    await assertRefused(s, await introspect(s.a, s.handle, once), /jti replayed/);
  });

  it('missing jti: refused (it could not be made single-use)', async () => {
    await assertRefused(s, await introspect(s.a, s.handle, await assertion(s, { omit: ['jti'] })), /jti/);
  });

  it('missing exp: refused', async () => {
    await assertRefused(s, await introspect(s.a, s.handle, await assertion(s, { omit: ['exp'] })), /exp/);
  });

  it('HS256 with the public key as the HMAC secret (algorithm confusion) is refused', async () => {
    const secret = Buffer.from(JSON.stringify({ ...ec.publicKey.export({ format: 'jwk' }), kid: JWT_GW.kid }));
    const pem = Buffer.from(ec.publicKey.export({ type: 'spki', format: 'pem' }));
    for (const key of [secret, pem]) {
      await assertRefused(s, await introspect(s.a, s.handle, await assertion(s, { key, alg: 'HS256' })), /alg HS256/);
    }
  });

  it('alg none (an unsigned assertion) is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsigned = `${part({ alg: 'none' })}.${part({ iss: JWT_GW.id, sub: JWT_GW.id, aud: s.a.url, jti: randomUUID(), exp: now + 60 })}.`;
    await assertRefused(s, await introspect(s.a, s.handle, unsigned), /alg none|\(none\)/);
  });

  it("other client's key: an assertion naming one client, signed with another client's (or an unknown) key, is refused", async () => {
    const withReportsKey = await assertion(s, { key: rsa.privateKey, alg: 'RS256', kid: '' });
    await assertRefused(s, await introspect(s.a, s.handle, withReportsKey), /alg RS256/);
    const withStrangerKey = await assertion(s, { key: stranger.privateKey });
    await assertRefused(s, await introspect(s.a, s.handle, withStrangerKey), /signature/i);
    const withStrangerKeyNoKid = await assertion(s, { key: stranger.privateKey, kid: '' });
    await assertRefused(s, await introspect(s.a, s.handle, withStrangerKeyNoKid), /signature/i);
  });

  it('iss and sub must both be the client: an assertion with another sub is refused', async () => {
    await assertRefused(s, await introspect(s.a, s.handle, await assertion(s, { claims: { sub: 'alice' } })), /sub/);
  });

  it('a client_id in the form that differs from the assertion iss is refused', async () => {
    const res = await introspect(s.a, s.handle, await assertion(s), { form: { client_id: BASIC_GW.id } });
    await assertRefused(s, res, /client_id differs/);
  });

  it('Basic client trying an assertion: a client registered for Basic cannot authenticate with a client assertion', async () => {
    const res = await introspect(s.a, handleAt(s.basic), await assertion(s, { claims: { iss: BASIC_GW.id, sub: BASIC_GW.id } }));
    await assertRefused(s, res, /not a private_key_jwt gateway client/);
  });

  it('assertion client trying Basic: a client registered for private_key_jwt has no secret to present', async () => {
    const res = await fetch(`${s.a.url}${PATH}`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${JWT_GW.id}:${BASIC_GW.secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: s.handle }),
    });
    await assertRefused(s, res, /missing or wrong gateway client credentials/);
  });

  it('two authentication methods in one request (Basic and an assertion) are refused (RFC 6749 2.3)', async () => {
    const basic = `Basic ${Buffer.from(`${BASIC_GW.id}:${BASIC_GW.secret}`).toString('base64')}`;
    const res = await introspect(s.a, handleAt(s.basic), await assertion(s), { headers: { authorization: basic } });
    await assertRefused(s, res, /more than one client authentication method/);
  });

  it('a wrong client_assertion_type is refused', async () => {
    const res = await introspect(s.a, s.handle, await assertion(s), {
      form: { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' },
    });
    await assertRefused(s, res, /client_assertion_type/);
  });

  it('the Basic client still works beside them', async () => {
    const res = await fetch(`${s.a.url}${PATH}`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${BASIC_GW.id}:${BASIC_GW.secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: handleAt(s.basic) }),
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { active: boolean }).active, true);
  });

  it('no client assertion is written to the log', async () => {
    const used = await assertion(s);
    await introspect(s.a, s.handle, used);
    await introspect(s.a, s.handle, used);
    assert.ok(!s.a.logs.text().includes(used));
    assert.ok(!s.a.logs.text().includes(used.split('.')[2]!));
  });
});
