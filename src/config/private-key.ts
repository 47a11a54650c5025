import { createHash, createPrivateKey, createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A private key read from a file. The key lives in a private field, so JSON.stringify, pino and
 * util.inspect of the configuration show only the path: key material never reaches a log.
 */
export class PrivateKeyFile {
  readonly #key: KeyObject;

  constructor(
    readonly path: string,
    key: KeyObject,
  ) {
    this.#key = key;
  }

  /** The key itself, for the one caller that signs or opens a TLS connection with it. */
  keyObject(): KeyObject {
    return this.#key;
  }

  /** PKCS#8 PEM: node:tls takes PEM text, not a KeyObject. */
  pem(): string {
    return this.#key.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  toJSON(): Record<string, string> {
    return { path: this.path, key: REDACTED };
  }

  toString(): string {
    return `PrivateKeyFile(${this.path}, ${REDACTED})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** A key file as read: the key, and what the file says about it (JWK members, a certificate). */
export interface LoadedKey {
  file: PrivateKeyFile;
  /** The JWK's own `kid` and `alg`, when the file is a JWK. */
  kid?: string;
  alg?: string;
  /** The certificate of the key (JWK `x5c`, or a CERTIFICATE block next to a PEM key), for `x5t`. */
  certificate?: X509Certificate;
  /** A JWK's own `x5t`, when it gives one without `x5c`. */
  x5t?: string;
}

export type Read<T> = { value: T } | { problem: string };

/**
 * Reads a private key from a JWK (JSON; a JWK Set with one key is accepted too) or PEM file.
 * Problems name the setting and the path and say what is wrong, never what the file holds.
 */
export function readPrivateKeyFile(name: string, path: string): Read<LoadedKey> {
  const text = readText(name, path);
  if ('problem' in text) return text;
  const content = text.value.trim();
  return content.startsWith('{') ? fromJwk(name, path, content) : fromPem(name, path, content);
}

/** Reads every CERTIFICATE block of a PEM file (a chain, or a CA bundle). */
export function readCertificateFile(name: string, path: string): Read<X509Certificate[]> {
  const text = readText(name, path);
  if ('problem' in text) return text;
  const blocks = pemBlocks(text.value, 'CERTIFICATE');
  if (blocks.length === 0) return { problem: `${name}: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` };
  try {
    return { value: blocks.map((b) => new X509Certificate(b)) };
  } catch {
    return { problem: `${name}: ${path} holds a PEM certificate that cannot be parsed` };
  }
}

export function readText(name: string, path: string): Read<string> {
  try {
    return { value: readFileSync(path, 'utf8') };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES'
            ? 'is not readable by this process'
            : `cannot be read (${String(code)})`;
    return { problem: `${name}: ${path} ${why}` };
  }
}

function fromJwk(name: string, path: string, content: string): Read<LoadedKey> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    // JSON.parse quotes the text around the error: never repeat its message.
    return { problem: `${name}: ${path} starts like JSON but is not valid JSON` };
  }
  const keys = (parsed as { keys?: unknown }).keys;
  const jwk = (Array.isArray(keys) ? (keys.length === 1 ? keys[0] : undefined) : parsed) as
    (JsonWebKey & { kid?: unknown; alg?: unknown; x5c?: unknown; x5t?: unknown }) | undefined;
  if (!jwk || typeof jwk !== 'object')
    return { problem: `${name}: ${path} is a JWK Set with ${Array.isArray(keys) ? keys.length : 0} keys; it must hold exactly one` };
  if (typeof jwk.d !== 'string') return { problem: `${name}: ${path} is a public JWK; the private key (with "d") is needed` };
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: jwk, format: 'jwk' });
  } catch {
    return { problem: `${name}: ${path} is not a usable private JWK (kty ${String(jwk.kty)})` };
  }
  const loaded: LoadedKey = { file: new PrivateKeyFile(path, key) };
  if (typeof jwk.kid === 'string' && jwk.kid) loaded.kid = jwk.kid;
  if (typeof jwk.alg === 'string' && jwk.alg) loaded.alg = jwk.alg;
  if (typeof jwk.x5t === 'string' && jwk.x5t) loaded.x5t = jwk.x5t;
  if (Array.isArray(jwk.x5c) && typeof jwk.x5c[0] === 'string') {
    try {
      loaded.certificate = new X509Certificate(Buffer.from(jwk.x5c[0], 'base64'));
    } catch {
      return { problem: `${name}: ${path} has an x5c certificate that cannot be parsed` };
    }
  }
  return withMatchingCertificate(name, path, loaded);
}

function fromPem(name: string, path: string, content: string): Read<LoadedKey> {
  if (!content.includes('-----BEGIN ')) return { problem: `${name}: ${path} is neither a JWK (JSON) nor a PEM file` };
  if (/-----BEGIN (ENCRYPTED PRIVATE KEY|[A-Z]+ PRIVATE KEY-----\r?\nProc-Type: 4,ENCRYPTED)/.test(content)) {
    return {
      problem: `${name}: ${path} is an encrypted private key; store it unencrypted (openssl pkey -in <file> -out <new file>) and protect the file instead`,
    };
  }
  const block = pemBlocks(content, 'PRIVATE KEY')[0];
  if (!block) return { problem: `${name}: ${path} holds no PEM private key (-----BEGIN PRIVATE KEY-----)` };
  let key: KeyObject;
  try {
    key = createPrivateKey(block);
  } catch {
    return { problem: `${name}: ${path} holds a PEM private key that cannot be parsed` };
  }
  const loaded: LoadedKey = { file: new PrivateKeyFile(path, key) };
  const cert = pemBlocks(content, 'CERTIFICATE')[0];
  if (cert) {
    try {
      loaded.certificate = new X509Certificate(cert);
    } catch {
      return { problem: `${name}: ${path} holds a PEM certificate that cannot be parsed` };
    }
  }
  return withMatchingCertificate(name, path, loaded);
}

function withMatchingCertificate(name: string, path: string, loaded: LoadedKey): Read<LoadedKey> {
  if (loaded.certificate && !loaded.certificate.checkPrivateKey(loaded.file.keyObject())) {
    return { problem: `${name}: the certificate in ${path} is not the certificate of its private key` };
  }
  return { value: loaded };
}

/** PEM blocks of one kind: `PRIVATE KEY` also matches `RSA PRIVATE KEY` and `EC PRIVATE KEY`. */
function pemBlocks(text: string, label: 'CERTIFICATE' | 'PRIVATE KEY'): string[] {
  const kind = label === 'CERTIFICATE' ? 'CERTIFICATE' : '(?:RSA |EC )?PRIVATE KEY';
  return [...text.matchAll(new RegExp(`-----BEGIN ${kind}-----[\\s\\S]*?-----END ${kind}-----`, 'g'))].map((m) => m[0]);
}

/** The JWS algorithms each key type can sign client assertions with; the first is the default. */
const ALGS_BY_KEY: Record<string, readonly string[]> = {
  rsa: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  'ec:prime256v1': ['ES256'],
  'ec:secp384r1': ['ES384'],
  'ec:secp521r1': ['ES512'],
  ed25519: ['EdDSA', 'Ed25519'],
};

/** `rsa`, `ec:<curve>`, `ed25519`…: the key's type as ALGS_BY_KEY names it. */
const keyType = (key: KeyObject): string =>
  key.asymmetricKeyType === 'ec' ? `ec:${String(key.asymmetricKeyDetails?.namedCurve)}` : String(key.asymmetricKeyType);

/**
 * The JWS algorithms a (private or public) key signs or verifies with, or undefined for a key
 * that cannot sign client assertions (symmetric, other curves, RSA under 2048 bits).
 */
export function assertionAlgs(key: KeyObject): readonly string[] | undefined {
  if (key.type === 'secret') return undefined;
  const type = keyType(key);
  if (type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return undefined;
  return ALGS_BY_KEY[type];
}

/**
 * The JWS `alg` a key signs client assertions with: the JWK's `alg` when it fits the key, else
 * the key type's (RSA → RS256, EC P-256/384/521 → ES256/384/512, Ed25519 → EdDSA).
 */
export function signingAlg(name: string, loaded: LoadedKey): Read<string> {
  const key = loaded.file.keyObject();
  const type = keyType(key);
  const algs = ALGS_BY_KEY[type];
  const path = loaded.file.path;
  // Node cannot export an RSASSA-PSS-only key as a JWK, which openid-client needs.
  if (type === 'rsa-pss')
    return {
      problem: `${name}: ${path} is an RSASSA-PSS-only key; store it as a plain RSA key (PKCS#8 rsaEncryption) and set "alg": "PS256" in a JWK to sign with PS256`,
    };
  if (!algs)
    return {
      problem: `${name}: ${path} is a ${type.replace('ec:', 'EC ')} key, which cannot sign client assertions; use RSA (2048+ bits), EC P-256/P-384/P-521 or Ed25519`,
    };
  if (type.startsWith('rsa') && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    return { problem: `${name}: ${path} is an RSA key of ${key.asymmetricKeyDetails?.modulusLength} bits; at least 2048 are needed` };
  }
  if (loaded.alg === undefined) return { value: algs[0]! };
  if (algs.includes(loaded.alg)) return { value: loaded.alg };
  return {
    problem: `${name}: the JWK in ${path} says alg ${loaded.alg}, which its ${type.replace('ec:', 'EC ')} key cannot sign with (use ${algs.join(', ')})`,
  };
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of the key's public part. */
export function jwkThumbprint(key: KeyObject): string {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const required: Record<string, readonly string[]> = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'] };
  const members = required[String(jwk.kty)] ?? [];
  // Members in lexicographic order, no whitespace: the RFC's canonical form.
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, (jwk as Record<string, unknown>)[m]])));
  return createHash('sha256').update(canonical).digest('base64url');
}

/** `x5t`: base64url SHA-1 of the certificate's DER (RFC 7515 §4.1.7), which Entra ID looks keys up by. */
export function certificateThumbprintSha1(cert: X509Certificate): string {
  return createHash('sha1').update(cert.raw).digest('base64url');
}
