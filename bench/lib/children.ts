// Child processes of the bench: each server under test runs in its own Node process (so CPU time
// and RSS are per process), as plain JS or under tsx (see build.ts), logging to a file, talking to
// the driver over IPC.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scriptArgs, type Runner } from './build.js';
import { ROOT_DIR } from './paths.js';

export interface Child {
  name: string;
  pid: number;
  port: number;
  info: Record<string, unknown>;
  logFile: string;
  proc: ChildProcess;
  /** Asks the child's IPC handler `name` (see servers/child.ts). */
  query<T>(name: string, arg?: unknown): Promise<T>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Every child still running: the driver stops them all in its finally block and on SIGINT. */
export const running = new Set<Child>();

// Only what a Node process needs: nothing of the caller's environment (PORT, REDIS_URL, LOG_LEVEL,
// NODE_OPTIONS, …) leaks into a server under test.
const BASE_ENV_KEYS = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ'];

export interface StartOptions {
  runner: Runner;
  env: Record<string, string>;
  logDir: string;
  /** Extra node flags before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  readyTimeoutMs?: number;
}

export async function startChild(name: string, script: string, options: StartOptions): Promise<Child> {
  const logFile = join(options.logDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const env: Record<string, string> = {};
  for (const k of BASE_ENV_KEYS) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  Object.assign(env, options.env);
  const proc = spawn(process.execPath, [...(options.nodeArgs ?? []), ...scriptArgs(options.runner, script)], {
    cwd: ROOT_DIR,
    env,
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  if (proc.pid === undefined) throw new Error(`${name}: spawn failed`);
  const pid = proc.pid;

  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });

  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not get ready in time; see ${logFile}\n${tail(logFile)}`)), options.readyTimeoutMs ?? 60_000);
    proc.on('message', (m: unknown) => {
      const msg = m as { type?: string; id?: number; result?: unknown; error?: string };
      if (msg.type === 'ready') {
        clearTimeout(timer);
        resolve(msg as Record<string, unknown>);
      } else if (msg.type === 'reply' && typeof msg.id === 'number') {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error !== undefined) p?.reject(new Error(msg.error));
        else p?.resolve(msg.result);
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready; see ${logFile}\n${tail(logFile)}`));
      for (const p of pending.values()) p.reject(new Error(`${name} exited`));
      pending.clear();
    });
  }).catch(async (err: unknown) => {
    proc.kill('SIGKILL');
    await exited;
    throw err;
  });

  const child: Child = {
    name,
    pid,
    port: Number(info['port'] ?? 0),
    info,
    logFile,
    proc,
    query<T>(q: string, arg?: unknown) {
      return new Promise<T>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        proc.send({ type: 'query', id, name: q, arg }, (err) => {
          if (err) {
            pending.delete(id);
            reject(err);
          }
        });
      });
    },
    async stop(graceMs = 5000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const force = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(force);
      }
      running.delete(child);
    },
  };
  running.add(child);
  return child;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop().catch(() => undefined)));
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

// ---- /proc sampling ------------------------------------------------------------------------

let clockTicks: number | undefined;
export function clkTck(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU time of the whole process (all threads), in microseconds. */
export function cpuMicros(pid: number): number {
  const { user, kernel } = cpuSplitMicros(pid);
  return user + kernel;
}

/** CPU time of a process in user space and in the kernel (its system calls: socket reads and writes), in µs. */
export function cpuSplitMicros(pid: number): { user: number; kernel: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "pid (comm) ": state is field 3, utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(rest[11]) * 1e6) / clkTck(), kernel: (Number(rest[12]) * 1e6) / clkTck() };
}

/** Resident set size now and at its peak (VmHWM), in MB. */
export function memory(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/**
 * Resident memory by kind of mapping (/proc/<pid>/smaps), in MB: `file` (the node binary and
 * shared libraries), `brk` (the [heap] segment: glibc's main malloc arena), `anon` (every other
 * anonymous mapping: V8's heap pages, the other threads' malloc arenas, stacks).
 */
export function residentByKind(pid: number): { file: number; brk: number; anon: number } {
  const out = { file: 0, brk: 0, anon: 0 };
  let kind: keyof typeof out = 'anon';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
      const path = line.split(/\s+/)[5] ?? '';
      kind = path === '[heap]' ? 'brk' : path.startsWith('/') ? 'file' : 'anon';
    } else if (line.startsWith('Rss:')) out[kind] += Number(/(\d+)/.exec(line)?.[1] ?? 0) / 1024;
  }
  return out;
}

/** Machine-wide CPU counters (/proc/stat, all CPUs), in clock ticks. */
export interface MachineCpu {
  total: number;
  idle: number;
  steal: number;
}

export function machineCpu(): MachineCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user).
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { total, idle: (v[3] ?? 0) + (v[4] ?? 0), steal: v[7] ?? 0 };
}

/** Busy and stolen shares of the machine's CPU time between two snapshots. */
export function machineLoad(a: MachineCpu, b: MachineCpu): { busy: number; steal: number } {
  const total = b.total - a.total;
  return total > 0 ? { busy: 1 - (b.idle - a.idle) / total, steal: (b.steal - a.steal) / total } : { busy: NaN, steal: NaN };
}
