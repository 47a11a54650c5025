import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOG_EVENTS } from '../../src/observability/log-events.js';
import { ERROR_CODES } from '../../src/errors/codes.js';

/**
 * The catalogues are the operator's and the SPA developer's index of what can happen: a
 * catalogued event that nothing logs, or a code that nothing throws, documents an outcome that
 * does not exist (and hides that the outcome it names leaves no trace). The check is textual on
 * purpose: every event and code is written as a string literal where it is used, so a name
 * that appears nowhere in src/ outside its catalogue is dead.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(root, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** The src/ text outside one catalogue file, with comments removed so a mention in prose does not count. */
function sourcesExcept(catalogue: string): string {
  return sourceFiles(src)
    .filter((file) => relative(root, file) !== catalogue)
    .map((file) =>
      readFileSync(file, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/(^|[^:'"`])\/\/.*$/gm, '$1'),
    )
    .join('\n');
}

const quoted = (text: string, name: string) => [`'${name}'`, `"${name}"`, `\`${name}\``].some((q) => text.includes(q));

describe('the catalogues name only what the code does', () => {
  it('every log event in src/observability/log-events.ts is emitted somewhere in src/', () => {
    const text = sourcesExcept('src/observability/log-events.ts');
    const dead = Object.keys(LOG_EVENTS).filter((event) => !quoted(text, event));
    assert.deepEqual(dead, [], 'catalogued events that no code logs');
  });

  it('every error code in src/errors/codes.ts is used somewhere in src/', () => {
    const text = sourcesExcept('src/errors/codes.ts');
    const dead = Object.keys(ERROR_CODES).filter((code) => !quoted(text, code));
    assert.deepEqual(dead, [], 'catalogued error codes that no code answers with');
  });
});
