import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.js';

// The nginx example runs for real (test/gateway/nginx.test.ts). Envoy, Traefik and Kong cannot
// run here (no binaries, no network to fetch them), so their examples are not restated line by
// line: a copy of a file's lines fails on every harmless edit and passes on a broken routing
// table. What matters is checked instead, by evaluating each example's route table the way its
// gateway does (first match, priority, regex before prefix) for the paths of a BFF configured as
// the example says: each BFF route reaches the BFF, the API reaches the API only through the
// BFF's forward-auth check (failing closed), and the forward-auth endpoint is not reachable from
// outside. YAML that a gateway would refuse (a syntax error, a duplicate key) fails too.

type Tree = Record<string, unknown>;
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** Parses exactly one YAML document, refusing any error or warning (duplicate keys included). */
function parseYaml(path: string): Tree {
  const docs = parseAllDocuments(read(path));
  assert.ok(Array.isArray(docs) && docs.length === 1, `${path}: one YAML document`);
  const [doc] = docs;
  assert.deepEqual(
    doc!.errors.map((e) => e.message),
    [],
    `${path}: YAML errors`,
  );
  assert.deepEqual(
    doc!.warnings.map((e) => e.message),
    [],
    `${path}: YAML warnings`,
  );
  const tree = doc!.toJS() as unknown;
  assert.ok(tree && typeof tree === 'object', `${path}: a mapping at the top`);
  return tree as Tree;
}

const at = (tree: unknown, ...path: Array<string | number>): unknown =>
  path.reduce<unknown>((node, k) => (node && typeof node === 'object' ? (node as Tree)[k as string] : undefined), tree);

/** The BFF as the examples configure it (FORWARD_AUTH_PATH=/auth, every other path at its default). */
const config = loadConfig(
  {
    PUBLIC_URL: 'https://app.example.test',
    OIDC_ISSUER: 'https://idp.example.test',
    OIDC_CLIENT_ID: 'spa',
    OIDC_CLIENT_SECRET: 'a-client-secret-long-enough-for-the-check',
    API_UPSTREAM: 'http://api:8080/v1',
    SESSION_SECRETS: 'a-session-secret-0123456789-abcdefghijklmnopq',
    FORWARD_AUTH_PATH: '/auth',
    FORWARD_AUTH_TRUSTED_IPS: '10.0.0.0/8',
  },
  () => 'unused-generated-secret',
);
const forwardAuthPath = config.forwardAuth.path ?? assert.fail('FORWARD_AUTH_PATH is set');
const { api: apiPath, ...bffRoutes } = config.paths;
const BFF_PATHS = Object.values(bffRoutes);

/** Where a gateway sends a request for a path, and whether the BFF's forward-auth check runs first. */
interface Routed {
  to: string | undefined;
  checked: boolean;
}

/** The checks every example must pass, given how its gateway routes a path. */
function routesTheBff(route: (path: string) => Routed, names: { bff: string; api: string }) {
  it("sends each of the BFF's own routes to the BFF, unchecked", () => {
    for (const path of BFF_PATHS) assert.deepEqual(route(path), { to: names.bff, checked: false }, path);
  });
  it(`sends ${apiPath}/… to the API, and only through the BFF's forward-auth check`, () => {
    for (const path of [`${apiPath}/`, `${apiPath}/orders/7`]) assert.deepEqual(route(path), { to: names.api, checked: true }, path);
  });
  it(`does not route ${forwardAuthPath} (the forward-auth endpoint) or near misses of BFF routes to the BFF`, () => {
    for (const path of [forwardAuthPath, `${forwardAuthPath}/x`, `${BFF_PATHS[0]}x`, `${BFF_PATHS[0]}/x`]) {
      assert.notEqual(route(path).to, names.bff, path);
    }
  });
}

describe('gateway examples route the BFF (Envoy, Traefik and Kong evaluated here; nginx runs in nginx.test.ts)', () => {
  describe('examples/envoy/envoy.yaml (ext_authz)', () => {
    const tree = parseYaml('examples/envoy/envoy.yaml');
    const hcm = at(tree, 'static_resources', 'listeners', 0, 'filter_chains', 0, 'filters', 0, 'typed_config');
    const authz = (at(hcm, 'http_filters') as Tree[]).find((f) => f['name'] === 'envoy.filters.http.ext_authz');
    const routes = at(hcm, 'route_config', 'virtual_hosts', 0, 'routes') as Tree[];
    const clusters = new Set((at(tree, 'static_resources', 'clusters') as Tree[]).map((c) => c['name']));

    // Envoy takes the first route whose match holds; safe_regex must match the whole path.
    const route = (path: string): Routed => {
      const hit = routes.find((r) => {
        const m = r['match'] as Tree;
        if (typeof m['prefix'] === 'string') return path.startsWith(m['prefix']);
        if (typeof m['path'] === 'string') return path === m['path'];
        return new RegExp(`^(?:${String(at(m, 'safe_regex', 'regex'))})$`).test(path);
      });
      const disabled = at(hit, 'typed_per_filter_config', 'envoy.filters.http.ext_authz', 'disabled') === true;
      return { to: at(hit, 'route', 'cluster') as string | undefined, checked: Boolean(authz) && !disabled };
    };

    it("asks the BFF's cluster at the forward-auth path, and fails closed", () => {
      assert.equal(at(authz, 'typed_config', 'http_service', 'server_uri', 'cluster'), 'bff');
      assert.equal(at(authz, 'typed_config', 'http_service', 'path_prefix'), forwardAuthPath);
      assert.equal(at(authz, 'typed_config', 'failure_mode_allow'), false);
      for (const r of routes) assert.ok(clusters.has(at(r, 'route', 'cluster')), `a route to an undefined cluster: ${JSON.stringify(r['match'])}`);
    });
    routesTheBff(route, { bff: 'bff', api: 'api' });
  });

  describe('examples/traefik/*.yml (forwardAuth)', () => {
    const staticConfig = parseYaml('examples/traefik/traefik.yml');
    const tree = parseYaml('examples/traefik/dynamic.yml');
    const routers = at(tree, 'http', 'routers') as Record<string, Tree>;
    const middlewares = at(tree, 'http', 'middlewares') as Record<string, Tree>;

    // A rule here is Path(`…`) / PathPrefix(`…`) terms joined by ||; the router with the highest
    // priority wins, and a router's default priority is the length of its rule.
    const matches = (rule: string, path: string) =>
      [...rule.matchAll(/(Path|PathPrefix)\(`([^`]*)`\)/g)].some(([, kind, p]) => (kind === 'Path' ? path === p : path.startsWith(p!)));
    const route = (path: string): Routed => {
      const [hit] = Object.values(routers)
        .filter((r) => matches(String(r['rule']), path))
        .sort((x, y) => Number(y['priority'] ?? String(y['rule']).length) - Number(x['priority'] ?? String(x['rule']).length));
      const checks = ((hit?.['middlewares'] as string[] | undefined) ?? []).map((m) => middlewares[m]);
      const checked = checks.some((m) => String(at(m, 'forwardAuth', 'address')).endsWith(forwardAuthPath));
      return { to: hit?.['service'] as string | undefined, checked };
    };

    it('reads the dynamic file, and every router names a defined service and middlewares', () => {
      assert.equal(at(staticConfig, 'providers', 'file', 'filename'), '/etc/traefik/dynamic.yml');
      const services = at(tree, 'http', 'services') as Tree;
      for (const [name, r] of Object.entries(routers)) {
        assert.ok(String(r['service']) in services, name);
        for (const m of (r['middlewares'] as string[] | undefined) ?? []) assert.ok(m in middlewares, `${name}: ${m}`);
      }
    });
    routesTheBff(route, { bff: 'bff', api: 'api' });
  });

  describe('examples/kong/kong.yml (pre-function)', () => {
    const tree = parseYaml('examples/kong/kong.yml');
    const services = tree['services'] as Tree[];
    const routes = services.flatMap((s) => ((s['routes'] as Tree[] | undefined) ?? []).map((r) => ({ service: String(s['name']), route: r })));

    // Kong matches regex paths ('~' prefix, anchored at the start) before plain prefixes, and the
    // longest prefix among those. The check itself is Lua in a pre-function: no Lua runs here, so
    // only that the API's route has one that calls the BFF's forward-auth endpoint is checked.
    const paths = (r: Tree) => (r['paths'] as string[] | undefined) ?? [];
    const route = (path: string): Routed => {
      const regex = routes.find(({ route: r }) => paths(r).some((p) => p.startsWith('~') && new RegExp(`^(?:${p.slice(1)})`).test(path)));
      const prefix = routes
        .flatMap(({ service, route: r }) =>
          paths(r)
            .filter((p) => !p.startsWith('~') && path.startsWith(p))
            .map((p) => ({ service, route: r, length: p.length })),
        )
        .sort((x, y) => y.length - x.length)[0];
      const hit = regex ?? prefix;
      const code = ((hit?.route['plugins'] as Tree[] | undefined) ?? [])
        .filter((p) => p['name'] === 'pre-function')
        .flatMap((p) => (at(p, 'config', 'access') as string[] | undefined) ?? [])
        .join('\n');
      return { to: hit?.service, checked: code.includes(`${forwardAuthPath}"`) && code.includes('kong.response.exit(res.status') };
    };

    it('is Kong 3 declarative configuration', () => {
      assert.equal(tree['_format_version'], '3.0');
      assert.ok(services.every((s) => typeof s['url'] === 'string'));
    });
    routesTheBff(route, { bff: 'bff', api: 'api' });
  });

  it('the gateway pages of docs/ explain every example', () => {
    const pages = ['forward-auth', 'nginx', 'envoy', 'traefik', 'kong'].map((name) => read(`docs/gateways/${name}.md`)).join('\n');
    for (const file of [
      'examples/nginx/nginx.conf',
      'examples/envoy/envoy.yaml',
      'examples/traefik/dynamic.yml',
      'examples/traefik/traefik.yml',
      'examples/kong/kong.yml',
    ]) {
      assert.ok(pages.includes(file), `docs/gateways/ mentions ${file}`);
    }
  });
});
