import { BffError } from '../errors/bff-error.js';

/**
 * Upstream requests in flight, in all and per client, within one scope: the instance
 * (API_MAX_CONCURRENCY and API_MAX_CONCURRENCY_PER_CLIENT) or one route (its share of the
 * instance, and API_UPSTREAM_CONNECTIONS_PER_CLIENT). Above `max`: 503 upstream_busy; above
 * `maxPerClient` for one user or address: 429 too_many_in_flight — so that one browser
 * holding slow uploads or hanging calls cannot take every slot from the others.
 */
export class ConcurrencyGate {
  private inFlight = 0;
  // A client's entry stays at 0 when its last call ends, and idle entries are swept in bulk once
  // there are this many: a browser has one call in flight at a time, and an entry added and
  // deleted per call makes V8 rebuild the map's table again and again (docs/development.md,
  // "Code on the hot path").
  private readonly perClient = new Map<string, number>();
  private readonly sweepAt: number;

  constructor(
    private readonly max: number,
    private readonly maxPerClient: number,
    private readonly scope = 'this instance',
    sweepAt = 4_096,
  ) {
    // Above the most clients that can be in flight at once, so a sweep always leaves room.
    this.sweepAt = Math.max(sweepAt, 2 * max);
  }

  /** Takes a slot for `client` or throws; every successful enter must be paired with a leave. */
  enter(client: string): void {
    if (this.inFlight >= this.max) throw new BffError('upstream_busy', { detail: `${this.inFlight} upstream requests in flight on ${this.scope}` });
    const known = this.perClient.get(client);
    const mine = known ?? 0;
    if (this.maxPerClient > 0 && mine >= this.maxPerClient) {
      throw new BffError('too_many_in_flight', { detail: `${mine} requests of one client in flight on ${this.scope}` });
    }
    if (known === undefined && this.perClient.size >= this.sweepAt) this.sweepIdle();
    this.inFlight++;
    this.perClient.set(client, mine + 1);
  }

  leave(client: string): void {
    this.inFlight--;
    this.perClient.set(client, Math.max(0, (this.perClient.get(client) ?? 1) - 1));
  }

  /** Clients tracked, idle ones included (until the next sweep). */
  get tracked(): number {
    return this.perClient.size;
  }

  private sweepIdle(): void {
    for (const [client, calls] of this.perClient) if (calls === 0) this.perClient.delete(client);
  }
}
