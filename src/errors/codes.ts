/**
 * Every error code the BFF answers with, its HTTP status and the plain-language text a user
 * or SPA developer sees. Codes are stable API: clients branch on them, never on the text.
 */
export const ERROR_CODES = {
  invalid_request: { status: 400, description: 'The request is malformed.' },
  invalid_state: { status: 400, description: 'This sign-in link is no longer valid (it was used already, has expired, or was started in another browser).' },
  invalid_path: { status: 400, description: 'The API path is not allowed.' },
  login_failed: { status: 400, description: 'The identity provider did not accept the sign-in (for example the code expired). Please sign in again.' },
  id_token_invalid: {
    status: 400,
    description:
      "The identity provider's sign-in answer was not accepted: its ID token was issued at an unexpected time (the identity provider's clock may be wrong). Please sign in again.",
  },
  redirect_uri_refused: {
    status: 400,
    description: 'The application asked to return to an address this service does not know (its redirect_uri is not registered), so nothing was done.',
  },
  logout_refused: { status: 400, description: 'This sign-out link does not belong to your session, so nothing was signed out.' },
  unauthenticated: { status: 401, description: 'You are not signed in, or your session has ended.' },
  invalid_client: {
    status: 401,
    description:
      'The gateway client is unknown or its credentials are wrong (HTTP Basic with an id and secret of GATEWAY_CLIENTS, or a client assertion signed with a key of GATEWAY_CLIENT_KEYS).',
  },
  access_denied: { status: 403, description: 'Sign-in was cancelled or refused at the identity provider.' },
  insufficient_user_authentication: {
    status: 403,
    description:
      'The identity provider did not sign you in the way this application asked for (a stronger or a more recent sign-in is required). Please sign in again.',
  },
  csrf: { status: 403, description: 'The request is missing the anti-CSRF header or comes from another site.' },
  insufficient_scope: { status: 403, description: 'Your session lacks a permission (scope) that this API requires.' },
  dpop_not_forwardable: {
    status: 403,
    description:
      'This API gets DPoP-bound tokens, which only the BFF itself can send (with a proof for each request): call it through the BFF, not through the gateway.',
  },
  untrusted_gateway: { status: 403, description: 'This endpoint answers only the configured API gateway (FORWARD_AUTH_TRUSTED_IPS).' },
  method_not_allowed: {
    status: 405,
    description: 'This method is never forwarded to the API (TRACE, TRACK and CONNECT would echo or tunnel the request, credentials included).',
  },
  body_timeout: { status: 408, description: 'The request body stopped arriving before it was complete.' },
  payload_too_large: { status: 413, description: 'The request body is larger than this API accepts.' },
  too_many_in_flight: { status: 429, description: 'Too many of your requests are still in progress. Please wait for them to finish and try again.' },
  rate_limited: { status: 429, description: 'Too many requests from your address. Please wait a moment and try again.' },
  not_found: { status: 404, description: 'There is nothing at this address.' },
  backchannel_unavailable: { status: 501, description: 'Back-channel logout needs server-side sessions: with SESSION_STORE=cookie, set REDIS_URL.' },
  idp_error: { status: 502, description: 'The identity provider answered with an error or an invalid response. Please try again later.' },
  idp_unreachable: { status: 502, description: 'The identity provider cannot be reached right now. Please try again later.' },
  upstream_unreachable: { status: 502, description: 'The API cannot be reached right now.' },
  idp_not_ready: { status: 503, description: 'The service is starting and cannot reach the identity provider yet. Please try again in a moment.' },
  upstream_busy: { status: 503, description: 'The API gateway has too many requests in flight. Please try again in a moment.' },
  refresh_in_progress: { status: 503, description: "Another request is still refreshing this session's tokens. Please try again in a moment." },
  session_store_unavailable: { status: 503, description: 'The session store is unavailable right now. Please try again in a moment.' },
  upstream_timeout: { status: 504, description: 'The API did not answer in time.' },
  internal_error: { status: 500, description: 'Something went wrong on our side.' },
  session_too_large: {
    status: 500,
    description: "The identity provider's tokens are too large for cookie sessions (over SESSION_COOKIE_BUDGET). The operator must use SESSION_STORE=redis.",
  },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
