import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'oauth4webapi';

/** One request as the resource server judged it. */
export interface Judged {
  url: string;
  authorization: string | undefined;
  dpop: string | undefined;
  /** The verified access token's claims, or undefined when it was refused. */
  claims: oauth.JWTAccessTokenClaims | undefined;
  refusal: string | undefined;
}

export interface ResourceServer {
  url: string;
  judged: Judged[];
  close(): Promise<void>;
}

export interface ResourceServerOptions {
  /** The IdP's issuer; a function when the IdP starts after this server (read at the first request). */
  issuer: string | (() => string);
  /** The `aud` its access tokens must carry (the RFC 8707 resource). */
  audience: string;
  /** Refuse tokens that are not DPoP-bound. */
  requireDpop?: boolean;
  /** Demand this DPoP nonce (RFC 9449 9): proofs without it get 401 use_dpop_nonce. */
  dpopNonce?: string;
}

/**
 * A real resource server: verifies JWT access tokens (RFC 9068) against the IdP's JWKS and,
 * for DPoP-bound ones, the proof (signature, htm, htu, ath, key thumbprint = cnf.jkt), with
 * oauth4webapi's validateJwtAccessToken. Answers 200 with the token's claims, or 401.
 */
export async function startResourceServer(options: ResourceServerOptions): Promise<ResourceServer> {
  let metadata: Promise<oauth.AuthorizationServer> | undefined;
  const discover = () => {
    const issuer = new URL(typeof options.issuer === 'string' ? options.issuer : options.issuer());
    return oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true }).then((r) => oauth.processDiscoveryResponse(issuer, r));
  };
  const judged: Judged[] = [];
  const server = http.createServer((req, res) => {
    void judge(req).then(({ claims, refusal }) => {
      judged.push({ url: req.url ?? '', authorization: req.headers.authorization, dpop: req.headers.dpop as string | undefined, claims, refusal });
      if (claims) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(claims));
      } else if (refusal === 'use_dpop_nonce') {
        res.writeHead(401, { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': options.dpopNonce! }).end();
      } else {
        res.writeHead(401, { 'www-authenticate': `Bearer error="invalid_token"`, 'content-type': 'text/plain' }).end(refusal);
      }
    });
  });

  const judge = async (req: http.IncomingMessage): Promise<{ claims?: oauth.JWTAccessTokenClaims; refusal?: string }> => {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value);
    const request = new Request(`http://${req.headers.host}${req.url}`, { method: req.method ?? 'GET', headers });
    if (options.dpopNonce && req.headers.dpop && !proofNonceIs(String(req.headers.dpop), options.dpopNonce)) return { refusal: 'use_dpop_nonce' };
    try {
      const claims = await oauth.validateJwtAccessToken(await (metadata ??= discover()), request, options.audience, {
        [oauth.allowInsecureRequests]: true,
        ...(options.requireDpop ? { requireDPoP: true } : {}),
      });
      return { claims };
    } catch (err) {
      return { refusal: (err as Error).message };
    }
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    judged,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function proofNonceIs(proof: string, nonce: string): boolean {
  try {
    const payload = JSON.parse(Buffer.from(proof.split('.')[1] ?? '', 'base64url').toString('utf8')) as { nonce?: unknown };
    return payload.nonce === nonce;
  } catch {
    return false;
  }
}
