import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { EventLogger } from '../../observability/logger.js';
import { errorFields } from '../../observability/logger.js';
import { NearCache } from './near-cache.js';
import type { SessionCacheStats } from '../store.js';

const CHANNEL = '__redis__:invalidate';
/** Sessions (server store): cached values only, read with getAndTouch. */
const SESSIONS = 's:';
/** The revocation list of cookie sessions: cached values and cached absence, read with get. */
export const REVOCATIONS = 'r:';
// Every key under these prefixes (after REDIS_KEY_PREFIX) is tracked. Redis reports the changes
// of one event-loop pass in one message per prefix, so each prefix gets its own heartbeat key
// (`<prefix>hb:<instance>:<seq>`), written together: a heartbeat proves the channel once its key
// has come back under every prefix, which does not depend on the order Redis sends prefixes in.
const TRACKED = [SESSIONS, REVOCATIONS] as const;
const HEARTBEAT = 'hb:';
const MAX_SETUP_BACKOFF_MS = 60_000;
// Reads a session and its remaining time to live in one round trip, changing nothing: a
// cache-filling read must not count as a change, or every other instance would drop its copy
// each time one instance refills. (NOLOOP does not cover writes made inside a script.)
const READ_WITH_TTL = `return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}`;

export interface TrackedReadsOptions {
  keyPrefix: string;
  maxStaleMs: number;
  maxEntries: number;
  refreshEveryMs: number;
  /** Monotonic milliseconds (tests). */
  clock?: () => number;
}

type Reader = Redis & { readWithTtl(key: string): Promise<[string | null, number]> };

/** A heartbeat on its way: when it was sent, and the tracked prefixes it has not come back under yet. */
interface Heartbeat {
  readonly sentAt: number;
  readonly awaiting: Set<string>;
}

/**
 * Zero-round-trip reads of sessions and of the revocation list, kept coherent across instances
 * by Redis server-assisted client-side caching (CLIENT TRACKING, broadcast mode, RESP2 redirect):
 *
 * - `reader`, a connection of its own, makes the cache-filling reads; Redis tracks every key
 *   under `<prefix>s:` and `<prefix>r:` for it (NOLOOP: its own expiry slides do not count) and
 *   sends each change of such a key — a logout, a refresh, a revocation, an expiry, on any
 *   instance or by any client — to `subscriber`, which drops it from the cache.
 * - Every quarter of `maxStaleMs` the main connection writes a heartbeat key of its own under
 *   each tracked prefix (`s:hb:<instance>:<seq>`, `r:hb:<instance>:<seq>`); both coming back
 *   prove that every change Redis made before them has arrived (see NearCache). A channel that
 *   stops proving itself turns the cache off within `maxStaleMs` and empties it; after twice
 *   that the connections are rebuilt.
 * - One cache, one cap and one proof serve both prefixes. Sessions are cached when found;
 *   revocation keys also when absent (the common case: nobody revoked the session), which is
 *   safe to remember because they are looked up only for sessions that opened, never for
 *   names a client picks.
 * - The subscriber's id is checked from the reader (`CLIENT LIST ID`): after a Sentinel
 *   failover both must be on the same server, or no proof can be trusted.
 *
 * Writes go through the main connection, like every other command; the store tells us about
 * them (`wrote`) so that a change made here is seen here at once, not a message later.
 */
export class TrackedReads {
  private readonly cache: NearCache;
  private readonly reader: Reader;
  private readonly subscriber: Redis;
  private readonly instance = randomBytes(6).toString('base64url');
  private readonly subscriberName: string;
  private readonly timer: NodeJS.Timeout;
  private readonly clock: () => number;
  private subscriberId: string | undefined;
  private tracking = false;
  private trackingSince = 0;
  private setups = 0;
  /** Heartbeats of the current channel still on their way, by sequence number (in sending order). */
  private heartbeats = new Map<number, Heartbeat>();
  private heartbeatSeq = 0;
  private lastProof = Number.NEGATIVE_INFINITY;
  private unavailable = false;
  private backoffMs = 1000;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private waiters: Array<{ after: number; resolve: () => void }> = [];
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly main: Redis,
    private readonly options: TrackedReadsOptions,
    private readonly log: EventLogger,
  ) {
    this.clock = options.clock ?? (() => performance.now());
    this.cache = new NearCache({ maxStaleMs: options.maxStaleMs, maxEntries: options.maxEntries, refreshEveryMs: options.refreshEveryMs, clock: this.clock });
    this.subscriberName = `oidc-bff:invalidations:${this.instance}`;
    this.reader = main.duplicate({ connectionName: 'oidc-bff:tracked-reads' }) as Reader;
    this.reader.defineCommand('readWithTtl', { numberOfKeys: 1, lua: READ_WITH_TTL });
    this.subscriber = main.duplicate({ connectionName: this.subscriberName, keyPrefix: '', autoResubscribe: false });
    for (const connection of [this.reader, this.subscriber]) {
      connection.on('ready', () => void this.setUp());
      connection.on('close', () => this.lost(connection === this.subscriber));
      connection.on('error', () => undefined); // the main connection reports outages
    }
    this.subscriber.on('messageBuffer', (channel: Buffer, keys: Buffer[] | Buffer | null) => this.onInvalidation(channel, keys));
    this.timer = setInterval(() => this.tick(), Math.max(10, Math.floor(options.maxStaleMs / 4)));
    this.timer.unref();
  }

  /**
   * The session value under `key` if the cache may serve it now (no round trip), else undefined;
   * counted. An entry due for its refresh is served, and read again (sliding the expiry to
   * `ttlMs` when it has run down) in the background.
   */
  cached(key: string, ttlMs: number): string | undefined {
    const value = this.serve(key, ttlMs);
    if (value === undefined) this.misses++;
    else this.hits++;
    return value;
  }

  private serve(key: string, ttlMs: number): string | undefined {
    const value = this.cache.lookup(key);
    if (value === undefined) return undefined;
    if (this.cache.due(key)) this.refreshAhead(key, () => this.readSliding(key, ttlMs).then((v) => v ?? undefined));
    return value ?? undefined;
  }

  /**
   * Reads a served entry again without anyone waiting for it: its reply refills the entry under
   * the usual race rules (see NearCache.fill). A failure is dropped here: the next request that
   * finds the entry due tries again, a lasting outage ends the proof (and the cache) within
   * SESSION_CACHE_MAX_STALE, and the main connection is what reports it.
   */
  private refreshAhead(key: string, readIt: () => Promise<string | null | undefined>): void {
    if (!this.tracking || this.reader.status !== 'ready') return;
    const read = this.cache.beginRead(key);
    const readAt = this.clock();
    readIt().then(
      (value) => this.cache.fill(key, read, value, readAt),
      () => this.cache.abandon(key, read),
    );
  }

  /** The cached answer for `key` (null: known absent), or undefined when Redis must be read; counted. */
  private lookup(key: string): string | null | undefined {
    const value = this.cache.lookup(key);
    if (value === undefined) this.misses++;
    else this.hits++;
    return value;
  }

  /**
   * The value of a revocation-list key (`r:…`): from the cache when it may be served — absent
   * included — else read on the tracked connection, or with `direct` while tracking is down,
   * without caching. Any other key is always read with `direct`: nothing would tell us it changed.
   */
  get(
    key: string,
    guard: (op: () => Promise<string | null>) => Promise<string | undefined>,
    direct: () => Promise<string | null>,
  ): Promise<string | undefined> {
    if (!key.startsWith(REVOCATIONS)) return guard(direct);
    const hit = this.lookup(key);
    if (hit !== undefined) {
      if (this.cache.due(key)) this.refreshAhead(key, () => this.reader.get(key));
      return Promise.resolve(hit ?? undefined);
    }
    if (!this.tracking || this.reader.status !== 'ready') return guard(direct);
    const read = this.cache.beginRead(key);
    const readAt = this.clock();
    return guard(() => this.reader.get(key)).then(
      (value) => {
        this.cache.fill(key, read, value ?? null, readAt);
        return value;
      },
      (err: unknown) => {
        this.cache.abandon(key, read);
        throw err;
      },
    );
  }

  stats(): SessionCacheStats {
    return { hits: this.hits, misses: this.misses, entries: this.cache.size, serving: this.tracking && this.cache.serving };
  }

  /**
   * The session value under `key`: from the cache when it may be served, else read on the
   * tracked connection (sliding the expiry to `ttlMs` when it has run down), or with `direct`
   * on the main connection while tracking is down, without caching. `guard` maps Redis errors.
   */
  getAndTouch(
    key: string,
    ttlMs: number,
    guard: (op: () => Promise<string | null>) => Promise<string | undefined>,
    direct: () => Promise<string | null>,
  ): Promise<string | undefined> {
    const hit = this.serve(key, ttlMs);
    if (hit !== undefined) return Promise.resolve(hit);
    if (!this.tracking || this.reader.status !== 'ready') return guard(direct);
    const read = this.cache.beginRead(key);
    const readAt = this.clock();
    return guard(() => this.readSliding(key, ttlMs)).then(
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

  /**
   * GET without changing the key, then slide its idle expiry only once it has run down by the
   * refresh interval: a plain PEXPIRE from the reader, which NOLOOP keeps from dropping our own
   * copy; other instances drop theirs at most once per interval.
   */
  private async readSliding(key: string, ttlMs: number): Promise<string | null> {
    const [value, remaining] = await this.reader.readWithTtl(key);
    if (value !== null && remaining < ttlMs - this.options.refreshEveryMs) {
      this.reader.pexpire(key, ttlMs).catch(() => undefined); // the next fill tries again
    }
    return value;
  }

  /** This instance is writing `key`: call before the write is sent and again once it is answered. */
  wrote(key: string): void {
    this.cache.invalidate(key);
  }

  /**
   * Resolves once no change Redis made before this call can still be served stale here: a
   * heartbeat sent after it came back, or the cache was emptied (channel lost or unproven).
   */
  caughtUp(): Promise<void> {
    if (!this.tracking) return Promise.resolve();
    const after = this.clock();
    return new Promise((resolve) => {
      this.waiters.push({ after, resolve });
      this.heartbeat();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.retry);
    this.lost(false);
    await Promise.all([this.reader.quit().catch(() => undefined), this.subscriber.quit().catch(() => undefined)]);
    this.reader.disconnect();
    this.subscriber.disconnect();
  }

  private lost(subscriber: boolean): void {
    if (subscriber) this.subscriberId = undefined;
    this.tracking = false;
    // Heartbeats of the old channel are no proof for the new one, whenever their messages come.
    this.heartbeats = new Map();
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
      await this.checkRedirectTarget(this.subscriberId);
      // OFF first: a reader whose connection survived keeps its old redirect otherwise.
      await this.reader.call('CLIENT', 'TRACKING', 'OFF');
      const prefixes = TRACKED.flatMap((p) => ['PREFIX', this.options.keyPrefix + p]);
      await this.reader.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', this.subscriberId, 'BCAST', ...prefixes, 'NOLOOP');
      if (setup !== this.setups || this.closed) return;
      this.tracking = true;
      this.trackingSince = this.clock();
      this.heartbeat();
    } catch (err) {
      if (setup !== this.setups || this.closed) return;
      // A connection lost meanwhile calls setUp again when it is back: nothing to rebuild.
      if (this.reader.status !== 'ready' || this.subscriber.status !== 'ready') return;
      this.unavailableNow('the session cache could not be set up (CLIENT ID, SUBSCRIBE or CLIENT TRACKING failed)', err);
      this.rebuildLater();
    }
  }

  /**
   * After a Sentinel failover the redirect target must be our subscriber on the reader's own
   * server. CLIENT LIST is an admin command that hardened users may lack: then the check is
   * skipped, which stays safe — a redirect elsewhere never brings a heartbeat back, so nothing
   * is served.
   */
  private async checkRedirectTarget(id: string): Promise<void> {
    let target: string;
    try {
      target = String(await this.reader.call('CLIENT', 'LIST', 'ID', id));
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOPERM')) return;
      throw err;
    }
    if (!target.includes(`name=${this.subscriberName} `)) throw new Error('the invalidation connection is not on the same Redis server as the reader');
  }

  /** Logged once per outage of the cache; `store.cache_ready` when a heartbeat proves it again. */
  private unavailableNow(reason: string, err?: unknown): void {
    if (this.unavailable) return;
    this.unavailable = true;
    this.log.event('store.cache_unavailable', {
      store: 'redis',
      reason: `${reason}; reading Redis on every request`,
      ...(err === undefined ? {} : { err: errorFields(err, false) }),
    });
  }

  /** Starts both connections over after a growing pause (a refusal is not retried in a loop). */
  private rebuildLater(): void {
    if (this.retry || this.closed) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.lost(true);
      this.subscriber.disconnect(true);
      this.reader.disconnect(true);
    }, this.backoffMs);
    this.retry.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_SETUP_BACKOFF_MS);
  }

  private tick(): void {
    if (!this.tracking) return;
    const now = this.clock();
    const since = Math.max(this.lastProof, this.trackingSince);
    if (now - since > this.options.maxStaleMs) {
      // Unproven: nothing is served (NearCache refuses it), so nobody has to wait for a proof.
      this.release(Number.POSITIVE_INFINITY);
      // Silent for twice the bound: the connections may be stuck without closing; start over.
      if (now - since > 2 * this.options.maxStaleMs) {
        this.unavailableNow('no heartbeat came back through the invalidation channel');
        this.rebuildLater();
      }
    }
    this.heartbeat();
  }

  private heartbeat(): void {
    if (!this.tracking) return;
    const now = this.clock();
    for (const [seq, beat] of this.heartbeats) {
      if (now - beat.sentAt <= 4 * this.options.maxStaleMs) break;
      this.heartbeats.delete(seq); // lost with its message; Map keeps sending order
    }
    const seq = ++this.heartbeatSeq;
    this.heartbeats.set(seq, { sentAt: now, awaiting: new Set(TRACKED) });
    const ttl = Math.max(1000, 2 * this.options.maxStaleMs);
    // One write per prefix, pipelined: one round trip.
    const pipeline = this.main.pipeline();
    for (const p of TRACKED) pipeline.set(`${p}${HEARTBEAT}${this.instance}:${seq}`, '1', 'PX', ttl);
    pipeline.exec().catch(() => undefined);
  }

  private onInvalidation(channel: Buffer, keys: Buffer[] | Buffer | null): void {
    if (channel.toString() !== CHANNEL) return;
    // null: the whole database was flushed.
    if (keys === null) {
      this.cache.reset();
      return;
    }
    const prefix = this.options.keyPrefix;
    const ours = `${HEARTBEAT}${this.instance}:`;
    let proven: number | undefined;
    // Every change in the message is applied before any heartbeat in it counts as proof.
    for (const raw of Array.isArray(keys) ? keys : [keys]) {
      const key = raw.toString();
      if (!key.startsWith(prefix)) continue;
      const name = key.slice(prefix.length);
      const tracked = TRACKED.find((p) => name.startsWith(p));
      if (tracked === undefined || !name.startsWith(ours, tracked.length)) {
        this.cache.invalidate(name);
        continue;
      }
      // Our heartbeat came back under this prefix; it proves the channel once it has under every one.
      const beat = this.heartbeats.get(Number(name.slice(tracked.length + ours.length)));
      if (beat === undefined) continue;
      beat.awaiting.delete(tracked);
      if (beat.awaiting.size === 0 && (proven === undefined || beat.sentAt > proven)) proven = beat.sentAt;
    }
    if (proven === undefined) return;
    for (const [seq, beat] of this.heartbeats) {
      if (beat.sentAt > proven) break;
      this.heartbeats.delete(seq);
    }
    this.lastProof = proven;
    // Proven: a rebuild scheduled while it was silent is no longer needed, and back-off restarts.
    clearTimeout(this.retry);
    this.retry = undefined;
    this.backoffMs = 1000;
    if (this.unavailable) {
      this.unavailable = false;
      this.log.event('store.cache_ready', { store: 'redis' });
    }
    this.cache.prove(proven);
    this.release(proven);
    if (this.waiters.length > 0) this.heartbeat();
  }
}
