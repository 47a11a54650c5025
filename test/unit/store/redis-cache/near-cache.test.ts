import assert from 'node:assert/strict';
import { touchEveryMs } from '../../../../src/config/load.js';
import { NearCache, SERVED_FOR_REFRESHES } from '../../../../src/store/redis-cache/near-cache.js';

const MAX_STALE = 1000;
const REFRESH_EVERY = 5000;

function cacheAt(start = 10_000, maxEntries = 100) {
  let now = start;
  const cache = new NearCache({ maxStaleMs: MAX_STALE, refreshEveryMs: REFRESH_EVERY, maxEntries, clock: () => now });
  return { cache, advance: (ms: number) => (now += ms), now: () => now };
}

/** Lets `ms` pass on a channel whose heartbeats keep coming back (every half of the bound). */
function proven(t: ReturnType<typeof cacheAt>, ms: number) {
  for (let left = ms; left > 0; left -= MAX_STALE / 2) {
    t.advance(Math.min(left, MAX_STALE / 2));
    t.cache.prove(t.now());
  }
}

/** A read of `key` answered with `value`, on a channel proven at the moment of the read. */
function filled(t: ReturnType<typeof cacheAt>, key: string, value: string) {
  t.cache.prove(t.now());
  const read = t.cache.beginRead(key);
  t.cache.fill(key, read, value, t.now());
}

describe('session cache: a value is served only while the invalidation channel is proven', () => {
  it('serves nothing before the first heartbeat came back, even what a read returned', () => {
    const t = cacheAt();
    const read = t.cache.beginRead('s:a');
    t.cache.fill('s:a', read, 'v1', t.now());
    assert.equal(t.cache.lookup('s:a'), undefined);
    assert.equal(t.cache.size, 0);
  });

  it('serves a value read after a proof, for as long as the last proof is at most the bound old', () => {
    const t = cacheAt();
    filled(t, 's:a', 'v1');
    assert.equal(t.cache.lookup('s:a'), 'v1');
    t.advance(MAX_STALE);
    assert.equal(t.cache.lookup('s:a'), 'v1');
  });

  it('a proof arriving after a lapse does not bring back entries, even when nothing was looked up during the lapse', () => {
    const t = cacheAt();
    filled(t, 's:a', 'v1');
    t.advance(MAX_STALE + 1);
    t.cache.prove(t.now());
    assert.equal(t.cache.lookup('s:a'), undefined);
  });

  it('stops serving one millisecond past the bound and forgets everything, so a late proof brings nothing back', () => {
    const t = cacheAt();
    filled(t, 's:a', 'v1');
    t.advance(MAX_STALE + 1);
    assert.equal(t.cache.lookup('s:a'), undefined);
    t.cache.prove(t.now());
    assert.equal(t.cache.lookup('s:a'), undefined, 'an entry outlived a lapse of the channel');
  });
});

describe('session cache: a change is never hidden by a read that raced it', () => {
  it('does not cache a reply whose key was invalidated after the read was sent (the message overtook the reply)', () => {
    const t = cacheAt();
    t.cache.prove(t.now());
    const read = t.cache.beginRead('s:a');
    t.cache.invalidate('s:a');
    t.cache.fill('s:a', read, 'old', t.now());
    assert.equal(t.cache.lookup('s:a'), undefined);
  });

  it('does not cache a reply when the channel was rebuilt while the read was on its way', () => {
    const t = cacheAt();
    t.cache.prove(t.now());
    const read = t.cache.beginRead('s:a');
    t.cache.reset();
    t.cache.prove(t.now());
    t.cache.fill('s:a', read, 'old', t.now());
    assert.equal(t.cache.lookup('s:a'), undefined);
  });

  it('keeps the later of two overlapping reads only: the first one no longer owns the key', () => {
    const t = cacheAt();
    t.cache.prove(t.now());
    const first = t.cache.beginRead('s:a');
    const second = t.cache.beginRead('s:a');
    t.cache.fill('s:a', second, 'new', t.now());
    t.cache.fill('s:a', first, 'old', t.now());
    assert.equal(t.cache.lookup('s:a'), 'new');
  });

  it('drops an entry on invalidation, and a failed read leaves nothing pending', () => {
    const t = cacheAt();
    filled(t, 's:a', 'v1');
    t.cache.invalidate('s:a');
    assert.equal(t.cache.lookup('s:a'), undefined);
    const read = t.cache.beginRead('s:b');
    t.cache.abandon('s:b', read);
    t.cache.fill('s:b', read, 'late', t.now());
    assert.equal(t.cache.lookup('s:b'), undefined);
  });

  it('does not cache a missing session', () => {
    const t = cacheAt();
    t.cache.prove(t.now());
    const read = t.cache.beginRead('s:a');
    t.cache.fill('s:a', read, undefined, t.now());
    assert.equal(t.cache.size, 0);
  });
});

describe("session cache: entries go back to Redis often enough to slide the session's idle expiry, and no request waits for it", () => {
  it('an entry is due for its read once the refresh interval has passed, and is served meanwhile', () => {
    const t = cacheAt();
    filled(t, 's:a', 'v1');
    proven(t, REFRESH_EVERY - 1);
    assert.equal(t.cache.due('s:a'), false, 'due before the interval');
    proven(t, 1);
    assert.equal(t.cache.lookup('s:a'), 'v1', 'a due entry was not served');
    assert.equal(t.cache.due('s:a'), true);
  });

  it('is not due again while its read is on its way; it is once that read failed', () => {
    const t = cacheAt();
    filled(t, 's:a', 'v1');
    proven(t, REFRESH_EVERY);
    const read = t.cache.beginRead('s:a');
    assert.equal(t.cache.due('s:a'), false, 'a second read would be sent while the first is on its way');
    t.cache.abandon('s:a', read);
    assert.equal(t.cache.due('s:a'), true);
  });

  it("the read's reply starts the interval again, from when the read was sent", () => {
    const t = cacheAt();
    filled(t, 's:a', 'v1');
    proven(t, REFRESH_EVERY);
    const read = t.cache.beginRead('s:a');
    const sentAt = t.now();
    proven(t, 10);
    t.cache.fill('s:a', read, 'v2', sentAt);
    assert.equal(t.cache.lookup('s:a'), 'v2');
    assert.equal(t.cache.due('s:a'), false);
    proven(t, REFRESH_EVERY - 10);
    assert.equal(t.cache.due('s:a'), true);
  });

  it(`is served for less than ${SERVED_FOR_REFRESHES} refresh intervals after the read that filled it, when no read refills it`, () => {
    const t = cacheAt();
    filled(t, 's:a', 'v1');
    for (let elapsed = 0; elapsed < SERVED_FOR_REFRESHES * REFRESH_EVERY; elapsed += MAX_STALE / 2) {
      t.cache.prove(t.now());
      assert.equal(t.cache.lookup('s:a'), 'v1', `at ${elapsed} ms`);
      t.advance(MAX_STALE / 2);
    }
    t.cache.prove(t.now());
    assert.equal(t.cache.lookup('s:a'), undefined);
    assert.equal(t.cache.due('s:a'), false, 'an entry no longer served is not due: the next read is the caller’s own');
  });

  it('is never served past the key it copies: the serving bound stays under the idle timeout less one interval', () => {
    // A read leaves the key at least the idle timeout less one interval to live; both the
    // instance's and each frontend's interval come from touchEveryMs.
    for (let idleS = 60; idleS <= 7 * 86_400; idleS = Math.ceil(idleS * 1.5)) {
      const idle = idleS * 1000;
      assert.ok(SERVED_FOR_REFRESHES * touchEveryMs(idle) < idle - touchEveryMs(idle), `SESSION_IDLE_TIMEOUT=${idleS}`);
    }
  });

  it('drops a copy still served when its refreshing read finds the session gone', () => {
    const t = cacheAt();
    filled(t, 's:a', 'v1');
    proven(t, REFRESH_EVERY);
    const read = t.cache.beginRead('s:a');
    assert.equal(t.cache.lookup('s:a'), 'v1');
    t.cache.fill('s:a', read, undefined, t.now());
    assert.equal(t.cache.lookup('s:a'), undefined);
  });
});

describe('session cache: memory is bounded by SESSION_CACHE_ENTRIES, without churning', () => {
  it('turns a new session away while full of live entries (it is read from Redis), and admits it once one has aged out', () => {
    const t = cacheAt(10_000, 3);
    for (const k of ['a', 'b', 'c', 'd']) filled(t, `s:${k}`, k);
    assert.equal(t.cache.size, 3);
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((k) => t.cache.lookup(`s:${k}`)),
      ['a', 'b', 'c', undefined],
    );
    t.advance(SERVED_FOR_REFRESHES * REFRESH_EVERY);
    filled(t, 's:d', 'd');
    assert.equal(t.cache.lookup('s:d'), 'd');
    assert.ok(t.cache.size <= 3);
  });
});

describe('revocation cache: a key known to be absent is served as absent, under the same rules as a value', () => {
  it('caches a read that found nothing when asked to (null), and serves it only while proven', () => {
    const t = cacheAt();
    t.cache.prove(t.now());
    const read = t.cache.beginRead('r:sub:a');
    t.cache.fill('r:sub:a', read, null, t.now());
    assert.equal(t.cache.lookup('r:sub:a'), null, 'the absence was not cached');
    t.advance(MAX_STALE + 1);
    assert.equal(t.cache.lookup('r:sub:a'), undefined, 'an absence was served past the bound');
  });

  it('a revocation that overtook the read of its absence is not hidden by it', () => {
    const t = cacheAt();
    t.cache.prove(t.now());
    const read = t.cache.beginRead('r:sub:a');
    t.cache.invalidate('r:sub:a');
    t.cache.fill('r:sub:a', read, null, t.now());
    assert.equal(t.cache.lookup('r:sub:a'), undefined);
  });

  it('drops a cached absence when the key is written', () => {
    const t = cacheAt();
    t.cache.prove(t.now());
    t.cache.fill('r:sub:a', t.cache.beginRead('r:sub:a'), null, t.now());
    t.cache.invalidate('r:sub:a');
    assert.equal(t.cache.lookup('r:sub:a'), undefined);
  });
});
