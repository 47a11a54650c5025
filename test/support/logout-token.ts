import { createPrivateKey, createHmac, type generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import type { RunningIdp } from '../../dev/idp.js';
import { CLIENT_ID } from './harness.js';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
export const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** Claims of a well-formed logout token from `idp` for our client; override or delete (undefined) any of them. */
export function logoutClaims(idp: RunningIdp, claims: Record<string, unknown>): Record<string, unknown> {
  const base: Record<string, unknown> = {
    iss: idp.issuer,
    aud: CLIENT_ID,
    iat: Math.floor(Date.now() / 1000),
    jti: randomUUID(),
    events: { [BACKCHANNEL_EVENT]: {} },
  };
  const merged = { ...base, ...claims };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  return merged;
}

/** Signs `payload` RS256 with the IdP's own key (or with `key` when given), with `header` overrides. */
export function signLogoutToken(
  idp: RunningIdp,
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
  key?: ReturnType<typeof generateKeyPairSync>['privateKey'],
): string {
  const h = { alg: 'RS256', typ: 'logout+jwt', kid: idp.signingKey['kid'], ...header };
  const input = `${b64(h)}.${b64(payload)}`;
  const privateKey = key ?? createPrivateKey({ key: idp.signingKey as never, format: 'jwk' });
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

export function unsignedLogoutToken(payload: Record<string, unknown>): string {
  return `${b64({ alg: 'none', typ: 'logout+jwt' })}.${b64(payload)}.`;
}

export function hs256LogoutToken(payload: Record<string, unknown>, secret: string): string {
  const input = `${b64({ alg: 'HS256', typ: 'logout+jwt' })}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export function postLogoutToken(bffUrl: string, token: string): Promise<Response> {
  return fetch(`${bffUrl}/backchannel-logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: token }),
  });
}
