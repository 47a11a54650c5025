import assert from 'node:assert/strict';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { CustomFetch } from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { decodeJwt } from '../support/jwt.js';
import { startResourceServer, type ResourceServer } from '../support/resource-server.js';
import { routesFile, type RoutesFile } from '../support/routes-file.js';
import type { UserAgent } from '../support/user-agent.js';

const ORDERS = 'https://orders.example.test';
const RS_NONCE = 'resource-server-nonce-1';

interface Setup {
  h: Harness;
  rs: ResourceServer;
  routes: RoutesFile;
  /** DPoP proofs the BFF sent with its PAR requests. */
  parProofs: string[];
}

/** The IdP demands DPoP nonces; the resource server verifies JWT access tokens and their DPoP proofs, and demands its own nonce. */
async function start(env: Record<string, string> = {}): Promise<Setup> {
  // The routes name the resource server, which learns the IdP's issuer once the harness started it.
  let issuer = '';
  const rs = await startResourceServer({ issuer: () => issuer, audience: ORDERS, requireDpop: true, dpopNonce: RS_NONCE });
  const routes = routesFile([
    { path: '/api/orders', upstream: `${rs.url}/orders`, token: 'user', resource: ORDERS },
    { path: '/api/service', upstream: `${rs.url}/service`, token: 'client', resource: ORDERS },
    { path: '/api/exchanged', upstream: `${rs.url}/exchanged`, token: 'exchange', audience: ORDERS },
  ]);
  const parProofs: string[] = [];
  const idpFetch: CustomFetch = (url, init) => {
    const proof = new Headers(init.headers as ConstructorParameters<typeof Headers>[0]).get('dpop');
    if (new URL(url).pathname.endsWith('/request') && proof) parProofs.push(proof);
    return fetch(url, init as RequestInit);
  };
  const h = await startHarness({
    idpFetch,
    idp: { resources: { [ORDERS]: { scope: 'orders:read' } }, dpopNonce: true, clientCredentials: true, tokenExchange: true },
    env: { OIDC_DPOP: 'true', API_ROUTES: routes.path, OIDC_SCOPES: 'openid profile offline_access orders:read', ...env },
  });
  issuer = h.idp.issuer;
  return { h, rs, routes, parProofs };
}

async function stop(s: Setup | undefined): Promise<void> {
  if (!s) return;
  await s.h.close();
  await s.rs.close();
  s.routes.remove();
}

const thumbprintOf = (proof: string) => JSON.stringify(decodeJwt(proof).header['jwk']);

describe('DPoP (OIDC_DPOP=true): tokens are bound to a key of the session, proven on every call', () => {
  let s: Setup;
  let ua: UserAgent;
  before(async () => {
    s = await start();
    ua = s.h.browser();
    await s.h.login(ua);
  });
  after(() => stop(s));

  it('a DPoP route reaches a resource server that verifies the proof (after its nonce challenge)', async () => {
    const res = await s.h.api(ua, '/orders/1');
    assert.equal(res.status, 200, res.text);
    const claims = res.json<{ aud: string; cnf?: { jkt?: string } }>();
    assert.equal(claims.aud, ORDERS);
    assert.ok(claims.cnf?.jkt, 'the access token is bound to a key');
    assert.deepEqual(
      s.rs.judged.map((j) => j.refusal === undefined),
      [false, true],
      'one use_dpop_nonce challenge, then accepted',
    );
  });

  it('the same token without a proof, or as a Bearer token, is refused by the resource server', async () => {
    const accepted = s.rs.judged.find((j) => j.claims)!;
    const token = accepted.authorization!.replace(/^DPoP /, '');
    for (const headers of [{ authorization: `DPoP ${token}` }, { authorization: `Bearer ${token}` }]) {
      const res = await fetch(`${s.rs.url}/orders/1`, { headers });
      assert.equal(res.status, 401, JSON.stringify(headers).slice(0, 20));
    }
    // A captured proof does not carry over to another request.
    const replay = await fetch(`${s.rs.url}/orders/2`, { headers: { authorization: `DPoP ${token}`, dpop: accepted.dpop! } });
    assert.equal(replay.status, 401);
  });

  it("the session's own token is DPoP-bound too: the API_UPSTREAM route gets Authorization: DPoP and a proof", async () => {
    await s.h.api(ua, '/me');
    const r = s.h.upstream.received.at(-1)!;
    assert.match(String(r.headers['authorization']), /^DPoP /);
    const proof = decodeJwt(String(r.headers['dpop']));
    assert.equal(proof.header['typ'], 'dpop+jwt');
    assert.equal(proof.payload['htm'], 'GET');
    assert.equal(proof.payload['htu'], `${s.h.upstream.url}/v1/me`);
  });

  it('a refresh at the IdP (which demands nonces) keeps the binding and the session', async () => {
    const before = s.h.idp.counts.refresh;
    const forced = await ua.request('POST', `${s.h.url}/refresh`, { headers: { 'x-csrf': '1' } });
    assert.equal(forced.status, 200);
    assert.equal(s.h.idp.counts.refresh, before + 1);
    const res = await s.h.api(ua, '/orders/after-refresh');
    assert.equal(res.status, 200, res.text);
  });

  it('client-credentials tokens are bound to a key of the instance, not of a session', async () => {
    const res = await s.h.api(ua, '/service/1');
    assert.equal(res.status, 200, res.text);
    const claims = res.json<{ sub: string; cnf?: { jkt?: string } }>();
    assert.equal(claims.sub, 'spa-bff');
    const sessionKey = s.rs.judged.find((j) => j.url === '/orders/1' && j.claims)!.claims!.cnf?.jkt;
    assert.ok(claims.cnf?.jkt);
    assert.notEqual(claims.cnf.jkt, sessionKey);
  });

  it("an exchanged token is bound to the session's key", async () => {
    const res = await s.h.api(ua, '/exchanged/1');
    assert.equal(res.status, 200, res.text);
    const sessionKey = s.rs.judged.find((j) => j.url === '/orders/1' && j.claims)!.claims!.cnf?.jkt;
    assert.equal(res.json<{ cnf?: { jkt?: string } }>().cnf?.jkt, sessionKey);
  });

  it('the authorization code was bound to the same key at PAR (RFC 9449 10)', async () => {
    const jkt = s.rs.judged.find((j) => j.url === '/orders/1' && j.claims)!.claims!.cnf?.jkt;
    const parKeys = await Promise.all(s.parProofs.map((p) => calculateJwkThumbprint(decodeJwt(p).header['jwk'] as JWK)));
    assert.ok(parKeys.includes(jkt!), 'the PAR request was signed by the key the tokens are bound to');
  });

  it('each session has its own key', async () => {
    const other = s.h.browser();
    await s.h.login(other);
    await s.h.api(other, '/orders/other');
    const keys = new Set(s.rs.judged.filter((j) => j.claims && j.url.startsWith('/orders/')).map((j) => thumbprintOf(j.dpop!)));
    assert.equal(keys.size, 2);
  });
});

describe('DPoP with cookie sessions: the key is sealed in the cookie with the tokens', () => {
  let s: Setup;
  after(() => stop(s));

  it('logs in, calls a DPoP route, and the key never appears in the cookie in clear', async () => {
    s = await start({ SESSION_STORE: 'cookie' });
    const ua = s.h.browser();
    await s.h.login(ua);
    const res = await s.h.api(ua, '/orders/1');
    assert.equal(res.status, 200, res.text);
    const jwk = decodeJwt(s.rs.judged.find((j) => j.claims)!.dpop!).header['jwk'] as { x: string };
    assert.doesNotMatch(ua.cookieHeader(new URL(s.h.url).host), new RegExp(jwk.x));
  });
});

describe('DPoP without PAR: the authorization URL carries dpop_jkt of the key the tokens are bound to', () => {
  let s: Setup;
  after(() => stop(s));

  it('dpop_jkt = the cnf.jkt of the tokens the session gets', async () => {
    s = await start({ OIDC_USE_PAR: 'false' });
    const ua = s.h.browser();
    const { chain } = await ua.login(`${s.h.url}/login`, { stopAtOrigin: s.h.url });
    const jktInUrl = chain.map((u) => new URL(u).searchParams.get('dpop_jkt')).find(Boolean);
    assert.ok(jktInUrl, 'the authorization request names the key');
    const res = await s.h.api(ua, '/orders/1');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json<{ cnf?: { jkt?: string } }>().cnf?.jkt, jktInUrl);
    assert.equal(s.parProofs.length, 0);
  });
});
