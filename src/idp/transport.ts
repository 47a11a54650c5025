import { rootCertificates } from 'node:tls';
import type { CustomFetch, CustomFetchOptions } from 'openid-client';
import type { Dispatcher } from 'undici';
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

/**
 * undefined when neither OIDC_CA_FILE nor a client certificate is configured: fetch's defaults apply.
 * undici is imported at the first IdP call that needs it: the module alone adds ~20 MB of RSS,
 * which every deployment without a private CA or mTLS would otherwise carry.
 */
export function createIdpTransport(tls: IdpTls): IdpTransport | undefined {
  const cert = tls.clientCertificate;
  if (tls.extraCa.length === 0 && !cert) return undefined;
  let agent: Promise<Dispatcher & { close(): Promise<void> }> | undefined;
  const dispatcher = () =>
    (agent ??= import('undici').then(
      ({ Agent }) =>
        new Agent({
          connect: {
            // node:tls replaces its bundled roots with `ca`, so they are listed again.
            ...(tls.extraCa.length ? { ca: [...rootCertificates, ...tls.extraCa] } : {}),
            ...(cert ? { cert: cert.chainPem, key: cert.key.pem() } : {}),
          },
        }),
    ));
  return {
    wrap: (fetch) => async (url, options) => fetch(url, withDispatcher(options, await dispatcher())),
    close: async () => {
      if (agent) await (await agent).close();
    },
  };
}

function withDispatcher(options: CustomFetchOptions, dispatcher: Dispatcher): CustomFetchOptions {
  const out: CustomFetchOptions & { dispatcher: Dispatcher } = { ...options, dispatcher };
  return out;
}
