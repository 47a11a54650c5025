import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { clientCertificateProblems, clientCredentialFields } from '../../../src/config/client-credentials.js';
import { loadConfig } from '../../../src/config/load.js';
import { problemsOf, randomSecret as random, VALID_ENV } from './config-fixture.js';
import { createTestPki, writeClientKey, type TestPki } from '../../support/certs.js';

// Client authentication decides whether a secret is needed: none by default here.
const { OIDC_CLIENT_SECRET: _secret, ...VALID } = VALID_ENV;

const has = (problems: readonly string[], ...parts: string[]) =>
  assert.ok(
    problems.some((p) => parts.every((part) => p.includes(part))),
    `no problem with ${parts.join(' + ')} in ${JSON.stringify(problems, null, 1)}`,
  );

/** x5t computed independently of the code under test: node's SHA-1 fingerprint, hex → base64url. */
const x5tOf = (pem: string) => Buffer.from(new X509Certificate(pem).fingerprint.replace(/:/g, ''), 'hex').toString('base64url');

describe('configuration: client authentication (OIDC_CLIENT_AUTH and its key and certificate files)', () => {
  let pki: TestPki;
  const file = (name: string, content: string) => {
    const path = join(pki.dir, name);
    writeFileSync(path, content);
    return path;
  };
  before(() => {
    pki = createTestPki();
  });
  after(() => pki.cleanup());

  describe('private_key_jwt', () => {
    it('takes a JWK file: alg and kid come from the JWK, and OIDC_CLIENT_KEY_ID overrides the kid', () => {
      const key = writeClientKey(pki.dir, 'rsa-ps', { type: 'rsa' }, 'jwk', { kid: 'jwk-kid', alg: 'PS256' });
      const env = { ...VALID, OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_KEY_FILE: key.path };
      const c = loadConfig(env, random);
      assert.equal(c.oidc.clientAuth, 'private_key_jwt');
      assert.equal(c.oidc.assertionKey?.alg, 'PS256');
      assert.equal(c.oidc.assertionKey?.kid, 'jwk-kid');
      assert.equal(loadConfig({ ...env, OIDC_CLIENT_KEY_ID: 'operator-kid' }, random).oidc.assertionKey?.kid, 'operator-kid');
    });

    it('derives the alg from the key type and, without a kid, uses the RFC 7638 thumbprint', async () => {
      const cases = [
        [{ type: 'rsa' }, 'RS256'],
        [{ type: 'ec', curve: 'P-256' }, 'ES256'],
        [{ type: 'ec', curve: 'P-384' }, 'ES384'],
        [{ type: 'ec', curve: 'P-521' }, 'ES512'],
        [{ type: 'ed25519' }, 'EdDSA'],
      ] as const;
      for (const [spec, alg] of cases) {
        const key = writeClientKey(pki.dir, `derive-${alg}`, spec, 'pem');
        const c = loadConfig({ ...VALID, OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_KEY_FILE: key.path }, random);
        assert.equal(c.oidc.assertionKey?.alg, alg);
        assert.equal(c.oidc.assertionKey?.kid, await calculateJwkThumbprint(key.publicJwk as JWK, 'sha256'), alg);
        assert.equal(c.oidc.assertionKey?.x5t, undefined);
      }
    });

    it('adds the x5t of a certificate kept next to the PEM key, or given as the JWK x5c (Entra ID looks keys up by it)', () => {
      const pem = file('key-and-cert.pem', pki.client.key + pki.client.cert);
      const c = loadConfig({ ...VALID, OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_KEY_FILE: pem }, random);
      assert.equal(c.oidc.assertionKey?.x5t, x5tOf(pki.client.cert));

      const x5c = [new X509Certificate(pki.client.cert).raw.toString('base64')];
      const withX5c = file('x5c.jwk.json', JSON.stringify({ ...createPrivateKey(pki.client.key).export({ format: 'jwk' }), x5c }));
      assert.equal(
        loadConfig({ ...VALID, OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_KEY_FILE: withX5c }, random).oidc.assertionKey?.x5t,
        x5tOf(pki.client.cert),
      );
    });

    it('accepts PKCS#1 and SEC1 PEM keys too, and refuses an encrypted key with a hint', () => {
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const pkcs1 = file('pkcs1.pem', rsa.export({ type: 'pkcs1', format: 'pem' }).toString());
      const sec1 = file('sec1.pem', ec.export({ type: 'sec1', format: 'pem' }).toString());
      const load = (path: string) => loadConfig({ ...VALID, OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_KEY_FILE: path }, random).oidc.assertionKey?.alg;
      assert.equal(load(pkcs1), 'RS256');
      assert.equal(load(sec1), 'ES256');
      const encrypted = file('encrypted.pem', ec.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString());
      has(problemsOf({ ...VALID, OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_KEY_FILE: encrypted }), encrypted, 'encrypted private key');
    });

    it('refuses a certificate that does not belong to the key, a JWK alg the key cannot sign with, a short RSA key and a public JWK', () => {
      const mismatched = file('mismatch.pem', pki.client.key + pki.stranger.cert);
      const ecWithRsAlg = writeClientKey(pki.dir, 'ec-rs', { type: 'ec', curve: 'P-256' }, 'jwk', { alg: 'RS256' });
      const publicOnly = file('public.jwk.json', JSON.stringify(ecWithRsAlg.publicJwk));
      const short = file('short.pem', shortRsaPem());
      const pss = file('pss.pem', generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
      for (const [path, hint] of [
        [mismatched, 'not the certificate of its private key'],
        [ecWithRsAlg.path, 'alg RS256'],
        [publicOnly, 'public JWK'],
        [short, '1024 bits'],
        [pss, 'RSASSA-PSS-only key'],
      ] as const) {
        has(problemsOf({ ...VALID, OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_KEY_FILE: path }), 'OIDC_CLIENT_KEY_FILE', path, hint);
      }
    });

    it('needs OIDC_CLIENT_KEY_FILE, not OIDC_CLIENT_SECRET; the key settings belong to private_key_jwt only', () => {
      has(problemsOf({ ...VALID, OIDC_CLIENT_AUTH: 'private_key_jwt' }), 'OIDC_CLIENT_KEY_FILE', 'required with OIDC_CLIENT_AUTH=private_key_jwt');
      const key = writeClientKey(pki.dir, 'no-secret', { type: 'ec', curve: 'P-256' }, 'pem');
      assert.equal(loadConfig({ ...VALID, OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_KEY_FILE: key.path }, random).oidc.clientSecret, undefined);
      const problems = problemsOf({ ...VALID, OIDC_CLIENT_SECRET: 'client-secret', OIDC_CLIENT_KEY_FILE: key.path, OIDC_CLIENT_KEY_ID: 'k1' });
      has(problems, 'OIDC_CLIENT_KEY_FILE is only used with OIDC_CLIENT_AUTH=private_key_jwt');
      has(problems, 'OIDC_CLIENT_KEY_ID is only used with OIDC_CLIENT_AUTH=private_key_jwt');
    });
  });

  describe('tls_client_auth and OIDC_CA_FILE', () => {
    it('takes the client certificate, its key and extra CAs, without OIDC_CLIENT_SECRET', () => {
      const c = loadConfig(
        {
          ...VALID,
          OIDC_CLIENT_AUTH: 'tls_client_auth',
          OIDC_CLIENT_CERT_FILE: pki.client.certPath,
          OIDC_CLIENT_CERT_KEY_FILE: pki.client.keyPath,
          OIDC_CA_FILE: pki.ca.certPath,
        },
        random,
      );
      assert.equal(c.oidc.clientAuth, 'tls_client_auth');
      assert.equal(c.oidc.tls.clientCertificate?.subject, 'CN=oidc-bff-test-client');
      assert.equal(new X509Certificate(c.oidc.tls.clientCertificate?.chainPem ?? '').fingerprint256, new X509Certificate(pki.client.cert).fingerprint256);
      assert.deepEqual(
        c.oidc.tls.extraCa.map((pem) => new X509Certificate(pem).fingerprint256),
        [new X509Certificate(pki.ca.cert).fingerprint256],
      );
      assert.equal(c.oidc.assertionKey, undefined);
    });

    it('trusts no extra CA and presents no certificate by default', () => {
      const c = loadConfig({ ...VALID, OIDC_CLIENT_SECRET: 'client-secret' }, random);
      assert.deepEqual(c.oidc.tls, { extraCa: [], clientCertificate: undefined });
    });

    it('refuses a client certificate that has expired (it would only fail later, at the IdP)', () => {
      const env = {
        OIDC_CLIENT_AUTH: 'tls_client_auth' as const,
        OIDC_CLIENT_KEY_FILE: undefined,
        OIDC_CLIENT_KEY_ID: '',
        OIDC_CLIENT_ASSERTION_AUDIENCE: 'issuer' as const,
        OIDC_CLIENT_CERT_FILE: clientCredentialFields.OIDC_CLIENT_CERT_FILE.parse(pki.client.certPath),
        OIDC_CLIENT_CERT_KEY_FILE: clientCredentialFields.OIDC_CLIENT_CERT_KEY_FILE.parse(pki.client.keyPath),
        OIDC_CA_FILE: undefined,
      };
      assert.deepEqual(clientCertificateProblems(env), []);
      const validTo = Date.parse(new X509Certificate(pki.client.cert).validTo);
      has(clientCertificateProblems(env, validTo + 1), 'OIDC_CLIENT_CERT_FILE', pki.client.certPath, 'expired on');
    });

    it('needs both certificate files, and a key that belongs to the certificate', () => {
      has(problemsOf({ ...VALID, OIDC_CLIENT_AUTH: 'tls_client_auth' }), 'OIDC_CLIENT_CERT_FILE and OIDC_CLIENT_CERT_KEY_FILE (PEM) are required');
      has(
        problemsOf({ ...VALID, OIDC_CLIENT_AUTH: 'tls_client_auth', OIDC_CLIENT_CERT_FILE: pki.client.certPath }),
        'OIDC_CLIENT_CERT_KEY_FILE (PEM) is required',
      );
      has(problemsOf({ ...VALID, OIDC_CLIENT_SECRET: 'client-secret', OIDC_CLIENT_CERT_KEY_FILE: pki.client.keyPath }), 'set both or neither');
      has(
        problemsOf({
          ...VALID,
          OIDC_CLIENT_AUTH: 'tls_client_auth',
          OIDC_CLIENT_CERT_FILE: pki.client.certPath,
          OIDC_CLIENT_CERT_KEY_FILE: pki.stranger.keyPath,
        }),
        'is not the private key of the certificate',
        pki.stranger.keyPath,
        pki.client.certPath,
      );
    });
  });

  it('reports every problem at once (missing file, bad PEM, missing certificate, other variables), naming paths, never content', () => {
    const secretText = 'THIS-IS-KEY-MATERIAL-0123456789';
    const badPem = file('bad.pem', `-----BEGIN PRIVATE KEY-----\n${secretText}\n-----END PRIVATE KEY-----\n`);
    const noCert = file('no-cert.pem', `${secretText}\n`);
    const missing = join(pki.dir, 'does-not-exist.pem');
    const problems = problemsOf({
      ...VALID,
      OIDC_CLIENT_AUTH: 'tls_client_auth',
      OIDC_CLIENT_CERT_KEY_FILE: badPem,
      OIDC_CA_FILE: noCert,
      OIDC_CLIENT_KEY_FILE: missing,
      LOG_LEVEL: 'loud',
    });
    has(problems, 'OIDC_CLIENT_CERT_KEY_FILE', badPem, 'cannot be parsed');
    has(problems, 'OIDC_CA_FILE', noCert, 'no PEM certificate');
    has(problems, 'OIDC_CLIENT_KEY_FILE', missing, 'does not exist');
    has(problems, 'OIDC_CLIENT_CERT_FILE (PEM) is required with OIDC_CLIENT_AUTH=tls_client_auth');
    has(problems, 'OIDC_CLIENT_KEY_FILE is only used with OIDC_CLIENT_AUTH=private_key_jwt');
    has(problems, 'LOG_LEVEL');
    assert.ok(!problems.join('\n').includes(secretText));

    const notJson = file('broken.jwk.json', `{"kty":"EC","d":"${secretText}"`);
    const jsonProblems = problemsOf({ ...VALID, OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_KEY_FILE: notJson });
    has(jsonProblems, 'OIDC_CLIENT_KEY_FILE', notJson, 'not valid JSON');
    assert.ok(!jsonProblems.join('\n').includes(secretText));
  });

  it('keeps key material out of JSON.stringify, util.inspect and every enumerable field of the configuration', () => {
    const key = writeClientKey(pki.dir, 'hidden', { type: 'rsa' }, 'jwk', { kid: 'k' });
    const d = JSON.parse(key.content).d as string;
    const jwt = loadConfig({ ...VALID, OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_KEY_FILE: key.path }, random);
    const tls = loadConfig(
      { ...VALID, OIDC_CLIENT_AUTH: 'tls_client_auth', OIDC_CLIENT_CERT_FILE: pki.client.certPath, OIDC_CLIENT_CERT_KEY_FILE: pki.client.keyPath },
      random,
    );
    const certKeyBody = pemBody(tls.oidc.tls.clientCertificate!.key.pem());
    for (const [c, secret] of [
      [jwt, d],
      [tls, certKeyBody],
    ] as const) {
      for (const shown of [
        JSON.stringify(c),
        inspect(c, { depth: Infinity, showHidden: true }),
        String(c.oidc.assertionKey?.file ?? c.oidc.tls.clientCertificate?.key),
      ]) {
        assert.ok(!shown.includes(secret.slice(0, 40)), 'key material shown');
      }
    }
    assert.match(JSON.stringify(jwt.oidc.assertionKey), /"key":"\[redacted\]"/);
    assert.ok(Object.isFrozen(jwt.oidc.assertionKey) && Object.isFrozen(tls.oidc.tls));
  });
});

function shortRsaPem(): string {
  return generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

const pemBody = (pem: string) => pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
