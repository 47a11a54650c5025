import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { frontendConfigs } from '../../src/config/frontends.js';
import { loadConfig } from '../../src/config/load.js';
import { createTestPki, writeClientKey } from '../support/certs.js';

describe('docs/several-apps.md', () => {
  it('its complete example is a valid BFF_CONFIG file: two frontends, three providers, each its own client authentication', () => {
    const page = readFileSync(new URL('../../docs/several-apps.md', import.meta.url), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(page)?.[1];
    assert.ok(example, 'no yaml example on the page');
    // The key and certificate files the example names, written where the test can.
    const pki = createTestPki();
    try {
      writeClientKey(pki.dir, 'partner', { type: 'rsa' }, 'jwk');
      copyFileSync(pki.client.certPath, join(pki.dir, 'admin-bff.crt.pem'));
      copyFileSync(pki.client.keyPath, join(pki.dir, 'admin-bff.key.pem'));
      const yaml = example.replaceAll('/etc/oidc-bff/keys/', `${pki.dir}/`);
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
      assert.deepEqual(
        configs.map((c) => [c.oidc.clientAuth, Boolean(c.oidc.assertionKey), Boolean(c.oidc.tls.clientCertificate)]),
        [
          ['client_secret_basic', false, false],
          ['private_key_jwt', true, false],
          ['tls_client_auth', false, true],
        ],
      );
    } finally {
      pki.cleanup();
    }
  });
});
