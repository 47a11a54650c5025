// Second baseline: the same bare hop with undici's Pool (the client the BFF's forwarder uses, with
// its settings), streaming both ways; only the hop-by-hop headers undici refuses are dropped.
//
// Env: BENCH_UPSTREAM (origin), BENCH_FROM (/api), BENCH_TO (/v1).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Pool, type Dispatcher } from 'undici';
import { answer, exitWith, ready, requiredEnv } from './child.js';

const upstream = new URL(requiredEnv('BENCH_UPSTREAM'));
const from = process.env['BENCH_FROM'] ?? '/api';
const to = process.env['BENCH_TO'] ?? '/v1';
const pool = new Pool(upstream.origin, { connections: 256, keepAliveTimeout: 30_000 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'host', 'proxy-connection', 'te', 'trailer']);

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const path = url.startsWith(from) ? to + url.slice(from.length) : url;
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !HOP.has(name)) headers[name] = value;
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  pool.request({ method: (req.method ?? 'GET') as Dispatcher.HttpMethod, path, headers, body: hasBody ? req : null }).then(
    async ({ statusCode, headers: upHeaders, body }) => {
      const out: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(upHeaders)) if (value !== undefined && !HOP.has(name)) out[name] = value;
      res.writeHead(statusCode, out);
      await pipeline(body, res).catch(() => undefined);
    },
    () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    },
  );
});
server.keepAliveTimeout = 65_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
answer();
exitWith(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  await pool.close();
});
ready({ port: (server.address() as AddressInfo).port });
