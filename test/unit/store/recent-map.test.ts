import assert from 'node:assert/strict';
import { RecentMap } from '../../../src/store/recent-map.js';

describe('RecentMap: bounded, and a live entry is never evicted to admit another', () => {
  let now = 0;
  const map = () => new RecentMap<string>(2, 100, () => now);

  it('serves a value for less than its time to live', () => {
    now = 0;
    const m = map();
    m.set('a', 'A');
    now = 99;
    assert.equal(m.get('a'), 'A');
    now = 100;
    assert.equal(m.get('a'), undefined);
    assert.equal(m.size, 0);
  });

  it('refuses a new key while full of live entries, and makes room from the oldest expired ones', () => {
    now = 0;
    const m = map();
    assert.ok(m.set('a', 'A'));
    now = 50;
    assert.ok(m.set('b', 'B'));
    assert.equal(m.set('c', 'C'), false);
    assert.deepEqual([m.get('a'), m.get('b'), m.get('c')], ['A', 'B', undefined]);
    now = 100; // 'a' has expired, 'b' has not
    assert.ok(m.set('c', 'C'));
    assert.deepEqual([m.get('a'), m.get('b'), m.get('c')], [undefined, 'B', 'C']);
  });

  it('updates a key it holds even when full, restarting its time to live', () => {
    now = 0;
    const m = map();
    m.set('a', 'A');
    m.set('b', 'B');
    now = 90;
    assert.ok(m.set('a', 'A2'));
    now = 150;
    assert.deepEqual([m.get('a'), m.get('b')], ['A2', undefined]);
  });
});
