import type { webcrypto } from 'node:crypto';
import type { CookieIo } from '../web/cookie-io.js';

/** An access token for one RFC 8707 resource, obtained with the session's refresh token. */
export interface ResourceToken {
  accessToken: string;
  tokenType: string;
  expiresAt: number;
  lifetimeMs?: number;
  scope?: string;
}

/** Tokens of one session. Lives only sealed at rest and in memory while a request runs. */
export interface TokenSet {
  accessToken: string;
  tokenType: string;
  /** Epoch milliseconds; 0 when the IdP did not say (then the token is never refreshed early). */
  expiresAt: number;
  /** Lifetime the IdP gave the access token, ms (0 when unknown): the refresh margin never exceeds half of it. */
  lifetimeMs?: number;
  refreshToken?: string;
  idToken?: string;
  scope?: string;
  /** Access tokens per RFC 8707 resource (API_ROUTES `resource`), each refreshed on its own. */
  resources?: Record<string, ResourceToken>;
  /** The session's private DPoP key (RFC 9449) as a JWK, when OIDC_DPOP is on: sealed with the tokens it binds. */
  dpopKey?: webcrypto.JsonWebKey;
}

/** What the BFF knows about a signed-in browser. */
export interface Session {
  /**
   * Identity of the session inside the BFF (single-flight refresh, logs use a hash of it):
   * a hash of the cookie's id for server stores, derived from `sid` for cookie sessions.
   */
  readonly key: string;
  /** Random value the SPA must echo on GET /logout?sid=…: a cross-site page cannot know it. */
  readonly sid: string;
  readonly sub: string;
  readonly claims: Readonly<Record<string, unknown>>;
  tokens: TokenSet;
  /** Epoch milliseconds of the login: the absolute timeout counts from here. */
  readonly createdAt: number;
  /**
   * Epoch milliseconds at which the login's code exchange began (before the IdP issued the ID
   * token): a logout of the user or IdP session recorded at or after it ends this session.
   */
  readonly authAt?: number;
  /** Epoch milliseconds of the user's authentication at the IdP (the ID token's `auth_time`, the IdP's clock). */
  readonly authTime?: number;
  /** The IdP's session id (`sid` claim of the ID token), which back-channel logout names. */
  readonly idpSid?: string;
  /** The browser's User-Agent at login (bounded), for the session admin API. */
  readonly userAgent?: string;
}

/**
 * Sessions as the routes use them, whatever keeps them (a server store, or the cookie
 * itself). Every method that may change the browser's cookies takes the request's
 * {@link CookieIo}.
 */
export interface Sessions {
  /** The browser's session, or undefined when it has none (absent, garbage, tampered, expired or ended). */
  load(io: CookieIo): Promise<Session | undefined>;
  /** The session's current state, re-read after another request may have changed it. */
  reload(session: Session): Promise<Session | undefined>;
  /** Starts a session under a brand-new identity and sets its cookie. */
  create(data: Pick<Session, 'sub' | 'claims' | 'tokens' | 'idpSid' | 'userAgent' | 'authAt' | 'authTime'>, io: CookieIo): Promise<Session>;
  /** Writes changed tokens; false when the session no longer exists (ended meanwhile): nothing is written. */
  save(session: Session, io: CookieIo): Promise<boolean>;
  /** Makes this response carry a state another request saved (cookie sessions re-issue the cookie). */
  propagate(session: Session, io: CookieIo): void;
  /**
   * The session's tokens were replaced by a set another request or instance obtained, which the
   * stored copy may not hold (its save failed): a server store writes it back by compare-and-set
   * (never over a deleted session or a newer set; a failed write is left for the next request),
   * a cookie session re-issues the cookie.
   */
  adopt(session: Session, io: CookieIo): Promise<void>;
  /** Ends the session (server state, if any) and deletes its cookies. */
  destroy(session: Session, io: CookieIo): Promise<void>;
  /** Deletes the session cookies this request carried, whatever they hold (never one it did not carry). */
  clear(io: CookieIo): void;
  /** Seconds since epoch at which the session ends whatever the activity. */
  expiresAt(session: Session): number;
  /** Seconds since epoch at which the session ends if the browser stays idle from now. */
  idleExpiresAt(session: Session): number;
  /** Short, non-reversible handle of a session for logs. */
  logHandle(session: Session): string;
}
