import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { SETTINGS } from '../../src/config/schema.js';
import {
  InterpolationError,
  ROOT,
  dockerIgnored,
  networkOwner,
  parseCompose,
  parsePort,
  readCompose,
  readDockerfile,
  readDockerignore,
  resolveStage,
  type ComposeFile,
  type ComposeService,
  type DockerStage,
} from '../../scripts/container-files.js';

/**
 * No Docker engine runs in CI, so the container files are proven by reading them: the compose
 * file's BFF configuration is a configuration the BFF accepts, the ports and health checks are
 * where an operator expects them, and the image runs as a non-root user without devDependencies.
 */
describe('container files: Dockerfile, docker-compose.yml, .dockerignore', () => {
  const SECRET = 'a-session-secret-only-for-this-test-0123456789';
  const known = new Set<string>(SETTINGS.map((s) => s.name));
  const defaults = Object.fromEntries(SETTINGS.map((s) => [s.name, s.default])) as Record<string, string>;
  let compose: ComposeFile;
  let stages: DockerStage[];
  let bff: ComposeService;
  /** The bff's environment with every default filled in, as the BFF sees it. */
  let bffEnv: Record<string, string>;

  before(() => {
    compose = readCompose({ SESSION_SECRETS: SECRET });
    stages = readDockerfile();
    bff = compose.services['bff']!;
    assert.ok(bff, 'docker-compose.yml has a bff service');
    bffEnv = { ...defaults, ...bff.environment };
  });

  const runtimeStageOf = (service: ComposeService) => resolveStage(stages, service.build?.target);
  const setting = (name: string) => bffEnv[name] ?? '';

  describe('the bff service', () => {
    it('sets only variables of the configuration table (a typo fails here)', () => {
      const names = Object.keys(bff.environment);
      assert.ok(names.length > 0, 'an explicit environment block');
      const unknown = names.filter((n) => !known.has(n));
      assert.deepEqual(unknown, [], `not configuration variables (see src/config/schema.ts): ${unknown.join(', ')}`);
      assert.equal(bff.raw['env_file'], undefined, 'no env_file: every variable is visible (and checked) here');
    });

    it('is a configuration the BFF accepts (loadConfig, with SESSION_SECRETS as compose interpolates it)', () => {
      let config;
      try {
        config = loadConfig(bff.environment, () => 'never-used-because-secrets-are-set-0123456789');
      } catch (err) {
        assert.fail(err instanceof ConfigError ? err.message : String(err));
      }
      assert.equal(config.session.store, 'redis');
      assert.deepEqual(config.session.secrets, [SECRET]);
      assert.equal(config.redis.connection?.kind, 'url');
    });

    it('requires SESSION_SECRETS from the environment instead of shipping a default secret', () => {
      assert.throws(
        () => readCompose({}),
        (err: unknown) => err instanceof InterpolationError && err.variable === 'SESSION_SECRETS',
      );
      const raw = parseCompose(readFileText('docker-compose.yml'));
      assert.match(raw.services['bff']!.environment['SESSION_SECRETS'] ?? '', /^\$\{SESSION_SECRETS:\?[^}]+\}$/);
    });

    it('has a health check (compose or the image HEALTHCHECK) that probes /healthz with node, not curl', () => {
      const test = bff.healthcheck?.test ?? runtimeStageOf(bff).healthcheck?.test;
      assert.ok(test && test.length > 0, 'bff has a health check');
      assert.equal(test[0], 'node', `the slim image has no curl: ${test.join(' ')}`);
      assert.match(test.join(' '), /\/healthz\b/);
      assert.match(test.join(' '), /process\.env\.PORT/, 'follows PORT');
    });

    it('waits for a healthy Redis (and the demo IdP and API)', () => {
      assert.deepEqual(bff.dependsOn['redis'], { condition: 'service_healthy' });
      for (const [name, dep] of Object.entries(bff.dependsOn)) {
        assert.ok(compose.services[name], `depends on an existing service ${name}`);
        if (dep.condition === 'service_healthy') assert.ok(compose.services[name]!.healthcheck?.test, `${name} has a health check to wait for`);
      }
    });

    it('publishes the public port, and the admin port on the host loopback only', () => {
      const owner = networkOwner(compose, bff);
      if (owner !== bff) assert.deepEqual(bff.ports, [], 'a service sharing another network namespace cannot publish ports');
      const port = Number(setting('PORT'));
      const admin = Number(setting('ADMIN_PORT'));
      const publicPorts = owner.ports.filter((p) => p.target === port);
      assert.ok(publicPorts.length > 0, `port ${port} (PORT) is published (on ${owner.name})`);
      const publicUrl = new URL(setting('PUBLIC_URL'));
      const browserPort = Number(publicUrl.port || (publicUrl.protocol === 'https:' ? 443 : 80));
      assert.ok(
        publicPorts.some((p) => p.published === browserPort),
        `PUBLIC_URL ${publicUrl.origin} reaches the published port`,
      );
      assert.equal(setting('HOST'), '0.0.0.0', 'HOST binds every interface inside the container');

      assert.ok(admin > 0, 'the admin listener is on');
      const adminPorts = owner.ports.filter((p) => p.target === admin);
      assert.ok(adminPorts.length > 0, `admin port ${admin} is published (on ${owner.name})`);
      for (const p of adminPorts) assert.equal(p.hostIp, '127.0.0.1', `admin port published on ${p.hostIp ?? 'every interface'}`);
      // Docker forwards published ports to the container's interface, not its loopback.
      assert.equal(setting('ADMIN_HOST'), '0.0.0.0', 'ADMIN_HOST must be 0.0.0.0 inside the container to be reachable through the published port');
      // No other service publishes the admin port to the world either.
      for (const s of Object.values(compose.services)) {
        for (const p of s.ports) if (p.published === admin) assert.equal(p.hostIp, '127.0.0.1', `${s.name} publishes ${admin} beyond loopback`);
      }
    });

    it('gets more time to stop than SHUTDOWN_TIMEOUT, so in-flight requests can finish before SIGKILL', () => {
      const shutdownMs = Number(setting('SHUTDOWN_TIMEOUT')) * 1000;
      const graceMs = bff.stopGracePeriodMs ?? 10_000; // compose's default
      assert.ok(graceMs > shutdownMs, `stop_grace_period ${graceMs} ms must exceed SHUTDOWN_TIMEOUT ${shutdownMs} ms`);
    });

    it("runs the production image (the Dockerfile's last stage) with its own CMD", () => {
      assert.equal(bff.build?.target, stages.at(-1)!.name, 'bff builds the last stage, which `docker build .` also builds');
      assert.equal(bff.command, undefined, 'no command override: the image CMD runs');
    });
  });

  describe('the demo IdP and the BFF agree', () => {
    it('on one issuer URL that both the browser and the BFF can reach', () => {
      const idp = compose.services['idp']!;
      const issuer = new URL(setting('OIDC_ISSUER'));
      assert.equal(idp.environment['IDP_ISSUER'], setting('OIDC_ISSUER'), 'the IdP announces the issuer the BFF expects');
      const published = idp.ports.find((p) => p.target === Number(idp.environment['IDP_PORT']));
      assert.ok(published, 'the IdP port is published for the browser');
      assert.equal(published.published, Number(issuer.port), 'the browser reaches the issuer port on the host');
      assert.equal(published.hostIp, '127.0.0.1', 'the demo IdP (any password) is published on the host loopback only');
      if (['127.0.0.1', 'localhost'].includes(issuer.hostname)) {
        assert.equal(networkOwner(compose, bff).name, 'idp', "a loopback issuer works for the BFF only inside the IdP's network namespace");
      }
    });

    it('on the client and its redirect URIs', () => {
      const idp = compose.services['idp']!.environment;
      assert.equal(idp['IDP_CLIENT_ID'], setting('OIDC_CLIENT_ID'));
      assert.equal(idp['IDP_CLIENT_SECRET'], setting('OIDC_CLIENT_SECRET'));
      const origin = new URL(setting('PUBLIC_URL')).origin;
      assert.ok((idp['IDP_REDIRECT_URI'] ?? '').split(',').includes(origin + setting('CALLBACK_PATH')), 'redirect_uri = PUBLIC_URL + CALLBACK_PATH');
      assert.ok(
        (idp['IDP_POST_LOGOUT_REDIRECT_URI'] ?? '').split(',').includes(origin + setting('LOGOUT_CALLBACK_PATH')),
        'post_logout_redirect_uri = PUBLIC_URL + LOGOUT_CALLBACK_PATH',
      );
    });

    it('on where the API and Redis are', () => {
      const api = compose.services['api']!;
      const upstream = new URL(setting('API_UPSTREAM'));
      assert.equal(upstream.hostname, 'api');
      assert.equal(upstream.port, api.environment['DEMO_API_PORT']);
      const redis = new URL(setting('REDIS_URL'));
      assert.equal(redis.hostname, 'redis');
      const redisCommand = compose.services['redis']!.command ?? [];
      assert.equal(redisCommand[redisCommand.indexOf('--port') + 1] ?? '6379', redis.port || '6379');
    });
  });

  describe('the other services', () => {
    it('redis: persistent (appendonly, a named volume) and health-checked with redis-cli ping', () => {
      const redis = compose.services['redis']!;
      assert.match(redis.image ?? '', /^redis:7(-|\.|$)/);
      assert.deepEqual(redis.command?.slice(redis.command.indexOf('--appendonly'), redis.command.indexOf('--appendonly') + 2), ['--appendonly', 'yes']);
      const volumes = (redis.raw['volumes'] as string[] | undefined) ?? [];
      const named = volumes.map((v) => v.split(':')[0]!).filter((v) => !v.startsWith('.') && !v.startsWith('/'));
      assert.ok(named.length > 0, 'a named volume');
      for (const v of named) assert.ok(v in ((compose.raw['volumes'] as Record<string, unknown> | undefined) ?? {}), `volume ${v} is declared`);
      assert.equal(redis.healthcheck?.test?.[0], 'redis-cli');
      assert.ok(redis.healthcheck?.test?.includes('ping'));
    });

    it('idp and api run the demo servers from the dev target (oidc-provider is a devDependency)', () => {
      assert.ok(
        stages.some((s) => s.name === 'dev'),
        'the Dockerfile has a dev target',
      );
      for (const [name, script] of [
        ['idp', 'dev/idp-server.ts'],
        ['api', 'dev/demo-upstream-server.ts'],
      ] as const) {
        const s = compose.services[name]!;
        assert.equal(s.build?.target, 'dev', name);
        assert.deepEqual(s.command, ['node', '--import', 'tsx', script], name);
        assert.ok(existsSync(join(ROOT, script)), `${script} exists`);
        assert.ok(s.healthcheck?.test, `${name} has a health check`);
      }
    });
  });

  describe('the Dockerfile', () => {
    it('builds on node:20-bookworm-slim in every stage', () => {
      for (const s of stages) {
        assert.ok(s.from === 'node:20-bookworm-slim' || stages.some((p) => p.name === s.from), `${s.name}: FROM ${s.from}`);
      }
    });

    it('runtime: a non-root USER, NODE_ENV=production, tini as PID 1, ports 3000 and 9090, CMD node dist/src/main.js', () => {
      const runtime = runtimeStageOf(bff);
      assert.ok(runtime.user, 'the runtime stage sets USER');
      assert.ok(!['root', '0', '0:0'].includes(runtime.user.split(':')[0]!), `USER ${runtime.user} is root`);
      assert.equal(runtime.env['NODE_ENV'], 'production');
      assert.deepEqual(runtime.cmd, ['node', 'dist/src/main.js']);
      assert.deepEqual(runtime.entrypoint, ['/usr/bin/tini', '--']);
      assert.ok(
        runtime.stage.instructions.some((i) => i.keyword === 'RUN' && /apt-get install\b.*\btini\b/.test(i.args)),
        'tini is installed in the runtime stage',
      );
      assert.deepEqual([...runtime.exposed].sort(), [3000, 9090]);
      assert.ok(runtime.healthcheck?.test, 'the image has a HEALTHCHECK');
    });

    it('runtime: copies only dist/src, views/, production node_modules and package.json', () => {
      const runtime = runtimeStageOf(bff);
      const copies = runtime.stage.instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD');
      const sources: string[] = [];
      for (const c of copies) {
        assert.equal(c.keyword, 'COPY', 'no ADD');
        const words = c.args.split(' ').filter((w) => !w.startsWith('--chown') && !w.startsWith('--chmod') && !w.startsWith('--link'));
        const from = words[0]?.startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
        const src = words.slice(0, -1);
        for (const s of src) {
          assert.ok(!['.', './', '/app', '/app/'].includes(s), `COPY ${c.args}: copies a whole tree`);
          sources.push(`${from ? `${from}:` : ''}${s.replace(/^\/app\//, '')}`);
        }
      }
      const allowed = [/^(\w+:)?package\.json$/, /^(\w+:)?node_modules$/, /^(\w+:)?dist(\/src)?$/, /^views$/];
      for (const s of sources)
        assert.ok(
          allowed.some((re) => re.test(s)),
          `runtime copies ${s}`,
        );
      assert.ok(sources.some((s) => /node_modules$/.test(s)) && sources.some((s) => /dist/.test(s)) && sources.includes('views'));
    });

    it('runtime: its node_modules come from a stage that pruned the devDependencies after installing', () => {
      const runtime = runtimeStageOf(bff);
      const copy = runtime.stage.instructions.find((i) => i.keyword === 'COPY' && /node_modules/.test(i.args));
      assert.ok(copy, 'node_modules are copied');
      const fromName = /--from=(\S+)/.exec(copy.args)?.[1];
      assert.ok(fromName, 'node_modules come from a build stage, not the build context');
      // Every RUN of that stage and the stages it is built on, in order.
      const runs = resolveStage(stages, fromName)
        .chain.reverse()
        .flatMap((s) => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args));
      const lastInstall = findLastIndex(runs, (r) => /\bnpm (ci|install|i)\b/.test(r) && !/--omit=dev/.test(r));
      const lastPrune = findLastIndex(runs, (r) => /\bnpm prune\b.*--omit=dev|\bnpm (ci|install)\b.*--omit=dev/.test(r));
      assert.ok(lastPrune !== -1, `stage ${fromName} never prunes devDependencies`);
      assert.ok(lastPrune >= lastInstall, 'devDependencies are pruned after the last full install');
      const pruneRun = runs[lastPrune]!;
      if (lastPrune === lastInstall) assert.ok(pruneRun.indexOf('npm prune') > pruneRun.search(/\bnpm (ci|install)\b/));
      assert.ok(
        !runtime.stage.instructions.some((i) => i.keyword === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args) && !/--omit=dev/.test(i.args)),
        'the runtime stage installs no devDependencies itself',
      );
    });

    it('everything the Dockerfile COPYs from the build context exists and is not .dockerignored', () => {
      const ignore = readDockerignore();
      for (const s of stages) {
        for (const i of s.instructions.filter((x) => x.keyword === 'COPY' && !/--from=/.test(x.args))) {
          const words = i.args.split(' ').filter((w) => !w.startsWith('--'));
          for (const src of words.slice(0, -1)) {
            assert.ok(existsSync(join(ROOT, src)), `line ${i.line}: ${src} does not exist`);
            assert.ok(!dockerIgnored(ignore, src), `line ${i.line}: ${src} is excluded by .dockerignore`);
          }
        }
      }
    });
  });

  describe('.dockerignore', () => {
    it('keeps local installs, builds, secrets and VCS data out of the build context', () => {
      const ignore = readDockerignore();
      for (const path of [
        'node_modules',
        'node_modules/koa/package.json',
        'dist/src/main.js',
        '.env',
        '.git/config',
        'coverage/index.html',
        'bench/results/x.json',
        'npm-debug.log',
      ]) {
        assert.ok(dockerIgnored(ignore, path), `${path} reaches the build context`);
      }
      for (const path of ['package.json', 'package-lock.json', 'src/main.ts', 'dev/idp-server.ts', 'views/error.eta', 'tsconfig.build.json']) {
        assert.ok(!dockerIgnored(ignore, path), `${path} is needed by the build but ignored`);
      }
    });
  });

  describe('the readers themselves', () => {
    it('parse compose port syntaxes', () => {
      assert.deepEqual(parsePort('127.0.0.1:9090:9090'), { hostIp: '127.0.0.1', published: 9090, target: 9090, protocol: 'tcp' });
      assert.deepEqual(parsePort('3000:3000'), { hostIp: undefined, published: 3000, target: 3000, protocol: 'tcp' });
      assert.deepEqual(parsePort('3000'), { hostIp: undefined, published: undefined, target: 3000, protocol: 'tcp' });
      assert.deepEqual(parsePort('[::1]:80:8080/udp'), { hostIp: '::1', published: 80, target: 8080, protocol: 'udp' });
      assert.deepEqual(parsePort({ target: 9090, published: '9090', host_ip: '127.0.0.1' }), {
        hostIp: '127.0.0.1',
        published: 9090,
        target: 9090,
        protocol: 'tcp',
      });
    });

    it('apply .dockerignore rules as Docker does (later rules win, ! re-includes, ** for any depth)', () => {
      const rules = ['node_modules', '**/*.log', '.env*', '!.env.example', 'dist'];
      assert.ok(dockerIgnored(rules, 'a/b/c.log'));
      assert.ok(dockerIgnored(rules, 'x.log'));
      assert.ok(dockerIgnored(rules, '.env.local'));
      assert.ok(!dockerIgnored(rules, '.env.example'));
      assert.ok(dockerIgnored(rules, 'dist/src/main.js'));
      assert.ok(!dockerIgnored(rules, 'src/dist.ts'));
      assert.ok(!dockerIgnored(['*.log'], 'a/b.log'), 'a bare * does not cross directories');
    });
  });
});

function readFileText(relative: string): string {
  return readFileSync(join(ROOT, relative), 'utf8');
}

function findLastIndex<T>(items: readonly T[], test: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (test(items[i]!)) return i;
  return -1;
}
