import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the upstream received it. */
export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * The API gateway stand-in: records every request and answers with what it received.
 * Special paths exercise the proxy: `/hang` never answers (timeouts), `/stream` sends a large
 * body slowly (client hang-ups), `/set-cookie` tries to set cookies, `/status/NNN` answers NNN.
 */
export interface EchoUpstream {
  url: string;
  port: number;
  received: Received[];
  /** Resolves when the next request arrives (or at once when `count` already did). */
  waitFor(count: number): Promise<void>;
  close(): Promise<void>;
}

export async function startEchoUpstream(options: { port?: number; setCookieNames?: string[] } = {}): Promise<EchoUpstream> {
  const received: Received[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(r);
      for (const w of waiters.splice(0))
        if (received.length >= w.count) w.resolve();
        else waiters.push(w);
      respond(r, res, options.setCookieNames ?? []);
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    waitFor: (count) => (received.length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve }))),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function respond(r: Received, res: http.ServerResponse, cookieNames: string[]): void {
  const path = r.url.split('?')[0] ?? '';
  if (path.endsWith('/hang')) return; // never answers: the BFF's timeout must fire
  if (path.endsWith('/stream')) {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    let sent = 0;
    const tick = setInterval(() => {
      if (res.destroyed || sent >= 200) {
        clearInterval(tick);
        if (!res.destroyed) res.end();
        return;
      }
      res.write(Buffer.alloc(16 * 1024, 'x'));
      sent++;
    }, 5);
    res.on('close', () => clearInterval(tick));
    return;
  }
  if (path.endsWith('/set-cookie')) {
    res.setHeader('set-cookie', [...cookieNames.map((n) => `${n}=evil; Path=/`), 'upstream-pref=dark; Path=/']);
  }
  // An upstream that names its own request id: the client must get the BFF's.
  if (path.endsWith('/own-request-id')) res.setHeader('x-request-id', 'chosen-by-the-upstream');
  const status = /\/status\/(\d{3})$/.exec(path);
  res.writeHead(status ? Number(status[1]) : 200, { 'content-type': 'application/json', 'x-upstream': 'echo', connection: 'keep-alive' });
  res.end(status && ['204', '304'].includes(status[1]!) ? undefined : JSON.stringify(r));
}
