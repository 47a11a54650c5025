import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The floor plan (docs/architecture.md), as arrows that point one way: a folder may import only
 * folders below it. Peers on one level (oidc and proxy; session and idp) do not import each other.
 */
const LEVELS: readonly (readonly string[])[] = [
  ['web'],
  ['config'],
  ['observability'],
  ['errors'],
  ['store'],
  ['session', 'idp'],
  ['tokens'],
  ['oidc', 'proxy', 'fusionauth'],
  ['gateway'],
  ['http'],
  ['admin'],
  ['app.ts'],
  ['frontends-app.ts'],
  ['main.ts'],
];

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const levelOf = new Map(LEVELS.flatMap((names, level) => names.map((name) => [name, level] as const)));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Relative imports of a file (static, re-exports and dynamic), as absolute .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const pattern =
    /(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]|(?:^|\n)\s*import\s*['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;
  const specs = [...text.matchAll(pattern)].map((m) => (m[1] ?? m[2] ?? m[3])!);
  return specs.map((spec) => resolve(dirname(file), spec).replace(/\.js$/, '.ts'));
}

const files = sourceFiles(src);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const folderOf = (file: string) => relative(src, file).split('/')[0]!;
const name = (file: string) => relative(root, file);

describe('the floor plan: imports point one way', () => {
  it('every file of src/ lives in a folder the floor plan names', () => {
    const unknown = [...new Set(files.map(folderOf))].filter((f) => !levelOf.has(f));
    assert.deepEqual(unknown, []);
  });

  it('no file imports a folder above it or beside it (0 upward imports)', () => {
    const wrong: string[] = [];
    for (const [file, targets] of graph) {
      const from = folderOf(file);
      for (const target of targets) {
        const to = folderOf(target);
        if (from === to) continue;
        if (!target.startsWith(src)) wrong.push(`${name(file)} -> ${name(target)} (outside src/)`);
        else if (levelOf.get(to)! >= levelOf.get(from)!) wrong.push(`${name(file)} -> ${name(target)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('the import graph of src/ has no cycle', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].map(name).join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) if (graph.has(next)) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    assert.deepEqual(cycles, []);
  });

  it('control: the check sees an upward import when there is one', () => {
    // app.ts imports features; the same arrow from the base layer would be refused.
    const appImports = graph.get(join(src, 'app.ts')) ?? [];
    assert.ok(appImports.some((t) => levelOf.get(folderOf(t))! < levelOf.get('app.ts')!));
    assert.ok(appImports.length > 5, 'the import parser found almost nothing');
  });
});
