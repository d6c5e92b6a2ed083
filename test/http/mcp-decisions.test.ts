// The decision endpoints never see an MCP message's body: forward auth and ext-authz decide a
// project's MCP endpoint on Mcp-Method / Mcp-Name (and refuse with mcp_body_required without
// them); /v1/authorize takes an optional `mcp` object, validated at the boundary.
import request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { bearer, buildWorld, type World } from "./fixture.js";

let world: World;
let readOnly: string;
beforeAll(async () => {
  world = await buildWorld();
  readOnly = (await world.tollgate.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv", allow_trigger: false }] })).token;
});

const MCP = "/api/v1/mcp/projects/priv/mcp";

const forwardAuth = (token: string, mcp: Record<string, string> = {}) =>
  request(world.tollgate.app)
    .get("/v1/forward-auth")
    .set({ "X-Original-Method": "POST", "X-Original-URI": MCP, Authorization: bearer(token), ...mcp });

describe("forward auth on a project's MCP endpoint", () => {
  it("decides on Mcp-Method and Mcp-Name: a read tool, trigger_build per the grant, an unknown tool", async () => {
    expect((await forwardAuth(readOnly, { "Mcp-Method": "tools/call", "Mcp-Name": "list_builds" })).status).toBe(200);
    const trigger = await forwardAuth(readOnly, { "Mcp-Method": "tools/call", "Mcp-Name": "trigger_build" });
    expect(trigger.status).toBe(403);
    expect(trigger.body.error.reasons).toEqual(["trigger_not_allowed"]);
    expect((await forwardAuth(world.tokens.bobMcp, { "Mcp-Method": "tools/call", "Mcp-Name": "trigger_build" })).status).toBe(200);
    const unknown = await forwardAuth(readOnly, { "Mcp-Method": "tools/call", "Mcp-Name": "drop_tables" });
    expect(unknown.status).toBe(403);
    expect(unknown.body.error.reasons).toEqual(["unknown_tool"]);
  });

  it("refuses with 403 mcp_body_required without Mcp-Method, and 400 for a repeated one", async () => {
    const none = await forwardAuth(world.tokens.bobMcp);
    expect(none.status).toBe(403);
    expect(none.body.error.reasons).toEqual(["mcp_body_required"]);
    const repeated = await request(world.tollgate.app)
      .get("/v1/forward-auth")
      .set({ "X-Original-Method": "POST", "X-Original-URI": MCP, Authorization: bearer(world.tokens.bobMcp) })
      .set("Mcp-Method", ["tools/list", "tools/call"] as unknown as string);
    expect(repeated.status).toBe(400);
  });

  it("charges the tool's class: a trigger spends the trigger budget", async () => {
    const res = await forwardAuth(world.tokens.bobMcp, { "Mcp-Method": "tools/call", "Mcp-Name": "trigger_build" });
    expect(res.headers["ratelimit-policy"]).toMatch(/^"trigger";/);
  });
});

describe("ext-authz on a project's MCP endpoint", () => {
  it("decides on Mcp-Method and Mcp-Name, and refuses without them", async () => {
    const allowed = await request(world.tollgate.app).post(`/v1/ext-authz${MCP}`).set({ Authorization: bearer(readOnly), "Mcp-Method": "tools/list" });
    expect(allowed.status).toBe(200);
    const none = await request(world.tollgate.app).post(`/v1/ext-authz${MCP}`).set({ Authorization: bearer(readOnly) });
    expect(none.status).toBe(403);
    expect(none.body.error.reasons).toEqual(["mcp_body_required"]);
  });
});

describe("/v1/authorize with mcp", () => {
  const authorize = (body: Record<string, unknown>) =>
    request(world.tollgate.app)
      .post("/v1/authorize")
      .send({ method: "POST", path: MCP, authorization: bearer(readOnly), dry_run: true, ...body });

  it("judges the message it is given", async () => {
    expect((await authorize({ mcp: { method: "tools/call", tool: "get_build" } })).body).toMatchObject({ allow: true, access: "read", rate_limit: { class: "default" } });
    expect((await authorize({ mcp: { method: "tools/call", tool: "trigger_build" } })).body).toMatchObject({ allow: false, status: 403, reasons: ["trigger_not_allowed"], access: "write" });
    expect((await authorize({ mcp: { method: "resources/read", uri: "demo://projects/priv/jobs/j1/logs" } })).body).toMatchObject({ allow: true, rate_limit: { class: "log" } });
    expect((await authorize({})).body).toMatchObject({ allow: false, reasons: ["mcp_body_required"] });
  });

  it("validates mcp at the boundary", async () => {
    for (const mcp of [{}, { method: 7 }, { method: "tools/call", tool: "" }, { method: "x", extra: 1 }, "tools/list", { method: "m".repeat(257) }, { method: "tools/call", tool: "\ud800" }]) {
      const res = await authorize({ mcp });
      expect(res.status, JSON.stringify(mcp)).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
    }
  });
});
