import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { startIdp, type RunningIdp } from '../../dev/idp.js';
import { freePort } from '../support/free-port.js';
import { CLIENT_ID, CLIENT_SECRET, SECRET } from '../support/harness.js';
import { UserAgent } from '../support/user-agent.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The SPEC (docs/operations.md, "Graceful shutdown"): on SIGTERM, /readyz turns 503,
 * the listener stops accepting, in-flight requests finish for up to SHUTDOWN_TIMEOUT, then the
 * store closes and the process exits 0.
 *
 * What src/main.ts does: it logs service.stopping, sets readiness.draining and closes the listener
 * in one synchronous step, so a NEW connection is refused at once (a load balancer's probe fails by
 * refusal, not by a 503), and the 503 from /readyz is seen only by a request on a connection opened
 * before SIGTERM. Both are asserted exactly.
 *
 * The second and third cases fail with a drain that only calls server.close() and
 * closeIdleConnections() (src/http/server.ts up to e0da160): Node then keeps a kept-alive
 * connection open after its in-flight response (and serves further requests on it), and keeps a
 * connection that never sent a byte, so the process waits for the full SHUTDOWN_TIMEOUT with
 * nothing in flight. A drain that sends Connection: close on responses still to come, ends
 * connections whose keep-alive response is done, and destroys sockets with bytesRead === 0
 * makes all four pass.
 *
 * The production entry runs as a child process (`node --import tsx src/main.ts`), with a real IdP
 * and a slow upstream started here: it sends a first chunk at once, holds the rest for `hold` ms.
 */
describe('graceful shutdown of the production entry (src/main.ts) on SIGTERM', function () {
  this.timeout(30_000);
  const HOLD_MS = 1500;
  let idp: RunningIdp;
  let upstream: SlowUpstream;
  const ports: number[] = [];
  let bff: Bff | undefined;

  before(async () => {
    for (let i = 0; i < 4; i++) ports.push(await freePort());
    idp = await startIdp({
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: ports.map((p) => `http://127.0.0.1:${p}/callback`),
          post_logout_redirect_uris: ports.map((p) => `http://127.0.0.1:${p}/logout/callback`),
        },
      ],
    });
    upstream = await startSlowUpstream();
  });

  after(async () => {
    await idp?.close();
    await upstream?.close();
  });

  afterEach(async () => {
    if (bff) await bff.kill();
    bff = undefined;
  });

  it('turns /readyz 503 and refuses new connections at once, lets the in-flight request finish with its full body, exits 0 within SHUTDOWN_TIMEOUT', async () => {
    const shutdownMs = 5000;
    bff = await startBff(ports[0]!, idp, upstream, { SHUTDOWN_TIMEOUT: String(shutdownMs / 1000) });
    const ua = await login(bff);

    // A connection opened before SIGTERM whose request is still arriving (headers not finished).
    const probe = await openProbe(bff.port, `GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:${bff.port}\r\nConnection: close\r\n`);
    const slow = apiRequest(bff, ua, `/slow?hold=${HOLD_MS}`, { keepAlive: false });
    await slow.firstChunk; // the request is in flight, streaming through the BFF

    const sigterm = Date.now();
    bff.child.kill('SIGTERM');
    await bff.event('service.stopping');

    // The log line is written just before the listener closes, so a connection attempted right
    // after it may still complete its handshake in the kernel's backlog: poll until refused (bounded).
    const refusedAfterMs = await refusedWithin(bff.port, 2000);
    assert.ok(refusedAfterMs !== undefined, 'new connections are still accepted 2 s after SIGTERM');
    const refusedAt = Date.now();

    const ready = await probe.finish('\r\n');
    assert.equal(ready.status, 503, `/readyz on a connection opened before SIGTERM: ${ready.raw}`);
    assert.match(ready.body, /shutting down/);

    const done = await slow.done;
    assert.ok(done.endedAt > refusedAt, 'the listener was closed while the request was still in flight');
    assert.equal(done.status, 200);
    assert.equal(done.complete, true, 'the in-flight response was not cut');
    assert.equal(done.body, upstream.fullBody, 'the in-flight response has its full body');
    assert.ok(upstream.finished.length >= 1, 'the upstream finished its response');

    const { code, signal } = await bff.exited;
    const elapsed = Date.now() - sigterm;
    assert.equal(signal, null, bff.output());
    assert.equal(code, 0, bff.output());
    assert.ok(elapsed < shutdownMs, `exited ${elapsed} ms after SIGTERM; SHUTDOWN_TIMEOUT is ${shutdownMs} ms`);
    assert.ok(elapsed >= HOLD_MS - 200, `exited after ${elapsed} ms: before the in-flight request could finish`);
    const events = bff.events();
    assert.equal(events.at(-1), 'service.stopped', `service.stopped is the last line before exit:\n${bff.output()}`);
    assert.ok(events.indexOf('service.stopping') < events.indexOf('service.stopped'));
  });

  it('does not hold shutdown until SHUTDOWN_TIMEOUT for keep-alive clients: in-flight requests finish, their connections close, the process exits when they are done', async () => {
    // Browsers, load balancers and ingress proxies all keep connections alive between requests.
    const shutdownMs = 8000;
    bff = await startBff(ports[1]!, idp, upstream, { SHUTDOWN_TIMEOUT: String(shutdownMs / 1000) });
    const ua = await login(bff);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    try {
      const receivedBefore = upstream.received.length;
      // Two requests in flight at SIGTERM: one has its response headers already, one gets them after.
      const early = apiRequest(bff, ua, `/slow?hold=${HOLD_MS}`, { agent });
      const late = apiRequest(bff, ua, `/slow?hold=${HOLD_MS}&late=1`, { agent });
      await early.firstChunk;
      await upstream.receivedCount(receivedBefore + 2);
      const sigterm = Date.now();
      bff.child.kill('SIGTERM');
      await bff.event('service.stopping');

      const [a, b] = await Promise.all([early.done, late.done]);
      const lastEnded = Date.now();
      for (const r of [a, b]) {
        assert.equal(r.status, 200);
        assert.equal(r.complete, true);
        assert.equal(r.body, upstream.fullBody);
      }

      // The same client's next request, on a connection it kept alive.
      const next = await plainRequest(bff.port, '/healthz', agent);
      const exit = await within(2000, bff.exited);
      const observed = [
        `response headed before SIGTERM said connection: ${a.connection}`,
        `response headed after SIGTERM said connection: ${b.connection}`,
        `the client's next request: ${next}`,
        exit
          ? `exited ${Date.now() - sigterm} ms after SIGTERM`
          : `still running 2000 ms after the last in-flight response ended (${lastEnded - sigterm} ms after SIGTERM; SHUTDOWN_TIMEOUT=${shutdownMs} ms)`,
      ].join('; ');
      assert.ok(exit, `SIGTERM must not wait for SHUTDOWN_TIMEOUT once nothing is in flight: ${observed}`);
      assert.equal(exit.code, 0, observed);
      assert.equal(b.connection, 'close', `a response that starts while draining announces Connection: close: ${observed}`);
      assert.match(next, /ECONNREFUSED|ECONNRESET|socket hang up|answered 503/, `no request is run on an old connection after SIGTERM: ${observed}`);
    } finally {
      agent.destroy();
    }
  });

  it('does not hold shutdown until SHUTDOWN_TIMEOUT for a connection that never sent a request (a browser preconnect)', async () => {
    const shutdownMs = 8000;
    bff = await startBff(ports[3]!, idp, upstream, { SHUTDOWN_TIMEOUT: String(shutdownMs / 1000) });
    // Browsers open speculative connections before they know what to ask; nothing is in flight on it.
    const preconnect = net.connect(bff.port, '127.0.0.1');
    await once(preconnect, 'connect');
    const closedByServer = new Promise<void>((resolve) => {
      preconnect.on('close', () => resolve());
      preconnect.on('error', () => undefined);
    });
    try {
      const sigterm = Date.now();
      bff.child.kill('SIGTERM');
      await bff.event('service.stopping');
      const exit = await within(2000, bff.exited);
      assert.ok(
        exit,
        `still running ${Date.now() - sigterm} ms after SIGTERM with no request in flight, only an open connection that never sent one (SHUTDOWN_TIMEOUT=${shutdownMs} ms)`,
      );
      assert.equal(exit.code, 0, bff.output());
      await closedByServer;
    } finally {
      preconnect.destroy();
    }
  });

  it('cuts a request that outlasts SHUTDOWN_TIMEOUT=1 and still exits 0 promptly', async () => {
    const shutdownMs = 1000;
    bff = await startBff(ports[2]!, idp, upstream, { SHUTDOWN_TIMEOUT: String(shutdownMs / 1000) });
    const ua = await login(bff);
    const abortedBefore = upstream.aborted.length;
    const slow = apiRequest(bff, ua, '/slow?hold=20000', { keepAlive: false });
    await slow.firstChunk;

    const sigterm = Date.now();
    bff.child.kill('SIGTERM');
    await bff.event('service.stopping');

    const done = await slow.done;
    assert.equal(done.status, 200, 'headers had been sent');
    assert.equal(done.complete, false, 'the response was cut, not completed');
    assert.equal(done.body, upstream.firstChunk, 'only what was streamed before the cut arrived');

    const { code, signal } = await bff.exited;
    const elapsed = Date.now() - sigterm;
    assert.equal(signal, null, bff.output());
    assert.equal(code, 0, bff.output());
    assert.ok(elapsed >= shutdownMs - 100, `cut after ${elapsed} ms: the request did not get its SHUTDOWN_TIMEOUT`);
    assert.ok(elapsed < shutdownMs + 1500, `exited ${elapsed} ms after SIGTERM with SHUTDOWN_TIMEOUT=${shutdownMs} ms`);
    assert.ok(bff.events().includes('service.stopped'), bff.output());
    await upstream.abortedCount(abortedBefore + 1); // the upstream request was given up too, not left running
  });
});

// --- the BFF as a child process ---------------------------------------------------------------

interface Bff {
  child: ChildProcess;
  port: number;
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when the BFF has logged `name`. */
  event(name: string): Promise<void>;
  events(): string[];
  output(): string;
  kill(): Promise<void>;
}

async function startBff(port: number, idp: RunningIdp, upstream: SlowUpstream, extra: Record<string, string>): Promise<Bff> {
  const url = `http://127.0.0.1:${port}`;
  // A complete production environment, and nothing of the outer one but PATH.
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    PUBLIC_URL: url,
    HOST: '127.0.0.1',
    PORT: String(port),
    ADMIN_PORT: '0',
    OIDC_ISSUER: idp.issuer,
    OIDC_CLIENT_ID: CLIENT_ID,
    OIDC_CLIENT_SECRET: CLIENT_SECRET,
    OIDC_ALLOW_HTTP: 'true',
    API_UPSTREAM: upstream.url,
    SESSION_STORE: 'memory',
    SESSION_SECRETS: SECRET,
    LOG_LEVEL: 'info',
    ...extra,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const names: string[] = [];
  const waiters: Array<() => void> = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const event = (JSON.parse(line) as { event?: unknown }).event;
        if (typeof event === 'string') names.push(event);
      } catch {
        // not a log line
      }
    }
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
      for (const wake of waiters.splice(0)) wake();
    });
  });
  const bff: Bff = {
    child,
    port,
    url,
    exited,
    async event(name) {
      while (!names.includes(name)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the BFF exited without logging ${name}:\n${out}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    events: () => [...names],
    output: () => out,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
  // Ready = /readyz 200 (IdP metadata loaded); bounded poll.
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the BFF exited with ${child.exitCode} while starting:\n${out}`);
    const status = await fetch(`${url}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline) {
      await bff.kill();
      throw new Error(`the BFF was not ready within 15 s (last /readyz: ${status}):\n${out}`);
    }
    await new Promise<void>((resolve) => setTimeout(resolve, 50));
  }
  return bff;
}

async function login(bff: Bff): Promise<UserAgent> {
  const ua = new UserAgent();
  const { callback } = await ua.login(`${bff.url}/login`, { stopAtOrigin: bff.url });
  assert.equal(callback.status, 302, callback.text);
  assert.equal((await ua.get(`${bff.url}/session`)).status, 200);
  return ua;
}

// --- clients -----------------------------------------------------------------------------------

interface ApiResult {
  status: number;
  body: string;
  /** Every byte of the announced response arrived. */
  complete: boolean;
  connection: string | undefined;
  /** When the response ended or was cut (Date.now()). */
  endedAt: number;
}

/** An /api request through the BFF with the session cookie and X-CSRF; firstChunk resolves when body bytes arrive. */
function apiRequest(
  bff: Bff,
  ua: UserAgent,
  path: string,
  opts: { keepAlive?: boolean; agent?: http.Agent },
): { firstChunk: Promise<void>; done: Promise<ApiResult> } {
  let gotFirst!: () => void;
  const firstChunk = new Promise<void>((resolve) => {
    gotFirst = resolve;
  });
  const done = new Promise<ApiResult>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: bff.port,
        path: `/api${path}`,
        agent: opts.agent ?? false,
        headers: {
          cookie: ua.cookieHeader(`127.0.0.1:${bff.port}`),
          'x-csrf': '1',
          ...(opts.agent ? {} : { connection: opts.keepAlive ? 'keep-alive' : 'close' }),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
          gotFirst();
        });
        // 'close' comes after 'end' when complete, alone (aborted) when the connection was cut.
        res.on('close', () => resolve({ status: res.statusCode ?? 0, body, complete: res.complete, connection: res.headers.connection, endedAt: Date.now() }));
        res.on('error', () => undefined);
      },
    );
    req.on('error', reject);
    req.end();
  });
  done.catch(() => undefined);
  return { firstChunk: Promise.race([firstChunk, done.then(() => undefined)]), done };
}

/** GET path: "200" / "503"... or the error code. */
function plainRequest(port: number, path: string, agent: http.Agent): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(`answered ${res.statusCode}`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** ms until a new connection to `port` is refused (polled), or undefined when it is still accepted after `ms`. */
async function refusedWithin(port: number, ms: number): Promise<number | undefined> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if ((await connectError(port)) === 'ECONNREFUSED') return Date.now() - start;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return undefined;
}

/** The error code of a new TCP connection, or 'connected'. */
function connectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** A connection that has sent part of a request; finish() sends the rest and reads the answer. */
async function openProbe(port: number, head: string): Promise<{ finish(rest: string): Promise<{ status: number; body: string; raw: string }> }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(head);
  let raw = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    raw += d;
  });
  const closed = new Promise<void>((resolve) => {
    socket.on('close', () => resolve());
    socket.on('error', () => undefined);
  });
  return {
    async finish(rest) {
      socket.write(rest);
      await closed;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
      return { status, body: raw.slice(raw.indexOf('\r\n\r\n') + 4), raw };
    },
  };
}

function within<T>(ms: number, p: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]);
}

// --- the slow upstream -------------------------------------------------------------------------

interface SlowUpstream {
  url: string;
  firstChunk: string;
  fullBody: string;
  /** Requests received; whose response was sent completely; whose connection closed before that. */
  received: string[];
  finished: string[];
  aborted: string[];
  abortedCount(n: number): Promise<void>;
  receivedCount(n: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * GET /slow?hold=ms: headers and a first chunk at once, then holds `hold` ms, then streams the rest.
 * With &late=1 it holds before the headers, then sends everything.
 */
async function startSlowUpstream(): Promise<SlowUpstream> {
  const first = 'first chunk, sent at once\n';
  const rest = Array.from({ length: 20 }, (_, i) => `chunk ${i + 1} of the rest, streamed after the hold\n`);
  const received: string[] = [];
  const finished: string[] = [];
  const aborted: string[] = [];
  const waiters: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream.invalid');
    const hold = Number(url.searchParams.get('hold') ?? 0);
    const late = url.searchParams.has('late');
    received.push(req.url ?? '');
    const head = () => {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.write(first);
    };
    if (!late) head();
    for (const wake of waiters.splice(0)) wake();
    let timer: NodeJS.Timeout | undefined;
    res.on('close', () => {
      clearTimeout(timer);
      (res.writableFinished ? finished : aborted).push(req.url ?? '');
      for (const wake of waiters.splice(0)) wake();
    });
    timer = setTimeout(() => {
      if (late) head();
      let i = 0;
      const next = () => {
        if (res.destroyed) return;
        if (i === rest.length) return void res.end();
        res.write(rest[i++]);
        setImmediate(next);
      };
      next();
    }, hold);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    firstChunk: first,
    fullBody: first + rest.join(''),
    received,
    finished,
    aborted,
    async abortedCount(n) {
      while (aborted.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    async receivedCount(n) {
      while (received.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
