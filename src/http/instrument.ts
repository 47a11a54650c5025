import type { CustomFetch } from 'openid-client';
import type { SessionStore } from '../store/store.js';
import type { EventLogger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/otel.js';
import { currentTraceparent } from '../observability/trace-context.js';

/** Every catalogue event is also counted, whether or not its level is logged. */
export function countingLogger(log: EventLogger, metrics: Metrics): EventLogger {
  return {
    event(name, fields) {
      metrics.event(name);
      log.event(name, fields);
    },
    enabled: (name) => log.enabled(name),
    flush: () => log.flush(),
  };
}

const seconds = (start: number) => (performance.now() - start) / 1000;

/** Times every IdP call (discovery, PAR, token, revocation…) by the endpoint's last path segment. */
export function timedIdpFetch(inner: CustomFetch, metrics: Metrics, tracing?: Tracing): CustomFetch {
  if (tracing) return tracedIdpFetch(inner, metrics, tracing);
  return async (url, options) => {
    const traceparent = currentTraceparent();
    if (traceparent) options = { ...options, headers: { ...options.headers, traceparent } };
    const operation = new URL(url).pathname.split('/').filter(Boolean).pop() ?? 'root';
    const start = performance.now();
    try {
      const res = await inner(url, options);
      metrics.dependency('idp', operation, seconds(start), res.status < 500);
      return res;
    } catch (err) {
      metrics.dependency('idp', operation, seconds(start), false);
      throw err;
    }
  };
}

/**
 * With tracing on: the IdP call gets a client span of the request being served, and the IdP
 * that span's traceparent (replacing the incoming one, so the trace links through the BFF).
 */
function tracedIdpFetch(inner: CustomFetch, metrics: Metrics, tracing: Tracing): CustomFetch {
  return async (url, options) => {
    const target = new URL(url);
    const operation = target.pathname.split('/').filter(Boolean).pop() ?? 'root';
    const span = tracing.httpCall(`idp ${operation}`, options.method ?? 'GET', target);
    if (span) options = { ...options, headers: { ...options.headers, traceparent: span.traceparent } };
    const start = performance.now();
    try {
      const res = await inner(url, options);
      metrics.dependency('idp', operation, seconds(start), res.status < 500);
      span?.end(res.status);
      return res;
    } catch (err) {
      metrics.dependency('idp', operation, seconds(start), false);
      span?.end(undefined, err);
      throw err;
    }
  };
}

/** Times every store call: the Redis latency the hot path pays (and, with tracing on, a span per command). */
export function timedStore(store: SessionStore, metrics: Metrics, tracing?: Tracing): SessionStore {
  const measured =
    <A extends unknown[], R>(operation: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const start = performance.now();
      try {
        const r = await fn(...args);
        metrics.dependency('redis', operation, seconds(start), true);
        return r;
      } catch (err) {
        metrics.dependency('redis', operation, seconds(start), false);
        throw err;
      }
    };
  const timed = tracing ? tracedCalls(tracing, store.kind, measured) : measured;
  return {
    kind: store.kind,
    getAndTouch: timed('getex', store.getAndTouch),
    get: timed('get', store.get),
    set: timed('set', store.set),
    replaceIf: timed('replace_if', store.replaceIf),
    take: timed('getdel', store.take),
    delete: timed('del', store.delete),
    acquireLock: timed('lock', store.acquireLock),
    releaseLock: timed('unlock', store.releaseLock),
    setIfAbsent: timed('set_nx', store.setIfAbsent),
    increment: timed('incr', store.increment),
    remainingTtl: timed('pttl', store.remainingTtl),
    indexAdd: timed('index_add', store.indexAdd),
    indexRemove: timed('index_remove', store.indexRemove),
    indexMembers: timed('index_members', store.indexMembers),
    ping: timed('ping', store.ping),
    // Served from memory: nothing waited on Redis, so nothing to time.
    ...(store.cachedValue ? { cachedValue: store.cachedValue.bind(store) } : {}),
    ...(store.trackedGet ? { trackedGet: timedWhenUncached(store, store.trackedGet.bind(store), timed('get', store.trackedGet.bind(store))) } : {}),
    ...(store.caughtUp ? { caughtUp: store.caughtUp.bind(store) } : {}),
    ...(store.cacheStats ? { cacheStats: store.cacheStats.bind(store) } : {}),
    close: () => store.close(),
  };
}

/**
 * While the store's cache serves, a tracked read is answered from memory almost every time:
 * timing it would record a Redis call per request that never happened (its few reads of Redis
 * are the cache's misses). While the cache is off, every call is a GET, timed like one.
 */
function timedWhenUncached<A extends unknown[], R>(store: SessionStore, untimed: (...args: A) => Promise<R>, timed: (...args: A) => Promise<R>) {
  if (!store.cacheStats) return timed;
  const stats = store.cacheStats.bind(store);
  return (...args: A): Promise<R> => (stats().serving ? untimed(...args) : timed(...args));
}

/** Wraps each timed store call in a client span of the request being served (none outside one). */
function tracedCalls(
  tracing: Tracing,
  system: string,
  measured: <A extends unknown[], R>(operation: string, fn: (...args: A) => Promise<R>) => (...args: A) => Promise<R>,
) {
  return <A extends unknown[], R>(operation: string, fn: (...args: A) => Promise<R>) => {
    const call = measured(operation, fn);
    return async (...args: A): Promise<R> => {
      const span = tracing.storeCall(system, operation);
      if (!span) return call(...args);
      try {
        const r = await call(...args);
        span.end();
        return r;
      } catch (err) {
        span.end(undefined, err);
        throw err;
      }
    };
  };
}
