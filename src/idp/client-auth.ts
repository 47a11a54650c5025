import { importJWK } from 'jose';
import * as oidc from 'openid-client';
import type { Config } from '../config/load.js';
import type { ClientAssertionKey } from '../config/client-credentials.js';

/** How the BFF authenticates to the IdP: openid-client's ClientAuth and the client metadata it needs. */
export interface ClientAuthentication {
  auth: oidc.ClientAuth;
  metadata: Partial<oidc.ClientMetadata>;
}

/**
 * The configured client authentication, for the token, revocation and PAR endpoints alike (they
 * all take it from the one openid-client Configuration). With a client certificate, openid-client
 * sends those calls to the IdP's `mtls_endpoint_aliases` when it advertises them.
 * @see https://www.rfc-editor.org/rfc/rfc7523 (private_key_jwt)
 * @see https://www.rfc-editor.org/rfc/rfc8705#section-5 (mTLS endpoint aliases)
 * @throws Error when the IdP does not accept the assertion's algorithm.
 */
export async function clientAuthentication(config: Config['oidc'], server: oidc.ServerMetadata): Promise<ClientAuthentication> {
  // The config check makes sure secret methods have a secret.
  const secret = config.clientSecret ?? '';
  const metadata: Partial<oidc.ClientMetadata> = config.tls.clientCertificate ? { use_mtls_endpoint_aliases: true } : {};
  switch (config.clientAuth) {
    case 'client_secret_basic':
      return { auth: oidc.ClientSecretBasic(secret), metadata: { ...metadata, client_secret: secret } };
    case 'client_secret_post':
      return { auth: oidc.ClientSecretPost(secret), metadata: { ...metadata, client_secret: secret } };
    case 'private_key_jwt':
      return { auth: await privateKeyJwt(config.assertionKey!, server), metadata };
    case 'tls_client_auth':
      return { auth: oidc.TlsClientAuth(), metadata };
    case 'none':
      return { auth: oidc.None(), metadata };
  }
}

async function privateKeyJwt(key: ClientAssertionKey, server: oidc.ServerMetadata): Promise<oidc.ClientAuth> {
  const supported = server.token_endpoint_auth_signing_alg_values_supported;
  if (supported && !supported.includes(key.alg)) {
    throw new Error(
      `the IdP accepts client assertions signed with ${supported.join(', ')} only, not ${key.alg} (${key.setting}): use a key of a type it accepts, or set "alg" in the JWK`,
    );
  }
  const cryptoKey = await importJWK(key.file.keyObject().export({ format: 'jwk' }), key.alg, { extractable: false });
  if (cryptoKey instanceof Uint8Array) throw new Error(`${key.setting} holds a symmetric key`);
  return oidc.PrivateKeyJwt(
    { key: cryptoKey, kid: key.kid },
    {
      [oidc.modifyAssertion]: (header, payload) => {
        // openid-client names an Ed25519 key's algorithm "Ed25519"; keep the configured one (EdDSA by default).
        header['alg'] = key.alg;
        if (key.x5t) header['x5t'] = key.x5t;
        // RFC 7523 allows either; some IdPs (Entra ID) document only the token endpoint.
        if (key.audience === 'token_endpoint' && server.token_endpoint) payload['aud'] = server.token_endpoint;
      },
    },
  );
}
