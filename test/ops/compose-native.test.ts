import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { loadConfig } from '../../src/config/load.js';
import { formatReport, planNative, runComposeNatively } from '../../scripts/compose-native-lib.js';
import { readCompose, readDockerfile } from '../../scripts/container-files.js';

/**
 * docker-compose.yml cannot be started here (no Docker engine), so `npm run compose:native`
 * starts the very same services from it as local processes and runs a whole login through them.
 */
describe('compose:native: docker-compose.yml run as local processes', () => {
  const vars = { SESSION_SECRETS: randomBytes(32).toString('base64url') };

  it('rewrites only host names and ports, the same port the same way everywhere', async () => {
    const compose = readCompose(vars);
    const plan = await planNative(compose, readDockerfile(), { bff: 'source' });
    try {
      const services = new Set(Object.keys(compose.services));
      const local = new Set(plan.ports.values());
      assert.equal(local.size, plan.ports.size, 'one local port per compose port');
      for (const s of plan.services) {
        const original = compose.services[s.name]!.environment;
        for (const [key, value] of Object.entries(original)) {
          const rewritten = s.env[key];
          assert.ok(rewritten !== undefined, `${s.name}: ${key} kept`);
          // Undo the rewriting: the value must come back exactly (nothing else changed).
          let undone = rewritten.replace(/\b127\.0\.0\.1\b/g, '@HOST@');
          for (const [from, to] of plan.ports) undone = undone.replace(new RegExp(`\\b${to}\\b`, 'g'), String(from));
          const expected = value
            .replace(/\b(127\.0\.0\.1|0\.0\.0\.0)\b/g, '@HOST@')
            .replace(new RegExp(`(?<=//)(${[...services].join('|')})(?=:)`, 'g'), '@HOST@');
          const expectedHostVar = /(^|_)HOST$/.test(key) && (services.has(value) || value === '0.0.0.0') ? '@HOST@' : expected;
          assert.equal(undone, expectedHostVar, `${s.name}: ${key}=${value} became ${rewritten}`);
          for (const name of services) assert.doesNotMatch(rewritten, new RegExp(`//${name}[:/]`), `${s.name}: ${key} still names service ${name}`);
          assert.doesNotMatch(rewritten, /\b0\.0\.0\.0\b/, `${s.name}: ${key} still binds every interface`);
        }
      }
      // The BFF's rewritten environment is still a configuration it accepts, pointing at the local ports.
      const bff = plan.services.find((s) => s.name === 'bff')!;
      const config = loadConfig(bff.env, () => 'x'.repeat(43));
      assert.equal(config.redis.connection?.kind === 'url' && new URL(config.redis.connection.url).port, String(plan.ports.get(6379)));
      assert.equal(config.api.routes[0]!.upstream.host, `127.0.0.1:${plan.ports.get(4002)}`);
      assert.equal(config.oidc.issuer.host, `127.0.0.1:${plan.ports.get(4001)}`);
      assert.equal(config.server.port, plan.ports.get(3000));
      assert.equal(config.server.host, '127.0.0.1');
      const idp = plan.services.find((s) => s.name === 'idp')!;
      assert.equal(idp.env['IDP_ISSUER'], bff.env['OIDC_ISSUER']);
      assert.equal(idp.env['IDP_REDIRECT_URI'], `${config.publicOrigin}/callback`);
      assert.deepEqual(plan.services.find((s) => s.name === 'bff')!.argv.slice(1), ['--import', 'tsx', 'src/main.ts']);
    } finally {
      rmSync(plan.dataDir, { recursive: true, force: true });
    }
  });

  it('starts redis, the IdP, the API and the BFF, logs in, calls the API, logs out and stops them all with exit code 0', async function () {
    this.timeout(30_000);
    const report = await runComposeNatively({ vars, bff: 'source' });
    const text = formatReport(report);
    assert.ok(report.ok, text);
    assert.deepEqual(report.services.map((s) => s.name).sort(), ['api', 'bff', 'idp', 'redis']);
    for (const s of report.services) {
      assert.equal(s.exitCode, 0, `${s.name} exited ${s.exitCode ?? s.signal}\n${text}`);
      assert.equal(s.signal, null);
    }
    // depends_on: the BFF started only after redis, idp and api were healthy.
    const bff = report.services.find((s) => s.name === 'bff')!;
    for (const dep of ['redis', 'idp', 'api']) {
      const d = report.services.find((s) => s.name === dep)!;
      assert.ok(
        d.healthyAtMs !== undefined && bff.startedAtMs !== undefined && d.healthyAtMs <= bff.startedAtMs,
        `bff started before ${dep} was healthy\n${text}`,
      );
    }
    assert.ok(
      report.steps.some((s) => s.ok && /stored in Redis/.test(s.name)),
      text,
    );
    assert.ok(report.durationMs < 30_000, text);
  });

  it('refuses to start without SESSION_SECRETS, as docker compose does', async () => {
    const report = await runComposeNatively({ vars: {} });
    assert.equal(report.ok, false);
    assert.match(report.error ?? '', /SESSION_SECRETS/);
    assert.deepEqual(report.services, [], 'nothing was started');
  });
});
