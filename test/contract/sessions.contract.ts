import assert from 'node:assert/strict';
import type { Sessions, TokenSet } from '../../src/session/session.js';
import type { TestClock } from '../support/clock.js';
import { JarIo } from '../support/cookie-jar-io.js';

export const OLD_SECRET = 'old-secret-for-the-contract-0123456789abcdef';
export const NEW_SECRET = 'new-secret-for-the-contract-0123456789abcdef';
export const IDLE_MS = 600_000;
export const MAX_AGE_MS = 3_600_000;

/** Builds the sessions under test with these secrets (the first seals), sharing one clock and storage. */
export type MakeSessions = (secrets: string[]) => Sessions;

export interface SessionsUnderTest {
  make: MakeSessions;
  clock: TestClock;
  /** Corrupts the stored form of the browser's session (the store value or the cookie). */
  tamper(jar: JarIo): Promise<void>;
  close(): Promise<void>;
}

function copyOf(jar: JarIo): JarIo {
  const copy = new JarIo();
  for (const [n, v] of jar.cookies) copy.cookies.set(n, v);
  return copy;
}

const tokens = (n: number): TokenSet => ({
  accessToken: `access-${n}`,
  tokenType: 'Bearer',
  expiresAt: 1_000 * n,
  refreshToken: `refresh-${n}`,
  idToken: `id-${n}`,
});
const data = { sub: 'alice', claims: { sub: 'alice', email: 'alice@example.test' }, tokens: tokens(1) };

/** The contract of every Sessions implementation: memory, Redis and cookie. */
export function sessionsContract(name: string, t0: { serverState: boolean }, setup: () => Promise<SessionsUnderTest>): void {
  describe(`sessions contract: ${name}`, () => {
    let t: SessionsUnderTest;
    let sessions: Sessions;
    beforeEach(async () => {
      t = await setup();
      sessions = t.make([OLD_SECRET]);
    });
    afterEach(async () => t.close());

    it('creates a session that the same browser loads back, with its claims and tokens', async () => {
      const jar = new JarIo();
      const created = await sessions.create(data, jar.io());
      const loaded = await sessions.load(jar.io());
      assert.ok(loaded);
      assert.equal(loaded.sid, created.sid);
      assert.equal(loaded.sub, 'alice');
      assert.deepEqual(loaded.claims, data.claims);
      assert.deepEqual(loaded.tokens, data.tokens);
    });

    it('is anonymous for a browser without a cookie, or with another browser-made value', async () => {
      assert.equal(await sessions.load(new JarIo().io()), undefined);
    });

    it('saves new tokens, which the next request sees', async () => {
      const jar = new JarIo();
      const s = await sessions.create(data, jar.io());
      s.tokens = tokens(2);
      assert.equal(await sessions.save(s, jar.io()), true);
      assert.deepEqual((await sessions.load(jar.io()))?.tokens, tokens(2));
    });

    it('gives a new identity at every create (a second login rotates the id)', async () => {
      const jar = new JarIo();
      const first = await sessions.create(data, jar.io());
      const before = jar.header();
      const second = await sessions.create(data, jar.io());
      assert.notEqual(first.sid, second.sid);
      assert.notEqual(first.key, second.key);
      assert.notEqual(jar.header(), before);
    });

    it('destroy ends the session and deletes its cookies', async () => {
      const jar = new JarIo();
      const s = await sessions.create(data, jar.io());
      await sessions.destroy(s, jar.io());
      assert.equal(jar.header(), undefined);
      assert.equal(await sessions.load(jar.io()), undefined);
    });

    it('ends a session idle for longer than the idle timeout, and slides while in use', async () => {
      const jar = new JarIo();
      await sessions.create(data, jar.io());
      t.clock.advance(IDLE_MS - 60_000);
      assert.ok(await sessions.load(jar.io()));
      t.clock.advance(IDLE_MS - 60_000);
      assert.ok(await sessions.load(jar.io()), 'the previous request should have slid the idle timeout');
      t.clock.advance(IDLE_MS + 1);
      assert.equal(await sessions.load(jar.io()), undefined);
    });

    it('ends a session older than the absolute timeout however active it is', async () => {
      const jar = new JarIo();
      await sessions.create(data, jar.io());
      for (let elapsed = 0; elapsed + IDLE_MS / 2 < MAX_AGE_MS; elapsed += IDLE_MS / 2) {
        t.clock.advance(IDLE_MS / 2);
        assert.ok(await sessions.load(jar.io()), `alive after ${elapsed + IDLE_MS / 2} ms`);
      }
      t.clock.advance(IDLE_MS / 2);
      assert.equal(await sessions.load(jar.io()), undefined);
    });

    if (t0.serverState) {
      it('a copied cookie is the same session, and ends with it (server-side revocation)', async () => {
        const jar = new JarIo();
        const s = await sessions.create(data, jar.io());
        const copy = copyOf(jar);
        assert.equal((await sessions.load(copy.io()))?.sid, s.sid);
        await sessions.destroy(s, jar.io());
        assert.equal(await sessions.load(copy.io()), undefined);
      });
    } else {
      it('a replayed copy of an old cookie is anonymous once past the idle timeout, though the session lives on', async () => {
        const jar = new JarIo();
        await sessions.create(data, jar.io());
        const copy = copyOf(jar);
        for (let i = 0; i < 3; i++) {
          t.clock.advance(IDLE_MS / 2);
          assert.ok(await sessions.load(jar.io()));
        }
        assert.equal(await sessions.load(copy.io()), undefined);
      });
    }

    it('unseals a session sealed under an older secret after rotation, and re-seals it under the new one', async () => {
      const jar = new JarIo();
      await sessions.create(data, jar.io());
      const rotated = t.make([NEW_SECRET, OLD_SECRET]);
      assert.ok(await rotated.load(jar.io()), 'an older secret must still unseal');
      const onlyNew = t.make([NEW_SECRET]);
      assert.ok(await onlyNew.load(jar.io()), 'the load under rotation should have re-sealed with the new secret');
    });

    it('is anonymous once the secret that sealed it is removed, without an error', async () => {
      const jar = new JarIo();
      await sessions.create(data, jar.io());
      assert.equal(await t.make([NEW_SECRET]).load(jar.io()), undefined);
    });

    it('is anonymous, never an error, for garbage cookie values', async () => {
      for (const value of ['', 'x', '%%%', 'a'.repeat(5000), '1.AAAAAAAA.AAAA', '1.x.y.z']) {
        const jar = new JarIo();
        await sessions.create(data, jar.io());
        for (const cookieName of jar.cookies.keys()) jar.cookies.set(cookieName, value);
        assert.equal(await sessions.load(jar.io()), undefined, JSON.stringify(value.slice(0, 20)));
      }
    });

    it('is anonymous when the stored form was tampered with', async () => {
      const jar = new JarIo();
      await sessions.create(data, jar.io());
      await t.tamper(jar);
      assert.equal(await sessions.load(jar.io()), undefined);
    });
  });
}
