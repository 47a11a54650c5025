import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './free-port.js';

/**
 * Private Redis Cluster and Redis Sentinel topologies for tests. Every process is a
 * `redis-server` child of the test process, on 127.0.0.1 free ports, in a fresh temp dir, and
 * is stopped by its pid in close() (also when a start fails halfway). Nothing here touches the
 * suite's other Redis (test/support/redis.ts).
 */

const HOST = '127.0.0.1';

export interface TestCluster {
  nodes: Array<{ host: string; port: number }>;
  /** ioredis Cluster client for assertions (no key prefix). */
  client: Cluster;
  /** Unique prefix for this run's keys (`bff-test:<random>:`); contains no `{`, so it never pins keys to one slot. */
  prefix: string;
  close(): Promise<void>;
}

export interface TestSentinel {
  sentinels: Array<{ host: string; port: number }>;
  /** Master group name, 'bffmaster'. */
  name: string;
  /** Unique prefix for this run's keys (`bff-test:<random>:`). */
  prefix: string;
  /** The current master's address according to the sentinel. */
  master(): Promise<{ host: string; port: number }>;
  /**
   * Forces a failover (SENTINEL FAILOVER) and resolves when the sentinel reports the former
   * replica as the new master and that node answers ROLE master. The former master is still
   * running and writable: the sentinel turns it into a replica only ~10 s later
   * (+convert-to-slave), so a second failover() first waits (~21 s) until the sentinel reports
   * it as a synced replica.
   */
  failover(): Promise<void>;
  close(): Promise<void>;
}

const newPrefix = () => `bff-test:${randomBytes(4).toString('hex')}:`;
// eslint-disable-next-line no-control-regex -- ANSI colour codes start with ESC
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
const tail = (s: string, n = 1500) => (s.length > n ? `…${s.slice(-n)}` : s);

/** One `redis-server` child: its output is kept so callers can await log lines. */
class RedisProcess {
  private readonly child: ChildProcess;
  private out = '';
  private failure: string | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly label: string,
    args: string[],
    cwd: string,
  ) {
    this.child = spawn('redis-server', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const notify = () => {
      for (const listener of [...this.listeners]) listener();
    };
    const onData = (d: Buffer) => {
      this.out += d.toString();
      notify();
    };
    // Both streams stay consumed for the child's whole life, so it never blocks on a full pipe.
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    this.child.once('error', (e) => {
      this.failure ??= `could not start redis-server (is it installed? .ci/run installs it): ${e.message}`;
      notify();
    });
    this.child.once('exit', (code, signal) => {
      this.failure ??= `exited (${signal ?? `code ${code}`})`;
      notify();
    });
  }

  /** Position in the output: pass it to waitFor() to only match lines written after now. */
  get mark(): number {
    return this.out.length;
  }

  /** Resolves with the first match of `pattern` in the output written since `from`. */
  waitFor(pattern: RegExp, what: string, timeoutMs = 10_000, from = 0): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const done = () => {
        this.listeners.delete(check);
        clearTimeout(timer);
      };
      const check = () => {
        const found = this.out.slice(from).match(pattern);
        if (found) {
          done();
          resolve(found);
        } else if (this.failure) {
          done();
          reject(new Error(`${this.label} ${this.failure} before ${what}:\n${tail(this.out)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms:\n${tail(this.out)}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** SIGTERM by pid and await 'exit' (SIGKILL if it has not exited after 5 s). */
  async stop(): Promise<void> {
    const { child } = this;
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Bounded poll for states Redis announces no event for: retries `probe` until it returns a value. */
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms${last ? ` (last error: ${last})` : ''}`);
    await sleep(50);
  }
}

/** A plain client for the helpers' own admin commands: never retries, never queues forever. */
function adminClient(port: number): Redis {
  const client = new Redis({
    host: HOST,
    port,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2_000,
    commandTimeout: 3_000,
  });
  client.on('error', () => undefined);
  return client;
}

/** Field of a `key:value` INFO / CLUSTER INFO reply. */
function infoField(info: string, field: string): string | undefined {
  return info.match(new RegExp(`^${field}:(.*?)\\r?$`, 'm'))?.[1];
}

/** A flat [k1, v1, k2, v2…] reply (SENTINEL replicas entries) as an object. */
function pairs(flat: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

async function runRedisCli(args: string[], timeoutMs: number): Promise<void> {
  const cli = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  cli.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  cli.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => cli.kill('SIGTERM'), timeoutMs);
  try {
    const [code, signal] = (await once(cli, 'exit')) as [number | null, NodeJS.Signals | null];
    if (code !== 0) {
      const why = signal === 'SIGTERM' ? `did not finish within ${timeoutMs} ms` : `exited with ${signal ?? `code ${code}`}`;
      throw new Error(`redis-cli ${args.slice(0, 2).join(' ')} ${why}:\n${tail(stripAnsi(out))}`);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('redis-cli not found (Debian: package redis-tools, a dependency of redis-server)', { cause: e });
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A Redis Cluster of `masters` (>= 3, redis-cli's minimum) masters without replicas. Resolves
 * once every node reports cluster_state:ok and the returned ioredis Cluster client is ready.
 */
export async function startRedisCluster(masters = 3): Promise<TestCluster> {
  if (!Number.isInteger(masters) || masters < 3) {
    throw new Error(`startRedisCluster: a cluster needs at least 3 masters (got ${masters})`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'bff-redis-cluster-'));
  const procs: RedisProcess[] = [];
  const admins: Redis[] = [];
  let client: Cluster | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      if (client) await client.quit().catch(() => client?.disconnect());
      for (const admin of admins) admin.disconnect();
      await Promise.all(procs.map((p) => p.stop()));
      await rm(dir, { recursive: true, force: true });
    })());

  try {
    const ports: number[] = [];
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      // The cluster bus gets its own free port instead of the default port + 10000, which could
      // land in the ephemeral range or on a port freePort() hands to another server.
      const busPort = await freePort();
      ports.push(port);
      procs.push(
        new RedisProcess(
          `cluster node 127.0.0.1:${port}`,
          [
            '--port',
            String(port),
            '--bind',
            HOST,
            '--cluster-enabled',
            'yes',
            '--cluster-port',
            String(busPort),
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            '2000',
            '--save',
            '',
            '--appendonly',
            'no',
          ],
          dir,
        ),
      );
    }
    await Promise.all(procs.map((p) => p.waitFor(/Ready to accept connections/, '"Ready to accept connections"')));

    await runRedisCli(['--cluster', 'create', ...ports.map((p) => `${HOST}:${p}`), '--cluster-replicas', '0', '--cluster-yes'], 20_000);

    // redis-cli returns once the nodes agree on the slots; every node still has to flip to
    // cluster_state:ok (no event for that, so a bounded poll).
    admins.push(...ports.map(adminClient));
    await until(`cluster_state:ok on all ${masters} nodes`, 10_000, async () => {
      const infos = await Promise.all(admins.map((a) => a.call('CLUSTER', 'INFO') as Promise<string>));
      const ok = infos.every((info) => infoField(info, 'cluster_state') === 'ok' && infoField(info, 'cluster_known_nodes') === String(masters));
      return ok ? true : undefined;
    });
    for (const admin of admins) admin.disconnect();
    admins.length = 0;

    const nodes = ports.map((port) => ({ host: HOST, port }));
    const cluster = new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 3 } });
    client = cluster;
    await new Promise<void>((resolve, reject) => {
      let lastError = '';
      const onError = (e: Error) => (lastError = e.message);
      const timer = setTimeout(() => {
        cluster.off('error', onError);
        reject(new Error(`ioredis Cluster client not ready within 10000 ms${lastError ? `: ${lastError}` : ''}`));
      }, 10_000);
      cluster.on('error', onError);
      cluster.once('ready', () => {
        clearTimeout(timer);
        cluster.off('error', onError);
        resolve();
      });
    });

    return { nodes, client: cluster, prefix: newPrefix(), close };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}

/**
 * One master, one replica and one sentinel (quorum 1) on 127.0.0.1. Resolves once the replica
 * has synced (master_link_status:up) and the sentinel knows it as a healthy replica, so
 * failover() can run at once.
 */
export async function startRedisSentinel(): Promise<TestSentinel> {
  const name = 'bffmaster';
  const dir = await mkdtemp(join(tmpdir(), 'bff-redis-sentinel-'));
  const procs: RedisProcess[] = [];
  const admins: Redis[] = [];
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      for (const admin of admins) admin.disconnect();
      // Sentinel first, so it does not start a failover while the data nodes go down.
      for (const p of [...procs].reverse()) await p.stop();
      await rm(dir, { recursive: true, force: true });
    })());

  try {
    const masterPort = await freePort();
    const replicaPort = await freePort();
    const sentinelPort = await freePort();

    const dataNode = async (port: number, extra: string[]) => {
      const nodeDir = join(dir, `node-${port}`);
      await mkdir(nodeDir);
      const args = [
        '--port',
        String(port),
        '--bind',
        HOST,
        '--dir',
        nodeDir,
        '--save',
        '',
        '--appendonly',
        'no',
        // Redis 7 defaults to a 5 s pause before a diskless full sync; a test cannot wait that long.
        '--repl-diskless-sync-delay',
        '0',
        ...extra,
      ];
      const proc = new RedisProcess(`sentinel data node 127.0.0.1:${port}`, args, nodeDir);
      procs.push(proc);
      return proc;
    };

    const masterNode = await dataNode(masterPort, []);
    await masterNode.waitFor(/Ready to accept connections/, '"Ready to accept connections"');
    const replica = await dataNode(replicaPort, ['--replicaof', HOST, String(masterPort)]);
    await replica.waitFor(/MASTER <-> REPLICA sync: Finished with success/, 'initial sync with the master');
    const replicaAdmin = adminClient(replicaPort);
    admins.push(replicaAdmin);
    await until('master_link_status:up on the replica', 10_000, async () =>
      infoField(await replicaAdmin.info('replication'), 'master_link_status') === 'up' ? true : undefined,
    );

    const confPath = join(dir, 'sentinel.conf');
    await writeFile(
      confPath,
      [
        `port ${sentinelPort}`,
        `bind ${HOST}`,
        `dir "${dir}"`,
        'sentinel resolve-hostnames no',
        `sentinel monitor ${name} ${HOST} ${masterPort} 1`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    const sentinel = new RedisProcess(`sentinel 127.0.0.1:${sentinelPort}`, [confPath, '--sentinel'], dir);
    procs.push(sentinel);
    await sentinel.waitFor(new RegExp(`\\+monitor master ${name} `), `"+monitor master ${name}"`);
    const sentinelAdmin = adminClient(sentinelPort);
    admins.push(sentinelAdmin);

    const master = async () => {
      const reply = (await sentinelAdmin.call('SENTINEL', 'get-master-addr-by-name', name)) as [string, string] | null;
      if (!reply) throw new Error(`sentinel does not know master group ${name}`);
      return { host: reply[0], port: Number(reply[1]) };
    };

    /** The sentinel's healthy replica of the current master (one it would promote). */
    const goodReplica = async (timeoutMs: number) => {
      const current = await master();
      return until(`a healthy replica of ${current.host}:${current.port} known to the sentinel`, timeoutMs, async () => {
        const replicas = ((await sentinelAdmin.call('SENTINEL', 'replicas', name)) as unknown[]).map(pairs);
        const good = replicas.find(
          (r) => r['flags'] === 'slave' && r['role-reported'] === 'slave' && r['master-link-status'] === 'ok' && r['master-port'] === String(current.port),
        );
        return good ? { host: good['ip']!, port: Number(good['port']) } : undefined;
      });
    };

    await goodReplica(10_000);
    replicaAdmin.disconnect();

    const failover = async () => {
      // Right after a failover the former master is still a master until the sentinel converts
      // it (~10 s) and reports it synced (next INFO, ~10 s more): wait for that (~21 s measured)
      // rather than fail with NOGOODSLAVE or promote a node the sentinel has stale news of.
      const candidate = await goodReplica(40_000);
      const mark = sentinel.mark;
      await sentinelAdmin.call('SENTINEL', 'FAILOVER', name);
      await sentinel.waitFor(
        new RegExp(`\\+switch-master ${name} \\S+ \\d+ ${candidate.host.replace(/\./g, '\\.')} ${candidate.port}\\b`),
        `"+switch-master" to ${candidate.host}:${candidate.port}`,
        10_000,
        mark,
      );
      const now = await master();
      if (now.port !== candidate.port || now.host !== candidate.host) {
        throw new Error(`sentinel reports ${now.host}:${now.port} as master, expected ${candidate.host}:${candidate.port}`);
      }
      const promoted = adminClient(candidate.port);
      try {
        await until(`ROLE master on ${candidate.host}:${candidate.port}`, 5_000, async () => {
          const role = (await promoted.call('ROLE')) as unknown[];
          return role[0] === 'master' ? true : undefined;
        });
      } finally {
        promoted.disconnect();
      }
    };

    return {
      sentinels: [{ host: HOST, port: sentinelPort }],
      name,
      prefix: newPrefix(),
      master,
      failover,
      close,
    };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}
