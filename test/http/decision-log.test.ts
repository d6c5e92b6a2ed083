// One log line per decision (msg "decision"), whatever endpoint decided, never with a credential.
import request from "supertest";
import { describe, expect, it } from "vitest";
import { DECISION_LOG_MSG } from "../../src/audit/decision-log.js";
import { loadConfig } from "../../src/config/config.js";
import { createLogger } from "../../src/log.js";
import { buildTollgate } from "../../src/server/tollgate.js";
import { ADMIN_TOKEN, JWT_SECRET, NOW, bearer } from "./fixture.js";

/** A Tollgate whose log lines land in `lines` (parsed), as the server writes them. */
async function build() {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const logger = createLogger("info", {
    write(s: string) {
      raw.push(s);
      lines.push(JSON.parse(s) as Record<string, unknown>);
    },
  });
  const config = loadConfig({ TOLLGATE_JWT_SECRET: JWT_SECRET, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_DEMO: "false" });
  const tollgate = buildTollgate(config, { logger, watchPolicy: false, defaultMetrics: false, clock: () => NOW });
  await tollgate.facts.directoryStore.putUser({ id: "bob", system_role: "user" });
  await tollgate.facts.directoryStore.putProject({ id: "priv", name: "Private", public: false });
  await tollgate.facts.directoryStore.setCollaborator("priv", "bob", "Developer");
  const issued = await tollgate.issuer.issue({ type: "global", user_id: "bob", scopes: ["read"] });
  return { tollgate, lines, raw, token: issued.token, tokenId: issued.record.id, decisions: () => lines.filter((l) => l.msg === DECISION_LOG_MSG) };
}

describe("the decision log", () => {
  it("logs one line per decision at info with the documented fields, never the token", async () => {
    const { tollgate, raw, token, tokenId, decisions } = await build();
    const allowed = await request(tollgate.app)
      .post("/v1/authorize")
      .set("User-Agent", "ci-runner/2.1")
      .send({ method: "GET", path: `/api/v1/projects/priv/builds?access_token=${token}`, authorization: bearer(token) });
    expect(allowed.status).toBe(200);
    const denied = await request(tollgate.app).get("/api/v1/projects/priv/builds").set("Authorization", bearer("tg_glb_notarealtoken")).set("User-Agent", "curl/8.5.0");
    expect(denied.status).toBe(401);

    const lines = decisions();
    expect(lines).toHaveLength(2);
    expect(Object.keys(lines[0]!)).toEqual([
      "level",
      "time",
      "service",
      "decision_id",
      "source",
      "subject_type",
      "user_id",
      "token_id",
      "method",
      "path",
      "route",
      "allow",
      "status",
      "reasons",
      "upstream_status",
      "rate_limit_remaining",
      "policy_revision",
      "client_address",
      "user_agent",
      "mcp_method",
      "mcp_tool",
      "latency_ms",
      "msg",
    ]);
    expect(lines[0]).toMatchObject({
      level: 30,
      decision_id: allowed.body.decision_id,
      source: "authorize",
      subject_type: "global_token",
      user_id: "bob",
      token_id: tokenId,
      method: "GET",
      path: "/api/v1/projects/priv/builds",
      route: "/api/v1/projects/{project}/builds",
      allow: true,
      status: 200,
      reasons: [],
      policy_revision: tollgate.engine.revision,
      client_address: expect.stringMatching(/127\.0\.0\.1$/),
      user_agent: "ci-runner/2.1",
      mcp_method: null,
      mcp_tool: null,
      latency_ms: expect.any(Number),
    });
    expect(lines[1]).toMatchObject({ source: "gateway", allow: false, status: 401, subject_type: null, user_id: null, user_agent: "curl/8.5.0", decision_id: denied.body.decision_id });
    expect((lines[1]!.reasons as string[]).length).toBeGreaterThan(0);
    const mcp = await request(tollgate.app)
      .post("/v1/authorize")
      .send({ method: "POST", path: "/api/v1/mcp/projects/priv/mcp", authorization: bearer(token), mcp: { method: "tools/call", tool: "trigger_build" } });
    expect(mcp.status).toBe(200);
    expect(decisions()[2]).toMatchObject({ decision_id: mcp.body.decision_id, mcp_method: "tools/call", mcp_tool: "trigger_build" });
    // Neither the token, nor the one in the query string, nor the rejected one, nor the header.
    const all = raw.join("");
    expect(all).not.toContain(token);
    expect(all).not.toContain("notarealtoken");
    expect(all.toLowerCase()).not.toContain("bearer");
    await tollgate.close();
  });

  it("admin changes leave their audit record but no decision line", async () => {
    const { tollgate, decisions } = await build();
    const res = await request(tollgate.app).put("/v1/admin/users/carol").set("Authorization", bearer(ADMIN_TOKEN)).send({ role: "user" });
    expect(res.status).toBe(200);
    expect(decisions()).toEqual([]);
    const page = await tollgate.backends.audit.query({ source: "admin", limit: 10 });
    expect(page.records).toHaveLength(1);
    await tollgate.close();
  });
});
