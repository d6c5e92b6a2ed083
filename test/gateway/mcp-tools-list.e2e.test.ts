// tools/list through the gateway, filtered by the policy, with the official 1.x SDK on both
// ends (2025-11-25, sessions): JSON and SSE answers, per grant; an SSE answer cut into small
// chunks; and an answer resumed with Last-Event-ID on another replica, which knows the request
// was a tools/list from the store both replicas share (a real redis-server).
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryEventStore } from "@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js";
import { Server as McpLowLevelServer } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisToolsListRequestStore } from "../../src/stores/redis/tools-list-requests.js";
import { bearer } from "../http/fixture.js";
import { startRedis, type RedisServer } from "../support/servers.js";
import { listen, sleep, startGateway, stopServer, type Gateway } from "./helpers.js";

/** What the upstream lists: the demo table's tools and one Tollgate's table does not name. */
const UPSTREAM_TOOLS = ["list_builds", "get_build", "trigger_build", "drop_tables"].map((name) => ({ name, description: `the ${name} tool`, inputSchema: { type: "object" as const } }));

interface McpUpstream {
  server: Server;
  url: string;
  /** Every request: method, MCP-relevant headers. */
  hits: Array<{ method: string; lastEventId: string | undefined; acceptEncoding: string | undefined }>;
  /** The next tools/list closes its SSE stream before answering (the client resumes with Last-Event-ID). */
  cutNextList(): void;
}

/** An SDK 1.x server with sessions and an event store (resumable streams), answering in JSON or SSE. */
async function sdkUpstream(json: boolean): Promise<McpUpstream> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const hits: McpUpstream["hits"] = [];
  let cut = false;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const one = (name: string) => (typeof req.headers[name] === "string" ? (req.headers[name] as string) : undefined);
    hits.push({ method: req.method ?? "", lastEventId: one("last-event-id"), acceptEncoding: one("accept-encoding") });
    const sid = one("mcp-session-id");
    let transport = sid === undefined ? undefined : transports.get(sid);
    if (!transport) {
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        enableJsonResponse: json,
        eventStore: new InMemoryEventStore(),
        retryInterval: 20,
        onsessioninitialized: (id) => void transports.set(id, created),
      });
      transport = created;
      const server = new McpLowLevelServer({ name: "tools-upstream", version: "1.0.0" }, { capabilities: { tools: {} } });
      server.setRequestHandler(ListToolsRequestSchema, async (_request, extra) => {
        if (cut && extra.closeSSEStream) {
          cut = false;
          extra.closeSSEStream();
          await sleep(50);
        }
        return { tools: UPSTREAM_TOOLS };
      });
      server.setRequestHandler(CallToolRequestSchema, async (request) => ({ content: [{ type: "text" as const, text: request.params.name }] }));
      await server.connect(transport);
    }
    await transport.handleRequest(req, res);
  };
  const server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  return { server, url: await listen(server), hits, cutNextList: () => void (cut = true) };
}

let redis: RedisServer;
let redisClient: Redis;
let sseUpstream: McpUpstream;
let jsonUpstream: McpUpstream;
const gateways: Gateway[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  [redis, sseUpstream, jsonUpstream] = await Promise.all([startRedis(), sdkUpstream(false), sdkUpstream(true)]);
  redisClient = new Redis(redis.url);
}, 120_000);

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await Promise.allSettled(gateways.map((g) => g.close()));
  redisClient?.disconnect();
  await Promise.allSettled([stopServer(sseUpstream?.server), stopServer(jsonUpstream?.server), redis?.stop()]);
});

async function gatewayFor(upstream: { url: string }, backends?: Gateway["world"]["tollgate"]["backends"]): Promise<Gateway> {
  const gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url }, backends);
  gateways.push(gw);
  return gw;
}

const mcpUrl = (base: string): URL => new URL(`${base}/api/v1/mcp/projects/priv/mcp`);

/** An SDK client through `base`; `getsTo` sends its GET requests (the server's stream, resumptions) to another gateway. */
async function connect(base: string, token: string, getsTo?: string): Promise<Client> {
  const client = new Client({ name: "tollgate-tools-list", version: "1.0.0" });
  clients.push(client);
  const transport = new StreamableHTTPClientTransport(mcpUrl(base), {
    requestInit: { headers: { Authorization: bearer(token) } },
    reconnectionOptions: { initialReconnectionDelay: 20, maxReconnectionDelay: 200, reconnectionDelayGrowFactor: 1.5, maxRetries: 5 },
    ...(getsTo
      ? { fetch: (url: string | URL, init?: RequestInit) => fetch(init?.method === "GET" ? mcpUrl(getsTo) : url, init) }
      : {}),
  });
  await client.connect(transport);
  return client;
}

const names = (tools: Array<{ name: string }>): string[] => tools.map((t) => t.name).sort();

describe("tools/list through the gateway (SDK 1.x, 2025-11-25)", () => {
  for (const [answer, upstream] of [
    ["SSE", () => sseUpstream],
    ["JSON", () => jsonUpstream],
  ] as const) {
    it(`shows each grant only the tools it may call (${answer} answers)`, async () => {
      const gw = await gatewayFor(upstream());
      const issue = async (allow_trigger: boolean, user = "bob") => (await gw.world.tollgate.issuer.issue({ type: "mcp", user_id: user, grants: [{ project_id: "priv", allow_trigger }] })).token;
      const readOnly = await connect(gw.url, await issue(false));
      expect(names((await readOnly.listTools()).tools)).toEqual(["get_build", "list_builds"]);
      const trigger = await connect(gw.url, await issue(true));
      const all = (await trigger.listTools()).tools;
      // drop_tables is not in the tool table: no grant sees it.
      expect(names(all)).toEqual(["get_build", "list_builds", "trigger_build"]);
      // Each tool as the upstream described it.
      expect(all.find((t) => t.name === "get_build")).toEqual(UPSTREAM_TOOLS[1]);
      // The listing agrees with what the calls get.
      await expect(readOnly.callTool({ name: "trigger_build", arguments: {} })).rejects.toThrow(/trigger_not_allowed/);
      expect((await trigger.callTool({ name: "trigger_build", arguments: {} })).content).toEqual([{ type: "text", text: "trigger_build" }]);
      // The upstream was asked for its answers uncompressed.
      expect(upstream().hits.filter((h) => h.method === "POST").every((h) => h.acceptEncoding === "identity")).toBe(true);
    });
  }

  it("filters a tools/list answer resumed with Last-Event-ID on another replica, which learns from the shared store that the id was a tools/list", async () => {
    const namespace = `resume${Date.now()}`;
    const store = new RedisToolsListRequestStore(redisClient, { namespace });
    const a = await gatewayFor(sseUpstream);
    const shared = { ...a.world.tollgate.backends, toolsListRequests: store };
    const replicaA = await gatewayFor(sseUpstream, shared);
    const replicaB = await gatewayFor(sseUpstream, shared);
    const { token } = await replicaA.world.tollgate.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv", allow_trigger: false }] });
    // POSTs go to replica A, GETs (the server's stream and every resumption) to replica B.
    const client = await connect(replicaA.url, token, replicaB.url);
    const before = sseUpstream.hits.length;
    sseUpstream.cutNextList();
    const { tools } = await client.listTools();
    expect(names(tools)).toEqual(["get_build", "list_builds"]);
    // The answer did come on a resumed stream: a GET with Last-Event-ID after the cut POST.
    expect(sseUpstream.hits.slice(before).some((h) => h.method === "GET" && h.lastEventId !== undefined)).toBe(true);
    // Replica A recorded the request's id under the caller (token, project, session), and its
    // numeric reading under the caller's loose name (an answer whose id equals it only as a number is refused).
    expect(await redisClient.keys(`${namespace}:mcp:tl:*`)).toHaveLength(2);
  });
});

describe("an SSE answer cut into small chunks", () => {
  /** A hand-written MCP server (2025-11-25, no session) whose SSE answers leave in pieces of 7 bytes, 2 ms apart. */
  async function choppyUpstream(): Promise<{ server: Server; url: string }> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.method !== "POST") {
          res.writeHead(405).end();
          return;
        }
        const message = JSON.parse(Buffer.concat(chunks).toString()) as { id?: number; method: string };
        if (message.id === undefined) {
          res.writeHead(202).end();
          return;
        }
        const result =
          message.method === "initialize"
            ? { protocolVersion: "2025-11-25", capabilities: { tools: {} }, serverInfo: { name: "choppy", version: "1.0.0" } }
            : { tools: UPSTREAM_TOOLS.map((t) => ({ ...t, description: `${t.description}: ünïcødé ✓ 🚀` })) };
        const body = Buffer.from(`: hello\n\nevent: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id: message.id, result })}\n\n`);
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.flushHeaders();
        void (async () => {
          for (let i = 0; i < body.length; i += 7) {
            res.write(body.subarray(i, i + 7));
            await sleep(2);
          }
          res.end();
        })();
      });
    });
    return { server, url: await listen(server) };
  }

  it("reaches the SDK client filtered, every character intact", async () => {
    const upstream = await choppyUpstream();
    try {
      const gw = await gatewayFor(upstream);
      const client = await connect(gw.url, (await gw.world.tollgate.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv" }] })).token);
      const { tools } = await client.listTools();
      expect(names(tools)).toEqual(["get_build", "list_builds"]);
      expect(tools[0]!.description).toMatch(/: ünïcødé ✓ 🚀$/);
    } finally {
      await stopServer(upstream.server);
    }
  });
});
