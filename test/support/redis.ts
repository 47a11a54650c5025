import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';

/**
 * A real Redis for the suite: the one at REDIS_URL when set, otherwise a `redis-server` the
 * suite starts on a free port (no persistence) and stops by its pid. Every test run writes
 * under its own key prefix and deletes only those keys: data it did not create is never
 * touched.
 */
export interface TestRedis {
  url: string;
  /** Unique prefix for this run's keys; pass it as REDIS_KEY_PREFIX. */
  prefix: string;
  /** A client without prefix, for assertions on raw keys. */
  client: Redis;
  /** Keys (with prefix) currently stored by this run. */
  keys(): Promise<string[]>;
  /** Stops the server (only one we started) and starts it again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestRedis(): Promise<TestRedis> {
  const external = process.env['REDIS_URL'];
  const port = external ? 0 : await freePort();
  const url = external ?? `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const start = async () => {
    if (external) return;
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child!.once('error', (e) => reject(new Error(`redis-server could not start (is it installed? .ci/run installs it): ${e.message}`)));
      child!.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) resolve();
      });
    });
    child.stdout!.resume();
  };
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };

  await start();
  const prefix = `bff-test:${randomBytes(4).toString('hex')}:`;
  const client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  const keys = async () => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found;
  };
  return {
    url,
    prefix,
    client,
    keys,
    stop,
    start,
    async close() {
      const mine = await keys().catch(() => []);
      if (mine.length) await client.del(...mine).catch(() => undefined);
      client.disconnect();
      await stop();
    },
  };
}

/** A store fails fast while it connects (no offline queue): resolves with it once it answers a ping. */
export async function whenStoreReady<S extends { ping(): Promise<void> }>(store: S): Promise<S> {
  while (
    await store.ping().then(
      () => false,
      () => true,
    )
  )
    await new Promise((r) => setTimeout(r, 10));
  return store;
}
