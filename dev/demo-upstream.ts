// The demo API behind the BFF's /api/* in `npm run dev`: shows what an upstream receives.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoUpstream {
  url: string;
  close(): Promise<void>;
}

/** The body of every answer. It describes the bearer token; it never contains it. */
export interface DemoAnswer {
  message: string;
  path: string;
  method: string;
  receivedBearerToken: boolean;
  /** Length of the token received, or null without one: proof that it arrived, not the token. */
  tokenLength: number | null;
  /** `sub` of the token when it is a JWT; null for opaque tokens (oidc-provider's default). */
  tokenSubject: string | null;
  /** `exp` of the token as an ISO date when it is a JWT; null otherwise. */
  tokenExpiresAt: string | null;
  time: string;
}

const MAX_FIELD = 200;

export async function startDemoUpstream(port: number, host = '127.0.0.1'): Promise<DemoUpstream> {
  const server = http.createServer((req, res) => {
    req.resume(); // the body is not used; read it so keep-alive works
    const body = JSON.stringify(answer(req));
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${actual}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function answer(req: http.IncomingMessage): DemoAnswer {
  const match = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '');
  const token = match?.[1];
  const claims = token ? jwtClaims(token) : undefined;
  const sub = typeof claims?.['sub'] === 'string' ? clip(claims['sub']) : null;
  const exp = claims?.['exp'];
  const path = clip(new URL(req.url ?? '/', 'http://upstream.invalid').pathname);
  return {
    message: token ? `Hello${sub ? ` ${sub}` : ''}, from the demo API` : 'Hello, anonymous caller (no bearer token arrived)',
    path,
    method: req.method ?? 'GET',
    receivedBearerToken: token !== undefined,
    tokenLength: token ? token.length : null,
    tokenSubject: sub,
    tokenExpiresAt: typeof exp === 'number' && Number.isFinite(exp) ? safeIso(exp * 1000) : null,
    time: new Date().toISOString(),
  };
}

/**
 * The payload of a JWT, DECODED BUT NOT VERIFIED: no signature, issuer, audience or expiry
 * check. Acceptable only because this is a demo that displays the claims; a real API must
 * verify the token (or introspect an opaque one) before trusting anything in it.
 * Undefined when the token is not a JWT (oidc-provider issues opaque access tokens by default).
 */
function jwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    return payload && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function safeIso(ms: number): string | null {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function clip(s: string): string {
  return s.length > MAX_FIELD ? `${s.slice(0, MAX_FIELD)}…` : s;
}
