import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../../src/config/schema.js';
import { freePort } from '../support/free-port.js';
import { UserAgent } from '../support/user-agent.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const API_ANSWER_KEYS = ['message', 'path', 'method', 'receivedBearerToken', 'tokenLength', 'tokenSubject', 'tokenExpiresAt', 'time'];

/** `npm run dev` minus npm: the IdP, the demo API and the BFF with its demo page, as a developer starts them. */
describe('npm run dev (dev/run.ts)', () => {
  let child: ChildProcess | undefined;
  let output = '';
  let url: string;
  let idpPort: number;
  const ua = new UserAgent();

  before(async function () {
    this.timeout(60_000); // first start compiles the TypeScript and generates the IdP's RSA key
    const [port, idp, api] = [await freePort(), await freePort(), await freePort()];
    idpPort = idp;
    url = `http://127.0.0.1:${port}`;
    // Only the dev defaults and our ports: no BFF setting of the outer environment (REDIS_URL in CI...) leaks in.
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const s of SETTINGS) delete env[s.name];
    Object.assign(env, { PORT: String(port), DEV_IDP_PORT: String(idp), DEV_API_PORT: String(api), PUBLIC_URL: url });

    const started = spawn(process.execPath, ['--import', 'tsx', 'dev/run.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (/^Open http\S+ /m.test(output)) resolve();
      };
      started.stdout!.on('data', onData);
      started.stderr!.on('data', onData);
      started.once('error', reject);
      started.once('exit', (code, signal) => reject(new Error(`dev/run.ts exited (${code ?? signal}) before it was ready:\n${output}`)));
    });
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  });

  it('prints the URL to open and one WARNING line per development-only default', () => {
    assert.ok(output.includes(`Open ${url} and sign in with any username and password.`), output);
    const warnings = output.split('\n').filter((line) => line.startsWith('WARNING: '));
    assert.ok(
      warnings.some((w) => w.includes('SESSION_STORE=memory')),
      output,
    );
    assert.ok(
      warnings.some((w) => w.includes('development IdP') && w.includes('any username and password')),
      output,
    );
    assert.ok(
      warnings.some((w) => w.includes('OIDC_ALLOW_HTTP=true')),
      output,
    );
  });

  it('serves the demo page at / with a CSP that allows exactly its inline script', async () => {
    const page = await ua.get(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    const scripts = [...page.text.matchAll(/<script>([\s\S]*?)<\/script>/g)];
    assert.equal(scripts.length, 1);
    const hash = createHash('sha256').update(scripts[0]![1]!, 'utf8').digest('base64');
    assert.ok(csp.includes(`script-src 'sha256-${hash}'`), csp);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.ok(page.text.includes('/login?returnTo=/'));
    assert.doesNotMatch(page.text, /\bsrc="https?:|href="https?:/, 'no external resource');

    assert.equal((await ua.post(`${url}/`)).status, 404, 'only GET / is the page');
    assert.equal((await ua.get(`${url}/other`)).status, 404);
  });

  it('serves the FusionAuth React SDK demo at /sdk/ (the bundled app) with the SDK routes on, ending logins there', async () => {
    assert.ok(output.includes(`FusionAuth React SDK demo  ${url}/sdk/`), output);
    const page = await ua.get(`${url}/sdk/`);
    assert.equal(page.status, 200);
    assert.match(page.text, /<script type="module" src="\/sdk\/app.js">/);
    const script = await ua.get(`${url}/sdk/app.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /javascript/);
    assert.ok(script.text.includes('/app/login/'), 'the bundle is the SDK app');
    const sdkUa = new UserAgent();
    const { callback } = await sdkUa.login(`${url}/app/login/?client_id=dev-spa&redirect_uri=${encodeURIComponent(`${url}/sdk/`)}&state=s`, {
      username: 'demo',
      stopAtOrigin: url,
    });
    assert.equal(callback.headers.get('location'), `${url}/sdk/?state=s`);
  });

  it('signs in through the dev IdP, calls the demo API without exposing the token, signs out', async () => {
    const { callback } = await ua.login(`${url}/login?returnTo=/`, { username: 'demo', stopAtOrigin: url });
    assert.equal(callback.status, 302);
    assert.equal(new URL(callback.headers.get('location') ?? '', url).href, `${url}/`);

    const session = await ua.get(`${url}/session`);
    assert.equal(session.status, 200);
    assert.equal(session.json<{ claims: { sub: string } }>().claims.sub, 'demo');

    const api = await ua.get(`${url}/api/hello`, { headers: { 'X-CSRF': '1' } });
    assert.equal(api.status, 200, api.text);
    const answer = api.json<Record<string, unknown>>();
    assert.deepEqual(Object.keys(answer).sort(), [...API_ANSWER_KEYS].sort());
    assert.equal(answer['receivedBearerToken'], true);
    assert.equal(answer['path'], '/hello');
    assert.equal(answer['method'], 'GET');
    assert.ok(typeof answer['tokenLength'] === 'number' && answer['tokenLength'] > 0);
    for (const [key, value] of Object.entries(answer)) {
      assert.ok(String(value).length <= 256, `${key} is ${String(value).length} characters: the answer must describe the token, not carry it`);
    }

    const refreshed = await ua.post(`${url}/refresh`, { headers: { 'X-CSRF': '1' } });
    assert.equal(refreshed.status, 200, refreshed.text);

    const logout = await ua.post(`${url}/logout`, { headers: { 'X-CSRF': '1' } });
    assert.equal(logout.status, 200);
    const { logoutUrl } = logout.json<{ logoutUrl: string }>();
    assert.equal(new URL(logoutUrl).origin, `http://127.0.0.1:${idpPort}`, 'logout ends the IdP session too');
    assert.equal((await ua.get(`${url}/session`)).status, 401);
  });

  it('stops cleanly with exit code 0 on SIGTERM', async () => {
    const started = child!;
    const exited = once(started, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    started.kill('SIGTERM');
    const [code, signal] = await exited;
    assert.equal(signal, null, output);
    assert.equal(code, 0, output);
  });
});
