// The servers under test run as plain JavaScript, like production's dist/: src/, dev/ (the bench IdP shares dev/idp.ts) and bench/servers/
// are transpiled file by file with esbuild (the transpiler tsx itself uses, so the semantics are
// those of the test suite) into a temporary directory that has node_modules and views/ linked in.
// Running them under `--import tsx` instead would add its loader thread — about 30 MB of RSS per
// process — to every memory figure. When the transpile fails (e.g. src/ mid-edit), or with
// BENCH_TSX=1, the servers run under tsx and the report says so.
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT_DIR } from './paths.js';

export type Runner = { mode: 'js'; dir: string } | { mode: 'tsx'; reason: string };

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** `sources`: where src/, dev/, views/ and bench/servers/ come from (another revision's, see run.ts revisionOf); node_modules is always this checkout's. */
export async function buildServers(tmp: string, sources = ROOT_DIR): Promise<Runner> {
  if (process.env['BENCH_TSX'] === '1' && sources === ROOT_DIR) return { mode: 'tsx', reason: 'BENCH_TSX=1' };
  const dir = join(tmp, 'build');
  try {
    const esbuild = await import('esbuild');
    mkdirSync(dir, { recursive: true });
    // dev/: the bench IdP shares dev/idp.ts's pieces.
    const entryPoints = [...tsFiles(join(sources, 'src')), ...tsFiles(join(sources, 'dev')), ...tsFiles(join(sources, 'bench', 'servers'))];
    await esbuild.build({
      entryPoints,
      outdir: dir,
      outbase: sources,
      bundle: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      tsconfig: join(sources, 'tsconfig.json'),
      logLevel: 'silent',
    });
    writeFileSync(join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
    symlinkSync(join(ROOT_DIR, 'node_modules'), join(dir, 'node_modules'), 'dir');
    symlinkSync(join(sources, 'views'), join(dir, 'views'), 'dir');
    return { mode: 'js', dir };
  } catch (err) {
    const reason = `transpile failed: ${String((err as Error)?.message ?? err).split('\n')[0]}`;
    return { mode: 'tsx', reason };
  }
}

/** node arguments that run bench/servers/<name> with this runner. */
export function scriptArgs(runner: Runner, name: string): string[] {
  if (runner.mode === 'js') return [join(runner.dir, 'bench', 'servers', `${name}.js`)];
  return ['--import', 'tsx', join(ROOT_DIR, 'bench', 'servers', `${name}.ts`)];
}

export function describeRunner(runner: Runner): string {
  return runner.mode === 'js'
    ? `plain JS (src/, dev/ and bench/servers/ transpiled by esbuild into ${relative(ROOT_DIR, runner.dir).startsWith('..') ? 'a temp dir' : runner.dir})`
    : `tsx (${runner.reason}) — every RSS figure includes tsx's loader thread, about 30 MB per process`;
}
