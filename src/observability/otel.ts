import { AsyncLocalStorage } from 'node:async_hooks';
import type { Attributes, Context, Span, SpanContext } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Config } from '../config/load.js';
import type { Step } from '../web/context.js';
import { routeLabeller } from './route-label.js';
import type { EventLogger } from './logger.js';
import { errorFields } from './logger.js';

/**
 * OpenTelemetry trace export, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set.
 *
 * Off, this module costs nothing: it imports OpenTelemetry types only, and loads the packages
 * (SDK, exporter) through the dynamic `import()`s in {@link startTracing}, which returns
 * undefined before reaching them; every caller holds an `undefined` Tracing (no span, no async
 * context, no timer). (prom-client loads `@opentelemetry/api` on its own, for exemplars.)
 *
 * On, a local tracer provider (never registered globally) batches spans to
 * `<endpoint>/v1/traces` (OTLP/HTTP, JSON): one server span per request, whose parent is the
 * incoming `traceparent` when valid, and one client span per call made for it (upstream, IdP,
 * session store). The upstream and the IdP are sent the traceparent of *their* span, so their
 * own spans hang below it in the same trace.
 */
export interface Tracing {
  /** Koa step right after requestContext (before errorHandler, so it sees the final status). */
  readonly step: Step;
  /** A client span `<METHOD> <name>` for an HTTP call made for the request being served; undefined outside one. */
  httpCall(name: string, method: string, target: URL): ChildSpan | undefined;
  /** A client span for one session-store command of the request being served; undefined outside one. */
  storeCall(system: string, operation: string): ChildSpan | undefined;
  /** Exports what is still buffered and stops (at most {@link SHUTDOWN_MS}); BffApp.close() calls it. */
  shutdown(): Promise<void>;
}

export interface ChildSpan {
  /** W3C traceparent naming this span: what the dependency is sent. */
  readonly traceparent: string;
  /** Ends the span with the dependency's HTTP status (>= 400 marks it failed) or the error the call failed with. */
  end(status?: number, error?: unknown): void;
}

const SHUTDOWN_MS = 5000;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
const methodOf = (m: string) => (METHODS.has(m) ? m : '_OTHER');
// OTLP's ExportResultCode.SUCCESS (in @opentelemetry/core, not a direct dependency).
const EXPORT_SUCCESS = 0;

/** Starts trace export when the configuration names an OTLP endpoint; undefined (and nothing loaded) otherwise. */
export async function startTracing(config: Config, log: EventLogger): Promise<Tracing | undefined> {
  const endpoint = config.otel.endpoint;
  if (!endpoint) return undefined;
  const [api, sdk, otlp, resources, semconv] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
  ]);
  const { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, isSpanContextValid } = api;
  const {
    ATTR_HTTP_REQUEST_METHOD: METHOD,
    ATTR_HTTP_ROUTE: ROUTE,
    ATTR_HTTP_RESPONSE_STATUS_CODE: STATUS,
    ATTR_URL_PATH: URL_PATH,
    ATTR_SERVER_ADDRESS: ADDRESS,
    ATTR_SERVER_PORT: PORT,
    ATTR_ERROR_TYPE: ERROR_TYPE,
    ATTR_DB_SYSTEM_NAME: DB_SYSTEM,
    ATTR_DB_OPERATION_NAME: DB_OPERATION,
    ATTR_SERVICE_NAME: SERVICE_NAME,
  } = semconv;

  const url = new URL(`${endpoint.pathname.replace(/\/+$/, '')}/v1/traces`, endpoint);
  const exporter = reportingExporter(new otlp.OTLPTraceExporter({ url: url.href }), url.origin + url.pathname, log);
  const provider = new sdk.BasicTracerProvider({
    resource: resources.defaultResource().merge(resources.resourceFromAttributes({ [SERVICE_NAME]: config.otel.serviceName })),
    spanProcessors: [new sdk.BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('oidc-bff');
  const routeOf = routeLabeller(config);
  const active = new AsyncLocalStorage<Context>();

  /** The incoming traceparent as the remote parent, when it is valid (W3C Trace Context). */
  const parentOf = (header: string): Context => {
    const m = header ? TRACEPARENT.exec(header) : null;
    if (!m || m[1] === 'ff') return ROOT_CONTEXT;
    const remote: SpanContext = { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16) & 1, isRemote: true };
    return isSpanContextValid(remote) ? trace.setSpanContext(ROOT_CONTEXT, remote) : ROOT_CONTEXT;
  };

  const failed = (span: Span, type: string) => {
    span.setAttribute(ERROR_TYPE, type);
    span.setStatus({ code: SpanStatusCode.ERROR });
  };

  const child = (name: string, attributes: Attributes): ChildSpan | undefined => {
    const parent = active.getStore();
    if (!parent) return undefined;
    const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, parent);
    return {
      traceparent: traceparentOf(span.spanContext()),
      end(status, error) {
        if (status !== undefined) span.setAttribute(STATUS, status);
        // Only a type (an error code or class name), never a message: no detail of a call leaves the process.
        if (error !== undefined) failed(span, errorType(error));
        else if (status !== undefined && status >= 400) failed(span, String(status));
        span.end();
      },
    };
  };

  const step: Step = async (ctx, next) => {
    const route = routeOf(ctx.path);
    const method = methodOf(ctx.method);
    const parent = parentOf(ctx.get('traceparent'));
    const span = tracer.startSpan(
      `${method === '_OTHER' ? 'HTTP' : method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [METHOD]: method,
          [ROUTE]: route,
          // The path only, like the access log: query strings carry codes and states.
          [URL_PATH]: ctx.path.length > 200 ? `${ctx.path.slice(0, 200)}…` : ctx.path,
          'bff.request_id': ctx.state.requestId,
        },
      },
      parent,
    );
    let thrown = false;
    try {
      await active.run(trace.setSpan(parent, span), next);
    } catch (err) {
      thrown = true;
      throw err;
    } finally {
      const status = thrown ? 500 : ctx.status;
      span.setAttribute(STATUS, status);
      if (status >= 500) failed(span, String(status));
      span.end();
    }
  };

  return {
    step,
    httpCall: (name, method, target) =>
      child(`${methodOf(method) === '_OTHER' ? 'HTTP' : method} ${name}`, {
        [METHOD]: methodOf(method),
        [ADDRESS]: target.hostname,
        [PORT]: Number(target.port) || (target.protocol === 'https:' ? 443 : 80),
      }),
    storeCall: (system, operation) => child(`${system} ${operation}`, { [DB_SYSTEM]: system, [DB_OPERATION]: operation }),
    async shutdown() {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_MS);
        timer.unref();
      });
      await Promise.race([provider.shutdown().catch(() => undefined), bound]);
      clearTimeout(timer);
    },
  };
}

const traceparentOf = (sc: SpanContext) => `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags & 1 ? '01' : '00'}`;

function errorType(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : 'error';
}

/** The exporter, with a failed export logged once per outage (again only after one succeeded). */
function reportingExporter(inner: SpanExporter, url: string, log: EventLogger): SpanExporter {
  let failing = false;
  return {
    export(spans, done) {
      inner.export(spans, (result) => {
        if (result.code !== EXPORT_SUCCESS && !failing) {
          log.event('tracing.export_failed', { url, err: errorFields(result.error ?? new Error('export failed'), false) });
        }
        failing = result.code !== EXPORT_SUCCESS;
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}
