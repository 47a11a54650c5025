import { createHmac, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

export function decodeJwt(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown>; signature: string } {
  const [h, p, s] = jwt.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()), payload: JSON.parse(Buffer.from(p!, 'base64url').toString()), signature: s ?? '' };
}

/** Forgeries of an ID token, each named for the attack. */
export const forge = {
  /** Same claims, signed by a key the IdP never published (same kid). */
  resigned(jwt: string): string {
    const { header, payload } = decodeJwt(jwt);
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const input = `${b64(header)}.${b64(payload)}`;
    return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
  },
  /** `alg: none`, no signature. */
  unsigned(jwt: string): string {
    const { payload } = decodeJwt(jwt);
    return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
  },
  /** HS256 with the client secret as key (algorithm confusion). */
  hs256(jwt: string, secret: string): string {
    const { payload } = decodeJwt(jwt);
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  },
  /**
   * Claims changed and signed again with the IdP's own key (an IdP whose clock is off, or that
   * ignores what was asked): the signature is valid, only the claims are wrong. `undefined` deletes a claim.
   */
  reissued(jwt: string, signingKey: Record<string, unknown>, claims: Record<string, unknown>): string {
    const { header, payload } = decodeJwt(jwt);
    const merged: Record<string, unknown> = { ...payload, ...claims };
    for (const name of Object.keys(merged)) if (merged[name] === undefined) delete merged[name];
    const input = `${b64(header)}.${b64(merged)}`;
    return `${input}.${sign('sha256', Buffer.from(input), createPrivateKey({ key: signingKey as never, format: 'jwk' })).toString('base64url')}`;
  },
  /** Original signature, one claim changed. */
  edited(jwt: string, claims: Record<string, unknown>): string {
    const [h, , s] = jwt.split('.');
    const { payload } = decodeJwt(jwt);
    return `${h}.${b64({ ...payload, ...claims })}.${s}`;
  },
};
