import assert from 'node:assert/strict';
import type { CustomFetch } from 'openid-client';
import { startIdp } from '../../dev/idp.js';
import { frontendConfigs, loadFrontends } from '../../src/config/frontends.js';
import { loadConfig } from '../../src/config/load.js';
import { createOidcClient } from '../../src/idp/client.js';
import { CLIENT_DN, createTestPki, writeClientKey, type TestPki } from '../support/certs.js';
import { startFrontends, type Frontends } from '../support/frontends.js';
import { captureLogs } from '../support/log-capture.js';
import { UserAgent } from '../support/user-agent.js';

/** A call to the IdP that authenticates the client, as it left the BFF. */
interface IdpCall {
  url: URL;
  params: URLSearchParams;
  authorization: string | undefined;
}

function recordIdpCalls(): { calls: IdpCall[]; fetch: CustomFetch } {
  const calls: IdpCall[] = [];
  return {
    calls,
    fetch: (url, init) => {
      const body = init.body instanceof URLSearchParams || typeof init.body === 'string' ? init.body : '';
      const params = new URLSearchParams(body);
      const authorization = init.headers['authorization'];
      if (params.has('client_id') || params.has('client_assertion') || authorization !== undefined) calls.push({ url: new URL(url), params, authorization });
      return fetch(url, init as RequestInit);
    },
  };
}

/** The client a call authenticated as: from Basic credentials, the assertion's iss, or client_id. */
function clientOf(call: IdpCall): string {
  if (call.authorization?.startsWith('Basic ')) return decodeURIComponent(Buffer.from(call.authorization.slice(6), 'base64').toString('utf8').split(':')[0]!);
  const assertion = call.params.get('client_assertion');
  if (assertion) return (JSON.parse(Buffer.from(assertion.split('.')[1]!, 'base64url').toString('utf8')) as { iss: string }).iss;
  return call.params.get('client_id') ?? '';
}

const joseHeader = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;

/** Login → refresh → logout at one frontend; the IdP refuses any other client authentication than the one registered. */
async function loginRefreshLogout(f: Frontends, id: string): Promise<void> {
  const ua = new UserAgent();
  const callback = await f.login(ua, id);
  assert.equal(callback.status, 302, `callback at ${id}: ${callback.text}`);
  assert.equal((await f.api(ua, id, '/orders')).status, 200);
  const refreshed = await ua.post(`${f.url[id]}/refresh`, { headers: { 'x-csrf': '1' } });
  assert.equal(refreshed.status, 200, `refresh at ${id}: ${refreshed.text}`);
  assert.equal((await ua.post(`${f.url[id]}/logout`, { headers: { 'x-csrf': '1' } })).status, 200);
  assert.equal((await ua.get(`${f.url[id]}/session`)).status, 401);
}

describe('BFF_CONFIG: each provider authenticates its own client (private_key_jwt, tls_client_auth, client_secret_basic on one process)', function () {
  this.timeout(20_000);
  let pki: TestPki;
  let f: Frontends;
  const idp = recordIdpCalls();

  before(async () => {
    pki = createTestPki();
    const key = writeClientKey(pki.dir, 'frontend-jwt', { type: 'rsa' }, 'jwk', { kid: 'jwt-key' });
    f = await startFrontends(
      {
        jwt: {
          hostname: '127.0.0.1',
          idp: 'a',
          provider: {
            fields: { clientAuth: 'private_key_jwt', clientKeyFile: key.path },
            registration: { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] } },
          },
        },
        basic: { hostname: 'localhost', idp: 'a' },
        mtls: {
          hostname: 'localhost',
          pathPrefix: '/m',
          idp: 'a',
          provider: {
            fields: { clientAuth: 'tls_client_auth', clientCertFile: pki.client.certPath, clientCertKeyFile: pki.client.keyPath },
            registration: { token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: CLIENT_DN },
          },
        },
      },
      {
        env: { OIDC_CA_FILE: pki.ca.certPath },
        idpA: { mtls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert } },
        idpFetch: idp.fetch,
      },
    );
  });
  after(async () => {
    await f?.close();
    pki?.cleanup();
  });

  it('a frontend whose provider uses private_key_jwt and one using client_secret_basic: each logs in, refreshes and logs out with its own method', async () => {
    await loginRefreshLogout(f, 'jwt');
    await loginRefreshLogout(f, 'basic');

    const of = (client: string) => idp.calls.filter((c) => clientOf(c) === client);
    assert.deepEqual(
      of('jwt').map((c) => c.url.pathname),
      ['/request', '/token', '/token', '/token/revocation'],
    );
    for (const call of of('jwt')) {
      assert.deepEqual(joseHeader(call.params.get('client_assertion') ?? ''), { alg: 'RS256', kid: 'jwt-key' });
      assert.equal(call.authorization, undefined);
      assert.equal(call.params.get('client_secret'), null);
    }
    assert.deepEqual(
      of('basic').map((c) => c.url.pathname),
      ['/request', '/token', '/token', '/token/revocation'],
    );
    for (const call of of('basic')) {
      assert.match(call.authorization ?? '', /^Basic /);
      assert.equal(call.params.get('client_assertion'), null);
    }
    // The IdP answers bad client authentication of a revocation with 401, which the BFF only logs.
    assert.deepEqual(f.logs.named('logout.revocation_failed'), []);
  });

  it("a frontend whose provider uses tls_client_auth: its calls go to the IdP's mTLS aliases with its certificate, the others' do not", async () => {
    const before = idp.calls.length;
    await loginRefreshLogout(f, 'mtls');
    await loginRefreshLogout(f, 'basic');
    const calls = idp.calls.slice(before);
    const mtlsOrigin = f.idps.a.mtls!.origin;
    const mine = calls.filter((c) => clientOf(c) === 'mtls');
    assert.deepEqual(
      mine.map((c) => `${c.url.origin}${c.url.pathname}`),
      ['/request', '/token', '/token', '/token/revocation'].map((p) => mtlsOrigin + p),
    );
    for (const call of mine) assert.equal(call.authorization ?? call.params.get('client_secret') ?? call.params.get('client_assertion'), null);
    assert.deepEqual(f.idps.a.mtls!.counts, { pushed_authorization_request: 1, token: 2, revocation: 1 });
    assert.ok(
      calls.filter((c) => clientOf(c) === 'basic').every((c) => c.url.origin === f.idps.a.issuer),
      "another frontend's calls went to the mTLS aliases",
    );
    assert.deepEqual(f.logs.named('logout.revocation_failed'), []);
  });
});

describe('BFF_CONFIG reload: a provider key file replaced in place', function () {
  this.timeout(20_000);
  let pki: TestPki;
  let f: Frontends;
  after(async () => {
    await f?.close();
    pki?.cleanup();
  });

  it('a new key at the same path (same clientKeyId) is a changed provider: the reload signs with the new key, not the old', async () => {
    pki = createTestPki();
    const old = writeClientKey(pki.dir, 'rotated', { type: 'ec', curve: 'P-256' }, 'pem');
    f = await startFrontends({
      jwt: {
        hostname: '127.0.0.1',
        idp: 'a',
        provider: {
          fields: { clientAuth: 'private_key_jwt', clientKeyFile: old.path, clientKeyId: 'bff-key' },
          registration: { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...old.publicJwk, kid: 'bff-key' }] } },
        },
      },
    });
    const rotated = writeClientKey(pki.dir, 'rotated', { type: 'ec', curve: 'P-256' }, 'pem');
    assert.equal(rotated.path, old.path);
    const outcome = await f.service.reload(loadFrontends(f.base));
    assert.deepEqual(outcome, { kept: 0, added: 1, removed: 1 }, 'the unit holding the old key was kept');
    const signing = f.service.units[0]!.config.oidc.assertionKey!.file.keyObject();
    assert.ok(signing.equals(rotated.privateKey), 'the reloaded unit signs with the old key');
  });
});

describe("BFF_CONFIG: a provider's key its IdP does not accept", () => {
  it('discovery fails with a message naming the key in the file (providers.<id>.clientKeyFile), not OIDC_CLIENT_KEY_FILE', async () => {
    const pki = createTestPki();
    const key = writeClientKey(pki.dir, 'p384', { type: 'ec', curve: 'P-384' }, 'pem');
    const idp = await startIdp({
      clients: [
        {
          client_id: 'shop',
          client_secret: 'unused',
          redirect_uris: ['http://127.0.0.1:1/callback'],
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [key.publicJwk] },
        },
      ],
    });
    const logs = captureLogs();
    const base = loadConfig({ BFF_CONFIG: '/unused.json', OIDC_ALLOW_HTTP: 'true', SESSION_STORE: 'memory' }, () => 'r'.repeat(43));
    const [config] = frontendConfigs(base, {
      providers: { corp: { issuer: idp.issuer, clientId: 'shop', clientAuth: 'private_key_jwt', clientKeyFile: key.path } },
      frontends: { shop: { publicUrl: 'http://127.0.0.1:1', provider: 'corp', apiRoutes: [{ path: '/api', upstream: 'http://127.0.0.1:9' }] } },
    });
    const client = createOidcClient(config!, logs.log, { retry: { initialMs: 60_000, maxMs: 60_000 } });
    try {
      await logs.waitFor('oidc.discovery_failed');
      const { err } = logs.named('oidc.discovery_failed')[0] as { err: { message: string } };
      assert.match(err.message, /only, not ES384 \(BFF_CONFIG providers\.corp\.clientKeyFile\)/);
    } finally {
      client.close();
      await idp.close();
      pki.cleanup();
    }
  });
});
