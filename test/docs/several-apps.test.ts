import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { frontendConfigs } from '../../src/config/frontends.js';
import { loadConfig } from '../../src/config/load.js';

describe('docs/several-apps.md', () => {
  it('its complete example is a valid BFF_CONFIG file: two frontends, three providers', () => {
    const page = readFileSync(new URL('../../docs/several-apps.md', import.meta.url), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(page)?.[1];
    assert.ok(yaml, 'no yaml example on the page');
    const base = loadConfig(
      { BFF_CONFIG: '/etc/oidc-bff/frontends.yaml', SESSION_STORE: 'redis', REDIS_URL: 'redis://redis:6379', SESSION_SECRETS: 's'.repeat(40) },
      () => 'r'.repeat(43),
    );
    const configs = frontendConfigs(base, parseYaml(yaml));
    assert.deepEqual(
      configs.map((c) => [c.frontend?.id, c.frontend?.providerId, c.oidc.redirectUri]),
      [
        ['shop', 'corp', 'https://apps.example.com/shop/callback/corp'],
        ['shop', 'partner', 'https://apps.example.com/shop/callback/partner'],
        ['admin', 'staff', 'https://admin.example.com/callback'],
      ],
    );
  });
});
