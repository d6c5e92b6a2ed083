// MCP 2026-07-28 end to end with the official 2.x SDK (@modelcontextprotocol/client and
// @modelcontextprotocol/server): the client sends Mcp-Method / Mcp-Name on every request, the
// gateway holds them to the body before the policy, and the tool table decides each call.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { McpServer, createMcpHandler } from "@modelcontextprotocol/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer } from "../http/fixture.js";
import { listen, send, startGateway, stopServer, type Gateway } from "./helpers.js";

/** What reached the upstream: method and the MCP headers of each POST. */
const seen: Array<{ method: string | undefined; name: string | undefined; version: string | undefined }> = [];

const handler = createMcpHandler(() => {
  // The server would let any cache share its tool list; the gateway's filtered list is the caller's own.
  const server = new McpServer({ name: "demo-v2", version: "2.0.0" }, { cacheHints: { "tools/list": { ttlMs: 60_000, cacheScope: "public" } } });
  server.registerTool("list_builds", { description: "List the builds" }, async () => ({ content: [{ type: "text", text: "[]" }] }));
  server.registerTool("trigger_build", { description: "Start a build" }, async () => ({ content: [{ type: "text", text: "queued" }] }));
  server.registerTool("drop_tables", { description: "Not in Tollgate's tool table" }, async () => ({ content: [{ type: "text", text: "dropped" }] }));
  return server;
});

/** node:http → the handler's web-standard fetch. */
async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const one = (name: string) => (typeof req.headers[name] === "string" ? (req.headers[name] as string) : undefined);
  if (req.method === "POST") seen.push({ method: one("mcp-method"), name: one("mcp-name"), version: one("mcp-protocol-version") });
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers.set(name, value);
  const response = await handler.fetch(
    new Request(`http://upstream${req.url}`, { method: req.method, headers, ...(chunks.length ? { body: Buffer.concat(chunks) } : {}) }),
  );
  res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
  res.end(Buffer.from(await response.arrayBuffer()));
}

let upstream: Server;
let gw: Gateway;

beforeAll(async () => {
  upstream = createServer((req, res) => void serve(req, res).catch(() => res.destroy()));
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: await listen(upstream) });
});

afterAll(async () => {
  await gw?.close();
  await handler.close();
  await stopServer(upstream);
});

async function connect(token: string): Promise<Client> {
  // Pinned to the stateless revision: no initialize, Mcp-Method / Mcp-Name on every request.
  const client = new Client({ name: "tollgate-e2e-v2", version: "2.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/api/v1/mcp/projects/priv/mcp`), {
    requestInit: { headers: { Authorization: bearer(token) } },
  });
  await client.connect(transport);
  return client;
}

describe("MCP 2026-07-28 (2.x SDK) through the gateway", () => {
  it("calls an allowed tool; the headers the client sends pass the gateway's check and reach the server", async () => {
    const client = await connect(gw.world.tokens.bobMcp);
    const before = seen.length;
    const result = await client.callTool({ name: "list_builds", arguments: {} });
    expect(result.content).toEqual([{ type: "text", text: "[]" }]);
    expect(seen.slice(before)).toContainEqual(expect.objectContaining({ method: "tools/call", name: "list_builds", version: "2026-07-28" }));
    await client.close();
  });

  it("is refused a tool the table does not name, and trigger_build without allow_trigger; the server never sees them", async () => {
    const { token } = await gw.world.tollgate.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv", allow_trigger: false }] });
    const client = await connect(token);
    const before = seen.length;
    await expect(client.callTool({ name: "drop_tables", arguments: {} })).rejects.toThrow(/unknown_tool|403/);
    await expect(client.callTool({ name: "trigger_build", arguments: {} })).rejects.toThrow(/trigger_not_allowed|403/);
    expect(seen.slice(before).filter((s) => s.method === "tools/call")).toEqual([]);
    await client.close();
  });

  it("lists only the tools the grant may call, marked cacheScope private (the list is this caller's)", async () => {
    const { token } = await gw.world.tollgate.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv", allow_trigger: false }] });
    const readOnly = await connect(token);
    const listed = await readOnly.listTools();
    // trigger_build needs allow_trigger; drop_tables is not in the tool table.
    expect(listed.tools.map((t) => t.name)).toEqual(["list_builds"]);
    expect(listed).toMatchObject({ cacheScope: "private", ttlMs: 60_000 });
    await readOnly.close();
    const trigger = await connect(gw.world.tokens.bobMcp);
    expect((await trigger.listTools()).tools.map((t) => t.name).sort()).toEqual(["list_builds", "trigger_build"]);
    await trigger.close();
  });

  it("refuses a 2026-07-28 request whose Mcp-Name disagrees with the body (-32001), before the policy", async () => {
    const res = await send(gw.url, "/api/v1/mcp/projects/priv/mcp", {
      method: "POST",
      headers: {
        authorization: bearer(gw.world.tokens.bobMcp),
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "list_builds",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "trigger_build", arguments: {} } }),
    });
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ id: 1, error: { code: -32001, data: { reasons: ["mcp_header_mismatch"] } } });
  });
});
