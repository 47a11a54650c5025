/**
 * A bounded map of recently used values that never evicts a live entry to make room: entries
 * older than `ttlMs` leave first, and while every entry is live a new key is turned away. With
 * more distinct keys than room (10 000 sessions each calling now and then), the map keeps
 * serving the keys it holds instead of churning — evicting to admit would cost an allocation
 * and an eviction on every miss and save nothing, since the evicted key comes back later.
 */
export class RecentMap<V> {
  private readonly entries = new Map<string, { value: V; at: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** The value of `key` if it was set less than `ttlMs` ago. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (this.clock() - entry.at < this.ttlMs) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  /** Milliseconds since `key` was set, while its entry is live; else undefined. */
  ageOf(key: string): number | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    const age = this.clock() - entry.at;
    return age < this.ttlMs ? age : undefined;
  }

  /** Stores `value` as of `at` (default now); false when the map is full of live entries. */
  set(key: string, value: V, at = this.clock()): boolean {
    if (!this.entries.has(key) && this.entries.size >= this.maxEntries) {
      // Insertion order is age order (a set moves its key to the end): drop expired ones from the front.
      const now = this.clock();
      for (const [k, e] of this.entries) {
        if (now - e.at < this.ttlMs) break;
        this.entries.delete(k);
      }
      if (this.entries.size >= this.maxEntries) return false;
    }
    this.entries.delete(key);
    this.entries.set(key, { value, at });
    return true;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
