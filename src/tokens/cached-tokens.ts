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
  // "Code on the hot path"). Entries go in batches when the cache is full (see evict).
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
    if (this.entries.size > maxEntries) this.evict(key);
  }

  /**
   * Frees about a sixteenth of the cache (at least the entry over) in one pass: tokens due for
   * renewal first, then the least recently used. In batches, so that a full cache that misses on
   * every call does not scan all its entries each time.
   */
  private evict(keep: string): void {
    const { maxEntries, now } = this.options;
    const target = maxEntries + 1 - Math.max(1, Math.floor(maxEntries / 16));
    const t = now();
    for (const [key, entry] of this.entries) if (key !== keep && entry.renewAt <= t) this.entries.delete(key);
    const excess = this.entries.size - target;
    if (excess <= 0) return;
    const byUse = [...this.entries].filter(([key]) => key !== keep).sort((a, b) => a[1].usedAt - b[1].usedAt);
    for (const [key] of byUse.slice(0, excess)) this.entries.delete(key);
  }
}
