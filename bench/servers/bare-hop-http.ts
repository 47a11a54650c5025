// Baseline: the least a Node proxy hop can do. node:http server, keep-alive Agent, the request
// piped through http.request to the upstream and the response piped back; no session, no auth
// (the load generator sends the bearer token itself), no header filtering beyond the path.
//
// Env: BENCH_UPSTREAM (origin), BENCH_FROM (/api), BENCH_TO (/v1).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { answer, exitWith, ready, requiredEnv } from './child.js';

const upstream = new URL(requiredEnv('BENCH_UPSTREAM'));
const from = process.env['BENCH_FROM'] ?? '/api';
const to = process.env['BENCH_TO'] ?? '/v1';
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 30_000 });

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const path = url.startsWith(from) ? to + url.slice(from.length) : url;
  const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path, headers: req.headers, agent }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  out.on('error', () => {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
  req.pipe(out);
});
server.keepAliveTimeout = 65_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
answer();
exitWith(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      agent.destroy();
    }),
);
ready({ port: (server.address() as AddressInfo).port });
