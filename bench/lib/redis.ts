// A redis-server of the bench's own on a free loopback port (never an outside REDIS_URL: the
// command counts must be the BFF's alone), plus INFO commandstats deltas.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { freePort } from '../../test/support/free-port.js';

export interface BenchRedis {
  url: string;
  pid: number;
  version: string;
  /** calls per command since start (INFO commandstats), without the bench's own INFO calls. */
  commandCalls(): Promise<Record<string, number>>;
  dbsize(): Promise<number>;
  close(): Promise<void>;
}

export async function startRedis(): Promise<BenchRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.once('error', (e) => reject(new Error(`redis-server could not start (apt-get install -y redis-server): ${e.message}`)));
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  const server = await client.info('server');
  const version = /redis_version:(\S+)/.exec(server)?.[1] ?? '?';
  return {
    url,
    pid: child.pid!,
    version,
    async commandCalls() {
      const info = await client.info('commandstats');
      const calls: Record<string, number> = {};
      for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        if (m[1] !== 'info') calls[m[1]!] = Number(m[2]);
      }
      return calls;
    },
    dbsize: () => client.dbsize(),
    async close() {
      client.disconnect();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** Per-command difference b − a, and the total. */
export function commandDelta(a: Record<string, number>, b: Record<string, number>): { total: number; byCommand: Record<string, number> } {
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const [cmd, n] of Object.entries(b)) {
    const d = n - (a[cmd] ?? 0);
    if (d > 0) {
      byCommand[cmd] = d;
      total += d;
    }
  }
  return { total, byCommand };
}
