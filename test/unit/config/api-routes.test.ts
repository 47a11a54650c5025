import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { problemsOf as problemsWith, randomSecret as random, VALID_ENV } from './config-fixture.js';

// Routes come from the file each test writes: no API_UPSTREAM unless a test adds it.
const { API_UPSTREAM: _upstream, ...BASE } = VALID_ENV;

describe('API_ROUTES: a routes file validated at start, every problem at once', () => {
  let dir: string;
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const problemsOf = (env: Record<string, string>) => problemsWith({ ...BASE, ...env });
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bff-routes-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads YAML, applies the defaults, and orders routes most specific first', () => {
    const routes = file(
      'ok.yaml',
      [
        'routes:',
        '  - path: /api',
        '    upstream: http://gateway:8080/v1',
        '  - path: /api/orders',
        '    upstream: https://orders.internal',
        '    token: exchange',
        '    audience: orders-api',
        '    scopes: orders:read orders:write',
        '    timeout: 5',
        '    maxBody: 1024',
      ].join('\n'),
    );
    const c = loadConfig({ ...BASE, API_ROUTES: routes, API_TIMEOUT: '20' }, random);
    assert.deepEqual(
      c.api.routes.map((r) => [r.path, r.token, r.timeoutMs, r.maxBodyBytes]),
      [
        ['/api/orders', 'exchange', 5000, 1024],
        ['/api', 'user', 20_000, 10_485_760],
      ],
    );
    assert.deepEqual(c.api.routes[0]!.requiredScopes, ['orders:read', 'orders:write']);
  });

  it('API_UPSTREAM alone is one user route at API_PATH; both together add it as the catch-all', () => {
    const alone = loadConfig({ ...BASE, API_UPSTREAM: 'http://gateway/v1' }, random);
    assert.deepEqual(
      alone.api.routes.map((r) => [r.path, r.token, r.upstream.href]),
      [['/api', 'user', 'http://gateway/v1']],
    );
    const both = loadConfig(
      { ...BASE, API_UPSTREAM: 'http://gateway/v1', API_ROUTES: file('one.json', '[{"path":"/api/public","upstream":"http://pub","token":"none"}]') },
      random,
    );
    assert.deepEqual(
      both.api.routes.map((r) => r.path),
      ['/api/public', '/api'],
    );
  });

  it('reports every route problem at once, naming the route and field', () => {
    const routes = file(
      'bad.json',
      JSON.stringify({
        routes: [
          { path: '/api/a', upstream: 'ftp://x', token: 'user' },
          { path: 'api/b', upstream: 'http://b', token: 'superuser' },
          { path: '/api/c', upstream: 'http://c', tokn: 'user' },
          { path: '/api/d', upstream: 'http://d', timeout: 0 },
        ],
      }),
    );
    const problems = problemsOf({ API_ROUTES: routes });
    for (const expected of [/route #1 upstream/, /route #2 path/, /route #2 token/, /route #3.*tokn/, /route #4 timeout/]) {
      assert.ok(
        problems.some((p) => expected.test(p)),
        `${expected} in ${problems.join(' | ')}`,
      );
    }
  });

  it('refuses combinations that cannot work, with the reason', () => {
    const routes = file(
      'combos.json',
      JSON.stringify([
        { path: '/elsewhere', upstream: 'http://a' },
        { path: '/api/x', upstream: 'http://x', token: 'exchange' },
        { path: '/api/y', upstream: 'http://y', token: 'none', scopes: ['a'] },
        { path: '/api/z', upstream: 'http://z', token: 'user', audience: 'z' },
        { path: '/api/x', upstream: 'http://x2', token: 'none' },
        { path: '/api/r', upstream: 'http://r', resource: 'https://r.example/#frag' },
        { path: '/api/../admin', upstream: 'http://dots' },
        { path: '/api/creds', upstream: 'http://user:pw@creds' },
        { path: '/api/scopes', upstream: 'http://s', scopes: 'ok "quoted"' },
        { path: '/api/userdpop', upstream: 'http://d', token: 'user', dpop: true },
        { path: '/api/xdpop', upstream: 'http://d', token: 'exchange', audience: 'a', dpop: true },
        { path: '/api/phantom', upstream: 'http://p', token: 'phantom', resource: 'https://p.example' },
        { path: '/api/handle', upstream: 'http://h', token: 'client', handle: 'gw' },
      ]),
    );
    const problems = problemsOf({ API_ROUTES: routes });
    for (const expected of [
      /must be API_PATH \(\/api\) or lie under it/,
      /exchange needs an audience or a resource/,
      /token none sends no token/,
      /audience and scope apply to client and exchange/,
      /used by an earlier route/,
      /without a fragment/,
      /route #7 path.*no \. or \.\. segment/,
      /route #8 upstream.*without credentials/,
      /route #9 scopes: must be scope tokens/,
      /route #10 .*DPoP-bound exactly when OIDC_DPOP=true/,
      /route #11 .*needs OIDC_DPOP=true/,
      /route #12 .*token phantom sends the JWT/,
      /route #13 .*a handle stands for the session's own token/,
    ]) {
      assert.ok(
        problems.some((p) => expected.test(p)),
        `${expected} in ${problems.join(' | ')}`,
      );
    }
  });

  it('names a missing or unparsable file, and requires API_UPSTREAM or API_ROUTES', () => {
    assert.match(problemsOf({ API_ROUTES: join(dir, 'absent.yaml') }).join(), /cannot read .*absent\.yaml \(ENOENT\)/);
    assert.match(problemsOf({ API_ROUTES: file('broken.json', '{"routes": [') }).join(), /is not valid JSON/);
    assert.match(problemsOf({ API_ROUTES: file('broken.yml', 'routes: [\n  - a: b\n  c') }).join(), /is not valid YAML/);
    assert.match(problemsOf({}).join(), /API_UPSTREAM \(or an API_ROUTES file\) is required/);
  });

  it('OIDC_AUTH_PARAMS may add authorization parameters but not replace the protocol ones', () => {
    const c = loadConfig({ ...BASE, API_UPSTREAM: 'http://u', OIDC_AUTH_PARAMS: 'audience=https://api.example&foo=1' }, random);
    assert.deepEqual(c.oidc.authParams, [
      ['audience', 'https://api.example'],
      ['foo', '1'],
    ]);
    assert.match(
      problemsOf({ API_UPSTREAM: 'http://u', OIDC_AUTH_PARAMS: 'redirect_uri=https://evil&state=x&resource=https://r' }).join(),
      /must not set redirect_uri, state, resource/,
    );
  });

  it('a route that sends handles names a listed gateway client, and needs the introspection endpoint', () => {
    const routes = file('handles.json', JSON.stringify([{ path: '/api/h', upstream: 'http://h', handle: 'orders-gw' }]));
    const problems = problemsOf({ API_ROUTES: routes, GATEWAY_CLIENTS: 'other-gw:a-gateway-secret-that-is-long-enough-0123' });
    assert.ok(
      problems.some((p) => /handle names orders-gw, which is not in GATEWAY_CLIENTS/.test(p)),
      problems.join(' | '),
    );
    assert.ok(
      problems.some((p) => /handles need GATEWAY_INTROSPECTION_PATH/.test(p)),
      problems.join(' | '),
    );
    const short = problemsOf({ API_ROUTES: routes, GATEWAY_CLIENTS: 'orders-gw:short', GATEWAY_INTROSPECTION_PATH: '/gw' });
    assert.ok(
      short.some((p) => /GATEWAY_CLIENTS entry #1 \(orders-gw\): the secret needs at least 32/.test(p)),
      short.join(' | '),
    );
    assert.ok(!short.join(' ').includes('short'.padStart(6, ':')), 'the secret is never echoed');
  });

  it('OIDC_DPOP makes every token route DPoP unless the route says otherwise (a phantom JWT is a Bearer token)', () => {
    const routes = file(
      'dpop.json',
      JSON.stringify([
        { path: '/api/a', upstream: 'http://a', token: 'client', resource: 'https://a.example', dpop: false },
        { path: '/api/b', upstream: 'http://b', token: 'none' },
        { path: '/api/ph', upstream: 'http://p', token: 'phantom' },
      ]),
    );
    const c = loadConfig({ ...BASE, API_ROUTES: routes, API_UPSTREAM: 'http://u', OIDC_DPOP: 'true' }, random);
    assert.deepEqual(
      c.api.routes.map((r) => [r.path, r.dpop]),
      [
        ['/api/ph', false],
        ['/api/a', false],
        ['/api/b', false],
        ['/api', true],
      ],
    );
  });

  it('a process without a YAML routes file never loads the YAML parser (several MB of memory)', () => {
    // A fresh process: this one may have loaded yaml for another test. Modules loaded through
    // the CommonJS loader (yaml's node build) are listed in require.cache.
    const script = [
      "const { createRequire } = await import('node:module');",
      "await import('./src/app.ts');",
      'const cache = createRequire(import.meta.url).cache;',
      "process.stdout.write(String(Object.keys(cache).filter((k) => k.includes('/node_modules/yaml/')).length));",
    ].join(' ');
    const loaded = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(loaded, '0');
  });
});
