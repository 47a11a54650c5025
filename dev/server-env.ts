// Small helpers shared by the standalone demo servers (dev/idp-server.ts, dev/demo-upstream-server.ts):
// read their environment strictly and stop cleanly on SIGTERM/SIGINT.

/** Prints `message` prefixed with the program's name and exits with `code`. */
export function fail(code: number, message: string): never {
  process.stderr.write(`${programName()}: ${message}\n`);
  process.exit(code);
}

function programName(): string {
  return (process.argv[1] ?? 'dev server').split('/').pop() ?? 'dev server';
}

/** A port number 0-65535 from `name`, or `fallback` when unset or empty. */
export function envPort(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]?.trim() || String(fallback);
  const n = Number(raw);
  if (/^\d+$/.test(raw) && n <= 65535) return n;
  return fail(2, `${name} must be a port number 0-65535, got "${raw}"`);
}

/** An absolute http(s) URL from `name` (without trailing slash), or undefined when unset; `origin` refuses a path. */
export function envUrl(env: NodeJS.ProcessEnv, name: string, opts: { origin?: boolean } = {}): string | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail(2, `${name} must be an absolute http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(2, `${name} must be an http(s) URL, got "${raw}"`);
  if (opts.origin && (url.pathname !== '/' || url.search || url.hash)) fail(2, `${name} must be an origin without a path, got "${raw}"`);
  return opts.origin ? url.origin : raw.replace(/\/+$/, '');
}

/** Comma-separated absolute URLs from `name`, or `fallback`. */
export function envList(env: NodeJS.ProcessEnv, name: string, fallback: string): string[] {
  const items = (env[name]?.trim() || fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    try {
      new URL(item);
    } catch {
      fail(2, `${name} must be comma-separated absolute URLs, got "${item}"`);
    }
  }
  return items;
}

/** On SIGTERM or SIGINT: `close()` once, then exit 0 (1 when closing failed). */
export function stopOnSignals(what: string, close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    close().then(
      () => {
        process.stdout.write(`${what} stopped (${signal})\n`);
        process.exit(0);
      },
      (err: unknown) => fail(1, `${what} could not stop cleanly: ${err instanceof Error ? err.message : String(err)}`),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
