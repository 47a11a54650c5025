import { clientKey } from '../web/address-match.js';
import { BffError } from '../errors/bff-error.js';
import type { CounterStore } from '../store/store.js';
import type { Step } from '../web/context.js';

const MINUTE_MS = 60_000;

/**
 * Fixed-window rate limit per client address (ctx.ip, as TRUST_PROXY allows: see
 * client-address.ts) and per route name, counted in the shared store so every instance sees
 * the same budget. Over the limit: 429 `rate_limited` with Retry-After. `limit` 0 turns it
 * off; `windowMs` is a minute unless said otherwise.
 */
export function rateLimit(store: CounterStore, name: string, limit: number, now: () => number, windowMs = MINUTE_MS): Step {
  if (limit <= 0) return (_ctx, next) => next();
  return async (ctx, next) => {
    const t = now();
    const window = Math.floor(t / windowMs);
    const count = await store.increment(`rl:${name}:${clientKey(ctx.ip)}:${window}`, windowMs);
    if (count > limit) {
      ctx.set('Retry-After', String(Math.max(1, Math.ceil(((window + 1) * windowMs - t) / 1000))));
      throw new BffError('rate_limited', { detail: `${name}: ${count} requests from one address within ${windowMs / 1000} s` });
    }
    await next();
  };
}
