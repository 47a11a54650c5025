// `npm run bench`: what one proxied API call through oidc-bff costs, next to a bare Node proxy hop.
//
// Everything runs on 127.0.0.1, each server in its own process, started and stopped here: Redis,
// the IdP (bench/servers/idp.ts, JWT access tokens), an upstream that verifies every token against
// the JWKS, two bare hops (node:http, undici) and one BFF per session store the configuration
// accepts. wrk drives the targets in alternating rounds; then login throughput, a refresh storm,
// memory after many requests over many sessions, and a soak. Results: Markdown on stdout, JSON
// (and the same Markdown) in bench/results/. It reports; it never fails because a goal is missed
// or the machine is busy — only when the bench itself cannot run.
//
//   npm run bench                 # default: 3 alternating rounds × 10 s per target after 5 s warm-up,
//                                 # two load shapes (many sessions, wrk -t2 -c50; one session, wrk -t1 -c50)
//                                 # stores: redis, redis with a two-frontend BFF_CONFIG (redis+2fe), cookie,
//                                 # and cookie with Redis configured
//   npm run bench -- --quick      # 1 round × 3 s, small memory/soak sections (development; says so)
//   npm run bench -- --profile    # plus one extra round with the BFF under --cpu-prof, summarised
//
// Knobs (env): BENCH_DURATION, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_THREADS, BENCH_WARMUP, BENCH_ROUND_WARMUP,
// BENCH_STORES (redis,redis+2fe,cookie,cookie+redis; also memory; `<store>[+2fe][@<rev>][%NAME=value…]`), BENCH_MEMORY_STORES (first store; all), BENCH_WRK_SESSIONS, BENCH_SESSIONS, BENCH_MEMORY_REQUESTS,
// BENCH_LOGIN_CONCURRENCY, BENCH_SOAK, BENCH_SOAK_WARMUP, BENCH_STORM, BENCH_STORMS, BENCH_PROFILE,
// BENCH_SHAPES (many,one), BENCH_PROFILE_SHAPE (many | one).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadFrontends } from '../src/config/frontends.js';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { freePort } from '../test/support/free-port.js';
import { UserAgent } from '../test/support/user-agent.js';
import { buildServers, describeRunner, type Runner } from './lib/build.js';
import { clkTck, cpuMicros, cpuSplitMicros, machineCpu, machineLoad, memory, residentByKind, startChild, stopAll, type Child } from './lib/children.js';
import { summarizeAllocationFile, type AllocationSummary } from './lib/allocations.js';
import { BENCH_DIR, ROOT_DIR } from './lib/paths.js';
import { summarizeProfile, type ProfileSummary } from './lib/profile.js';
import { commandDelta, startRedis, type BenchRedis } from './lib/redis.js';
import { roundOrder } from './lib/rounds.js';
import { fmt, fmtInt, median, medianInterval, pct, percentile, SIGN_TEST_MIN_ROUNDS, signTest } from './lib/stats.js';
import {
  revisionOf,
  sessionStore,
  settingsOf,
  slug,
  storeLabel,
  twoFrontends,
  TWO_FRONTENDS,
  withoutRevision,
  withoutSettings,
  withRedis,
} from './lib/targets.js';
import { ensureWrk, killWrk, runWrk, wrkVersion, writeRequests, type RequestVariants, type WrkResult } from './lib/wrk.js';

// ---- settings ------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const num = (name: string, normal: number, quick: number): number => {
  const raw = process.env[name];
  const v = raw ? Number(raw) : QUICK ? quick : normal;
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return v;
};
const S = {
  quick: QUICK,
  durationS: num('BENCH_DURATION', 10, 3),
  rounds: Math.max(1, Math.round(num('BENCH_ROUNDS', 3, 1))),
  connections: Math.max(1, Math.round(num('BENCH_CONNECTIONS', 50, 50))),
  threads: Math.max(1, Math.round(num('BENCH_THREADS', 2, 2))),
  warmupS: num('BENCH_WARMUP', 5, 1),
  /**
   * Unmeasured load on a target right before each of its rounds. With the order alternated, a
   * target's rounds begin from seconds to minutes apart: without it a round that follows a long gap
   * starts with its sessions' cache entries expired (each session's first call reads Redis) and
   * its upstream connections closed, one that follows a short gap does not, and that difference
   * moves with the order instead of with the build.
   */
  roundWarmupS: num('BENCH_ROUND_WARMUP', 1, 0),
  /**
   * Load shapes of the throughput rounds: `many` (BENCH_WRK_SESSIONS sessions, wrk -t2, GET
   * /api/things) and `one` (issue 21's independent shape: one signed-in session on every
   * connection, wrk -t1, GET /api/hello). Each shape has its own bare-hop targets.
   */
  shapes: (process.env['BENCH_SHAPES'] || 'many,one')
    .split(',')
    .map((s) => s.trim())
    .filter((s): s is Shape => s === 'many' || s === 'one'),
  /** The shape the --profile rounds use. */
  profileShape: (process.env['BENCH_PROFILE_SHAPE'] === 'one' ? 'one' : 'many') as Shape,
  /**
   * Session stores to benchmark, each only when loadConfig accepts it: redis, cookie, memory, or
   * cookie+redis (SESSION_STORE=cookie with REDIS_URL set); `+2fe` after a store: the same store
   * behind a two-frontend BFF_CONFIG file (issue 18: choosing the frontend must cost nothing);
   * then `@<git revision>` (revisionOf), then `%NAME=value`, repeatable (settingsOf).
   */
  stores: (process.env['BENCH_STORES'] || 'redis,redis+2fe,cookie,cookie+redis')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    // A malformed or refused `%` setting stops the run here, before anything is built or started.
    .map((s) => {
      settingsOf(s);
      return s;
    }),
  /** Stores that also get the login/memory and soak sections: `all`, or a list (default: the first store, to keep the run short). */
  memoryStores: (process.env['BENCH_MEMORY_STORES'] || '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
  wrkSessions: Math.max(1, Math.round(num('BENCH_WRK_SESSIONS', 100, 20))),
  sessions: Math.max(1, Math.round(num('BENCH_SESSIONS', 10_000, 300))),
  memoryRequests: Math.round(num('BENCH_MEMORY_REQUESTS', 100_000, 10_000)),
  loginConcurrency: Math.max(1, Math.round(num('BENCH_LOGIN_CONCURRENCY', 16, 16))),
  soakS: num('BENCH_SOAK', 60, 10),
  soakWarmupS: num('BENCH_SOAK_WARMUP', 10, 3),
  storm: Math.max(1, Math.round(num('BENCH_STORM', 200, 200))),
  storms: Math.round(num('BENCH_STORMS', 3, 1)),
  profile: argv.includes('--profile') || process.env['BENCH_PROFILE'] === '1',
  /** Heap snapshots of the memory section's processes at each stage, into the logs directory (each stops the process for seconds). */
  heapSnapshots: process.env['BENCH_HEAP_SNAPSHOTS'] === '1',
  /** Sampling allocation profile of the memory section's requests (garbage included), into the logs directory. */
  allocationProfile: process.env['BENCH_ALLOCATION_PROFILE'] === '1' || process.env['BENCH_ALLOCATION_PROFILE'] === 'old',
  profileS: num('BENCH_PROFILE_DURATION', QUICK ? 3 : 10, 3),
};

const CLIENT_ID = 'bench-bff';
const CLIENT_SECRET = randomBytes(24).toString('base64url');
/** The client of the second frontend in the `+2fe` BFFs' BFF_CONFIG: a real frontend of its own at the IdP. */
const SECOND_CLIENT_ID = 'bench-bff-second';
const SECOND_CLIENT_SECRET = randomBytes(24).toString('base64url');
/** Path prefix of that second frontend; the bench's requests go to the first, at the root of the same host. */
const SECOND_PREFIX = '/second';
const DIRECT_CLIENT_ID = 'bench-direct';
const DIRECT_CLIENT_SECRET = randomBytes(24).toString('base64url');
const SESSION_SECRET = randomBytes(32).toString('base64url');
const AUDIENCE = 'urn:oidc-bff:bench-api';
const API_PATH = '/api/things';
/** Path of the one-session shape (issue 21's independent benchmark). */
const ONE_PATH = '/api/hello';
type Shape = 'many' | 'one';
const SHAPE_LABEL: Record<Shape, string> = {
  many: 'many sessions: BENCH_WRK_SESSIONS sessions cycled over the connections, GET /api/things',
  one: 'one session: one signed-in session on every connection, GET /api/hello',
};
/** Machine, commit and date, printed with every table: figures mean nothing without them. */
const COMMIT = (() => {
  try {
    const opts = { cwd: BENCH_DIR, encoding: 'utf8' as const, stdio: ['ignore', 'pipe', 'ignore'] as ['ignore', 'pipe', 'ignore'] };
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], opts).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], opts).trim() !== '';
    return dirty ? `${sha} + uncommitted changes` : sha;
  } catch {
    return 'unknown (no git)';
  }
})();
const STORM_PREFIX = 'storm';
const STORM_TTL_S = 2;

const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

// ---- types of results ----------------------------------------------------------------------

interface Cost {
  /** Completed requests counted by wrk. */
  requests: number;
  /**
   * Requests the proxy served: the larger of wrk's count and the upstream's (requests in flight
   * when wrk stops reach the upstream without being counted by wrk). Per-request figures divide by it.
   */
  served: number;
  seconds: number;
  /** proxyKernel: the part of `proxy` spent in the kernel (system calls). */
  cpuUs: { proxy: number; proxyKernel: number; upstream: number; redis: number; idp: number };
  redisCommands: { total: number; byCommand: Record<string, number> };
  upstream: { valid: number; invalid: number; total: number };
  /** Whole machine during the run: share of CPU time busy, and stolen by the hypervisor. */
  machine: { busy: number; steal: number };
}

type MemoryUsage = { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
/** V8's heap spaces (new_space, old_space, code_space, large_object_space, …): bytes reserved, used and resident. */
type HeapSpaces = Record<string, { size: number; used: number; physical: number }>;
/** One moment of a memory-section process: what /proc and the process itself say. */
interface MemoryStage {
  stage: string;
  rssMb: number;
  peakMb: number;
  memoryUsage?: MemoryUsage;
  heapSpaces?: HeapSpaces;
  /** Resident MB by kind of mapping: file-backed (node, libraries), glibc's [heap], other anonymous memory. */
  resident?: { file: number; brk: number; anon: number };
  /** File of the heap snapshot taken right after (BENCH_HEAP_SNAPSHOTS=1). */
  snapshot?: string;
}

interface RoundResult {
  round: number;
  position: number;
  wrk: WrkResult;
  cost: Cost;
  rssMb: number;
  memoryUsage?: MemoryUsage;
  /** 1-minute load average of the machine at the end of the round. */
  load1: number;
}

interface Target {
  id: string;
  label: string;
  kind: 'bare' | 'bff';
  shape: Shape;
  threads: number;
  store?: string;
  /** Current process of the target (a BFF may be restarted between sections). */
  child: Child;
  url: string;
  requestsFile: string;
  rounds: RoundResult[];
  warmup?: WrkResult;
}

interface TargetSummary {
  id: string;
  label: string;
  shape: Shape;
  store: string | undefined;
  /** CPU µs/request ÷ the bare node:http hop's, per round (same round index) — the headline figure. */
  cpuRatioRounds: number[];
  cpuRatio: number;
  /** req/s ÷ the bare node:http hop's, per round. */
  rpsRatioRounds: number[];
  cpuUsRounds: number[];
  /** Where in each round's order the target ran (0 = first). */
  positionRounds: number[];
  p99Rounds: number[];
  load1Rounds: number[];
  rpsMedian: number;
  rpsRounds: number[];
  ratioHttp: number;
  ratioUndici: number;
  p50Ms: number;
  p99Ms: number;
  p99Ratio: number;
  requests: number;
  errors: number;
  validShare: number;
  cpuUsPerReq: number;
  /** The part of cpuUsPerReq spent in the kernel. */
  kernelUsPerReq: number;
  upstreamCpuUsPerReq: number;
  redisCpuUsPerReq: number;
  redisCmdsPerReq: number;
  redisByCommand: Record<string, number>;
  rssMb: number;
  /** Session cookies the BFF re-issued during the rounds (wrk applied them, as a browser would). */
  cookiesReissued: number;
  cookiesUnmatched: number;
}

interface LoginResult {
  store: string;
  logins: number;
  ok: number;
  errors: number;
  firstError?: string;
  concurrency: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  bffCpuUsPerLogin: number;
  idpCpuUsPerLogin: number;
  driverCpuUsPerLogin: number;
}
interface StormResult {
  store: string;
  storm: number;
  calls: number;
  ok200: number;
  errors: number;
  statuses: Record<string, number>;
  refreshes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  upstreamValid: number;
}
interface MemoryResult {
  store: string;
  sessions: number;
  requests: number;
  rps: number;
  errors: number;
  validShare: number;
  rssMb: number;
  peakMb: number;
  redisKeys: number;
  cpuUsPerReq: number;
  memoryUsage?: MemoryUsage;
  /** The process idle right after start, after the logins, after the requests. */
  stages: MemoryStage[];
  /**
   * A fresh bare node:http hop given the same number of requests, measured the same way right
   * after them: the like-for-like baseline of the memory goal (no logins: it has no sessions).
   */
  bare?: BareMemory;
  /** BENCH_ALLOCATION_PROFILE: bytes allocated per request during the requests, and where. */
  allocations?: AllocationSummary;
}
interface BareMemory {
  requests: number;
  stages: MemoryStage[];
  allocations?: AllocationSummary;
}
interface SoakResult {
  store: string;
  seconds: number;
  requests: number;
  rps: number;
  errors: number;
  warmupRssMb: number;
  endRssMb: number;
  maxRssMb: number;
  ratio: number;
  samples: Array<{ t: number; rssMb: number }>;
}
interface Skipped {
  store: string;
  reason: string;
}
interface ProfileRun {
  label: string;
  wrk: WrkResult;
  cpuUsPerReq: number;
  summary: ProfileSummary;
}

// ---- main ----------------------------------------------------------------------------------

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const resultsDir = join(BENCH_DIR, 'results');
const logDir = join(resultsDir, `${stamp}-logs`);
mkdirSync(logDir, { recursive: true });
const tmp = mkdtempSync(join(os.tmpdir(), 'oidc-bff-bench-'));

let redis: BenchRedis | undefined;
let runner: Runner = { mode: 'tsx', reason: 'not built yet' };
/** Servers built from other git revisions (`<store>@<rev>`), one build each. */
const revisionRunners = new Map<string, Promise<Runner>>();
let cleaning: Promise<void> | undefined;
let interrupted = false;
const cleanup = () => {
  cleaning ??= (async () => {
    killWrk();
    await stopAll();
    await redis?.close().catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
};
process.once('SIGINT', () => {
  interrupted = true;
  log('SIGINT: stopping every child …');
  void cleanup().finally(() => process.exit(130));
});
process.once('SIGTERM', () => {
  interrupted = true;
  void cleanup().finally(() => process.exit(143));
});

try {
  await main();
} catch (err) {
  if (!interrupted) {
    log(`failed: ${(err as Error)?.stack ?? String(err)}`);
    process.exitCode = 1;
  }
} finally {
  await cleanup();
}

async function main(): Promise<void> {
  const started = Date.now();
  const wrk = ensureWrk(log);
  log(`settings: ${JSON.stringify(S)}`);
  log(`logs of the servers: ${logDir}`);

  runner = await buildServers(tmp);
  log(`servers run as ${describeRunner(runner)}`);
  redis = await startRedis();
  const r = redis;

  // The BFF ports must be known before the IdP starts: they are in its redirect_uris.
  const bffPorts = new Map<string, number>();
  for (const store of S.stores) bffPorts.set(store, await freePort());
  const redirectUris = [...bffPorts.values()].map((p) => `http://127.0.0.1:${p}/callback`);
  const secondRedirectUris = [...bffPorts].filter(([store]) => twoFrontends(store)).map(([, p]) => `http://127.0.0.1:${p}${SECOND_PREFIX}/callback`);

  const idp = await startChild('idp', 'idp', {
    runner,
    logDir,
    env: {
      BENCH_IDP_REDIRECT_URIS: redirectUris.join(','),
      BENCH_CLIENT_ID: CLIENT_ID,
      BENCH_CLIENT_SECRET: CLIENT_SECRET,
      BENCH_DIRECT_CLIENT_ID: DIRECT_CLIENT_ID,
      BENCH_DIRECT_CLIENT_SECRET: DIRECT_CLIENT_SECRET,
      ...(secondRedirectUris.length
        ? {
            BENCH_SECOND_CLIENT_ID: SECOND_CLIENT_ID,
            BENCH_SECOND_CLIENT_SECRET: SECOND_CLIENT_SECRET,
            BENCH_SECOND_REDIRECT_URIS: secondRedirectUris.join(','),
          }
        : {}),
      BENCH_AUDIENCE: AUDIENCE,
      BENCH_STORM_PREFIX: STORM_PREFIX,
      BENCH_STORM_TTL: String(STORM_TTL_S),
    },
  });
  const issuer = String(idp.info['issuer']);
  const upstream = await startChild('upstream', 'upstream', { runner, logDir, env: { BENCH_ISSUER: issuer, BENCH_AUDIENCE: AUDIENCE } });
  const upstreamOrigin = `http://127.0.0.1:${upstream.port}`;
  const hopEnv = { BENCH_UPSTREAM: upstreamOrigin, BENCH_FROM: '/api', BENCH_TO: '/v1' };
  const hopHttp = await startChild('bare-hop-http', 'bare-hop-http', { runner, logDir, env: hopEnv });
  const hopUndici = await startChild('bare-hop-undici', 'bare-hop-undici', { runner, logDir, env: hopEnv });

  // One BFF per store that the configuration accepts today.
  const skipped: Skipped[] = [];
  const bffEnvs = new Map<string, Record<string, string>>();
  for (const store of S.stores) {
    const env = bffEnv(store, bffPorts.get(store)!, issuer, upstreamOrigin, r.url);
    try {
      const config = loadConfig(env, () => randomBytes(32).toString('base64url'));
      if (config.frontendsFile) loadFrontends(config);
      bffEnvs.set(store, env);
    } catch (err) {
      const reason = err instanceof ConfigError ? err.problems.join('; ') : String(err);
      skipped.push({ store, reason });
      log(`store ${store}: skipped (${reason})`);
    }
  }
  const bffs = new Map<string, Child>();
  for (const [store, env] of bffEnvs) bffs.set(store, await startBff(store, env));

  // The bare hops' load generator sends a real access token (client_credentials, same JWT format).
  const directToken = await clientCredentialsToken(issuer);
  await expectOk(`${upstreamOrigin}/v1/check`, { authorization: `Bearer ${directToken}` }, 'upstream with the client_credentials token');

  const targets: Target[] = [];
  for (const shape of S.shapes) {
    targets.push(
      bareTarget('bare-http', 'bare hop (node:http)', hopHttp, directToken, shape),
      bareTarget('bare-undici', 'bare hop (undici)', hopUndici, directToken, shape),
    );
  }
  // The Cookie header a logged-in browser sends (issue: one cookie under 4 KB for a typical session).
  const cookieHeaders: Array<{ store: string; medianBytes: number; maxBytes: number; cookies: number }> = [];
  for (const [store, child] of bffs) {
    const url = `http://127.0.0.1:${child.port}`;
    log(`bff ${store}: logging in ${S.wrkSessions} sessions for the throughput rounds …`);
    const logins = await loginMany(url, S.wrkSessions, S.loginConcurrency, (i) => `user${i}`);
    if (logins.cookies.length === 0) throw new Error(`no login succeeded at the ${store} BFF: ${logins.firstError}`);
    const sizes = logins.cookies.map((c) => Buffer.byteLength(c)).sort((x, y) => x - y);
    cookieHeaders.push({ store, medianBytes: sizes[sizes.length >> 1]!, maxBytes: sizes.at(-1)!, cookies: logins.cookies[0]!.split(';').length });
    const file = writeRequests(
      join(tmp, `bff-${slug(store)}.txt`),
      logins.cookies.map((c) => ({ cookie: c, 'x-csrf': '1' })),
    );
    await expectOk(`${url}${API_PATH}`, { cookie: logins.cookies[0]!, 'x-csrf': '1' }, `BFF (${store}) /api`);
    if (twoFrontends(store)) {
      // The other frontend is real: its own client at the IdP, its own sessions, its own routes.
      const second = await loginMany(`${url}${SECOND_PREFIX}`, 1, 1, () => 'second0');
      if (!second.cookies[0]) throw new Error(`no login succeeded at the second frontend of the ${store} BFF: ${second.firstError}`);
      await expectOk(`${url}${SECOND_PREFIX}${API_PATH}`, { cookie: second.cookies[0], 'x-csrf': '1' }, `BFF (${store}) second frontend ${SECOND_PREFIX}/api`);
    }
    if (S.shapes.includes('many'))
      targets.push({
        id: `bff-${store}`,
        label: storeLabel(store),
        kind: 'bff',
        shape: 'many',
        threads: S.threads,
        store,
        child,
        url: `${url}${API_PATH}`,
        requestsFile: file,
        rounds: [],
      });
    if (S.shapes.includes('one')) {
      // Issue 21's independent shape: the first session's cookie on all connections.
      const one = writeRequests(join(tmp, `bff-${slug(store)}-one.txt`), [{ cookie: logins.cookies[0]!, 'x-csrf': '1' }]);
      targets.push({
        id: `one:bff-${store}`,
        label: storeLabel(store),
        kind: 'bff',
        shape: 'one',
        threads: 1,
        store,
        child,
        url: `${url}${ONE_PATH}`,
        requestsFile: one,
        rounds: [],
      });
    }
  }

  const cost = costMeter(upstream, idp, r);

  // ---- throughput rounds ----
  log(`warm-up: ${S.warmupS} s per target`);
  for (const t of targets) {
    if (S.warmupS > 0)
      t.warmup = await runWrk({ wrk, url: t.url, requestsFile: t.requestsFile, threads: t.threads, connections: S.connections, durationS: S.warmupS });
  }
  for (let round = 0; round < S.rounds; round++) {
    const order = roundOrder(targets, round);
    for (const [position, t] of order.entries()) {
      if (S.roundWarmupS > 0)
        await runWrk({ wrk, url: t.url, requestsFile: t.requestsFile, threads: t.threads, connections: S.connections, durationS: S.roundWarmupS });
      await sleep(500);
      const m = await cost.measure(t.child, () =>
        runWrk({ wrk, url: t.url, requestsFile: t.requestsFile, threads: t.threads, connections: S.connections, durationS: S.durationS }),
      );
      const memoryUsage = await t.child.query<MemoryUsage>('memory').catch(() => undefined);
      t.rounds.push({
        round,
        position,
        wrk: m.result,
        cost: m.cost,
        rssMb: memory(t.child.pid).rssMb,
        load1: os.loadavg()[0]!,
        ...(memoryUsage ? { memoryUsage } : {}),
      });
      log(
        `round ${round + 1}/${S.rounds} [${t.shape}] ${t.label}: ${fmtInt(m.result.rps)} req/s, p99 ${fmt(m.result.latencyMs.p99, 2)} ms, errors ${m.result.errors.total}, ` +
          `CPU ${fmt(m.cost.cpuUs.proxy / Math.max(1, m.cost.served))} µs/req (kernel ${fmt(m.cost.cpuUs.proxyKernel / Math.max(1, m.cost.served))}); machine busy ${pct(m.cost.machine.busy, 0)}, steal ${pct(m.cost.machine.steal, 1)}, load ${fmt(os.loadavg()[0]!, 2)}`,
      );
    }
  }
  const summaries = S.shapes.flatMap((shape) => summarize(targets.filter((t) => t.shape === shape)));

  // ---- refresh storm ----
  const storms: StormResult[] = [];
  for (const [store, child] of bffs) storms.push(...(await refreshStorms(store, child, idp, upstream)));

  // ---- memory after many requests over many sessions (fresh BFF process), with login throughput ----
  const logins: LoginResult[] = [];
  const memories: MemoryResult[] = [];
  const soaks: SoakResult[] = [];
  const memoryStores = S.memoryStores.includes('all') ? [...bffEnvs.keys()] : S.memoryStores.length ? S.memoryStores : [...bffEnvs.keys()].slice(0, 1);
  // The like-for-like baseline: a fresh bare node:http hop, the same number of requests (bearer
  // token, same connections and threads), measured the same way right after them.
  const bareMemory = memoryStores.some((s) => bffEnvs.has(s)) ? await bareHopMemory(wrk, hopEnv, directToken, upstream) : undefined;
  for (const [store, env] of bffEnvs) {
    if (!memoryStores.includes(store)) continue;
    const old = bffs.get(store)!;
    await old.stop();
    const child = await startBff(store, env);
    bffs.set(store, child);
    retarget(targets, store, child);
    const url = `http://127.0.0.1:${child.port}`;
    const stages = [await memoryStage(child, 'idle after start')];

    log(`bff ${store}: fresh process; ${S.sessions} full logins through the IdP, ${S.loginConcurrency} at a time …`);
    const before = { bff: cpuMicros(child.pid), idp: cpuMicros(idp.pid), driver: driverCpu() };
    const t0 = performance.now();
    const many = await loginMany(url, S.sessions, S.loginConcurrency, (i) => `member${i}`, true);
    const seconds = (performance.now() - t0) / 1000;
    const n = Math.max(1, many.cookies.length);
    const loginResult: LoginResult = {
      store,
      logins: S.sessions,
      ok: many.cookies.length,
      errors: many.errors,
      concurrency: S.loginConcurrency,
      seconds,
      perSecond: many.cookies.length / seconds,
      p50Ms: percentile(many.latencies, 50),
      p99Ms: percentile(many.latencies, 99),
      bffCpuUsPerLogin: (cpuMicros(child.pid) - before.bff) / n,
      idpCpuUsPerLogin: (cpuMicros(idp.pid) - before.idp) / n,
      driverCpuUsPerLogin: (driverCpu() - before.driver) / n,
      ...(many.firstError ? { firstError: many.firstError } : {}),
    };
    logins.push(loginResult);
    log(`bff ${store}: ${fmt(loginResult.perSecond, 1)} logins/s, p99 ${fmt(loginResult.p99Ms)} ms, errors ${many.errors}`);
    if (many.cookies.length === 0) throw new Error(`no login succeeded: ${many.firstError}`);
    stages.push(await memoryStage(child, `after ${fmtInt(many.cookies.length)} logins`));

    const file = writeRequests(
      join(tmp, `bff-${slug(store)}-many.txt`),
      many.cookies.map((c) => ({ cookie: c, 'x-csrf': '1' })),
    );
    const upBefore = await upstream.query<{ total: number }>('stats');
    log(`bff ${store}: ${fmtInt(S.memoryRequests)} requests over ${fmtInt(many.cookies.length)} sessions …`);
    if (S.allocationProfile) await child.query('allocationsStart', process.env['BENCH_ALLOCATION_PROFILE']);
    const mem = await cost.measure(child, () =>
      runWrk({
        wrk,
        url: `${url}${API_PATH}`,
        requestsFile: file,
        threads: S.threads,
        connections: S.connections,
        durationS: Math.max(30, Math.ceil(S.memoryRequests / 200)),
        stopWhen: async () => (await upstream.query<{ total: number }>('stats')).total - upBefore.total >= S.memoryRequests,
      }),
    );
    const allocations = S.allocationProfile ? await allocationsOf(child, `bff-${slug(store)}`, mem.result.requests) : undefined;
    const m = memory(child.pid);
    const memoryUsage = await child.query<MemoryUsage>('memory').catch(() => undefined);
    stages.push(await memoryStage(child, `after ${fmtInt(mem.result.requests)} requests`));
    memories.push({
      stages,
      ...(bareMemory ? { bare: bareMemory } : {}),
      ...(memoryUsage ? { memoryUsage } : {}),
      store,
      sessions: many.cookies.length,
      requests: mem.result.requests,
      rps: mem.result.rps,
      errors: mem.result.errors.total,
      validShare: validShare(mem.cost),
      rssMb: m.rssMb,
      peakMb: m.peakMb,
      redisKeys: await r.dbsize(),
      cpuUsPerReq: mem.cost.cpuUs.proxy / Math.max(1, mem.cost.served),
      ...(allocations ? { allocations } : {}),
    });
    log(`bff ${store}: RSS ${fmt(m.rssMb, 1)} MB after ${fmtInt(mem.result.requests)} requests (peak ${fmt(m.peakMb, 1)} MB)`);

    // ---- soak on the same process ----
    if (S.soakS > 0) {
      log(`bff ${store}: soak ${S.soakS} s …`);
      soaks.push(await soak(wrk, store, child, `${url}${API_PATH}`, file));
    }
  }

  // ---- optional CPU profiles: every BFF and, for comparison, both bare hops ----
  const profiles: ProfileRun[] = [];
  if (S.profile) {
    for (const [store, env] of bffEnvs) {
      const t = targets.find((x) => x.store === store && x.shape === S.profileShape) ?? targets.find((x) => x.store === store)!;
      await bffs.get(store)!.stop();
      const run = await profileRun(wrk, t.label, t.requestsFile, upstream, cost, async (nodeArgs) => {
        const child = await startBff(store, env, nodeArgs);
        bffs.set(store, child);
        return child;
      });
      if (run) profiles.push(run);
    }
    for (const [id, script] of [
      ['bare-http', 'bare-hop-http'],
      ['bare-undici', 'bare-hop-undici'],
    ] as const) {
      const t = targets.find((x) => x.id === (S.profileShape === 'one' ? `one:${id}` : id)) ?? targets.find((x) => x.id === id)!;
      const run = await profileRun(wrk, t.label, t.requestsFile, upstream, cost, (nodeArgs) =>
        startChild(`${script}-profiled`, script, { runner, logDir, env: hopEnv, nodeArgs }),
      );
      if (run) profiles.push(run);
    }
  }

  // ---- report ----
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '?',
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    wrk: wrkVersion(wrk),
    redis: r.version,
    clkTck: clkTck(),
    servers: describeRunner(runner),
    loadavg: os.loadavg(),
  };
  const report = {
    date: new Date().toISOString(),
    elapsedS: Math.round((Date.now() - started) / 1000),
    settings: S,
    machine,
    skipped,
    throughput: summaries,
    cookieHeaders,
    rounds: Object.fromEntries(targets.map((t) => [t.id, { label: t.label, warmup: t.warmup, rounds: t.rounds }])),
    logins,
    storms,
    memory: memories,
    soak: soaks,
    profiles,
    roundLoads: targets.flatMap((t) => t.rounds.map((x) => x.cost.machine)),
  };
  const goals = evaluateGoals(summaries, memories, soaks, storms, skipped);
  const md = markdown(report, goals);
  writeFileSync(join(resultsDir, `${stamp}.json`), JSON.stringify({ ...report, goals }, null, 2));
  writeFileSync(join(resultsDir, `${stamp}.md`), md);
  process.stdout.write(md);
  log(`results: bench/results/${stamp}.json (and .md); server logs: bench/results/${stamp}-logs/`);
}

// ---- pieces --------------------------------------------------------------------------------

/**
 * The two-frontend file: `bench` at the root of the BFF's origin (the bench's requests), and
 * `second` under SECOND_PREFIX on the same host with its own client. `second` comes first, so
 * the bench's frontend is not simply the first entry looked at.
 */
function writeFrontendsFile(store: string, origin: string, issuer: string): string {
  const file = join(tmp, `frontends-${slug(store)}.json`);
  const document = {
    providers: {
      bench: { issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      second: { issuer, clientId: SECOND_CLIENT_ID, clientSecret: SECOND_CLIENT_SECRET },
    },
    frontends: {
      second: { publicUrl: origin, match: { pathPrefix: SECOND_PREFIX }, provider: 'second' },
      bench: { publicUrl: origin, provider: 'bench' },
    },
  };
  writeFileSync(file, JSON.stringify(document, null, 2));
  return file;
}

function bffEnv(store: string, port: number, issuer: string, upstreamOrigin: string, redisUrl: string): Record<string, string> {
  return {
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    HOST: '127.0.0.1',
    PORT: String(port),
    ADMIN_PORT: '0',
    OIDC_ISSUER: issuer,
    OIDC_CLIENT_ID: CLIENT_ID,
    OIDC_CLIENT_SECRET: CLIENT_SECRET,
    OIDC_ALLOW_HTTP: 'true',
    // `api` is the resource server's scope: without it the JWT access token would carry none.
    OIDC_SCOPES: 'openid profile email offline_access api',
    API_UPSTREAM: `${upstreamOrigin}/v1`,
    SESSION_STORE: sessionStore(store),
    SESSION_SECRETS: SESSION_SECRET,
    ...(twoFrontends(store) ? { BFF_CONFIG: writeFrontendsFile(store, `http://127.0.0.1:${port}`, issuer) } : {}),
    ...(withRedis(store) ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `bench-${slug(store)}:` } : {}),
    LOG_LEVEL: 'warn',
    // Every bench login comes from 127.0.0.1: the per-address limit on /login and /callback
    // (300 a minute by default) would stop the 10 000 logins of the memory section.
    RATE_LIMIT_PER_MINUTE: '0',
    // …and so would the cap on pending logins per address (100 per 10 minutes by default): with
    // it, all but the first ~100 of those logins were refused and the memory section measured
    // ~100 sessions instead of 10 000.
    LOGIN_MAX_PENDING_PER_CLIENT: '0',
    // BENCH_BFF_ENV: extra settings for the BFF processes, e.g. SESSION_CACHE_MAX_STALE=0 to compare.
    ...Object.fromEntries(
      (process.env['BENCH_BFF_ENV'] ?? '')
        .split(/\s+/)
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    ),
    // `%NAME=value` in the target's name: this target only, over BENCH_BFF_ENV (settingsOf).
    ...Object.fromEntries(settingsOf(store)),
  };
}

async function startBff(store: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<Child> {
  // BENCH_BFF_NODE_ARGS: extra node flags for the BFF processes (e.g. V8 heap sizing), to try them out.
  const extra = (process.env['BENCH_BFF_NODE_ARGS'] ?? '').split(/\s+/).filter(Boolean);
  const rev = revisionOf(store);
  const child = await startChild(`bff-${slug(store)}`, 'bff', {
    runner: rev ? await revisionRunner(rev) : runner,
    logDir,
    env,
    nodeArgs: [...extra, ...nodeArgs],
  });
  const url = `http://127.0.0.1:${child.port}/readyz`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await fetch(url).then(
      (res) => res.status,
      () => 0,
    );
    if (status === 200) return child;
    if (Date.now() > deadline) throw new Error(`bff-${store} never became ready (/readyz ${status}); see ${child.logFile}`);
    await sleep(100);
  }
}

/** The servers as they were at git revision `rev`, built once per run (see revisionOf). */
function revisionRunner(rev: string): Promise<Runner> {
  let built = revisionRunners.get(rev);
  if (!built) {
    // Named by the commit the revision resolves to: `main~2` and `main^2` must not share a directory.
    const commit = execFileSync('git', ['-C', ROOT_DIR, 'rev-parse', '--verify', `${rev}^{commit}`], { encoding: 'utf8' }).trim();
    const root = join(tmp, `rev-${commit}`);
    mkdirSync(root, { recursive: true });
    execFileSync('sh', ['-c', `git -C "$ROOT" archive "$REV" src dev views bench/servers tsconfig.json | tar -x -C "$OUT"`], {
      env: { ...process.env, ROOT: ROOT_DIR, REV: commit, OUT: root },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    built = buildServers(root, root).then((r) => {
      if (r.mode !== 'js') throw new Error(`the servers at ${rev} did not build: ${r.reason}`);
      return r;
    });
    revisionRunners.set(rev, built);
  }
  return built;
}

function retarget(targets: Target[], store: string, child: Child): void {
  for (const t of targets.filter((x) => x.store === store)) {
    t.child = child;
    t.url = `http://127.0.0.1:${child.port}${t.shape === 'one' ? ONE_PATH : API_PATH}`;
  }
}

/** RSS, V8's own figures and (BENCH_HEAP_SNAPSHOTS=1) a heap snapshot of `child` now. */
async function memoryStage(child: Child, stage: string): Promise<MemoryStage> {
  const m = memory(child.pid);
  const resident = residentByKind(child.pid);
  const memoryUsage = await child.query<MemoryUsage>('memory').catch(() => undefined);
  const heapSpaces = await child.query<HeapSpaces>('heapSpaces').catch(() => undefined);
  const out: MemoryStage = {
    stage,
    rssMb: m.rssMb,
    peakMb: m.peakMb,
    resident,
    ...(memoryUsage ? { memoryUsage } : {}),
    ...(heapSpaces ? { heapSpaces } : {}),
  };
  if (S.heapSnapshots) {
    const file = join(logDir, `${child.name}-${stage.replace(/[^a-z0-9]+/gi, '-')}.heapsnapshot`);
    const written = await child.query<string>('heapSnapshot', file).catch(() => undefined);
    if (written) out.snapshot = written;
  }
  log(
    `${child.name} ${stage}: RSS ${fmt(m.rssMb, 1)} MB (peak ${fmt(m.peakMb, 1)}; file ${fmt(resident.file, 1)}, [heap] ${fmt(resident.brk, 1)}, anon ${fmt(resident.anon, 1)})` +
      (memoryUsage
        ? `, heap ${fmt(memoryUsage.heapUsed / 2 ** 20, 1)} / ${fmt(memoryUsage.heapTotal / 2 ** 20, 1)} MB, external ${fmt(memoryUsage.external / 2 ** 20, 1)} MB`
        : ''),
  );
  return out;
}

/**
 * BENCH_ALLOCATION_PROFILE: bytes allocated per request in the memory stage (garbage included), each
 * BFF against the fresh bare hop of the same stage, and the sites that allocate most.
 */
function allocationTables(memories: MemoryResult[], out: string[], row: (cells: Array<string | number>) => void): void {
  const bare = memories.find((x) => x.bare?.allocations)?.bare?.allocations;
  const profiled = memories.filter((x) => x.allocations);
  if (profiled.length === 0) return;
  out.push(
    'Allocated per request in the requests above (V8 sampling heap profile, every 32 KB: V8-heap bytes, garbage included, not Buffer contents; KB = 1 024 bytes; each site is the nearest frame outside Node core up the stack, in the compiled build):',
    '',
  );
  row(['process', 'requests', 'KB allocated per request', '× bare hop', 'largest sites (bytes per request)']);
  row(Array(5).fill('---'));
  const sites = (a: AllocationSummary) =>
    a.top
      .slice(0, 8)
      .map((t) => `${t.site} ${fmtInt(t.bytesPerRequest)}`)
      .join('; ');
  const kb = (a: AllocationSummary) => fmt(a.bytesPerRequest / 1024, 1);
  if (bare) row(['bare hop (node:http), fresh', fmtInt(bare.requests), kb(bare), '1.00', sites(bare)]);
  for (const x of profiled) {
    const a = x.allocations!;
    row([`oidc-bff, ${x.store}`, fmtInt(a.requests), kb(a), bare ? fmt(a.bytesPerRequest / bare.bytesPerRequest, 2) : 'n/a', sites(a)]);
  }
  out.push('');
}

/** Stops the child's sampling heap profile, keeps it in the logs directory and sums it per request. */
async function allocationsOf(child: Child, name: string, requests: number): Promise<AllocationSummary> {
  const file = await child.query<string>('allocationsStop', join(logDir, `${name}-requests.heapprofile`));
  const summary = summarizeAllocationFile(file, requests);
  log(`${name}: ${fmt(summary.bytesPerRequest / 1024, 1)} KB allocated per request (profile: ${file})`);
  return summary;
}

async function bareHopMemory(wrk: string, hopEnv: Record<string, string>, token: string, upstream: Child): Promise<BareMemory> {
  const child = await startChild('bare-hop-http-memory', 'bare-hop-http', { runner, logDir, env: hopEnv });
  try {
    const stages = [await memoryStage(child, 'idle after start')];
    const file = writeRequests(join(tmp, 'bare-http-memory.txt'), [{ authorization: `Bearer ${token}` }]);
    const upBefore = await upstream.query<{ total: number }>('stats');
    log(`bare hop (node:http), fresh process: ${fmtInt(S.memoryRequests)} requests …`);
    if (S.allocationProfile) await child.query('allocationsStart', process.env['BENCH_ALLOCATION_PROFILE']);
    const result = await runWrk({
      wrk,
      url: `http://127.0.0.1:${child.port}${API_PATH}`,
      requestsFile: file,
      threads: S.threads,
      connections: S.connections,
      durationS: Math.max(30, Math.ceil(S.memoryRequests / 200)),
      stopWhen: async () => (await upstream.query<{ total: number }>('stats')).total - upBefore.total >= S.memoryRequests,
    });
    const allocations = S.allocationProfile ? await allocationsOf(child, 'bare-hop-http', result.requests) : undefined;
    stages.push(await memoryStage(child, `after ${fmtInt(result.requests)} requests`));
    return { requests: result.requests, stages, ...(allocations ? { allocations } : {}) };
  } finally {
    await child.stop();
  }
}

function bareTarget(id: string, label: string, child: Child, token: string, shape: Shape): Target {
  const variants: RequestVariants = [{ authorization: `Bearer ${token}` }];
  return {
    id: shape === 'one' ? `one:${id}` : id,
    label,
    kind: 'bare',
    shape,
    threads: shape === 'one' ? 1 : S.threads,
    child,
    url: `http://127.0.0.1:${child.port}${shape === 'one' ? ONE_PATH : API_PATH}`,
    requestsFile: writeRequests(join(tmp, `${id}-${shape}.txt`), variants),
    rounds: [],
  };
}

async function clientCredentialsToken(issuer: string): Promise<string> {
  const meta = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${DIRECT_CLIENT_ID}:${DIRECT_CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'api' }).toString(),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!res.ok || !body.access_token) throw new Error(`client_credentials at the IdP failed: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

async function expectOk(url: string, headers: Record<string, string>, what: string): Promise<void> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  if (res.status !== 200 || !text.includes('"ok":true')) throw new Error(`${what}: expected 200 with a valid token, got ${res.status} ${text.slice(0, 300)}`);
}

/** n full logins (fresh browser each: IdP login + consent + callback), `concurrency` at a time. */
async function loginMany(bffUrl: string, n: number, concurrency: number, user: (i: number) => string, progress = false) {
  const cookies: string[] = [];
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  let lastReport = Date.now();
  const host = new URL(bffUrl).host;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const ua = new UserAgent();
      const t0 = performance.now();
      try {
        const { callback } = await ua.login(`${bffUrl}/login?login_hint=${encodeURIComponent(user(i))}`, { stopAtOrigin: new URL(bffUrl).origin });
        if (callback.status !== 302) throw new Error(`callback answered ${callback.status}: ${callback.text.slice(0, 200)}`);
        const cookie = ua.cookieHeader(host);
        if (!cookie) throw new Error('no cookie after the callback');
        latencies.push(performance.now() - t0);
        cookies.push(cookie);
      } catch (err) {
        errors++;
        firstError ??= String((err as Error)?.message ?? err);
      }
      if (progress && Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        log(`  … ${cookies.length + errors}/${n} logins`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { cookies, latencies, errors, firstError };
}

function driverCpu(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU of each process, Redis commands and the upstream's verdicts around one load run. */
function costMeter(upstream: Child, idp: Child, r: BenchRedis) {
  const snap = async (proxy: Child) => ({
    t: performance.now(),
    machine: machineCpu(),
    proxy: cpuSplitMicros(proxy.pid),
    upstream: cpuMicros(upstream.pid),
    redis: cpuMicros(r.pid),
    idp: cpuMicros(idp.pid),
    calls: await r.commandCalls(),
    up: await upstream.query<{ valid: number; invalid: number; total: number }>('stats'),
  });
  return {
    async measure(proxy: Child, run: () => Promise<WrkResult>): Promise<{ result: WrkResult; cost: Cost }> {
      const a = await snap(proxy);
      const result = await run();
      await sleep(200); // let in-flight requests finish before the second snapshot
      const b = await snap(proxy);
      return {
        result,
        cost: {
          requests: result.requests,
          served: Math.max(result.requests, b.up.total - a.up.total),
          seconds: (b.t - a.t) / 1000,
          cpuUs: {
            proxy: b.proxy.user + b.proxy.kernel - a.proxy.user - a.proxy.kernel,
            proxyKernel: b.proxy.kernel - a.proxy.kernel,
            upstream: b.upstream - a.upstream,
            redis: b.redis - a.redis,
            idp: b.idp - a.idp,
          },
          redisCommands: commandDelta(a.calls, b.calls),
          upstream: { valid: b.up.valid - a.up.valid, invalid: b.up.invalid - a.up.invalid, total: b.up.total - a.up.total },
          machine: machineLoad(a.machine, b.machine),
        },
      };
    },
  };
}

/** Share of the requests served that the upstream answered 200 with a valid token. */
function validShare(c: Cost): number {
  return c.served > 0 ? c.upstream.valid / c.served : NaN;
}

/** One shape's targets; ratios are to that shape's bare hops, round by round. */
function summarize(targets: Target[]): TargetSummary[] {
  const base = (id: string) => targets.find((t) => t.id === id || t.id === `one:${id}`);
  const cpuOfRound = (x: RoundResult) => x.cost.cpuUs.proxy / Math.max(1, x.cost.served);
  const bareRounds = base('bare-http')?.rounds ?? [];
  const medRps = (t: Target | undefined) => (t ? median(t.rounds.map((x) => x.wrk.rps)) : NaN);
  const medP99 = (t: Target | undefined) => (t ? median(t.rounds.map((x) => x.wrk.latencyMs.p99)) : NaN);
  const httpRps = medRps(base('bare-http'));
  const undiciRps = medRps(base('bare-undici'));
  const httpP99 = medP99(base('bare-http'));
  return targets.map((t) => {
    const requests = t.rounds.reduce((s, x) => s + x.wrk.requests, 0);
    const sum = (f: (c: Cost) => number) => t.rounds.reduce((s, x) => s + f(x.cost), 0);
    const byCommand: Record<string, number> = {};
    for (const x of t.rounds) for (const [k, v] of Object.entries(x.cost.redisCommands.byCommand)) byCommand[k] = (byCommand[k] ?? 0) + v;
    const rps = medRps(t);
    const p99 = medP99(t);
    const served = Math.max(
      1,
      sum((c) => c.served),
    );
    const cpuRatioRounds = t.rounds.map((x, i) => (bareRounds[i] ? cpuOfRound(x) / cpuOfRound(bareRounds[i]) : NaN));
    return {
      id: t.id,
      label: t.label,
      shape: t.shape,
      store: t.store,
      cpuRatioRounds,
      cpuRatio: median(cpuRatioRounds),
      rpsRatioRounds: t.rounds.map((x, i) => (bareRounds[i] ? x.wrk.rps / bareRounds[i].wrk.rps : NaN)),
      cpuUsRounds: t.rounds.map(cpuOfRound),
      positionRounds: t.rounds.map((x) => x.position),
      p99Rounds: t.rounds.map((x) => x.wrk.latencyMs.p99),
      load1Rounds: t.rounds.map((x) => x.load1),
      rpsMedian: rps,
      rpsRounds: t.rounds.map((x) => x.wrk.rps),
      ratioHttp: rps / httpRps,
      ratioUndici: rps / undiciRps,
      p50Ms: median(t.rounds.map((x) => x.wrk.latencyMs.p50)),
      p99Ms: p99,
      p99Ratio: p99 / httpP99,
      requests,
      errors: t.rounds.reduce((s, x) => s + x.wrk.errors.total, 0),
      validShare: sum((c) => c.upstream.valid) / served,
      cpuUsPerReq: sum((c) => c.cpuUs.proxy) / served,
      kernelUsPerReq: sum((c) => c.cpuUs.proxyKernel) / served,
      upstreamCpuUsPerReq: sum((c) => c.cpuUs.upstream) / served,
      redisCpuUsPerReq: sum((c) => c.cpuUs.redis) / served,
      redisCmdsPerReq: sum((c) => c.redisCommands.total) / served,
      redisByCommand: Object.fromEntries(Object.entries(byCommand).map(([k, v]) => [k, v / served])),
      rssMb: t.rounds.at(-1)?.rssMb ?? NaN,
      cookiesReissued: t.rounds.reduce((s, x) => s + x.wrk.cookies.reissued, 0),
      cookiesUnmatched: t.rounds.reduce((s, x) => s + x.wrk.cookies.unmatched, 0),
    };
  });
}

/** S.storms storms of S.storm concurrent calls, each on a session whose access token has expired. */
async function refreshStorms(store: string, child: Child, idp: Child, upstream: Child): Promise<StormResult[]> {
  if (S.storms <= 0) return [];
  const url = `http://127.0.0.1:${child.port}`;
  log(`bff ${store}: refresh storm — logging in ${S.storms} user(s) whose first access token lives ${STORM_TTL_S} s …`);
  const users = await loginMany(url, S.storms, S.storms, (i) => `${STORM_PREFIX}-${store}-${i}-${randomBytes(3).toString('hex')}`);
  if (users.cookies.length < S.storms) throw new Error(`storm logins failed: ${users.firstError}`);
  await sleep(STORM_TTL_S * 1000 + 500); // the access tokens are now expired, not merely inside the skew
  const results: StormResult[] = [];
  for (const [i, cookie] of users.cookies.entries()) {
    const before = await idp.query<{ refresh: number }>('counts');
    const upBefore = await upstream.query<{ valid: number }>('stats');
    const statuses: Record<string, number> = {};
    const latencies: number[] = [];
    await Promise.all(
      Array.from({ length: S.storm }, async () => {
        const t0 = performance.now();
        let key: string;
        try {
          const res = await fetch(`${url}${API_PATH}?storm=${i}`, { headers: { cookie, 'x-csrf': '1' } });
          await res.arrayBuffer();
          key = String(res.status);
        } catch (err) {
          key = `error:${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name}`;
        }
        latencies.push(performance.now() - t0);
        statuses[key] = (statuses[key] ?? 0) + 1;
      }),
    );
    await sleep(200);
    const after = await idp.query<{ refresh: number }>('counts');
    const upAfter = await upstream.query<{ valid: number }>('stats');
    const ok200 = statuses['200'] ?? 0;
    const r: StormResult = {
      store,
      storm: i + 1,
      calls: S.storm,
      ok200,
      errors: S.storm - ok200,
      statuses,
      refreshes: after.refresh - before.refresh,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: Math.max(...latencies),
      upstreamValid: upAfter.valid - upBefore.valid,
    };
    results.push(r);
    log(`bff ${store}: storm ${i + 1}: ${r.refreshes} refresh(es) at the IdP, ${ok200}/${S.storm} 200, p99 ${fmt(r.p99Ms)} ms`);
  }
  return results;
}

/** Restarts a target with --cpu-prof, warms it up, runs one round, stops it and summarises the profile. */
async function profileRun(
  wrk: string,
  label: string,
  requestsFile: string,
  upstream: Child,
  cost: ReturnType<typeof costMeter>,
  start: (nodeArgs: string[]) => Promise<Child>,
): Promise<ProfileRun | undefined> {
  const dir = join(logDir, `cpu-profile-${label.replace(/[^a-z0-9]+/gi, '-').replace(/-$/, '')}`);
  mkdirSync(dir, { recursive: true });
  const upBefore = await upstream.query<{ total: number }>('stats');
  const child = await start(['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  const one = S.profileShape === 'one';
  const url = `http://127.0.0.1:${child.port}${one ? ONE_PATH : API_PATH}`;
  const threads = one ? 1 : S.threads;
  log(`${label}: profiling round, ${S.profileShape} shape (${S.profileS} s after ${S.warmupS} s warm-up) …`);
  if (S.warmupS > 0) await runWrk({ wrk, url, requestsFile, threads, connections: S.connections, durationS: S.warmupS });
  const m = await cost.measure(child, () => runWrk({ wrk, url, requestsFile, threads, connections: S.connections, durationS: S.profileS }));
  await child.stop(15_000);
  const served = (await upstream.query<{ total: number }>('stats')).total - upBefore.total;
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))[0];
  if (!file) {
    log(`${label}: no .cpuprofile was written`);
    return undefined;
  }
  return { label, wrk: m.result, cpuUsPerReq: m.cost.cpuUs.proxy / Math.max(1, m.cost.served), summary: summarizeProfile(file, served) };
}

async function soak(wrk: string, store: string, child: Child, url: string, requestsFile: string): Promise<SoakResult> {
  const samples: Array<{ t: number; rssMb: number }> = [];
  const t0 = performance.now();
  let done = false;
  const run = runWrk({ wrk, url, requestsFile, threads: S.threads, connections: S.connections, durationS: S.soakS }).finally(() => {
    done = true;
  });
  while (!done) {
    await Promise.race([sleep(1000), run.catch(() => undefined)]);
    if (!done) samples.push({ t: (performance.now() - t0) / 1000, rssMb: memory(child.pid).rssMb });
  }
  const result = await run;
  const warm = samples.find((s) => s.t >= S.soakWarmupS) ?? samples[0];
  const end = samples.at(-1);
  const warmupRssMb = warm?.rssMb ?? NaN;
  const endRssMb = end?.rssMb ?? NaN;
  return {
    store,
    seconds: S.soakS,
    requests: result.requests,
    rps: result.rps,
    errors: result.errors.total,
    warmupRssMb,
    endRssMb,
    maxRssMb: Math.max(...samples.map((s) => s.rssMb)),
    ratio: endRssMb / warmupRssMb,
    samples,
  };
}

// ---- goals and Markdown --------------------------------------------------------------------

interface Goal {
  goal: string;
  target: string;
  measured: string;
  met: boolean | undefined;
}

function evaluateGoals(t: TargetSummary[], mem: MemoryResult[], soaks: SoakResult[], storms: StormResult[], skipped: Skipped[]): Goal[] {
  // Issue 21's goals, each a ratio to the bare node:http hop of the same run and shape: the
  // ratios move least between machines. Absolute µs and MB are reported, never a goal.
  const goals: Goal[] = [];
  const range = (xs: number[]) => (xs.length > 1 ? ` (rounds ${xs.map((x) => fmt(x, 2)).join(' / ')})` : '');
  for (const s of t.filter((x) => x.id.includes('bff-'))) {
    const where = `${s.label}, ${s.shape === 'one' ? 'one session' : 'many sessions'}`;
    goals.push({
      goal: `BFF CPU per request ÷ bare hop's (${where})`,
      target: '≤ 1.50×',
      measured: `${fmt(s.cpuRatio, 2)}×${range(s.cpuRatioRounds)}, ${fmt(s.cpuUsPerReq)} µs`,
      met: s.cpuRatio <= 1.5,
    });
    goals.push({
      goal: `req/s ÷ bare hop's (${where})`,
      target: '≥ 0.80',
      measured: `${fmt(s.ratioHttp, 2)}${range(s.rpsRatioRounds)}`,
      met: s.ratioHttp >= 0.8,
    });
    goals.push({
      goal: `p99 ÷ bare hop's p99 (${where})`,
      target: '≤ 1.5×',
      measured: `${fmt(s.p99Ratio, 2)}× (${fmt(s.p99Ms, 2)} ms)`,
      met: s.p99Ratio <= 1.5,
    });
    goals.push({
      goal: `errors, and calls the upstream answered 200 with a valid token (${where})`,
      target: '0, 100 %',
      measured: `${s.errors}, ${pct(s.validShare, 2)}`,
      met: s.errors === 0 && s.validShare >= 0.999,
    });
  }
  for (const store of skipped) goals.push({ goal: `${storeLabel(store.store)}`, target: '—', measured: 'skipped: store not available', met: undefined });
  // Issue 18: choosing the frontend (one lookup per request) adds no measurable cost — reported
  // side by side, not judged: two medians of one run differ by the machine's noise too.
  for (const two of t.filter((x) => x.store !== undefined && twoFrontends(x.store))) {
    const one = t.find((x) => x.store === two.store!.replace(TWO_FRONTENDS, '') && x.shape === two.shape);
    if (!one) continue;
    goals.push({
      goal: `two frontends (BFF_CONFIG) vs one, ${sessionStore(two.store!)} store, ${two.shape === 'one' ? 'one session' : 'many sessions'}`,
      target: 'same ratio as one frontend',
      measured: `CPU ÷ bare ${fmt(two.cpuRatio, 2)}× vs ${fmt(one.cpuRatio, 2)}×; req/s ÷ bare ${fmt(two.ratioHttp, 2)} vs ${fmt(one.ratioHttp, 2)}`,
      met: undefined,
    });
  }
  for (const s of t.filter((x) => x.id.includes('bff-') && x.store !== undefined && withRedis(x.store))) {
    // Cookie sessions with Redis only check the revocation list, which the session cache answers:
    // ≈ 0. What remains is per second, not per request: every BFF's cache heartbeats (`set`, two
    // per quarter of SESSION_CACHE_MAX_STALE each), about 0.01 per request at 1 500 req/s.
    const most = sessionStore(s.store!) === 'redis' ? 1 : 0.02;
    goals.push({
      goal: `Redis round trips per proxied request (${s.label}, ${s.shape})`,
      target: most === 1 ? '≤ 1' : `≈ 0 (≤ ${most})`,
      measured: `${fmt(s.redisCmdsPerReq, 3)} commands/request (${
        Object.entries(s.redisByCommand)
          .map(([k, v]) => `${k} ${fmt(v, 3)}`)
          .join(', ') || 'none'
      })`,
      met: s.redisCmdsPerReq <= most + 0.001,
    });
  }
  const roundsRss = t.find((x) => x.id === 'bare-http' || x.id === 'one:bare-http')?.rssMb ?? NaN;
  for (const m of mem) {
    const full = m.sessions >= 10_000 && m.requests >= 100_000 * 0.99;
    // Like for like: a fresh bare hop after the same number of requests, measured right after them
    // (the throughput rounds' figure is of another number of requests; shown beside it).
    const sameLoad = m.bare?.stages.at(-1)?.rssMb;
    const bareRss = sameLoad ?? roundsRss;
    goals.push({
      goal: `RSS after ${fmtInt(m.requests)} requests over ${fmtInt(m.sessions)} sessions (${m.store})${full ? '' : ' — reduced run, goal is for 100 000 over 10 000'}`,
      target: `≤ 1.25 × bare hop RSS + 20 MB (${fmt(bareRss * 1.25 + 20, 1)} MB)`,
      measured:
        `${fmt(m.rssMb, 1)} MB (peak ${fmt(m.peakMb, 1)} MB; bare hop ${fmt(bareRss, 1)} MB` +
        (sameLoad !== undefined
          ? ` after ${fmtInt(m.bare!.requests)} requests, ${fmt(roundsRss, 1)} MB after the throughput rounds)`
          : ' after the throughput rounds)'),
      met: m.rssMb <= bareRss * 1.25 + 20,
    });
  }
  for (const s of soaks) {
    goals.push({
      goal: `soak ${s.seconds} s: RSS at the end vs after ${S.soakWarmupS} s warm-up (${s.store})${s.seconds >= 60 ? '' : ' — shortened'}`,
      target: '≤ 1.10×',
      measured: `${fmt(s.ratio, 3)}× (${fmt(s.warmupRssMb, 1)} → ${fmt(s.endRssMb, 1)} MB)`,
      met: s.ratio <= 1.1,
    });
  }
  const byStore = new Map<string, StormResult[]>();
  for (const s of storms) byStore.set(s.store, [...(byStore.get(s.store) ?? []), s]);
  for (const [store, list] of byStore) {
    goals.push({
      goal: `refresh storm: ${S.storm} concurrent calls with an expired token (${store}, ${list.length} storm(s))`,
      // 429s are API_UPSTREAM_CONNECTIONS_PER_CLIENT (64 by default) refusing one user's 65th
      // call in flight, by design: counted apart from errors, which are every other failure.
      target: '1 refresh at the IdP, 0 errors (429 = the per-user in-flight cap, by design)',
      measured: list.map((s) => `${s.refreshes} refresh, ${s.errors - (s.statuses['429'] ?? 0)} errors, ${s.statuses['429'] ?? 0} × 429`).join('; '),
      met: list.every((s) => s.refreshes === 1 && s.errors - (s.statuses['429'] ?? 0) === 0),
    });
  }
  return goals;
}

function markdown(
  r: {
    date: string;
    elapsedS: number;
    settings: typeof S;
    machine: Record<string, unknown>;
    skipped: Skipped[];
    throughput: TargetSummary[];
    cookieHeaders: Array<{ store: string; medianBytes: number; maxBytes: number; cookies: number }>;
    logins: LoginResult[];
    storms: StormResult[];
    memory: MemoryResult[];
    soak: SoakResult[];
    profiles: ProfileRun[];
    roundLoads: Array<{ busy: number; steal: number }>;
  },
  goals: Goal[],
): string {
  const m = r.machine;
  const out: string[] = [];
  const row = (cells: Array<string | number>) => out.push(`| ${cells.join(' | ')} |`);
  const load = (xs: number[]) => (xs.length ? `${fmt(Math.min(...xs), 2)}–${fmt(Math.max(...xs), 2)}` : 'n/a');
  const allLoads = r.throughput.flatMap((t) => t.load1Rounds);
  // Every table carries where and when it was measured: a figure without them cannot be compared.
  const stamp = (extra = '') =>
    out.push(
      `_Machine: ${m['cpus']} CPU (${m['cpuModel']}), ${m['memoryGb']} GB, Node ${m['node']}, Redis ${m['redis']} · commit ${COMMIT} · ${r.date}${extra}_`,
      '',
    );
  out.push(
    `## oidc-bff benchmark — ${r.date}${r.settings.quick ? ` (--quick: ${r.settings.rounds} round(s) × ${r.settings.durationS} s after ${r.settings.warmupS} s warm-up — for development, not for docs)` : ''}`,
    '',
  );
  out.push(
    `${m['cpus']} CPU (${m['cpuModel']}), ${m['memoryGb']} GB, Node ${m['node']}, ${m['wrk']}, Redis ${m['redis']}; commit ${COMMIT}; everything on 127.0.0.1, each server in its own process, run as ${m['servers']}; ` +
      `load average (1 min) during the rounds ${load(allLoads)}, at the end ${(m['loadavg'] as number[]).map((x) => fmt(x, 2)).join(' / ')}; run took ${r.elapsedS} s.`,
    '',
  );
  for (const shape of r.settings.shapes) {
    const rows = r.throughput.filter((t) => t.shape === shape);
    if (!rows.length) continue;
    out.push(
      `### Proxied GET ${shape === 'one' ? ONE_PATH : API_PATH} → upstream that verifies the RS256 JWT — ${SHAPE_LABEL[shape].replace('BENCH_WRK_SESSIONS', String(r.settings.wrkSessions))}`,
      '',
    );
    stamp(`, load average (1 min) ${load(rows.flatMap((t) => t.load1Rounds))}`);
    out.push(
      `wrk -t${shape === 'one' ? 1 : r.settings.threads} -c${r.settings.connections}, ${r.settings.rounds} alternating round(s) × ${r.settings.durationS} s per target after ${r.settings.warmupS} s warm-up (and ${r.settings.roundWarmupS} s of unmeasured load right before each round); LOG_LEVEL=warn. ` +
        "The headline is **CPU ÷ bare hop**: the proxy process's CPU per request divided by the bare node:http hop's in the same round, per round and median; the kernel's part of it (the process's system calls: socket reads and writes) is shown apart. req/s ratio: medians; p50/p99: medians over rounds; RSS: last round.",
      '',
    );
    row([
      'target',
      '**CPU ÷ bare hop** (median; per round)',
      'CPU µs/req (median; per round)',
      'of which kernel µs/req',
      'req/s (median; per round)',
      '× bare hop req/s',
      '× undici hop req/s',
      'p50 ms',
      'p99 ms (per round)',
      'p99 × bare',
      'errors',
      'upstream 200 + valid token',
      'Redis cmds/req',
      'RSS MB',
    ]);
    row(Array(14).fill('---'));
    for (const t of rows) {
      row([
        t.label,
        `**${fmt(t.cpuRatio, 2)}** (${t.cpuRatioRounds.map((x) => fmt(x, 2)).join(' / ')})`,
        `${fmt(t.cpuUsPerReq)} (${t.cpuUsRounds.map((x) => fmt(x)).join(' / ')})`,
        fmt(t.kernelUsPerReq),
        `${fmtInt(t.rpsMedian)} (${t.rpsRounds.map(fmtInt).join(' / ')})`,
        fmt(t.ratioHttp, 2),
        fmt(t.ratioUndici, 2),
        fmt(t.p50Ms, 2),
        `${fmt(t.p99Ms, 2)} (${t.p99Rounds.map((x) => fmt(x, 1)).join(' / ')})`,
        fmt(t.p99Ratio, 2),
        `${t.errors} / ${fmtInt(t.requests)}`,
        pct(t.validShare, 2),
        fmt(t.redisCmdsPerReq, 3),
        fmt(t.rssMb, 1),
      ]);
    }
    const spread = rows
      .filter((t) => t.cpuRatioRounds.length > 1)
      .map((t) => `${t.label}: ${fmt(Math.min(...t.cpuRatioRounds), 2)}–${fmt(Math.max(...t.cpuRatioRounds), 2)}×`);
    if (spread.length) out.push('', `Spread of CPU ÷ bare hop over the rounds: ${spread.join('; ')}.`);
    // CPU per request of t ÷ base, round by round: both ran in the same rounds.
    const named = (store: string) => rows.find((x) => x.store === store);
    const against = (t: TargetSummary | undefined, base: TargetSummary | undefined): string[] => {
      if (!t || !base) return [];
      const perRound = t.cpuUsRounds.map((x, i) => x / base.cpuUsRounds[i]!);
      // Each round's sign too: a median alone read 1.12× in one run and 1.00× in another for the same two builds.
      const { lower, higher, p } = signTest(perRound);
      const first = t.positionRounds.filter((x, i) => x < base.positionRounds[i]!).length;
      const verdict =
        perRound.length < SIGN_TEST_MIN_ROUNDS
          ? `too few rounds for a sign test (it needs ${SIGN_TEST_MIN_ROUNDS}: BENCH_ROUNDS)`
          : p < 0.05
            ? `sign test p = ${fmt(p, 3)}`
            : `sign test p = ${fmt(p, 2)}: not resolved by this run`;
      const interval = medianInterval(perRound);
      const ci = interval ? `, 95 % interval of the median ${fmt(interval[0], 2)}–${fmt(interval[1], 2)}` : '';
      return [
        `${t.label} ÷ ${base.label}: **${fmt(median(perRound), 2)}×**${ci} (${perRound.map((x) => fmt(x, 2)).join(' / ')}; lower in ${lower}, higher in ${higher} of ${perRound.length} rounds, ran first in ${first}; ${verdict})`,
      ];
    };
    // `<store>@<rev>` targets: this checkout's CPU per request against the same store at that revision.
    // Every baseline of a store gets its figure (BENCH_STORES=redis,redis@A,redis@B: two).
    const versus = rows.flatMap((base) => (base.store && revisionOf(base.store) ? against(named(withoutRevision(base.store)), base) : []));
    if (versus.length) out.push('', `CPU per request against the baseline revision, same rounds (median; per round): ${versus.join('; ')}.`);
    // `<target>%NAME=value` targets: against the same target without its settings, when it ran too.
    const settings = rows.flatMap((t) => (t.store && settingsOf(t.store).length ? against(t, named(withoutSettings(t.store))) : []));
    if (settings.length) out.push('', `CPU per request against the same store without the settings, same rounds (median; per round): ${settings.join('; ')}.`);
    out.push('');
  }
  for (const s of r.skipped) row([storeLabel(s.store), `skipped: ${s.reason}`, '', '', '', '', '', '', '', '', '', '', '']);
  out.push('');
  out.push(
    'Cookie header a signed-in browser sends to /api: ' +
      r.cookieHeaders.map((c) => `${c.store} store ${fmtInt(c.medianBytes)} bytes median, ${fmtInt(c.maxBytes)} max, ${c.cookies} cookie(s)`).join('; ') +
      '.',
    '',
  );
  out.push(
    'CPU of the other processes per request (same rounds): ' +
      r.throughput.map((t) => `${t.label} [${t.shape}]: upstream ${fmt(t.upstreamCpuUsPerReq)} µs, redis-server ${fmt(t.redisCpuUsPerReq, 1)} µs`).join('; ') +
      '.',
    '',
  );
  const reissuing = r.throughput.filter((t) => t.cookiesReissued + t.cookiesUnmatched > 0);
  if (reissuing.length) {
    out.push(
      'Session cookies re-issued by the BFF during the rounds, kept by wrk for the next request of that session as a browser would: ' +
        reissuing
          .map(
            (t) =>
              `${t.label} [${t.shape}]: ${fmtInt(t.cookiesReissued)}${t.cookiesUnmatched ? ` (+${fmtInt(t.cookiesUnmatched)} not matched to a session)` : ''}`,
          )
          .join('; ') +
        '.',
      '',
    );
  }
  const loads = r.roundLoads;
  if (loads.length) {
    out.push(
      `Machine during the rounds: CPU busy ${pct(median(loads.map((l) => l.busy)), 0)} (median), hypervisor steal ${pct(median(loads.map((l) => l.steal)), 1)} median / ${pct(Math.max(...loads.map((l) => l.steal)), 1)} max — ` +
        'wrk, the proxy, the upstream and Redis share the same cores, so a busy neighbour or steal shifts req/s; the ratios of the same run are what to compare.',
      '',
    );
  }

  if (r.logins.length) {
    out.push('### Login throughput (full logins through the IdP: /login → PAR → authorize → login + consent → /callback → token)', '');
    stamp();
    row([
      'store',
      'logins ok / tried',
      'concurrency',
      'logins/s',
      'p50 ms',
      'p99 ms',
      'errors',
      'BFF CPU µs/login',
      'IdP CPU µs/login',
      'load generator CPU µs/login',
    ]);
    row(Array(10).fill('---'));
    for (const l of r.logins)
      row([
        l.store,
        `${fmtInt(l.ok)} / ${fmtInt(l.logins)}`,
        l.concurrency,
        fmt(l.perSecond, 1),
        fmt(l.p50Ms),
        fmt(l.p99Ms),
        l.errors,
        fmtInt(l.bffCpuUsPerLogin),
        fmtInt(l.idpCpuUsPerLogin),
        fmtInt(l.driverCpuUsPerLogin),
      ]);
    for (const l of r.logins) if (l.firstError) out.push('', `first login error (${l.store}): ${l.firstError}`);
    out.push('');
  }
  if (r.storms.length) {
    out.push(`### Refresh storm (${r.settings.storm} concurrent calls, one session, access token expired ${STORM_TTL_S} s after login)`, '');
    stamp();
    row(['store', 'storm', 'refreshes at the IdP', '200s', 'errors', 'statuses', 'p50 ms', 'p99 ms', 'max ms', 'upstream valid']);
    row(Array(10).fill('---'));
    for (const s of r.storms)
      row([
        s.store,
        s.storm,
        s.refreshes,
        s.ok200,
        s.errors,
        Object.entries(s.statuses)
          .map(([k, v]) => `${k}×${v}`)
          .join(' '),
        fmt(s.p50Ms),
        fmt(s.p99Ms),
        fmt(s.maxMs),
        s.upstreamValid,
      ]);
    out.push('');
  }
  if (r.memory.length) {
    out.push('### Memory (fresh BFF process: the logins above, then requests spread over all those sessions)', '');
    stamp();
    row([
      'store',
      'sessions',
      'requests',
      'req/s',
      'errors',
      'upstream 200 + valid',
      'CPU µs/req',
      'RSS after MB',
      'peak RSS MB',
      'V8 heap used / total MB',
      'external + array buffers MB',
      'Redis keys (whole db)',
    ]);
    row(Array(12).fill('---'));
    const mb = (b: number | undefined) => (b === undefined ? 'n/a' : fmt(b / 2 ** 20, 1));
    for (const x of r.memory) {
      const u = x.memoryUsage;
      row([
        x.store,
        fmtInt(x.sessions),
        fmtInt(x.requests),
        fmtInt(x.rps),
        x.errors,
        pct(x.validShare, 2),
        fmt(x.cpuUsPerReq),
        fmt(x.rssMb, 1),
        fmt(x.peakMb, 1),
        `${mb(u?.heapUsed)} / ${mb(u?.heapTotal)}`,
        mb(u ? u.external + u.arrayBuffers : undefined),
        fmtInt(x.redisKeys),
      ]);
    }
    out.push('');
    out.push(
      'Where it goes, stage by stage (RSS and its mappings from /proc/<pid>/smaps: the node binary and libraries, glibc’s main malloc arena, other anonymous memory — V8’s heap, the other threads’ malloc arenas, stacks; V8 heap used / total; external + array buffers; V8 spaces resident):',
      '',
    );
    row([
      'process',
      'stage',
      'RSS MB',
      'peak MB',
      'file-backed / [heap] / other anon MB',
      'heap used / total MB',
      'external + array buffers MB',
      'old MB',
      'new MB',
      'code MB',
      'large objects MB',
    ]);
    row(Array(11).fill('---'));
    const space = (x: MemoryStage, name: string) => mb(x.heapSpaces?.[name]?.physical);
    const stageRows = (who: string, stages: MemoryStage[]) => {
      for (const x of stages) {
        const u = x.memoryUsage;
        row([
          who,
          x.stage,
          fmt(x.rssMb, 1),
          fmt(x.peakMb, 1),
          x.resident ? `${fmt(x.resident.file, 1)} / ${fmt(x.resident.brk, 1)} / ${fmt(x.resident.anon, 1)}` : 'n/a',
          `${mb(u?.heapUsed)} / ${mb(u?.heapTotal)}`,
          mb(u ? u.external + u.arrayBuffers : undefined),
          space(x, 'old_space'),
          space(x, 'new_space'),
          space(x, 'code_space'),
          space(x, 'large_object_space'),
        ]);
      }
    };
    for (const x of r.memory) stageRows(`oidc-bff, ${x.store}`, x.stages);
    const bare = r.memory.find((x) => x.bare)?.bare;
    if (bare) stageRows('bare hop (node:http), fresh', bare.stages);
    out.push('', 'The goal compares with the fresh bare hop after the same number of requests; its RSS after the throughput rounds is in the first table.');
    out.push('');
    allocationTables(r.memory, out, row);
  }
  if (r.soak.length) {
    out.push(`### Soak (same process, continuous load over the same sessions; RSS sampled every second)`, '');
    stamp();
    row(['store', 'seconds', 'req/s', 'errors', `RSS after ${r.settings.soakWarmupS} s MB`, 'RSS end MB', 'end / warm-up', 'RSS max MB']);
    row(Array(8).fill('---'));
    for (const s of r.soak) row([s.store, s.seconds, fmtInt(s.rps), s.errors, fmt(s.warmupRssMb, 1), fmt(s.endRssMb, 1), fmt(s.ratio, 3), fmt(s.maxRssMb, 1)]);
    out.push('');
  }
  out.push('### Goals', '');
  stamp();
  row(['goal', 'target', 'measured', 'met']);
  row(['---', '---', '---', '---']);
  for (const g of goals) row([g.goal, g.target, g.measured, g.met === undefined ? '—' : g.met ? 'yes' : '**no**']);
  out.push('');
  if (r.skipped.length) {
    out.push(
      ...r.skipped.map(
        (s) => `Note: the ${s.store} store was not benchmarked — loadConfig refuses it: ${s.reason}. It runs automatically once the configuration accepts it.`,
      ),
      '',
    );
  }
  const bareProf = r.profiles.find((x) => x.label === 'bare hop (node:http)');
  const undiciProf = r.profiles.find((x) => x.label === 'bare hop (undici)');
  // Profile "busy" is wall time of the main thread, inflated when 2 cores are oversubscribed; the
  // per-request figures are therefore each share × the process CPU per request measured without
  // the profiler in the throughput rounds.
  const cpuOf = (label: string) =>
    (r.throughput.find((t) => t.label === label && t.shape === r.settings.profileShape) ?? r.throughput.find((t) => t.label === label))?.cpuUsPerReq ?? NaN;
  const est = (run: ProfileRun | undefined, name: string) => {
    const e = run?.summary.byComponent.find((c) => c.name === name);
    return run && e ? fmt(e.share * cpuOf(run.label), 1) : '—';
  };
  for (const p of r.profiles.filter((x) => x !== bareProf && x !== undiciProf)) {
    const bffCpu = cpuOf(p.label);
    out.push(`### Where the BFF's time goes: ${p.label} (node --cpu-prof, main thread)`, '');
    stamp();
    out.push(
      `One extra round per process with --cpu-prof (${r.settings.profileS} s after ${r.settings.warmupS} s warm-up; the profile also covers start-up): ` +
        `${fmtInt(p.wrk.rps)} req/s, ${fmt(p.cpuUsPerReq)} µs CPU/req with the profiler on. ` +
        `µs/req below = share of the main thread's busy time × the CPU per request measured without profiler (${p.label}: ${fmt(bffCpu)} µs` +
        `${bareProf ? `, bare hop (node:http): ${fmt(cpuOf(bareProf.label))} µs` : ''}${undiciProf ? `, bare hop (undici): ${fmt(cpuOf(undiciProf.label))} µs` : ''}).`,
      '',
    );
    out.push(
      'By component — each sample charged to the first frame outside Node core (a socket write made by ioredis counts for ioredis; "Node core" is work no user code is on the stack for: parsing requests, flushing responses, timers):',
      '',
    );
    row(['component', 'share of BFF busy', '≈ BFF µs/req', '≈ bare hop (node:http) µs/req', '≈ bare hop (undici) µs/req']);
    row(['---', '---', '---', '---', '---']);
    const names = [...p.summary.byComponent.slice(0, 16).map((c) => c.name)];
    for (const extra of [...(bareProf?.summary.byComponent ?? []), ...(undiciProf?.summary.byComponent ?? [])].slice(0, 40)) {
      if (!names.includes(extra.name) && extra.share >= 0.02) names.push(extra.name);
    }
    for (const name of names) {
      const c = p.summary.byComponent.find((x) => x.name === name);
      row([name, c ? pct(c.share) : '—', c ? fmt(c.share * bffCpu, 1) : '—', est(bareProf, name), est(undiciProf, name)]);
    }
    out.push('');
    row(['function (self time)', 'where', 'called from (first frame outside Node core)', 'share of BFF busy', '≈ µs/req']);
    row(['---', '---', '---', '---', '---']);
    for (const f of p.summary.topFunctions.slice(0, 25)) row([`\`${f.name}\``, f.where || '—', f.caller || '—', pct(f.share), fmt(f.share * bffCpu, 1)]);
    out.push('');
  }
  if (r.profiles.length) out.push(`Profiles: ${r.profiles.map((x) => x.summary.file).join(', ')}`, '');
  return `${out.join('\n')}\n`;
}
