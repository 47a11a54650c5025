import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frontendConfigs, loadFrontends } from '../../../src/config/frontends.js';
import { ConfigError, loadConfig, type Config } from '../../../src/config/load.js';
import { deploymentOf } from '../../../src/app.js';
import { cookieNames } from '../../../src/session/cookie-names.js';
import { createTestPki, writeClientKey, CLIENT_DN } from '../../support/certs.js';
import { randomSecret } from './config-fixture.js';

/** The environment of a deployment whose frontends all come from the file. */
const FILE_ENV = { BFF_CONFIG: '/unused.json', SESSION_STORE: 'redis', REDIS_URL: 'redis://127.0.0.1:6379', SESSION_SECRETS: 's'.repeat(40) };
const base = (env: Record<string, string> = {}) => loadConfig({ ...FILE_ENV, ...env }, randomSecret);

const providers = {
  corp: { issuer: 'https://login.corp.example', clientId: 'shop', clientSecret: 'x'.repeat(32), displayName: 'Corp' },
  partner: { issuer: 'https://id.partner.example', clientId: 'blog', clientAuth: 'none', scopes: 'openid email' },
};
const routes = [{ path: '/api', upstream: 'https://api.internal/v1' }];
const good = {
  defaults: { sameSite: 'strict', apiRoutes: routes, sessionIdleTimeout: 600 },
  providers,
  frontends: {
    shop: { publicUrl: 'https://apps.example', match: { pathPrefix: '/shop' }, provider: 'corp' },
    blog: { publicUrl: 'https://blog.example', provider: 'partner', cookieName: 'blogc', sessionIdleTimeout: 900 },
  },
};

function problems(document: unknown, config: Config = base()): readonly string[] {
  try {
    frontendConfigs(config, document);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
  assert.fail('the file was accepted');
}

describe('BFF_CONFIG: the frontends file (src/config/frontends.ts)', () => {
  it('derives a whole Config per frontend: the file over its defaults over the environment', () => {
    const [shop, blog] = frontendConfigs(base(), good);
    assert.ok(shop && blog);
    assert.deepEqual(shop.frontend, {
      id: 'shop',
      host: 'apps.example',
      pathPrefix: '/shop',
      providerId: 'corp',
      providers: ['corp'],
      providerName: 'Corp',
      providerLogoUrl: undefined,
      cookieBases: ['bff_shop', 'blogc'],
    });
    assert.equal(shop.paths.login, '/shop/login');
    assert.equal(shop.paths.api, '/shop/api');
    assert.equal(shop.api.routes[0]?.path, '/shop/api');
    assert.equal(shop.oidc.redirectUri, 'https://apps.example/shop/callback');
    assert.equal(shop.oidc.postLogoutRedirectUri, 'https://apps.example/shop/');
    assert.equal(shop.oidc.clientId, 'shop');
    assert.equal(shop.session.sameSite, 'strict');
    assert.equal(shop.session.idleTimeoutMs, 600_000);
    assert.equal(shop.redis.keyPrefix, 'bff:shop:');
    assert.equal(blog.frontend?.host, 'blog.example');
    assert.equal(blog.paths.login, '/login');
    assert.equal(blog.oidc.clientAuth, 'none');
    assert.equal(blog.oidc.scopes, 'openid email');
    assert.equal(blog.session.idleTimeoutMs, 900_000);
    assert.equal(blog.session.cookieBase, 'blogc');
  });

  it('names cookies per frontend: __Host- on a host, a path-scoped __Secure- under a prefix; all siblings count as own', () => {
    const [shop, blog] = frontendConfigs(base(), good);
    const s = cookieNames(shop!);
    assert.equal(s.session, '__Secure-bff_shop-session');
    assert.equal(s.attributes.path, '/shop');
    const b = cookieNames(blog!);
    assert.equal(b.session, '__Host-blogc-session');
    assert.equal(b.attributes.path, undefined);
    assert.ok(s.isOwn('__Host-blogc-session'), "a sibling's cookie would be forwarded upstream");
    assert.equal(s.isOwn('theirs'), false);
  });

  it('binds sealed values to the frontend: same secrets, issuer, client and origin still differ', () => {
    const document = {
      providers,
      frontends: {
        a: { publicUrl: 'https://apps.example', match: { pathPrefix: '/a' }, provider: 'corp', apiRoutes: routes },
        b: { publicUrl: 'https://apps.example', match: { pathPrefix: '/b' }, provider: 'corp', apiRoutes: routes },
      },
    };
    const [a, b] = frontendConfigs(base(), document);
    assert.notEqual(deploymentOf(a!), deploymentOf(b!));
  });

  it('lists every problem of the file at once', () => {
    const found = problems({
      providers: { corp: { issuer: 'not a url', clientId: '' }, 'bad id': providers.partner },
      frontends: { shop: { match: { pathPrefix: 'shop/' }, provider: 'corp', extra: 1 } },
    });
    for (const expected of [
      /providers\.corp\.issuer/,
      /providers\.corp\.clientId/,
      /providers\.bad id/,
      /frontends\.shop\.match\.pathPrefix/,
      /frontends\.shop.*extra/,
    ]) {
      assert.ok(
        found.some((p) => expected.test(p)),
        `${expected} missing from ${found.join(' | ')}`,
      );
    }
  });

  it('refuses references and collisions: an undeclared provider, a missing secret, shared matches and cookie names, inherited placeholders', () => {
    const found = problems({
      providers: { corp: { issuer: 'https://login.corp.example', clientId: 'shop' } },
      frontends: {
        one: { publicUrl: 'https://apps.example', provider: 'nobody', apiRoutes: routes },
        two: { publicUrl: 'https://apps.example', provider: 'corp', apiRoutes: routes, cookieName: 'same' },
        three: { publicUrl: 'https://apps.example', match: { host: 'apps.example' }, provider: 'corp', apiRoutes: routes, cookieName: 'same' },
        four: { provider: 'corp', match: { pathPrefix: '/four' } },
        five: {
          publicUrl: 'https://apps.example',
          match: { pathPrefix: '/five' },
          provider: 'corp',
          apiRoutes: routes,
          sessionIdleTimeout: 7200,
          sessionMaxAge: 3600,
        },
      },
    });
    const expected = [
      /providers\.corp: clientSecret is required/,
      /frontends\.one: provider "nobody" is not declared/,
      /frontends\.three: matches the same host and prefix as frontends\.two/,
      /frontends\.three: cookieName same is also used by frontends\.two/,
      /frontends\.four: publicUrl is required/,
      /frontends\.four: apiRoutes is required/,
      /frontends\.five: sessionMaxAge must not be shorter/,
    ];
    for (const e of expected)
      assert.ok(
        found.some((p) => e.test(p)),
        `${e} missing from ${found.join(' | ')}`,
      );
  });

  it("gateway handles: the introspection endpoint lies under the frontend's prefix; a handle route on a frontend of several providers is refused", () => {
    const gateway = base({ GATEWAY_INTROSPECTION_PATH: '/gateway/introspect', GATEWAY_CLIENTS: `gw:${'g'.repeat(32)}` });
    const handleRoutes = [{ path: '/api', upstream: 'https://gw.internal/v1', handle: 'gw' }];
    const [shop] = frontendConfigs(gateway, { ...good, frontends: { shop: { ...good.frontends.shop, apiRoutes: handleRoutes } } });
    assert.equal(shop?.gatewayIntrospection.path, '/shop/gateway/introspect');
    const found = problems(
      { providers, frontends: { both: { publicUrl: 'https://apps.example', providers: ['corp', 'partner'], apiRoutes: handleRoutes } } },
      gateway,
    );
    assert.ok(
      found.some((p) => /frontends\.both: a route with handle needs a frontend of one provider/.test(p)),
      found.join(' | '),
    );
  });

  it('fusionAuthSdk: every bad field of the block at once, and a frontend turning it on without any redirect_uri allowlist', () => {
    const found = problems({
      ...good,
      frontends: {
        shop: {
          ...good.frontends.shop,
          fusionAuthSdk: {
            enabled: 'yes',
            clientId: '',
            redirectUris: ['not a url', 'https://spa.example/#frag'],
            origins: ['https://spa.example/path'],
            registerParams: 'state=x',
            accountUrl: 'ftp://account.example',
            expiryCookie: 'bad cookie',
            pathPrefix: 'bff/',
            extra: 1,
          },
        },
        blog: { ...good.frontends.blog, fusionAuthSdk: { enabled: true } },
      },
    });
    for (const field of [
      'enabled',
      'clientId',
      'redirectUris.0',
      'redirectUris.1',
      'origins.0',
      'registerParams',
      'accountUrl',
      'expiryCookie',
      'pathPrefix',
    ]) {
      assert.ok(
        found.some((p) => p.startsWith(`BFF_CONFIG frontends.shop.fusionAuthSdk.${field}:`)),
        `${field} missing from ${found.join(' | ')}`,
      );
    }
    assert.ok(found.some((p) => /frontends\.shop\.fusionAuthSdk.*extra/.test(p)));
    const missing = problems({ ...good, frontends: { ...good.frontends, blog: { ...good.frontends.blog, fusionAuthSdk: { enabled: true } } } });
    assert.deepEqual(missing, [
      'BFF_CONFIG frontends.blog: fusionAuthSdk.redirectUris is required when the SDK routes are on (here, in defaults, or as FUSIONAUTH_SDK_REDIRECT_URIS)',
    ]);
  });

  it("fusionAuthSdk: a frontend's block over the environment's, under its prefix; off where it says so", () => {
    const env = base({
      FUSIONAUTH_SDK: 'true',
      FUSIONAUTH_SDK_REDIRECT_URIS: 'https://env-spa.example/',
      FUSIONAUTH_SDK_ACCOUNT_URL: 'https://account.example/',
    });
    const [shop, blog] = frontendConfigs(env, {
      ...good,
      frontends: {
        shop: {
          ...good.frontends.shop,
          fusionAuthSdk: { redirectUris: ['https://spa.example/app'], pathPrefix: '/bff', registerParams: 'screen_hint=signup' },
        },
        blog: { ...good.frontends.blog, fusionAuthSdk: { enabled: false } },
      },
    });
    assert.deepEqual(shop!.fusionAuthSdk, {
      clientId: 'shop',
      redirectUris: ['https://spa.example/app'],
      origins: ['https://apps.example', 'https://spa.example'],
      registerParams: [['screen_hint', 'signup']],
      accountUrl: 'https://account.example/',
      expiryCookie: 'app.at_exp',
      pathPrefix: '/shop/bff',
    });
    assert.equal(blog!.fusionAuthSdk, undefined);
  });

  it("reports a route problem of a frontend's apiRoutes with the frontend's name", () => {
    const found = problems({ ...good, frontends: { shop: { ...good.frontends.shop, apiRoutes: [{ path: '/elsewhere', upstream: 'https://x' }] } } });
    assert.ok(found.some((p) => /frontends\.shop apiRoutes route #1.*must be API_PATH/.test(p)));
  });

  it('refuses an http issuer unless OIDC_ALLOW_HTTP=true', () => {
    const document = { ...good, providers: { ...providers, corp: { ...providers.corp, issuer: 'http://login.corp.example' } } };
    assert.ok(problems(document).some((p) => /providers\.corp: an http issuer needs OIDC_ALLOW_HTTP=true/.test(p)));
    assert.equal(frontendConfigs(base({ OIDC_ALLOW_HTTP: 'true' }), document).length, 2);
  });

  it('reads YAML by extension, and names a file it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bff-frontends-'));
    const yaml = join(dir, 'frontends.yaml');
    writeFileSync(
      yaml,
      'providers:\n  corp: { issuer: "https://login.corp.example", clientId: shop, clientSecret: s3cret-s3cret }\nfrontends:\n  shop:\n    publicUrl: https://apps.example\n    provider: corp\n    apiRoutes: [{ path: /api, upstream: "https://api.internal" }]\n',
    );
    assert.equal(loadFrontends(base({ BFF_CONFIG: yaml }))[0]?.frontend?.id, 'shop');
    assert.throws(() => loadFrontends(base({ BFF_CONFIG: join(dir, 'missing.json') })), /BFF_CONFIG: cannot read .*missing\.json \(ENOENT\)/);
  });

  it('without BFF_CONFIG, the environment is the one frontend, unchanged', () => {
    const env = loadConfig(
      {
        ...FILE_ENV,
        BFF_CONFIG: '',
        PUBLIC_URL: 'https://app.example',
        OIDC_ISSUER: 'https://idp.example',
        OIDC_CLIENT_ID: 'c',
        OIDC_CLIENT_SECRET: 'x',
        API_UPSTREAM: 'https://api',
      },
      randomSecret,
    );
    assert.deepEqual(loadFrontends(env), [env]);
    assert.equal(env.frontend, undefined);
  });

  describe('client authentication of a provider: private_key_jwt, tls_client_auth and none, as the OIDC_CLIENT_* settings', () => {
    const pki = createTestPki();
    after(() => pki.cleanup());
    const key = writeClientKey(pki.dir, 'provider-key', { type: 'ec', curve: 'P-256' }, 'jwk', { kid: 'file-kid' });
    const shop = { publicUrl: 'https://apps.example', provider: 'corp', apiRoutes: routes };
    const withCorp = (corp: Record<string, unknown>) => ({
      providers: { corp: { issuer: 'https://login.corp.example', clientId: 'shop', ...corp } },
      frontends: { shop },
    });

    it('private_key_jwt: the assertion key from clientKeyFile, its kid (or clientKeyId) and the audience; no secret needed', () => {
      const [c] = frontendConfigs(base(), withCorp({ clientAuth: 'private_key_jwt', clientKeyFile: key.path, clientAssertionAudience: 'token_endpoint' }));
      assert.equal(c?.oidc.clientAuth, 'private_key_jwt');
      assert.equal(c?.oidc.clientSecret, undefined);
      assert.deepEqual(
        { ...c?.oidc.assertionKey, file: c?.oidc.assertionKey?.file.path },
        { file: key.path, kid: 'file-kid', alg: 'ES256', x5t: undefined, audience: 'token_endpoint', setting: 'BFF_CONFIG providers.corp.clientKeyFile' },
      );
      const [named] = frontendConfigs(base(), withCorp({ clientAuth: 'private_key_jwt', clientKeyFile: key.path, clientKeyId: 'operator-kid' }));
      assert.equal(named?.oidc.assertionKey?.kid, 'operator-kid');
      assert.equal(named?.oidc.assertionKey?.audience, 'issuer');
    });

    it("tls_client_auth: the provider's own certificate and key; OIDC_CA_FILE still trusted; the environment's client certificate is no provider's", () => {
      const env = base({ OIDC_CA_FILE: pki.ca.certPath, OIDC_CLIENT_CERT_FILE: pki.stranger.certPath, OIDC_CLIENT_CERT_KEY_FILE: pki.stranger.keyPath });
      const document = {
        providers: {
          corp: {
            issuer: 'https://login.corp.example',
            clientId: 'shop',
            clientAuth: 'tls_client_auth',
            clientCertFile: pki.client.certPath,
            clientCertKeyFile: pki.client.keyPath,
          },
          partner: { issuer: 'https://id.partner.example', clientId: 'blog', clientSecret: 'x'.repeat(32) },
        },
        frontends: { shop, blog: { publicUrl: 'https://blog.example', provider: 'partner', apiRoutes: routes } },
      };
      const [mtls, secret] = frontendConfigs(env, document);
      assert.equal(mtls?.oidc.clientAuth, 'tls_client_auth');
      assert.equal(mtls?.oidc.tls.clientCertificate?.subject, CLIENT_DN);
      assert.equal(mtls?.oidc.tls.clientCertificate?.key.path, pki.client.keyPath);
      assert.equal(mtls?.oidc.tls.extraCa.length, 1);
      assert.equal(secret?.oidc.tls.clientCertificate, undefined, "the environment's client certificate reached a provider of the file");
      assert.equal(secret?.oidc.tls.extraCa.length, 1);
    });

    it('every bad credential of every provider at once, each named by its path in the file (and the file path it names)', () => {
      const missing = join(pki.dir, 'nowhere.pem');
      const notAKey = join(pki.dir, 'not-a-key.txt');
      writeFileSync(notAKey, 'hello');
      const found = problems({
        providers: {
          jwt: { issuer: 'https://a.example', clientId: 'a', clientAuth: 'private_key_jwt', clientKeyFile: missing },
          nokey: { issuer: 'https://b.example', clientId: 'b', clientAuth: 'private_key_jwt' },
          junk: { issuer: 'https://c.example', clientId: 'c', clientAuth: 'private_key_jwt', clientKeyFile: notAKey },
          mtls: { issuer: 'https://d.example', clientId: 'd', clientAuth: 'tls_client_auth', clientCertFile: pki.client.certPath },
          mismatch: {
            issuer: 'https://e.example',
            clientId: 'e',
            clientAuth: 'tls_client_auth',
            clientCertFile: pki.client.certPath,
            clientCertKeyFile: pki.stranger.keyPath,
          },
          stray: { issuer: 'https://f.example', clientId: 'f', clientSecret: 'x'.repeat(32), clientKeyFile: key.path, clientKeyId: 'k' },
          notcert: {
            issuer: 'https://g.example',
            clientId: 'g',
            clientAuth: 'tls_client_auth',
            clientCertFile: key.path,
            clientCertKeyFile: pki.client.keyPath,
          },
        },
        frontends: { shop: { ...shop, provider: 'jwt' } },
      });
      const expected = [
        new RegExp(`providers\\.jwt\\.clientKeyFile: ${missing} does not exist`),
        /providers\.nokey: clientKeyFile \(a JWK or PEM private key file\) is required with clientAuth private_key_jwt/,
        new RegExp(`providers\\.junk\\.clientKeyFile: ${notAKey} is neither a JWK`),
        /providers\.mtls: clientCertKeyFile \(PEM\) is required with clientAuth tls_client_auth/,
        new RegExp(`providers\\.mismatch: clientCertKeyFile \\(${pki.stranger.keyPath}\\) is not the private key of the certificate in clientCertFile`),
        /providers\.stray: clientKeyFile is only used with clientAuth private_key_jwt \(it is client_secret_basic\)/,
        /providers\.stray: clientKeyId is only used with clientAuth private_key_jwt/,
        new RegExp(`providers\\.notcert\\.clientCertFile: ${key.path} holds no PEM certificate`),
      ];
      for (const e of expected)
        assert.ok(
          found.some((p) => e.test(p)),
          `${e} missing from ${found.join(' | ')}`,
        );
      assert.ok(
        found.every((p) => p.startsWith('BFF_CONFIG ')),
        found.join(' | '),
      );
    });

    it('none: neither a secret nor a key; a secret method still needs clientSecret', () => {
      assert.equal(frontendConfigs(base(), withCorp({ clientAuth: 'none' }))[0]?.oidc.clientAuth, 'none');
      assert.ok(
        problems(withCorp({ clientAuth: 'client_secret_post' })).some((p) => /providers\.corp: clientSecret is required with client_secret_post/.test(p)),
      );
    });
  });

  it("warns that the environment's client key is not used once BFF_CONFIG names the providers", () => {
    const dir = mkdtempSync(join(tmpdir(), 'bff-env-key-'));
    const key = writeClientKey(dir, 'env', { type: 'ec', curve: 'P-256' }, 'pem');
    const env = { OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_SECRET: '', OIDC_CLIENT_KEY_FILE: key.path };
    const warned = (more: Record<string, string>) =>
      loadConfig({ ...FILE_ENV, ...env, ...more }, randomSecret).warnings.filter((w) => w.includes('OIDC_CLIENT_KEY_FILE'));
    assert.equal(warned({}).length, 1);
    const own = { BFF_CONFIG: '', PUBLIC_URL: 'https://app.example', OIDC_ISSUER: 'https://idp.example', OIDC_CLIENT_ID: 'c', API_UPSTREAM: 'https://api' };
    assert.deepEqual(warned(own), []);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a bad file stops the service with exit 2, every problem listed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bff-frontends-'));
    const file = join(dir, 'frontends.json');
    writeFileSync(file, JSON.stringify({ providers: {}, frontends: { a: { provider: 'x' }, b: { provider: 'y' } } }));
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, ...FILE_ENV, BFF_CONFIG: file },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /frontends\.a: provider "x" is not declared/);
    assert.match(run.stderr, /frontends\.b: provider "y" is not declared/);
  });
});
