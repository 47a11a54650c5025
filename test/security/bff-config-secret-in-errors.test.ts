import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFrontends } from '../../src/config/frontends.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { randomSecret } from '../unit/config/config-fixture.js';

const SECRET = 'Sup3rS3cretValue-never-printed';

describe('BFF_CONFIG that does not parse: the problem never quotes the file (it holds client secrets)', () => {
  it('an unquoted clientSecret in a JSON file: the start-up error and the SIGHUP log name the file, not the secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bff-config-secret-'));
    try {
      const file = join(dir, 'frontends.json');
      // A common slip: the secret pasted without quotes.
      writeFileSync(file, `{"providers": {"corp": {"issuer": "https://login.corp.example", "clientId": "shop", "clientSecret": ${SECRET}}}}`);
      const base = loadConfig({ BFF_CONFIG: file, SESSION_STORE: 'redis', REDIS_URL: 'redis://127.0.0.1:6379', SESSION_SECRETS: 's'.repeat(40) }, randomSecret);
      let problems: readonly string[] = [];
      try {
        loadFrontends(base);
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        problems = err.problems;
      }
      assert.equal(problems.length, 1, 'the file is refused');
      assert.match(problems[0]!, /BFF_CONFIG: cannot read .*frontends\.json/);
      for (const part of [SECRET.slice(0, 6), SECRET.slice(6, 12), SECRET.slice(-6)])
        assert.ok(!problems[0]!.includes(part), `the problem quotes the secret: ${problems[0]}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
