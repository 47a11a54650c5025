import { BffError } from '../errors/bff-error.js';
import type { SessionStore } from '../session/store.js';
import type { Step } from './context.js';

const MINUTE_MS = 60_000;

/**
 * Fixed-window rate limit per client address (ctx.ip, as TRUST_PROXY allows: see
 * client-address.ts) and per route name, counted in the shared store so every instance sees
 * the same budget. Over the limit: 429 `rate_limited` with Retry-After. `limit` 0 turns it
 * off; `windowMs` is a minute unless said otherwise.
 */
export function rateLimit(store: SessionStore, name: string, limit: number, now: () => number, windowMs = MINUTE_MS): Step {
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

/**
 * The address a budget belongs to: an IPv4 address, or an IPv6 /64 (one subscriber usually
 * holds a whole /64, so counting single IPv6 addresses would give unlimited budgets).
 */
export function clientKey(ip: string): string {
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4) return v4[1]!;
  if (!ip.includes(':')) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g || '0').join(':')}::/64`;
}
