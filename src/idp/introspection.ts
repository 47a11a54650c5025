import { AsyncLocalStorage } from 'node:async_hooks';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import type { IntrospectionDialect } from '../config/load.js';

/** What an introspection of an access token said, reduced to what a phantom route needs. */
export interface Introspected {
  active: boolean;
  /** The JWT the IdP handed out for the token (by the dialect); undefined when it gave none. */
  jwt: string | undefined;
  /** The token's expiry (epoch seconds), when the IdP said. */
  exp: number | undefined;
}

/**
 * One introspection in progress: which dialect it speaks, and the raw JWT its response carried.
 * openid-client's tokenIntrospection has no per-call Accept header and returns only the claims,
 * so the IdP transport (introspectionDialect below) reads this slot for calls to the
 * introspection endpoint made inside {@link introspect}, and nowhere else.
 */
interface Slot {
  readonly dialect: IntrospectionDialect;
  readonly endpoints: ReadonlySet<string>;
  raw?: string;
}

const slots = new AsyncLocalStorage<Slot>();

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const contentType = (res: Response) => (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();

/**
 * Wraps the IdP transport so that an introspection speaks the configured dialect:
 * - `jwt` (Curity's `Accept: application/jwt`): the JWT body, or 204 when inactive, is handed to
 *   openid-client as the RFC 7662 JSON it expects, the JWT kept aside;
 * - `token-introspection+jwt` (RFC 9701; openid-client asks for it itself, from the client's
 *   introspection_signed_response_alg, and verifies it): the signed response is kept aside;
 * - `json-jwt`: nothing to do, the JWT is the answer's `jwt` member.
 * Every other call, and every error answer, passes through untouched.
 */
export function introspectionDialect(inner: oidc.CustomFetch): oidc.CustomFetch {
  return async (url, options) => {
    const slot = slots.getStore();
    if (!slot || !slot.endpoints.has(url)) return inner(url, options);
    if (slot.dialect === 'jwt') options = { ...options, headers: { ...options.headers, accept: 'application/jwt' } };
    const res = await inner(url, options);
    if (slot.dialect === 'jwt') {
      if (res.status === 204) return json(200, { active: false });
      if (res.status === 200 && contentType(res) === 'application/jwt') {
        const raw = (await res.text()).trim();
        const exp = decodeJwt(raw).exp;
        slot.raw = raw;
        return json(200, { active: true, ...(typeof exp === 'number' ? { exp } : {}) });
      }
    }
    if (slot.dialect === 'token-introspection+jwt' && res.status === 200 && contentType(res) === 'application/token-introspection+jwt') {
      const raw = await res.text();
      slot.raw = raw.trim();
      return new Response(raw, { status: res.status, headers: res.headers });
    }
    return res;
  };
}

/**
 * RFC 7662 introspection of `token` at the IdP, through openid-client (client authentication,
 * the IdP transport, RFC 9701 verification against the IdP's JWKS) in `dialect`.
 * @throws what openid-client throws (classify with classifyIdp)
 */
export async function introspect(configuration: oidc.Configuration, token: string, dialect: IntrospectionDialect): Promise<Introspected> {
  const server = configuration.serverMetadata();
  const endpoints = new Set([server.introspection_endpoint, server.mtls_endpoint_aliases?.introspection_endpoint].filter((u): u is string => !!u));
  const slot: Slot = { dialect, endpoints };
  const answer = await slots.run(slot, () => oidc.tokenIntrospection(configuration, token, { token_type_hint: 'access_token' }));
  if (!answer.active) return { active: false, jwt: undefined, exp: undefined };
  const jwt = dialect === 'json-jwt' ? (typeof answer['jwt'] === 'string' ? answer['jwt'] : undefined) : slot.raw;
  return { active: true, jwt, exp: typeof answer.exp === 'number' ? answer.exp : undefined };
}
