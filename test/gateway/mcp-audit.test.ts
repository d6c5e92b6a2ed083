// The audit records of MCP messages: method, tool or URI, JSON-RPC id and Mcp-Session-Id on every
// message the gateway judged (and on those refused for their headers), never the arguments unless
// TOLLGATE_AUDIT_MCP_ARGUMENTS=true, then redacted; forward auth records what its headers say; the
// admin API and the token owner's view filter by tool and mcp_method.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../src/audit/types.js";
import { ADMIN_TOKEN, bearer } from "../http/fixture.js";
import { send, startGateway, startUpstream, type Gateway, type Upstream } from "./helpers.js";

const MCP = "/api/v1/mcp/projects/priv/mcp";
let upstream: Upstream;
const gateways: Gateway[] = [];

beforeAll(async () => {
  upstream = await startUpstream();
});

afterAll(async () => {
  await Promise.allSettled(gateways.map((g) => g.close()));
  await upstream?.close();
});

async function gatewayWith(env: Record<string, string> = {}): Promise<Gateway> {
  const g = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, ...env });
  gateways.push(g);
  return g;
}

function post(g: Gateway, message: object | string, extra: Record<string, string> = {}) {
  return send(g.url, MCP, {
    method: "POST",
    headers: { authorization: bearer(g.world.tokens.bobMcp), "content-type": "application/json", accept: "application/json, text/event-stream", ...extra },
    body: typeof message === "string" ? message : JSON.stringify({ jsonrpc: "2.0", ...message }),
  });
}

async function records(g: Gateway): Promise<AuditRecord[]> {
  const audit = g.world.tollgate.backends.audit;
  await audit.flush();
  return (await audit.query({ limit: 100 })).records.reverse();
}

const SECRET = "S3CR3T-0123456789";

describe("audit records of MCP messages", () => {
  it("carry method, tool or URI, JSON-RPC id and the session as presented; never the arguments by default", async () => {
    const g = await gatewayWith();
    // A session this token never opened: refused (unknown_session), and the record still names it,
    // so a hijack attempt is visible in the trail.
    const session = { "mcp-session-id": "sess-abc" };
    await post(g, { id: 1, method: "tools/call", params: { name: "get_build", arguments: { build_id: "b1", token: SECRET } } }, session);
    await post(g, { id: "two", method: "resources/read", params: { uri: "demo://projects/priv/builds/b1" } }, session);
    await post(g, { method: "notifications/initialized" });
    await post(g, { id: 4, method: "tools/call", params: { name: "nope", arguments: { api_key: SECRET } } }, session);
    const got = await records(g);
    expect(got.map((r) => r.mcp)).toEqual([
      { method: "tools/call", tool: "get_build", uri: null, id: 1, session_id: "sess-abc", arguments: null, arguments_truncated: false },
      { method: "resources/read", tool: null, uri: "demo://projects/priv/builds/b1", id: "two", session_id: "sess-abc", arguments: null, arguments_truncated: false },
      { method: "notifications/initialized", tool: null, uri: null, id: null, session_id: null, arguments: null, arguments_truncated: false },
      { method: "tools/call", tool: "nope", uri: null, id: 4, session_id: "sess-abc", arguments: null, arguments_truncated: false },
    ]);
    expect(got.map((r) => r.reasons[0] ?? "allowed")).toEqual(["unknown_session", "unknown_session", "allowed", "unknown_tool"]);
    expect(JSON.stringify(got)).not.toContain(SECRET);
  });

  it("a message refused for its headers names its call; one that is no message, and a GET, have none", async () => {
    const g = await gatewayWith();
    const v = { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "trigger_build" };
    expect((await post(g, { id: 9, method: "tools/call", params: { name: "list_builds" } }, v)).status).toBe(400);
    expect((await post(g, "[]")).status).toBe(400);
    await send(g.url, MCP, { method: "GET", headers: { authorization: bearer(g.world.tokens.bobMcp), accept: "text/event-stream", "mcp-session-id": "s1" }, timeoutMs: 2_000 }).catch(() => null);
    const got = await records(g);
    expect(got[0]).toMatchObject({ reasons: ["mcp_header_mismatch"], mcp: { method: "tools/call", tool: "list_builds", id: 9 } });
    expect(got[1]).toMatchObject({ reasons: ["batch_not_supported"], mcp: null });
    expect(got.slice(2).map((r) => [r.method, r.mcp])).toEqual([["GET", null]]);
  });

  it("with TOLLGATE_AUDIT_MCP_ARGUMENTS=true keep the arguments, values of secret-named keys redacted at any depth", async () => {
    const g = await gatewayWith({ TOLLGATE_AUDIT_MCP_ARGUMENTS: "true" });
    const args = { build_id: "b1", auth: { Authorization: `Bearer ${SECRET}` }, env: [{ name: "x", client_secret: SECRET }] };
    await post(g, { id: 1, method: "tools/call", params: { name: "get_build", arguments: args } });
    await post(g, { id: 2, method: "tools/list" });
    const [call, list] = await records(g);
    expect(JSON.parse(call!.mcp!.arguments!)).toEqual({ build_id: "b1", auth: "[redacted]", env: [{ name: "x", client_secret: "[redacted]" }] });
    expect(call!.mcp!.arguments_truncated).toBe(false);
    expect(list!.mcp).toMatchObject({ method: "tools/list", arguments: null });

    const own = await gatewayWith({ TOLLGATE_AUDIT_MCP_ARGUMENTS: "true", TOLLGATE_AUDIT_REDACT_KEYS: "^build_id$" });
    await post(own, { id: 1, method: "tools/call", params: { name: "get_build", arguments: { build_id: SECRET, note: "kept" } } });
    const [mine] = await records(own);
    expect(JSON.parse(mine!.mcp!.arguments!)).toEqual({ build_id: "[redacted]", note: "kept" });
  });

  it("forward auth records the call and session its headers name (no id, no arguments)", async () => {
    const g = await gatewayWith({ TOLLGATE_AUDIT_MCP_ARGUMENTS: "true" });
    const res = await send(g.url, "/v1/forward-auth", {
      headers: {
        authorization: bearer(g.world.tokens.bobMcp),
        "x-original-method": "POST",
        "x-original-uri": MCP,
        "mcp-method": "tools/call",
        "mcp-name": "get_build",
        "mcp-session-id": "sess-fa",
      },
    });
    expect(res.status).toBe(200);
    const [r] = await records(g);
    expect(r).toMatchObject({ source: "forward_auth", mcp: { method: "tools/call", tool: "get_build", uri: null, id: null, session_id: "sess-fa", arguments: null } });
  });

  it("the admin API and the token owner's view filter by tool and mcp_method", async () => {
    const g = await gatewayWith();
    await post(g, { id: 1, method: "tools/call", params: { name: "get_build", arguments: { build_id: "b1" } } });
    await post(g, { id: 2, method: "tools/call", params: { name: "list_builds" } });
    await post(g, { id: 3, method: "tools/list" });
    await g.world.tollgate.backends.audit.flush();
    const admin = async (query: string) => {
      const res = await send(g.url, `/v1/admin/audit?${query}`, { headers: { authorization: bearer(ADMIN_TOKEN) } });
      expect(res.status, res.body).toBe(200);
      return (res.json().records as Array<{ mcp: { id: number } | null }>).map((r) => r.mcp?.id);
    };
    expect(await admin("tool=get_build")).toEqual([1]);
    expect(await admin("mcp_method=tools/call")).toEqual([2, 1]);
    expect(await admin("mcp_method=tools%2Flist&source=gateway")).toEqual([3]);
    const session = await g.world.session("bob");
    const owner = await send(g.url, `/api/v1/mcp/tokens/${g.world.tokenIds.bobMcp}/audit?tool=list_builds`, { headers: { authorization: bearer(session) } });
    expect(owner.status, owner.body).toBe(200);
    expect((owner.json().records as Array<{ mcp: { id: number } }>).map((r) => r.mcp.id)).toEqual([2]);
  });
});
