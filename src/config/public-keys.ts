import { createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { list } from './parsers.js';
import { assertionAlgs, readText, type Read } from './private-key.js';

/** One public key of a gateway client, as plain data (the frozen Config stays comparable and printable). */
export interface GatewayClientKey {
  /** The public JWK, with the file's `kid` and `alg` when it gave them. */
  readonly jwk: Readonly<JsonWebKey & { kid?: string; alg?: string }>;
  /** The JWS algorithms an assertion may be signed with for this key: the JWK's `alg` alone, else the key type's. */
  readonly algs: readonly string[];
}

/** A gateway client that authenticates with private_key_jwt (RFC 7523 client assertions). */
export interface GatewayKeyClient {
  readonly id: string;
  readonly keys: readonly GatewayClientKey[];
}

/**
 * Reads a gateway client's public keys: a JWK, a JWK Set (several keys, for a rotation), or PEM
 * (PUBLIC KEY or CERTIFICATE blocks). A private or symmetric key is refused: the BFF needs only
 * the public half, and a shared secret would turn the assertion into a password.
 */
export function readPublicKeysFile(name: string, path: string): Read<GatewayClientKey[]> {
  const text = readText(name, path);
  if ('problem' in text) return text;
  const content = text.value.trim();
  const read = content.startsWith('{') ? fromJwks(name, path, content) : fromPem(name, path, content);
  if ('problem' in read) return read;
  if (read.value.length === 0) return { problem: `${name}: ${path} holds no public key` };
  return read;
}

function fromJwks(name: string, path: string, content: string): Read<GatewayClientKey[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    return { problem: `${name}: ${path} starts like JSON but is not valid JSON` };
  }
  const members = (parsed as { keys?: unknown }).keys;
  const jwks = (Array.isArray(members) ? members : [parsed]) as Array<JsonWebKey & { kid?: unknown; alg?: unknown; use?: unknown }>;
  const keys: GatewayClientKey[] = [];
  for (const [i, jwk] of jwks.entries()) {
    const which = `${path} key #${i + 1}`;
    if (!jwk || typeof jwk !== 'object') return { problem: `${name}: ${which} is not a JWK` };
    if (jwk.kty === 'oct') return { problem: `${name}: ${which} is a symmetric key; gateway clients sign assertions with an asymmetric key` };
    if (jwk.d !== undefined) return { problem: `${name}: ${which} is a private key; give the BFF only the public key` };
    if (jwk.use !== undefined && jwk.use !== 'sig') return { problem: `${name}: ${which} has use ${String(jwk.use)}, not sig` };
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk, format: 'jwk' });
    } catch {
      return { problem: `${name}: ${which} is not a usable public JWK (kty ${String(jwk.kty)})` };
    }
    const read = withAlgs(name, which, key, typeof jwk.alg === 'string' ? jwk.alg : undefined);
    if ('problem' in read) return read;
    const kid = typeof jwk.kid === 'string' && jwk.kid ? { kid: jwk.kid } : {};
    keys.push({ ...read.value, jwk: { ...read.value.jwk, ...kid } });
  }
  return { value: keys };
}

function fromPem(name: string, path: string, content: string): Read<GatewayClientKey[]> {
  if (!content.includes('-----BEGIN ')) return { problem: `${name}: ${path} is neither a JWK (JSON) nor a PEM file` };
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(content)) return { problem: `${name}: ${path} holds a private key; give the BFF only the public key` };
  const blocks = [...content.matchAll(/-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY|CERTIFICATE)-----[\s\S]*?-----END \1-----/g)];
  const keys: GatewayClientKey[] = [];
  for (const [i, [block, label]] of blocks.entries()) {
    const which = `${path} block #${i + 1}`;
    let key: KeyObject;
    try {
      key = label === 'CERTIFICATE' ? new X509Certificate(block).publicKey : createPublicKey(block);
    } catch {
      return { problem: `${name}: ${which} (${label}) cannot be parsed` };
    }
    const read = withAlgs(name, which, key, undefined);
    if ('problem' in read) return read;
    keys.push(read.value);
  }
  return { value: keys };
}

function withAlgs(name: string, which: string, key: KeyObject, alg: string | undefined): Read<GatewayClientKey> {
  const algs = assertionAlgs(key);
  if (!algs) return { problem: `${name}: ${which} cannot verify client assertions; use RSA (2048+ bits), EC P-256/P-384/P-521 or Ed25519` };
  if (alg !== undefined && !algs.includes(alg)) return { problem: `${name}: ${which} says alg ${alg}, which its key cannot verify (use ${algs.join(', ')})` };
  return { value: { jwk: { ...key.export({ format: 'jwk' }), ...(alg ? { alg } : {}) }, algs: alg ? [alg] : algs } };
}

/**
 * GATEWAY_CLIENT_KEYS: `id:path` pairs, comma-separated: the gateway clients that authenticate
 * with private_key_jwt, each with the file of its public key(s).
 */
export const gatewayClientKeys = (name: string) =>
  list().transform((entries, ctx) => {
    const clients = new Map<string, GatewayClientKey[]>();
    entries.forEach((entry, i) => {
      const colon = entry.indexOf(':');
      const id = colon > 0 ? entry.slice(0, colon) : '';
      const path = colon > 0 ? entry.slice(colon + 1).trim() : '';
      if (!/^[A-Za-z0-9._~-]{1,64}$/.test(id) || !path) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} entry #${i + 1} must be id:path (id of letters, digits, . _ ~ -; the path of a JWK, JWK Set or PEM public key file)`,
        });
        return;
      }
      if (clients.has(id)) {
        ctx.addIssue({ code: 'custom', message: `${name} entry #${i + 1}: client ${id} is listed twice` });
        return;
      }
      const read = readPublicKeysFile(`${name} (${id})`, path);
      if ('problem' in read) ctx.addIssue({ code: 'custom', message: read.problem });
      else clients.set(id, read.value);
    });
    return [...clients].map(([id, keys]) => ({ id, keys })) as ReadonlyArray<GatewayKeyClient>;
  });
