import assert from 'node:assert/strict';
import { createMemoryStore } from '../../src/store/memory-store.js';
import { StoreUnavailableError, type SessionStore } from '../../src/store/store.js';
import { testClock } from '../support/clock.js';
import { shareCookies, startHarness, type Harness } from '../support/harness.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';

const ACCESS_TTL_MS = 300_000;
/** TOKEN_REFRESH_GRACE's default. */
const GRACE_MS = 10_000;

/** Two BFF instances behind one PUBLIC_URL, sharing one Redis and one IdP that rotates refresh tokens. */
async function twoInstances(redis: TestRedis, clock: ReturnType<typeof testClock>, store: 'redis' | 'cookie'): Promise<[Harness, Harness]> {
  const env = { SESSION_STORE: store };
  const a = await startHarness({ redis, now: clock.now, idp: { rotateRefreshToken: true }, env });
  const b = await startHarness({ redis, now: clock.now, shareWith: a, env: { ...env, PUBLIC_URL: a.url } });
  return [a, b];
}

// Cookie sessions with REDIS_URL take the same cross-instance lock and grace records as the Redis store.
for (const store of ['redis', 'cookie'] as const)
  describe(`one refresh per session across instances, and rotation races never log a user out (SESSION_STORE=${store}, Redis configured)`, () => {
    const clock = testClock();
    let redis: TestRedis;
    let a: Harness;
    let b: Harness;
    before(async () => {
      redis = await startTestRedis();
      [a, b] = await twoInstances(redis, clock, store);
    });
    after(async () => {
      await b?.close();
      await a?.close();
      await redis?.close();
    });

    it('50 concurrent calls over two instances with an expired token make exactly one refresh at the IdP, 20 times in a row', async () => {
      const ua = a.browser();
      await a.login(ua);
      shareCookies(ua, a, b);
      for (let round = 1; round <= 20; round++) {
        clock.advance(ACCESS_TTL_MS + 1);
        const refreshesBefore = a.idp.counts.refresh;
        const receivedBefore = a.upstream.received.length;
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? b : a).api(ua, `/r${round}/${i}`)));
        assert.deepEqual(
          results.map((r) => r.status),
          Array(50).fill(200),
          `round ${round}: ${results.map((r) => r.status).join(',')}`,
        );
        assert.equal(a.idp.counts.refresh - refreshesBefore, 1, `round ${round}: refreshes at the IdP`);
        const bearers = new Set(a.upstream.received.slice(receivedBefore).map((r) => r.headers['authorization']));
        assert.equal(bearers.size, 1, `round ${round}: the upstream saw ${bearers.size} different tokens`);
        assert.ok(a.idp.issued.has(String([...bearers][0]).slice('Bearer '.length)));
      }
      assert.equal((await ua.get(`${a.url}/session`)).status, 200);
      assert.equal((await b.api(ua, '/still-signed-in')).status, 200);
    });

    it('a request still carrying the rotated state on another instance uses the new tokens (grace record)', async () => {
      const ua = a.browser();
      await a.login(ua);
      shareCookies(ua, a, b);
      clock.advance(ACCESS_TTL_MS + 1);
      assert.equal((await a.api(ua, '/first')).status, 200);
      const refreshes = a.idp.counts.refresh;
      assert.equal((await b.api(ua, '/second')).status, 200);
      assert.equal(a.idp.counts.refresh, refreshes, 'instance B must not refresh again');
    });

    it('a logout on one instance during a refresh on the other leaves the session ended', async () => {
      const ua = a.browser();
      await a.login(ua);
      shareCookies(ua, a, b);
      clock.advance(ACCESS_TTL_MS + 1);
      const [api, logout] = await Promise.all([b.api(ua, '/racing'), ua.post(`${a.url}/logout`, { headers: { 'x-csrf': '1' } })]);
      assert.equal(logout.status, 200);
      assert.ok([200, 401].includes(api.status), `api answered ${api.status}`);
      assert.equal((await b.api(ua, '/after')).status, 401);
      assert.equal((await a.api(ua, '/after')).status, 401);
    });
  });

/**
 * `store`, with its next session write (the compare-and-set that saves a refresh) stopped on
 * demand: held until `release()`, or failed as an unreachable store would fail it.
 */
function gatedWrites(store: SessionStore) {
  let next: ((write: () => Promise<unknown>) => Promise<unknown>) | undefined;
  let graceFault = false;
  const shim = new Proxy(store, {
    get(target, prop) {
      // Decided per call: the app wraps the store's methods once, when it starts.
      if (prop === 'set') {
        return (...args: Parameters<SessionStore['set']>) => {
          if (graceFault && args[0].startsWith('g:')) {
            graceFault = false;
            return Promise.reject(new StoreUnavailableError(new Error('connection lost (test)')));
          }
          return target.set(...args);
        };
      }
      if (prop === 'replaceIf') {
        return (...args: Parameters<SessionStore['replaceIf']>) => {
          const stop = next;
          next = undefined;
          return stop ? stop(() => target.replaceIf(...args)) : target.replaceIf(...args);
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    shim,
    /** Holds the next write; `arrived` resolves when it is waiting. */
    holdNext() {
      let release!: () => void;
      let arrived!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const held = new Promise<void>((resolve) => (arrived = resolve));
      next = async (write) => {
        arrived();
        await gate;
        return write();
      };
      return { held, release };
    },
    /** Fails the next write as an unreachable store does. */
    failNext() {
      next = async () => {
        throw new StoreUnavailableError(new Error('connection lost (test)'));
      };
    },
    /** Fails the next grace-record write (`g:` key): the store went away just after the IdP rotated the tokens. */
    failNextGraceWrite() {
      graceFault = true;
    },
  };
}

/**
 * The grace record (src/tokens/grace.ts) is what answers a request that read the session before
 * another instance's refresh was saved: the lock keeps a second refresh out while the first is
 * in flight, but the session in the store still holds the replaced tokens until the save lands
 * (or forever, if the save fails), and the replaced refresh token must never be sent again to
 * an IdP that rotates them. Two instances share one store, instance A's save is stopped at the
 * store, and instance B serves the same browser meanwhile. With TOKEN_REFRESH_GRACE=0 (or the
 * remember call removed) both tests fail: B waits for A's lock and answers 503, or refreshes
 * with the replaced token and the IdP ends the grant (401).
 */
describe('grace records: a request that read the session before another instance saved its refresh uses the new tokens, never the replaced refresh token', () => {
  const clock = testClock();
  const store = createMemoryStore(clock.now);
  const writes = gatedWrites(store);
  let a: Harness; // refreshes, and its save is held or fails
  let b: Harness; // reads the session while A's save has not landed
  before(async () => {
    a = await startHarness({ now: clock.now, store: writes.shim, idp: { rotateRefreshToken: true } });
    // A short TOKEN_REFRESH_WAIT: without a grace record B would wait for A's lock that long, then answer 503.
    b = await startHarness({ now: clock.now, store, shareWith: a, env: { PUBLIC_URL: a.url, TOKEN_REFRESH_WAIT: '1' } });
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await store.close();
  });
  const bearerAt = (h: Harness) => h.upstream.received.at(-1)?.headers['authorization'];

  it("while A's save of a refresh is held, B answers at once with A's new access token, and the IdP sees one refresh", async () => {
    const ua = a.browser();
    await a.login(ua);
    shareCookies(ua, a, b);
    assert.equal((await a.api(ua, '/before')).status, 200);
    const oldBearer = bearerAt(a);
    clock.advance(ACCESS_TTL_MS + 1);
    const refreshesBefore = a.idp.counts.refresh;

    const hold = writes.holdNext();
    const onA = a.api(ua, '/refreshing-on-a');
    await hold.held; // A has the new tokens from the IdP; the store still holds the old ones
    const onB = await b.api(ua, '/meanwhile-on-b');
    assert.equal(onB.status, 200, `B answered ${onB.status} ${onB.text}`);
    const newBearer = bearerAt(b);
    assert.notEqual(newBearer, oldBearer, 'B sent the expired access token');
    hold.release();
    assert.equal((await onA).status, 200);
    assert.equal(bearerAt(a), newBearer, 'A and B sent different tokens');
    assert.equal(a.idp.counts.refresh - refreshesBefore, 1, 'refreshes at the IdP');
    assert.equal((await b.api(ua, '/after')).status, 200);
    assert.equal((await a.api(ua, '/after')).status, 200);
  });

  it("when A's save of a refresh fails, B still gets the new tokens within TOKEN_REFRESH_GRACE instead of replaying the replaced refresh token (which would end the grant)", async () => {
    const ua = a.browser();
    await a.login(ua);
    shareCookies(ua, a, b);
    clock.advance(ACCESS_TTL_MS + 1);
    const refreshesBefore = a.idp.counts.refresh;

    writes.failNext();
    const onA = await a.api(ua, '/save-fails-on-a');
    assert.equal(onA.status, 503, `A answered ${onA.status} ${onA.text}`);
    assert.equal(onA.json<{ error: string }>().error, 'session_store_unavailable');
    assert.equal(a.idp.counts.refresh - refreshesBefore, 1, 'A refreshed at the IdP before its save failed');

    const onB = await b.api(ua, '/next-on-b');
    assert.equal(onB.status, 200, `B answered ${onB.status} ${onB.text}`);
    assert.ok(a.idp.issued.has(String(bearerAt(b)).slice('Bearer '.length)));
    assert.equal(a.idp.counts.refresh - refreshesBefore, 1, 'B refreshed again with the replaced refresh token');
    assert.equal((await ua.get(`${b.url}/session`)).status, 200, 'the session survived');
  });

  it("when A's save of a refresh fails, the store gets the new tokens back: once the grace record has expired, neither instance replays the replaced refresh token", async () => {
    const ua = a.browser();
    await a.login(ua);
    shareCookies(ua, a, b);
    clock.advance(ACCESS_TTL_MS + 1);
    const refreshesBefore = a.idp.counts.refresh;
    writes.failNext();
    assert.equal((await a.api(ua, '/save-fails-on-a')).status, 503);
    assert.equal((await b.api(ua, '/grace-on-b')).status, 200);
    const issued = bearerAt(b);

    // The record lives TOKEN_REFRESH_GRACE past the replaced token's expiry; the new token is not due yet.
    clock.advance(GRACE_MS + 1_000);
    for (const [h, path] of [
      [b, '/later-on-b'],
      [a, '/later-on-a'],
    ] as const) {
      const r = await h.api(ua, path);
      assert.equal(r.status, 200, `${path} answered ${r.status} ${r.text}`);
      assert.equal(bearerAt(h), issued, `${path} sent another token`);
    }
    assert.equal(a.idp.counts.refresh - refreshesBefore, 1, 'refreshes at the IdP');
  });

  it('when the grace record cannot be written after the IdP rotated the tokens, A keeps them: its next call uses and stores them, and the IdP sees one refresh', async () => {
    const ua = a.browser();
    await a.login(ua);
    shareCookies(ua, a, b);
    clock.advance(ACCESS_TTL_MS + 1);
    const refreshesBefore = a.idp.counts.refresh;
    writes.failNextGraceWrite();
    const failed = await a.api(ua, '/grace-write-fails-on-a');
    assert.equal(failed.status, 503, `A answered ${failed.status} ${failed.text}`);
    assert.equal(a.idp.counts.refresh - refreshesBefore, 1, 'A refreshed at the IdP before the store failed');

    const next = await a.api(ua, '/store-is-back-on-a');
    assert.equal(next.status, 200, `A answered ${next.status} ${next.text}`);
    const issued = bearerAt(a);
    assert.ok(a.idp.issued.has(String(issued).slice('Bearer '.length)), 'A sent a token the IdP did not issue');
    clock.advance(GRACE_MS + 1_000);
    const onB = await b.api(ua, '/later-on-b');
    assert.equal(onB.status, 200, `B answered ${onB.status} ${onB.text}`);
    assert.equal(bearerAt(b), issued, 'B sent another token');
    assert.equal(a.idp.counts.refresh - refreshesBefore, 1, 'refreshes at the IdP');
  });
});
