/**
 * The catalogue of everything the BFF logs: one stable event name per outcome, with a fixed
 * level. Rejections of bad input are info/warn; faults of a dependency are error, logged once
 * per outage. Field names are fixed too (see {@link LogFields}).
 */
export const LOG_EVENTS = {
  'service.started': 'info',
  'service.warning': 'warn',
  'service.admin_unavailable': 'error',
  'service.stopping': 'info',
  'config.reloaded': 'info',
  'config.reload_failed': 'error',
  'service.stopped': 'info',
  'request.completed': 'info',
  'request.failed': 'error',
  'request.rejected': 'info',
  'oidc.discovery_ok': 'info',
  'oidc.discovery_failed': 'error',
  'login.started': 'info',
  'login.par_failed': 'error',
  'callback.completed': 'info',
  /** FusionAuth SDK routes: a redirect_uri / post_logout_redirect_uri not on FUSIONAUTH_SDK_REDIRECT_URIS. */
  'fusionauth.redirect_uri_refused': 'warn',
  /** FusionAuth SDK routes: a client_id other than FUSIONAUTH_SDK_CLIENT_ID. */
  'fusionauth.client_id_refused': 'warn',
  /** FusionAuth SDK routes: a request from an origin or site not on FUSIONAUTH_SDK_ORIGINS (CORS, refresh). */
  'fusionauth.origin_refused': 'warn',
  /** FusionAuth SDK logout reached cross-site: answered with a confirmation page, nothing ended. */
  'fusionauth.logout_confirm': 'info',
  'callback.state_invalid': 'warn',
  'callback.idp_error': 'warn',
  'callback.access_denied': 'info',
  'callback.code_rejected': 'warn',
  'callback.response_invalid': 'warn',
  'callback.idp_unreachable': 'error',
  'callback.logged_out_meanwhile': 'warn',
  'callback.id_token_invalid': 'warn',
  'callback.authentication_insufficient': 'warn',
  /** Cookie sessions only: a cookie of a session ended earlier (logout elsewhere, back-channel, admin) was presented. */
  'session.ended': 'info',
  /** Cookie sessions only (a server store forgets an expired session): idle timeout or lifetime reached. */
  'session.expired': 'info',
  'session.cookie_invalid': 'info',
  'refresh.ok': 'info',
  'refresh.rejected': 'warn',
  'refresh.failed': 'error',
  'refresh.no_refresh_token': 'info',
  'refresh.wait_timeout': 'warn',
  'logout.completed': 'info',
  'logout.returned': 'info',
  'logout.state_invalid': 'warn',
  'backchannel.completed': 'info',
  'backchannel.rejected': 'warn',
  'admin.audit': 'info',
  'admin.auth_failed': 'warn',
  'logout.refused': 'warn',
  'logout.revocation_failed': 'warn',
  'csrf.rejected': 'warn',
  'proxy.path_refused': 'warn',
  'proxy.scope_refused': 'info',
  'proxy.method_refused': 'warn',
  'token.client_ok': 'info',
  'token.client_failed': 'error',
  'token.exchange_ok': 'debug',
  'token.exchange_failed': 'warn',
  /** Phantom routes: the JWT of an opaque token came from this process's cache, the shared store, or the IdP (miss). */
  'phantom.hit': 'debug',
  'phantom.shared_hit': 'debug',
  'phantom.miss': 'info',
  /** The IdP called the session's access token inactive: refreshed once, else the session ends. */
  'phantom.inactive': 'warn',
  /** The introspection failed (IdP down, refused, invalid or JWT-less answer): 502/503, nothing forwarded. */
  'phantom.failed': 'error',
  /** A gateway client introspected a handle (active or not, and why not); never the handle itself. */
  'gateway.introspection': 'info',
  /** Introspection without valid gateway client credentials. */
  'gateway.introspection_refused': 'warn',
  'proxy.upstream_unreachable': 'error',
  'proxy.upstream_timeout': 'error',
  'proxy.client_aborted': 'debug',
  'proxy.body_timeout': 'info',
  'proxy.client_slow_reader': 'warn',
  'gateway.authorized': 'debug',
  'gateway.untrusted_caller': 'warn',
  'gateway.route_refused': 'warn',
  'store.ready': 'info',
  'store.unavailable': 'error',
  'store.recovered': 'info',
  'store.command_failed': 'error',
  'store.cache_unavailable': 'warn',
  'store.cache_ready': 'info',
  'tracing.export_failed': 'error',
} as const;

export type LogEvent = keyof typeof LOG_EVENTS;

/** The only fields a log line may carry besides `event`. Never a token, cookie value or secret. */
export interface LogFields {
  request_id?: string;
  /** Short hash of the session id, never the id itself. */
  session?: string;
  sub?: string;
  method?: string;
  path?: string;
  /** An API route's path prefix (API_ROUTES). */
  route?: string;
  status?: number;
  duration_ms?: number;
  reason?: string;
  code?: string;
  upstream_status?: number;
  attempt?: number;
  retry_in_ms?: number;
  issuer?: string;
  url?: string;
  host?: string;
  port?: number;
  store?: string;
  /** The client's address (ctx.ip, as TRUST_PROXY allows); only on events about a client's misuse. */
  client?: string;
  /** A gateway client's id (GATEWAY_CLIENTS), never its secret. */
  gateway_client?: string;
  /** How long a gateway may cache a forward-auth answer (a `phantom` route's). */
  cache_seconds?: number;
  /** The answer of an introspection. */
  active?: boolean;
  err?: { type: string; message: string; code?: string; stack?: string };
}
