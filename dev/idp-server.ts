// The development IdP (dev/idp.ts) as a process of its own: the `idp` service of docker-compose.yml
// and of `npm run compose:native`. Interactive (oidc-provider's login and consent pages: any
// username and password), configured from the environment:
//
//   IDP_PORT                      port to listen on (default 4001)
//   IDP_HOST                      address to listen on (default 127.0.0.1; 0.0.0.0 in a container)
//   IDP_ISSUER                    issuer identifier when it is not http://IDP_HOST:IDP_PORT, e.g. the
//                                 published http://127.0.0.1:4001 of a container listening on 0.0.0.0
//   IDP_CLIENT_ID                 the one registered client (default dev-spa)
//   IDP_CLIENT_SECRET             its secret (required unless IDP_CLIENT_AUTH=none)
//   IDP_CLIENT_AUTH               client_secret_basic (default), client_secret_post or none
//   IDP_REDIRECT_URI              comma-separated redirect URIs (default http://localhost:3000/callback)
//   IDP_POST_LOGOUT_REDIRECT_URI  comma-separated post-logout redirect URIs (default http://localhost:3000/logout/callback)
//
// Development and demos only: it accepts any password and keeps everything in memory.
import { startIdp } from './idp.js';
import { envList, envPort, envUrl, fail, stopOnSignals } from './server-env.js';

const env = process.env;
const port = envPort(env, 'IDP_PORT', 4001);
const host = env['IDP_HOST']?.trim() || '127.0.0.1';
const issuer = envUrl(env, 'IDP_ISSUER', { origin: true });
const clientId = env['IDP_CLIENT_ID']?.trim() || 'dev-spa';
const clientAuth = env['IDP_CLIENT_AUTH']?.trim() || 'client_secret_basic';
if (!['client_secret_basic', 'client_secret_post', 'none'].includes(clientAuth)) {
  fail(2, `IDP_CLIENT_AUTH must be client_secret_basic, client_secret_post or none, got "${clientAuth}"`);
}
const clientSecret = env['IDP_CLIENT_SECRET'] ?? '';
if (clientAuth !== 'none' && !clientSecret) fail(2, `IDP_CLIENT_SECRET is required with IDP_CLIENT_AUTH=${clientAuth}`);
const redirectUris = envList(env, 'IDP_REDIRECT_URI', 'http://localhost:3000/callback');
const postLogoutRedirectUris = envList(env, 'IDP_POST_LOGOUT_REDIRECT_URI', 'http://localhost:3000/logout/callback');

const idp = await startIdp({
  port,
  host,
  ...(issuer ? { issuer } : {}),
  interactive: true,
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      token_endpoint_auth_method: clientAuth,
      redirect_uris: redirectUris,
      post_logout_redirect_uris: postLogoutRedirectUris,
    },
  ],
}).catch((err: unknown) => fail(1, `cannot start: ${err instanceof Error ? err.message : String(err)}`));
process.stdout.write(
  `demo IdP listening on ${host}:${idp.port}, issuer ${idp.issuer}, client ${clientId} ` +
    `(redirect ${redirectUris.join(' ')}). It accepts any username and password: development only.\n`,
);
stopOnSignals('demo IdP', idp.close);
