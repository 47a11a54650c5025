import assert from 'node:assert/strict';
import { roundOrder } from '../../../bench/lib/rounds.js';

describe('bench: the rounds give an A/B pair no order of its own', () => {
  for (const n of [2, 3, 4, 5, 8, 10]) {
    it(`runs any two of ${n} targets in one order in a round and in the other in the next (rounds 2k, 2k + 1)`, () => {
      const targets = Array.from({ length: n }, (_, i) => i);
      for (let k = 0; k < n; k++) {
        const [even, odd] = [roundOrder(targets, 2 * k), roundOrder(targets, 2 * k + 1)];
        for (const order of [even, odd])
          assert.deepEqual(
            [...order].sort((a, b) => a - b),
            targets,
          );
        for (let a = 0; a < n; a++) {
          for (let b = a + 1; b < n; b++) {
            assert.notEqual(even.indexOf(a) < even.indexOf(b), odd.indexOf(a) < odd.indexOf(b), `targets ${a} and ${b}, rounds ${2 * k} and ${2 * k + 1}`);
          }
        }
      }
    });
  }

  it('starts each target first in turn', () => {
    const firsts = [0, 2, 4, 6].map((r) => roundOrder(['bare', 'undici', 'A', 'B'], r)[0]);
    assert.deepEqual(firsts, ['bare', 'undici', 'A', 'B']);
  });
});
