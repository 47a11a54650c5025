import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { safeReturnTo, type ReturnToPolicy } from '../../../src/oidc/return-to.js';

const POLICY: ReturnToPolicy = {
  publicOrigin: 'https://app.example.com',
  allowedOrigins: ['https://admin.example.com', 'http://localhost:5173'],
};
const ALLOWED_ORIGINS = new Set([POLICY.publicOrigin, ...POLICY.allowedOrigins]);

interface CorpusCase {
  line: number;
  input: string;
  expected: string;
}

const ESCAPE = /\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|(.))/g;
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { t: '\t', r: '\r', n: '\n', '0': '\0', '\\': '\\' };

function unescapeField(field: string, line: number): string {
  return field.replace(ESCAPE, (_match, hex2: string | undefined, hex4: string | undefined, simple: string | undefined) => {
    const hex = hex2 ?? hex4;
    if (hex !== undefined) return String.fromCharCode(Number.parseInt(hex, 16));
    const replacement = simple === undefined ? undefined : SIMPLE_ESCAPES[simple];
    if (replacement === undefined) throw new Error(`corpus line ${line}: unknown escape \\${simple ?? ''}`);
    return replacement;
  });
}

function readCorpus(file: URL): CorpusCase[] {
  const cases: CorpusCase[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const text = (lines[i] ?? '').replace(/\r$/, '');
    if (text === '' || text.startsWith('#')) continue;
    const fields = text.split('\t');
    if (fields.length !== 2) throw new Error(`corpus line ${i + 1}: expected input<TAB>expected, got ${JSON.stringify(text)}`);
    cases.push({ line: i + 1, input: unescapeField(fields[0] ?? '', i + 1), expected: unescapeField(fields[1] ?? '', i + 1) });
  }
  return cases;
}

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
