import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { CustomFetch } from 'openid-client';
import type { Harness } from '../support/harness.js';
import { findSetCookie, hostOf, newKeys, STORE_KINDS, startStoreHarness, type StoreHarness } from '../support/security.js';
import type { TestRedis } from '../support/redis.js';
import type { UserAgent } from '../support/user-agent.js';

interface SessionBody {
  authenticated: boolean;
  sid?: string;
  claims?: { sub?: string };
}

/**
 * New keys after a logout, besides the one logout transaction it leaves for the IdP's return
 * (`o:`, sealed, 10 minutes: a post-logout target, no session); more than one of those is kept.
 */
async function storedAfterLogout(redis: TestRedis, before: Set<string>): Promise<string[]> {
  const keys = await newKeys(redis, before);
  const logoutTransactions = keys.filter((k) => k.startsWith(`${redis.prefix}o:`));
  return logoutTransactions.length === 1 ? keys.filter((k) => k !== logoutTransactions[0]) : keys;
}

describe('no session fixation: a login always issues a new session id, and logout deletes server state', () => {
  for (const kind of STORE_KINDS) {
    describe(`with the ${kind} store`, () => {
      let s: StoreHarness;
      let h: Harness;
      let redis: TestRedis | undefined;
      let host: string;
      /** When set, the next refresh_token grant is sent to the IdP, and its answer held back until `release` resolves. */
      let holdRefresh: { answered: () => void; release: Promise<void> } | undefined;
      const idpFetch: CustomFetch = async (url, init) => {
        const response = await fetch(url, init as RequestInit);
        const hold = holdRefresh;
        if (hold && String(init.body ?? '').includes('grant_type=refresh_token')) {
          holdRefresh = undefined;
          hold.answered();
          await hold.release;
        }
        return response;
      };
      before(async () => {
        s = await startStoreHarness(kind, { idpFetch });
        ({ h, redis } = s);
        host = hostOf(h);
      });
      after(async () => s?.close());

      /** A browser holding nothing but `cookie` as its session cookie. */
      const holding = (cookie: string): UserAgent => {
        const ua = h.browser();
        ua.setCookie(host, 'bff-session', cookie);
        return ua;
      };
      const sessionOf = async (ua: UserAgent) => {
        const res = await ua.get(`${h.url}/session`);
        return { status: res.status, body: res.json<SessionBody>() };
      };

      it('a victim whose browser carries an attacker-planted cookie value gets a different id at login, and the planted value stays anonymous', async () => {
        const planted = randomBytes(32).toString('base64url');
        const victim = holding(planted);
        const upstreamBefore = h.upstream.received.length;

        const callback = await h.login(victim);
        assert.equal(callback.status, 302, callback.text);
        const issued = findSetCookie(callback.setCookies, 'bff-session');
        assert.ok(issued, 'the callback set no session cookie');
        assert.notEqual(issued.value, planted);
        assert.equal(victim.cookie(host, 'bff-session'), issued.value);
        assert.equal((await sessionOf(victim)).status, 200);

        const attacker = holding(planted);
        const attackerView = await sessionOf(attacker);
        assert.equal(attackerView.status, 401);
        assert.equal(attackerView.body.authenticated, false);
        assert.equal((await h.api(attacker, '/fixation-probe')).status, 401);
        assert.equal(h.upstream.received.length, upstreamBefore, 'the upstream saw a request made with the planted cookie');
      });

      it("a victim whose browser carries the attacker's own live session cookie is signed in as themselves under a new id, and the attacker's id is ended", async () => {
        const attacker = h.browser();
        await h.login(attacker, '?login_hint=bob');
        const attackerCookie = attacker.cookie(host, 'bff-session');
        assert.ok(attackerCookie);
        assert.equal((await sessionOf(attacker)).body.claims?.sub, 'bob');

        const victim = holding(attackerCookie);
        const callback = await h.login(victim, '?login_hint=alice');
        assert.equal(callback.status, 302, callback.text);
        const victimCookie = victim.cookie(host, 'bff-session');
        assert.ok(victimCookie);
        assert.notEqual(victimCookie, attackerCookie);
        const victimView = await sessionOf(victim);
        assert.equal(victimView.status, 200);
        assert.equal(victimView.body.claims?.sub, 'alice');
        assert.equal((await sessionOf(holding(attackerCookie))).status, 401);
      });

      it('a signed-in browser that logs in again gets a new session id and sid, and its old id is anonymous', async () => {
        const ua = h.browser();
        const keysBefore = redis ? new Set(await redis.keys()) : new Set<string>();
        await h.login(ua);
        const first = ua.cookie(host, 'bff-session');
        assert.ok(first);
        const firstView = await sessionOf(ua);
        assert.equal(firstView.status, 200);
        const firstKeys = redis ? await newKeys(redis, keysBefore) : [];
        if (redis) assert.equal(firstKeys.length, 1, `expected one new session key, got ${firstKeys.join(', ')}`);

        const callback = await h.login(ua);
        assert.equal(callback.status, 302, callback.text);
        const second = findSetCookie(callback.setCookies, 'bff-session')?.value;
        assert.ok(second, 'the second login set no session cookie');
        assert.notEqual(second, first);
        const secondView = await sessionOf(ua);
        assert.equal(secondView.status, 200);
        assert.notEqual(secondView.body.sid, firstView.body.sid);

        assert.equal((await sessionOf(holding(first))).status, 401);
        if (redis) {
          const keys = await redis.keys();
          assert.equal(keys.includes(firstKeys[0]!), false, 'the first session is still stored');
          assert.equal((await newKeys(redis, keysBefore)).length, 1, 'expected exactly the second session to be stored');
        }
      });

      it('a browser that logs out has its server-side session deleted, and replaying its old cookie is anonymous', async () => {
        const ua = h.browser();
        const keysBefore = redis ? new Set(await redis.keys()) : new Set<string>();
        await h.login(ua);
        const cookie = ua.cookie(host, 'bff-session');
        assert.ok(cookie);
        assert.equal((await sessionOf(ua)).status, 200);
        const sessionKeys = redis ? await newKeys(redis, keysBefore) : [];
        if (redis) assert.equal(sessionKeys.length, 1, `expected one new session key, got ${sessionKeys.join(', ')}`);

        const revocations = h.idp.counts.revocation;
        const logout = await ua.post(`${h.url}/logout`, { headers: { 'x-csrf': '1' } });
        assert.equal(logout.status, 200, logout.text);
        assert.equal(h.idp.counts.revocation, revocations + 1, 'logout did not revoke the refresh token at the IdP');
        const cleared = findSetCookie(logout.setCookies, 'bff-session');
        assert.equal(cleared?.value, '');
        assert.equal(cleared?.attributes.get('max-age'), '0');

        if (redis) {
          assert.deepEqual(await storedAfterLogout(redis, keysBefore), [], 'the session is still stored after logout');
          assert.equal(await redis.client.exists(sessionKeys[0]!), 0);
        }
        const upstreamBefore = h.upstream.received.length;
        const replay = holding(cookie);
        assert.equal((await sessionOf(replay)).status, 401);
        assert.equal((await h.api(replay, '/after-logout')).status, 401);
        assert.equal((await replay.post(`${h.url}/refresh`, { headers: { 'x-csrf': '1' } })).status, 401);
        assert.equal(h.upstream.received.length, upstreamBefore, 'the upstream saw a request made with a logged-out cookie');
      });

      it('a browser that logs out while one of its refreshes is still in flight stays logged out: the refresh does not bring the session back', async () => {
        const ua = h.browser();
        const keysBefore = redis ? new Set(await redis.keys()) : new Set<string>();
        await h.login(ua);
        const cookie = ua.cookie(host, 'bff-session');
        assert.ok(cookie);

        let answered!: () => void;
        const idpAnswered = new Promise<void>((resolve) => {
          answered = resolve;
        });
        let release!: () => void;
        holdRefresh = {
          answered,
          release: new Promise<void>((resolve) => {
            release = resolve;
          }),
        };
        const refreshing = holding(cookie).post(`${h.url}/refresh`, { headers: { 'x-csrf': '1' } });
        await idpAnswered; // the IdP has rotated the tokens; the BFF has not seen its answer yet

        const logout = await ua.post(`${h.url}/logout`, { headers: { 'x-csrf': '1' } });
        assert.equal(logout.status, 200, logout.text);
        assert.equal((await sessionOf(holding(cookie))).status, 401, 'logout did not end the session');
        release();
        const refreshed = await refreshing;
        assert.ok(refreshed.status < 500, `the interrupted refresh answered ${refreshed.status}`);

        const replay = await sessionOf(holding(cookie));
        assert.equal(replay.status, 401, 'the session is back after logout: the in-flight refresh wrote it again');
        if (redis) assert.deepEqual(await storedAfterLogout(redis, keysBefore), [], 'the session is stored again after logout');
      });
    });
  }
});
