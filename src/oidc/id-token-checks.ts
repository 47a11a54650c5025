/**
 * The ID token checks openid-client leaves to the relying party: how long ago `iat` may lie,
 * and whether the authentication the login asked for (`acr_values`, `max_age`) is the one
 * the IdP performed. Each returns the failed check's name for the log, or undefined.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation (items 10-13)
 */

/** What the login asked the IdP for, remembered in its transaction. */
export interface RequestedAuthentication {
  /** `acr_values` of the authorization request: the ID token's `acr` must be one of them. */
  acrValues?: readonly string[];
  /** `max_age` of the authorization request, seconds: `auth_time` must be at most this old. */
  maxAge?: number;
}

export interface TimeBounds {
  nowSeconds: number;
  /** OIDC_CLOCK_TOLERANCE: how far ahead of our clock the IdP's may run. */
  toleranceSeconds: number;
}

/**
 * `iat` no further in the future than the tolerance (an IdP clock ahead of ours, or a token
 * minted for later use), and no older than `maxAgeSeconds` (a token replayed long after it
 * was issued; `exp` alone allows as long as the IdP's ID token lifetime, often hours).
 */
export function idTokenIatProblem(claims: Record<string, unknown>, maxAgeSeconds: number, t: TimeBounds): string | undefined {
  const iat = claims['iat'];
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'iat missing';
  if (iat > t.nowSeconds + t.toleranceSeconds) return 'iat in the future';
  if (iat < t.nowSeconds - maxAgeSeconds) return 'iat too old';
  return undefined;
}

/** The requested `acr` and `max_age`, checked in the ID token (OIDC Core 3.1.2.1, 3.1.3.7 items 11-13). */
export function authenticationProblem(claims: Record<string, unknown>, requested: RequestedAuthentication, t: TimeBounds): string | undefined {
  if (requested.acrValues?.length) {
    const acr = claims['acr'];
    if (typeof acr !== 'string') return 'acr missing although acr_values were requested';
    if (!requested.acrValues.includes(acr)) return 'acr is not one of the requested acr_values';
  }
  if (requested.maxAge !== undefined) {
    const authTime = claims['auth_time'];
    if (typeof authTime !== 'number' || !Number.isFinite(authTime)) return 'auth_time missing although max_age was requested';
    if (authTime + requested.maxAge < t.nowSeconds - t.toleranceSeconds) return 'auth_time older than max_age';
    if (authTime > t.nowSeconds + t.toleranceSeconds) return 'auth_time in the future';
  }
  return undefined;
}

/** The authentication an authorization request asks for, read from its final parameters. */
export function requestedAuthentication(request: URLSearchParams): RequestedAuthentication {
  const acr = request.get('acr_values')?.split(' ').filter(Boolean);
  const maxAge = request.get('max_age');
  return {
    ...(acr?.length ? { acrValues: acr } : {}),
    ...(maxAge !== null && /^\d{1,10}$/.test(maxAge) ? { maxAge: Number(maxAge) } : {}),
  };
}
