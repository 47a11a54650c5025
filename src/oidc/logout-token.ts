import { decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Asymmetric algorithms only: an HS256 or `none` logout token is never accepted. */
export const LOGOUT_TOKEN_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519', 'RS384', 'PS384', 'ES384', 'RS512', 'PS512', 'ES512'];
// Real IdPs send `logout+jwt` (the spec's recommendation), `JWT`, or nothing.
const TYPES = new Set(['logout+jwt', 'application/logout+jwt', 'jwt']);

export interface LogoutTokenChecks {
  issuer: string;
  clientId: string;
  keys: JWTVerifyGetKey;
  /** How old (by `iat`) a logout token may be, in seconds. */
  maxAgeSeconds: number;
  /** Seconds of clock difference tolerated with the IdP. */
  clockToleranceSeconds: number;
  now: () => number;
}

/** What a valid logout token names: the IdP session, the user, or both; `jti` for replay detection. */
export interface LogoutClaims {
  sid: string | undefined;
  sub: string | undefined;
  jti: string;
  iat: number;
}

/** A logout token refused; `reason` names the failed check (for the log, and the 400's description). */
export class LogoutTokenError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'LogoutTokenError';
  }
}

/**
 * Validates a logout token as OpenID Connect Back-Channel Logout 1.0 §2.6 asks: a JWS signed
 * by the IdP (keys from its JWKS, refetched on an unknown `kid`), `iss`, `aud`, `iat` recent,
 * `exp` when present, the back-channel-logout event, `sid` and/or `sub`, no `nonce`, a `jti`.
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#Validation
 */
export async function verifyLogoutToken(token: string, c: LogoutTokenChecks): Promise<LogoutClaims> {
  let typ: unknown;
  try {
    typ = decodeProtectedHeader(token).typ;
  } catch {
    throw new LogoutTokenError('not a JWS');
  }
  if (typ !== undefined && (typeof typ !== 'string' || !TYPES.has(typ.toLowerCase()))) throw new LogoutTokenError(`unexpected typ ${String(typ)}`);

  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, c.keys, {
      issuer: c.issuer,
      audience: c.clientId,
      algorithms: LOGOUT_TOKEN_ALGS,
      clockTolerance: c.clockToleranceSeconds,
      currentDate: new Date(c.now()),
      requiredClaims: ['iat'],
    }));
  } catch (err) {
    // The IdP's JWKS could not be fetched: a dependency fault, not a bad token.
    if (err instanceof errors.JWKSTimeout || !(err instanceof errors.JOSEError)) throw err;
    throw new LogoutTokenError(joseReason(err));
  }
  const nowSeconds = c.now() / 1000;
  const iat = payload['iat'] as number;
  if (iat < nowSeconds - c.maxAgeSeconds) throw new LogoutTokenError('iat too old');
  if (iat > nowSeconds + c.clockToleranceSeconds) throw new LogoutTokenError('iat in the future');
  const events = payload['events'];
  if (
    !events ||
    typeof events !== 'object' ||
    typeof (events as Record<string, unknown>)[EVENT] !== 'object' ||
    (events as Record<string, unknown>)[EVENT] === null
  ) {
    throw new LogoutTokenError('events claim without the back-channel-logout event');
  }
  if ('nonce' in payload) throw new LogoutTokenError('nonce present');
  const sid = typeof payload['sid'] === 'string' && payload['sid'] !== '' ? payload['sid'] : undefined;
  const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
  if (!sid && !sub) throw new LogoutTokenError('neither sid nor sub');
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti === '') throw new LogoutTokenError('jti missing');
  return { sid, sub, jti, iat };
}

function joseReason(err: unknown): string {
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim}: ${err.reason}`;
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no matching key in the JWKS';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature invalid';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof errors.JOSEError) return err.code;
  return 'unverifiable';
}
