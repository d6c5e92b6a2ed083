// A project's MCP endpoint through the gateway, message by message over plain HTTP: refusals
// before the policy (size, JSON, JSON-RPC, batch, headers), denials as JSON-RPC errors, the
// exact bytes forwarded, one rate-limit charge per message in its tool's class, and the trigger
// budget shared with POST …/trigger (memory and a real redis-server).
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failFastRedisOptions } from "../../src/stores/redis/client.js";
import { RedisRateLimiter } from "../../src/stores/redis/rate-limiter.js";
import { bearer, buildWorld } from "../http/fixture.js";
import { startRedis, type RedisServer } from "../support/servers.js";
import { rawRequest, send, startGateway, startUpstream, type Gateway, type Sent, type Upstream } from "./helpers.js";

const MCP = "/api/v1/mcp/projects/priv/mcp";
let upstream: Upstream;
let gw: Gateway;
const gateways: Gateway[] = [];

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_MCP_MAX_BODY_BYTES: "2048" });
});

afterAll(async () => {
  await Promise.allSettled(gateways.map((g) => g.close()));
  await gw?.close();
  await upstream?.close();
});

const headers = (token: string, extra: Record<string, string> = {}) => ({
  authorization: bearer(token),
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  ...extra,
});

function post(g: Gateway, body: string | Buffer, extra: Record<string, string> = {}, token = g.world.tokens.bobMcp, path = MCP): Promise<Sent> {
  return send(g.url, path, { method: "POST", headers: headers(token, extra), body });
}

const call = (tool: string, id: number | string = 1) => JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: tool, arguments: {} } });

/** The POSTs that reached the upstream since `from`. */
const posts = (from: number) => upstream.hits.slice(from).filter((h) => h.method === "POST");

describe("messages refused before the policy", () => {
  it("refuses a batch with exactly the documented body, never reaching the upstream", async () => {
    const before = upstream.hits.length;
    const res = await post(gw, `[${call("list_builds")}]`);
    expect(res.status).toBe(400);
    expect(res.body).toBe('{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batches are not supported"}}');
    expect(posts(before)).toEqual([]);
  });

  it("answers malformed JSON with -32700, a non-JSON-RPC body with -32600, a duplicate member with -32700", async () => {
    const before = upstream.hits.length;
    const malformed = await post(gw, '{"jsonrpc":"2.0","id":1,');
    expect(malformed.status).toBe(400);
    expect(malformed.json()).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "the body is not valid JSON", data: { reasons: ["malformed_json"] } } });
    const notRpc = await post(gw, '{"id":4,"method":"tools/list"}');
    expect(notRpc.status).toBe(400);
    expect(notRpc.json()).toMatchObject({ id: 4, error: { code: -32600, data: { reasons: ["invalid_jsonrpc"] } } });
    // The policy would see list_builds, a parser that keeps the last member trigger_build.
    const duplicate = await post(gw, '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"list_builds","name":"trigger_build"}}');
    expect(duplicate.status).toBe(400);
    expect(duplicate.json()).toMatchObject({ error: { code: -32700, data: { reasons: ["duplicate_member"] } } });
    const latin1 = await post(gw, Buffer.from('{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"list_builds\xe9"}}', "latin1"));
    expect(latin1.json()).toMatchObject({ error: { code: -32700, data: { reasons: ["invalid_encoding"] } } });
    expect(posts(before)).toEqual([]);
  });

  it("answers a body over TOLLGATE_MCP_MAX_BODY_BYTES with 413 and -32600, declared or chunked", async () => {
    const big = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "list_builds", arguments: { pad: "x".repeat(4096) } } });
    const declared = await post(gw, big);
    expect(declared.status).toBe(413);
    expect(declared.json()).toMatchObject({ jsonrpc: "2.0", error: { code: -32600, data: { reasons: ["body_too_large"] } } });
    const chunked = await send(gw.url, MCP, { method: "POST", headers: { ...headers(gw.world.tokens.bobMcp), "transfer-encoding": "chunked" }, body: big });
    expect(chunked.status).toBe(413);
    expect(chunked.headers.connection).toBe("close");
  });

  it("with Expect: 100-continue: a declared message over the cap gets 413 without 100 Continue; one within it is invited (Tollgate sends 100 Continue only when asked to), judged and forwarded", async () => {
    const head = (length: number) =>
      `POST ${MCP} HTTP/1.1\r\nHost: x\r\nAuthorization: ${bearer(gw.world.tokens.bobMcp)}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;
    const before = upstream.hits.length;
    const over = await rawRequest(gw.port, head(4096), { expectResponses: 1 });
    expect(over.statuses).toEqual([413]);
    expect(over.text).toMatch(/\r\nconnection: close\r\n/i);
    const body = call("list_builds", 7);
    const sent = await rawRequest(gw.port, head(Buffer.byteLength(body)) + body, { expectResponses: 2 });
    expect(sent.statuses).toEqual([100, 200]);
    expect(posts(before).map((h) => h.body)).toEqual([body]);
  });

  it("on MCP 2026-07-28 refuses Mcp-Method/Mcp-Name that disagree with the body (-32001) before the policy: no rate-limit charge", async () => {
    const own = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_RATE_LIMITS: '{"mcp":{"default":2}}' });
    gateways.push(own);
    const v = { "mcp-protocol-version": "2026-07-28" };
    for (const extra of [
      { ...v, "mcp-method": "tools/call", "mcp-name": "trigger_build" },
      { ...v, "mcp-method": "tools/list", "mcp-name": "list_builds" },
      { ...v, "mcp-name": "list_builds" },
      { ...v, "mcp-method": "tools/call" },
    ]) {
      const res = await post(own, call("list_builds", 9), extra);
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(res.json()).toMatchObject({ id: 9, error: { code: -32001, data: { reasons: ["mcp_header_mismatch"] } } });
      expect(res.headers["ratelimit"]).toBeUndefined();
    }
    const matching = await post(own, call("list_builds"), { ...v, "mcp-method": "tools/call", "mcp-name": "list_builds" });
    expect(matching.status).toBe(200);
    expect(matching.headers["ratelimit"]).toMatch(/^"default";r=1;t=\d+$/);
  });
});

describe("messages judged by the tool table", () => {
  it("forwards exactly the bytes it judged", async () => {
    const before = upstream.hits.length;
    const body = '{ "jsonrpc" : "2.0",\n "id":"a\\u0062", "method":"tools/call", "params":{"name":"get_build","arguments":{"build_id":"b1"}} }';
    const res = await post(gw, body);
    expect(res.status).toBe(200);
    const [hit] = posts(before);
    expect(hit?.body).toBe(body);
    expect(hit?.headers["x-tollgate-permissions"]).toBe("read,trigger");
  });

  it("refuses an unknown tool or method with 403 unknown_tool as a JSON-RPC error with the request's id; the upstream is not reached", async () => {
    const before = upstream.hits.length;
    const tool = await post(gw, call("delete_project", "x1"));
    expect(tool.status).toBe(403);
    const body = tool.json();
    expect(body).toMatchObject({ jsonrpc: "2.0", id: "x1", error: { code: -32003, message: "denied: unknown_tool", data: { reasons: ["unknown_tool"] } } });
    expect(body.error.data.decision_id).toBe(tool.headers["x-tollgate-decision-id"]);
    const method = await post(gw, JSON.stringify({ jsonrpc: "2.0", id: 2, method: "admin/shutdown" }));
    expect(method.json()).toMatchObject({ error: { code: -32003, data: { reasons: ["unknown_tool"] } } });
    const resource = await post(gw, JSON.stringify({ jsonrpc: "2.0", id: 3, method: "resources/read", params: { uri: "demo://projects/priv/builds/../../pub/builds/b1" } }));
    expect(resource.json()).toMatchObject({ error: { code: -32003, data: { reasons: ["unknown_tool"] } } });
    expect(posts(before)).toEqual([]);
  });

  it("keeps 401 with its challenge for a missing token, as a JSON-RPC error", async () => {
    const res = await send(gw.url, MCP, { method: "POST", headers: { "content-type": "application/json" }, body: call("list_builds") });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toBe('Bearer realm="tollgate"');
    expect(res.json()).toMatchObject({ error: { code: -32000, data: { reasons: ["missing_token"] } } });
  });

  it("audits each message with its decision, and refusals before the policy without a subject", async () => {
    const own = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url });
    gateways.push(own);
    await post(own, call("list_builds"));
    await post(own, call("nope"));
    await post(own, "[]");
    const audit = own.world.tollgate.backends.audit;
    await audit.flush();
    const { records } = await audit.query({ limit: 10 });
    const byReason = Object.fromEntries(records.map((r) => [r.reasons[0] ?? "allowed", r]));
    expect(byReason.allowed).toMatchObject({ allow: true, route: "/api/v1/mcp/projects/{project}/mcp", user_id: "bob" });
    expect(byReason.unknown_tool).toMatchObject({ allow: false, status: 403, user_id: "bob" });
    expect(byReason.batch_not_supported).toMatchObject({ allow: false, status: 400, user_id: null, route: "/api/v1/mcp/projects/{project}/mcp" });
  });
});

describe("rate limits per message", () => {
  it("charges each message once in its tool's class; notifications as default", async () => {
    const own = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_RATE_LIMITS: '{"mcp":{"default":3,"trigger":2}}' });
    gateways.push(own);
    expect((await post(own, call("list_builds"))).headers["ratelimit"]).toMatch(/^"default";r=2;t=\d+$/);
    expect((await post(own, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }))).headers["ratelimit"]).toMatch(/^"default";r=1;t=\d+$/);
    expect((await post(own, call("trigger_build"))).headers["ratelimit"]).toMatch(/^"trigger";r=1;t=\d+$/);
    expect((await post(own, call("get_build"))).headers["ratelimit"]).toMatch(/^"default";r=0;t=\d+$/);
    const spent = await post(own, call("list_builds", 44));
    expect(spent.status).toBe(429);
    expect(Number(spent.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(spent.json()).toMatchObject({ id: 44, error: { code: -32029, data: { reasons: ["rate_limited"] } } });
    // The trigger class still has one left.
    expect((await post(own, call("trigger_build"))).status).toBe(200);
  });

  const sharedTriggerBudget = async (g: Gateway): Promise<void> => {
    // 12 at once, half REST (POST …/trigger) and half MCP (tools/call trigger_build): exactly 5 pass.
    const rest = () => send(g.url, "/api/v1/mcp/projects/priv/trigger", { method: "POST", headers: { authorization: bearer(g.world.tokens.bobMcp) } });
    const mcp = () => post(g, call("trigger_build"));
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? rest() : mcp())));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    for (const a of answers.filter((x) => x.status === 429)) expect(a.headers["ratelimit-policy"]).toBe('"trigger";q=5;w=60');
    // Reads have their own class.
    expect((await post(g, call("list_builds"))).status).toBe(200);
  };

  it("spends one per-user trigger budget through POST …/trigger and tools/call trigger_build (memory, concurrent)", async () => {
    const own = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_RATE_LIMITS: '{"mcp":{"trigger":5}}' });
    gateways.push(own);
    await sharedTriggerBudget(own);
  });

  describe("on a real redis-server", () => {
    let redis: RedisServer;
    let client: Redis;
    beforeAll(async () => {
      redis = await startRedis();
      client = new Redis(redis.url, { ...failFastRedisOptions });
      client.on("error", () => {});
    });
    afterAll(async () => {
      client?.disconnect();
      await redis?.stop();
    });

    it("spends one per-user trigger budget through POST …/trigger and tools/call trigger_build (concurrent)", async () => {
      const env = { TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_RATE_LIMITS: '{"mcp":{"trigger":5}}' };
      const base = await buildWorld(env);
      const own = await startGateway(env, { ...base.tollgate.backends, rateLimiter: new RedisRateLimiter(client, { timeoutMs: 2_000 }) });
      gateways.push(own);
      await sharedTriggerBudget(own);
    });
  });
});

describe("the endpoint's other methods", () => {
  it("judges GET and DELETE by the route (no message to read)", async () => {
    const before = upstream.hits.length;
    const get = await send(gw.url, MCP, { headers: { authorization: bearer(gw.world.tokens.bobMcp) } });
    expect(get.status).toBe(200);
    const del = await send(gw.url, MCP, { method: "DELETE", headers: { authorization: bearer(gw.world.tokens.bobMcp) } });
    expect(del.status).toBe(200);
    expect(upstream.hits.slice(before).map((h) => h.method)).toEqual(["GET", "DELETE"]);
  });
});
