import type { CustomFetch } from 'openid-client';
import type { SessionStore } from '../session/store.js';
import type { EventLogger } from './logger.js';
import type { Metrics } from './metrics.js';
import { currentTraceparent } from './trace-context.js';

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
export function timedIdpFetch(inner: CustomFetch, metrics: Metrics): CustomFetch {
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

/** Times every store call: the Redis latency the hot path pays. */
export function timedStore(store: SessionStore, metrics: Metrics): SessionStore {
  const timed = <A extends unknown[], R>(operation: string, fn: (...args: A) => Promise<R>) =>
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
    close: () => store.close(),
  };
}
