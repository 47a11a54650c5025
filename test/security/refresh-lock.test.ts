import assert from 'node:assert/strict';
import { createMemoryStore } from '../../src/store/memory-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { testClock } from '../support/clock.js';
import { startHarness, type Harness } from '../support/harness.js';

const OIDC_TIMEOUT_S = 7;

/**
 * Issue 16 item 13: the cross-instance refresh lock must outlive the longest refresh it guards.
 * With DPoP the IdP may answer the first token request with a use_dpop_nonce challenge, and the
 * refresh is then two token requests, each allowed OIDC_TIMEOUT: a lock that expired after one
 * would let another instance refresh with the same (rotated) refresh token.
 */
describe('the refresh lock outlives the longest refresh it guards (a DPoP nonce retry is two token requests)', () => {
  const clock = testClock();
  const memory = createMemoryStore(clock.now);
  const lockTtls: number[] = [];
  const store = new Proxy(memory, {
    get(target, prop) {
      if (prop === 'acquireLock') {
        return (key: string, ttlMs: number) => {
          lockTtls.push(ttlMs);
          return target.acquireLock(key, ttlMs);
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as SessionStore;
  let h: Harness;
  before(async () => {
    h = await startHarness({ now: clock.now, store, env: { OIDC_TIMEOUT: String(OIDC_TIMEOUT_S) } });
  });
  after(async () => {
    await h?.close();
    await memory.close();
  });

  it('takes the lock for more than two OIDC_TIMEOUTs', async () => {
    const ua = h.browser();
    await h.login(ua);
    clock.advance(301_000);
    assert.equal((await h.api(ua, '/after-expiry')).status, 200);
    assert.equal(h.idp.counts.refresh, 1);
    assert.ok(lockTtls.length >= 1, 'no lock was taken for the refresh');
    for (const ttl of lockTtls) assert.ok(ttl > 2 * OIDC_TIMEOUT_S * 1000, `a ${ttl} ms lock guards a refresh that may take ${2 * OIDC_TIMEOUT_S} s`);
  });
});
