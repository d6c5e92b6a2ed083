// OpenTelemetry tracing. The code uses only @opentelemetry/api: without an SDK every call is the
// API's no-op. startTracing() loads the SDK (an OTLP/HTTP exporter) only when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, and W3C `traceparent`/`tracestate` are then accepted from
// clients and sent to the upstream (docs/operations.md, "Tracing").
import type { IncomingMessage, ServerResponse } from "node:http";
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from "@opentelemetry/api";
import type { Sampler, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { stripQuery } from "./audit/validate.js";

const TRACER = "tollgate";
/** How long a stopping process tries to export the spans it still holds. */
const SHUTDOWN_EXPORT_MS = 2_000;
let enabled = false;

/** Whether startTracing() registered an SDK in this process. */
export function tracingEnabled(): boolean {
  return enabled;
}

export interface Tracing {
  /** Exports what is buffered (giving up after SHUTDOWN_EXPORT_MS) and unregisters the SDK. Never rejects. */
  shutdown(): Promise<void>;
}

/**
 * Which requests are traced (OTEL_TRACES_SAMPLER, validated in config.ts): every one, none, or
 * each with probability `ratio`, drawn per request. Never the client's choice: its traceparent's
 * sampled flag and its trace id decide nothing.
 */
export type TracesSampler = { kind: "always_on" } | { kind: "always_off" } | { kind: "traceidratio"; ratio: number };

export interface TracingOptions {
  /** Instead of OTLP/HTTP, spans go here, one at a time (tests: InMemorySpanExporter). */
  exporter?: SpanExporter;
  /** Default always_on. */
  sampler?: TracesSampler;
}

/**
 * Registers the SDK when OTEL_EXPORTER_OTLP_ENDPOINT is set (or an exporter is given): a tracer
 * provider with Node's async context, the W3C trace-context propagator and a batching OTLP/HTTP
 * exporter, which reads the standard OTEL_EXPORTER_OTLP_* variables. Returns null otherwise.
 */
export async function startTracing(env: Record<string, string | undefined>, options: TracingOptions = {}): Promise<Tracing | null> {
  if (!options.exporter && !env.OTEL_EXPORTER_OTLP_ENDPOINT) return null;
  const [{ NodeTracerProvider }, { AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, SamplingDecision, SimpleSpanProcessor }, { resourceFromAttributes }] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/resources"),
  ]);
  let processor;
  if (options.exporter) processor = new SimpleSpanProcessor(options.exporter);
  else {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    // The URL from `env` as the OTLP spec derives it; the exporter reads the other OTEL_* variables itself.
    const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || `${env.OTEL_EXPORTER_OTLP_ENDPOINT!.replace(/\/+$/, "")}/v1/traces`;
    processor = new BatchSpanProcessor(new OTLPTraceExporter({ url }));
  }
  // A request's server span is sampled by Tollgate alone. A client's traceparent names the trace
  // its spans join, never whether they are recorded: with the SDK's defaults a client sending
  // "-00" switched off Tollgate's spans for its own requests, and under traceidratio (a function
  // of the trace id) a client could pick a trace id that is always, or never, sampled. The ratio
  // is drawn per request instead. Spans inside the request follow their (local) parent.
  const chosen = options.sampler ?? { kind: "always_on" };
  let root: Sampler;
  if (chosen.kind === "always_on") root = new AlwaysOnSampler();
  else if (chosen.kind === "always_off") root = new AlwaysOffSampler();
  else {
    const { ratio } = chosen;
    root = { shouldSample: () => ({ decision: Math.random() < ratio ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD }), toString: () => `RandomRatioSampler{${ratio}}` };
  }
  const provider = new NodeTracerProvider({
    sampler: new ParentBasedSampler({ root, remoteParentSampled: root, remoteParentNotSampled: root }),
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME || "tollgate" }),
    spanProcessors: [processor],
  });
  provider.register();
  enabled = true;
  return {
    async shutdown() {
      enabled = false;
      // An unreachable collector must not hold up the process's exit (serve.ts bounds shutdown).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([provider.shutdown().catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_EXPORT_MS).unref()))]);
      clearTimeout(timer);
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/**
 * Middleware (node:http or Express): one server span per request, the child of the client's
 * `traceparent` when it sent a valid one; the rest of the request runs in its context. Named
 * by method only (paths carry ids); the path, without its query, is an attribute.
 */
export function traceRequests(): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = trace.getTracer(TRACER).startSpan(
      `${req.method ?? "GET"}`,
      { kind: SpanKind.SERVER, attributes: { "http.request.method": req.method ?? "GET", "url.path": stripQuery(req.url ?? "") } },
      parent,
    );
    res.once("close", () => {
      span.setAttribute("http.response.status_code", res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), next);
  };
}

/** Runs `fn` in a child span of the active one (credential, facts, rate limit); records a throw. */
export function inSpan<T>(name: string, fn: () => Promise<T>): Promise<T> {
  // Off (no SDK registered): no no-op span or context switch on the hot path.
  if (!enabled) return fn();
  return trace.getTracer(TRACER).startActiveSpan(name, async (span) => {
    try {
      return await fn();
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** inSpan for synchronous work (the policy's evaluation). */
export function inSpanSync<T>(name: string, fn: () => T): T {
  if (!enabled) return fn();
  return trace.getTracer(TRACER).startActiveSpan(name, (span) => {
    try {
      return fn();
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** A client span for the call to the upstream; end it with endUpstreamSpan(). */
export function startUpstreamSpan(method: string, attributes: Attributes = {}): Span {
  return trace.getTracer(TRACER).startSpan(`upstream ${method}`, { kind: SpanKind.CLIENT, attributes: { "http.request.method": method, ...attributes } });
}

export function endUpstreamSpan(span: Span, status: number | null): void {
  if (status !== null) span.setAttribute("http.response.status_code", status);
  if (status === null || status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/** The trace-context fields Tollgate writes for the upstream; any other field the propagators would write (the client's `baggage`, read back out) is the client's header, passed on as sent. */
const TRACE_CONTEXT_FIELDS: ReadonlySet<string> = new Set(["traceparent", "tracestate"]);

/**
 * The upstream's request headers (flat name/value pairs, as node:http takes them) with the trace
 * context of `span` (W3C `traceparent`, and `tracestate` when there is one) in place of the
 * client's. Without an SDK they pass unchanged.
 */
export function withTraceContext(headers: string[], span: Span): string[] {
  if (!enabled) return headers;
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    if (!TRACE_CONTEXT_FIELDS.has(name)) out.push(headers[i]!, headers[i + 1]!);
  }
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  for (const [name, value] of Object.entries(carrier)) if (TRACE_CONTEXT_FIELDS.has(name)) out.push(name, value);
  return out;
}

function failSpan(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR });
}
