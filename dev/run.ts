// `npm run dev`: the development IdP, a demo API and the BFF with a demo page, in one process.
// Development defaults sit UNDER process.env, so any variable of docs/configuration.md can be overridden.
import { randomBytes } from 'node:crypto';
import pretty from 'pino-pretty';
import { createApp } from '../src/app.js';
import { ConfigError, loadConfig, type Config } from '../src/config/load.js';
import { listen } from '../src/http/server.js';
import { createLogger } from '../src/observability/logger.js';
import { demoPage } from './demo-page.js';
import { sdkPage } from './fusionauth-sdk-page.js';
import { startDemoUpstream } from './demo-upstream.js';
import { startIdp } from './idp.js';

const DEV_CLIENT_SECRET = 'dev-spa-secret-known-only-to-the-embedded-development-idp';

function devPort(name: string, fallback: number): number {
  const raw = process.env[name]?.trim() || String(fallback);
  const n = Number(raw);
  if (/^\d+$/.test(raw) && n >= 1 && n <= 65535) return n;
  return fail(2, `cannot start: ${name} must be a port number 1-65535, got "${raw}"`);
}

function fail(code: number, message: string): never {
  process.stderr.write(`npm run dev: ${message}\n`);
  process.exit(code);
}

function loadDevConfig(idpIssuer: string, apiPort: number): Config {
  const port = process.env['PORT']?.trim() || '3000';
  const publicUrl = process.env['PUBLIC_URL']?.trim() || `http://localhost:${port}`;
  const env = {
    PUBLIC_URL: publicUrl,
    // The FusionAuth React SDK demo at /sdk/ (dev/fusionauth-sdk-page.ts).
    FUSIONAUTH_SDK: 'true',
    FUSIONAUTH_SDK_REDIRECT_URIS: sdkDemoUrl(publicUrl),
    HOST: '127.0.0.1',
    PORT: port,
    OIDC_ISSUER: idpIssuer,
    OIDC_CLIENT_ID: 'dev-spa',
    OIDC_CLIENT_SECRET: DEV_CLIENT_SECRET,
    OIDC_ALLOW_HTTP: 'true',
    API_UPSTREAM: `http://127.0.0.1:${apiPort}`,
    SESSION_STORE: 'memory',
    LOG_LEVEL: 'info',
    ...process.env,
  };
  try {
    return loadConfig(env, () => randomBytes(32).toString('base64url'));
  } catch (err) {
    if (err instanceof ConfigError) fail(2, `cannot start: ${err.message}`);
    throw err;
  }
}

/** Where the SDK demo page lives: on the BFF's own origin. */
function sdkDemoUrl(publicUrl: string): string {
  try {
    return `${new URL(publicUrl).origin}/sdk/`;
  } catch {
    return 'http://localhost/sdk/'; // PUBLIC_URL itself is reported by loadConfig
  }
}

async function main(): Promise<void> {
  const idpPort = devPort('DEV_IDP_PORT', 4001);
  const apiPort = devPort('DEV_API_PORT', 4002);
  const devIssuer = `http://127.0.0.1:${idpPort}`;
  const config = loadDevConfig(devIssuer, apiPort);
  const usesDevIdp = config.oidc.issuer.href === new URL(devIssuer).href;
  // Same events and redaction as production, shown one readable line each.
  const log = createLogger(
    config.logLevel,
    pretty({
      sync: true,
      messageFormat: '{event}', // pino's config overrides pino-pretty's messageKey, so format the event name in
      singleLine: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,service,event',
    }),
  );

  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close();
  };
  try {
    const upstream = await startDemoUpstream(apiPort);
    closers.push(upstream.close);
    const idp = await startIdp({
      port: idpPort,
      interactive: true,
      clients: [
        {
          client_id: config.oidc.clientId,
          client_secret: config.oidc.clientSecret ?? '',
          token_endpoint_auth_method: config.oidc.clientAuth,
          redirect_uris: [config.oidc.redirectUri],
          post_logout_redirect_uris: [config.oidc.logoutCallbackUri],
        },
      ],
    });
    closers.push(idp.close);
    const demo = demoPage();
    const sdkDemo = config.fusionAuthSdk
      ? sdkPage('/sdk/', { serverUrl: config.publicOrigin, clientId: config.fusionAuthSdk.clientId, redirectUri: sdkDemoUrl(config.publicOrigin) })
      : undefined;
    const bff = createApp(config, { log, extra: sdkDemo ? (ctx, next) => sdkDemo(ctx, async () => demo(ctx, next)) : demo });
    closers.push(bff.close);
    const listening = await listen(bff.app, config.server.host, config.server.port);
    closers.push(() => {
      bff.readiness.draining = true;
      return listening.drain(config.server.shutdownTimeoutMs);
    });
    if (usesDevIdp) await bff.idp.whenReady();
    log.event('service.started', { host: config.server.host, port: listening.port, store: config.session.store, url: config.publicOrigin });

    const warnings = [...config.warnings];
    if (usesDevIdp) warnings.push(`The IdP at ${idp.issuer} is a development IdP: it accepts any username and password. Development only.`);
    process.stdout.write(
      [
        '',
        'oidc-bff development stack:',
        `  BFF and demo page  ${config.publicOrigin}`,
        ...(sdkDemo ? [`  FusionAuth React SDK demo  ${sdkDemoUrl(config.publicOrigin)}`] : []),
        `  development IdP    ${idp.issuer}${usesDevIdp ? '' : ' (not used: OIDC_ISSUER is set)'}`,
        `  demo API           ${upstream.url} (behind ${config.publicOrigin}${config.paths.api}/*)`,
        '',
        ...warnings.map((w) => `WARNING: ${w}`),
        '',
        `Open ${config.publicOrigin} and sign in${usesDevIdp ? ' with any username and password' : ''}.`,
        '',
        '',
      ].join('\n'),
    );
  } catch (err) {
    await closeAll().catch(() => undefined);
    const inUse = (err as { code?: unknown } | null)?.code === 'EADDRINUSE' ? ' (choose other ports with PORT, DEV_IDP_PORT, DEV_API_PORT)' : '';
    fail(1, `cannot start: ${err instanceof Error ? err.message : String(err)}${inUse}`);
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.event('service.stopping', { reason: signal });
    try {
      await closeAll(); // reverse order: drain the BFF listener, close the BFF, the IdP, the demo API
    } catch (err) {
      fail(1, `stopping failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    log.event('service.stopped', {});
    await log.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

await main();
