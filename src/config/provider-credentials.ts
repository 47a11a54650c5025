import {
  clientAssertionKey,
  clientCertificateProblems,
  clientCredentialProblems,
  idpTls,
  readCertificates,
  readSigningKey,
  SECRET_METHODS,
  type ClientAssertionKey,
  type ClientAuthMethod,
  type CredentialEnv,
  type CredentialNames,
  type IdpTls,
} from './client-credentials.js';
import { readPrivateKeyFile, type Read } from './private-key.js';

/** A provider's client authentication fields in BFF_CONFIG (the OIDC_CLIENT_* settings of the environment). */
export interface ProviderCredentialFields {
  clientAuth: ClientAuthMethod;
  clientSecret?: string | undefined;
  clientKeyFile?: string | undefined;
  clientKeyId?: string | undefined;
  clientAssertionAudience: 'issuer' | 'token_endpoint';
  clientCertFile?: string | undefined;
  clientCertKeyFile?: string | undefined;
}

export type ProviderCredentials =
  { problems: string[] } | { problems: []; clientSecret: string | undefined; assertionKey: ClientAssertionKey | undefined; tls: IdpTls };

const FILE_NAMES: CredentialNames = {
  keyFile: 'clientKeyFile',
  keyId: 'clientKeyId',
  certFile: 'clientCertFile',
  certKeyFile: 'clientCertKeyFile',
  method: (m) => `clientAuth ${m}`,
};

/**
 * A provider's client credentials, read and checked by the same readers and checks as the
 * environment's OIDC_CLIENT_* settings; each problem names the provider's path in the file
 * (`at`, e.g. `BFF_CONFIG providers.corp`). OIDC_CA_FILE (`extraCa`) is trusted for every
 * provider; a client certificate is only ever the provider's own.
 */
export function providerCredentials(at: string, p: ProviderCredentialFields, extraCa: readonly string[], nowMs = Date.now()): ProviderCredentials {
  const raw = {
    OIDC_CLIENT_AUTH: p.clientAuth,
    OIDC_CLIENT_KEY_FILE: p.clientKeyFile ?? '',
    OIDC_CLIENT_KEY_ID: p.clientKeyId ?? '',
    OIDC_CLIENT_CERT_FILE: p.clientCertFile ?? '',
    OIDC_CLIENT_CERT_KEY_FILE: p.clientCertKeyFile ?? '',
  };
  const problems = clientCredentialProblems(raw, FILE_NAMES).map((problem) => `${at}: ${problem}`);
  if (SECRET_METHODS.includes(p.clientAuth) && !p.clientSecret) problems.unshift(`${at}: clientSecret is required with ${p.clientAuth}`);
  // Every file named is read, as the environment's are: a broken one is reported even when unused.
  const read = <T>(field: 'keyFile' | 'certFile' | 'certKeyFile', path: string | undefined, reader: (name: string, path: string) => Read<T>): T | undefined => {
    if (!path) return undefined;
    const result = reader(`${at}.${FILE_NAMES[field]}`, path);
    if ('value' in result) return result.value;
    problems.push(result.problem);
    return undefined;
  };
  const credentials: CredentialEnv = {
    OIDC_CLIENT_AUTH: p.clientAuth,
    OIDC_CLIENT_KEY_FILE: read('keyFile', p.clientKeyFile, readSigningKey),
    OIDC_CLIENT_KEY_ID: p.clientKeyId ?? '',
    OIDC_CLIENT_ASSERTION_AUDIENCE: p.clientAssertionAudience,
    OIDC_CLIENT_CERT_FILE: read('certFile', p.clientCertFile, readCertificates),
    OIDC_CLIENT_CERT_KEY_FILE: read('certKeyFile', p.clientCertKeyFile, readPrivateKeyFile),
    OIDC_CA_FILE: undefined,
  };
  problems.push(...clientCertificateProblems(credentials, nowMs, FILE_NAMES).map((problem) => `${at}: ${problem}`));
  if (problems.length) return { problems };
  return {
    problems: [],
    clientSecret: p.clientSecret,
    assertionKey: clientAssertionKey(credentials, `${at}.${FILE_NAMES.keyFile}`),
    tls: { extraCa, clientCertificate: idpTls(credentials).clientCertificate },
  };
}
