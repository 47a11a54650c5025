import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startIdp, type RunningIdp } from '../../dev/idp.js';
import { rawGet } from '../support/frontends.js';
import { freePort } from '../support/free-port.js';
import { CLIENT_SECRET, SECRET } from '../support/harness.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';
import { UserAgent } from '../support/user-agent.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface LogLine {
  event?: string;
  reason?: string;
}

/** The production entry as operators run it, its JSON log lines collected as they arrive. */
interface Service {
  child: ChildProcess;
  lines: LogLine[];
  /** Resolves once `count` lines of `event` were logged; rejects if the process exits first. */
  logged(event: string, count?: number): Promise<LogLine[]>;
  output(): string;
  kill(): Promise<void>;
}

function startService(env: Record<string, string>): Service {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let partial = '';
  const lines: LogLine[] = [];
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        // not a log line
      }
    }
    wake();
  });
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve(wake())));
  return {
    child,
    lines,
    async logged(event, count = 1) {
      for (;;) {
        const found = lines.filter((l) => l.event === event);
        if (found.length >= count) return found;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the BFF exited without logging ${event} ×${count}:\n${out}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    output: () => out,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/**
 * SIGHUP to the real process (src/main.ts, started as in test/ops/graceful-shutdown.test.ts):
 * the signal handler, its one-reload-at-a-time queue and the logging are main.ts's own, which
 * test/flows/frontends-reload.test.ts (calling the reload function) does not reach.
 */
describe('SIGHUP to the production entry (src/main.ts) with BFF_CONFIG', function () {
  this.timeout(40_000);
  let redis: TestRedis;
  let idpOne: RunningIdp;
  let idpTwo: RunningIdp;
  let service: Service | undefined;
  let dir: string;
  let port: number;
  const one = () => `http://127.0.0.1:${port}`;
  const two = () => `http://localhost:${port}`;

  const provider = (issuer: string, clientId: string) => ({ issuer, clientId, clientSecret: CLIENT_SECRET });
  const frontend = (origin: string, providerId: string) => ({
    publicUrl: origin,
    provider: providerId,
    apiRoutes: [{ path: '/api', upstream: 'http://127.0.0.1:9/v1' }],
  });
  const client = (id: string, origin: string) => ({
    client_id: id,
    client_secret: CLIENT_SECRET,
    redirect_uris: [`${origin}/callback`],
    post_logout_redirect_uris: [`${origin}/logout/callback`],
  });

  before(async () => {
    port = await freePort();
    redis = await startTestRedis();
    idpOne = await startIdp({ clients: [client('one', one())] });
    idpTwo = await startIdp({ clients: [client('two', two())] });
    dir = mkdtempSync(join(tmpdir(), 'bff-sighup-'));
  });
  after(async () => {
    await service?.kill();
    await idpOne?.close();
    await idpTwo?.close();
    await redis?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a good edited file: the new frontend is served and a live session stays signed in; a bad file changes nothing, each problem is logged, the process keeps serving', async () => {
    const file = join(dir, 'frontends.json');
    const first = { providers: { idp_one: provider(idpOne.issuer, 'one') }, frontends: { one: frontend(one(), 'idp_one') } };
    writeFileSync(file, JSON.stringify(first));
    service = startService({
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      BFF_CONFIG: file,
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_PORT: '0',
      OIDC_ALLOW_HTTP: 'true',
      // Sessions in Redis outlive the units a reload replaces (docs/several-apps.md).
      SESSION_STORE: 'redis',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: redis.prefix,
      SESSION_SECRETS: SECRET,
      LOG_LEVEL: 'info',
    });
    await service.logged('service.started');
    await untilReady(one());

    const ua = new UserAgent();
    const { callback } = await ua.login(`${one()}/login`, { stopAtOrigin: one() });
    assert.equal(callback.status, 302, callback.text);
    assert.equal((await ua.get(`${one()}/session`)).status, 200);
    const twoHost = `localhost:${port}`;
    assert.equal((await rawGet(port, '/login', { host: twoHost })).status, 404, 'two is served before the reload');

    // A good edited file: frontend two, at its own host and IdP.
    const second = {
      providers: { ...first.providers, idp_two: provider(idpTwo.issuer, 'two') },
      frontends: { ...first.frontends, two: frontend(two(), 'idp_two') },
    };
    writeFileSync(file, JSON.stringify(second));
    service.child.kill('SIGHUP');
    const [reloaded] = await service.logged('config.reloaded');
    // Adding a frontend restarts one too (it must know its new sibling's cookie names): its Redis sessions live on.
    assert.match(String(reloaded?.reason), /2 frontend unit\(s\): 0 kept, 2 new, 1 retired/);

    const login = await rawGet(port, '/login', { host: twoHost, accept: 'text/html' });
    assert.equal(login.status, 302, login.body);
    const signedInAtTwo = new UserAgent();
    const atTwo = await signedInAtTwo.login(`${two()}/login`, { stopAtOrigin: two() });
    assert.ok(atTwo.chain[1]?.startsWith(`${idpTwo.issuer}/`), `two's /login went to ${atTwo.chain[1]}, not to its IdP`);
    assert.equal(atTwo.callback.status, 302, atTwo.callback.text);
    assert.equal((await signedInAtTwo.get(`${two()}/session`)).status, 200);
    assert.equal((await ua.get(`${one()}/session`)).status, 200, "the reload signed one's live session out");

    // A bad file: two problems, each logged; nothing changes.
    writeFileSync(file, JSON.stringify({ ...second, frontends: { one: { provider: 'nobody' }, three: { provider: 'nobody_either' } } }));
    service.child.kill('SIGHUP');
    const failed = await service.logged('config.reload_failed', 2);
    const reasons = failed.map((l) => String(l.reason));
    assert.ok(
      reasons.some((r) => /frontends\.one: provider "nobody" is not declared/.test(r)),
      reasons.join(' | '),
    );
    assert.ok(
      reasons.some((r) => /frontends\.three: provider "nobody_either" is not declared/.test(r)),
      reasons.join(' | '),
    );
    assert.equal(service.lines.filter((l) => l.event === 'config.reloaded').length, 1, 'a bad file was loaded');
    assert.equal((await ua.get(`${one()}/session`)).status, 200, 'a bad file changed what one serves');
    assert.equal((await signedInAtTwo.get(`${two()}/session`)).status, 200, 'a bad file changed what two serves');
    assert.equal((await rawGet(port, '/login', { host: twoHost })).status, 302);
    assert.equal(service.child.exitCode, null, service.output());
  });
});

/** Ready = /readyz 200 (the IdP metadata loaded, Redis answering); a bounded poll, as for any start. */
async function untilReady(origin: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (
    (await fetch(`${origin}/readyz`).then(
      (r) => r.status,
      () => 0,
    )) !== 200
  ) {
    if (Date.now() > deadline) throw new Error('the BFF was not ready within 15 s');
    await new Promise<void>((resolve) => setTimeout(resolve, 50));
  }
}
