import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { CustomFetch } from 'openid-client';
import { startIdp } from '../../dev/idp.js';
import { loadConfig } from '../../src/config/load.js';
import { createOidcClient } from '../../src/idp/client.js';
import { CLIENT_DN, createTestPki, writeClientKey, type ClientKeyFile, type TestPki } from '../support/certs.js';
import { CLIENT_ID, CLIENT_SECRET, startHarness, type Harness, type HarnessOptions } from '../support/harness.js';
import { captureLogs } from '../support/log-capture.js';
import type { UserAgent } from '../support/user-agent.js';

/** A call the BFF made to the IdP, as it left the BFF. */
interface IdpCall {
  url: URL;
  params: URLSearchParams;
  authorization: string | undefined;
}

/** An idpFetch that records every call and passes it on, dispatcher included, to the real fetch. */
function recordIdpCalls(): { calls: IdpCall[]; fetch: CustomFetch } {
  const calls: IdpCall[] = [];
  return {
    calls,
    fetch: (url, init) => {
      const body = init.body instanceof URLSearchParams || typeof init.body === 'string' ? init.body : '';
      calls.push({ url: new URL(url), params: new URLSearchParams(body), authorization: init.headers['authorization'] });
      return fetch(url, init as RequestInit);
    },
  };
}

/** Calls that authenticate the client: the token, revocation and PAR requests (POSTs with client_id). */
const authenticated = (calls: IdpCall[]) => calls.filter((c) => c.params.has('client_id') || c.authorization !== undefined);
const endpoint = (c: IdpCall) => c.url.pathname;
const joseHeader = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

const refresh = (h: Harness, ua: UserAgent) => ua.post(`${h.url}/refresh`, { headers: { 'x-csrf': '1' } });
const logout = (h: Harness, ua: UserAgent) => ua.post(`${h.url}/logout`, { headers: { 'x-csrf': '1' } });
const loginPage = (h: Harness, ua: UserAgent) => ua.get(`${h.url}/login`, { headers: { accept: 'application/json' } });

/** Logs in, forces a refresh and logs out, asserting the IdP handled each step. */
async function loginRefreshLogout(h: Harness): Promise<void> {
  const ua = h.browser();
  const callback = await h.login(ua);
  assert.equal(callback.status, 302, callback.text);
  assert.equal(h.idp.counts.authorizationCode, 1, 'code exchange');
  const refreshed = await refresh(h, ua);
  assert.equal(refreshed.status, 200, refreshed.text);
  assert.equal(h.idp.counts.refresh, 1, 'refresh');
  assert.equal((await logout(h, ua)).status, 200);
  assert.equal(h.idp.counts.revocation, 1, 'revocation');
  // The IdP answers a revocation with bad client authentication 401: the BFF would log this.
  assert.deepEqual(h.logs.named('logout.revocation_failed'), []);
}

/** Long enough fragments of a secret file that a log line containing any of them leaks it. */
function fragments(content: string): string[] {
  if (content.trimStart().startsWith('{')) {
    const jwk = JSON.parse(content) as Record<string, unknown>;
    return ['d', 'p', 'q', 'dp', 'dq', 'qi']
      .map((m) => jwk[m])
      .filter((v): v is string => typeof v === 'string')
      .map((v) => v.slice(0, 24));
  }
  return content
    .split('\n')
    .filter((line) => !line.startsWith('-----') && line.length >= 24)
    .map((line) => line.slice(0, 24));
}

function assertNotLogged(h: Harness, content: string, what: string): void {
  const text = h.logs.text();
  assert.ok(h.logs.lines.length > 0, 'nothing was logged: the check would prove nothing');
  for (const fragment of fragments(content)) assert.ok(!text.includes(fragment), `${what} appears in the log`);
}

describe('client authentication: private_key_jwt signs each token, revocation and PAR call with OIDC_CLIENT_KEY_FILE', () => {
  let dir: string;
  let h: Harness | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-bff-keys-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const start = (key: ClientKeyFile, options: HarnessOptions = {}, registered: ClientKeyFile = key) =>
    startHarness({
      ...options,
      env: { OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_KEY_FILE: key.path, ...options.env },
      client: { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [registered.publicJwk] } },
    });

  const cases = [
    { label: 'an RSA key in a JWK file, named by its kid', make: () => writeClientKey(dir, 'rsa', { type: 'rsa' }, 'jwk', { kid: 'rsa-key-1' }), alg: 'RS256' },
    {
      label: 'an EC P-256 key in a PEM file, named by its RFC 7638 thumbprint',
      make: () => writeClientKey(dir, 'ec', { type: 'ec', curve: 'P-256' }, 'pem'),
      alg: 'ES256',
    },
    { label: 'an Ed25519 key in a PEM file', make: () => writeClientKey(dir, 'ed', { type: 'ed25519' }, 'pem'), alg: 'EdDSA' },
  ];
  for (const { label, make, alg } of cases) {
    it(`${label}: a login, a refresh and the revocation at logout authenticate with it (${alg})`, async () => {
      const key = make();
      const kid = typeof key.publicJwk['kid'] === 'string' ? key.publicJwk['kid'] : await calculateJwkThumbprint(key.publicJwk as JWK, 'sha256');
      const idp = recordIdpCalls();
      // Registered under that kid, as tools that name keys by their thumbprint (step-cli…) publish them.
      h = await start(key, { idpFetch: idp.fetch }, { ...key, publicJwk: { ...key.publicJwk, kid } });
      await loginRefreshLogout(h);

      const calls = authenticated(idp.calls);
      assert.deepEqual(calls.map(endpoint), ['/request', '/token', '/token', '/token/revocation']);
      for (const call of calls) {
        assert.equal(call.params.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
        assert.deepEqual(joseHeader(call.params.get('client_assertion') ?? ''), { alg, kid });
        assert.equal(call.authorization, undefined);
        assert.equal(call.params.get('client_secret'), null);
      }
    });
  }

  it('sends OIDC_CLIENT_KEY_ID as the kid, and the x5t of a certificate kept in the key file', async () => {
    const key = writeClientKey(dir, 'with-cert', { type: 'ec', curve: 'P-256' }, 'pem');
    // The key and a self-signed certificate for it in one file, as `cat key.pem cert.pem` gives.
    const cert = execFileSync('openssl', ['req', '-x509', '-key', key.path, '-subj', '/CN=bff', '-days', '1'], { encoding: 'utf8' });
    const withCert = { ...key, path: join(dir, 'key-and-cert.pem') };
    writeFileSync(withCert.path, key.content + cert);
    const idp = recordIdpCalls();
    h = await start(
      withCert,
      { idpFetch: idp.fetch, env: { OIDC_CLIENT_KEY_ID: 'operator-kid' } },
      { ...key, publicJwk: { ...key.publicJwk, kid: 'operator-kid' } },
    );
    assert.equal((await h.login(h.browser())).status, 302);
    const header = joseHeader(authenticated(idp.calls).at(-1)?.params.get('client_assertion') ?? '');
    // x5t computed independently: node's SHA-1 fingerprint, hex → base64url.
    const x5t = Buffer.from(new X509Certificate(cert).fingerprint.replace(/:/g, ''), 'hex').toString('base64url');
    assert.deepEqual(header, { alg: 'ES256', kid: 'operator-kid', x5t });
  });

  it('OIDC_CLIENT_ASSERTION_AUDIENCE=token_endpoint puts the token endpoint URL in aud (Entra ID style); a login and a refresh pass', async () => {
    const key = writeClientKey(dir, 'aud', { type: 'rsa' }, 'jwk', { kid: 'aud-key' });
    const idp = recordIdpCalls();
    h = await start(key, { idpFetch: idp.fetch, env: { OIDC_CLIENT_ASSERTION_AUDIENCE: 'token_endpoint' } });
    await loginRefreshLogout(h);
    const calls = authenticated(idp.calls);
    assert.ok(calls.length >= 3);
    for (const call of calls) {
      const payload = JSON.parse(Buffer.from((call.params.get('client_assertion') ?? '').split('.')[1] ?? '', 'base64url').toString('utf8')) as {
        aud: unknown;
      };
      assert.equal(payload.aud, `${h.idp.issuer}/token`);
    }
  });

  it('a key the IdP does not know: /login answers 502 idp_error (PAR refused), not a 500, and nothing is signed in', async () => {
    const registered = writeClientKey(dir, 'registered', { type: 'ec', curve: 'P-256' }, 'jwk', { kid: 'k1' });
    const wrong = writeClientKey(dir, 'wrong', { type: 'ec', curve: 'P-256' }, 'jwk', { kid: 'k1' });
    h = await start(wrong, {}, registered);
    const ua = h.browser();
    const res = await loginPage(h, ua);
    assert.equal(res.status, 502, res.text);
    assert.equal(res.json<{ error: string }>().error, 'idp_error');
    assert.deepEqual(
      h.logs.named('login.par_failed').map((e) => e['reason']),
      ['401 invalid_client'],
    );
    assert.equal(h.idp.counts.par, 1);
    assert.equal((await ua.get(`${h.url}/session`)).json<{ authenticated: boolean }>().authenticated, false);
    assertNotLogged(h, wrong.content, 'the private key');
  });

  it('a key the IdP does not know, without PAR: the callback answers 400 login_failed and starts no session', async () => {
    const registered = writeClientKey(dir, 'registered2', { type: 'rsa' }, 'pem');
    const wrong = writeClientKey(dir, 'wrong2', { type: 'rsa' }, 'pem');
    h = await start(wrong, { env: { OIDC_USE_PAR: 'false' } }, registered);
    const ua = h.browser();
    const callback = await h.login(ua);
    assert.equal(callback.status, 400, callback.text);
    assert.deepEqual(
      h.logs.named('callback.code_rejected').map((e) => e['reason']),
      ['401 invalid_client'],
    );
    assert.equal(h.idp.counts.authorizationCode, 1);
    assert.equal((await ua.get(`${h.url}/session`)).json<{ authenticated: boolean }>().authenticated, false);
  });

  it('never writes the key file content to the log', async () => {
    const key = writeClientKey(dir, 'logged', { type: 'rsa' }, 'jwk', { kid: 'log-check' });
    h = await start(key);
    await loginRefreshLogout(h);
    assertNotLogged(h, key.content, 'the private key');
  });

  it("fails discovery with an actionable message when the IdP does not accept the key's algorithm (ES384 here)", async () => {
    const key = writeClientKey(dir, 'p384', { type: 'ec', curve: 'P-384' }, 'pem');
    const idp = await startIdp({
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: ['http://127.0.0.1:1/callback'],
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [key.publicJwk] },
        },
      ],
    });
    const logs = captureLogs();
    const config = loadConfig(
      {
        PUBLIC_URL: 'http://127.0.0.1:1',
        OIDC_ISSUER: idp.issuer,
        OIDC_CLIENT_ID: CLIENT_ID,
        OIDC_ALLOW_HTTP: 'true',
        API_UPSTREAM: 'http://127.0.0.1:9/v1',
        OIDC_CLIENT_AUTH: 'private_key_jwt',
        OIDC_CLIENT_KEY_FILE: key.path,
      },
      () => 'r'.repeat(43),
    );
    const client = createOidcClient(config, logs.log, { retry: { initialMs: 60_000, maxMs: 60_000 } });
    try {
      await logs.waitFor('oidc.discovery_failed');
      const { err } = logs.named('oidc.discovery_failed')[0] as { err: { message: string } };
      assert.match(err.message, /accepts client assertions signed with .*ES256.* only, not ES384 \(OIDC_CLIENT_KEY_FILE\)/);
      assert.equal(client.isReady(), false);
    } finally {
      client.close();
      await idp.close();
    }
  });
});

describe("client authentication: tls_client_auth presents OIDC_CLIENT_CERT_FILE at the IdP's mTLS endpoint aliases", () => {
  let pki: TestPki;
  let h: Harness | undefined;
  before(() => {
    pki = createTestPki();
  });
  after(() => pki.cleanup());
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const start = (env: Record<string, string>, idpFetch?: CustomFetch) =>
    startHarness({
      env: {
        OIDC_CLIENT_AUTH: 'tls_client_auth',
        OIDC_CLIENT_CERT_FILE: pki.client.certPath,
        OIDC_CLIENT_CERT_KEY_FILE: pki.client.keyPath,
        OIDC_CA_FILE: pki.ca.certPath,
        ...env,
      },
      idp: { mtls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert } },
      client: { token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: CLIENT_DN },
      ...(idpFetch ? { idpFetch } : {}),
    });

  it('a login, a refresh and the revocation at logout go to the aliases over mTLS, trusting the IdP through OIDC_CA_FILE', async () => {
    const idp = recordIdpCalls();
    h = await start({}, idp.fetch);
    await loginRefreshLogout(h);

    const mtls = h.idp.mtls!;
    assert.deepEqual(mtls.counts, { pushed_authorization_request: 1, token: 2, revocation: 1 });
    const calls = authenticated(idp.calls);
    assert.deepEqual(
      calls.map((c) => c.url.origin),
      Array(4).fill(mtls.origin),
    );
    for (const call of calls) {
      assert.equal(call.params.get('client_id'), CLIENT_ID);
      assert.equal(call.authorization, undefined);
      assert.equal(call.params.get('client_secret'), null);
      assert.equal(call.params.get('client_assertion'), null);
    }
    assertNotLogged(h, pki.client.key, "the client certificate's key");
  });

  it('a certificate with another subject is refused by the IdP: /login answers 502 idp_error, not a 500', async () => {
    h = await start({ OIDC_CLIENT_CERT_FILE: pki.stranger.certPath, OIDC_CLIENT_CERT_KEY_FILE: pki.stranger.keyPath });
    const res = await loginPage(h, h.browser());
    assert.equal(res.status, 502, res.text);
    assert.equal(res.json<{ error: string }>().error, 'idp_error');
    assert.deepEqual(
      h.logs.named('login.par_failed').map((e) => e['reason']),
      ['401 invalid_client'],
    );
    assert.equal(h.idp.mtls!.counts['pushed_authorization_request'], 1);
  });

  it("without OIDC_CA_FILE the IdP's private CA is not trusted: 502 idp_unreachable, and no fallback to the plain endpoints", async () => {
    h = await start({ OIDC_CA_FILE: '' });
    const res = await loginPage(h, h.browser());
    assert.equal(res.status, 502, res.text);
    assert.equal(res.json<{ error: string }>().error, 'idp_unreachable');
    assert.deepEqual(h.idp.mtls!.counts, {});
    assert.equal(h.idp.counts.par, 0);
  });
});

describe('client authentication: client_secret_post sends the secret in the request body', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('a login, a refresh and the revocation at logout carry client_secret in the body, never an Authorization header', async () => {
    const idp = recordIdpCalls();
    h = await startHarness({
      env: { OIDC_CLIENT_AUTH: 'client_secret_post' },
      client: { token_endpoint_auth_method: 'client_secret_post' },
      idpFetch: idp.fetch,
    });
    await loginRefreshLogout(h);
    const calls = authenticated(idp.calls);
    assert.deepEqual(calls.map(endpoint), ['/request', '/token', '/token', '/token/revocation']);
    for (const call of calls) {
      assert.equal(call.params.get('client_secret'), CLIENT_SECRET);
      assert.equal(call.authorization, undefined);
    }
  });
});
