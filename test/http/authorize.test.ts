import { generateToken } from "../../src/tokens/format.js";
import request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { bearer, buildTollgateAt, buildWorld, NOW, type World } from "./fixture.js";

let world: World;
beforeAll(async () => {
  world = await buildWorld({ TOLLGATE_RATE_LIMITS: '{"api":{"default":1000}}' });
});

const authorize = (body: unknown) => request(world.tollgate.app).post("/v1/authorize").send(body as object);

describe("POST /v1/authorize", () => {
  it("returns the full decision for an allowed request", async () => {
    const res = await authorize({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(await world.session("bob")) });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      allow: true,
      status: 200,
      reasons: [],
      access: "read",
      route: "/api/v1/projects/{project}/builds",
      subject: { type: "user", user_id: "bob", token_id: null, project_id: null },
      granted_projects: null,
      rate_limit: { class: "default", limit: 1000, remaining: expect.any(Number), reset_s: 61 }, // a fresh hit counts for the window + one sub-window
      decision_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      policy_revision: world.tollgate.engine.revision,
    });
  });

  it.each([
    ["a stranger's session on a private project", "dave", "GET", "/api/v1/projects/priv/builds", 403, ["not_collaborator"]],
    ["a viewer's write", "carol", "GET", "/api/v1/projects/priv/builds/b1/restart", 403, ["insufficient_role"]],
    ["a Developer on a sensitive endpoint", "bob", "GET", "/api/v1/projects/priv/secrets", 403, ["insufficient_role"]],
    ["a session on an MCP data route", "bob", "GET", "/api/v1/mcp/projects/priv", 403, ["token_not_allowed_on_path"]],
    ["a non-admin on the admin API", "bob", "GET", "/api/v1/admin/users", 403, ["insufficient_role"]],
    ["an unknown route", "bob", "GET", "/api/v1/projects/priv/nope", 403, ["unknown_route"]],
    ["a method the route does not list", "bob", "POST", "/api/v1/projects/priv/builds", 403, ["unknown_route"]],
    ["a dot-dot path", "alice", "GET", "/api/v1/projects/priv/../pub/builds", 400, ["invalid_path"]],
    ["an encoded dot-dot path", "alice", "GET", "/api/v1/projects/priv/%2e%2e/pub", 400, ["invalid_path"]],
    ["an encoded slash", "alice", "GET", "/api/v1/projects/priv%2Fbuilds", 400, ["invalid_path"]],
    ["an empty segment", "alice", "GET", "/api/v1//projects/priv", 400, ["invalid_path"]],
    ["a NUL byte", "alice", "GET", "/api/v1/projects/priv%00/builds", 400, ["invalid_path"]],
  ])("denies %s with its status and reasons", async (_name, user, method, path, status, reasons) => {
    const res = await authorize({ method, path, authorization: bearer(await world.session(user)) });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allow: false, status, reasons });
  });

  // The route comes from the policy's own evaluation of method and path; a caller cannot name one.
  it("refuses a caller-supplied route", async () => {
    const forged = { valid_path: true, pattern: "/api/v1/mcp/tokens/exchange", namespace: "mcp_tokens", access: "write", rate_limit_class: "default", sensitive: false, project_id: null, anonymous: true };
    const res = await authorize({ method: "GET", path: "/api/v1/projects/priv/builds", route: forged });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toEqual(expect.any(String));
    const plain = await authorize({ method: "GET", path: "/api/v1/projects/priv/builds" });
    expect(plain.body).toMatchObject({ allow: false, status: 401, reasons: ["missing_token"], route: "/api/v1/projects/{project}/builds" });
  });

  it("routes a restart by its write pattern, never by the read pattern builds/{build}/{n}", async () => {
    const res = await authorize({ method: "GET", path: "/api/v1/projects/priv/builds/b1/restart", authorization: bearer(world.tokens.bobGlobalRead) });
    expect(res.body).toMatchObject({ allow: false, status: 403, access: "write", reasons: ["insufficient_scope"], route: "/api/v1/projects/{project}/builds/{build}/restart" });
  });

  it("refuses a path with a lone UTF-16 surrogate with 400, never a policy error", async () => {
    for (const path of [String.raw`/api/v1/projects/pub/builds/\udc00`, String.raw`/api/v1/projects/pub/builds?q=\ud800`]) {
      const res = await request(world.tollgate.app).post("/v1/authorize").set("content-type", "application/json").send(`{"method":"GET","path":"${path}"}`);
      expect(res.status, path).toBe(400);
      expect(res.body.error).toMatchObject({ code: "invalid_request", field: "path" });
    }
  });

  it("ignores the query string for routing", async () => {
    const res = await authorize({ method: "GET", path: "/api/v1/projects/priv/builds?next=/../../admin", authorization: bearer(await world.session("bob")) });
    expect(res.body).toMatchObject({ allow: true, route: "/api/v1/projects/{project}/builds" });
  });

  it("lets anonymous callers read a public project but not write it", async () => {
    expect((await authorize({ method: "GET", path: "/api/v1/projects/pub/builds" })).body).toMatchObject({ allow: true, subject: null, rate_limit: null });
    expect((await authorize({ method: "GET", path: "/api/v1/projects/pub/builds/b1/restart" })).body).toMatchObject({ allow: false, status: 401, reasons: ["missing_token"] });
    expect((await authorize({ method: "GET", path: "/api/v1/projects/priv/builds" })).body).toMatchObject({ allow: false, status: 401, reasons: ["missing_token"] });
  });
});

describe("credentials", () => {
  const read = (authorization: string | null, path = "/api/v1/projects/pub/builds") => authorize({ method: "GET", path, authorization });

  it("matches the scheme case-insensitively and still validates the credential", async () => {
    const jwt = await world.session("bob");
    expect((await read(`bEaReR ${jwt}`, "/api/v1/projects/priv/builds")).body).toMatchObject({ allow: true });
    expect((await read(`bearer ${jwt}x`)).body).toMatchObject({ allow: false, status: 401, reasons: ["invalid_token"] });
  });

  it.each([
    ["another scheme", "Basic Ym9iOnBhc3N3b3Jk"],
    ["a bare word", "Bearer"],
    ["junk", "Bearer not-a-token"],
    ["a token with a bad checksum", `Bearer ${generateToken("global").value.slice(0, -1)}A`],
    ["a well-formed token nobody issued", `Bearer ${generateToken("global").value}`],
    ["a temp token used as a bearer", `Bearer ${generateToken("temp").value}`],
  ])("never treats %s as anonymous, even on a public project", async (_name, authorization) => {
    expect((await read(authorization)).body).toMatchObject({ allow: false, status: 401, reasons: ["invalid_token"], subject: null });
  });

  it("rejects alg:none, a wrong key, and an expired session", async () => {
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    const payload = Buffer.from(JSON.stringify({ sub: "alice", exp: NOW + 3600 })).toString("base64url");
    expect((await read(bearer(`${header}.${payload}.`))).body.reasons).toEqual(["invalid_token"]);
    const wrongKey = await world.session("alice", {}, { secret: "another-secret-0123456789-0123456789-xyz" });
    expect((await read(bearer(wrongKey))).body.reasons).toEqual(["invalid_token"]);
    const expired = await world.session("alice", {}, { expiresIn: -10 });
    expect((await read(bearer(expired))).body).toMatchObject({ status: 401, reasons: ["expired_token"] });
  });

  it("checks issuer and audience when configured", async () => {
    const strict = await buildWorld({ TOLLGATE_JWT_ISSUER: "https://idp.example", TOLLGATE_JWT_AUDIENCE: "tollgate" });
    const post = (jwt: string) =>
      request(strict.tollgate.app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(jwt) });
    expect((await post(await strict.session("bob", { iss: "https://idp.example", aud: "tollgate" }))).body.allow).toBe(true);
    expect((await post(await strict.session("bob", { iss: "https://evil.example", aud: "tollgate" }))).body.reasons).toEqual(["invalid_token"]);
    expect((await post(await strict.session("bob", { iss: "https://idp.example", aud: "other" }))).body.reasons).toEqual(["invalid_token"]);
  });

  it("takes the system role from the users store, not from the token", async () => {
    const forged = await world.session("bob", { role: "admin", system_role: "admin" });
    expect((await read(bearer(forged), "/api/v1/admin/users")).body).toMatchObject({ allow: false, reasons: ["insufficient_role"] });
  });

  it("denies a revoked token on the next request", async () => {
    const { token, record } = await world.tollgate.issuer.issue({ type: "global", user_id: "bob", scopes: ["read"] });
    expect((await read(bearer(token), "/api/v1/projects/priv/builds")).body.allow).toBe(true);
    await world.tollgate.issuer.revoke(record.id);
    expect((await read(bearer(token), "/api/v1/projects/priv/builds")).body).toMatchObject({ status: 401, reasons: ["revoked_token"] });
  });

  it("denies an expired token with expired_token", async () => {
    const { token } = await world.tollgate.issuer.issue({ type: "global", user_id: "bob", scopes: ["read"], expires_at: new Date((NOW + 5) * 1000) });
    expect((await read(bearer(token), "/api/v1/projects/priv/builds")).body.allow).toBe(true);
    // Same stores, a clock past the expiry: the policy judges expiry from the input's `now`.
    const future = buildTollgateAt(NOW + 10, {}, world.tollgate.backends);
    const res = await request(future.app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(token) });
    expect(res.body).toMatchObject({ allow: false, status: 401, reasons: ["expired_token"] });
  });

  it("keeps a project token to its own project", async () => {
    const other = await read(bearer(world.tokens.privateProject), "/api/v1/projects/pub/builds");
    expect(other.body).toMatchObject({ allow: false, reasons: ["project_mismatch"] });
    const own = await read(bearer(world.tokens.privateProject), "/api/v1/projects/priv/builds");
    expect(own.body).toMatchObject({ allow: true, subject: { type: "project_token", user_id: null, token_id: world.tokenIds.privateProject, project_id: "priv" } });
  });

  it("lets an MCP token trigger only under /api/v1/mcp", async () => {
    const mcp = bearer(world.tokens.bobMcp);
    expect((await authorize({ method: "POST", path: "/api/v1/mcp/projects/priv/trigger", authorization: mcp })).body).toMatchObject({ allow: true, access: "write" });
    expect((await authorize({ method: "POST", path: "/api/v1/projects/priv/trigger", authorization: mcp })).body).toMatchObject({ allow: false, reasons: ["token_not_allowed_on_path"] });
    expect((await authorize({ method: "GET", path: "/api/v1/mcp/projects/pub", authorization: mcp })).body).toMatchObject({ allow: false, reasons: ["grant_missing"] });
  });

  it("names an MCP token's live granted projects: unexpired, and the user still a collaborator", async () => {
    const dir = world.tollgate.facts.directoryStore;
    await dir.setCollaborator("pub", "erin", "Developer");
    await dir.setCollaborator("priv", "erin", "Developer");
    await dir.putProject({ id: "old", name: "Old", public: false });
    await dir.setCollaborator("old", "erin", "Owner");
    const { token } = await world.tollgate.issuer.issue({
      type: "mcp",
      user_id: "erin",
      grants: [{ project_id: "priv" }, { project_id: "pub" }, { project_id: "old", expires_at: new Date((NOW - 1) * 1000) }],
    });
    const listing = () => authorize({ method: "GET", path: "/api/v1/mcp/projects", authorization: bearer(token) });
    expect((await listing()).body).toMatchObject({ allow: true, granted_projects: ["priv", "pub"] });

    await dir.removeCollaborator("priv", "erin");
    expect((await listing()).body).toMatchObject({ allow: true, granted_projects: ["pub"] });
    const project = await authorize({ method: "GET", path: "/api/v1/mcp/projects/priv/builds", authorization: bearer(token) });
    expect(project.body).toMatchObject({ allow: false, reasons: ["not_collaborator"], granted_projects: ["pub"] });

    // No live grant left: the listing is denied too.
    await dir.removeCollaborator("pub", "erin");
    expect((await listing()).body).toMatchObject({ allow: false, status: 403, reasons: ["grant_missing"], granted_projects: [] });
    const expired = await world.tollgate.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv", expires_at: new Date((NOW - 1) * 1000) }] });
    const expiredListing = await authorize({ method: "GET", path: "/api/v1/mcp/projects", authorization: bearer(expired.token) });
    expect(expiredListing.body).toMatchObject({ allow: false, status: 403, reasons: ["grant_expired"], granted_projects: [] });
  });
});

describe("request validation", () => {
  it.each([
    ["a missing path", { method: "GET" }, "path"],
    ["a method of the wrong type", { method: 5, path: "/api/v1/user" }, "method"],
    ["a method that is not a word", { method: "GET /x", path: "/api/v1/user" }, "method"],
    ["an authorization of the wrong type", { method: "GET", path: "/api/v1/user", authorization: 7 }, "authorization"],
    ["dry_run of the wrong type", { method: "GET", path: "/api/v1/user", dry_run: "yes" }, "dry_run"],
    ["an unknown field", { method: "GET", path: "/api/v1/user", dryrun: true }, undefined],
    ["an over-long path", { method: "GET", path: `/${"a".repeat(5000)}` }, "path"],
  ])("answers 400 naming the field for %s", async (_name, body, field) => {
    const res = await authorize(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
    if (field) expect(res.body.error.field).toBe(field);
    expect(res.body).not.toHaveProperty("allow");
  });

  it("answers 400 for malformed JSON, 413 for an oversized body, 415 for another media type", async () => {
    const app = world.tollgate.app;
    const malformed = await request(app).post("/v1/authorize").set("Content-Type", "application/json").send('{"method": "GET",');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("malformed_json");
    const big = await request(app).post("/v1/authorize").send({ method: "GET", path: "/x", pad: "x".repeat(20_000) });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe("body_too_large");
    const text = await request(app).post("/v1/authorize").set("Content-Type", "text/plain").send("GET /x");
    expect(text.status).toBe(415);
    const array = await request(app).post("/v1/authorize").send([1, 2]);
    expect(array.status).toBe(400);
  });

  it("answers unknown endpoints with a JSON 404", async () => {
    const res = await request(world.tollgate.app).get("/v1/nope");
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
  });
});
