import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Env } from './settings.js';
import { parseYaml } from './yaml.js';

/**
 * Which token a route's upstream receives:
 * - `user`: the session's access token (401 without a session);
 * - `user-optional`: the session's token when there is one, otherwise forwarded anonymously;
 * - `client`: a client-credentials token of the BFF itself (a session is still required);
 * - `exchange`: the session's token exchanged (RFC 8693) for the route's audience/resource;
 * - `phantom`: the JWT behind the session's opaque access token, obtained by introspection at the IdP;
 * - `none`: no token at all (no session required).
 */
export const TOKEN_POLICIES = ['user', 'user-optional', 'client', 'exchange', 'phantom', 'none'] as const;
export type TokenPolicy = (typeof TOKEN_POLICIES)[number];

/** One upstream API behind a path prefix, as parsed from API_ROUTES (or the API_UPSTREAM shorthand). */
export interface ApiRoute {
  /** Path prefix under API_PATH; the prefix is removed before forwarding. */
  readonly path: string;
  readonly upstream: URL;
  readonly token: TokenPolicy;
  /** Scopes the session (or the route's token) must hold; 403 `insufficient_scope` otherwise. */
  readonly requiredScopes: readonly string[];
  /** RFC 8707 resource indicator: the access token is requested for this resource only. */
  readonly resource: string | undefined;
  /** Audience asked for in a token exchange or client-credentials request (RFC 8693 `audience`). */
  readonly audience: string | undefined;
  /** Scope asked for in a token exchange or client-credentials request. */
  readonly scope: string | undefined;
  /** Send `Authorization: DPoP` with a fresh proof instead of `Bearer` (RFC 9449). */
  readonly dpop: boolean;
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
  /**
   * Phantom tokens, direction 2: the upstream gets an opaque handle instead of the token, which
   * only this gateway client (GATEWAY_CLIENTS) can resolve at GATEWAY_INTROSPECTION_PATH.
   */
  readonly handle: string | undefined;
}

/** Defaults that API_TIMEOUT, API_MAX_BODY and OIDC_DPOP give every route. */
export interface RouteDefaults {
  readonly apiPath: string;
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
  readonly dpop: boolean;
}

const PATH = /^\/[A-Za-z0-9._~\-/]*$/;

const httpUrl = z.string().transform((raw, ctx) => {
  try {
    const u = new URL(raw);
    // Credentials in the URL would be dropped silently (the pool connects to the origin).
    if ((u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash && !u.username && !u.password) return u;
  } catch {
    // reported below
  }
  ctx.addIssue({ code: 'custom', message: `must be an absolute http(s) URL without credentials, query or fragment, got "${raw}"` });
  return z.NEVER;
});

// RFC 8707 2: an absolute URI without a fragment.
const resourceUri = z.string().refine(
  (raw) => {
    try {
      return new URL(raw).hash === '' && !raw.includes('#');
    } catch {
      return false;
    }
  },
  { message: 'must be an absolute URI without a fragment (RFC 8707)' },
);

// RFC 6749 3.3 scope-token characters.
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const scopeList = z
  .union([z.array(z.string()), z.string().transform((v) => v.split(/\s+/).filter(Boolean))])
  .refine((list) => list.every((s) => SCOPE_TOKEN.test(s)), { message: 'must be scope tokens (no spaces, quotes or backslashes inside one)' });

const routeSchema = z.strictObject({
  path: z.string().refine((p) => PATH.test(p) && !p.includes('//') && (p === '/' || !p.endsWith('/')) && !/\/\.{1,2}(?:\/|$)/.test(p), {
    message: 'must be an absolute path like /api/orders (letters, digits, - . _ ~ /; no trailing slash, no . or .. segment)',
  }),
  upstream: httpUrl,
  token: z.enum(TOKEN_POLICIES, { message: `must be one of ${TOKEN_POLICIES.join(', ')}` }).default('user'),
  scopes: scopeList.optional(),
  resource: resourceUri.optional(),
  audience: z.string().min(1).optional(),
  scope: z.string().min(1).optional(),
  dpop: z.boolean().optional(),
  timeout: z.number().int().min(1, 'must be a whole number of seconds >= 1').optional(),
  maxBody: z.number().int().min(0, 'must be a whole number of bytes >= 0').optional(),
  handle: z
    .string()
    .regex(/^[A-Za-z0-9._~-]{1,64}$/, 'must be the id of a gateway client in GATEWAY_CLIENTS')
    .optional(),
});

const fileSchema = z.union([z.strictObject({ routes: z.array(z.unknown()) }), z.array(z.unknown())], {
  message: 'must be a list of routes, or an object with a `routes` list',
});

/** The settings the routes are built from. */
type RouteSettings = Pick<Env, 'API_PATH' | 'API_TIMEOUT' | 'API_MAX_BODY' | 'OIDC_DPOP' | 'API_ROUTES' | 'API_UPSTREAM'>;

/** API_ROUTES and the API_UPSTREAM shorthand, longest path first so the first match is the most specific. */
export function configuredRoutes(e: RouteSettings): { routes: ApiRoute[]; problems: string[] } {
  const defaults = { apiPath: e.API_PATH, timeoutMs: e.API_TIMEOUT * 1000, maxBodyBytes: e.API_MAX_BODY, dpop: e.OIDC_DPOP };
  if (!e.API_ROUTES && !e.API_UPSTREAM) return { routes: [], problems: [] }; // reported by checks.ts rawProblems
  const { routes, problems } = e.API_ROUTES ? readApiRoutes(e.API_ROUTES, defaults) : { routes: [], problems: [] };
  if (e.API_UPSTREAM) {
    if (routes.some((r) => r.path === e.API_PATH)) problems.push(`API_UPSTREAM and an API_ROUTES route both claim API_PATH (${e.API_PATH}): keep one`);
    routes.push(shorthandRoute(e.API_UPSTREAM, defaults));
  }
  if (!problems.length && routes.length === 0) problems.push(`API_ROUTES: ${e.API_ROUTES} lists no route`);
  return { routes: routes.sort((a, b) => b.path.length - a.path.length), problems };
}

/**
 * Reads and validates the API_ROUTES file (JSON, or YAML by extension). Returns the routes or
 * every problem found, each naming the route and field, never the first one only.
 */
export function readApiRoutes(file: string, defaults: RouteDefaults): { routes: ApiRoute[]; problems: string[] } {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    return { routes: [], problems: [`API_ROUTES: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`] };
  }
  const yaml = /\.ya?ml$/i.test(file);
  let document: unknown;
  try {
    document = yaml ? parseYaml(raw) : JSON.parse(raw);
  } catch (err) {
    return { routes: [], problems: [`API_ROUTES: ${file} is not valid ${yaml ? 'YAML' : 'JSON'}: ${(err as Error).message.split('\n')[0]}`] };
  }
  const list = fileSchema.safeParse(document);
  if (!list.success) return { routes: [], problems: [`API_ROUTES: ${file} ${list.error.issues[0]?.message ?? 'is malformed'}`] };
  return parseRouteEntries(Array.isArray(list.data) ? list.data : list.data.routes, defaults, 'API_ROUTES');
}

/**
 * Validates route entries (from an API_ROUTES file, or a frontend's `apiRoutes` in BFF_CONFIG),
 * each problem starts with `label` (the caller sorts them).
 */
export function parseRouteEntries(entries: readonly unknown[], defaults: RouteDefaults, label: string): { routes: ApiRoute[]; problems: string[] } {
  // Each route on its own, so that one broken route does not hide the others' problems.
  const problems: string[] = [];
  const routes: Array<ApiRoute & { index: number }> = [];
  entries.forEach((entry, index) => {
    const parsed = routeSchema.safeParse(entry);
    if (parsed.success) {
      routes.push({ ...toRoute(parsed.data, defaults), index });
      problems.push(...dpopProblems(parsed.data, defaults.dpop).map((p) => `${label} route #${index + 1} (${parsed.data.path}): ${p}`));
    } else problems.push(...parsed.error.issues.map((i) => `${label} route #${index + 1}${describeField(i)}: ${i.message}`));
  });
  problems.push(...routeProblems(routes, defaults.apiPath).map((p) => p.replace(/^API_ROUTES/, label)));
  return { routes: routes.map(({ index: _index, ...route }) => route), problems };
}

/** `dpop` on a route must be something the BFF can honour. */
function dpopProblems(r: z.output<typeof routeSchema>, sessionDpop: boolean): string[] {
  if (r.dpop === undefined) return [];
  if ((r.token === 'user' || r.token === 'user-optional') && r.dpop !== sessionDpop) {
    return [`dpop: ${r.dpop} cannot apply: a user route sends the session's own tokens, which are DPoP-bound exactly when OIDC_DPOP=true`];
  }
  if (r.token === 'exchange' && r.dpop && !sessionDpop)
    return ["dpop: true on an exchange route needs OIDC_DPOP=true (the exchanged token is bound to the session's key)"];
  return [];
}

function toRoute(r: z.output<typeof routeSchema>, defaults: RouteDefaults): ApiRoute {
  return {
    path: r.path,
    upstream: r.upstream,
    token: r.token,
    requiredScopes: r.scopes ?? [],
    resource: r.resource,
    audience: r.audience,
    scope: r.scope,
    // A phantom route sends the introspected JWT as a Bearer token: there is no key to prove.
    dpop: r.dpop ?? (defaults.dpop && r.token !== 'none' && r.token !== 'phantom'),
    timeoutMs: (r.timeout ?? defaults.timeoutMs / 1000) * 1000,
    maxBodyBytes: r.maxBody ?? defaults.maxBodyBytes,
    handle: r.handle,
  };
}

function describeField(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return ` ${issue.keys.join(', ')}`;
  return issue.path.length ? ` ${issue.path.join('.')}` : '';
}

/** The API_UPSTREAM shorthand: one `user` route at API_PATH. */
export function shorthandRoute(upstream: URL, defaults: RouteDefaults): ApiRoute {
  return {
    path: defaults.apiPath,
    upstream,
    token: 'user',
    requiredScopes: [],
    resource: undefined,
    audience: undefined,
    scope: undefined,
    dpop: defaults.dpop,
    timeoutMs: defaults.timeoutMs,
    maxBodyBytes: defaults.maxBodyBytes,
    handle: undefined,
  };
}

/** Problems that involve several routes or fields. */
export function routeProblems(routes: ReadonlyArray<ApiRoute & { index: number }>, apiPath: string): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const r of routes) {
    const name = `route #${r.index + 1} (${r.path})`;
    if (seen.has(r.path)) problems.push(`API_ROUTES ${name}: the path is used by an earlier route`);
    seen.add(r.path);
    if (r.path !== apiPath && !r.path.startsWith(`${apiPath}/`)) problems.push(`API_ROUTES ${name}: the path must be API_PATH (${apiPath}) or lie under it`);
    if (r.token === 'exchange' && !r.audience && !r.resource) problems.push(`API_ROUTES ${name}: token exchange needs an audience or a resource`);
    if (r.token === 'none' && (r.requiredScopes.length || r.resource || r.dpop)) {
      problems.push(`API_ROUTES ${name}: token none sends no token, so scopes, resource and dpop do not apply`);
    }
    if (r.handle && ((r.token !== 'user' && r.token !== 'phantom') || r.dpop)) {
      problems.push(
        `API_ROUTES ${name}: a handle stands for the session's own token, so it needs token user or phantom, without dpop (a gateway cannot prove a DPoP key)`,
      );
    }
    if (r.token === 'phantom' && (r.resource || r.audience || r.scope || r.dpop)) {
      problems.push(
        `API_ROUTES ${name}: token phantom sends the JWT the IdP's introspection gives for the session's own token, so resource, audience, scope and dpop do not apply`,
      );
    }
    if ((r.token === 'user' || r.token === 'user-optional') && (r.audience || r.scope)) {
      problems.push(`API_ROUTES ${name}: audience and scope apply to client and exchange tokens; a user route may name a resource`);
    }
  }
  return problems;
}

/** Every resource the session's token must be able to reach: asked for at login (RFC 8707 2.1). */
export function loginResources(routes: readonly ApiRoute[]): string[] {
  return [...new Set(routes.filter((r) => (r.token === 'user' || r.token === 'user-optional') && r.resource).map((r) => r.resource!))];
}

/** A route's `handle` must name a listed gateway client, and the endpoint that resolves handles must be on. */
export function handleProblems(routes: readonly ApiRoute[], clients: ReadonlyArray<{ id: string }>, introspectionPath: string): string[] {
  const problems: string[] = [];
  for (const r of routes.filter((route) => route.handle)) {
    if (!clients.some((c) => c.id === r.handle))
      problems.push(`API_ROUTES route ${r.path}: handle names ${r.handle}, which is not in GATEWAY_CLIENTS or GATEWAY_CLIENT_KEYS`);
    if (!introspectionPath) problems.push(`API_ROUTES route ${r.path}: handles need GATEWAY_INTROSPECTION_PATH, where the gateway resolves them`);
  }
  return problems;
}
