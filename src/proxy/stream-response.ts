import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/**
 * How streaming a response body to the client ended: whole, cut because the client hung up
 * or stopped reading (`slowReader`: for longer than the write-idle bound), or cut by the
 * upstream's failure.
 */
export type StreamOutcome = { ok: true } | { ok: false; clientGone: boolean; slowReader: boolean; error: unknown };

/**
 * Pipes the upstream body to the client and settles when either side is done, destroying the
 * other on failure: a client that hangs up cancels the upstream body, an upstream that fails
 * cuts the client's response. A client that reads nothing for `writeIdleMs` while the BFF has
 * bytes for it (API_WRITE_IDLE_TIMEOUT) is cut too: it holds an upstream connection, and an
 * upstream with a send timeout of its own would otherwise cut it first and be blamed. Hand-rolled
 * rather than stream.pipeline, which allocates an AbortController and a DOMException per call
 * on this, the hottest path.
 */
export function streamResponse(body: Readable, res: ServerResponse, writeIdleMs: number): Promise<StreamOutcome> {
  return new Promise((resolve) => {
    // A client that is gone already would never emit 'close' again: settle at once.
    if (res.destroyed) {
      body.destroy();
      resolve({ ok: false, clientGone: true, slowReader: false, error: undefined });
      return;
    }
    // The whole body is here already (most API answers come in the packet of their headers):
    // handed over with the end of the response, one write, none of a pipe's listeners and timers.
    if ((body as Readable & { complete?: boolean }).complete === true) {
      let cut: NodeJS.Timeout | undefined;
      res.on('close', () => {
        clearTimeout(cut);
        resolve(res.writableFinished ? { ok: true } : { ok: false, clientGone: true, slowReader: false, error: undefined });
      });
      res.end(readAll(body));
      // Not taken by the socket at once (the client reads nothing, or earlier answers pipelined on
      // its connection wait for it): the write-idle bound holds here too, or the call keeps its
      // concurrency slots for as long as the client cares to keep the connection open.
      if (res.writableLength > 0) {
        cut = setTimeout(() => {
          if (res.writableFinished) return;
          resolve({ ok: false, clientGone: true, slowReader: true, error: undefined });
          res.destroy();
        }, writeIdleMs);
      }
      return;
    }
    let settled = false;
    let stalled: NodeJS.Timeout | undefined;
    const settle = (outcome: StreamOutcome) => {
      clearTimeout(stalled);
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    // The pipe pauses the upstream body exactly when the client's socket stops taking bytes.
    const waitForReader = () => {
      if (stalled) stalled.refresh();
      else
        stalled = setTimeout(() => {
          settle({ ok: false, clientGone: true, slowReader: true, error: undefined });
          body.destroy();
          res.destroy();
        }, writeIdleMs);
    };
    const readerBack = () => {
      clearTimeout(stalled);
      stalled = undefined;
    };
    body.on('pause', waitForReader).on('resume', readerBack);
    body.on('error', (error) => {
      res.destroy();
      settle({ ok: false, clientGone: false, slowReader: false, error });
    });
    res.once('close', () => {
      if (res.writableFinished) return settle({ ok: true });
      body.destroy();
      settle({ ok: false, clientGone: true, slowReader: false, error: undefined });
    });
    body.pipe(res);
  });
}

/** Everything a readable has buffered (it has ended), read so that it emits 'end' and frees its connection. */
function readAll(body: Readable): Buffer | undefined {
  const first = body.read() as Buffer | null;
  if (first === null) return undefined;
  let rest = body.read() as Buffer | null;
  if (rest === null) return first;
  const chunks = [first];
  for (; rest !== null; rest = body.read() as Buffer | null) chunks.push(rest);
  return Buffer.concat(chunks);
}
