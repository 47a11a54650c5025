import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { EventLogger } from '../observability/logger.js';
import { errorFields } from '../observability/logger.js';
import { NearCache } from './near-cache.js';

const CHANNEL = '__redis__:invalidate';
// Keys of these prefixes (after REDIS_KEY_PREFIX) are tracked: sessions, and the heartbeat keys.
const SESSIONS = 's:';
const HEARTBEATS = 'hb:';
const HEARTBEAT_TTL_MS = 60_000;

export interface TrackedReadsOptions {
  keyPrefix: string;
  maxStaleMs: number;
  maxEntries: number;
  refreshEveryMs: number;
  /** Monotonic milliseconds (tests). */
  clock?: () => number;
}

/**
 * Zero-round-trip session reads, kept coherent across instances by Redis server-assisted
 * client-side caching (CLIENT TRACKING, broadcast mode, RESP2 redirect):
 *
 * - `reader`, a connection of its own, makes the cache-filling reads; Redis tracks every key
 *   under `<prefix>s:` for it (NOLOOP: its own GETEX, which slides an expiry, does not count)
 *   and sends each change of such a key — a logout, a refresh, an expiry, on any instance —
 *   to `subscriber`, which drops it from the cache.
 * - Every quarter of `maxStaleMs` the main connection writes a heartbeat key of this instance;
 *   its invalidation coming back proves the channel up to that moment (see NearCache). A
 *   channel that stops proving itself (lost connection, failover, a stuck Redis) turns the
 *   cache off within `maxStaleMs` and empties it; it is rebuilt when both connections are back.
 *
 * Writes go through the main connection, like every other command; the store tells us about
 * them (`wrote`) so that a change made here is seen here at once, not a message later.
 */
export class TrackedReads {
  private readonly cache: NearCache;
  private readonly reader: Redis;
  private readonly subscriber: Redis;
  private readonly heartbeatKey: string;
  private readonly heartbeatFullKey: string;
  private readonly timer: NodeJS.Timeout;
  private subscriberId: string | undefined;
  private tracking = false;
  private setups = 0;
  private heartbeatSentAt: number | undefined;
  /** Heartbeats sent before the channel was rebuilt whose messages may still arrive: not proofs. */
  private strayHeartbeats = 0;
  private unavailable: string | undefined;
  private closed = false;
  private readonly clock: () => number;
  private waiters: Array<{ after: number; resolve: () => void }> = [];

  constructor(private readonly main: Redis, private readonly options: TrackedReadsOptions, private readonly log: EventLogger) {
    this.clock = options.clock ?? (() => performance.now());
    this.cache = new NearCache({ maxStaleMs: options.maxStaleMs, maxEntries: options.maxEntries, refreshEveryMs: options.refreshEveryMs, clock: this.clock });
    this.heartbeatKey = `${HEARTBEATS}${randomBytes(6).toString('base64url')}`;
    this.heartbeatFullKey = options.keyPrefix + this.heartbeatKey;
    this.reader = main.duplicate({ connectionName: 'oidc-bff:tracked-reads' });
    this.subscriber = main.duplicate({ connectionName: 'oidc-bff:invalidations', keyPrefix: '', autoResubscribe: false });
    for (const connection of [this.reader, this.subscriber]) {
      connection.on('ready', () => void this.setUp());
      connection.on('close', () => this.lost(connection === this.subscriber));
      connection.on('error', () => undefined); // the main connection reports outages
    }
    this.subscriber.on('messageBuffer', (channel: Buffer, keys: Buffer[] | Buffer | null) => this.onInvalidation(channel, keys));
    this.timer = setInterval(() => this.heartbeat(), Math.max(10, Math.floor(options.maxStaleMs / 4)));
    this.timer.unref();
  }

  /** The value of `key` if the cache may serve it now (no round trip), else undefined. */
  cached(key: string): string | undefined {
    return this.cache.lookup(key);
  }

  /**
   * The session value under `key` (sliding its expiry by `ttlMs` when Redis is read): from the
   * cache when it may be served, else read through `getex` on the tracked connection (or on
   * the main one while tracking is down, without caching).
   */
  getAndTouch(key: string, getex: (client: Redis) => Promise<string | undefined>): Promise<string | undefined> {
    const hit = this.cache.lookup(key);
    if (hit !== undefined) return Promise.resolve(hit);
    if (!this.tracking || this.reader.status !== 'ready') return getex(this.main);
    const read = this.cache.beginRead(key);
    const readAt = this.clock();
    return getex(this.reader).then(
      (value) => {
        this.cache.fill(key, read, value, readAt);
        return value;
      },
      (err: unknown) => {
        this.cache.abandon(key, read);
        throw err;
      },
    );
  }

  /** This instance is writing `key`: call before the write is sent and again once it is answered. */
  wrote(key: string): void {
    this.cache.invalidate(key);
  }

  /**
   * Resolves once every change Redis made before this call can no longer be served stale here
   * (a heartbeat sent after it came back, or the cache was emptied).
   */
  caughtUp(): Promise<void> {
    if (!this.tracking) return Promise.resolve();
    const after = this.clock();
    return new Promise((resolve) => {
      this.waiters.push({ after, resolve });
      this.heartbeat();
    });
  }

  get stats(): { hits: number; misses: number; entries: number; tracking: boolean } {
    return { hits: this.cache.hits, misses: this.cache.misses, entries: this.cache.size, tracking: this.tracking };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.lost(false);
    await this.main.del(this.heartbeatKey).catch(() => undefined);
    await Promise.all([this.reader.quit().catch(() => undefined), this.subscriber.quit().catch(() => undefined)]);
    this.reader.disconnect();
    this.subscriber.disconnect();
  }

  private lost(subscriber: boolean): void {
    if (subscriber) {
      this.subscriberId = undefined;
      this.strayHeartbeats = 0; // a new subscriber connection never sees the old one's messages
    } else if (this.heartbeatSentAt !== undefined) {
      this.strayHeartbeats++;
    }
    this.tracking = false;
    this.heartbeatSentAt = undefined;
    this.cache.reset();
    this.release(Number.POSITIVE_INFINITY);
  }

  private release(provenAt: number): void {
    if (this.waiters.length === 0) return;
    const waiting = this.waiters;
    this.waiters = waiting.filter((w) => w.after > provenAt);
    for (const w of waiting) if (w.after <= provenAt) w.resolve();
  }

  /** (Re)builds the channel after either connection (re)connects; the cache starts empty. */
  private async setUp(): Promise<void> {
    const setup = ++this.setups;
    this.lost(false);
    if (this.closed || this.reader.status !== 'ready' || this.subscriber.status !== 'ready') return;
    try {
      if (this.subscriberId === undefined) {
        const id = String(await this.subscriber.call('CLIENT', 'ID'));
        await this.subscriber.subscribe(CHANNEL);
        this.subscriberId = id;
      }
      // OFF first: a reader whose connection survived keeps its old redirect otherwise.
      await this.reader.call('CLIENT', 'TRACKING', 'OFF');
      const prefix = this.options.keyPrefix;
      await this.reader.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', this.subscriberId, 'BCAST', 'PREFIX', prefix + SESSIONS, 'PREFIX', prefix + HEARTBEATS, 'NOLOOP');
      if (setup !== this.setups) return;
      this.tracking = true;
      this.heartbeat();
      if (this.unavailable !== undefined) this.log.event('store.cache_ready', { store: 'redis' });
      this.unavailable = undefined;
    } catch (err) {
      if (setup !== this.setups || this.closed) return;
      const reason = err instanceof Error ? err.message : String(err);
      if (this.unavailable === undefined) this.log.event('store.cache_unavailable', { store: 'redis', reason: 'CLIENT TRACKING could not be set up', err: errorFields(err, false) });
      this.unavailable = reason;
      // A subscriber left half set up cannot ask for its id again: start it over.
      if (this.subscriberId === undefined) this.subscriber.disconnect(true);
    }
  }

  private heartbeat(): void {
    if (!this.tracking) return;
    const now = this.clock();
    // One heartbeat at a time; one that never came back is sent again.
    if (this.heartbeatSentAt !== undefined && now - this.heartbeatSentAt < this.options.maxStaleMs) return;
    this.heartbeatSentAt = now;
    this.main.set(this.heartbeatKey, '1', 'PX', HEARTBEAT_TTL_MS).catch(() => undefined);
  }

  private onInvalidation(channel: Buffer, keys: Buffer[] | Buffer | null): void {
    if (channel.toString() !== CHANNEL) return;
    // null: the whole database was flushed.
    if (keys === null) {
      this.cache.reset();
      return;
    }
    const prefix = this.options.keyPrefix;
    for (const raw of Array.isArray(keys) ? keys : [keys]) {
      const key = raw.toString();
      if (key === this.heartbeatFullKey) {
        if (this.strayHeartbeats > 0) {
          this.strayHeartbeats--;
          continue;
        }
        const sentAt = this.heartbeatSentAt;
        this.heartbeatSentAt = undefined;
        if (sentAt === undefined) continue;
        this.cache.prove(sentAt);
        this.release(sentAt);
        if (this.waiters.length > 0) this.heartbeat();
      } else if (key.startsWith(prefix)) {
        this.cache.invalidate(key.slice(prefix.length));
      }
    }
  }
}
