import type { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import {
  certificateThumbprintSha1,
  jwkThumbprint,
  readCertificateFile,
  readPrivateKeyFile,
  signingAlg,
  type LoadedKey,
  type PrivateKeyFile,
  type Read,
} from './private-key.js';

/** OIDC_CLIENT_AUTH: how the BFF authenticates to the IdP's token endpoint. */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'tls_client_auth' | 'none';

/** private_key_jwt: the key that signs client assertions, and how its JOSE header names it. */
export interface ClientAssertionKey {
  /** Prints as its path: the key itself never reaches a log. */
  readonly file: PrivateKeyFile;
  /** `kid` header: OIDC_CLIENT_KEY_ID, else the JWK's kid, else the RFC 7638 thumbprint. */
  readonly kid: string;
  /** JWS `alg`: the JWK's, else the key type's default. */
  readonly alg: string;
  /** `x5t` header (SHA-1 certificate thumbprint), when the key file carries its certificate. */
  readonly x5t: string | undefined;
  /** The assertion's `aud`: the issuer (openid-client's default), or the token endpoint URL (Entra ID's documented form). */
  readonly audience: 'issuer' | 'token_endpoint';
  /** Where the key file is configured (OIDC_CLIENT_KEY_FILE, or a provider's field in BFF_CONFIG), for messages about it. */
  readonly setting: string;
}

/** TLS towards the IdP: trusted CAs (OIDC_CA_FILE) and the client certificate (tls_client_auth). */
export interface IdpTls {
  /** OIDC_CA_FILE's certificates as PEM, trusted in addition to Node's bundled CAs. */
  readonly extraCa: readonly string[];
  readonly clientCertificate: ClientCertificate | undefined;
}

export interface ClientCertificate {
  /** The certificate chain as PEM, leaf first. */
  readonly chainPem: string;
  /** Subject DN of the leaf (the IdP matches tls_client_auth_subject_dn against it). */
  readonly subject: string;
  /** Prints as its path. */
  readonly key: PrivateKeyFile;
}

export type CertificateFile = { path: string; certificates: X509Certificate[] };
export type SigningKey = LoadedKey & { alg: string };

const optionalFile = <T>(name: string, read: (name: string, path: string) => Read<T>) =>
  z
    .string()
    .trim()
    .transform((raw, ctx): T | undefined => {
      if (!raw) return undefined;
      const result = read(name, raw);
      if ('value' in result) return result.value;
      ctx.addIssue({ code: 'custom', message: result.problem });
      return z.NEVER;
    });

/** Reads a private_key_jwt key file and picks the algorithm it signs with. */
export const readSigningKey = (name: string, path: string): Read<SigningKey> => {
  const loaded = readPrivateKeyFile(name, path);
  if ('problem' in loaded) return loaded;
  const alg = signingAlg(name, loaded.value);
  return 'problem' in alg ? alg : { value: { ...loaded.value, alg: alg.value } };
};

export const readCertificates = (name: string, path: string): Read<CertificateFile> => {
  const read = readCertificateFile(name, path);
  return 'value' in read ? { value: { path, certificates: read.value } } : read;
};

/**
 * Parsers of the credential files (settings.ts rows): each file is read and checked while the
 * settings are parsed, so a missing or broken file is reported with every other field problem.
 */
export const signingKeyFile = (name: string) => optionalFile(name, readSigningKey);
export const certificateFile = (name: string) => optionalFile(name, readCertificates);
export const privateKeyFile = (name: string) => optionalFile(name, readPrivateKeyFile);

/** The file parsers bound to their variables, for reading one file outside loadConfig (tests). */
export const clientCredentialFields = {
  OIDC_CLIENT_KEY_FILE: signingKeyFile('OIDC_CLIENT_KEY_FILE'),
  OIDC_CLIENT_CERT_FILE: certificateFile('OIDC_CLIENT_CERT_FILE'),
  OIDC_CLIENT_CERT_KEY_FILE: privateKeyFile('OIDC_CLIENT_CERT_KEY_FILE'),
  OIDC_CA_FILE: certificateFile('OIDC_CA_FILE'),
};

export interface CredentialEnv {
  OIDC_CLIENT_AUTH: ClientAuthMethod;
  OIDC_CLIENT_KEY_FILE: SigningKey | undefined;
  OIDC_CLIENT_KEY_ID: string;
  OIDC_CLIENT_ASSERTION_AUDIENCE: 'issuer' | 'token_endpoint';
  OIDC_CLIENT_CERT_FILE: CertificateFile | undefined;
  OIDC_CLIENT_CERT_KEY_FILE: LoadedKey | undefined;
  OIDC_CA_FILE: CertificateFile | undefined;
}

export type RawCredentialName = 'OIDC_CLIENT_AUTH' | 'OIDC_CLIENT_KEY_FILE' | 'OIDC_CLIENT_KEY_ID' | 'OIDC_CLIENT_CERT_FILE' | 'OIDC_CLIENT_CERT_KEY_FILE';

/** The client authentication methods that send OIDC_CLIENT_SECRET. */
export const SECRET_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post'];

/**
 * How problems name the credential settings: the environment's variables, or the fields of a
 * provider in BFF_CONFIG (where the problem is prefixed with the provider's path in the file).
 */
export interface CredentialNames {
  readonly keyFile: string;
  readonly keyId: string;
  readonly certFile: string;
  readonly certKeyFile: string;
  /** How "the method is m" is written: `OIDC_CLIENT_AUTH=m`, or `clientAuth m`. */
  method(m: string): string;
}

export const ENV_CREDENTIAL_NAMES: CredentialNames = {
  keyFile: 'OIDC_CLIENT_KEY_FILE',
  keyId: 'OIDC_CLIENT_KEY_ID',
  certFile: 'OIDC_CLIENT_CERT_FILE',
  certKeyFile: 'OIDC_CLIENT_CERT_KEY_FILE',
  method: (m) => `OIDC_CLIENT_AUTH=${m}`,
};

/**
 * Which files the chosen method needs, judged on the raw values: these problems are reported
 * even when some other variable is invalid, so one start-up lists them all.
 */
export function clientCredentialProblems(raw: Readonly<Record<RawCredentialName, string>>, names: CredentialNames = ENV_CREDENTIAL_NAMES): string[] {
  const problems: string[] = [];
  const method = raw.OIDC_CLIENT_AUTH.trim();
  const set = (name: RawCredentialName) => raw[name].trim() !== '';
  if (method === 'private_key_jwt' && !set('OIDC_CLIENT_KEY_FILE')) {
    problems.push(`${names.keyFile} (a JWK or PEM private key file) is required with ${names.method('private_key_jwt')}`);
  }
  if (method !== 'private_key_jwt') {
    for (const [variable, name] of [
      ['OIDC_CLIENT_KEY_FILE', names.keyFile],
      ['OIDC_CLIENT_KEY_ID', names.keyId],
    ] as const) {
      if (set(variable)) problems.push(`${name} is only used with ${names.method('private_key_jwt')} (it is ${method}): set that method, or remove ${name}`);
    }
  }
  const cert = set('OIDC_CLIENT_CERT_FILE');
  const key = set('OIDC_CLIENT_CERT_KEY_FILE');
  if (method === 'tls_client_auth' && (!cert || !key)) {
    const missing = [!cert && names.certFile, !key && names.certKeyFile].filter(Boolean);
    problems.push(`${missing.join(' and ')} (PEM) ${missing.length > 1 ? 'are' : 'is'} required with ${names.method('tls_client_auth')}`);
  } else if (cert !== key) {
    problems.push(`${names.certFile} and ${names.certKeyFile} go together: set both or neither`);
  }
  return problems;
}

/** The client certificate and its key file must belong together. */
export function clientCertificateProblems(e: CredentialEnv, nowMs = Date.now(), names: CredentialNames = ENV_CREDENTIAL_NAMES): string[] {
  const cert = e.OIDC_CLIENT_CERT_FILE;
  const key = e.OIDC_CLIENT_CERT_KEY_FILE;
  if (!cert || !key) return [];
  const leaf = cert.certificates[0]!;
  // An expired certificate would only fail later, at the IdP, as an opaque TLS error.
  if (Date.parse(leaf.validTo) <= nowMs) return [`${names.certFile} (${cert.path}) expired on ${leaf.validTo}`];
  if (leaf.checkPrivateKey(key.file.keyObject())) return [];
  return [`${names.certKeyFile} (${key.file.path}) is not the private key of the certificate in ${names.certFile} (${cert.path})`];
}

export function clientAssertionKey(e: CredentialEnv, setting = ENV_CREDENTIAL_NAMES.keyFile): ClientAssertionKey | undefined {
  const key = e.OIDC_CLIENT_KEY_FILE;
  if (e.OIDC_CLIENT_AUTH !== 'private_key_jwt' || !key) return undefined;
  return {
    file: key.file,
    kid: e.OIDC_CLIENT_KEY_ID || key.kid || jwkThumbprint(key.file.keyObject()),
    alg: key.alg,
    x5t: key.x5t ?? (key.certificate && certificateThumbprintSha1(key.certificate)),
    audience: e.OIDC_CLIENT_ASSERTION_AUDIENCE,
    setting,
  };
}

export function idpTls(e: CredentialEnv): IdpTls {
  const cert = e.OIDC_CLIENT_CERT_FILE;
  const key = e.OIDC_CLIENT_CERT_KEY_FILE;
  return {
    extraCa: e.OIDC_CA_FILE?.certificates.map((c) => c.toString()) ?? [],
    clientCertificate:
      cert && key ? { chainPem: cert.certificates.map((c) => c.toString()).join(''), subject: cert.certificates[0]!.subject, key: key.file } : undefined,
  };
}
