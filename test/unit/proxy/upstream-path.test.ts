import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { checkUpstreamPath } from '../../../src/proxy/upstream-path.js';

interface CorpusCase {
  line: number;
  input: string;
  expected: string | null;
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
    const expected = fields[1] ?? '';
    cases.push({
      line: i + 1,
      input: unescapeField(fields[0] ?? '', i + 1),
      expected: expected === 'REFUSE' ? null : unescapeField(expected, i + 1),
    });
  }
  return cases;
}

const corpus = readCorpus(new URL('../../fixtures/upstream-path-corpus.txt', import.meta.url));

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

    it('pathological inputs are checked in linear time (no regex backtracking blow-up)', () => {
      const started = process.hrtime.bigint();
      assert.equal(checkUpstreamPath(`/${'.'.repeat(200_000)}x`), `/${'.'.repeat(200_000)}x`);
      assert.equal(checkUpstreamPath(`/${'.%20'.repeat(50_000)}x`), `/${'.%20'.repeat(50_000)}x`);
      assert.equal(checkUpstreamPath(`/${'.%20'.repeat(50_000)}`), null);
      assert.equal(checkUpstreamPath(`${'/a'.repeat(100_000)}/`), `${'/a'.repeat(100_000)}/`);
      assert.equal(checkUpstreamPath(`${'/a'.repeat(100_000)}//`), null);
      assert.equal(checkUpstreamPath(`/${'%2e'.repeat(50_000)}`), null);
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
      assert.ok(elapsedMs < 500, `took ${elapsedMs} ms`);
    });
  });
});
