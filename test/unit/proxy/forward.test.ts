import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { loadConfig } from '../../../src/config/load.js';
import { BffError } from '../../../src/errors/bff-error.js';
import { errorHandler } from '../../../src/http/error-handler.js';
import { requestContext } from '../../../src/http/request-context.js';
import { requestHandler } from '../../../src/http/request-handler.js';
import { ConcurrencyGate } from '../../../src/proxy/concurrency-gate.js';
import { createForwarder } from '../../../src/proxy/forward.js';
import { cookieNames } from '../../../src/session/cookie-names.js';
import type { BffState } from '../../../src/web/context.js';
import { randomSecret, VALID_ENV } from '../config/config-fixture.js';
import { captureLogs } from '../../support/log-capture.js';

describe('API proxy: a failure just before the answer’s headers go out', () => {
  let upstream: http.Server | undefined;
  let bff: http.Server | undefined;
  afterEach(async () => {
    for (const server of [bff, upstream]) {
      server?.closeAllConnections();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    }
  });

  it('is answered as an error the client receives, not left without a response (the client does not hang)', async () => {
    upstream = http.createServer((_req, res) => res.end('{"ok":true}'));
    await new Promise<void>((resolve) => upstream!.listen(0, '127.0.0.1', resolve));
    const config = loadConfig({ ...VALID_ENV, API_UPSTREAM: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1` }, randomSecret);
    const { log } = captureLogs();
    const forwarder = createForwarder(config.api.routes[0]!, {
      config,
      cookies: cookieNames(config),
      log,
      gate: new ConcurrencyGate(10, 10),
      routeGate: new ConcurrencyGate(10, 10),
      // What the refresher's carryNewest can do: a newer token set that no longer fits the cookie.
      beforeResponse: () => {
        throw new BffError('session_too_large', { detail: 'the newer token set does not fit' });
      },
    });
    const app = new Koa<BffState>();
    app.silent = true;
    app.use(requestContext(config, log)).use(errorHandler(config, log)).use(forwarder.step);
    bff = http.createServer(requestHandler(app));
    await new Promise<void>((resolve) => bff!.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(bff.address() as AddressInfo).port}/api/things`, { signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 500);
      assert.equal(((await res.json()) as { error: string }).error, 'session_too_large');
    } finally {
      await forwarder.close();
    }
  });
});
