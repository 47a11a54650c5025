// RFC 8705 for the development IdP: an https listener that asks for client certificates, and the
// oidc-provider mTLS feature reading them from its sockets.
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type Koa from 'koa';

export interface MtlsOptions {
  /** The listener's TLS key and certificate (PEM); the certificate must name the host (127.0.0.1). */
  key: string;
  cert: string;
  /** CA bundle (PEM) that client certificates must chain to. */
  ca: string;
}

export interface MtlsListener {
  server: https.Server;
  /** https://host:port of the listener. */
  origin: string;
  close(): Promise<void>;
}

/**
 * Listens with TLS, requesting a client certificate but not requiring one: the handshake
 * succeeds either way and oidc-provider decides (`certificateAuthorized`), so a client without
 * a certificate, or with a foreign one, gets an OAuth error instead of a TLS alert.
 */
export async function startMtlsListener(options: MtlsOptions, host: string): Promise<MtlsListener> {
  const server = https.createServer({ key: options.key, cert: options.cert, ca: options.ca, requestCert: true, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    server,
    origin: `https://${address.includes(':') ? `[${address}]` : address}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * Provider configuration for mTLS: tls_client_auth among the accepted methods, and discovery's
 * `mtls_endpoint_aliases` naming the endpoints that authenticate clients at the mTLS listener.
 */
export function mtlsConfiguration(origin: string) {
  return {
    clientAuthMethods: ['client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'none'],
    discovery: {
      mtls_endpoint_aliases: {
        token_endpoint: `${origin}/token`,
        revocation_endpoint: `${origin}/token/revocation`,
        pushed_authorization_request_endpoint: `${origin}/request`,
      },
    },
  };
}

const peerCertificate = (ctx: Koa.Context): X509Certificate | undefined => {
  const socket = ctx.socket as Partial<TLSSocket>;
  const raw = socket.getPeerCertificate?.(false)?.raw;
  return raw ? new X509Certificate(raw) : undefined;
};

/** oidc-provider's `features.mTLS` for tls_client_auth with tls_client_auth_subject_dn. */
export function mtlsFeature() {
  return {
    enabled: true,
    tlsClientAuth: true,
    getCertificate: peerCertificate,
    // Verified against MtlsOptions.ca during the handshake (requestCert without rejectUnauthorized).
    certificateAuthorized: (ctx: Koa.Context) => (ctx.socket as Partial<TLSSocket>).authorized === true,
    certificateSubjectMatches: (ctx: Koa.Context, property: string, expected: string) => {
      const cert = peerCertificate(ctx);
      return property === 'tls_client_auth_subject_dn' && cert !== undefined && sameDn(cert.subject, expected);
    },
  };
}

/**
 * node's X509Certificate.subject lists RDNs one a line, most significant first; a registered DN
 * is written RFC 4514 style (CN=client,O=Org, least significant first). Compared as sets, which
 * is enough for a development IdP (no escaped commas, no multi-valued RDNs).
 */
function sameDn(subject: string, expected: string): boolean {
  const norm = (parts: string[]) =>
    parts
      .map((p) => {
        const eq = p.indexOf('=');
        return `${p.slice(0, eq).trim().toUpperCase()}=${p.slice(eq + 1).trim()}`;
      })
      .sort()
      .join('\n');
  return norm(subject.split('\n')) === norm(expected.split(','));
}
