import assert from 'node:assert/strict';
import type { Harness } from '../support/harness.js';
import type { TestRedis } from '../support/redis.js';
import { hostOf, newKeys, SESSION_STORE_KINDS, startStoreHarness, type StoreHarness } from '../support/security.js';
import type { UserAgent } from '../support/user-agent.js';

interface SessionBody {
  authenticated: boolean;
  sid?: string;
  claims?: { sub?: string };
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * `value` with the character at `i` replaced by the base64url character whose 6-bit value differs
 * in the highest bit: that bit is data even in a final character that carries padding bits, so the
 * decoded bytes change too (flipping a low bit there could leave them equal).
 */
function flip(value: string, i: number): string {
  const index = BASE64URL.indexOf(value[i]!);
  assert.ok(index >= 0, `not a base64url character at ${i}`);
  return value.slice(0, i) + BASE64URL[index ^ 0x20]! + value.slice(i + 1);
}

/** A server store's cookie: a random id of 256 bits. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
/** A cookie session: `1.<kid>.<base64url(iv | ciphertext | tag)>`, in one cookie for these small sessions. */
const SEALED_SESSION = /^1\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{100,}$/;

/**
 * Where to flip a character: the first ones, the middle and the last ones of an id; for a sealed
 * cookie the version, the key id, the IV, the ciphertext and the tag.
 */
function flipPositions(cookie: string): number[] {
  if (SESSION_ID.test(cookie)) return [0, 1, 21, 41, 42];
  const payload = cookie.lastIndexOf('.') + 1;
  return [0, 2, payload + 3, Math.floor((payload + cookie.length) / 2), cookie.length - 1];
}

describe('tampered session cookies and tampered stored sessions end in anonymous, never in a 5xx', () => {
  for (const kind of SESSION_STORE_KINDS) {
    describe(`with the ${kind} store`, () => {
      let s: StoreHarness;
      let h: Harness;
      let redis: TestRedis | undefined;
      let host: string;
      let alice: UserAgent;
      let bob: UserAgent;
      let aliceCookie: string;
      let bobCookie: string;
      let aliceSid: string;
      let aliceKey: string | undefined;
      let bobKey: string | undefined;

      before(async () => {
        s = await startStoreHarness(kind);
        ({ h, redis } = s);
        host = hostOf(h);
        alice = h.browser();
        bob = h.browser();
        let keys = redis ? new Set(await redis.keys()) : new Set<string>();
        await h.login(alice, '?login_hint=alice');
        if (redis) [aliceKey] = await newKeys(redis, keys);
        keys = redis ? new Set(await redis.keys()) : new Set<string>();
        await h.login(bob, '?login_hint=bob');
        if (redis) [bobKey] = await newKeys(redis, keys);
        aliceCookie = alice.cookie(host, 'bff-session') ?? '';
        bobCookie = bob.cookie(host, 'bff-session') ?? '';
        const shape = kind === 'cookie' ? SEALED_SESSION : SESSION_ID;
        assert.match(aliceCookie, shape);
        assert.match(bobCookie, shape);
        assert.equal(alice.cookie(host, 'bff-session.1'), undefined, 'the tampering below assumes a session in one cookie');
        const view = (await alice.get(`${h.url}/session`)).json<SessionBody>();
        assert.equal(view.claims?.sub, 'alice');
        aliceSid = view.sid!;
        if (redis) assert.ok(aliceKey && bobKey && aliceKey !== bobKey, 'could not find both session keys');
      });
      after(async () => s?.close());

      /**
       * Asserts that a browser presenting `cookie` is anonymous everywhere and the upstream saw
       * nothing; with cookie sessions, that each rejection is logged (session.cookie_invalid)
       * without the cookie's value.
       */
      const assertAnonymous = async (cookie: string, what: string) => {
        const ua = h.browser();
        ua.setCookie(host, 'bff-session', cookie);
        const upstreamBefore = h.upstream.received.length;
        const loggedBefore = h.logs.named('session.cookie_invalid').length;
        const session = await ua.get(`${h.url}/session`);
        assert.equal(session.status, 401, `${what}: /session ${session.status} ${session.text}`);
        assert.equal(session.json<SessionBody>().authenticated, false);
        const api = await h.api(ua, '/tampered');
        assert.equal(api.status, 401, `${what}: /api ${api.status} ${api.text}`);
        assert.equal(api.json<{ error: string }>().error, 'unauthenticated');
        const refresh = await ua.post(`${h.url}/refresh`, { headers: { 'x-csrf': '1' } });
        assert.equal(refresh.status, 401, `${what}: /refresh ${refresh.status} ${refresh.text}`);
        assert.equal(h.upstream.received.length, upstreamBefore, `${what}: the upstream received a request`);
        if (kind === 'cookie') {
          const logged = h.logs.named('session.cookie_invalid').slice(loggedBefore);
          assert.equal(logged.length, 3, `${what}: one session.cookie_invalid per request (/session, /api, /refresh)`);
          assert.ok(!h.logs.text().includes(cookie), `${what}: the log carries the cookie's value`);
        }
      };
      const assertSignedIn = async (ua: UserAgent, sub: string) => {
        const session = await ua.get(`${h.url}/session`);
        assert.equal(session.status, 200, session.text);
        assert.equal(session.json<SessionBody>().claims?.sub, sub);
        assert.equal((await h.api(ua, '/still-here')).status, 200);
      };

      for (const which of ['first', 'second', 'third', 'fourth', 'last'] as const) {
        it(`a browser presenting the session cookie with its ${which} chosen character flipped is anonymous`, async () => {
          const position = flipPositions(aliceCookie)[['first', 'second', 'third', 'fourth', 'last'].indexOf(which)]!;
          await assertAnonymous(flip(aliceCookie, position), `flip at ${position}`);
        });
      }

      it('a browser presenting the session cookie truncated by one or by many characters is anonymous', async () => {
        await assertAnonymous(aliceCookie.slice(0, -1), 'truncated by 1');
        await assertAnonymous(aliceCookie.slice(0, 22), 'truncated to 22');
      });

      it('a browser presenting the session cookie with characters appended is anonymous', async () => {
        await assertAnonymous(`${aliceCookie}A`, 'one appended');
        await assertAnonymous(`${aliceCookie}.${aliceCookie}`, 'doubled with a dot');
        await assertAnonymous(`${aliceCookie}=`, 'padding appended');
      });

      it("a browser presenting another user's session cookie with one character changed is anonymous", async () => {
        const [, , middle = 7, , last = 42] = flipPositions(bobCookie);
        await assertAnonymous(flip(bobCookie, middle), `bob's cookie, flipped at ${middle}`);
        await assertAnonymous(flip(bobCookie, last), `bob's cookie, flipped at ${last}`);
      });

      it('the untampered cookies of both users keep working afterwards', async () => {
        await assertSignedIn(alice, 'alice');
        await assertSignedIn(bob, 'bob');
      });

      if (kind === 'redis') {
        describe('when the stored value is tampered with in Redis', () => {
          let original: string;
          let ttlMs: number;
          before(async () => {
            original = (await redis!.client.get(aliceKey!)) ?? '';
            assert.match(original, /^1\./);
            ttlMs = await redis!.client.pttl(aliceKey!);
            assert.ok(ttlMs > 0, 'the session has no expiry');
          });
          // A change made behind the BFF's back reaches its session cache as an invalidation message.
          const caughtUp = () => h.bff.store?.caughtUp?.();
          afterEach(async () => {
            await redis!.client.set(aliceKey!, original, 'PX', ttlMs);
            await caughtUp();
          });

          const tamper = async (value: string) => {
            assert.notEqual(value, original);
            assert.equal(await redis!.client.set(aliceKey!, value, 'KEEPTTL'), 'OK');
            await caughtUp();
          };
          const variants: Array<[string, (v: string) => string]> = [
            ['one ciphertext character flipped', (v) => flip(v, Math.floor((v.lastIndexOf('.') + v.length) / 2))],
            ['the last (tag) character flipped', (v) => flip(v, v.length - 1)],
            ['an IV character flipped', (v) => flip(v, v.lastIndexOf('.') + 2)],
            ['the value truncated', (v) => v.slice(0, -12)],
            [
              'the key id replaced',
              (v) => {
                const [a, k = '', ...rest] = v.split('.');
                return [a, flip(k, 0), ...rest].join('.');
              },
            ],
            ['the format version changed', (v) => `2${v.slice(1)}`],
            ['an extra segment appended', (v) => `${v}.AAAA`],
            ['plain garbage', () => 'garbage'],
            ['an empty string', () => ''],
            [
              'a forged unsealed session',
              () =>
                JSON.stringify({
                  f: 1,
                  sid: 'x',
                  sub: 'mallory',
                  claims: {},
                  tokens: { accessToken: 'forged', tokenType: 'Bearer', expiresAt: 0 },
                  createdAt: Date.now(),
                }),
            ],
          ];
          for (const [what, change] of variants) {
            it(`a browser whose stored session has ${what} is anonymous, and is signed in again once the value is restored`, async () => {
              await tamper(change(original));
              await assertAnonymous(aliceCookie, what);
              await redis!.client.set(aliceKey!, original, 'KEEPTTL');
              await caughtUp();
              const session = await alice.get(`${h.url}/session`);
              assert.equal(session.status, 200, session.text);
              assert.equal(session.json<SessionBody>().sid, aliceSid);
            });
          }

          it("a browser whose stored value was replaced by another user's sealed session is anonymous, not signed in as that user", async () => {
            const bobValue = (await redis!.client.get(bobKey!)) ?? '';
            assert.match(bobValue, /^1\./);
            await tamper(bobValue);
            await assertAnonymous(aliceCookie, "bob's sealed value under alice's key");
          });

          it('a browser whose session key was overwritten with a non-string Redis value (a hash) is anonymous, not 5xx, and can sign in again', async () => {
            await redis!.client.del(aliceKey!);
            await redis!.client.hset(aliceKey!, 'tampered', 'yes');
            await caughtUp();
            await assertAnonymous(aliceCookie, 'a hash under the session key');
            const victim = h.browser();
            victim.setCookie(host, 'bff-session', aliceCookie);
            const callback = await h.login(victim);
            assert.equal(callback.status, 302, `login while carrying the tampered cookie: ${callback.status}`);
          });
        });
      }
    });
  }
});
