import { Transform, type Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { BffError } from '../errors/bff-error.js';

const tooLarge = (max: number) => new BffError('payload_too_large', { detail: `request body over API_MAX_BODY (${max} bytes)` });
const stalled = (idleMs: number) =>
  new BffError('body_timeout', { event: 'proxy.body_timeout', detail: `no request body bytes for ${idleMs} ms (API_BODY_IDLE_TIMEOUT)` });

/**
 * The request body to stream upstream, or null when there is none. A declared Content-Length
 * over `maxBytes` is refused before anything is sent; a chunked body is counted while it
 * streams and cut (413) as soon as it passes the limit: never buffered. A body that stops
 * arriving for `idleMs` while the BFF is ready to read it fails with 408 `body_timeout`: a
 * trickling upload cannot hold an upstream connection for longer than that between bytes.
 */
export function requestBody(req: IncomingMessage, maxBytes: number, idleMs: number): Readable | null {
  const declared = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked) {
    const length = Number(declared ?? 0);
    if (length > maxBytes) throw tooLarge(maxBytes);
    if (length === 0) return null;
  }
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      done(seen > maxBytes ? tooLarge(maxBytes) : null, chunk);
    },
  });
  req.on('error', (err) => counter.destroy(err));
  const body = req.pipe(counter);
  const unwatch = watchIdle(req, idleMs, () => counter.destroy(stalled(idleMs)));
  counter.once('close', unwatch);
  return body;
}

/**
 * Calls `expire` when `req` delivers nothing for `idleMs` while it flows. While the pipe holds
 * it paused (the upstream or the connection pool is not ready), the wait is ours, not the
 * client's, and the timer stops.
 */
function watchIdle(req: IncomingMessage, idleMs: number, expire: () => void): () => void {
  let timer: NodeJS.Timeout | undefined = setTimeout(expire, idleMs);
  const arm = () => {
    if (timer) timer.refresh();
    else timer = setTimeout(expire, idleMs);
  };
  const stop = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  const done = () => {
    stop();
    req.off('data', arm).off('pause', stop).off('resume', arm);
  };
  // The pipe above already made the body flow: a 'data' listener takes nothing from it.
  req.on('data', arm).on('pause', stop).on('resume', arm);
  req.once('end', done).once('close', done).once('error', done);
  return done;
}

/** The client-side body error (413 over the limit, 408 stalled) behind an upstream call's failure, if that is what it was. */
export function clientBodyError(err: unknown): BffError | undefined {
  for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof BffError && (e.code === 'payload_too_large' || e.code === 'body_timeout')) return e;
  }
  return undefined;
}
