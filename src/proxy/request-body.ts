import { Transform, type Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { BffError } from '../errors/bff-error.js';

const tooLarge = (max: number) => new BffError('payload_too_large', { detail: `request body over API_MAX_BODY (${max} bytes)` });

/**
 * The request body to stream upstream, or null when there is none. A declared Content-Length
 * over `maxBytes` is refused before anything is sent; a chunked body is counted while it
 * streams and cut (413) as soon as it passes the limit: never buffered.
 */
export function requestBody(req: IncomingMessage, maxBytes: number): Readable | null {
  const declared = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked) {
    const length = Number(declared ?? 0);
    if (length > maxBytes) throw tooLarge(maxBytes);
    return length > 0 ? req : null;
  }
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      done(seen > maxBytes ? tooLarge(maxBytes) : null, chunk);
    },
  });
  req.on('error', (err) => counter.destroy(err));
  return req.pipe(counter);
}

/** The body-limit error behind an undici failure, if that is what it was. */
export function bodyLimitError(err: unknown): BffError | undefined {
  for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof BffError && e.code === 'payload_too_large') return e;
  }
  return undefined;
}
