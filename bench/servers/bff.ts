// oidc-bff as it runs in production, in its own process: environment → loadConfig → createApp →
// listen, exactly like src/main.ts (the driver sets LOG_LEVEL=warn), BFF_CONFIG included: with it,
// the file's frontends are served by one dispatching app. SIGTERM drains and exits 0, so that
// `node --cpu-prof` writes its profile.
import { randomBytes } from 'node:crypto';
import { createApp } from '../../src/app.js';
import { loadFrontends } from '../../src/config/frontends.js';
import { ConfigError, loadConfig, type Config } from '../../src/config/load.js';
import { createFrontendsApp } from '../../src/frontends-app.js';
import { listen } from '../../src/http/server.js';
import { applyHeapGrowth } from '../../src/observability/heap-growth.js';
import { createLogger } from '../../src/observability/logger.js';
import { answer, exitWith, ready } from './child.js';

let config;
let frontends: Config[] | undefined;
try {
  config = loadConfig(process.env, () => randomBytes(32).toString('base64url'));
  if (config.frontendsFile) frontends = loadFrontends(config);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`oidc-bff cannot start: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
applyHeapGrowth(config.memory.heapGrowthPercent);
const log = createLogger(config.logLevel);
for (const warning of config.warnings) log.event('service.warning', { reason: warning });

const bff = frontends ? createFrontendsApp(config, frontends, { log }) : createApp(config, { log });
const listening = await listen(bff.app, config.server.host, config.server.port);
log.event('service.started', { host: config.server.host, port: listening.port, store: config.session.store, url: config.publicOrigin });

const shutdownMs = config.server.shutdownTimeoutMs;
answer();
exitWith(async () => {
  bff.readiness.draining = true;
  await listening.drain(Math.min(shutdownMs, 2000));
  await bff.close();
  await log.flush();
});
ready({ port: listening.port, store: config.session.store });
