import * as oidc from 'openid-client';
import { BffError } from '../errors/bff-error.js';
import type { LogEvent } from '../observability/log-events.js';

/**
 * What went wrong in a call to the IdP, in the classes that decide what we do next:
 * - `rejected`: the IdP refused the grant or our client (invalid_grant, invalid_client, or a
 *   4xx without a usable body, as some IdPs send): the code or refresh token is dead.
 * - `unreachable`: network error or timeout: try again later, keep the session.
 * - `server_error`: 5xx: try again later, keep the session.
 * - `invalid_response`: the IdP answered, but its response failed validation (signature,
 *   issuer, audience, nonce, timestamps): never trusted, never retried blindly.
 */
export type IdpFailureKind = 'rejected' | 'unreachable' | 'server_error' | 'invalid_response';

export interface IdpFailure {
  kind: IdpFailureKind;
  /** Operator-facing, for the log: the IdP's error code or the failed check. */
  detail: string;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * The OAuth errors that mean the grant or the client is dead. Anything else from the IdP
 * (429, temporarily_unavailable, invalid_request…) keeps the session: logging every user out
 * because the IdP throttles or hiccups would turn an IdP incident into an outage of ours.
 */
const FATAL_OAUTH_ERRORS = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client']);

export function classifyIdp(err: unknown): IdpFailure {
  if (err instanceof oidc.ResponseBodyError) {
    return { kind: FATAL_OAUTH_ERRORS.has(err.error) ? 'rejected' : 'server_error', detail: `${err.status} ${err.error}` };
  }
  if (err instanceof oidc.WWWAuthenticateChallengeError) {
    // 401 with a challenge: our client authentication was refused (invalid_client).
    return { kind: err.status === 401 ? 'rejected' : 'server_error', detail: `${err.status} WWW-Authenticate challenge` };
  }
  const code = (err as { code?: unknown }).code;
  if (code === 'OAUTH_TIMEOUT' || code === 'OAUTH_ABORT') return { kind: 'unreachable', detail: 'timeout' };
  if (code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || code === 'OAUTH_RESPONSE_IS_NOT_JSON') {
    const status = (err as { cause?: { status?: unknown } }).cause?.status;
    if (typeof status === 'number') {
      // Some IdPs answer a dead refresh token with a bare 400 (or 401): treated as invalid_grant.
      const kind = status === 400 || status === 401 ? 'rejected' : status >= 400 ? 'server_error' : 'invalid_response';
      return { kind, detail: `HTTP ${status} without a usable body` };
    }
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
