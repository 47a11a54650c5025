import assert from 'node:assert/strict';
import { startIdp } from '../../dev/idp.js';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { listen } from '../../src/http/server.js';
import { freePort } from '../support/free-port.js';
import { CLIENT_ID, CLIENT_SECRET, SECRET, startHarness } from '../support/harness.js';
import { captureLogs } from '../support/log-capture.js';
import { startTestRedis } from '../support/redis.js';

describe('health: /healthz is liveness, /readyz says whether logins can be served', () => {
  it('answers 200 on both once the IdP metadata is loaded', async () => {
    const h = await startHarness();
    try {
      assert.equal((await fetch(`${h.url}/healthz`)).status, 200);
      const ready = await fetch(`${h.url}/readyz`);
      assert.equal(ready.status, 200);
    } finally {
      await h.close();
    }
  });

  it('starts while the IdP is down (readyz 503, logins 503), retries discovery and becomes ready by itself', async () => {
    const idpPort = await freePort();
    const bffPort = await freePort();
    const url = `http://127.0.0.1:${bffPort}`;
    const config = loadConfig(
      {
        PUBLIC_URL: url,
        OIDC_ISSUER: `http://127.0.0.1:${idpPort}`,
        OIDC_ALLOW_HTTP: 'true',
        OIDC_CLIENT_ID: CLIENT_ID,
        OIDC_CLIENT_SECRET: CLIENT_SECRET,
        API_UPSTREAM: 'http://127.0.0.1:9/',
        SESSION_STORE: 'memory',
        SESSION_SECRETS: SECRET,
      },
      () => SECRET,
    );
    const logs = captureLogs();
    const bff = createApp(config, { log: logs.log, discoveryRetry: { initialMs: 10, maxMs: 50 } });
    const listening = await listen(bff.app, '127.0.0.1', bffPort);
    let idp: Awaited<ReturnType<typeof startIdp>> | undefined;
    try {
      const notReady = await fetch(`${url}/readyz`);
      assert.equal(notReady.status, 503);
      assert.match(await notReady.text(), /identity provider/);
      const login = await fetch(`${url}/login`, { headers: { accept: 'application/json' }, redirect: 'manual' });
      assert.equal(login.status, 503);
      assert.equal(((await login.json()) as { error: string }).error, 'idp_not_ready');
      assert.equal((await fetch(`${url}/healthz`)).status, 200);

      idp = await startIdp({ port: idpPort, clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${url}/callback`] }] });
      await bff.idp.whenReady();
      assert.equal((await fetch(`${url}/readyz`)).status, 200);
      assert.equal((await fetch(`${url}/login`, { redirect: 'manual' })).status, 302);
      // One outage, a few lines: not one line per retry.
      assert.ok(logs.named('oidc.discovery_failed').length <= 3, `${logs.named('oidc.discovery_failed').length} lines`);
      assert.equal(logs.named('oidc.discovery_ok').length, 1);
    } finally {
      await listening.drain(0);
      await bff.close();
      await idp?.close();
    }
  });

  it('answers 503 while Redis is down and 200 again when it returns, logging the outage once', async () => {
    const redis = await startTestRedis();
    const h = await startHarness({ redis });
    try {
      const ua = h.browser();
      await h.login(ua);
      await redis.stop();
      assert.equal((await fetch(`${h.url}/readyz`)).status, 503);
      const api = await h.api(ua, '/x');
      assert.equal(api.status, 503);
      assert.equal(api.json<{ error: string }>().error, 'session_store_unavailable');
      assert.ok(!api.setCookies.some((c) => c.includes('Max-Age=0')), 'the session cookie must survive an outage');
      await h.api(ua, '/y');
      await redis.start();
      await h.logs.waitFor('store.recovered');
      assert.equal((await fetch(`${h.url}/readyz`)).status, 200);
      assert.equal(h.logs.named('store.unavailable').length, 1);
      assert.equal(h.logs.named('store.recovered').length, 1);
    } finally {
      await h.close();
      await redis.close();
    }
  });
});
