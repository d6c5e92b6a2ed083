// OTEL_EXPORTER_OTLP_ENDPOINT loads the SDK and exports spans over OTLP/HTTP to <endpoint>/v1/traces
// (a loopback collector stand-in here), with service.name from OTEL_SERVICE_NAME.
import { createServer } from "node:http";
import { afterAll, expect, it } from "vitest";
import { inSpan, startTracing, tracingEnabled } from "../src/tracing.js";
import { listen, stopServer } from "./gateway/helpers.js";

const received: Array<{ url: string; type: string; body: Buffer }> = [];
const collector = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    received.push({ url: req.url ?? "", type: String(req.headers["content-type"]), body: Buffer.concat(chunks) });
    res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
  });
});

afterAll(() => stopServer(collector));

it("exports the spans of a traced call when the endpoint is set, and flushes them at shutdown", async () => {
  const endpoint = await listen(collector);
  const tracing = await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: "tollgate-test" });
  expect(tracing).not.toBeNull();
  expect(tracingEnabled()).toBe(true);
  await inSpan("tollgate.credential", async () => undefined);
  await tracing!.shutdown();
  expect(tracingEnabled()).toBe(false);
  expect(received.map((r) => r.url)).toContain("/v1/traces");
  const body = Buffer.concat(received.map((r) => r.body)).toString("latin1");
  expect(body).toContain("tollgate.credential");
  expect(body).toContain("tollgate-test");
});
