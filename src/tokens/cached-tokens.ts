/** A token some other party issued for one purpose (a route's client-credentials or exchanged token). */
export interface CachedToken {
  readonly accessToken: string;
  readonly tokenType: string;
  /** Epoch ms; 0 when the IdP did not say (then it is used for `fallbackMs` only). */
  readonly expiresAt: number;
}

export interface TokenCacheOptions {
  /** Most entries kept; the least recently used goes first. */
  maxEntries: number;
  /** A token is replaced this many ms before it expires (capped at half its lifetime). */
  skewMs: number;
  /** How long a token without expires_in is reused. */
  fallbackMs: number;
  now: () => number;
}

/**
 * In-process cache with single flight: concurrent requests for the same key share one
 * fetch, and a token is reused until shortly before it expires. Per instance by design: a
 * second instance fetches its own copy once, which the IdP sees as one more token, not a storm.
 */
export class TokenCache {
  // A hit marks its entry used instead of moving it to the end of the map: a delete and a set per
  // call made V8 rebuild this (up to 10 000-entry) map's table again and again (docs/development.md,
  // "Code on the hot path"). The least recently used entry is looked for only when one must go,
  // on a miss, which costs an IdP call anyway.
  private readonly entries = new Map<string, { token: CachedToken; renewAt: number; usedAt: number }>();
  private readonly pending = new Map<string, Promise<CachedToken>>();

  constructor(private readonly options: TokenCacheOptions) {}

  async get(key: string, fetch: () => Promise<CachedToken>): Promise<CachedToken> {
    const { now } = this.options;
    const hit = this.entries.get(key);
    const t = now();
    if (hit && hit.renewAt > t) {
      hit.usedAt = t;
      return hit.token;
    }
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const p = fetch()
      .then((token) => {
        this.store(key, token, t);
        return token;
      })
      .finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    return p;
  }

  private store(key: string, token: CachedToken, fetchedAt: number): void {
    const { skewMs, fallbackMs, maxEntries, now } = this.options;
    const lifetime = token.expiresAt ? token.expiresAt - fetchedAt : fallbackMs;
    const renewAt = (token.expiresAt || fetchedAt + fallbackMs) - Math.min(skewMs, lifetime / 2);
    this.entries.set(key, { token, renewAt, usedAt: now() });
    if (this.entries.size > maxEntries) this.evictLeastRecentlyUsed(key);
  }

  private evictLeastRecentlyUsed(keep: string): void {
    let oldest: string | undefined;
    let oldestAt = Infinity;
    for (const [key, entry] of this.entries) {
      if (key !== keep && entry.usedAt < oldestAt) {
        oldest = key;
        oldestAt = entry.usedAt;
      }
    }
    if (oldest !== undefined) this.entries.delete(oldest);
  }
}
