import { randomBytes } from 'node:crypto';
import { createApp } from './app.js';
import { loadFrontends } from './config/frontends.js';
import { ConfigError, loadConfig, type Config } from './config/load.js';
import { createFrontendsApp, reloadFrontendsFile } from './frontends-app.js';
import { listen } from './http/server.js';
import { applyHeapGrowth } from './observability/heap-growth.js';
import { createLogger, errorFields } from './observability/logger.js';
import { startTracing } from './observability/otel.js';

/** Production entry: environment → configuration → app → listener; SIGTERM/SIGINT drain it. */
async function main(): Promise<void> {
  let config;
  let frontends: Config[] | undefined;
  try {
    config = loadConfig(process.env, () => randomBytes(32).toString('base64url'));
    // BFF_CONFIG: the file's frontends, each over the environment; its problems, all of them, are start-up problems too.
    if (config.frontendsFile) frontends = loadFrontends(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`oidc-bff cannot start: ${err.message}\nSee .env.example and docs/configuration.md.\n`);
      process.exit(2);
    }
    throw err;
  }
  applyHeapGrowth(config.memory.heapGrowthPercent);
  const log = createLogger(config.logLevel);
  for (const warning of config.warnings) log.event('service.warning', { reason: warning });

  // Signals are caught from the start: one that arrives while starting is served once started.
  let stop: ((signal: string) => Promise<void>) | undefined;
  let pending: string | undefined;
  const onSignal = (signal: string) => (stop ? void stop(signal) : (pending = signal));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  const deps = { log, tracing: await startTracing(config, log) };
  const bff = frontends ? createFrontendsApp(config, frontends, deps) : createApp(config, deps);
  const rejected = 'rejected' in bff ? bff.rejected : (code: string) => bff.metrics.rejected(code);
  // SIGHUP reloads BFF_CONFIG; one reload at a time (a signal during one is served after it).
  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    if (!('reload' in bff)) return log.event('config.reload_failed', { reason: 'SIGHUP ignored: BFF_CONFIG is not set' });
    reloading = reloading
      .then(() => reloadFrontendsFile(bff, config, log))
      .then(
        () => undefined,
        (err: unknown) => log.event('config.reload_failed', { reason: 'unexpected error', err: errorFields(err, true) }),
      );
  });
  const listening = await listen(bff.app, config.server.host, config.server.port, (status) => rejected(`http_${status}`)).catch((err: unknown) => {
    process.stderr.write(`oidc-bff cannot listen on ${config.server.host}:${config.server.port}: ${(err as Error).message}\n`);
    process.exit(1);
  });
  // The admin listener is secondary: a taken admin port is logged, and the service still runs.
  const admin =
    config.server.adminPort > 0
      ? await listen(bff.admin, config.server.adminHost, config.server.adminPort).catch((err: unknown) => {
          log.event('service.admin_unavailable', { host: config.server.adminHost, port: config.server.adminPort, err: errorFields(err, false) });
          return undefined;
        })
      : undefined;
  const url = frontends ? [...new Set(frontends.map((f) => f.publicOrigin + f.frontend!.pathPrefix))].join(' ') : config.publicOrigin;
  log.event('service.started', { host: config.server.host, port: listening.port, store: config.session.store, url });

  let stopping = false;
  stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.event('service.stopping', { reason: signal });
    bff.readiness.draining = true;
    await Promise.all([listening.drain(config.server.shutdownTimeoutMs), admin?.drain(1000)]);
    await bff.close();
    log.event('service.stopped', {});
    await log.flush();
    process.exit(0);
  };
  if (pending) void stop(pending);
}

await main();
