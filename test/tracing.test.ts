// OpenTelemetry: with an SDK registered, a request carrying a W3C traceparent yields spans of that
// trace (server, credential, facts, policy, rate limit, upstream) and the upstream is sent a
// traceparent of the same trace, whose parent is the upstream span. Without one, nothing changes.
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTracing, tracingEnabled, type Tracing } from "../src/tracing.js";
import { send, startGateway, startUpstream, waitFor, type Gateway, type Upstream } from "./gateway/helpers.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;
const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

let exporter: InMemorySpanExporter;
let tracing: Tracing | null;
let upstream: Upstream;
let gw: Gateway;

beforeAll(async () => {
  expect(await startTracing({})).toBeNull(); // no endpoint, no exporter: no SDK
  expect(tracingEnabled()).toBe(false);
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
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

describe("tracing", () => {
  it("continues the client's trace through the decision to the upstream", async () => {
    upstream.reset();
    const res = await send(gw.url, "/api/v1/projects/priv/builds", { headers: { authorization: `Bearer ${gw.world.tokens.bobGlobal}`, traceparent: TRACEPARENT } });
    expect(res.status).toBe(200);
    expect(await waitFor(() => spansOf(TRACE_ID).some((s) => s.name === "GET"))).toBe(true);
    const spans = spansOf(TRACE_ID);
    const byName = new Map(spans.map((s) => [s.name, s]));
    expect([...byName.keys()].sort()).toEqual(["GET", "tollgate.credential", "tollgate.facts", "tollgate.policy", "tollgate.rate_limit", "upstream GET"].sort());
    const server = byName.get("GET")!;
    expect(parentOf(server)).toBe(PARENT_ID);
    expect(server.attributes).toMatchObject({ "http.response.status_code": 200, "url.path": "/api/v1/projects/priv/builds" });
    for (const name of ["tollgate.credential", "tollgate.facts", "tollgate.policy", "tollgate.rate_limit", "upstream GET"]) {
      expect(parentOf(byName.get(name)!), name).toBe(server.spanContext().spanId);
    }
    // The upstream is told the same trace, with the upstream span as the parent.
    const sent = upstream.hits[0]!.headers.traceparent;
    expect(sent).toMatch(TRACEPARENT_RE);
    const [, traceId, parentId] = TRACEPARENT_RE.exec(String(sent))!;
    expect(traceId).toBe(TRACE_ID);
    expect(parentId).toBe(byName.get("upstream GET")!.spanContext().spanId);
    expect(byName.get("upstream GET")!.attributes).toMatchObject({ "http.response.status_code": 200 });
    // No span carries the credential.
    expect(JSON.stringify(spans.map((s) => s.attributes))).not.toContain(gw.world.tokens.bobGlobal);
  });

  it("starts a trace of its own when the client sends none or a malformed one, and sends the upstream exactly one traceparent", async () => {
    for (const traceparent of [undefined, "00-zz-yy-01", `00-${"0".repeat(32)}-${PARENT_ID}-01`]) {
      upstream.reset();
      const before = new Set(exporter.getFinishedSpans().map((s) => s.spanContext().spanId));
      const res = await send(gw.url, "/api/v1/projects/priv/builds", { headers: { authorization: `Bearer ${gw.world.tokens.bobGlobal}`, ...(traceparent ? { traceparent } : {}) } });
      expect(res.status).toBe(200);
      const sent = upstream.hits[0]!.rawHeaders.filter((_, i, raw) => i % 2 === 0 && raw[i]!.toLowerCase() === "traceparent");
      expect(sent, String(traceparent)).toHaveLength(1);
      const [, traceId] = TRACEPARENT_RE.exec(String(upstream.hits[0]!.headers.traceparent))!;
      expect(traceId).not.toBe("0".repeat(32));
      expect(await waitFor(() => exporter.getFinishedSpans().some((s) => !before.has(s.spanContext().spanId) && s.name === "GET" && s.spanContext().traceId === traceId))).toBe(true);
    }
  });

  it("a denied request has its spans and never reaches the upstream", async () => {
    upstream.reset();
    const traceId = "a".repeat(32);
    const res = await send(gw.url, "/api/v1/projects/priv/builds", { headers: { traceparent: `00-${traceId}-${PARENT_ID}-01` } });
    expect(res.status).toBe(401);
    expect(upstream.hits).toHaveLength(0);
    expect(await waitFor(() => spansOf(traceId).some((s) => s.name === "GET"))).toBe(true);
    expect(spansOf(traceId).map((s) => s.name)).not.toContain("upstream GET");
    expect(spansOf(traceId).find((s) => s.name === "GET")!.attributes).toMatchObject({ "http.response.status_code": 401 });
  });

  it("POST /v1/authorize (a JSON body read first) keeps the client's trace", async () => {
    const traceId = "b".repeat(32);
    const body = JSON.stringify({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: `Bearer ${gw.world.tokens.bobGlobal}` });
    const res = await send(gw.url, "/v1/authorize", { method: "POST", body, headers: { "content-type": "application/json", traceparent: `00-${traceId}-${PARENT_ID}-01` } });
    expect(res.status).toBe(200);
    expect(await waitFor(() => spansOf(traceId).some((s) => s.name === "POST"))).toBe(true);
    expect(spansOf(traceId).map((s) => s.name).sort()).toEqual(["POST", "tollgate.credential", "tollgate.facts", "tollgate.policy", "tollgate.rate_limit"].sort());
  });
});
