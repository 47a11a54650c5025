import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { SETTINGS } from '../../src/config/schema.js';

// Envoy, Traefik and Kong are not installed where the suite runs: their examples are checked for
// YAML syntax and for the settings the forward-auth contract depends on. The nginx example runs
// for real in nginx.test.ts.

type Tree = Record<string, unknown>;
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** Parses exactly one YAML document, refusing any error or warning (duplicate keys included). */
function parseYaml(path: string): Tree {
  const docs = parseAllDocuments(read(path));
  assert.ok(Array.isArray(docs) && docs.length === 1, `${path}: one YAML document`);
  const [doc] = docs;
  assert.deepEqual(doc!.errors.map((e) => e.message), [], `${path}: YAML errors`);
  assert.deepEqual(doc!.warnings.map((e) => e.message), [], `${path}: YAML warnings`);
  const tree = doc!.toJS() as unknown;
  assert.ok(tree && typeof tree === 'object', `${path}: a mapping at the top`);
  return tree as Tree;
}

/** Every value under `key` anywhere in the tree. */
function findAll(tree: unknown, key: string): unknown[] {
  if (!tree || typeof tree !== 'object') return [];
  const here = Array.isArray(tree) ? [] : key in tree ? [(tree as Tree)[key]] : [];
  return [...here, ...Object.values(tree).flatMap((v) => findAll(v, key))];
}

const at = (tree: unknown, ...path: Array<string | number>): unknown =>
  path.reduce<unknown>((node, k) => (node && typeof node === 'object' ? (node as Tree)[k as string] : undefined), tree);

const patterns = (matcher: unknown) => ((at(matcher, 'patterns') as Tree[] | undefined) ?? []).map((p) => `${Object.keys(p)[0]}:${String(Object.values(p)[0])}`);

const defaultOf = (name: string) => SETTINGS.find((s) => s.name === name)!.default;
const BFF_ROUTES = ['LOGIN_PATH', 'CALLBACK_PATH', 'SESSION_PATH', 'REFRESH_PATH', 'LOGOUT_PATH', 'BACKCHANNEL_LOGOUT_PATH'].map((n) => defaultOf(n).slice(1));

describe('gateway examples (syntax checked: Envoy, Traefik and Kong binaries are not available here)', () => {
  describe('examples/envoy/envoy.yaml (ext_authz, HTTP service)', () => {
    const tree = parseYaml('examples/envoy/envoy.yaml');
    const filter = (findAll(tree, 'http_filters')[0] as Tree[]).find((f) => f['name'] === 'envoy.filters.http.ext_authz');
    const config = at(filter, 'typed_config');

    it('asks the BFF at the forward-auth path, and never lets a request through on error', () => {
      assert.equal(at(config, '@type'), 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz');
      assert.equal(at(config, 'http_service', 'path_prefix'), '/auth');
      assert.equal(at(config, 'failure_mode_allow'), false);
      assert.equal(at(config, 'http_service', 'server_uri', 'cluster'), 'bff');
    });

    it('sends what the BFF needs of the original request, and copies its answer upstream', () => {
      assert.deepEqual(patterns(at(config, 'allowed_headers')).sort(), ['exact:cookie', 'exact:origin', 'exact:x-csrf', 'prefix:sec-fetch-']);
      const response = at(config, 'http_service', 'authorization_response');
      const upstream = patterns(at(response, 'allowed_upstream_headers'));
      for (const h of ['authorization', 'cookie', 'x-auth-request-user', 'x-auth-request-email']) assert.ok(upstream.includes(`exact:${h}`), h);
      assert.ok(patterns(at(response, 'allowed_client_headers_on_success')).includes('exact:set-cookie'));
      assert.ok(patterns(at(response, 'allowed_client_headers')).includes('exact:set-cookie'));
    });

    it('authorizes /api/ only, and every route goes to a defined cluster', () => {
      const routes = findAll(tree, 'routes')[0] as Tree[];
      const clusters = new Set((at(tree, 'static_resources', 'clusters') as Tree[]).map((c) => c['name']));
      for (const route of routes) assert.ok(clusters.has(at(route, 'route', 'cluster')), JSON.stringify(route));
      const disabled = (r: Tree) => at(r, 'typed_per_filter_config', 'envoy.filters.http.ext_authz', 'disabled') === true;
      const api = routes.find((r) => at(r, 'match', 'prefix') === '/api/')!;
      assert.ok(api && !disabled(api));
      for (const r of routes.filter((x) => x !== api)) assert.ok(disabled(r), `ext_authz must be off for ${JSON.stringify(r['match'])}`);
      const bffRegex = String(at(routes.find((r) => at(r, 'route', 'cluster') === 'bff'), 'match', 'safe_regex', 'regex'));
      for (const name of BFF_ROUTES) assert.ok(bffRegex.includes(name), name);
      assert.ok(!bffRegex.includes('auth|') && !bffRegex.includes('|auth'), 'the forward-auth path is not routed from outside');
    });

    it('names only Envoy v3 types', () => {
      for (const t of findAll(tree, '@type')) assert.match(String(t), /^type\.googleapis\.com\/envoy\.[a-z_.]+\.v3\.[A-Za-z]+$/);
    });
  });

  describe('examples/traefik/*.yml (forwardAuth)', () => {
    const staticConfig = parseYaml('examples/traefik/traefik.yml');
    const tree = parseYaml('examples/traefik/dynamic.yml');
    const forwardAuth = at(tree, 'http', 'middlewares', 'bff-auth', 'forwardAuth') as Tree;

    it('has an entry point and reads the dynamic file', () => {
      assert.ok(at(staticConfig, 'entryPoints', 'web', 'address'));
      assert.equal(at(staticConfig, 'providers', 'file', 'filename'), '/etc/traefik/dynamic.yml');
    });

    it('asks the BFF at the forward-auth path with only the headers it needs', () => {
      assert.match(String(forwardAuth['address']), /^http:\/\/[^/]+\/auth$/);
      assert.equal(forwardAuth['trustForwardHeader'], false);
      assert.deepEqual([...(forwardAuth['authRequestHeaders'] as string[])].sort(), ['Cookie', 'Origin', 'Sec-Fetch-Dest', 'Sec-Fetch-Mode', 'Sec-Fetch-Site', 'X-CSRF']);
    });

    it('replaces Authorization, Cookie and the identity headers upstream, and removes X-CSRF', () => {
      assert.deepEqual([...(forwardAuth['authResponseHeaders'] as string[])].sort(), ['Authorization', 'Cookie', 'X-Auth-Request-Email', 'X-Auth-Request-User', 'X-CSRF']);
      assert.ok((forwardAuth['addAuthCookiesToResponse'] as string[]).includes('__Host-bff-session'));
    });

    it('puts the middleware on the API router only; every router has a defined service', () => {
      const routers = at(tree, 'http', 'routers') as Record<string, Tree>;
      const services = at(tree, 'http', 'services') as Tree;
      const middlewares = at(tree, 'http', 'middlewares') as Tree;
      for (const [name, router] of Object.entries(routers)) {
        assert.ok(String(router['service']) in services, name);
        for (const m of (router['middlewares'] as string[] | undefined) ?? []) assert.ok(m in middlewares, `${name}: ${m}`);
      }
      assert.ok((routers['api']!['middlewares'] as string[]).includes('bff-auth'));
      for (const name of BFF_ROUTES) assert.ok(String(routers['bff']!['rule']).includes(`Path(\`/${name}\`)`), name);
      assert.ok(!String(routers['bff']!['rule']).includes('/auth'));
    });
  });

  describe('examples/kong/kong.yml (pre-function)', () => {
    const tree = parseYaml('examples/kong/kong.yml');
    const services = tree['services'] as Tree[];
    const api = services.find((s) => s['name'] === 'api')!;
    const plugin = ((at(api, 'routes', 0, 'plugins') as Tree[]) ?? []).find((p) => p['name'] === 'pre-function');
    const code = String((at(plugin, 'config', 'access') as string[] | undefined)?.[0] ?? '');

    it('is Kong 3 declarative configuration', () => {
      assert.equal(tree['_format_version'], '3.0');
      assert.ok(services.every((s) => typeof s['url'] === 'string'));
    });

    it("runs a pre-function on the API's route that asks the BFF and applies its answer", () => {
      assert.ok(plugin, 'pre-function plugin on the api route');
      for (const needle of ['require("resty.http")', '/auth"', '"X-Original-Method"', '"X-Original-URI"', '"X-CSRF"', '"Sec-Fetch-Site"',
        'res.status ~= 200', 'kong.response.exit(res.status', '{ "Authorization", "Cookie", "X-Auth-Request-User", "X-Auth-Request-Email" }', 'set_header(name, value)', 'clear_header(name)', 'clear_header("X-CSRF")']) {
        assert.ok(code.includes(needle), `the Lua code has ${needle}`);
      }
      const opened = (code.match(/\b(?:function|if|for|do)\b/g) ?? []).filter((w) => w !== 'do').length;
      assert.equal((code.match(/\bend\b/g) ?? []).length, opened, 'every if/for/function has its end');
    });

    it("routes the BFF's own paths exactly, and never the forward-auth path", () => {
      const bffPaths = String(at(services.find((s) => s['name'] === 'bff'), 'routes', 0, 'paths', 0));
      for (const name of BFF_ROUTES) assert.ok(bffPaths.includes(name), name);
      assert.ok(!/\bauth\b/.test(bffPaths.replace('backchannel-logout', '')));
    });
  });

  it('the gateway pages of docs/ explain every example', () => {
    const pages = ['forward-auth', 'nginx', 'envoy', 'traefik', 'kong'].map((name) => read(`docs/gateways/${name}.md`)).join('\n');
    for (const file of ['examples/nginx/nginx.conf', 'examples/envoy/envoy.yaml', 'examples/traefik/dynamic.yml', 'examples/traefik/traefik.yml', 'examples/kong/kong.yml']) {
      assert.ok(pages.includes(file), `docs/gateways/ mentions ${file}`);
    }
  });
});
