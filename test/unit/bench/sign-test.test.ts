import assert from 'node:assert/strict';
import { medianInterval, SIGN_TEST_MIN_ROUNDS, signTest } from '../../../bench/lib/stats.js';

describe('bench: an A/B of two builds says whether its rounds resolved the difference', () => {
  it('resolves a build that was lower in every one of 8 rounds (p = 2 / 2^8)', () => {
    assert.deepEqual(signTest([0.9, 0.8, 0.95, 0.97, 0.99, 0.9, 0.93, 0.96]), { lower: 8, higher: 0, p: 2 / 256 });
  });

  it('does not resolve 7 of 8 rounds (p ≈ 0.07): a median of 1.12× from such a run is not a finding', () => {
    const { lower, higher, p } = signTest([1.25, 1.05, 1.04, 0.98, 1.15, 1.09, 1.3, 1.35]);
    assert.deepEqual([lower, higher], [1, 7]);
    assert.ok(Math.abs(p - 18 / 256) < 1e-12);
  });

  it('leaves tied rounds out and caps p at 1', () => {
    assert.deepEqual(signTest([1, 1, 0.9, 1.1]), { lower: 1, higher: 1, p: 1 });
    assert.deepEqual(signTest([]), { lower: 0, higher: 0, p: 1 });
  });

  it(`needs ${SIGN_TEST_MIN_ROUNDS} rounds before any result can reach p < 0.05`, () => {
    assert.ok(signTest(Array(SIGN_TEST_MIN_ROUNDS - 1).fill(0.9)).p >= 0.05);
    assert.ok(signTest(Array(SIGN_TEST_MIN_ROUNDS).fill(0.9)).p < 0.05);
  });

  it('gives the median an interval from its order statistics: the whole range at 6 rounds, narrower with more', () => {
    assert.equal(medianInterval([1, 2, 3, 4, 5]), undefined);
    assert.deepEqual(medianInterval([6, 1, 5, 2, 4, 3]), [1, 6]);
    // 20 rounds: k = 6 (P(Bin(20, 1/2) <= 5) = 0.0207, twice that 0.041 <= 0.05; k = 7 would cover 88.5 %).
    const twenty = Array.from({ length: 20 }, (_, i) => i + 1);
    assert.deepEqual(medianInterval(twenty), [6, 15]);
  });
});
