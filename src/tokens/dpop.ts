import { createHash, randomUUID, webcrypto } from 'node:crypto';
import { SignJWT } from 'jose';
import * as oidc from 'openid-client';

/**
 * DPoP (RFC 9449) keys and proofs. Each session has its own ES256 key, generated at login and
 * sealed with the tokens it binds; the private half never leaves the session record.
 */
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** A fresh private key, as the JWK the session keeps. */
export async function createDpopKey(): Promise<webcrypto.JsonWebKey> {
  const pair = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  return webcrypto.subtle.exportKey('jwk', pair.privateKey);
}

export interface DpopKey {
  readonly pair: webcrypto.CryptoKeyPair;
  /** The public JWK that goes into every proof's header. */
  readonly publicJwk: { kty: string; crv: string; x: string; y: string };
}

// Importing a key costs two WebCrypto calls; sessions re-use theirs on every DPoP request.
const imported = new Map<string, Promise<DpopKey>>();
const MAX_IMPORTED = 10_000;

/** The session's key, ready to sign (kept imported for the sessions seen most recently). */
export function dpopKey(jwk: webcrypto.JsonWebKey): Promise<DpopKey> {
  const id = jwk.d ?? '';
  let key = imported.get(id);
  if (!key) {
    key = importDpopKey(jwk);
    imported.set(id, key);
    if (imported.size > MAX_IMPORTED) imported.delete(imported.keys().next().value!);
  }
  return key;
}

async function importDpopKey(jwk: webcrypto.JsonWebKey): Promise<DpopKey> {
  const { kty = 'EC', crv = 'P-256', x = '', y = '' } = jwk;
  const publicJwk = { kty, crv, x, y };
  const [privateKey, publicKey] = await Promise.all([
    webcrypto.subtle.importKey('jwk', jwk, ALGORITHM, false, ['sign']),
    webcrypto.subtle.importKey('jwk', publicJwk, ALGORITHM, true, ['verify']),
  ]);
  return { pair: { privateKey, publicKey }, publicJwk };
}

// A handle remembers the IdP's latest DPoP nonce: one per key, so that a session's next token
// request sends the nonce at once instead of paying a use_dpop_nonce round trip every time.
const handles = new WeakMap<DpopKey, { configuration: oidc.Configuration; handle: oidc.DPoPHandle }>();

/** The openid-client handle that adds proofs (and handles `use_dpop_nonce` retries) at the token endpoint. */
export function tokenEndpointDpop(configuration: oidc.Configuration, key: DpopKey): oidc.DPoPHandle {
  const known = handles.get(key);
  if (known?.configuration === configuration) return known.handle;
  const handle = oidc.getDPoPHandle(configuration, key.pair as Parameters<typeof oidc.getDPoPHandle>[1]);
  handles.set(key, { configuration, handle });
  return handle;
}

/**
 * A proof for one upstream request (RFC 9449 4.2): bound to the method, the URL without
 * query and fragment, the access token (`ath`) and, when the resource server gave one, its nonce.
 */
export function upstreamProof(key: DpopKey, method: string, url: URL, accessToken: string, nonce: string | undefined): Promise<string> {
  return new SignJWT({
    htm: method,
    htu: `${url.origin}${url.pathname}`,
    ath: createHash('sha256').update(accessToken).digest('base64url'),
    ...(nonce ? { nonce } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk })
    .setIssuedAt()
    .setJti(randomUUID())
    .sign(key.pair.privateKey);
}
