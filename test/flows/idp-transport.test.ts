import assert from 'node:assert/strict';
import type { CustomFetch } from 'openid-client';
import { Agent } from 'undici';
import { createTestPki, type TestPki } from '../support/certs.js';
import { startHarness, type Harness } from '../support/harness.js';
import { logoutClaims, postLogoutToken, signLogoutToken } from '../support/logout-token.js';
import { UserAgent } from '../support/user-agent.js';

/** A call the BFF made to the IdP, and whether it carried the transport's dispatcher (OIDC_CA_FILE, mTLS). */
interface IdpCall {
  path: string;
  throughTransport: boolean;
}

function recordIdpCalls(): { calls: IdpCall[]; fetch: CustomFetch } {
  const calls: IdpCall[] = [];
  return {
    calls,
    fetch: (url, init) => {
      calls.push({ path: new URL(url).pathname, throughTransport: 'dispatcher' in init });
      return fetch(url, init as RequestInit);
    },
  };
}

/**
 * Issue 16 item 11: every IdP call goes through the one configured transport. The logout-token
 * key fetch used to bypass it, so with an IdP behind a private CA every valid logout token got
 * 502 and the session survived the IdP's logout.
 */
describe('every IdP call goes through the configured transport (OIDC_CA_FILE): an https IdP signed by a private CA', () => {
  let pki: TestPki;
  let browserAgent: Agent;
  let h: Harness;
  const idpCalls = recordIdpCalls();
  before(async () => {
    pki = createTestPki();
    // The test's browser trusts the private CA too: it logs in at the IdP's own pages.
    browserAgent = new Agent({ connect: { ca: pki.ca.cert } });
    h = await startHarness({
      backchannel: true,
      env: { OIDC_CA_FILE: pki.ca.certPath },
      idp: { tls: { key: pki.server.key, cert: pki.server.cert } },
      idpFetch: idpCalls.fetch,
    });
  });
  after(async () => {
    await h?.close();
    await browserAgent?.close();
    pki?.cleanup();
  });

  const browser = () => new UserAgent({ dispatcher: browserAgent });
  const signedIn = async () => {
    const ua = browser();
    const callback = await h.login(ua);
    assert.equal(callback.status, 302, callback.text);
    const sid = (await ua.get(`${h.url}/session`)).json<{ claims: { sid?: string } }>().claims.sid;
    assert.ok(sid, 'the IdP put no sid in the ID token');
    return { ua, sid };
  };

  it('the IdP is really https, and not trusted without OIDC_CA_FILE (the test would prove nothing otherwise)', async () => {
    assert.match(h.idp.issuer, /^https:\/\/127\.0\.0\.1:\d+$/);
    await assert.rejects(fetch(`${h.idp.issuer}/.well-known/openid-configuration`), /fetch failed/);
  });

  it('a valid logout token from the private-CA IdP ends the session (its JWKS is fetched through OIDC_CA_FILE): 200, /session anonymous', async () => {
    const { ua, sid } = await signedIn();
    const before = idpCalls.calls.length;
    const res = await postLogoutToken(h.url, signLogoutToken(h.idp, logoutClaims(h.idp, { sid, sub: 'alice' })));
    assert.equal(res.status, 200, await res.text());
    assert.equal((await ua.get(`${h.url}/session`)).status, 401);
    const jwks = idpCalls.calls.slice(before).filter((c) => c.path === '/jwks');
    assert.equal(jwks.length, 1, 'the logout-token keys were fetched by the IdP fetch');
    assert.ok(jwks.every((c) => c.throughTransport));
  });

  it('discovery, PAR, the code exchange, the ID-token keys, a refresh and the revocation at logout all go through it', async () => {
    const { ua } = await signedIn();
    assert.equal((await ua.post(`${h.url}/refresh`, { headers: { 'x-csrf': '1' } })).status, 200);
    assert.equal((await ua.post(`${h.url}/logout`, { headers: { 'x-csrf': '1' } })).status, 200);
    assert.equal(h.idp.counts.revocation, 1);
    const paths = new Set(idpCalls.calls.map((c) => c.path));
    for (const path of ['/.well-known/openid-configuration', '/request', '/token', '/jwks', '/token/revocation']) assert.ok(paths.has(path), `no ${path} call`);
    assert.deepEqual(
      idpCalls.calls.filter((c) => !c.throughTransport),
      [],
      'a call bypassed the transport',
    );
  });
});
