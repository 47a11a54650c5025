/**
 * Runs docker-compose.yml without Docker: every service as a local process, with the compose
 * file's own command and environment (and, for services built from the Dockerfile, the target
 * stage's CMD, ENV and HEALTHCHECK). Only two things are rewritten, the same way everywhere:
 *
 * - host names: compose service names (redis, idp, api...) and the bind-all address 0.0.0.0
 *   become 127.0.0.1 (nothing is exposed beyond this machine), in URLs and in *_HOST variables;
 * - ports: every port the file mentions (published or container ports, ports in URLs, *_PORT
 *   variables, `--port`/`-p` arguments) gets one free local port, consistently in every value.
 *
 * Images are mapped to local programs: `redis:*` runs the local `redis-server` (plus
 * `--bind 127.0.0.1 --dir <temporary directory>`, which a container has implicitly); services
 * built from this repository's Dockerfile run their command from the repository root (the
 * image's WORKDIR), `node` being this Node.js. The BFF's image command `node dist/src/main.js`
 * runs as is with `bff: 'dist'` (after `npm run build` when dist/ is stale), or from the
 * TypeScript sources with `bff: 'source'` (`node --import tsx src/main.ts`, the default: no build
 * step, and what the tests use).
 *
 * depends_on conditions are honoured (service_healthy runs the service's health check, from
 * compose or the image, natively until it passes). Then a browser-like client logs in through the
 * BFF and the interactive IdP, calls the API, logs out, and everything is stopped with SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { SETTINGS } from '../src/config/schema.js';
import { freePort } from '../test/support/free-port.js';
import { UserAgent } from '../test/support/user-agent.js';
import {
  COMPOSE_FILE,
  DOCKERFILE,
  ROOT,
  parseCompose,
  parseDockerfile,
  resolveStage,
  type ComposeFile,
  type ComposeService,
  type DockerStage,
} from './container-files.js';

export interface ComposeNativeOptions {
  composeFile?: string;
  dockerfile?: string;
  /** How the BFF's image command runs: from the TypeScript sources (default) or the compiled dist/. */
  bff?: 'source' | 'dist';
  /** Name of the BFF's service (default bff). */
  bffService?: string;
  /**
   * Directory the BFF runs in (default: the repository). Point it at a directory laid out like the
   * runtime image (package.json, production node_modules, dist/src, views) with bff: 'dist' to
   * check that the image's files are enough.
   */
  bffCwd?: string;
  /** Variables for ${...} interpolation, as the shell gives them to `docker compose` (default process.env). */
  vars?: Record<string, string | undefined>;
  /** Who logs in at the interactive IdP (default demo). */
  username?: string;
  /** Each child's output lines, prefixed with its service name. */
  onOutput?: (service: string, line: string) => void;
  /** Budget for one service to become healthy, and for the BFF to become ready (default 20 s). */
  startTimeoutMs?: number;
}

export interface ServicePlan {
  name: string;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** Native health check argv (from compose, else the image), undefined when there is none. */
  healthcheck: string[] | undefined;
  dependsOn: Record<string, { condition: string }>;
}

export interface NativePlan {
  /** compose port → local port. */
  ports: Map<number, number>;
  services: ServicePlan[];
  /** Temporary directory for data (Redis); removed after the run. */
  dataDir: string;
}

export interface ServiceReport {
  name: string;
  command: string;
  pid: number | undefined;
  /** ms from the run's start. */
  startedAtMs: number | undefined;
  healthyAtMs: number | undefined;
  exitCode: number | null | undefined;
  signal: string | null | undefined;
  /** ms between SIGTERM and exit. */
  stopMs: number | undefined;
  /** The last lines the process wrote. */
  outputTail: string[];
}

export interface StepReport {
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
}

export interface Report {
  ok: boolean;
  bffFrom: 'source' | 'dist';
  publicUrl: string | undefined;
  ports: Record<string, number>;
  services: ServiceReport[];
  steps: StepReport[];
  error: string | undefined;
  durationMs: number;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const BIND_ALL = new Set(['0.0.0.0', '::', '[::]']);
const PORT_VAR = /(^|_)PORT$/;
const HOST_VAR = /(^|_)HOST$/;
const URL_RE = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@'"]*@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(?::(\d+))?/g;

/** Every port the compose file mentions, in first-seen order. */
function composePorts(compose: ComposeFile, serviceNames: ReadonlySet<string>): number[] {
  const found: number[] = [];
  const add = (p: number | undefined) => {
    if (p !== undefined && Number.isInteger(p) && p > 0 && !found.includes(p)) found.push(p);
  };
  const scan = (s: string) => {
    for (const m of s.matchAll(URL_RE)) {
      const host = m[3]!;
      if (serviceNames.has(host) || LOOPBACK.has(host) || BIND_ALL.has(host)) add(m[4] === undefined ? undefined : Number(m[4]));
    }
  };
  for (const service of Object.values(compose.services)) {
    for (const p of service.ports) {
      add(p.target);
      add(p.published);
    }
    for (const [key, value] of Object.entries(service.environment)) {
      if (PORT_VAR.test(key) && /^\d+$/.test(value)) add(Number(value));
      else scan(value);
    }
    for (const args of [service.command, service.healthcheck?.test]) {
      args?.forEach((a, i) => {
        if ((args[i - 1] === '--port' || args[i - 1] === '-p') && /^\d+$/.test(a)) add(Number(a));
        else scan(a);
      });
    }
  }
  return found;
}

/** The rewriting described at the top of this file. */
export class Rewriter {
  constructor(
    readonly serviceNames: ReadonlySet<string>,
    readonly ports: ReadonlyMap<number, number>,
  ) {}

  host(host: string): string {
    return this.serviceNames.has(host) || BIND_ALL.has(host) ? '127.0.0.1' : host;
  }

  port(port: number): number {
    const local = this.ports.get(port);
    if (local === undefined) throw new Error(`port ${port} has no local port`);
    return local;
  }

  string(s: string): string {
    return s.replace(URL_RE, (whole, scheme: string, userinfo: string | undefined, host: string, port: string | undefined) => {
      const isService = this.serviceNames.has(host) || BIND_ALL.has(host);
      if (!isService && !LOOPBACK.has(host)) return whole; // an outside URL: left alone
      if (isService && port === undefined) throw new Error(`${whole}: a URL to service ${host} needs an explicit port to be rewritten`);
      return `${scheme}${userinfo ?? ''}${this.host(host)}${port === undefined ? '' : `:${this.port(Number(port))}`}`;
    });
  }

  env(env: Record<string, string>): Record<string, string> {
    return Object.fromEntries(
      Object.entries(env).map(([key, value]) => {
        if (PORT_VAR.test(key) && /^\d+$/.test(value)) return [key, Number(value) === 0 ? value : String(this.port(Number(value)))];
        if (HOST_VAR.test(key)) return [key, this.host(value)];
        return [key, this.string(value)];
      }),
    );
  }

  argv(args: readonly string[]): string[] {
    return args.map((a, i) => ((args[i - 1] === '--port' || args[i - 1] === '-p') && /^\d+$/.test(a) ? String(this.port(Number(a))) : this.string(a)));
  }
}

function nodeArgv(args: string[], bff: 'source' | 'dist'): string[] {
  if (args[0] !== 'node') return args;
  let rest = args.slice(1);
  if (bff === 'source') {
    // The image runs the compiled entry; natively we may run the same module from its TypeScript source.
    const i = rest.findIndex((a) => /^dist\/.+\.js$/.test(a));
    if (i !== -1 && !rest.includes('tsx')) rest = [...rest.slice(0, i), '--import', 'tsx', rest[i]!.replace(/^dist\/(.+)\.js$/, '$1.ts'), ...rest.slice(i + 1)];
  }
  return [process.execPath, ...rest];
}

/** Works out what to run for each service; no process is started. */
export async function planNative(compose: ComposeFile, stages: readonly DockerStage[], opts: { bff: 'source' | 'dist' }): Promise<NativePlan> {
  const serviceNames = new Set(Object.keys(compose.services));
  const ports = new Map<number, number>();
  for (const p of composePorts(compose, serviceNames)) ports.set(p, await freePort());
  const rw = new Rewriter(serviceNames, ports);
  const dataDir = mkdtempSync(join(tmpdir(), 'compose-native-'));
  const services: ServicePlan[] = [];
  try {
    for (const service of Object.values(compose.services)) services.push(planService(service, stages, rw, dataDir, opts.bff));
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return { ports, services, dataDir };
}

function planService(service: ComposeService, stages: readonly DockerStage[], rw: Rewriter, dataDir: string, bff: 'source' | 'dist'): ServicePlan {
  const baseEnv: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
  if (process.env['HOME']) baseEnv['HOME'] = process.env['HOME'];
  if (process.env['TMPDIR']) baseEnv['TMPDIR'] = process.env['TMPDIR'];
  let argv: string[];
  let imageEnv: Record<string, string> = {};
  let healthcheck = service.healthcheck?.test;
  if (service.build) {
    const stage = resolveStage(stages, service.build.target);
    imageEnv = stage.env;
    const cmd = service.command ?? stage.cmd;
    if (!cmd) throw new Error(`${service.name}: no command in compose nor CMD in stage ${stage.stage.name ?? stage.stage.index}`);
    // A container's init (tini) has no job in a local process tree: run the command itself.
    const entry = (stage.entrypoint ?? []).filter((a) => !/(^|\/)tini$/.test(a) && a !== '--');
    argv = nodeArgv([...entry, ...cmd], bff);
    if (service.healthcheck === undefined) healthcheck = stage.healthcheck?.test;
  } else if (service.image?.startsWith('redis:')) {
    const cmd = service.command ?? ['redis-server'];
    if (cmd[0] !== 'redis-server') throw new Error(`${service.name}: only redis-server can run natively for image ${service.image}`);
    // What the container gives implicitly: its own network (here: loopback only) and a data directory.
    argv = [...cmd, '--bind', '127.0.0.1', '--dir', dataDir];
  } else {
    throw new Error(`${service.name}: no native equivalent for image ${service.image ?? '(none)'}`);
  }
  return {
    name: service.name,
    argv: rw.argv(argv),
    cwd: ROOT,
    env: { ...baseEnv, ...rw.env({ ...imageEnv, ...service.environment }) },
    healthcheck: healthcheck && nodeArgv(rw.argv(healthcheck), bff),
    dependsOn: service.dependsOn,
  };
}

interface Running {
  plan: ServicePlan;
  child: ChildProcess;
  report: ServiceReport;
  exited: Promise<void>;
}

const TAIL = 40;

function startProcess(plan: ServicePlan, report: ServiceReport, onOutput: ComposeNativeOptions['onOutput']): Running {
  const child = spawn(plan.argv[0]!, plan.argv.slice(1), { cwd: plan.cwd, env: plan.env, stdio: ['ignore', 'pipe', 'pipe'] });
  report.pid = child.pid;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      report.exitCode = code;
      report.signal = signal;
      resolve();
    });
    child.once('error', (err) => {
      report.outputTail.push(`spawn failed: ${err.message}`);
      report.exitCode = null;
      resolve();
    });
  });
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        report.outputTail.push(line);
        if (report.outputTail.length > TAIL) report.outputTail.shift();
        onOutput?.(plan.name, line);
      }
    });
  }
  return { plan, child, report, exited };
}

/** Runs a health check command once: true when it exits 0 within `timeoutMs`. */
function checkOnce(argv: string[], cwd: string, env: Record<string, string>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
  });
}

function topologicalOrder(services: readonly ServicePlan[]): ServicePlan[] {
  const byName = new Map(services.map((s) => [s.name, s]));
  const out: ServicePlan[] = [];
  const visiting = new Set<string>();
  const visit = (s: ServicePlan) => {
    if (out.includes(s)) return;
    if (visiting.has(s.name)) throw new Error(`depends_on cycle through ${s.name}`);
    visiting.add(s.name);
    for (const dep of Object.keys(s.dependsOn)) {
      const d = byName.get(dep);
      if (!d) throw new Error(`${s.name} depends on unknown service ${dep}`);
      visit(d);
    }
    out.push(s);
  };
  services.forEach(visit);
  return out;
}

async function within<T>(ms: number, what: string, work: (signal: { expired: boolean }) => Promise<T>): Promise<T> {
  const signal = { expired: false };
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(signal),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          signal.expired = true;
          reject(new Error(`${what}: not done within ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Starts the compose services natively, runs login → API → logout through the BFF, stops everything. */
export async function runComposeNatively(opts: ComposeNativeOptions = {}): Promise<Report> {
  const t0 = Date.now();
  const bffFrom = opts.bff ?? 'source';
  const bffName = opts.bffService ?? 'bff';
  const startTimeoutMs = opts.startTimeoutMs ?? 20_000;
  const report: Report = { ok: false, bffFrom, publicUrl: undefined, ports: {}, services: [], steps: [], error: undefined, durationMs: 0 };
  const running: Running[] = [];
  let stopping = false;
  let plan: NativePlan | undefined;
  let redisClient: Redis | undefined;

  const step = async (name: string, work: () => Promise<string>): Promise<void> => {
    const s0 = Date.now();
    try {
      const detail = await work();
      report.steps.push({ name, ok: true, ms: Date.now() - s0, detail });
    } catch (err) {
      report.steps.push({ name, ok: false, ms: Date.now() - s0, detail: err instanceof Error ? err.message : String(err) });
      throw err;
    }
  };

  try {
    const compose = parseCompose(readFileSync(opts.composeFile ?? COMPOSE_FILE, 'utf8'), opts.vars ?? process.env);
    const stages = parseDockerfile(readFileSync(opts.dockerfile ?? DOCKERFILE, 'utf8'));
    if (!compose.services[bffName]) throw new Error(`no service ${bffName} in the compose file`);
    plan = await planNative(compose, stages, { bff: bffFrom });
    report.ports = Object.fromEntries([...plan.ports].map(([from, to]) => [String(from), to]));
    if (opts.bffCwd) plan.services.find((s) => s.name === bffName)!.cwd = opts.bffCwd;
    if (bffFrom === 'dist' && !opts.bffCwd) {
      const built = spawnSync(process.execPath, ['scripts/ensure-build.mjs'], { cwd: ROOT, stdio: 'inherit' });
      if (built.status !== 0) throw new Error('npm run build failed');
    }

    // Start every service as soon as its depends_on conditions hold.
    const started = new Map<string, Promise<Running>>();
    const healthy = new Map<string, Promise<void>>();
    for (const s of topologicalOrder(plan.services)) {
      const serviceReport: ServiceReport = {
        name: s.name,
        command: s.argv.join(' '),
        pid: undefined,
        startedAtMs: undefined,
        healthyAtMs: undefined,
        exitCode: undefined,
        signal: undefined,
        stopMs: undefined,
        outputTail: [],
      };
      report.services.push(serviceReport);
      const start = (async () => {
        for (const [dep, { condition }] of Object.entries(s.dependsOn)) {
          if (condition === 'service_healthy') await healthy.get(dep);
          else if (condition === 'service_started') await started.get(dep);
          else throw new Error(`${s.name}: depends_on condition ${condition} is not supported`);
        }
        if (stopping) throw new Error(`${s.name} not started: the run is stopping`);
        const r = startProcess(s, serviceReport, opts.onOutput);
        running.push(r);
        serviceReport.startedAtMs = Date.now() - t0;
        return r;
      })();
      started.set(s.name, start);
      healthy.set(
        s.name,
        start.then(async (r) => {
          if (!s.healthcheck) throw new Error(`${s.name} has no health check, but a service waits for it to be healthy`);
          await within(startTimeoutMs, `${s.name} health check`, async (signal) => {
            for (;;) {
              if (r.report.exitCode !== undefined)
                throw new Error(`${s.name} exited (${r.report.exitCode ?? r.report.signal}) before it was healthy:\n${r.report.outputTail.join('\n')}`);
              if (await checkOnce(s.healthcheck!, s.cwd, s.env, 3000)) break;
              if (signal.expired) return;
              await pause(100);
            }
          });
          serviceReport.healthyAtMs = Date.now() - t0;
        }),
      );
      // Nobody may wait for this one: keep an unobserved failure from crashing the process.
      healthy.get(s.name)!.catch(() => undefined);
    }

    const bff = plan.services.find((s) => s.name === bffName)!;
    const publicUrl = new URL(bff.env['PUBLIC_URL'] ?? '').origin;
    report.publicUrl = publicUrl;
    const setting = (name: (typeof SETTINGS)[number]['name']) => bff.env[name] || SETTINGS.find((s) => s.name === name)!.default;

    await step('services started, health checks passing', async () => {
      await Promise.all([...started.values()]);
      await Promise.all(plan!.services.filter((s) => s.healthcheck).map((s) => healthy.get(s.name)));
      return plan!.services.map((s) => `${s.name}${s.healthcheck ? ' healthy' : ' started'}`).join(', ');
    });

    await step('BFF /readyz 200', () =>
      within(startTimeoutMs, 'BFF /readyz', async (signal) => {
        let last = '';
        for (;;) {
          const res = await fetch(`${publicUrl}/readyz`).then(
            async (r) => ({ status: r.status, text: await r.text() }),
            (e: Error) => ({ status: 0, text: e.message }),
          );
          if (res.status === 200) return res.text;
          if (signal.expired) return last;
          last = `${res.status} ${res.text}`;
          await pause(100);
        }
      }),
    );

    const ua = new UserAgent();
    const username = opts.username ?? 'demo';
    const sessionPath = setting('SESSION_PATH');
    await step(`log in as ${username} through the interactive IdP`, async () => {
      const { callback, chain } = await ua.login(`${publicUrl}${setting('LOGIN_PATH')}?returnTo=${sessionPath}`, { username, stopAtOrigin: publicUrl });
      if (callback.status !== 302) throw new Error(`callback answered ${callback.status}: ${callback.text.slice(0, 300)}`);
      const session = await ua.get(`${publicUrl}${sessionPath}`);
      if (session.status !== 200) throw new Error(`${sessionPath} answered ${session.status} after the login`);
      const sub = session.json<{ claims: { sub?: string } }>().claims.sub;
      if (sub !== username) throw new Error(`${sessionPath} says sub=${sub}`);
      const idp = new URL(chain.find((u) => new URL(u).origin !== publicUrl) ?? publicUrl).origin;
      return `${chain.length} requests (IdP at ${idp}), ${sessionPath} 200 sub=${sub}`;
    });

    const sessionKeys = async () => {
      const prefix = setting('REDIS_KEY_PREFIX');
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await redisClient!.scan(cursor, 'MATCH', `${prefix}s:*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      return keys.filter((k) => !k.endsWith(':lock') && !k.startsWith(`${prefix}s:hb:`));
    };
    const usesRedis = setting('SESSION_STORE') === 'redis';
    if (usesRedis) {
      await step('the session is stored in Redis, sealed', async () => {
        redisClient = new Redis(setting('REDIS_URL'), { maxRetriesPerRequest: 1, lazyConnect: true });
        await redisClient.connect();
        const keys = await sessionKeys();
        if (keys.length !== 1) throw new Error(`expected 1 session key, found ${keys.length}`);
        const value = (await redisClient.get(keys[0]!)) ?? '';
        if (/access_token|refresh_token|"sub"/.test(value)) throw new Error('the stored session is readable: not sealed');
        return `${keys[0]} (${value.length} bytes)`;
      });
    }

    await step('GET /api/hello with X-CSRF: 1 reaches the demo API with a bearer token', async () => {
      const res = await ua.get(`${publicUrl}${setting('API_PATH')}/hello`, { headers: { 'X-CSRF': '1' } });
      if (res.status !== 200) throw new Error(`answered ${res.status}: ${res.text.slice(0, 300)}`);
      const body = res.json<{ receivedBearerToken?: boolean; path?: string; message?: string }>();
      if (body.receivedBearerToken !== true || body.path !== '/hello') throw new Error(`unexpected answer ${res.text.slice(0, 300)}`);
      return `200 "${body.message}"`;
    });

    await step('POST /logout ends the session', async () => {
      const res = await ua.post(`${publicUrl}${setting('LOGOUT_PATH')}`, { headers: { 'X-CSRF': '1' } });
      if (res.status !== 200) throw new Error(`answered ${res.status}: ${res.text.slice(0, 300)}`);
      const { logoutUrl } = res.json<{ logoutUrl: string }>();
      const after = await ua.get(`${publicUrl}${sessionPath}`);
      if (after.status !== 401) throw new Error(`${sessionPath} answered ${after.status} after logout`);
      const left = usesRedis ? await sessionKeys() : [];
      if (left.length) throw new Error(`session keys left in Redis: ${left.join(', ')}`);
      return `200, IdP end-session ${new URL(logoutUrl).origin}${new URL(logoutUrl).pathname}; ${sessionPath} 401${usesRedis ? '; no session key left in Redis' : ''}`;
    });
  } catch (err) {
    report.error = err instanceof Error ? err.message : String(err);
  } finally {
    redisClient?.disconnect();
    stopping = true;
    const s0 = Date.now();
    const { errors, stopped } = await stopAll(running, plan);
    if (errors.length || running.length) {
      report.steps.push({
        name: 'stop every service with SIGTERM (dependents first), exit code 0',
        ok: errors.length === 0,
        ms: Date.now() - s0,
        detail: errors.length ? errors.join('; ') : stopped.map((r) => `${r.plan.name} ${r.report.stopMs} ms`).join(', '),
      });
    }
    if (plan) rmSync(plan.dataDir, { recursive: true, force: true });
  }
  report.ok = report.error === undefined && report.steps.length > 0 && report.steps.every((s) => s.ok);
  report.durationMs = Date.now() - t0;
  return report;
}

/** SIGTERM by pid, dependents first (reverse start order); a process still running after its grace period is killed. */
async function stopAll(running: readonly Running[], plan: NativePlan | undefined): Promise<{ errors: string[]; stopped: Running[] }> {
  const errors: string[] = [];
  const stopped: Running[] = [];
  const order = plan ? topologicalOrder(plan.services).reverse() : [];
  for (const s of order) {
    const r = running.find((x) => x.plan.name === s.name);
    if (!r) continue;
    if (r.report.exitCode !== undefined) {
      errors.push(`${s.name} had already exited (${r.report.exitCode ?? r.report.signal})`);
      continue;
    }
    const t = Date.now();
    r.child.kill('SIGTERM');
    const graceMs = (Number(s.env['SHUTDOWN_TIMEOUT']) || 10) * 1000 + 5000;
    const inTime = await Promise.race([r.exited.then(() => true), pause(graceMs).then(() => false)]);
    if (!inTime) {
      r.child.kill('SIGKILL');
      await r.exited;
      errors.push(`${s.name} did not stop within ${graceMs} ms of SIGTERM (killed)`);
    }
    r.report.stopMs = Date.now() - t;
    stopped.push(r);
    if (inTime && (r.report.exitCode !== 0 || r.report.signal)) errors.push(`${s.name} exited with ${r.report.exitCode ?? r.report.signal} on SIGTERM`);
  }
  return { errors, stopped };
}

/** A few lines for humans. */
export function formatReport(report: Report): string {
  const lines = [
    `compose:native: docker-compose.yml as local processes (BFF from ${report.bffFrom === 'dist' ? 'dist/, the image command' : 'src/ through tsx'})`,
  ];
  if (Object.keys(report.ports).length)
    lines.push(
      `  ports: ${Object.entries(report.ports)
        .map(([a, b]) => `${a}→${b}`)
        .join(' ')}`,
    );
  for (const s of report.services) {
    lines.push(`  ${s.name.padEnd(6)} pid ${String(s.pid ?? '-').padEnd(7)} ${s.command.replace(process.execPath, 'node').replace(ROOT, '')}`);
  }
  if (report.publicUrl) lines.push(`  BFF at ${report.publicUrl}`);
  for (const st of report.steps) lines.push(`  ${st.ok ? 'ok  ' : 'FAIL'} ${st.name} (${st.ms} ms): ${st.detail}`);
  if (report.error && !report.steps.some((s) => !s.ok && s.detail === report.error)) lines.push(`  FAIL ${report.error}`);
  if (!report.ok) {
    for (const s of report.services) {
      if (s.outputTail.length) lines.push(`  --- last output of ${s.name}:`, ...s.outputTail.slice(-15).map((l) => `    ${l}`));
    }
  }
  lines.push(`${report.ok ? 'OK' : 'FAILED'} in ${(report.durationMs / 1000).toFixed(1)} s`);
  return lines.join('\n');
}

export type { ComposeFile };
