import { readFileSync } from 'node:fs';

/** One line of an adversarial corpus: `input<TAB>expected`, with escapes \t \r \n \0 \\ \xHH \uHHHH. */
export interface CorpusLine {
  line: number;
  input: string;
  /** The expected field, unescaped; `null` when it is the `refused` marker. */
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

/** Reads a corpus file; lines starting with # are comments. `refused` names the expected-field marker for a refusal. */
export function readCorpus(file: URL, refused?: string): CorpusLine[] {
  const cases: CorpusLine[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const text = (lines[i] ?? '').replace(/\r$/, '');
    if (text === '' || text.startsWith('#')) continue;
    const fields = text.split('\t');
    if (fields.length !== 2) throw new Error(`corpus line ${i + 1}: expected input<TAB>expected, got ${JSON.stringify(text)}`);
    const expected = fields[1] ?? '';
    cases.push({ line: i + 1, input: unescapeField(fields[0] ?? '', i + 1), expected: expected === refused ? null : unescapeField(expected, i + 1) });
  }
  return cases;
}
