// Throwaway key material for client-authentication tests: a private CA with a server and client
// certificates (openssl CLI), and private_key_jwt keys in the formats operators hand us.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PemFiles {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  ca: PemFiles;
  /** Server certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1), issued by the CA. */
  server: PemFiles;
  /** Client certificate CN=oidc-bff-test-client, issued by the CA. */
  client: PemFiles;
  /** Another client certificate of the same CA, CN=someone-else. */
  stranger: PemFiles;
  cleanup(): void;
}

export const CLIENT_DN = 'CN=oidc-bff-test-client';

/** Creates the PKI in a fresh temporary directory; cleanup() deletes it. */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-bff-pki-'));
  const at = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const newKey = (name: string) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', at(`${name}.key`));

  newKey('ca');
  openssl(
    'req',
    '-x509',
    '-new',
    '-key',
    at('ca.key'),
    '-out',
    at('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=oidc-bff test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );

  const issue = (name: string, subject: string, extensions: string): PemFiles => {
    newKey(name);
    openssl('req', '-new', '-key', at(`${name}.key`), '-out', at(`${name}.csr`), '-subj', subject);
    writeFileSync(at(`${name}.ext`), extensions);
    openssl(
      'x509',
      '-req',
      '-in',
      at(`${name}.csr`),
      '-CA',
      at('ca.pem'),
      '-CAkey',
      at('ca.key'),
      '-set_serial',
      String(Date.now()),
      '-days',
      '2',
      '-out',
      at(`${name}.pem`),
      '-extfile',
      at(`${name}.ext`),
    );
    return files(at(`${name}.pem`), at(`${name}.key`));
  };

  return {
    dir,
    ca: files(at('ca.pem'), at('ca.key')),
    server: issue('server', '/CN=127.0.0.1', 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'),
    client: issue('client', `/${CLIENT_DN}`, 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n'),
    stranger: issue('stranger', '/CN=someone-else', 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function files(certPath: string, keyPath: string): PemFiles {
  return { certPath, keyPath, cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}

export interface ClientKeyFile {
  path: string;
  /** The file's content: what must never show up in a log. */
  content: string;
  /** The public JWK to register at the IdP (with `kid` when given). */
  publicJwk: Record<string, unknown>;
  privateKey: KeyObject;
}

type KeySpec = { type: 'rsa' } | { type: 'ec'; curve: 'P-256' | 'P-384' | 'P-521' } | { type: 'ed25519' };

/** Writes a private key for private_key_jwt into `dir`, as a JWK (with optional members) or a PKCS#8 PEM. */
export function writeClientKey(dir: string, name: string, spec: KeySpec, format: 'jwk' | 'pem', jwkMembers: Record<string, unknown> = {}): ClientKeyFile {
  const { privateKey, publicKey } =
    spec.type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : spec.type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: spec.curve })
        : generateKeyPairSync('ed25519');
  const content =
    format === 'jwk'
      ? JSON.stringify({ ...privateKey.export({ format: 'jwk' }), ...jwkMembers }, null, 2)
      : privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const path = join(dir, `${name}.${format === 'jwk' ? 'jwk.json' : 'pem'}`);
  writeFileSync(path, content, { mode: 0o600 });
  const kid = jwkMembers['kid'];
  return { path, content, publicJwk: { ...publicKey.export({ format: 'jwk' }), ...(typeof kid === 'string' ? { kid } : {}) }, privateKey };
}
