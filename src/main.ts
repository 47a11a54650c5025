import { randomBytes } from 'node:crypto';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config/load.js';
import { listen } from './http/server.js';
import { createLogger, errorFields } from './observability/logger.js';
import { startTracing } from './observability/otel.js';

/** Production entry: environment → configuration → app → listener; SIGTERM/SIGINT drain it. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, () => randomBytes(32).toString('base64url'));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`oidc-bff cannot start: ${err.message}\nSee .env.example and the README's configuration table.\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  for (const warning of config.warnings) log.event('service.warning', { reason: warning });

  const bff = createApp(config, { log, tracing: await startTracing(config, log) });
  const listening = await listen(bff.app, config.server.host, config.server.port, (status) => bff.metrics.rejected(`http_${status}`));
  // The admin listener is secondary: a taken admin port is logged, and the service still runs.
  const admin = config.server.adminPort > 0
    ? await listen(bff.admin, config.server.adminHost, config.server.adminPort).catch((err: unknown) => {
      log.event('service.admin_unavailable', { host: config.server.adminHost, port: config.server.adminPort, err: errorFields(err, false) });
      return undefined;
    })
    : undefined;
  log.event('service.started', { host: config.server.host, port: listening.port, store: config.session.store, url: config.publicOrigin });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.event('service.stopping', { reason: signal });
    bff.readiness.draining = true;
    await Promise.all([listening.drain(config.server.shutdownTimeoutMs), admin?.drain(1000)]);
    await bff.close();
    log.event('service.stopped', {});
    log.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

await main();
