import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/** How streaming a response body to the client ended. */
export type StreamOutcome = { ok: true } | { ok: false; clientGone: boolean; error: unknown };

/**
 * Pipes the upstream body to the client and settles when either side is done, destroying the
 * other on failure: a client that hangs up cancels the upstream body, an upstream that fails
 * cuts the client's response. Hand-rolled rather than stream.pipeline, which allocates an
 * AbortController and a DOMException per call on this, the hottest path.
 */
export function streamResponse(body: Readable, res: ServerResponse): Promise<StreamOutcome> {
  return new Promise((resolve) => {
    // A client that is gone already would never emit 'close' again: settle at once.
    if (res.destroyed) {
      body.destroy();
      resolve({ ok: false, clientGone: true, error: undefined });
      return;
    }
    let settled = false;
    const settle = (outcome: StreamOutcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    body.on('error', (error) => {
      res.destroy();
      settle({ ok: false, clientGone: false, error });
    });
    res.once('close', () => {
      if (res.writableFinished) return settle({ ok: true });
      body.destroy();
      settle({ ok: false, clientGone: true, error: undefined });
    });
    body.pipe(res);
  });
}
