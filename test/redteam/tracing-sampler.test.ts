// Red-team cases for OTEL_TRACES_SAMPLER: whether a request is traced is Tollgate's choice, never
// the client's. The parentbased_* samplers follow a client's traceparent flag, and the SDK's
// traceidratio is a function of the trace id, which the client picks: both are out.
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.js";
import { startTracing, type TracesSampler } from "../../src/tracing.js";
import { send, startGateway, startUpstream, type Gateway, type Upstream } from "../gateway/helpers.js";

function configProblems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe("OTEL_TRACES_SAMPLER", () => {
  it("takes always_on (the default), always_off and traceidratio with a ratio from 0 to 1", () => {
    expect(loadConfig({}).tracesSampler).toEqual({ kind: "always_on" });
    expect(loadConfig({ OTEL_TRACES_SAMPLER: "always_on" }).tracesSampler).toEqual({ kind: "always_on" });
    expect(loadConfig({ OTEL_TRACES_SAMPLER: "always_off" }).tracesSampler).toEqual({ kind: "always_off" });
    expect(loadConfig({ OTEL_TRACES_SAMPLER: "traceidratio" }).tracesSampler).toEqual({ kind: "traceidratio", ratio: 1 });
    for (const [arg, ratio] of [["0", 0], ["0.25", 0.25], [".5", 0.5], ["1", 1], ["1.0", 1]] as const) {
      expect(loadConfig({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: arg }).tracesSampler).toEqual({ kind: "traceidratio", ratio });
    }
  });

  it("refuses parentbased_* (a client's traceparent would decide) and anything else, with a clear problem", () => {
    for (const name of ["parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio", "parentbased_jaeger_remote"]) {
      expect(configProblems({ OTEL_TRACES_SAMPLER: name })).toEqual([expect.stringMatching(new RegExp(`OTEL_TRACES_SAMPLER=${name} is refused: a client's traceparent`))]);
    }
    for (const name of ["jaeger_remote", "xray", "AlwaysOn", "ALWAYS_ON", "always_on ,x", "traceidratio2"]) {
      expect(configProblems({ OTEL_TRACES_SAMPLER: name }), name).toEqual([expect.stringMatching(/^OTEL_TRACES_SAMPLER must be always_on, always_off or traceidratio/)]);
    }
  });

  it("refuses an OTEL_TRACES_SAMPLER_ARG outside 0..1 or not a number, reported with the other problems", () => {
    for (const arg of ["1.5", "-0.1", "abc", "0x1", "1e-1", "NaN", "Infinity", "2"]) {
      expect(configProblems({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: arg }), arg).toEqual([expect.stringMatching(/^OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1/)]);
    }
    expect(configProblems({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "5", TOLLGATE_ENV: "staging" })).toHaveLength(2);
  });
});

describe("sampling a request", () => {
  let upstream: Upstream;
  let gw: Gateway;
  beforeAll(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  /** The server spans exported for `count` requests that all send the same sampled traceparent. */
  async function tracedRequests(sampler: TracesSampler, count: number): Promise<number> {
    const exporter = new InMemorySpanExporter();
    const tracing = await startTracing({}, { exporter, sampler });
    const traceId = "a1".repeat(16);
    try {
      for (let i = 0; i < count; i++) {
        const res = await send(gw.url, "/api/v1/projects/pub/builds", { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
        expect(res.status).toBe(200);
      }
      // Spans end on the response's close: give the last one a moment.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
      const servers = spans.filter((s) => s.name === "GET");
      // A request's inner spans follow its server span: all recorded or none.
      expect(spans.filter((s) => s.name === "tollgate.policy")).toHaveLength(servers.length);
      return servers.length;
    } finally {
      await tracing?.shutdown();
    }
  }

  it("always_off: a client's sampled traceparent records nothing", async () => {
    expect(await tracedRequests({ kind: "always_off" }, 5)).toBe(0);
  });

  it("traceidratio 0: a client's sampled traceparent records nothing", async () => {
    expect(await tracedRequests({ kind: "traceidratio", ratio: 0 }, 5)).toBe(0);
  });

  it("traceidratio: the ratio is drawn per request, not from the client's trace id (the same id is sometimes sampled, sometimes not)", async () => {
    // With the SDK's TraceIdRatioBasedSampler one trace id is always or never sampled: 0 or 60.
    const traced = await tracedRequests({ kind: "traceidratio", ratio: 0.5 }, 60);
    expect(traced).toBeGreaterThan(0);
    expect(traced).toBeLessThan(60);
  });

  it("always_on: every request, whatever its flag", async () => {
    expect(await tracedRequests({ kind: "always_on" }, 3)).toBe(3);
  });
});
