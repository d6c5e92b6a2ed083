// MCP sessions bound to tokens, end to end with the 1.x SDK: a client opens a session through
// Tollgate with a stateful SDK server behind it (Mcp-Session-Id, MCP 2025 revisions). The
// session is then the opening token's alone: presented with another token, after the token's
// revoke, unknown, or after its DELETE, it is answered 404 by Tollgate and never reaches the
// upstream. With Redis, the session check rides on the rate-limit call: one round trip.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisMcpSessionStore } from "../../src/stores/redis/mcp-session-store.js";
import { BackendUnavailableError, type McpSessionStore } from "../../src/stores/types.js";
import { RedisRateLimiter } from "../../src/stores/redis/rate-limiter.js";
import { bearer, buildWorld } from "../http/fixture.js";
import { startRedis, type RedisServer } from "../support/servers.js";
import { listen, send, startGateway, stopServer, type Gateway } from "./helpers.js";

/** A stateful MCP server (SDK 1.x): one transport per session, as the SDK's examples keep them. */
const sessions = new Map<string, StreamableHTTPServerTransport>();
/** Every request that reached the upstream: method, session id presented, and JSON-RPC method. */
const upstreamHits: Array<{ method: string; session: string | undefined }> = [];

async function serveMcp(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const presented = req.headers["mcp-session-id"] as string | undefined;
  upstreamHits.push({ method: req.method ?? "", session: presented });
  let transport = presented === undefined ? undefined : sessions.get(presented);
  if (presented !== undefined && !transport) {
    res.writeHead(404, { "content-type": "application/json" }).end('{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}');
    return;
  }
  if (!transport) {
    const created = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => void sessions.set(id, created) });
    created.onclose = () => void (created.sessionId && sessions.delete(created.sessionId));
    const server = new McpServer({ name: "stateful", version: "1.0.0" });
    server.registerTool("list_builds", { description: "List the builds" }, async () => ({ content: [{ type: "text", text: "[]" }] }));
    await server.connect(created);
    transport = created;
  }
  await transport.handleRequest(req, res);
}

const upstream = createServer((req, res) => void serveMcp(req, res));
let upstreamUrl: string;
let gw: Gateway;
const clients: Client[] = [];

beforeAll(async () => {
  upstreamUrl = await listen(upstream);
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstreamUrl });
});

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await gw?.close();
  for (const t of sessions.values()) await t.close();
  await stopServer(upstream);
});

const MCP = "/api/v1/mcp/projects/priv/mcp";

async function connect(base: string, token: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: "tollgate-sessions", version: "1.0.0" });
  clients.push(client);
  const transport = new StreamableHTTPClientTransport(new URL(`${base}${MCP}`), { requestInit: { headers: { Authorization: bearer(token) } } });
  await client.connect(transport);
  expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
  return { client, transport };
}

/** An MCP token of `user` for project priv, made through the self-service API. */
async function mcpToken(g: Gateway, user = "bob"): Promise<{ id: string; token: string }> {
  const res = await send(g.url, "/api/v1/mcp/tokens", {
    method: "POST",
    headers: { authorization: bearer(await g.world.session(user)), "content-type": "application/json" },
    body: JSON.stringify({ name: "agent", grants: [{ project_id: "priv" }] }),
  });
  expect(res.status, res.body).toBe(201);
  return res.json();
}

const LIST = '{"jsonrpc":"2.0","id":7,"method":"tools/list"}';

/** A request on the MCP endpoint presenting `session` with `token`, as any HTTP client can send it. */
function onSession(g: Gateway, token: string, session: string, method = "POST") {
  return send(g.url, MCP, {
    method,
    headers: {
      authorization: bearer(token),
      "mcp-session-id": session,
      "mcp-protocol-version": "2025-06-18",
      accept: "application/json, text/event-stream",
      ...(method === "POST" ? { "content-type": "application/json" } : {}),
    },
    ...(method === "POST" ? { body: LIST } : {}),
  });
}

/** A 404 for the session: JSON-RPC -32001 with the policy's reason, the request's id (null without a message). */
function expectUnknownSession(res: { status: number; json(): any }, id: number | null): void {
  expect(res.status).toBe(404);
  expect(res.json()).toMatchObject({ jsonrpc: "2.0", id, error: { code: -32001, data: { reasons: ["unknown_session"] } } });
}

/** What reached the upstream for `session` from now on. */
function watch(session: string): () => string[] {
  const from = upstreamHits.length;
  return () => upstreamHits.slice(from).filter((h) => h.session === session).map((h) => h.method);
}

describe("MCP sessions bound to tokens", () => {
  it("refuses a session presented with another token of the same user or of another user (404), on POST, GET and DELETE; the owner goes on", async () => {
    const owner = await mcpToken(gw);
    const { client, transport } = await connect(gw.url, owner.token);
    const sid = transport.sessionId!;
    const reached = watch(sid);
    const sameUser = await mcpToken(gw);
    const otherUser = await mcpToken(gw, "alice");
    for (const thief of [sameUser.token, otherUser.token, gw.world.tokens.bobMcp]) {
      expectUnknownSession(await onSession(gw, thief, sid), 7);
      expectUnknownSession(await onSession(gw, thief, sid, "GET"), null);
      expectUnknownSession(await onSession(gw, thief, sid, "DELETE"), null);
    }
    expect(reached().filter((m) => m !== "GET")).toEqual([]); // (the owner's SDK may hold its GET stream)
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["list_builds"]);
    expect((await onSession(gw, owner.token, sid)).status).toBe(200);
  });

  it("refuses the session of a revoked token: the token with 401, a new token of the same user with 404", async () => {
    const old = await mcpToken(gw);
    const { transport } = await connect(gw.url, old.token);
    const sid = transport.sessionId!;
    const revoke = await send(gw.url, `/api/v1/mcp/tokens/${old.id}`, { method: "DELETE", headers: { authorization: bearer(await gw.world.session("bob")) } });
    expect(revoke.status).toBe(200);
    const reached = watch(sid);
    const again = await onSession(gw, old.token, sid);
    expect(again.status).toBe(401);
    expect(again.json()).toMatchObject({ error: { data: { reasons: ["revoked_token"] } } });
    const fresh = await mcpToken(gw);
    expectUnknownSession(await onSession(gw, fresh.token, sid), 7);
    expect(reached()).toEqual([]);
  });

  it("refuses a session Tollgate does not know (404); the SDK client surfaces it as StreamableHTTPError 404", async () => {
    const { token } = await mcpToken(gw);
    const before = upstreamHits.length;
    expectUnknownSession(await onSession(gw, token, randomUUID()), 7);
    // Not one an MCP server could issue (visible ASCII only): unknown too.
    expectUnknownSession(await onSession(gw, token, "x".repeat(300)), 7);
    const client = new Client({ name: "tollgate-sessions", version: "1.0.0" });
    clients.push(client);
    const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}${MCP}`), { sessionId: randomUUID(), requestInit: { headers: { Authorization: bearer(token) } } });
    await transport.start();
    const err = await transport.send({ jsonrpc: "2.0", id: 1, method: "tools/list" }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StreamableHTTPError);
    expect((err as StreamableHTTPError).code).toBe(404);
    expect(upstreamHits.length).toBe(before);
  });

  it("ends a session with its DELETE (forwarded): Tollgate then answers 404 for it, and the token opens a new one", async () => {
    const { token } = await mcpToken(gw);
    const { transport } = await connect(gw.url, token);
    const sid = transport.sessionId!;
    await transport.terminateSession();
    expect(sessions.has(sid)).toBe(false);
    const reached = watch(sid);
    expectUnknownSession(await onSession(gw, token, sid), 7);
    expect(reached()).toEqual([]);
    const next = await connect(gw.url, token);
    expect(next.transport.sessionId).not.toBe(sid);
    expect((await next.client.listTools()).tools).toHaveLength(1);
  });
});

describe("MCP sessions when the session store fails", () => {
  it("answers 503 backend_unavailable instead of the upstream's answer when the session it opened cannot be recorded", async () => {
    const env = { TOLLGATE_UPSTREAM_URL: upstreamUrl };
    const base = await buildWorld(env);
    const real = base.tollgate.backends.mcpSessions;
    const failing: McpSessionStore = { ...real, check: (s) => real.check(s), end: (s) => real.end(s), bind: () => Promise.reject(new BackendUnavailableError("redis", new Error("down"))) };
    const own = await startGateway(env, { ...base.tollgate.backends, mcpSessions: failing });
    try {
      const opened = sessions.size;
      const res = await send(own.url, MCP, {
        method: "POST",
        headers: { authorization: bearer(own.world.tokens.bobMcp), "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } }),
      });
      expect(sessions.size).toBe(opened + 1); // the upstream did open one
      expect(res.status).toBe(503);
      expect(res.headers["mcp-session-id"]).toBeUndefined();
      expect(res.json()).toMatchObject({ error: { code: "backend_unavailable" } });
    } finally {
      await own.close();
    }
  });
});

describe("MCP sessions in Redis", () => {
  let redis: RedisServer;
  let client: Redis;
  let own: Gateway;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
    const env = { TOLLGATE_UPSTREAM_URL: upstreamUrl };
    const base = await buildWorld(env);
    own = await startGateway(env, {
      ...base.tollgate.backends,
      rateLimiter: new RedisRateLimiter(client, { timeoutMs: 2_000 }),
      mcpSessions: new RedisMcpSessionStore(client),
    });
  });

  afterAll(async () => {
    await own?.close();
    client?.disconnect();
    await redis?.stop();
  });

  // What the scripts of src/stores/redis/ call inside redis.call (INFO counts those too; they are no round trips).
  const SCRIPT_INNER = new Set(["del", "get", "hdel", "hexists", "hget", "hincrby", "hmget", "hset", "pexpire", "time"]);

  /** Calls of every command clients sent so far (INFO commandstats, without the scripts' inner commands). */
  async function commandCalls(): Promise<Map<string, number>> {
    const info = await client.info("commandstats");
    return new Map([...info.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)].filter((m) => !SCRIPT_INNER.has(m[1]!)).map((m) => [m[1]!, Number(m[2])]));
  }

  it("checks the session and counts the hit in one Redis round trip per MCP request", async () => {
    const { token } = await mcpToken(own);
    const { transport } = await connect(own.url, token);
    const sid = transport.sessionId!;
    const key = (await client.keys("tollgate:mcps:*")).find((k) => k.endsWith("{user:bob}"));
    expect(key).toBeDefined();
    expect(Number(await client.pttl(key!))).toBeGreaterThan(86_000_000);

    const N = 10;
    const before = await commandCalls();
    for (let i = 0; i < N; i++) expect((await onSession(own, token, sid)).status).toBe(200);
    const after = await commandCalls();
    const sent = [...after].filter(([name]) => name !== "info").map(([name, calls]) => [name, calls - (before.get(name) ?? 0)] as const).filter(([, d]) => d > 0);
    expect(Object.fromEntries(sent)).toEqual({ evalsha: N });
  });

  it("refuses another token's session from Redis, and forgets a session ended by DELETE", async () => {
    const owner = await mcpToken(own);
    const thief = await mcpToken(own);
    const { transport } = await connect(own.url, owner.token);
    const sid = transport.sessionId!;
    const reached = watch(sid);
    expectUnknownSession(await onSession(own, thief.token, sid), 7);
    await transport.terminateSession();
    expect(await client.keys(`tollgate:mcps:${Buffer.from(sid).toString("base64url")}:*`)).toEqual([]);
    expectUnknownSession(await onSession(own, owner.token, sid), 7);
    expect(reached().filter((m) => m !== "GET")).toEqual(["DELETE"]); // (the SDK's GET stream may come first)
  });
});
