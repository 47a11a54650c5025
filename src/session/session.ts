/** Tokens of one session. Lives only sealed at rest and in memory while a request runs. */
export interface TokenSet {
  accessToken: string;
  tokenType: string;
  /** Epoch milliseconds; 0 when the IdP did not say (then the token is never refreshed early). */
  expiresAt: number;
  refreshToken?: string;
  idToken?: string;
  scope?: string;
}

/** What the BFF knows about a signed-in browser. */
export interface Session {
  /** The cookie value: a bearer credential, never logged nor stored in clear. */
  readonly id: string;
  /** Store key derived from the id (a hash): what Redis holds, and a short form of it goes to logs. */
  readonly key: string;
  /** Random value the SPA must echo on GET /logout?sid=…: a cross-site page cannot know it. */
  readonly sid: string;
  readonly sub: string;
  readonly claims: Readonly<Record<string, unknown>>;
  tokens: TokenSet;
  /** Epoch milliseconds of the login: the absolute timeout counts from here. */
  readonly createdAt: number;
}

/** Sessions as the routes use them; implemented once above the storage port. */
export interface Sessions {
  /** The browser's session, or undefined when it has none (absent, garbage, expired or ended cookie). */
  load(cookieHeader: string | undefined): Promise<Session | undefined>;
  /** Starts a session under a brand-new id; returns it with the Set-Cookie header to send. */
  create(data: Pick<Session, 'sub' | 'claims' | 'tokens'>): Promise<{ session: Session; setCookie: string }>;
  /** Reads the session's current state from the store again (after another request may have changed it). */
  reload(session: Session): Promise<Session | undefined>;
  /** Writes changed tokens back; false when the session no longer exists (ended meanwhile), and nothing is written. */
  save(session: Session): Promise<boolean>;
  destroy(session: Session): Promise<void>;
  /** Set-Cookie header that deletes the session cookie. */
  clearCookie(): string;
  /** Seconds since epoch at which the session ends whatever the activity. */
  expiresAt(session: Session): number;
  /** Seconds since epoch at which the session ends if the browser stays idle from now. */
  idleExpiresAt(session: Session): number;
  /** Short, non-reversible handle of a session for logs. */
  logHandle(session: Session): string;
}
