import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { FoldedCounter, FoldedHistogram } from './folded-metrics.js';
import type { LogEvent } from './log-events.js';

/**
 * Prometheus metrics, in a registry of our own (never the global one), served on the admin
 * listener at /metrics. Names follow Prometheus conventions: `bff_` prefix, base units
 * (seconds), `_total` for counters. Outcomes are counted through the log-event catalogue, so
 * every named event is also a metric with the same name.
 */
export interface Metrics {
  readonly registry: Registry;
  /** One HTTP request served by the public listener. */
  request(route: string, method: string, status: number, seconds: number): void;
  /** One catalogue event (login.started, refresh.ok, csrf.rejected…). */
  event(name: LogEvent): void;
  /** Time spent waiting on a dependency. */
  dependency(kind: 'upstream' | 'idp' | 'redis', operation: string, seconds: number, ok: boolean): void;
  /** A request refused before any work, by the code it got (csrf, rate_limited, payload_too_large…). */
  rejected(code: string): void;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface MetricsOptions {
  /** The Redis store's session cache counters, read at scrape time (nothing on the hot path). */
  sessionCache?: () => SessionCacheStats | undefined;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'bff_' });
  // The per-request series are folded into the exposition at scrape time (folded-metrics.ts).
  const requests = new FoldedCounter({
    name: 'bff_http_requests_total',
    help: 'HTTP requests served, by route, method and status.',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const duration = new FoldedHistogram({
    name: 'bff_http_request_duration_seconds',
    help: 'Time from request to response end, by route.',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const events = new Counter({
    name: 'bff_events_total',
    help: 'Outcomes by log event name (login.completed, refresh.rejected, backchannel.completed…).',
    labelNames: ['event'],
    registers: [registry],
  });
  const dependency = new FoldedHistogram({
    name: 'bff_dependency_duration_seconds',
    help: 'Time waiting on the upstream API, the IdP and Redis, by operation and outcome.',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'bff_rejections_total',
    help: 'Requests refused before any work, by error code.',
    labelNames: ['code'],
    registers: [registry],
  });
  if (options.sessionCache) sessionCacheMetrics(registry, options.sessionCache);
  // Label sets resolved once, found again through nested maps keyed by the values callers pass
  // (route names, Node's own method strings, operation names, the status number): a proxied call
  // builds no key string of its own for its request and upstream series. Every label set is
  // bounded (routes by name, Node's known methods, statuses, the dependencies' operations).
  type RequestSeries = { count: { n: number }; time: ReturnType<FoldedHistogram['seriesFor']> };
  const requestSeries = new Map<string, Map<string, Map<number, RequestSeries>>>();
  const newRequestSeries = (route: string, method: string, status: number): RequestSeries => {
    const byMethod = lookup(requestSeries, route, () => new Map<string, Map<number, RequestSeries>>());
    const s: RequestSeries = {
      count: requests.seriesFor(`${route} ${method} ${status}`, () => ({ route, method, status: String(status) })),
      time: duration.seriesFor(route, () => ({ route })),
    };
    lookup(byMethod, method, () => new Map<number, RequestSeries>()).set(status, s);
    return s;
  };
  type Series = ReturnType<FoldedHistogram['seriesFor']>;
  type ByOutcome = { ok?: Series; error?: Series };
  const dependencySeries = new Map<string, Map<string, ByOutcome>>();
  const dependencySeriesFor = (kind: string, operation: string, ok: boolean): Series => {
    const byOutcome = lookup(
      lookup(dependencySeries, kind, () => new Map<string, ByOutcome>()),
      operation,
      (): ByOutcome => ({}),
    );
    const outcome = ok ? 'ok' : 'error';
    return (byOutcome[outcome] ??= dependency.seriesFor(`${kind} ${operation} ${outcome}`, () => ({ dependency: kind, operation, outcome })));
  };
  return {
    registry,
    request(route, method, status, seconds) {
      const s = requestSeries.get(route)?.get(method)?.get(status) ?? newRequestSeries(route, method, status);
      s.count.n++;
      duration.observe(s.time, seconds);
    },
    event(name) {
      events.inc({ event: name });
    },
    dependency(kind, operation, seconds, ok) {
      const known = dependencySeries.get(kind)?.get(operation);
      dependency.observe((ok ? known?.ok : known?.error) ?? dependencySeriesFor(kind, operation, ok), seconds);
    },
    rejected(code) {
      rejected.inc({ code });
    },
  };
}

/** The value under `key`, made and stored on first use. */
function lookup<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

/** Hit rate, size and state of the session cache: what SESSION_CACHE_ENTRIES is tuned by. */
function sessionCacheMetrics(registry: Registry, read: () => SessionCacheStats | undefined): void {
  const seen = { hits: 0, misses: 0 };
  new Counter({
    name: 'bff_session_cache_lookups_total',
    help: 'Session reads of API calls by the session cache: hit (no Redis round trip) or miss.',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      const stats = read();
      if (!stats) return;
      this.inc({ result: 'hit' }, stats.hits - seen.hits);
      this.inc({ result: 'miss' }, stats.misses - seen.misses);
      seen.hits = stats.hits;
      seen.misses = stats.misses;
    },
  });
  new Gauge({
    name: 'bff_session_cache_entries',
    help: 'Sessions held by the session cache.',
    registers: [registry],
    collect() {
      this.set(read()?.entries ?? 0);
    },
  });
  new Gauge({
    name: 'bff_session_cache_serving',
    help: '1 while the invalidation channel is proven and the cache may serve; 0 while every read goes to Redis.',
    registers: [registry],
    collect() {
      this.set(read()?.serving ? 1 : 0);
    },
  });
}

/** Counters of a session cache (the Redis store's), read at scrape time. */
export interface SessionCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly entries: number;
  /** The invalidation channel is set up and has proven itself within the bound. */
  readonly serving: boolean;
}
