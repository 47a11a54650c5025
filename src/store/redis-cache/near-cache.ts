import { RecentMap } from '../recent-map.js';

export interface NearCacheOptions {
  /**
   * How old the last proof of a working invalidation channel may be while entries are served:
   * the bound on how long a change made through another instance can go unseen here.
   */
  maxStaleMs: number;
  /**
   * An entry is read again (its expiry slid) once this old, in the background while it is still
   * served; it is served for at most twice this long after the read that filled it.
   */
  refreshEveryMs: number;
  maxEntries: number;
  /** Monotonic milliseconds. */
  clock?: () => number;
}

/** A cached answer: the value, or null for "the key does not exist" (revocation checks, see TrackedReads.get). */
export type Cached = string | null;

/**
 * An entry is served for up to this many refresh intervals after the read that filled it: one
 * until it is due, the rest while its background read is on its way (or failed, and the next
 * request tries again). The key's expiry in Redis was at least the session's idle timeout less
 * one interval at that read, and an interval is at most a tenth of the idle timeout
 * (config/load.ts): an entry never outlives the key it copies, even without a message.
 */
export const SERVED_FOR_REFRESHES = 2;

interface PendingRead {
  readonly epoch: number;
}

/**
 * The decisions of a session cache kept coherent by Redis invalidation messages, apart from
 * the wire (see invalidation-tracking.ts), so that each rule can be tested with a clock:
 *
 * - A value is served only while the channel is proven: the last heartbeat written to Redis
 *   came back as an invalidation no longer than `maxStaleMs` ago. Every change Redis made
 *   before that heartbeat has reached us by then (one connection, in order).
 * - A read fills the cache only if nothing invalidated its key, and nothing reset the channel,
 *   between sending it and its reply: an invalidation can overtake the reply of a read that
 *   Redis answered before the change, on the other connection.
 * - Losing the proof, or the channel, drops every entry: messages may have been lost with it.
 */
export class NearCache {
  private readonly entries: RecentMap<Cached>;
  private readonly pending = new Map<string, PendingRead>();
  private readonly clock: () => number;
  private provenAt = Number.NEGATIVE_INFINITY;
  private epoch = 0;

  constructor(private readonly options: NearCacheOptions) {
    this.clock = options.clock ?? (() => performance.now());
    this.entries = new RecentMap(options.maxEntries, SERVED_FOR_REFRESHES * options.refreshEveryMs, this.clock);
  }

  /** The cached answer for `key` if it may be served now, else undefined (the caller reads Redis). */
  lookup(key: string): Cached | undefined {
    return this.isProven(this.clock()) ? this.entries.get(key) : undefined;
  }

  /**
   * Whether the entry of `key` is due to be read again: filled `refreshEveryMs` ago or more, and
   * no read of it on its way. The caller serves it meanwhile and reads it in the background
   * (beginRead, fill), so that no request waits on the read that slides a busy session's expiry.
   */
  due(key: string): boolean {
    const age = this.entries.ageOf(key);
    return age !== undefined && age >= this.options.refreshEveryMs && !this.pending.has(key);
  }

  /** Marks a read of `key` as sent; pass the returned handle to {@link fill} with its reply. */
  beginRead(key: string): PendingRead {
    const read = { epoch: this.epoch };
    this.pending.set(key, read);
    return read;
  }

  /**
   * Caches the reply of a read begun with {@link beginRead}, unless the key changed meanwhile.
   * `null` caches the absence of the key; `undefined` caches nothing (a missing session).
   */
  fill(key: string, read: PendingRead, value: Cached | undefined, readAt: number): void {
    if (this.pending.get(key) !== read) return;
    this.pending.delete(key);
    // The session is gone: so is a copy still served while this read refreshed it.
    if (value === undefined) this.entries.delete(key);
    if (value === undefined || read.epoch !== this.epoch || !this.isProven(this.clock())) return;
    // Due again `refreshEveryMs` after the read was sent, served for twice that; not admitted while full of live entries.
    this.entries.set(key, value, readAt);
  }

  /** A read that failed: forget that it was pending. */
  abandon(key: string, read: PendingRead): void {
    if (this.pending.get(key) === read) this.pending.delete(key);
  }

  /** `key` changed (an invalidation message, or a write of this instance). */
  invalidate(key: string): void {
    this.entries.delete(key);
    this.pending.delete(key);
  }

  /** A heartbeat sent at `sentAt` came back: every change made before it has been seen. */
  prove(sentAt: number): void {
    // A lapse since the last proof empties the cache first, even if nothing was looked up meanwhile.
    this.isProven(this.clock());
    if (sentAt > this.provenAt) this.provenAt = sentAt;
  }

  /** The channel was lost or rebuilt (or Redis flushed): nothing cached can be trusted. */
  reset(): void {
    this.epoch++;
    this.provenAt = Number.NEGATIVE_INFINITY;
    this.entries.clear();
    this.pending.clear();
  }

  /** The channel has been proven within the bound: entries may be served. */
  get serving(): boolean {
    return this.clock() - this.provenAt <= this.options.maxStaleMs;
  }

  get size(): number {
    return this.entries.size;
  }

  private isProven(now: number): boolean {
    if (now - this.provenAt <= this.options.maxStaleMs) return true;
    if (this.entries.size > 0 || this.pending.size > 0) this.reset();
    return false;
  }
}
