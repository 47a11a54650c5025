import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Authenticated encryption of session data at rest (Redis) and in cookies: AES-256-GCM with a
 * 96-bit random IV, keys derived from SESSION_SECRETS with HKDF-SHA256.
 *
 * Format: `1.<kid>.<base64url(iv | ciphertext | tag)>`: a format version, then the id of the
 * key that sealed it, so formats and keys can change under live sessions. The first secret
 * seals; every secret unseals (rotation by prepending a new secret). A value that does not
 * unseal is simply `undefined`, which callers treat as "anonymous".
 *
 * Every value is also bound to the deployment that sealed it (`deployment`: the issuer, client
 * id and public origin) as associated data: two deployments that share SESSION_SECRETS cannot
 * open each other's cookies or stored sessions.
 *
 * node:crypto rather than JWE: the same AEAD with a smaller envelope (no JSON header) and no
 * async WebCrypto hop on the per-request path.
 */
export interface Sealer {
  seal(plaintext: string, aad: string): string;
  /** `undefined` for anything that is not a value sealed by one of our keys for this `aad`. */
  unseal(sealed: string, aad: string): { plaintext: string; stale: boolean } | undefined;
}

const VERSION = '1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

interface Key {
  kid: string;
  key: Buffer;
}

function deriveKey(secret: string): Key {
  const key = Buffer.from(hkdfSync('sha256', secret, 'oidc-bff', 'seal v1 aes-256-gcm', 32));
  // The key id reveals nothing about the key: it is a hash of it, cut short.
  const kid = createHash('sha256').update(key).digest('base64url').slice(0, 8);
  return { kid, key };
}

export function createSealer(secrets: readonly string[], deployment = ''): Sealer {
  if (secrets.length === 0) throw new Error('createSealer needs at least one secret');
  const bound = (aad: string) => Buffer.from(deployment ? `${deployment}\n${aad}` : aad);
  const keys = secrets.map(deriveKey);
  const current = keys[0]!;
  const byKid = new Map(keys.map((k) => [k.kid, k]));

  return {
    seal(plaintext, aad) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv);
      cipher.setAAD(bound(aad));
      const body = Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${VERSION}.${current.kid}.${body.toString('base64url')}`;
    },
    unseal(sealed, aad) {
      if (typeof sealed !== 'string' || sealed.length > 1_000_000) return undefined;
      const [version, kid, payload, extra] = sealed.split('.');
      if (version !== VERSION || kid === undefined || payload === undefined || extra !== undefined) return undefined;
      const key = byKid.get(kid);
      if (!key) return undefined;
      const body = Buffer.from(payload, 'base64url');
      // Only the canonical encoding: the decoder skips stray or surplus characters, so without
      // this a value with one character appended would open as the original.
      if (body.length < IV_BYTES + TAG_BYTES || body.toString('base64url') !== payload) return undefined;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key.key, body.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
        decipher.setAAD(bound(aad));
        decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
        const plaintext = Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
        return { plaintext, stale: key !== current };
      } catch {
        return undefined;
      }
    },
  };
}
