import assert from 'node:assert/strict';
import { readCorpus } from '../../support/corpus.js';

import { safeReturnTo, type ReturnToPolicy } from '../../../src/oidc/return-to.js';

const POLICY: ReturnToPolicy = {
  publicOrigin: 'https://app.example.com',
  allowedOrigins: ['https://admin.example.com', 'http://localhost:5173'],
};
const ALLOWED_ORIGINS = new Set([POLICY.publicOrigin, ...POLICY.allowedOrigins]);

/** Whatever the input, the output must be a Location value that stays on an allowed origin. */
function assertSafeForLocation(result: string): void {
  assert.match(result, /^[\x21-\x7e]+$/, 'printable ASCII only (no CR/LF, no spaces)');
  if (result.startsWith('/')) {
    assert.ok(!result.startsWith('//'), 'a relative result must not be scheme-relative');
    assert.equal(new URL(result, 'https://app.example.com').origin, 'https://app.example.com');
  } else {
    assert.ok(ALLOWED_ORIGINS.has(new URL(result).origin), `absolute result on an allowed origin: ${result}`);
  }
}

const corpus = readCorpus(new URL('../../fixtures/return-to-corpus.txt', import.meta.url));

describe('safeReturnTo', () => {
  it('has a corpus of at least 40 cases, accepted and refused', () => {
    assert.ok(corpus.length >= 40, `corpus has ${corpus.length} cases`);
    assert.ok(corpus.some((c) => c.expected !== '/'));
    assert.ok(corpus.some((c) => c.expected === '/' && c.input !== '/'));
  });

  describe('corpus (test/fixtures/return-to-corpus.txt)', () => {
    for (const { line, input, expected } of corpus) {
      const verdict = expected === '/' && input !== '/' ? 'refused' : JSON.stringify(expected);
      it(`${JSON.stringify(input)} → ${verdict} (line ${line})`, () => {
        const result = safeReturnTo(input, POLICY);
        assert.equal(result, expected);
        assertSafeForLocation(result);
      });
    }
  });

  describe('inputs that are not usable strings', () => {
    for (const value of [undefined, null, 42, true, ['/dashboard'], { toString: () => '/dashboard' }, new String('/dashboard')]) {
      it(`a non-string returnTo is refused: ${Object.prototype.toString.call(value)}`, () => {
        assert.equal(safeReturnTo(value, POLICY), '/');
      });
    }

    it('a returnTo longer than 2048 characters is refused', () => {
      assert.equal(safeReturnTo(`/${'a'.repeat(2047)}`, POLICY), `/${'a'.repeat(2047)}`);
      assert.equal(safeReturnTo(`/${'a'.repeat(2048)}`, POLICY), '/');
    });
  });

  describe('policy handling', () => {
    it('an invalid or non-http(s) origin in the policy never matches (fails closed)', () => {
      const policy: ReturnToPolicy = { publicOrigin: 'https://app.example.com', allowedOrigins: ['not a url', 'javascript:alert(1)', 'null'] };
      assert.equal(safeReturnTo('javascript:alert(1)', policy), '/');
      assert.equal(safeReturnTo('https://app.example.com/x', policy), 'https://app.example.com/x');
    });

    it('an unusable publicOrigin refuses every target instead of guessing', () => {
      const policy: ReturnToPolicy = { publicOrigin: 'app.example.com', allowedOrigins: [] };
      assert.equal(safeReturnTo('/dashboard', policy), '/');
      assert.equal(safeReturnTo('https://app.example.com/', policy), '/');
    });

    it('policy origins are compared in normalised form (case, default port, trailing slash)', () => {
      const policy: ReturnToPolicy = { publicOrigin: 'HTTPS://App.Example.com:443/', allowedOrigins: [] };
      assert.equal(safeReturnTo('https://app.example.com/x', policy), 'https://app.example.com/x');
      assert.equal(safeReturnTo('/x', policy), '/x');
    });
  });
});
