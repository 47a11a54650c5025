import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startIdp, type RunningIdp } from '../../dev/idp.js';
import { freePort } from '../support/free-port.js';
import { CLIENT_ID, CLIENT_SECRET, SECRET } from '../support/harness.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

// Loaded before src/main.ts: on SIGUSR2, writes the CommonJS modules loaded so far (yaml's node
// build, OpenTelemetry and undici are CommonJS: an import() of them lands in require.cache too).
const PRELOAD = `data:text/javascript,${encodeURIComponent(`
import { createRequire } from 'node:module';
const cache = createRequire(${JSON.stringify(ROOT)}).cache;
process.on('SIGUSR2', () => process.stderr.write('LOADED ' + JSON.stringify(Object.keys(cache)) + '\\n'));
`)}`;

/**
 * Issue 21 (memory): a default production process (`npm start`: src/main.ts, Redis store, no
 * BFF_CONFIG, no API_ROUTES file, tracing off, no DPoP) loads no module it does not use. Each
 * costs every process memory it never gives back: its code, its source text and the V8 heap
 * that grows with them (the YAML parser alone is ~1 MB of heap and several MB of RSS).
 * src/config/frontends.ts imported the YAML parser at the top up to 537109d, for the
 * BFF_CONFIG files few deployments have.
 */
describe('modules a default production process loads (src/main.ts)', function () {
  this.timeout(30_000);
  let idp: RunningIdp;
  let redis: TestRedis;
  let port: number;

  before(async () => {
    port = await freePort();
    redis = await startTestRedis();
    idp = await startIdp({ clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`http://127.0.0.1:${port}/callback`] }] });
  });

  after(async () => {
    await idp?.close();
    await redis?.close();
  });

  it('a started process has loaded neither the YAML parser, nor the OpenTelemetry SDK or exporter, nor the undici package', async () => {
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_PORT: '0',
      OIDC_ISSUER: idp.issuer,
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
      OIDC_ALLOW_HTTP: 'true',
      API_UPSTREAM: 'http://127.0.0.1:9',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: redis.prefix,
      SESSION_SECRETS: SECRET,
      LOG_LEVEL: 'info',
    };
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', PRELOAD, 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    try {
      const started = new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          if (out.includes('"event":"service.started"')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`the BFF exited (${code}) before it started:\n${out}\n${err}`)));
      });
      const listed = new Promise<string[]>((resolve) => {
        child.stderr!.on('data', (chunk: Buffer) => {
          err += chunk.toString('utf8');
          const line = /^LOADED (.*)$/m.exec(err)?.[1];
          if (line) resolve(JSON.parse(line) as string[]);
        });
      });
      await started;
      child.kill('SIGUSR2');
      const loaded = await listed;
      const packages = (name: string) => loaded.filter((path) => path.includes(`/node_modules/${name}/`));
      // The list is real: the Redis client, a CommonJS package the process does use, is in it.
      assert.ok(packages('ioredis').length > 0, 'ioredis is listed');
      assert.deepEqual(packages('yaml'), []);
      assert.deepEqual(packages('@opentelemetry/sdk-trace-base'), []);
      assert.deepEqual(packages('@opentelemetry/exporter-trace-otlp-http'), []);
      assert.deepEqual(packages('undici'), []);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    }
  });
});
