import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../config/load.js';
import type { KeyValueStore } from '../store/store.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** How far ahead an assertion's `exp` may lie: it proves one request, not a session. */
export const MAX_ASSERTION_LIFETIME_S = 300;

/** Why an assertion was refused, for the log (never the assertion itself). */
export class AssertionRefused extends Error {}

export interface AssertionDeps {
  config: Config;
  /** Where used `jti`s are remembered: the shared store, so a replay to another instance is refused too. */
  store: Pick<KeyValueStore, 'setIfAbsent'>;
  now: () => number;
}

interface ClientKey {
  kid: string | undefined;
  algs: readonly string[];
  key: KeyObject;
}

/**
 * private_key_jwt for the gateway clients of GATEWAY_CLIENT_KEYS (RFC 7523 2.2 and 3, OIDC Core
 * 9): the client id whose key signed `client_assertion`, or AssertionRefused. `iss` = `sub` = the
 * client, `aud` = the BFF (its origin, the issuer of its RFC 9701 answers, or the introspection
 * endpoint's URL), `exp` within MAX_ASSERTION_LIFETIME_S, `jti` used once, asymmetric algorithms
 * of the client's own keys only.
 */
export function createAssertionVerifier({ config, store, now }: AssertionDeps) {
  const clients = new Map<string, ClientKey[]>(
    config.gatewayIntrospection.keyClients.map((c) => [
      c.id,
      c.keys.map((k) => ({ kid: k.jwk.kid, algs: k.algs, key: createPublicKey({ key: k.jwk, format: 'jwk' }) })),
    ]),
  );
  const origin = config.publicOrigin;
  // RFC 7523 3: aud identifies the authorization server; the token (here: introspection)
  // endpoint's URL MAY be used. Both name this BFF alone, so an assertion made for another
  // server is never accepted here.
  const audience = [origin, `${origin}${config.gatewayIntrospection.path ?? ''}`];
  const tolerance = config.oidc.clockToleranceSeconds;

  return async (form: URLSearchParams): Promise<string> => {
    if (form.get('client_assertion_type') !== JWT_BEARER) throw new AssertionRefused('client_assertion_type is not jwt-bearer');
    const assertion = form.get('client_assertion') ?? '';
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(assertion);
      unverified = decodeJwt(assertion);
    } catch {
      throw new AssertionRefused('client_assertion is not a JWT');
    }
    const id = typeof unverified.iss === 'string' ? unverified.iss : '';
    const keys = clients.get(id);
    // A Basic client, or an unknown one: it is not registered for this method.
    if (!keys) throw new AssertionRefused('iss is not a private_key_jwt gateway client');
    const formId = form.get('client_id');
    if (formId !== null && formId !== id) throw new AssertionRefused('client_id differs from the assertion iss');
    const alg = typeof header.alg === 'string' ? header.alg : '';
    // Only the client's own asymmetric keys, each with its algorithms: no none, no HS* (a public key used as an HMAC secret).
    // The header's kid picks among keys that have one; a key without (PEM) may have signed under any kid.
    const candidates = keys.filter((k) => k.algs.includes(alg) && (header.kid === undefined || k.kid === undefined || header.kid === k.kid));
    if (candidates.length === 0)
      throw new AssertionRefused(`no key of ${id} verifies alg ${alg || '(none)'}${header.kid === undefined ? '' : ' with that kid'}`);

    const payload = await verifyWithAny(assertion, candidates, {
      algorithms: [alg],
      issuer: id,
      subject: id,
      audience,
      requiredClaims: ['exp', 'jti'],
      clockTolerance: tolerance,
      currentDate: new Date(now()),
    });
    const nowS = now() / 1000;
    if (payload.exp! > nowS + MAX_ASSERTION_LIFETIME_S + tolerance) throw new AssertionRefused(`exp more than ${MAX_ASSERTION_LIFETIME_S} s ahead`);
    if (payload.iat !== undefined && payload.iat > nowS + tolerance) throw new AssertionRefused('iat in the future');
    if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256) throw new AssertionRefused('jti missing or malformed');
    // Single use while it could be accepted at all: remembered until exp plus the tolerance, on every instance.
    const ttlMs = Math.max(1_000, Math.ceil((payload.exp! + tolerance - nowS) * 1000));
    const replayKey = `ga:${createHash('sha256').update(`${id}\n${payload.jti}`).digest('base64url')}`;
    if (!(await store.setIfAbsent(replayKey, '1', ttlMs))) throw new AssertionRefused('jti replayed');
    return id;
  };
}

async function verifyWithAny(assertion: string, keys: ClientKey[], options: Parameters<typeof jwtVerify>[2]): Promise<JWTPayload> {
  let last: unknown;
  for (const { key } of keys) {
    try {
      return (await jwtVerify(assertion, key, options)).payload;
    } catch (err) {
      last = err;
      // Another key of the client (a rotation without kid) may have signed it; a claim problem is final.
      if (!(err instanceof errors.JWSSignatureVerificationFailed)) break;
    }
  }
  throw new AssertionRefused(last instanceof errors.JOSEError ? `${last.code}: ${last.message}` : 'the assertion does not verify');
}
