import { rootCertificates } from 'node:tls';
import type { CustomFetch, CustomFetchOptions } from 'openid-client';
import { Agent, type Dispatcher } from 'undici';
import type { IdpTls } from '../config/client-credentials.js';

/** The TLS settings of IdP calls: a connection pool with the extra CAs and the client certificate. */
export interface IdpTransport {
  /**
   * `fetch` with this transport's dispatcher added to every call's options. The dispatcher
   * travels in the options, so whatever fetch sits underneath (the global one, or a test's
   * fault-injecting wrapper that passes its options on) connects through it.
   */
  wrap(fetch: CustomFetch): CustomFetch;
  close(): Promise<void>;
}

/** undefined when neither OIDC_CA_FILE nor a client certificate is configured: fetch's defaults apply. */
export function createIdpTransport(tls: IdpTls): IdpTransport | undefined {
  const cert = tls.clientCertificate;
  if (tls.extraCa.length === 0 && !cert) return undefined;
  const agent = new Agent({
    connect: {
      // node:tls replaces its bundled roots with `ca`, so they are listed again.
      ...(tls.extraCa.length ? { ca: [...rootCertificates, ...tls.extraCa] } : {}),
      ...(cert ? { cert: cert.chainPem, key: cert.key.pem() } : {}),
    },
  });
  return {
    wrap: (fetch) => (url, options) => fetch(url, withDispatcher(options, agent)),
    close: () => agent.close(),
  };
}

function withDispatcher(options: CustomFetchOptions, dispatcher: Dispatcher): CustomFetchOptions {
  const out: CustomFetchOptions & { dispatcher: Dispatcher } = { ...options, dispatcher };
  return out;
}
