// wrk as the load generator: found on the PATH or installed with `apt-get install -y wrk` (as
// root), driven with bench/lib/requests.lua, results parsed from its JSON line.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR } from './paths.js';

export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number; total: number };
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** Set-Cookie responses applied to their session (re-issued cookies), and those not matched to one. */
  cookies: { reissued: number; unmatched: number };
}

function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Path of wrk, installing Debian's package when it is missing and we are root. */
export function ensureWrk(log: (line: string) => void): string {
  const found = which('wrk');
  if (found) return found;
  if (process.getuid?.() !== 0) throw new Error('wrk is not installed; run `apt-get install -y wrk` as root (or put wrk on the PATH)');
  log('wrk is missing: apt-get install -y wrk …');
  const install = () => execFileSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    install();
  } catch {
    execFileSync('apt-get', ['update'], { stdio: 'ignore' });
    install();
  }
  const installed = which('wrk');
  if (!installed) throw new Error('apt-get install -y wrk did not put wrk on the PATH');
  return installed;
}

export function wrkVersion(wrk: string): string {
  try {
    // `wrk -v` prints its version line and exits 1.
    execFileSync(wrk, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const out = String((err as { stdout?: unknown }).stdout ?? '');
    return (
      out
        .split('\n')[0]
        ?.replace(/\s*Copyright.*/, '')
        .trim() ?? '?'
    );
  }
  return '?';
}

/** One session per entry: header name → value (see requests.lua). */
export type RequestVariants = Array<Record<string, string>>;

export function writeRequests(file: string, variants: RequestVariants): string {
  writeFileSync(
    file,
    variants
      .map((h) =>
        Object.entries(h)
          .map(([k, v]) => `${k}: ${v}`)
          .join('\t'),
      )
      .join('\n') + '\n',
    { mode: 0o600 },
  );
  return file;
}

export interface WrkOptions {
  wrk: string;
  url: string;
  requestsFile: string;
  threads: number;
  connections: number;
  durationS: number;
  /** Polled every 200 ms; when it resolves true, wrk is stopped early (SIGINT makes it report). */
  stopWhen?: () => Promise<boolean>;
}

const active = new Set<ChildProcess>();

/** Kills every wrk still running (the driver's cleanup). */
export function killWrk(): void {
  for (const c of active) c.kill('SIGKILL');
}

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = [
    '-t',
    String(o.threads),
    '-c',
    String(o.connections),
    '-d',
    `${o.durationS}s`,
    '--timeout',
    '10s',
    '-s',
    join(BENCH_DIR, 'lib', 'requests.lua'),
    o.url,
    '--',
    o.requestsFile,
    String(o.threads),
  ];
  const child = spawn(o.wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  active.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  let poller: NodeJS.Timeout | undefined;
  if (o.stopWhen) {
    const stopWhen = o.stopWhen;
    let busy = false;
    poller = setInterval(() => {
      if (busy) return;
      busy = true;
      stopWhen()
        .then((stop) => {
          if (stop && child.exitCode === null) {
            clearInterval(poller);
            child.kill('SIGINT');
          }
        })
        .catch(() => undefined)
        .finally(() => {
          busy = false;
        });
    }, 200);
  }
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  active.delete(child);
  if (poller) clearInterval(poller);
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`wrk (${code}) printed no result:\n${out}\n${err}`);
  const j = JSON.parse(line.slice('BENCH_JSON '.length)) as Record<string, number>;
  const n = (k: string) => j[k] ?? 0;
  const durationS = n('duration_us') / 1e6;
  const ms = (k: string) => n(k) / 1000;
  return {
    requests: n('requests'),
    durationS,
    rps: durationS > 0 ? n('requests') / durationS : 0,
    errors: {
      connect: n('connect'),
      read: n('read'),
      write: n('write'),
      status: n('status'),
      timeout: n('timeout'),
      total: n('connect') + n('read') + n('write') + n('status') + n('timeout'),
    },
    latencyMs: { p50: ms('p50'), p90: ms('p90'), p99: ms('p99'), p999: ms('p999'), max: ms('max'), mean: ms('mean') },
    cookies: { reissued: n('reissued'), unmatched: n('unmatched') },
  };
}
