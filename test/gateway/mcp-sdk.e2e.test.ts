// End to end with the official MCP TypeScript SDK: a Client over StreamableHTTPClientTransport
// talks through Tollgate (in-process on a loopback port) to the demo upstream's per-project MCP
// server, built with the same SDK. The token is created through the self-service API.
import { createServer, type Server } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createDemoUpstream } from "../../src/demo/upstream.js";
import { createHttpServer } from "../../src/http/server.js";
import { NOW, bearer, buildTollgateAt } from "../http/fixture.js";
import { listen, send, startGateway, stopServer, type Gateway } from "./helpers.js";

const demo = createDemoUpstream();
/** The demo upstream behind a counter of the requests that reach it. */
const upstreamHits: string[] = [];
const upstream = createServer((req, res) => {
  upstreamHits.push(`${req.method} ${req.url}`);
  demo.emit("request", req, res);
});
let upstreamUrl: string;
let gw: Gateway;
const servers: Server[] = [];
const gateways: Gateway[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  upstreamUrl = await listen(upstream);
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstreamUrl });
});

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await Promise.allSettled([...servers.map((s) => stopServer(s)), ...gateways.map((g) => g.close())]);
  await gw?.close();
  await stopServer(upstream);
});

const mcpPath = (project: string): string => `/api/v1/mcp/projects/${project}/mcp`;

/** A connected SDK client for `project`'s MCP server through the gateway at `base`. */
async function connect(base: string, project: string, credential: string | null): Promise<Client> {
  const client = new Client({ name: "tollgate-e2e", version: "1.0.0" });
  clients.push(client);
  const transport = new StreamableHTTPClientTransport(new URL(`${base}${mcpPath(project)}`), {
    requestInit: { headers: credential ? { Authorization: bearer(credential) } : {} },
  });
  await client.connect(transport);
  return client;
}

/** What a refused connect or request throws: the transport's HTTP error with the status. */
async function refusal(promise: Promise<unknown>): Promise<{ code: number; message: string }> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, "expected the MCP call to be refused").toBeInstanceOf(StreamableHTTPError);
  return { code: (err as StreamableHTTPError).code ?? 0, message: (err as Error).message };
}

/** An MCP token made through the self-service API with bob's session. */
async function selfServiceToken(base: string, grants: unknown[], extra: Record<string, unknown> = {}): Promise<{ id: string; token: string }> {
  const res = await send(base, "/api/v1/mcp/tokens", {
    method: "POST",
    headers: { authorization: bearer(await gw.world.session("bob")), "content-type": "application/json" },
    body: JSON.stringify({ name: "sdk agent", grants, ...extra }),
  });
  expect(res.status, res.body).toBe(201);
  return res.json();
}

/** The JSON-RPC error body the 1.x SDK quotes in its StreamableHTTPError message. */
function jsonRpcErrorIn(message: string): { code: number; message: string; data?: { reasons: string[]; decision_id: string } } {
  const body = JSON.parse(message.slice(message.indexOf("{"))) as { jsonrpc: string; error: { code: number; message: string; data?: { reasons: string[]; decision_id: string } } };
  expect(body.jsonrpc).toBe("2.0");
  return body.error;
}

const iso = (unixSeconds: number): string => new Date(unixSeconds * 1000).toISOString();
const textOf = (result: unknown): string => ((result as { content: Array<{ type: string; text: string }> }).content[0]!.text);

describe("MCP SDK client through the gateway", () => {
  it("lists and calls tools with a granted MCP token; every MCP request is decided and audited", async () => {
    const { id, token } = await selfServiceToken(gw.url, [{ project_id: "priv" }]);
    const client = await connect(gw.url, "priv", token);
    expect(client.getServerVersion()).toMatchObject({ name: "demo-priv" });

    // A grant without allow_trigger: trigger_build, which it may not call, is not listed.
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["get_build", "list_builds"]);
    expect(tools.find((t) => t.name === "list_builds")!.description).toBe("List the builds of priv");

    const one = await client.callTool({ name: "get_build", arguments: { build_id: "b2" } });
    expect(JSON.parse(textOf(one))).toEqual({ id: "b2", project: "priv", state: "running" });
    const all = await client.callTool({ name: "list_builds", arguments: {} });
    expect(JSON.parse(textOf(all))).toHaveLength(2);

    const audit = gw.world.tollgate.backends.audit;
    await audit.flush();
    const { records } = await audit.query({ token_id: id, limit: 100 });
    expect(records.length).toBeGreaterThanOrEqual(4); // initialize, initialized, tools/list, 2 × tools/call (+ the optional GET stream)
    for (const r of records) expect(r).toMatchObject({ source: "gateway", route: "/api/v1/mcp/projects/{project}/mcp", path: mcpPath("priv"), user_id: "bob", allow: true });
  });

  it("lets trigger_build through only with a grant that allows triggering; without, the gateway refuses it (-32003) and the upstream never sees it", async () => {
    // A gateway of its own, so bob's per-minute MCP budget here is not the other tests'.
    const own = await startGateway({ TOLLGATE_UPSTREAM_URL: upstreamUrl });
    gateways.push(own);
    const withTrigger = await selfServiceToken(own.url, [{ project_id: "priv", allow_trigger: true }]);
    const readOnly = await selfServiceToken(own.url, [{ project_id: "priv" }]);
    const allowed = await (await connect(own.url, "priv", withTrigger.token)).callTool({ name: "trigger_build", arguments: {} });
    expect(allowed.isError ?? false).toBe(false);
    expect(JSON.parse(textOf(allowed))).toMatchObject({ project: "priv", state: "queued" });
    const client = await connect(own.url, "priv", readOnly.token);
    const before = upstreamHits.length;
    const refused = await refusal(client.callTool({ name: "trigger_build", arguments: {} }));
    expect(refused.code).toBe(403);
    expect(jsonRpcErrorIn(refused.message)).toMatchObject({ code: -32003, data: { reasons: ["trigger_not_allowed"] } });
    // (The SDK's optional GET stream may open meanwhile; no message reaches the upstream.)
    expect(upstreamHits.slice(before).filter((hit) => hit.startsWith("POST"))).toEqual([]);
    // The same token still calls the read tools.
    expect(JSON.parse(textOf(await client.callTool({ name: "list_builds", arguments: {} })))).toHaveLength(2);
  });

  it("judges each message by the tool table: resources of the project, an unknown tool, another project's resource", async () => {
    const { token } = await selfServiceToken(gw.url, [{ project_id: "priv" }]);
    const client = await connect(gw.url, "priv", token);
    const log = await client.readResource({ uri: "demo://projects/priv/jobs/j7/logs" });
    expect(log.contents[0]).toMatchObject({ uri: "demo://projects/priv/jobs/j7/logs", text: "[j7] finished\n" });

    const before = upstreamHits.length;
    const unknown = await refusal(client.callTool({ name: "drop_tables", arguments: {} }));
    expect(unknown.code).toBe(403);
    expect(jsonRpcErrorIn(unknown.message)).toMatchObject({ code: -32003, message: "denied: unknown_tool", data: { reasons: ["unknown_tool"] } });
    const elsewhere = await refusal(client.readResource({ uri: "demo://projects/pub/builds/b1" }));
    expect(jsonRpcErrorIn(elsewhere.message)).toMatchObject({ code: -32003, data: { reasons: ["unknown_tool"] } });
    const dotted = await refusal(client.readResource({ uri: "demo://projects/priv/builds/.." }));
    expect(jsonRpcErrorIn(dotted.message)).toMatchObject({ data: { reasons: ["unknown_tool"] } });
    expect(upstreamHits.slice(before).filter((hit) => hit.startsWith("POST"))).toEqual([]);
  });

  it("refuses an oversized message (413, -32600) through the SDK, and batches and malformed JSON before the SDK server", async () => {
    const small = await startGateway({ TOLLGATE_UPSTREAM_URL: upstreamUrl, TOLLGATE_MCP_MAX_BODY_BYTES: "4096" });
    gateways.push(small);
    const client = await connect(small.url, "priv", small.world.tokens.bobMcp);
    const before = upstreamHits.length;
    const big = await refusal(client.callTool({ name: "get_build", arguments: { build_id: "b".repeat(8192) } }));
    expect(big.code).toBe(413);
    expect(jsonRpcErrorIn(big.message)).toMatchObject({ code: -32600, data: { reasons: ["body_too_large"] } });
    // The SDK sends neither; an ordinary HTTP client can.
    const raw = (body: string) =>
      send(small.url, mcpPath("priv"), {
        method: "POST",
        headers: { authorization: bearer(small.world.tokens.bobMcp), "content-type": "application/json", accept: "application/json, text/event-stream" },
        body,
      });
    const batch = await raw('[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"trigger_build"}}]');
    expect(batch.status).toBe(400);
    expect(batch.body).toBe('{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batches are not supported"}}');
    const malformed = await raw('{"jsonrpc":"2.0","id":1,"method":"tools/list"');
    expect(malformed.status).toBe(400);
    expect(malformed.json()).toMatchObject({ error: { code: -32700 } });
    expect(upstreamHits.slice(before).filter((hit) => hit.startsWith("POST"))).toEqual([]);
  });

  it("spends the trigger budget of POST …/trigger through tools/call trigger_build: 429 with -32029 once it is spent", async () => {
    const own = await startGateway({ TOLLGATE_UPSTREAM_URL: upstreamUrl, TOLLGATE_RATE_LIMITS: '{"mcp":{"trigger":5}}' });
    gateways.push(own);
    const token = own.world.tokens.bobMcp;
    const rest = await Promise.all([1, 2, 3].map(() => send(own.url, "/api/v1/mcp/projects/priv/trigger", { method: "POST", headers: { authorization: bearer(token) } })));
    expect(rest.map((r) => r.status)).toEqual([201, 201, 201]);
    const client = await connect(own.url, "priv", token);
    for (let i = 0; i < 2; i++) expect((await client.callTool({ name: "trigger_build", arguments: {} })).isError ?? false).toBe(false);
    const spent = await refusal(client.callTool({ name: "trigger_build", arguments: {} }));
    expect(spent.code).toBe(429);
    expect(jsonRpcErrorIn(spent.message)).toMatchObject({ code: -32029, data: { reasons: ["rate_limited"] } });
    const restAfter = await send(own.url, "/api/v1/mcp/projects/priv/trigger", { method: "POST", headers: { authorization: bearer(token) } });
    expect(restAfter.status).toBe(429);
    // Reading goes on in its own class.
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
  });

  it("is refused with 403 without a grant for the project, and 401 without a credential; the upstream is not reached", async () => {
    const { token } = await selfServiceToken(gw.url, [{ project_id: "priv" }]);
    const before = upstreamHits.length;
    const noGrant = await refusal(connect(gw.url, "pub", token));
    expect(noGrant.code).toBe(403);
    expect(noGrant.message).toContain("grant_missing");
    const anonymous = await refusal(connect(gw.url, "priv", null));
    expect(anonymous.code).toBe(401);
    expect(anonymous.message).toContain("missing_token");
    const globalToken = await refusal(connect(gw.url, "priv", gw.world.tokens.bobGlobal));
    expect(globalToken.code).toBe(403);
    expect(globalToken.message).toContain("token_not_allowed_on_path");
    expect(upstreamHits.slice(before)).toEqual([]);
  });

  it("is refused with 401 on the next request once the token is revoked", async () => {
    const { id, token } = await selfServiceToken(gw.url, [{ project_id: "priv" }]);
    const client = await connect(gw.url, "priv", token);
    expect((await client.listTools()).tools).toHaveLength(2);

    const revoke = await send(gw.url, `/api/v1/mcp/tokens/${id}`, { method: "DELETE", headers: { authorization: bearer(await gw.world.session("bob")) } });
    expect(revoke.status).toBe(200);

    const before = upstreamHits.length;
    const refused = await refusal(client.callTool({ name: "list_builds", arguments: {} }));
    expect(refused.code).toBe(401);
    expect(refused.message).toContain("revoked_token");
    expect((await refusal(connect(gw.url, "priv", token))).code).toBe(401);
    expect(upstreamHits.slice(before)).toEqual([]);
  });

  it("is refused with 403 after the grant's expiry, and 401 after the token's", async () => {
    const grantOnly = await selfServiceToken(gw.url, [{ project_id: "priv", expires_at: iso(NOW + 3_600) }]);
    const wholeToken = await selfServiceToken(gw.url, [{ project_id: "priv" }], { expires_at: iso(NOW + 3_600) });
    for (const { token } of [grantOnly, wholeToken]) {
      const now = await connect(gw.url, "priv", token);
      expect((await now.listTools()).tools).toHaveLength(2);
    }

    // The same backends, two hours later.
    const later = buildTollgateAt(NOW + 7_200, { TOLLGATE_UPSTREAM_URL: upstreamUrl }, gw.world.tollgate.backends);
    const server = createHttpServer(later.app, later.config);
    servers.push(server);
    const laterUrl = await listen(server);

    const before = upstreamHits.length;
    const expiredGrant = await refusal(connect(laterUrl, "priv", grantOnly.token));
    expect(expiredGrant.code).toBe(403);
    expect(expiredGrant.message).toContain("grant_expired");
    const expiredToken = await refusal(connect(laterUrl, "priv", wholeToken.token));
    expect(expiredToken.code).toBe(401);
    expect(expiredToken.message).toContain("expired_token");
    expect(upstreamHits.slice(before)).toEqual([]);
    // A token without expiry still works at that time.
    const fine = await connect(laterUrl, "priv", gw.world.tokens.bobMcp);
    expect((await fine.listTools()).tools).toHaveLength(3);
  });

  it("is refused with 429 once the user's limit is spent, another user is unaffected", async () => {
    const limited = await startGateway({ TOLLGATE_UPSTREAM_URL: upstreamUrl, TOLLGATE_RATE_LIMITS: '{"mcp":{"default":6}}' });
    gateways.push(limited);
    const client = await connect(limited.url, "priv", limited.world.tokens.bobMcp);
    let succeeded = 0;
    let refused: { code: number; message: string } | null = null;
    for (let i = 0; i < 10 && !refused; i++) {
      try {
        await client.callTool({ name: "list_builds", arguments: {} });
        succeeded++;
      } catch (err) {
        expect(err).toBeInstanceOf(StreamableHTTPError);
        refused = { code: (err as StreamableHTTPError).code ?? 0, message: (err as Error).message };
      }
    }
    expect(refused?.code).toBe(429);
    expect(refused?.message).toContain("rate_limited");
    // connect used 2 or 3 of the 6 (the optional GET stream races with the first calls).
    expect(succeeded).toBeGreaterThanOrEqual(3);
    expect(succeeded).toBeLessThanOrEqual(4);

    const raw = await send(limited.url, mcpPath("priv"), {
      method: "POST",
      headers: { authorization: bearer(limited.world.tokens.bobMcp), "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(raw.status).toBe(429);
    expect(Number(raw.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(raw.headers["ratelimit-policy"]).toBe('"default";q=6;w=60');

    const { token: alice } = await limited.world.tollgate.issuer.issue({ type: "mcp", user_id: "alice", grants: [{ project_id: "pub" }] });
    const other = await connect(limited.url, "pub", alice);
    expect((await other.listTools()).tools.map((t) => t.description)).toContain("List the builds of pub");
  });
});
