import request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { bearer, buildWorld, type World } from "./fixture.js";

let world: World;
beforeAll(async () => {
  world = await buildWorld();
});

describe("GET /v1/forward-auth", () => {
  const forward = (headers: Record<string, string>) => {
    let req = request(world.tollgate.app).get("/v1/forward-auth");
    for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
    return req;
  };

  it("answers 200 with identity headers (nginx headers)", async () => {
    const res = await forward({ "X-Original-Method": "GET", "X-Original-URI": "/api/v1/projects/priv/builds?page=2", Authorization: bearer(world.tokens.bobGlobal) });
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({
      "x-tollgate-user": "bob",
      "x-tollgate-token-type": "global_token",
      "x-tollgate-token-id": world.tokenIds.bobGlobal,
      "x-tollgate-decision-id": expect.stringMatching(/^[0-9a-f-]{36}$/),
      ratelimit: expect.stringMatching(/^"default";r=\d+;t=\d+$/),
    });
  });

  it("names an MCP token's live granted projects in X-Tollgate-Projects on allow", async () => {
    const res = await forward({ "X-Original-Method": "GET", "X-Original-URI": "/api/v1/mcp/projects", Authorization: bearer(world.tokens.bobMcp) });
    expect(res.status).toBe(200);
    expect(res.headers["x-tollgate-projects"]).toBe("priv");
    const session = await forward({ "X-Original-Method": "GET", "X-Original-URI": "/api/v1/projects/priv/builds", Authorization: bearer(world.tokens.bobGlobal) });
    expect(session.status).toBe(200);
    expect(session.headers["x-tollgate-projects"]).toBe("");
  });

  it("reads the Traefik headers too", async () => {
    const res = await forward({ "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/v1/projects/pub/builds" });
    expect(res.status).toBe(200);
  });

  it("answers 401 with a challenge, 403 with reasons, 400 for an invalid path", async () => {
    const missing = await forward({ "X-Original-Method": "GET", "X-Original-URI": "/api/v1/projects/priv/builds" });
    expect(missing.status).toBe(401);
    expect(missing.headers["www-authenticate"]).toBe('Bearer realm="tollgate"');
    const invalid = await forward({ "X-Original-Method": "GET", "X-Original-URI": "/api/v1/projects/priv/builds", Authorization: "Bearer junk" });
    expect(invalid.status).toBe(401);
    expect(invalid.headers["www-authenticate"]).toContain('error="invalid_token"');
    const forbidden = await forward({ "X-Original-Method": "GET", "X-Original-URI": "/api/v1/projects/priv/secrets", Authorization: bearer(world.tokens.bobGlobal) });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.reasons).toEqual(["sensitive_endpoint"]);
    expect(forbidden.headers["x-tollgate-user"]).toBeUndefined();
    const badPath = await forward({ "X-Original-Method": "GET", "X-Original-URI": "/api/v1/projects/%2e%2e/admin" });
    expect(badPath.status).toBe(400);
  });

  it("answers 400 when the original request is not described", async () => {
    const res = await forward({ Authorization: bearer(world.tokens.bobGlobal) });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain("X-Original-URI");
  });
});

describe("operations endpoints", () => {
  it("serves health, readiness with the policy revision, metrics and the OpenAPI document", async () => {
    const app = world.tollgate.app;
    expect((await request(app).get("/healthz")).body).toEqual({ status: "ok", checks: { event_loop: "ok" } });
    const ready = await request(app).get("/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: "ready", policy_revision: world.tollgate.engine.revision, checks: {} });
    await request(app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/nope" });
    const metrics = await request(app).get("/metrics");
    expect(metrics.text).toMatch(/tollgate_decisions_total\{allow="false",status="403",reason="unknown_route"\} \d+/);
    expect(metrics.text).toContain("tollgate_decision_duration_seconds_bucket");
    const openapi = await request(app).get("/openapi.json");
    expect(openapi.status).toBe(200);
    expect(openapi.body.paths).toHaveProperty("/v1/authorize");
  });
});
