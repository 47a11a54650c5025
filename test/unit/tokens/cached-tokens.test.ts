import assert from 'node:assert/strict';
import { TokenCache, type CachedToken } from '../../../src/tokens/cached-tokens.js';

const token = (accessToken: string, expiresAt: number): CachedToken => ({ accessToken, tokenType: 'Bearer', expiresAt });

describe('the cache of tokens the BFF obtains for routes (src/tokens/cached-tokens.ts)', () => {
  let t: number;
  beforeEach(() => (t = 1_000_000));
  const cache = (maxEntries = 10) => new TokenCache({ maxEntries, skewMs: 10_000, fallbackMs: 60_000, now: () => t });

  it('concurrent requests for one key share one fetch, and the token is reused until shortly before it expires', async () => {
    const c = cache();
    let fetches = 0;
    const fetch = async () => token(`t${++fetches}`, t + 60_000);
    const [a, b] = await Promise.all([c.get('k', fetch), c.get('k', fetch)]);
    assert.equal(fetches, 1);
    assert.equal(a, b);
    t += 49_000;
    assert.equal((await c.get('k', fetch)).accessToken, 't1');
    t += 2_000; // within the 10 s skew of its expiry
    assert.equal((await c.get('k', fetch)).accessToken, 't2');
  });

  it('when full, the entry used least recently goes, however long ago it was fetched', async () => {
    const c = cache(2);
    const fetched: string[] = [];
    const fetch = (key: string) => async () => {
      fetched.push(key);
      return token(key, t + 3_600_000);
    };
    await c.get('a', fetch('a'));
    t += 1;
    await c.get('b', fetch('b'));
    t += 1;
    await c.get('a', fetch('a')); // a hit: a is now the more recently used
    t += 1;
    await c.get('c', fetch('c')); // full: b goes, not a
    t += 1;
    await c.get('a', fetch('a'));
    await c.get('b', fetch('b'));
    assert.deepEqual(fetched, ['a', 'b', 'c', 'b']);
  });

  it('a full cache makes room in one batch: tokens due for renewal first, then the least recently used, the new one kept', async () => {
    const c = cache(32); // batches of 32 / 16 = 2
    const fetched: string[] = [];
    const fetch =
      (key: string, lifetime = 3_600_000) =>
      async () => {
        fetched.push(key);
        return token(key, t + lifetime);
      };
    await c.get('short', fetch('short', 20_000)); // due for renewal 10 s before its expiry
    for (let i = 0; i < 31; i++) {
      t += 1;
      await c.get(`k${i}`, fetch(`k${i}`));
    }
    t += 15_000; // 'short' is due now
    await c.get('k0', fetch('k0')); // a hit: k0 is the most recently used
    await c.get('new', fetch('new')); // 33 entries: 'short' (due) and k1 (least recently used) go
    fetched.length = 0;
    for (const key of ['new', 'k0', 'k2', 'k30', 'k1']) await c.get(key, fetch(key));
    assert.deepEqual(fetched, ['k1']);
  });
});
