import assert from 'node:assert/strict';
import { readCorpus } from '../../support/corpus.js';

import { checkUpstreamPath } from '../../../src/proxy/upstream-path.js';

const corpus = readCorpus(new URL('../../fixtures/upstream-path-corpus.txt', import.meta.url), 'REFUSE');

describe('checkUpstreamPath', () => {
  it('has a corpus of at least 30 cases, allowed and refused', () => {
    assert.ok(corpus.length >= 30, `corpus has ${corpus.length} cases`);
    assert.ok(corpus.some((c) => c.expected !== null));
    assert.ok(corpus.some((c) => c.expected === null));
  });

  describe('corpus (test/fixtures/upstream-path-corpus.txt)', () => {
    for (const { line, input, expected } of corpus) {
      const verdict = expected === null ? 'refused' : 'allowed';
      it(`${JSON.stringify(input)} → ${verdict} (line ${line})`, () => {
        assert.equal(checkUpstreamPath(input), expected);
        if (expected !== null) assert.equal(expected, input, 'an allowed path is forwarded unchanged');
      });
    }
  });

  describe('robustness', () => {
    it('a non-string rest (untyped caller) is refused rather than throwing', () => {
      assert.equal(checkUpstreamPath(undefined as unknown as string), null);
      assert.equal(checkUpstreamPath(42 as unknown as string), null);
    });

    // Catastrophic backtracking on inputs this long would take hours, not the few milliseconds a
    // linear scan takes: mocha's timeout catches it without a timing assertion that load could trip.
    it('pathological inputs are checked in linear time (no regex backtracking blow-up)', () => {
      assert.equal(checkUpstreamPath(`/${'.'.repeat(200_000)}x`), `/${'.'.repeat(200_000)}x`);
      assert.equal(checkUpstreamPath(`/${'.%20'.repeat(50_000)}x`), `/${'.%20'.repeat(50_000)}x`);
      assert.equal(checkUpstreamPath(`/${'.%20'.repeat(50_000)}`), null);
      assert.equal(checkUpstreamPath(`${'/a'.repeat(100_000)}/`), `${'/a'.repeat(100_000)}/`);
      assert.equal(checkUpstreamPath(`${'/a'.repeat(100_000)}//`), null);
      assert.equal(checkUpstreamPath(`/${'%2e'.repeat(50_000)}`), null);
    });
  });
});
