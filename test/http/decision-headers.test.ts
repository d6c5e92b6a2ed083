// The headers every decision answer carries (forward auth here; the gateway uses the same
// setDecisionHeaders): RFC 6750 challenges, the IETF draft's RateLimit fields, identity on allow.
import request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, bearer, buildWorld, type World } from "./fixture.js";

let world: World;
beforeAll(async () => {
  world = await buildWorld();
});

function forward(method: string, uri: string, authorization?: string) {
  const req = request(world.tollgate.app).get("/v1/forward-auth").set("X-Original-Method", method).set("X-Original-URI", uri);
  return authorization === undefined ? req : req.set("Authorization", authorization);
}

const DESCRIPTIONS = {
  invalid_token: "the access token is malformed, unknown or not valid here",
  expired_token: "the access token has expired",
  revoked_token: "the access token was revoked",
};
const badToken = (reason: keyof typeof DESCRIPTIONS) => `Bearer realm="tollgate", error="invalid_token", error_description="${DESCRIPTIONS[reason]}"`;

describe("WWW-Authenticate (RFC 6750 §3)", () => {
  it("401 without a credential: the bare challenge, no error", async () => {
    const res = await forward("GET", "/api/v1/projects/priv/builds");
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toBe('Bearer realm="tollgate"');
  });

  it("401 for a bad credential: invalid_token with a fixed description per reason", async () => {
    const revoked = await world.tollgate.issuer.issue({ type: "global", user_id: "bob", scopes: ["read"] });
    await world.tollgate.issuer.revoke(revoked.record.id);
    const cases: Array<[keyof typeof DESCRIPTIONS, string]> = [
      ["invalid_token", bearer("tg_glb_not-a-real-token")],
      ["invalid_token", 'Basic Ym9iOmJvYg==", error="x'],
      ["invalid_token", bearer(await world.session("bob", {}, { secret: "another-secret-0123456789-0123456789" }))],
      ["expired_token", bearer(await world.session("bob", {}, { expiresIn: -30 }))],
      ["revoked_token", bearer(revoked.token)],
    ];
    for (const [reason, authorization] of cases) {
      const res = await forward("GET", "/api/v1/projects/priv/builds", authorization);
      expect(res.status, authorization).toBe(401);
      expect(res.body.error.reasons, authorization).toEqual([reason]);
      expect(res.headers["www-authenticate"], authorization).toBe(badToken(reason));
    }
  });

  it("403 insufficient_scope names the scope the route needs", async () => {
    const writeOnly = await world.tollgate.issuer.issue({ type: "global", user_id: "bob", scopes: ["write"] });
    const cases: Array<[string, string, string, "read" | "write"]> = [
      ["POST", "/api/v1/projects/priv/upload", world.tokens.bobGlobalRead, "write"],
      ["GET", "/api/v1/projects/priv/builds/b1/restart", world.tokens.privateProject, "write"],
      ["GET", "/api/v1/projects/priv/builds", writeOnly.token, "read"],
    ];
    for (const [method, uri, token, scope] of cases) {
      const res = await forward(method, uri, bearer(token));
      expect(res.status, uri).toBe(403);
      expect(res.body.error.reasons, uri).toContain("insufficient_scope");
      expect(res.headers["www-authenticate"], uri).toBe(`Bearer realm="tollgate", error="insufficient_scope", scope="${scope}"`);
    }
  });

  it("no challenge for role, grant, collaboration or route denials", async () => {
    const cases: Array<[string, string, string, string]> = [
      ["GET", "/api/v1/projects/priv/builds/b1/restart", await world.session("carol"), "insufficient_role"],
      ["GET", "/api/v1/mcp/projects/pub/builds", world.tokens.bobMcp, "grant_missing"],
      ["GET", "/api/v1/projects/priv/builds", await world.session("dave"), "not_collaborator"],
      ["GET", "/api/v1/projects/priv/secrets", world.tokens.bobGlobal, "sensitive_endpoint"],
      ["GET", "/api/v1/nothing", world.tokens.bobGlobal, "unknown_route"],
    ];
    for (const [method, uri, token, reason] of cases) {
      const res = await forward(method, uri, bearer(token));
      expect(res.status, reason).toBe(403);
      expect(res.body.error.reasons, reason).toEqual([reason]);
      expect(res.headers["www-authenticate"], reason).toBeUndefined();
    }
  });

  it("the admin API's challenges come from the same formatter", async () => {
    const missing = await request(world.tollgate.app).get("/v1/admin/tokens/tok_x");
    expect(missing.status).toBe(401);
    expect(missing.headers["www-authenticate"]).toBe('Bearer realm="tollgate-admin"');
    const bad = await request(world.tollgate.app).get("/v1/admin/tokens/tok_x").set("Authorization", bearer(`${ADMIN_TOKEN}x`));
    expect(bad.status).toBe(401);
    expect(bad.headers["www-authenticate"]).toBe(`Bearer realm="tollgate-admin", error="invalid_token", error_description="${DESCRIPTIONS.invalid_token}"`);
  });
});

describe("RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers, structured fields)", () => {
  it("name the route's class as the policy, with quota, window, remaining and reset", async () => {
    const fresh = await buildWorld({ TOLLGATE_RATE_LIMITS: '{"api":{"default":5,"log":3}}' });
    const call = (uri: string) =>
      request(fresh.tollgate.app).get("/v1/forward-auth").set("X-Original-Method", "GET").set("X-Original-URI", uri).set("Authorization", bearer(fresh.tokens.bobGlobal));
    const first = await call("/api/v1/projects/priv/builds");
    expect(first.headers["ratelimit-policy"]).toBe('"default";q=5;w=60');
    expect(first.headers.ratelimit).toBe('"default";r=4;t=61');
    // The reset counts from the sub-window of the oldest counted hit: a later call that lands in a
    // later one-second sub-window (a busy machine) sees 60. A fresh class's first hit always sees 61.
    expect((await call("/api/v1/projects/priv/builds")).headers.ratelimit).toMatch(/^"default";r=3;t=6[01]$/);
    const log = await call("/api/v1/projects/priv/jobs/j1/console");
    expect(log.headers["ratelimit-policy"]).toBe('"log";q=3;w=60');
    expect(log.headers.ratelimit).toBe('"log";r=2;t=61');
  });

  it("keep reporting on 429, with a Retry-After no earlier than the window's end", async () => {
    const limited = await buildWorld({ TOLLGATE_RATE_LIMITS: '{"api":{"default":1}}' });
    const call = () =>
      request(limited.tollgate.app).get("/v1/forward-auth").set("X-Original-Method", "GET").set("X-Original-URI", "/api/v1/projects/priv/builds").set("Authorization", bearer(limited.tokens.bobGlobal));
    expect((await call()).status).toBe(200);
    const over = await call();
    expect(over.status).toBe(429);
    expect(over.headers["ratelimit-policy"]).toBe('"default";q=1;w=60');
    const reset = Number(/^"default";r=0;t=(\d+)$/.exec(String(over.headers.ratelimit))?.[1]);
    expect(Number(over.headers["retry-after"])).toBeGreaterThanOrEqual(Math.max(1, reset));
  });
});

describe("identity headers on allow", () => {
  it("are all sent, empty when they do not apply, so a proxy copying them overwrites the client's", async () => {
    const anonymous = await forward("GET", "/api/v1/projects/pub/builds");
    expect(anonymous.status).toBe(200);
    expect(anonymous.headers).toMatchObject({ "x-tollgate-user": "", "x-tollgate-token-type": "", "x-tollgate-token-id": "" });
    const project = await forward("GET", "/api/v1/projects/priv/builds", bearer(world.tokens.privateProject));
    expect(project.headers).toMatchObject({ "x-tollgate-user": "", "x-tollgate-token-type": "project_token", "x-tollgate-token-id": world.tokenIds.privateProject });
    const session = await forward("GET", "/api/v1/projects/priv/builds", bearer(await world.session("bob")));
    expect(session.headers).toMatchObject({ "x-tollgate-user": "bob", "x-tollgate-token-type": "user", "x-tollgate-token-id": "" });
  });
});
