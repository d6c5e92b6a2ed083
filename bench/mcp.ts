// What a project's MCP endpoint costs beyond a plain proxied POST (`make bench` runs it last;
// alone: `npx tsx bench/mcp.ts`, ~1 min): not a test, never fails on speed.
//
// 1. Through the gateway, one request at a time on a keep-alive connection, the kinds taking
//    turns in rounds (fair under shared load): a plain POST proxied as it is (a project's upload
//    route, global token) and MCP messages of the same size (tools/call, tools/list) answered in
//    JSON and in SSE. Per kind: p50 per request, what it adds to the plain POST, and the ratio.
// 2. The parts alone: reading the message (parseMcpMessage), the decision for tools/call and for
//    tools/list (which also gives mcp_tools: one more decision per tool of the table), and
//    filtering a tools/list answer (JSON, and an SSE stream).
//
// Tollgate runs in this process on the in-memory stores (test/http/fixture.ts's world), the
// upstream in a child process. BENCH_MCP_ROUNDS (default 10) × BENCH_MCP_N (default 300) requests per kind.
import { spawn } from "node:child_process";
import { Agent, createServer, request, type IncomingMessage } from "node:http";
import { loadavg } from "node:os";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { createHttpServer } from "../src/http/server.js";
import { parseMcpMessage } from "../src/mcp/jsonrpc.js";
import { answerReading, HeldAnswerBudget } from "../src/mcp/tools-list.js";
import { buildWorld, bearer } from "../test/http/fixture.js";
import { fmtNs, fmtRatio, summarize, table } from "./stats.js";

const ROUNDS = Number(process.env.BENCH_MCP_ROUNDS ?? 10);
const N = Number(process.env.BENCH_MCP_N ?? 300);
const TOOLS = ["list_builds", "get_build", "trigger_build", "drop_tables"].map((name) => ({ name, description: `The ${name} tool of this project`, inputSchema: { type: "object", properties: {} } }));
/** Every request body is padded to this many bytes, and every answer's result to about as many. */
const BODY_BYTES = 512;

function padded(value: Record<string, unknown>, bytes: number): string {
  const plain = JSON.stringify({ ...value, pad: "" });
  return JSON.stringify({ ...value, pad: "x".repeat(Math.max(0, bytes - Buffer.byteLength(plain))) });
}

// ---------------------------------------------------------------------------- the upstream (child)

function upstream(port: number): void {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const sse = req.headers["x-bench-answer"] === "sse";
      let result: unknown;
      let id: unknown = null;
      if (req.url?.endsWith("/mcp")) {
        const message = JSON.parse(Buffer.concat(chunks).toString()) as { id: unknown; method: string };
        id = message.id;
        result = message.method === "tools/list" ? { tools: TOOLS } : { content: [{ type: "text", text: "x".repeat(420) }] };
      } else result = { content: [{ type: "text", text: "x".repeat(420) }] };
      const json = JSON.stringify({ jsonrpc: "2.0", id, result });
      const body = sse ? `event: message\nid: 1\ndata: ${json}\n\n` : json;
      res.writeHead(200, { "content-type": sse ? "text/event-stream" : "application/json", "content-length": Buffer.byteLength(body) }).end(body);
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, "127.0.0.1", () => process.stdout.write("listening\n"));
}

async function startUpstream(): Promise<{ url: string; stop(): void }> {
  const probe = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => probe.once("listening", r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--upstream", String(port)], { stdio: ["ignore", "pipe", "inherit"] });
  // However this process ends, the upstream goes with it.
  process.once("exit", () => child.kill("SIGTERM"));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`upstream exited ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => void child.kill("SIGTERM") };
}

// ---------------------------------------------------------------------------- HTTP

interface Kind {
  label: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

function send(agent: Agent, base: URL, kind: Kind): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: base.hostname, port: base.port, method: "POST", path: kind.path, headers: { ...kind.headers, "content-length": Buffer.byteLength(kind.body) } }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`${kind.label}: HTTP ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 300)}`))));
    });
    req.on("error", reject);
    req.end(kind.body);
  });
}

async function httpPart(): Promise<string> {
  const up = await startUpstream();
  const limits = JSON.stringify({ api: { default: 1_000_000 }, mcp: { default: 1_000_000, trigger: 1_000_000, log: 1_000_000 } });
  const world = await buildWorld({ TOLLGATE_UPSTREAM_URL: up.url, TOLLGATE_RATE_LIMITS: limits });
  const server = createHttpServer(world.tollgate.app, world.tollgate.config).listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const base = new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  const readOnly = (await world.tollgate.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv" }] })).token;
  const mcp = (message: Record<string, unknown>, sse: boolean): Omit<Kind, "label"> => ({
    path: "/api/v1/mcp/projects/priv/mcp",
    headers: { authorization: bearer(readOnly), "content-type": "application/json", accept: "application/json, text/event-stream", ...(sse ? { "x-bench-answer": "sse" } : {}) },
    body: padded({ jsonrpc: "2.0", id: 7, ...message, params: { ...(message.params as object), _meta: {} } }, BODY_BYTES),
  });
  const kinds: Kind[] = [
    { label: "plain POST, proxied as it is", path: "/api/v1/projects/priv/upload", headers: { authorization: bearer(world.tokens.bobGlobal), "content-type": "application/json" }, body: padded({ file: "report.xml" }, BODY_BYTES) },
    { label: "MCP tools/call, JSON answer", ...mcp({ method: "tools/call", params: { name: "list_builds", arguments: {} } }, false) },
    { label: "MCP tools/call, SSE answer", ...mcp({ method: "tools/call", params: { name: "list_builds", arguments: {} } }, true) },
    { label: "MCP tools/list, JSON answer (filtered)", ...mcp({ method: "tools/list", params: {} }, false) },
    { label: "MCP tools/list, SSE answer (filtered)", ...mcp({ method: "tools/list", params: {} }, true) },
  ];
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (const kind of kinds) for (let i = 0; i < 200; i++) await send(agent, base, kind); // warm-up
  const samples = kinds.map(() => [] as number[]);
  const cpu = kinds.map(() => 0);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, kind] of kinds.entries()) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < N; i++) {
        const t0 = process.hrtime.bigint();
        await send(agent, base, kind);
        samples[k]!.push(Number(process.hrtime.bigint() - t0));
      }
      const c = process.cpuUsage(c0);
      cpu[k]! += (c.user + c.system) * 1000;
    }
  }
  agent.destroy();
  server.close();
  server.closeAllConnections();
  await world.tollgate.close();
  up.stop();
  const p50 = samples.map((s) => summarize(s).p50);
  const cpuPer = cpu.map((c) => c / (ROUNDS * N));
  const rows = kinds.map((kind, k) => [
    kind.label,
    fmtNs(p50[k]!),
    k === 0 ? "–" : `+${fmtNs(p50[k]! - p50[0]!)}`,
    fmtRatio(p50[k]! / p50[0]!),
    fmtNs(cpuPer[k]!),
    k === 0 ? "–" : `+${fmtNs(cpuPer[k]! - cpuPer[0]!)}`,
  ]);
  return table(["request (same 512-byte body; answers ~0.5 KB)", "p50", "added", "÷ plain", "CPU/request (Tollgate + client)", "CPU added"], rows);
}

// ---------------------------------------------------------------------------- the parts alone

function time(n: number, fn: () => void): number {
  for (let i = 0; i < Math.min(n, 2_000); i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t0) / n;
}

async function timeAsync(n: number, fn: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 200; i++) await fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  return Number(process.hrtime.bigint() - t0) / n;
}

async function filterThrough(type: string, body: Buffer): Promise<void> {
  const reading = answerReading(
    { contentTypes: [type], contentEncoding: undefined },
    { visible: new Set(["get_build", "list_builds"]), own: { id: 7, toolsList: true }, lookup: async () => null, markPrivate: false, maxHeld: 1 << 24, budget: new HeldAnswerBudget(1 << 28) },
  );
  if (reading === null || reading instanceof Error) throw new Error("no rewrite");
  if ("whole" in reading) {
    await reading.whole(Readable.from([body]));
    return;
  }
  const t = reading.stream;
  await new Promise<void>((resolve, reject) => {
    Readable.from([body]).pipe(t).on("data", () => undefined).on("end", resolve).on("error", reject);
  });
}

async function partsPart(): Promise<string> {
  const world = await buildWorld();
  const engine = world.tollgate.engine;
  const body = Buffer.from(padded({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "list_builds", arguments: {} } }, BODY_BYTES));
  const input = (mcp: { method: string; tool?: string }) => ({
    method: "POST",
    path: "/api/v1/mcp/projects/priv/mcp",
    now: 1_800_000_000,
    credential: { status: "valid" as const },
    subject: { type: "mcp_token" as const, token_id: "m1", user_id: "bob", system_role: "user" as const, grants: [{ project_id: "priv", expires_at: null, allow_trigger: false }] },
    project: { id: "priv", public: false, collaborator_role: "Developer" as const },
    grant_roles: { priv: "Developer" as const },
    mcp,
  });
  const call = input({ method: "tools/call", tool: "list_builds" });
  const list = input({ method: "tools/list" });
  const json = Buffer.from(JSON.stringify({ jsonrpc: "2.0", id: 7, result: { tools: TOOLS } }));
  const sse = Buffer.from(`event: message\nid: 1\ndata: ${json.toString()}\n\n`);
  const n = 20_000;
  const rows = [
    ["parseMcpMessage (512-byte tools/call)", fmtNs(time(n, () => void parseMcpMessage(body)))],
    ["engine.decide, tools/call", fmtNs(time(n, () => void engine.decide(call)))],
    ["engine.decide, tools/list (with mcp_tools over the 3-tool table)", fmtNs(time(n, () => void engine.decide(list)))],
    ["filter a tools/list JSON answer (4 tools → 2)", fmtNs(await timeAsync(n / 4, () => filterThrough("application/json", json)))],
    ["filter a tools/list SSE event (4 tools → 2)", fmtNs(await timeAsync(n / 4, () => filterThrough("text/event-stream", sse)))],
  ];
  await world.tollgate.close();
  return table(["part", "mean"], rows);
}

async function main(): Promise<void> {
  const at = process.argv.indexOf("--upstream");
  if (at >= 0) return upstream(Number(process.argv[at + 1]));
  const load = loadavg().map((l) => l.toFixed(2)).join(", ");
  process.stdout.write(`## MCP: parsing and filtering per call (${new Date().toISOString().slice(0, 10)}, load average ${load})\n\n`);
  process.stdout.write(`${await httpPart()}\n\n${await partsPart()}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/mcp.ts: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
