import assert from 'node:assert/strict';
import { createMemoryStore } from '../../src/store/memory-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { testClock } from '../support/clock.js';
import { SECRET, shareCookies, startHarness, type Harness } from '../support/harness.js';

const NEW_SECRET = 'rotated-session-secret-0123456789-abcdefghijklmn';

/** `store`, with its first compare-and-set held until `release()`; `held` resolves when it arrives. */
function holdFirstReplace(store: SessionStore) {
  let release!: () => void;
  let arrived!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held = new Promise<void>((resolve) => (arrived = resolve));
  let used = false;
  const shim = new Proxy(store, {
    get(target, prop) {
      if (prop === 'replaceIf' && !used) {
        return async (...args: Parameters<SessionStore['replaceIf']>) => {
          used = true;
          arrived();
          await gate;
          return target.replaceIf(...args);
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { shim, held, release };
}

/**
 * Issue 16 item 13: a session read under an older secret is re-sealed under the current one.
 * That write must be a compare-and-set that gives way to any write made since the read: here a
 * refresh on another instance saves rotated tokens while the re-seal is in flight, and the
 * re-seal must not put the old tokens (the used refresh token) back.
 */
describe('re-sealing a session after a secret rotation never races a concurrent refresh', () => {
  const clock = testClock(); // frozen: the refresh's tokens expire exactly when the old ones did
  const memory = createMemoryStore(clock.now);
  const gate = holdFirstReplace(memory);
  let old: Harness; // the instance that still seals with the old secret
  let rotated: Harness; // SESSION_SECRETS=new,old: opens the session as stale and re-seals it
  before(async () => {
    old = await startHarness({ now: clock.now, store: memory });
    rotated = await startHarness({
      now: clock.now,
      store: gate.shim,
      shareWith: old,
      env: { PUBLIC_URL: old.url, SESSION_SECRETS: `${NEW_SECRET},${SECRET}` },
    });
  });
  after(async () => {
    await rotated?.close();
    await old?.close();
    await memory.close();
  });

  it('a re-seal held while another instance refreshes does not overwrite the refreshed tokens', async () => {
    const ua = old.browser();
    await old.login(ua);
    shareCookies(ua, old, rotated);

    // 1. The rotated instance reads the session (old secret: stale) and starts re-sealing it.
    const reading = ua.get(`${rotated.url}/session`);
    await gate.held;
    // 2. Meanwhile the old instance refreshes: the IdP rotates the refresh token.
    const refreshed = await ua.post(`${old.url}/refresh`, { headers: { 'x-csrf': '1' } });
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.equal(old.idp.counts.refresh, 1);
    await old.api(ua, '/after-refresh');
    const newToken = old.upstream.received.at(-1)?.headers['authorization'];
    // 3. The re-seal write goes on.
    gate.release();
    assert.equal((await reading).status, 200);

    // The store still holds the refreshed set: both instances send the new access token…
    await rotated.api(ua, '/via-rotated');
    assert.equal(rotated.upstream.received.at(-1)?.headers['authorization'], newToken, 'the re-seal put the old tokens back');
    await old.api(ua, '/via-old');
    assert.equal(old.upstream.received.at(-1)?.headers['authorization'], newToken);
    // …and the next refresh uses the rotated refresh token, which the IdP accepts.
    const again = await ua.post(`${rotated.url}/refresh`, { headers: { 'x-csrf': '1' } });
    assert.equal(again.status, 200, again.text);
    assert.equal(old.idp.counts.refresh, 2);
  });
});
