import { BffError } from '../errors/bff-error.js';

/**
 * Upstream requests in flight on this instance: at most `max` in all (API_MAX_CONCURRENCY, 503
 * upstream_busy above) and at most `maxPerClient` for one user or address
 * (API_MAX_CONCURRENCY_PER_CLIENT, 429 above), so that one browser holding slow uploads or
 * hanging calls cannot take every slot from the others.
 */
export class ConcurrencyGate {
  private inFlight = 0;
  private readonly perClient = new Map<string, number>();

  constructor(private readonly max: number, private readonly maxPerClient: number) {}

  /** Takes a slot for `client` or throws; every successful enter must be paired with a leave. */
  enter(client: string): void {
    if (this.inFlight >= this.max) throw new BffError('upstream_busy', { detail: `${this.inFlight} upstream requests in flight` });
    const mine = this.perClient.get(client) ?? 0;
    if (this.maxPerClient > 0 && mine >= this.maxPerClient) {
      throw new BffError('too_many_in_flight', { detail: `${mine} requests of one client in flight` });
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
