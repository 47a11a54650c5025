import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../../src/config/schema.js';
import { ERROR_CODES } from '../../src/errors/codes.js';
import { LOG_EVENTS } from '../../src/observability/log-events.js';
import { GENERATED_PAGES } from '../../scripts/docs.js';
import { renderEnvExample } from '../../scripts/env-example.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const tableNames = (text: string) => [...text.matchAll(/^\| `([A-Za-z0-9_.]+)` \|/gm)].map((m) => m[1]);

function markdownFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(join(root, path)).isDirectory() ? markdownFiles(path) : path.endsWith('.md') ? [path] : [];
  });
}
/** Every page a reader reaches from the README: the README itself and docs/. */
const pages = ['README.md', ...markdownFiles('docs')];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  const text = markdown.replace(/^```[\s\S]*?^```/gm, '');
  for (const [, heading] of text.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = heading!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}_\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Relative links of a page, outside code blocks: [text](target) with no scheme. */
function relativeLinks(markdown: string): string[] {
  const text = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
}

/** Paths named in code spans that start at a top-level folder of the repository, e.g. `src/web/`. */
function namedPaths(markdown: string): string[] {
  const ignored = read('.gitignore')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return [...markdown.matchAll(/`((?:src|test|docs|scripts|examples|dev|views|bench)\/[^`\s]*)`/g)]
    .map((m) => m[1]!)
    .filter((p) => !/[<>*…]/.test(p) && !ignored.some((g) => p.startsWith(g)));
}

describe('documentation matches the code', () => {
  it('.env.example is generated from the schema (npm run env-example)', () => {
    assert.equal(read('.env.example'), renderEnvExample());
  });

  for (const [path, render] of Object.entries(GENERATED_PAGES)) {
    it(`${path} is exactly what npm run docs generates from the code`, () => {
      assert.equal(read(path), render(), `${path} is stale: run npm run docs`);
    });
  }

  it("docs/configuration.md lists exactly the schema's variables, in order, each with its default", () => {
    const page = read('docs/configuration.md');
    assert.deepEqual(
      tableNames(page),
      SETTINGS.map((s) => s.name),
    );
    for (const s of SETTINGS) {
      if (s.default) assert.ok(page.includes(`| \`${s.name}\` | \`${s.default}\` |`), `${s.name} default ${s.default} not in the table`);
    }
  });

  it('docs/errors-and-log-events.md lists every error code with its status, and every log event with its level', () => {
    const page = read('docs/errors-and-log-events.md');
    const [errors, events] = page.split('\n## Log events');
    assert.deepEqual(tableNames(errors!).sort(), Object.keys(ERROR_CODES).sort());
    assert.deepEqual(tableNames(events!).sort(), Object.keys(LOG_EVENTS).sort());
    for (const [code, { status }] of Object.entries(ERROR_CODES)) assert.ok(errors!.includes(`| \`${code}\` | ${status} |`), code);
    for (const [event, level] of Object.entries(LOG_EVENTS)) assert.ok(events!.includes(`| \`${event}\` | ${level} |`), event);
  });

  it('every test file named in docs/security.md exists, and every property names at least one', () => {
    const page = read('docs/security.md');
    const start = page.indexOf('| property | where it is proved |');
    assert.ok(start >= 0, 'docs/security.md has the properties table');
    const rows = page
      .slice(start)
      .split('\n')
      .slice(2)
      .filter((l) => l.startsWith('|'));
    assert.ok(rows.length > 20, `only ${rows.length} properties found`);
    const missing: string[] = [];
    for (const row of rows) {
      const proof = row.split(' | ').at(-1)!;
      const tests = [...proof.matchAll(/`(test\/[^`]+)`/g)].map((m) => m[1]!);
      assert.ok(
        tests.some((t) => t.endsWith('.test.ts')),
        `no test file for: ${row.slice(0, 80)}`,
      );
      missing.push(...tests.filter((t) => !existsSync(join(root, t))));
    }
    assert.deepEqual(missing, []);
  });

  it('every relative link in README.md and docs/ points to an existing file (and heading)', () => {
    const broken: string[] = [];
    for (const page of pages) {
      for (const link of relativeLinks(read(page))) {
        const [file, fragment] = link.split('#') as [string, string | undefined];
        const target = file === '' ? page : relative(root, resolve(root, dirname(page), decodeURI(file)));
        if (!existsSync(join(root, target))) broken.push(`${page}: ${link} (no ${target})`);
        else if (fragment !== undefined && target.endsWith('.md') && !anchorsOf(read(target)).has(fragment)) {
          broken.push(`${page}: ${link} (no heading #${fragment} in ${target})`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });

  it('every repository path named in README.md and docs/ exists', () => {
    const missing = pages.flatMap((page) =>
      namedPaths(read(page))
        .filter((p) => !existsSync(join(root, p)))
        .map((p) => `${page}: ${p}`),
    );
    assert.deepEqual(missing, []);
  });

  it('control: the checks see a broken link, a missing heading and a missing path', () => {
    const page = '[a](missing.md) [b](README.md#no-such-heading) `src/no-such-file.ts`';
    assert.deepEqual(relativeLinks(page), ['missing.md', 'README.md#no-such-heading']);
    assert.ok(!existsSync(join(root, 'missing.md')));
    assert.ok(!anchorsOf(read('README.md')).has('no-such-heading'));
    assert.deepEqual(namedPaths(page), ['src/no-such-file.ts']);
    assert.ok(anchorsOf('## Upstream API routes (`API_ROUTES`)\n## DPoP\n## DPoP').has('upstream-api-routes-api_routes'));
    assert.ok(anchorsOf('## DPoP\n## DPoP').has('dpop-1'));
  });
});
