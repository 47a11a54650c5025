// The API behind every target: verifies the RS256 JWT access token on each request against the
// IdP's JWKS (fetched once at start; node:crypto, no WebCrypto hop) — signature, typ, iss, aud,
// exp — and answers a small JSON document, 200 when the token is valid and 401 otherwise.
//
// Env: BENCH_ISSUER, BENCH_AUDIENCE. Queries: `stats` → { valid, invalid, total }.
import { createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { answer, exitWith, ready, requiredEnv } from './child.js';

const issuer = requiredEnv('BENCH_ISSUER');
const audience = requiredEnv('BENCH_AUDIENCE');

const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
const jwks = (await (await fetch(discovery.jwks_uri)).json()) as { keys: Array<JsonWebKey & { kid?: string; alg?: string; use?: string }> };
const keys = new Map<string, KeyObject>();
for (const jwk of jwks.keys) {
  if (jwk.kty === 'RSA' && jwk.kid && (jwk.use ?? 'sig') === 'sig') keys.set(jwk.kid, createPublicKey({ key: jwk, format: 'jwk' }));
}
if (keys.size === 0) throw new Error('the IdP published no RSA signing key');

const stats = { valid: 0, invalid: 0, total: 0 };

interface Claims {
  iss?: unknown;
  aud?: unknown;
  exp?: unknown;
  sub?: unknown;
  scope?: unknown;
}

/** The token's claims when it is a valid access token for this API, otherwise undefined. */
function check(authorization: string | undefined): Claims | undefined {
  if (!authorization?.startsWith('Bearer ')) return undefined;
  const jwt = authorization.slice(7);
  const dot1 = jwt.indexOf('.');
  const dot2 = jwt.indexOf('.', dot1 + 1);
  if (dot1 < 1 || dot2 < 0 || jwt.indexOf('.', dot2 + 1) !== -1) return undefined;
  try {
    const header = JSON.parse(Buffer.from(jwt.slice(0, dot1), 'base64url').toString()) as { alg?: unknown; kid?: unknown; typ?: unknown };
    if (header.alg !== 'RS256' || typeof header.kid !== 'string' || header.typ !== 'at+jwt') return undefined;
    const key = keys.get(header.kid);
    if (!key) return undefined;
    const ok = verify('sha256', Buffer.from(jwt.slice(0, dot2)), key, Buffer.from(jwt.slice(dot2 + 1), 'base64url'));
    if (!ok) return undefined;
    const claims = JSON.parse(Buffer.from(jwt.slice(dot1 + 1, dot2), 'base64url').toString()) as Claims;
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (claims.iss !== issuer || !aud.includes(audience)) return undefined;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) return undefined;
    return claims;
  } catch {
    return undefined;
  }
}

const server = http.createServer((req, res) => {
  stats.total++;
  const claims = check(req.headers.authorization);
  // Drain any request body; the bench sends GETs.
  req.resume();
  if (!claims) {
    stats.invalid++;
    res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' });
    res.end('{"error":"invalid_token"}');
    return;
  }
  stats.valid++;
  const body = JSON.stringify({ ok: true, sub: claims.sub, scope: claims.scope, path: req.url, items: [1, 2, 3] });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
// Long keep-alive so that no target pays for reconnects between rounds.
server.keepAliveTimeout = 65_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

answer({ stats: () => ({ ...stats }) });
exitWith(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
);
ready({ port: (server.address() as AddressInfo).port, keys: keys.size });
