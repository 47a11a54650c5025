/** One session as an administrator sees it: never a token, never the cookie's id. */
export interface SessionSummary {
  /** Hash of the session id: names the session in the admin API, useless as a cookie. */
  handle: string;
  sub: string;
  /** Epoch seconds. */
  createdAt: number;
  expiresAt: number;
  idleExpiresAt: number | undefined;
  userAgent: string | undefined;
}

/**
 * Server-side queries over sessions, by user and by IdP session (the indexes kept on login,
 * logout and expiry). Only server stores have one: a cookie session exists only in its browser.
 */
export interface SessionDirectory {
  /** Ends every session of the IdP session `idpSid` and/or of the user `sub` (both given: both must match). */
  endMatching(match: { sub?: string; idpSid?: string; issuedAt?: number }): Promise<number>;
  list(sub: string): Promise<SessionSummary[]>;
  endByHandle(handle: string): Promise<boolean>;
}
