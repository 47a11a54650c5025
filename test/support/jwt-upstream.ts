import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

/** One request as the upstream judged it: the Bearer value, and its verified claims or why it was refused. */
export interface Verdict {
  bearer: string | undefined;
  claims: JWTPayload | undefined;
  refusal: string | undefined;
}

export interface JwtUpstream {
  url: string;
  verdicts: Verdict[];
  close(): Promise<void>;
}

/**
 * An API that accepts only JWTs signed by the IdP: verifies `Authorization: Bearer` against the
 * IdP's JWKS (jose), with the IdP as issuer. Answers 200 with the claims, or 401.
 */
export async function startJwtUpstream(issuer: () => string): Promise<JwtUpstream> {
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  const verdicts: Verdict[] = [];
  const server = http.createServer((req, res) => {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    jwks ??= createRemoteJWKSet(new URL(`${issuer()}/jwks`));
    const verified = bearer ? jwtVerify(bearer, jwks, { issuer: issuer() }).then((r) => r.payload) : Promise.reject(new Error('no bearer token'));
    void verified.then(
      (claims) => {
        verdicts.push({ bearer, claims, refusal: undefined });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(claims));
      },
      (err: Error) => {
        verdicts.push({ bearer, claims: undefined, refusal: err.message });
        res.writeHead(401, { 'content-type': 'text/plain' }).end(err.message);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    verdicts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
