// The demo API (dev/demo-upstream.ts) as a process of its own: the `api` service of
// docker-compose.yml and of `npm run compose:native`. Configured from the environment:
//
//   DEMO_API_PORT  port to listen on (default 4002)
//   DEMO_API_HOST  address to listen on (default 127.0.0.1; 0.0.0.0 in a container)
import { startDemoUpstream } from './demo-upstream.js';
import { envPort, fail, stopOnSignals } from './server-env.js';

const port = envPort(process.env, 'DEMO_API_PORT', 4002);
const host = process.env['DEMO_API_HOST']?.trim() || '127.0.0.1';

const upstream = await startDemoUpstream(port, host).catch((err: unknown) => fail(1, `cannot start: ${err instanceof Error ? err.message : String(err)}`));
process.stdout.write(`demo API listening on ${upstream.url}\n`);
stopOnSignals('demo API', upstream.close);
