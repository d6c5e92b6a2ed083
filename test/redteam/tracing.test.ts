// Red-team cases for tracing (OTEL on): what a client's trace-context headers can make Tollgate do.
// A client must not switch off Tollgate's own spans (so its requests leave no trace), nor have
// its baggage sent twice to the upstream, nor grow what is exported without bound.
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTracing, type Tracing } from "../../src/tracing.js";
import { send, startGateway, startUpstream, waitFor, type Gateway, type Upstream } from "../gateway/helpers.js";

const PARENT_ID = "00f067aa0ba902b7";
let exporter: InMemorySpanExporter;
let tracing: Tracing | null;
let upstream: Upstream;
let gw: Gateway;

beforeAll(async () => {
  exporter = new InMemorySpanExporter();
  tracing = await startTracing({}, { exporter });
  upstream = await startUpstream();
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await tracing?.shutdown();
});

const spansOf = (traceId: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
const fields = (name: string): string[] => upstream.hits[0]!.rawHeaders.filter((_, i, raw) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === name);

describe("a client's traceparent", () => {
  // The SDK's default sampler follows a remote parent's sampled flag: "-00" switched off every
  // span of the request (server, credential, policy, upstream), so a client chose whether its
  // requests were traced at all.
  it("with the sampled flag off does not switch off Tollgate's spans; the upstream is told they are sampled", async () => {
    const traceId = "c".repeat(32);
    upstream.reset();
    const res = await send(gw.url, "/api/v1/projects/priv/builds", { headers: { authorization: `Bearer ${gw.world.tokens.bobGlobal}`, traceparent: `00-${traceId}-${PARENT_ID}-00` } });
    expect(res.status).toBe(200);
    expect(await waitFor(() => spansOf(traceId).some((s) => s.name === "GET"))).toBe(true);
    expect(spansOf(traceId).map((s) => s.name).sort()).toEqual(["GET", "tollgate.credential", "tollgate.facts", "tollgate.policy", "tollgate.rate_limit", "upstream GET"].sort());
    expect(fields("traceparent")).toEqual([expect.stringMatching(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`))]);
  });

  it("of a denied request with the sampled flag off still leaves the denial's spans", async () => {
    const traceId = "d".repeat(32);
    const res = await send(gw.url, "/api/v1/projects/priv/secrets", { headers: { traceparent: `00-${traceId}-${PARENT_ID}-00` } });
    expect(res.status).toBe(401);
    expect(await waitFor(() => spansOf(traceId).some((s) => s.name === "GET"))).toBe(true);
  });
});

describe("a client's baggage and tracestate", () => {
  // The default propagators read the client's baggage into the context and wrote it out again:
  // the upstream got the client's field and Tollgate's copy of it.
  it("the upstream gets the client's baggage once, as sent", async () => {
    upstream.reset();
    const baggage = "user_id=alice,role=admin";
    const res = await send(gw.url, "/api/v1/projects/pub/builds", { headers: { traceparent: `00-${"e".repeat(32)}-${PARENT_ID}-01`, baggage } });
    expect(res.status).toBe(200);
    expect(fields("baggage")).toEqual([baggage]);
  });

  it("pinned: an oversized tracestate is neither kept in the exported spans nor sent on (bounded at 512 characters)", async () => {
    upstream.reset();
    const traceId = "f".repeat(32);
    const tracestate = Array.from({ length: 200 }, (_, i) => `k${i}=${"v".repeat(40)}`).join(",");
    const res = await send(gw.url, "/api/v1/projects/pub/builds", { headers: { traceparent: `00-${traceId}-${PARENT_ID}-01`, tracestate } });
    expect(res.status).toBe(200);
    expect(await waitFor(() => spansOf(traceId).some((s) => s.name === "GET"))).toBe(true);
    for (const span of spansOf(traceId)) expect((span.spanContext().traceState?.serialize() ?? "").length).toBeLessThanOrEqual(512);
    for (const value of fields("tracestate")) expect(value.length).toBeLessThanOrEqual(512);
  });
});
