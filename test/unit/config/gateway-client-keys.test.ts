import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { problemsOf, randomSecret, VALID_ENV } from './config-fixture.js';

describe('GATEWAY_CLIENT_KEYS: the private_key_jwt gateway clients and their public keys', () => {
  let dir: string;
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');
  const BASIC = 'basic-gw:a-gateway-secret-that-is-long-enough-0123';
  const base = { ...VALID_ENV, GATEWAY_INTROSPECTION_PATH: '/gateway/introspect' };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bff-gw-keys-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('warns that without Redis a client assertion is single-use on one instance only', () => {
    const pem = file('w.pem', ec.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const warned = (env: Record<string, string>) =>
      loadConfig({ ...base, GATEWAY_CLIENT_KEYS: `w-gw:${pem}`, ...env }, randomSecret).warnings.filter((w) => w.startsWith('GATEWAY_CLIENT_KEYS'));
    assert.equal(warned({ SESSION_STORE: 'cookie', REDIS_URL: '' }).length, 1);
    assert.deepEqual(warned({ SESSION_STORE: 'redis', REDIS_URL: 'redis://127.0.0.1:6379' }), []);
  });

  it('reads a JWK Set of several keys (a rotation) and a PEM public key; each key keeps its kid and algorithms', () => {
    const jwks = file(
      'a.jwks.json',
      JSON.stringify({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' }, ed.publicKey.export({ format: 'jwk' })] }),
    );
    const pem = file('b.pem', ec.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const config = loadConfig({ ...base, GATEWAY_CLIENTS: BASIC, GATEWAY_CLIENT_KEYS: `a-gw:${jwks}, b-gw:${pem}` }, randomSecret);
    const [a, b] = config.gatewayIntrospection.keyClients;
    assert.equal(a!.id, 'a-gw');
    assert.deepEqual(
      a!.keys.map((k) => [k.jwk.kid, k.algs]),
      [
        ['k1', ['ES256']],
        [undefined, ['EdDSA', 'Ed25519']],
      ],
    );
    assert.equal(b!.id, 'b-gw');
    assert.deepEqual(b!.keys[0]!.algs, ['ES256']);
    assert.equal(config.gatewayIntrospection.clients[0]!.id, 'basic-gw', 'the Basic clients stay as they were');
  });

  it('a private key is refused (the BFF needs only the public half), and so are a symmetric key and a short RSA key', () => {
    const priv = file('private.jwk.json', JSON.stringify(ec.privateKey.export({ format: 'jwk' })));
    const privPem = file('private.pem', ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const oct = file('oct.jwk.json', JSON.stringify({ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA' }));
    const short = file('short.pem', generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const problems = problemsOf({ ...base, GATEWAY_CLIENT_KEYS: `a:${priv},b:${privPem},c:${oct},d:${short}` }).join(' | ');
    assert.match(problems, /GATEWAY_CLIENT_KEYS \(a\): .*private key; give the BFF only the public key/);
    assert.match(problems, /GATEWAY_CLIENT_KEYS \(b\): .*private key/);
    assert.match(problems, /GATEWAY_CLIENT_KEYS \(c\): .*symmetric key/);
    assert.match(problems, /GATEWAY_CLIENT_KEYS \(d\): .*cannot verify client assertions/);
    assert.ok(!problems.includes(String(ec.privateKey.export({ format: 'jwk' }).d)), 'key material is never echoed');
  });

  it('a client is registered for one method: an id in both GATEWAY_CLIENTS and GATEWAY_CLIENT_KEYS is refused', () => {
    const pem = file('both.pem', ec.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const problems = problemsOf({ ...base, GATEWAY_CLIENTS: BASIC, GATEWAY_CLIENT_KEYS: `basic-gw:${pem}` });
    assert.ok(
      problems.some((p) => /client basic-gw is also in GATEWAY_CLIENTS/.test(p)),
      problems.join(' | '),
    );
  });

  it('a missing file, a malformed entry and a JWK whose alg its key cannot verify are reported', () => {
    const wrongAlg = file('wrong-alg.jwk.json', JSON.stringify({ ...ec.publicKey.export({ format: 'jwk' }), alg: 'RS256' }));
    const problems = problemsOf({ ...base, GATEWAY_CLIENT_KEYS: `a:${join(dir, 'nope.pem')},no-path,c:${wrongAlg}` }).join(' | ');
    assert.match(problems, /GATEWAY_CLIENT_KEYS \(a\): .*nope\.pem does not exist/);
    assert.match(problems, /GATEWAY_CLIENT_KEYS entry #2 must be id:path/);
    assert.match(problems, /says alg RS256, which its key cannot verify/);
  });
});
