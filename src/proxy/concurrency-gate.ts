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
  private readonly perClient = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly maxPerClient: number,
    private readonly scope = 'this instance',
  ) {}

  /** Takes a slot for `client` or throws; every successful enter must be paired with a leave. */
  enter(client: string): void {
    if (this.inFlight >= this.max) throw new BffError('upstream_busy', { detail: `${this.inFlight} upstream requests in flight on ${this.scope}` });
    const mine = this.perClient.get(client) ?? 0;
    if (this.maxPerClient > 0 && mine >= this.maxPerClient) {
      throw new BffError('too_many_in_flight', { detail: `${mine} requests of one client in flight on ${this.scope}` });
    }
    this.inFlight++;
    this.perClient.set(client, mine + 1);
  }

  leave(client: string): void {
    this.inFlight--;
    const mine = (this.perClient.get(client) ?? 1) - 1;
    if (mine > 0) this.perClient.set(client, mine);
    else this.perClient.delete(client);
  }
}
