// Small helpers shared by the test/security/ suite: Set-Cookie parsing, a raw HTTP/1.1 client
// (for requests fetch refuses or normalises), store variants and Redis key diffs.
import assert from 'node:assert/strict';
import net from 'node:net';
import { startHarness, type Harness, type HarnessOptions } from './harness.js';
import { startTestRedis, type TestRedis } from './redis.js';

export interface ParsedSetCookie {
  name: string;
  value: string;
  /** Attribute name (lower case) → value ('' for flags such as HttpOnly). */
  attributes: Map<string, string>;
  raw: string;
}

export function parseSetCookie(header: string): ParsedSetCookie {
  const [pair = '', ...rest] = header.split(';');
  const eq = pair.indexOf('=');
  const attributes = new Map<string, string>();
  for (const part of rest) {
    const i = part.indexOf('=');
    const key = (i === -1 ? part : part.slice(0, i)).trim().toLowerCase();
    if (key) attributes.set(key, i === -1 ? '' : part.slice(i + 1).trim());
  }
  return { name: (eq === -1 ? pair : pair.slice(0, eq)).trim(), value: eq === -1 ? '' : pair.slice(eq + 1).trim(), attributes, raw: header };
}

/** The last Set-Cookie header among `headers` that sets `name`, parsed. */
export function findSetCookie(headers: readonly string[], name: string): ParsedSetCookie | undefined {
  return headers
    .map(parseSetCookie)
    .filter((c) => c.name === name)
    .at(-1);
}

export interface RawResponse {
  status: number;
  /** Header name (lower case) → value (repeated headers joined with ', '). */
  headers: Record<string, string>;
  body: string;
}

/**
 * One HTTP/1.1 request over a bare socket: the path goes out byte for byte (no URL
 * normalisation), header values may be any bytes, and oversized heads are sent as given.
 */
export function rawRequest(baseUrl: string, request: { method?: string; path: string; headers?: Array<[string, string | Buffer]> }): Promise<RawResponse> {
  const { hostname, port, host } = new URL(baseUrl);
  const lines: Buffer[] = [Buffer.from(`${request.method ?? 'GET'} ${request.path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n`, 'latin1')];
  for (const [name, value] of request.headers ?? []) {
    lines.push(Buffer.from(`${name}: `, 'latin1'), typeof value === 'string' ? Buffer.from(value, 'latin1') : value, Buffer.from('\r\n'));
  }
  lines.push(Buffer.from('\r\n'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      const data = Buffer.concat(chunks);
      if (data.length === 0) {
        reject(err ?? new Error(`no response to ${request.method ?? 'GET'} ${request.path.slice(0, 80)}`));
        return;
      }
      try {
        resolve(parseRaw(data));
      } catch (e) {
        reject(e as Error);
      }
    };
    // write, not end: Node's server drops a request whose client half-closes before it is answered.
    const socket = net.connect(Number(port), hostname, () => socket.write(Buffer.concat(lines)));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => finish());
    socket.on('close', () => finish());
    // The server may answer (431) and close before the whole head is written: keep what came back.
    socket.on('error', (err) => finish(err));
  });
}

function parseRaw(data: Buffer): RawResponse {
  const split = data.indexOf('\r\n\r\n');
  const head = (split === -1 ? data : data.subarray(0, split)).toString('latin1');
  let body = split === -1 ? Buffer.alloc(0) : data.subarray(split + 4);
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!status) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon < 1) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  return { status: Number(status[1]), headers, body: body.toString('utf8') };
}

function dechunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol === -1) break;
    const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!size) break;
    out.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** A browser-facing 4xx that leaks nothing of the implementation. */
export function assertCleanClientError(res: { status: number; body: string }, what: string): void {
  assert.ok(res.status >= 400 && res.status < 500, `${what} answered ${res.status} (a 4xx was required) ${res.body.slice(0, 200)}`);
  assert.doesNotMatch(res.body, /Error:/, `${what}: body names an Error`);
  assert.doesNotMatch(res.body, /\n\s+at [^\n]*[(:]\S+:\d+/, `${what}: body carries a stack trace`);
  assert.doesNotMatch(res.body, /node_modules|\/src\/|\.ts:\d+/, `${what}: body reveals source paths`);
}

/** The server-side stores: the cookie holds a random id and the session lives in the store. */
export type StoreKind = 'memory' | 'redis';
export const STORE_KINDS: readonly StoreKind[] = ['memory', 'redis'];
/** Every SESSION_STORE: the server-side ones and 'cookie', where the sealed session is the cookie. */
export type SessionStoreKind = StoreKind | 'cookie';
export const SESSION_STORE_KINDS: readonly SessionStoreKind[] = [...STORE_KINDS, 'cookie'];

export interface StoreHarness {
  h: Harness;
  /** Present for the redis variant. */
  redis: TestRedis | undefined;
  close(): Promise<void>;
}

/** A harness on the memory store, on cookie sessions, or on a real Redis started for it (closed again by close()). */
export async function startStoreHarness(kind: SessionStoreKind, options: HarnessOptions = {}): Promise<StoreHarness> {
  const redis = kind === 'redis' ? await startTestRedis() : undefined;
  let h: Harness;
  try {
    const env = kind === 'cookie' ? { ...options.env, SESSION_STORE: 'cookie' } : options.env;
    h = await startHarness({ ...options, ...(env ? { env } : {}), ...(redis ? { redis } : {}) });
  } catch (err) {
    await redis?.close();
    throw err;
  }
  return {
    h,
    redis,
    async close() {
      try {
        await h.close();
      } finally {
        await redis?.close();
      }
    },
  };
}

/**
 * Keys holding sealed values (sessions, transactions) created since `before`; indexes (`i:`),
 * rate counters (`rl:`) and the session cache's heartbeats (`s:hb:`, `r:hb:`) are left out.
 */
export async function newKeys(redis: TestRedis, before: ReadonlySet<string>): Promise<string[]> {
  const skipped = ['i:', 'rl:', 's:hb:', 'r:hb:'].map((p) => redis.prefix + p);
  return (await redis.keys()).filter((k) => !before.has(k) && !skipped.some((p) => k.startsWith(p)));
}

export const hostOf = (h: Harness): string => new URL(h.url).host;
