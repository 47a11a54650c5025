import assert from 'node:assert/strict';
import type { SessionStore } from '../../src/store/store.js';

/** Index members carry epoch times: a day either side of the wall clock holds for every backend's clock (a test clock moves minutes at most). */
const DAY = 86_400_000;

export interface StoreUnderTest {
  store: SessionStore;
  /** Moves time forward as the store sees it (a test clock, or the server's own expiry). */
  expire(key: string, afterMs: number): Promise<void>;
  /** Remaining time to live of a key in ms, as the store reports it. */
  ttl(key: string): Promise<number>;
}

/**
 * The contract every backend keeps, one suite per role port (src/store/store.ts): key-value,
 * locks, indexes, counters, health. Each runner (memory, redis and its topologies, redis with
 * the session cache) calls this with a factory; the same tests run against each backend.
 */
export function sessionStoreContract(name: string, make: () => Promise<StoreUnderTest & { close(): Promise<void> }>): void {
  describe(`session store contract: ${name}`, () => {
    let t: StoreUnderTest & { close(): Promise<void> };
    before(async () => {
      t = await make();
    });
    after(async () => t?.close());

    describe('key-value role', () => {
      it('reads back what was set, and nothing for an unknown key', async () => {
        await t.store.set('s:a', 'value-a', 60_000);
        assert.equal(await t.store.get('s:a'), 'value-a');
        assert.equal(await t.store.get('s:unknown'), undefined);
      });

      it('overwrites on a second set', async () => {
        await t.store.set('s:b', 'one', 60_000);
        await t.store.set('s:b', 'two', 60_000);
        assert.equal(await t.store.get('s:b'), 'two');
      });

      it('getAndTouch returns the value and slides its expiry to the new ttl', async () => {
        await t.store.set('s:c', 'value-c', 1_000);
        assert.equal(await t.store.getAndTouch('s:c', 120_000), 'value-c');
        const ttl = await t.ttl('s:c');
        assert.ok(ttl > 60_000 && ttl <= 120_000, `ttl ${ttl}`);
      });

      it('getAndTouch of an unknown key gives nothing and creates nothing', async () => {
        assert.equal(await t.store.getAndTouch('s:none', 60_000), undefined);
        assert.equal(await t.store.get('s:none'), undefined);
      });

      it('replaceIf writes only over the expected value, and never resurrects a deleted key', async () => {
        await t.store.set('s:r', 'one', 60_000);
        assert.equal(await t.store.replaceIf('s:r', 'one', 'two', 60_000), 'ok');
        assert.equal(await t.store.get('s:r'), 'two');
        assert.equal(await t.store.replaceIf('s:r', 'one', 'three', 60_000), 'changed');
        assert.equal(await t.store.get('s:r'), 'two');
        await t.store.delete('s:r');
        assert.equal(await t.store.replaceIf('s:r', 'two', 'four', 60_000), 'missing');
        assert.equal(await t.store.get('s:r'), undefined);
      });

      it("trackedGet gives the answer get gives, absent or present, through this store's writes and an expiry", async () => {
        const read = (key: string) => (t.store.trackedGet ?? t.store.get)(key);
        for (let i = 0; i < 3; i++) assert.equal(await read('r:sub:tracked'), undefined);
        await t.store.set('r:sub:tracked', '1000', 60_000);
        assert.equal(await read('r:sub:tracked'), '1000');
        assert.equal(await read('r:sub:tracked'), '1000');
        await t.store.set('r:sub:tracked', '2000', 60_000);
        assert.equal(await read('r:sub:tracked'), '2000');
        await t.store.delete('r:sub:tracked');
        assert.equal(await read('r:sub:tracked'), undefined);
        assert.equal(await read('r:sid:tracked'), undefined);
        assert.equal(await t.store.setIfAbsent('r:sid:tracked', '3000', 60_000), true);
        assert.equal(await read('r:sid:tracked'), '3000');
        await t.expire('r:sid:tracked', 60_001);
        assert.equal(await read('r:sid:tracked'), undefined);
      });

      it('take returns the value once, then nothing (single use)', async () => {
        await t.store.set('t:once', 'tx', 60_000);
        assert.equal(await t.store.take('t:once'), 'tx');
        assert.equal(await t.store.take('t:once'), undefined);
        assert.equal(await t.store.get('t:once'), undefined);
      });

      it('concurrent takes of one key give the value to exactly one caller', async () => {
        await t.store.set('t:race', 'tx', 60_000);
        const results = await Promise.all(Array.from({ length: 10 }, () => t.store.take('t:race')));
        assert.equal(results.filter((r) => r === 'tx').length, 1);
      });

      it('delete removes a key; deleting an unknown key is fine', async () => {
        await t.store.set('s:d', 'x', 60_000);
        await t.store.delete('s:d');
        assert.equal(await t.store.get('s:d'), undefined);
        await t.store.delete('s:never');
      });

      it('a key is gone once its time to live has passed', async () => {
        await t.store.set('s:e', 'x', 60_000);
        await t.expire('s:e', 60_001);
        assert.equal(await t.store.get('s:e'), undefined);
        assert.equal(await t.store.getAndTouch('s:e', 60_000), undefined);
      });
    });

    describe('lock role', () => {
      it('a lock is held by one taker at a time and released only by its token', async () => {
        const token = await t.store.acquireLock('l:a', 60_000);
        assert.ok(token);
        assert.equal(await t.store.acquireLock('l:a', 60_000), undefined);
        await t.store.releaseLock('l:a', 'not-the-token');
        assert.equal(await t.store.acquireLock('l:a', 60_000), undefined);
        await t.store.releaseLock('l:a', token);
        const again = await t.store.acquireLock('l:a', 60_000);
        assert.ok(again && again !== token);
        await t.store.releaseLock('l:a', again);
      });

      it('concurrent lock attempts give the lock to exactly one caller', async () => {
        const tokens = await Promise.all(Array.from({ length: 10 }, () => t.store.acquireLock('l:race', 60_000)));
        assert.equal(tokens.filter(Boolean).length, 1);
      });

      it('a lock expires after its time to live (a crashed holder does not block forever)', async () => {
        assert.ok(await t.store.acquireLock('l:exp', 60_000));
        await t.expire('l:exp', 60_001);
        assert.ok(await t.store.acquireLock('l:exp', 60_000));
      });
    });

    describe('index role', () => {
      it("lists the members of an index until each one's own time has passed", async () => {
        await t.store.indexAdd('i:sub:a', 's:one', Date.now() + DAY);
        await t.store.indexAdd('i:sub:a', 's:two', Date.now() + 2 * DAY);
        assert.deepEqual((await t.store.indexMembers('i:sub:a')).sort(), ['s:one', 's:two']);
        assert.deepEqual(await t.store.indexMembers('i:sub:none'), []);
      });

      it('removes one member and leaves the others; removing an unknown member is fine', async () => {
        await t.store.indexAdd('i:sub:b', 's:one', Date.now() + DAY);
        await t.store.indexAdd('i:sub:b', 's:two', Date.now() + DAY);
        await t.store.indexRemove('i:sub:b', 's:one');
        await t.store.indexRemove('i:sub:b', 's:never');
        assert.deepEqual(await t.store.indexMembers('i:sub:b'), ['s:two']);
      });

      it('does not list a member whose time has passed', async () => {
        await t.store.indexAdd('i:sub:c', 's:gone', Date.now() - DAY);
        await t.store.indexAdd('i:sub:c', 's:here', Date.now() + DAY);
        assert.deepEqual(await t.store.indexMembers('i:sub:c'), ['s:here']);
      });
    });

    describe('counter role', () => {
      it('counts up from one, per key', async () => {
        assert.equal(await t.store.increment('rl:a', 60_000), 1);
        assert.equal(await t.store.increment('rl:a', 60_000), 2);
        assert.equal(await t.store.increment('rl:b', 60_000), 1);
      });

      it('counts every one of concurrent increments', async () => {
        const counts = await Promise.all(Array.from({ length: 20 }, () => t.store.increment('rl:race', 60_000)));
        assert.deepEqual(
          counts.sort((x, y) => x - y),
          Array.from({ length: 20 }, (_, i) => i + 1),
        );
      });

      it("starts again once the counter's time to live has passed", async () => {
        await t.store.increment('rl:exp', 60_000);
        await t.expire('rl:exp', 60_001);
        assert.equal(await t.store.increment('rl:exp', 60_000), 1);
      });
    });

    describe('health', () => {
      it('answers ping when reachable', async () => {
        await t.store.ping();
      });
    });
  });
}
