import { isIP } from 'node:net';
import { z } from 'zod';
import type { ProxyTrust } from '../web/client-address.js';

/**
 * Turns one variable's raw text into its typed value, or into problems that name the variable.
 * A factory of the variable's name, so a settings row writes its name once; each parser's output
 * type becomes the type of that variable in the parsed environment (settings.ts infers it).
 */
export type Parser = (name: string) => z.ZodType;

export const MIN_SECRET_LENGTH = 32;
/** Authorization request parameters the login flow owns (OIDC_AUTH_PARAMS may not override them). */
const RESERVED_AUTH_PARAMS = new Set([
  'client_id',
  'response_type',
  'redirect_uri',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'request',
  'request_uri',
  'response_mode',
  'client_assertion',
  'client_assertion_type',
  'client_secret',
  'resource',
  'dpop_jkt',
]);
const DURATION = /^(\d+)(s|m|h|d)?$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** The raw text as given: secrets and prefixes keep their spaces. */
export const text = () => z.string();
export const trimmed = () => z.string().trim();
export const required = (name: string) => z.string().trim().min(1, `${name} is required`);
export const nonEmpty = (name: string) => z.string().trim().min(1, `${name} must not be empty`);

/** One of `values`, untrimmed; `why` explains a refused value that looks plausible. An allowed '' means "unset" and is not listed. */
export const oneOf =
  <const T extends readonly [string, ...string[]]>(values: T, why?: string) =>
  (name: string) => {
    const shown = values.filter(Boolean);
    const listed = shown.length > 1 ? `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}` : shown.join('');
    return z.enum(values, { message: `${name} must be ${listed}${why ? ` (${why})` : ''}` });
  };

/** Whole seconds, optionally with a unit: 90, 30m, 12h, 1d. */
export const seconds =
  (min = 0) =>
  (name: string) =>
    z
      .string()
      .trim()
      .transform((raw, ctx) => {
        const m = DURATION.exec(raw);
        const value = m ? Number(m[1]) * (UNIT_SECONDS[m[2] ?? 's'] ?? 1) : NaN;
        if (!Number.isSafeInteger(value) || value < min) {
          ctx.addIssue({ code: 'custom', message: `${name} must be a whole number of seconds >= ${min} (or 30m, 12h, 1d), got "${raw}"` });
          return z.NEVER;
        }
        return value;
      });

/** A whole number from `min`, up to `max` when given; `why` explains that bound to whoever set more. */
export const count = (min: number, max?: number, why?: string) => (name: string) =>
  z
    .string()
    .trim()
    .transform((raw, ctx) => {
      const n = Number(raw);
      if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
        const range = max === undefined ? `>= ${min}` : `from ${min} to ${max}${why ? ` (${why})` : ''}`;
        ctx.addIssue({ code: 'custom', message: `${name} must be a whole number ${range}, got "${raw}"` });
        return z.NEVER;
      }
      return n;
    });

export const bytes = (min: number) => (name: string) =>
  z
    .string()
    .trim()
    .transform((raw, ctx) => {
      const n = Number(raw);
      if (!/^\d+$/.test(raw) || n < min) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a number of bytes >= ${min}, got "${raw}"` });
        return z.NEVER;
      }
      return n;
    });

export const bool = (name: string) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .transform((raw, ctx) => {
      if (['true', '1', 'yes', 'on'].includes(raw)) return true;
      if (['false', '0', 'no', 'off'].includes(raw)) return false;
      ctx.addIssue({ code: 'custom', message: `${name} must be true or false, got "${raw}"` });
      return z.NEVER;
    });

export const port = (name: string) =>
  z
    .string()
    .trim()
    .transform((raw, ctx) => {
      const n = Number(raw);
      if (!/^\d+$/.test(raw) || n > 65535) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a port number 0-65535, got "${raw}"` });
        return z.NEVER;
      }
      return n;
    });

/** A required absolute http(s) URL. */
export const url = (name: string) =>
  z
    .string()
    .trim()
    .transform((raw, ctx) => {
      if (!raw) {
        ctx.addIssue({ code: 'custom', message: `${name} is required` });
        return z.NEVER;
      }
      try {
        const u = new URL(raw);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
        return u;
      } catch {
        ctx.addIssue({ code: 'custom', message: `${name} must be an absolute http(s) URL, got "${raw}"` });
        return z.NEVER;
      }
    });

/** Empty means unset (undefined); anything else must be a valid {@link url}. */
export const optionalUrl = (name: string) =>
  z
    .string()
    .trim()
    .transform((raw, ctx) => {
      if (!raw) return undefined;
      const parsed = url(name).safeParse(raw);
      if (parsed.success) return parsed.data;
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message });
      return z.NEVER;
    });

/** The base URL of an OTLP/HTTP collector; empty = unset. */
export const collectorUrl = (name: string) =>
  z
    .string()
    .trim()
    .transform((raw, ctx) => {
      if (!raw) return undefined;
      try {
        const u = new URL(raw);
        if ((u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash) return u;
      } catch {
        // reported below
      }
      ctx.addIssue({ code: 'custom', message: `${name} must be the base http(s) URL of an OTLP collector (like http://collector:4318), got "${raw}"` });
      return z.NEVER;
    });

const isPath = (p: string) => /^\/[A-Za-z0-9._~\-/]*$/.test(p) && !p.includes('//') && (p === '/' || !p.endsWith('/'));

export const path = (name: string) =>
  z
    .string()
    .trim()
    .refine(isPath, {
      message: `${name} must be an absolute path like /login (letters, digits, - . _ ~ /; no trailing slash)`,
    });

export const optionalPath = (name: string) =>
  z
    .string()
    .trim()
    .refine((p) => p === '' || isPath(p), {
      message: `${name} must be empty or an absolute path like /auth (letters, digits, - . _ ~ /; no trailing slash)`,
    });

/** Comma-separated, blanks dropped. */
export const list = () =>
  z.string().transform((raw) =>
    raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

export const hostPorts = (name: string) =>
  z.string().transform((raw, ctx) => {
    const nodes = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => {
        const m = /^([^\s:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(s);
        return m ? { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) } : undefined;
      });
    if (nodes.some((n) => n === undefined)) {
      ctx.addIssue({ code: 'custom', message: `${name} must be comma-separated host:port pairs, got "${raw}"` });
      return z.NEVER;
    }
    return nodes as Array<{ host: string; port: number }>;
  });

export const ipList = (name: string) =>
  list().superRefine((entries, ctx) => {
    for (const entry of entries) {
      if (!isIpOrCidr(entry))
        ctx.addIssue({ code: 'custom', message: `${name} entry "${entry}" must be an IP address or a CIDR block like 10.0.0.0/8 or fd00::/8` });
    }
  });

export const cookieName = (name: string) => z.string().regex(/^[A-Za-z0-9_]+$/, `${name} may hold letters, digits and _ only`);

/** A cookie name the SDKs can read: RFC 6265 token characters as such names use them (app.at_exp). */
export const sdkCookieName = (name: string) => z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, `${name} may hold letters, digits, _ . and - only`);

export const scopes = (name: string) =>
  z
    .string()
    .trim()
    .refine((s) => s.split(/\s+/).includes('openid'), { message: `${name} must contain openid` });

/** A query string of extra authorization request parameters, none of them one the login flow sets. */
export const authParams = (name: string) =>
  z
    .string()
    .trim()
    .transform((raw, ctx) => {
      const params = new URLSearchParams(raw);
      const reserved = [...params.keys()].filter((k) => RESERVED_AUTH_PARAMS.has(k));
      if (reserved.length) {
        ctx.addIssue({ code: 'custom', message: `${name} must not set ${reserved.join(', ')}: the BFF sets those itself` });
        return z.NEVER;
      }
      const maxAge = params.get('max_age');
      if (maxAge !== null && !/^\d{1,10}$/.test(maxAge)) {
        ctx.addIssue({ code: 'custom', message: `${name} max_age must be a number of seconds, got "${maxAge}"` });
        return z.NEVER;
      }
      return [...params.entries()];
    });

/** Comma-separated secrets, each long enough to seal with. */
export const secrets = (name: string) =>
  list().superRefine((values, ctx) => {
    values.forEach((s, i) => {
      if (s.length < MIN_SECRET_LENGTH) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} entry #${i + 1} is ${s.length} characters; at least ${MIN_SECRET_LENGTH} are needed (try: openssl rand -base64 32)`,
        });
      }
    });
  });

export const proxyTrust = (name: string) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .transform((raw, ctx): ProxyTrust => {
      if (raw === 'true') return { hops: 1 };
      if (raw === 'false' || raw === '') return { hops: 0 };
      if (/^\d+$/.test(raw)) return { hops: Number(raw) };
      const proxies = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (proxies.length && proxies.every(isIpOrCidr)) return { proxies };
      ctx.addIssue({
        code: 'custom',
        message: `${name} must be true, false, a number of proxy hops, or comma-separated IPs or CIDR blocks of the trusted proxies, got "${raw}"`,
      });
      return z.NEVER;
    });

/** An IPv4 or IPv6 address, optionally with a /prefix length. */
function isIpOrCidr(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** A gateway that may introspect handles (GATEWAY_CLIENTS). */
export interface GatewayClient {
  readonly id: string;
  readonly secret: string;
}

/**
 * `id:secret` pairs, comma-separated: the gateway clients of the handle introspection endpoint
 * (Basic authentication). Ids are unique; each secret has at least MIN_SECRET_LENGTH characters.
 */
export const gatewayClients = (name: string) =>
  list().transform((entries, ctx) => {
    const clients = new Map<string, string>();
    entries.forEach((entry, i) => {
      const colon = entry.indexOf(':');
      const id = colon > 0 ? entry.slice(0, colon) : '';
      const secret = colon > 0 ? entry.slice(colon + 1) : '';
      // Never echo the entry: it holds a secret.
      if (!/^[A-Za-z0-9._~-]{1,64}$/.test(id))
        ctx.addIssue({ code: 'custom', message: `${name} entry #${i + 1} must be id:secret (id of letters, digits, . _ ~ -)` });
      else if (secret.length < MIN_SECRET_LENGTH)
        ctx.addIssue({ code: 'custom', message: `${name} entry #${i + 1} (${id}): the secret needs at least ${MIN_SECRET_LENGTH} characters` });
      else if (clients.has(id)) ctx.addIssue({ code: 'custom', message: `${name} entry #${i + 1}: client ${id} is listed twice` });
      else clients.set(id, secret);
    });
    // A list rather than a Map: the frozen Config compares and serialises as plain data.
    return [...clients].map(([id, secret]) => ({ id, secret })) as ReadonlyArray<GatewayClient>;
  });
