// Floors for the HTTP benchmark: the cheapest JSON POST handlers, measured in the same run and under
// the same load generator as Tollgate, so the gap between them and Tollgate is Tollgate's own work.
// Also the trivial upstream of the gateway benchmark.
//
//   node --import tsx bench/baseline.ts http|express|upstream PORT
//
// "http" and "express" parse the JSON body and answer a small JSON object; "express" uses
// express.json() like Tollgate's /v1/authorize route. "upstream" (node:http) answers
// UPSTREAM_BODY to any method and path, after draining the request body; its answer carries
// `x-bench-upstream: 1`, and `x-bench-saw-decision: 1` when the request came with Tollgate's
// x-tollgate-decision-id header (so the load script can tell a proxied answer from any other).
import { createServer } from "node:http";
import express from "express";

const [mode, portArg] = process.argv.slice(2);
const port = Number(portArg);
/** The upstream's answer, the same for every request (the load script expects exactly this body). */
const UPSTREAM_BODY = JSON.stringify({ builds: [{ id: "b-1", status: "passed" }], next: null });

const answer = (body: { method?: unknown }) => ({ allow: true, status: 200, method: body.method ?? null });

let server;
if (mode === "http") {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body: { method?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { method?: unknown };
      } catch {
        res.writeHead(400).end();
        return;
      }
      const out = JSON.stringify(answer(body));
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(out) }).end(out);
    });
  });
  server.listen(port, "127.0.0.1");
} else if (mode === "upstream") {
  const length = Buffer.byteLength(UPSTREAM_BODY);
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": length, "x-bench-upstream": "1" };
      if (req.headers["x-tollgate-decision-id"] !== undefined) headers["x-bench-saw-decision"] = "1";
      res.writeHead(200, headers).end(UPSTREAM_BODY);
    });
  });
  server.listen(port, "127.0.0.1");
} else if (mode === "express") {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.post("/", express.json({ limit: 16_384, strict: true }), (req, res) => {
    res.json(answer(req.body as { method?: unknown }));
  });
  server = app.listen(port, "127.0.0.1");
} else {
  process.stderr.write("usage: baseline.ts http|express|upstream PORT\n");
  process.exit(2);
}
server.keepAliveTimeout = 65_000;
server.on("listening", () => process.stdout.write(`listening http://127.0.0.1:${port} (${mode})\n`));
process.on("SIGTERM", () => process.exit(0));
