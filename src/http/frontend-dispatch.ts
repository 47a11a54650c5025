import type { FrontendIdentity } from '../config/load.js';
import type { Step } from '../web/context.js';

/** One frontend as the dispatcher sees it: where it is served, and its whole pipeline. */
export interface FrontendUnit {
  readonly frontend: FrontendIdentity;
  readonly step: Step;
}

/**
 * Picks the frontend of each request (BFF_CONFIG): by Host header, then by path prefix. The
 * most specific match wins: a named host before `*`, a longer prefix before a shorter one (and
 * before none). A request no frontend claims goes to `unmatched` (a 404): it never falls
 * through to some other frontend's sessions. /healthz and /readyz belong to the process.
 *
 * On the hot path this is one string comparison, one Map lookup and a few prefix tests.
 */
export function frontendDispatch(
  units: readonly FrontendUnit[],
  unmatched: Step,
  health: { healthz: Step; readyz: Step },
): Step & { replace(units: readonly FrontendUnit[]): void } {
  let table = tableOf(units);
  // Koa's ctx.host splits the Host header with a regular expression on every call; a listener
  // sees the same few Host values over and over, so the last one is remembered. Only while
  // ctx.host is the Host header alone (no proxy trust, HTTP/1): otherwise it is asked each time.
  let lastHeader: string | undefined;
  let lastHost = '';
  const hostOf = (ctx: Parameters<Step>[0]): string => {
    const header = ctx.req.headers.host;
    if (ctx.app.proxy || ctx.req.httpVersionMajor >= 2 || header === undefined) return ctx.host.toLowerCase();
    if (header !== lastHeader) {
      lastHost = ctx.host.toLowerCase();
      lastHeader = header;
    }
    return lastHost;
  };
  const step: Step = (ctx, next) => {
    const path = ctx.path;
    if (path === '/healthz' || path === '/readyz') return (path === '/healthz' ? health.healthz : health.readyz)(ctx, next);
    const host = hostOf(ctx);
    const unit = first(table.byHost.get(host), path) ?? first(table.anyHost, path);
    return (unit ? unit.step : unmatched)(ctx, next);
  };
  // SIGHUP: a new table in one assignment; a request already dispatched finishes where it began.
  return Object.assign(step, { replace: (next: readonly FrontendUnit[]) => void (table = tableOf(next)) });
}

function tableOf(units: readonly FrontendUnit[]): { byHost: Map<string, FrontendUnit[]>; anyHost: FrontendUnit[] } {
  const byHost = new Map<string, FrontendUnit[]>();
  for (const unit of units) {
    const list = byHost.get(unit.frontend.host) ?? [];
    list.push(unit);
    byHost.set(unit.frontend.host, list);
  }
  for (const list of byHost.values()) list.sort((a, b) => b.frontend.pathPrefix.length - a.frontend.pathPrefix.length);
  return { byHost, anyHost: byHost.get('*') ?? [] };
}

function first(list: readonly FrontendUnit[] | undefined, path: string): FrontendUnit | undefined {
  if (!list) return undefined;
  for (const unit of list) {
    const prefix = unit.frontend.pathPrefix;
    // On a segment boundary: /app matches /app and /app/x, never /application.
    if (!prefix || path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47)) return unit;
  }
  return undefined;
}
