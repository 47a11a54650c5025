import * as oidc from 'openid-client';
import { BffError } from '../errors/bff-error.js';
import type { LogEvent } from '../observability/log-events.js';

/**
 * What went wrong in a call to the IdP, in the classes that decide what we do next:
 * - `rejected`: the IdP refused the request for good: any 4xx but 408/429 (invalid_grant,
 *   invalid_client, the invalid_request some certified OPs send for a revoked refresh token, a
 *   bare 400/403/404): the code or refresh token is dead, retrying cannot help.
 * - `unreachable`: network error, timeout, or 408: try again later, keep the session.
 * - `server_error`: 5xx, 429, or an OAuth error that says itself it is transient: try again
 *   later, keep the session.
 * - `invalid_response`: the IdP answered, but its response failed validation (signature,
 *   issuer, audience, nonce, timestamps): never trusted, never retried blindly.
 */
export type IdpFailureKind = 'rejected' | 'unreachable' | 'server_error' | 'invalid_response';

export interface IdpFailure {
  kind: IdpFailureKind;
  /** Operator-facing, for the log: the IdP's error code or the failed check. */
  detail: string;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * OAuth error codes with which an IdP says itself that the failure is passing, whatever the
 * status it sends them with (RFC 6749 4.1.2.1; RFC 8628 3.5; RFC 9449 8): logging every user
 * out because the IdP throttles or hiccups would turn an IdP incident into an outage of ours.
 */
const TRANSIENT_OAUTH_ERRORS = new Set(['temporarily_unavailable', 'server_error', 'slow_down', 'use_dpop_nonce']);

/**
 * What an HTTP status alone says. A 4xx is the IdP refusing this request for good, except 408
 * (the IdP timed the request out) and 429 (it throttles): those, and 5xx, are the IdP's trouble.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-15.5
 */
function kindOfStatus(status: number): IdpFailureKind {
  if (status === 408) return 'unreachable';
  if (status === 429 || status >= 500) return 'server_error';
  if (status >= 400) return 'rejected';
  return 'invalid_response';
}

export function classifyIdp(err: unknown): IdpFailure {
  if (err instanceof oidc.ResponseBodyError) {
    const kind = TRANSIENT_OAUTH_ERRORS.has(err.error) ? 'server_error' : kindOfStatus(err.status);
    return { kind, detail: `${err.status} ${err.error}` };
  }
  if (err instanceof oidc.WWWAuthenticateChallengeError) {
    // 401 with a challenge: our client authentication was refused (invalid_client).
    return { kind: kindOfStatus(err.status), detail: `${err.status} WWW-Authenticate challenge` };
  }
  const code = (err as { code?: unknown }).code;
  if (code === 'OAUTH_TIMEOUT' || code === 'OAUTH_ABORT') return { kind: 'unreachable', detail: 'timeout' };
  if (code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || code === 'OAUTH_RESPONSE_IS_NOT_JSON') {
    // openid-client puts the Response in `cause`: a 4xx/5xx without an OAuth error body (HTML, empty).
    const status = (err as { cause?: { status?: unknown } }).cause?.status;
    if (typeof status === 'number') return { kind: kindOfStatus(status), detail: `HTTP ${status} without a usable body` };
  }
  if (err instanceof TypeError) {
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    if (typeof cause?.code === 'string' && NETWORK_CODES.has(cause.code)) return { kind: 'unreachable', detail: cause.code };
    if (err.message === 'fetch failed') return { kind: 'unreachable', detail: String(cause?.message ?? 'fetch failed') };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { kind: 'invalid_response', detail: typeof code === 'string' ? `${code}: ${message}` : message };
}

/** A failed IdP call outside the code/refresh grants (PAR, revocation): the user can only retry. */
export function classifyIdpFailure(err: unknown, event: LogEvent): BffError {
  const failure = classifyIdp(err);
  const code = failure.kind === 'unreachable' ? 'idp_unreachable' : 'idp_error';
  return new BffError(code, { detail: failure.detail, cause: err, event });
}
