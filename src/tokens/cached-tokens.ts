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
  private readonly entries = new Map<string, { token: CachedToken; renewAt: number }>();
  private readonly pending = new Map<string, Promise<CachedToken>>();

  constructor(private readonly options: TokenCacheOptions) {}

  async get(key: string, fetch: () => Promise<CachedToken>): Promise<CachedToken> {
    const { now } = this.options;
    const hit = this.entries.get(key);
    if (hit && hit.renewAt > now()) {
      // Map order is insertion order: re-inserting marks it recently used.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.token;
    }
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const started = now();
    const p = fetch()
      .then((token) => {
        this.store(key, token, started);
        return token;
      })
      .finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    return p;
  }

  private store(key: string, token: CachedToken, fetchedAt: number): void {
    const { skewMs, fallbackMs, maxEntries } = this.options;
    const lifetime = token.expiresAt ? token.expiresAt - fetchedAt : fallbackMs;
    const renewAt = (token.expiresAt || fetchedAt + fallbackMs) - Math.min(skewMs, lifetime / 2);
    this.entries.delete(key);
    this.entries.set(key, { token, renewAt });
    if (this.entries.size > maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}
