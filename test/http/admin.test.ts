import request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { hashToken } from "../../src/tokens/format.js";
import { ADMIN_TOKEN, bearer, buildWorld, type World } from "./fixture.js";

let world: World;
const admin = () => `Bearer ${ADMIN_TOKEN}`;
beforeAll(async () => {
  world = await buildWorld();
});

describe("admin API authentication", () => {
  it("answers 401 with a challenge without credentials, and for a bad one", async () => {
    const none = await request(world.tollgate.app).put("/v1/admin/users/zed").send({ role: "user" });
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toMatch(/^Bearer/);
    const bad = await request(world.tollgate.app).put("/v1/admin/users/zed").set("Authorization", "Bearer wrong-admin-token").send({ role: "user" });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe("invalid_token");
  });

  it("answers 403 to a non-admin session and to tokens, even an admin's", async () => {
    const bob = await request(world.tollgate.app).put("/v1/admin/users/zed").set("Authorization", bearer(await world.session("bob"))).send({ role: "user" });
    expect(bob.status).toBe(403);
    const aliceToken = (await world.tollgate.issuer.issue({ type: "global", user_id: "alice", scopes: ["read", "write"] })).token;
    const token = await request(world.tollgate.app).put("/v1/admin/users/zed").set("Authorization", bearer(aliceToken)).send({ role: "user" });
    expect(token.status).toBe(403);
  });

  it("accepts the admin token and an admin user's session", async () => {
    const byToken = await request(world.tollgate.app).put("/v1/admin/users/zed").set("Authorization", admin()).send({ role: "viewer" });
    expect(byToken.status).toBe(200);
    expect(byToken.body).toEqual({ id: "zed", system_role: "viewer" });
    const bySession = await request(world.tollgate.app).put("/v1/admin/users/zed").set("Authorization", bearer(await world.session("alice"))).send({ role: "user" });
    expect(bySession.status).toBe(200);
  });
});

describe("admin API: directory", () => {
  it("creates a project, adds and removes a collaborator, and decisions follow at once", async () => {
    const app = world.tollgate.app;
    expect((await request(app).put("/v1/admin/projects/newp").set("Authorization", admin()).send({ public: false, name: "New" })).status).toBe(201);
    expect((await request(app).put("/v1/admin/projects/newp").set("Authorization", admin()).send({ public: false })).body).toEqual({ id: "newp", name: "New", public: false });
    const read = async () =>
      (await request(app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/newp/builds", authorization: bearer(await world.session("bob")) })).body;
    expect(await read()).toMatchObject({ allow: false, reasons: ["not_collaborator"] });
    const put = await request(app).put("/v1/admin/projects/newp/collaborators/bob").set("Authorization", admin()).send({ role: "Developer" });
    expect(put.body).toEqual({ project_id: "newp", user_id: "bob", role: "Developer" });
    expect(await read()).toMatchObject({ allow: true });
    expect((await request(app).delete("/v1/admin/projects/newp/collaborators/bob").set("Authorization", admin())).status).toBe(204);
    expect(await read()).toMatchObject({ allow: false, reasons: ["not_collaborator"] });
    expect((await request(app).delete("/v1/admin/projects/newp/collaborators/bob").set("Authorization", admin())).status).toBe(404);
  });

  it("answers 404 for a collaborator on an unknown project and 400 naming the field for bad input", async () => {
    const app = world.tollgate.app;
    expect((await request(app).put("/v1/admin/projects/nope/collaborators/bob").set("Authorization", admin()).send({ role: "Developer" })).status).toBe(404);
    const role = await request(app).put("/v1/admin/projects/priv/collaborators/bob").set("Authorization", admin()).send({ role: "God" });
    expect(role.status).toBe(400);
    expect(role.body.error.field).toBe("role");
    const pub = await request(app).put("/v1/admin/projects/priv").set("Authorization", admin()).send({ public: "yes" });
    expect(pub.body.error.field).toBe("public");
    const id = await request(app).put("/v1/admin/users/bad%20id").set("Authorization", admin()).send({ role: "user" });
    expect(id.status).toBe(400);
  });
});

describe("admin API: user ids", () => {
  it("takes the ids identity providers issue, for users, collaborators and token owners alike", async () => {
    const app = world.tollgate.app;
    for (const user of ["auth0|abc123", "google-oauth2|1234", "jane.doe+ci@example.com", "u".repeat(255)]) {
      const path = encodeURIComponent(user);
      const put = await request(app).put(`/v1/admin/users/${path}`).set("Authorization", admin()).send({ role: "user" });
      expect(put.status, user).toBe(200);
      expect(put.body).toEqual({ id: user, system_role: "user" });
      const collaborator = await request(app).put(`/v1/admin/projects/priv/collaborators/${path}`).set("Authorization", admin()).send({ role: "Developer" });
      expect(collaborator.body, user).toEqual({ project_id: "priv", user_id: user, role: "Developer" });
      const token = await request(app).post("/v1/admin/tokens").set("Authorization", admin()).send({ type: "global", user_id: user });
      expect(token.status, user).toBe(201);
      const used = await request(app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(token.body.token) });
      expect(used.body, user).toMatchObject({ allow: true, subject: { user_id: user } });
      expect((await request(app).delete(`/v1/admin/projects/priv/collaborators/${path}`).set("Authorization", admin())).status).toBe(204);
    }
  });

  it.each([["a space", "a b"], ["a comma", "a,b"], ["a semicolon", "a;b"], ["a quote", 'a"b'], ["a backslash", "a\\b"], ["non-ASCII", "jürgen"], ["256 characters", "u".repeat(256)]])(
    "refuses %s in a user id, naming the field",
    async (_name, user) => {
      const app = world.tollgate.app;
      const path = encodeURIComponent(user);
      const put = await request(app).put(`/v1/admin/users/${path}`).set("Authorization", admin()).send({ role: "user" });
      expect(put.status).toBe(400);
      expect(put.body.error).toMatchObject({ code: "invalid_request", field: "id" });
      const collaborator = await request(app).put(`/v1/admin/projects/priv/collaborators/${path}`).set("Authorization", admin()).send({ role: "Developer" });
      expect(collaborator.body.error).toMatchObject({ code: "invalid_request", field: "user" });
      const token = await request(app).post("/v1/admin/tokens").set("Authorization", admin()).send({ type: "global", user_id: user });
      expect(token.body.error).toMatchObject({ code: "invalid_request", field: "user_id" });
    },
  );

  it("answers 400, not 500, for a path parameter that is not valid percent-encoding", async () => {
    const app = world.tollgate.app;
    const auth = admin();
    const answers: Array<[string, request.Response]> = [
      ["PUT user", await request(app).put("/v1/admin/users/a%zz").set("Authorization", auth).send({ role: "user" })],
      ["PUT collaborator", await request(app).put("/v1/admin/projects/priv/collaborators/%E0%A4%A").set("Authorization", auth).send({ role: "Developer" })],
      ["GET token", await request(app).get("/v1/admin/tokens/tok%").set("Authorization", auth)],
      ["DELETE token", await request(app).delete("/v1/admin/tokens/a%zz").set("Authorization", auth)],
    ];
    for (const [what, res] of answers) {
      expect(res.status, what).toBe(400);
      expect(res.body.error.code, what).toBe("invalid_request");
    }
  });

  it("keeps project ids to their own alphabet", async () => {
    const res = await request(world.tollgate.app).put(`/v1/admin/projects/${encodeURIComponent("auth0|p")}`).set("Authorization", admin()).send({ public: true });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("id");
  });
});

describe("admin API: tokens", () => {
  it("issues a token once, never shows its secret or hash again, and revokes it", async () => {
    const app = world.tollgate.app;
    const created = await request(app)
      .post("/v1/admin/tokens")
      .set("Authorization", admin())
      .send({ type: "mcp", user_id: "bob", name: "agent", grants: [{ project_id: "priv", expires_at: "2027-02-01T00:00:00+01:00", allow_trigger: true }] });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^tg_mcp_/);
    expect(created.body).toMatchObject({ type: "mcp", name: "agent", user_id: "bob", grants: [{ project_id: "priv", expires_at: "2027-01-31T23:00:00.000Z", allow_trigger: true }] });
    const { id, token } = created.body as { id: string; token: string };

    const shown = await request(app).get(`/v1/admin/tokens/${id}`).set("Authorization", admin());
    expect(shown.status).toBe(200);
    expect(JSON.stringify(shown.body)).not.toContain(token);
    expect(JSON.stringify(shown.body)).not.toContain(hashToken(token));
    expect(shown.body).not.toHaveProperty("token");

    const use = () => request(app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/mcp/projects/priv/builds", authorization: bearer(token) });
    expect((await use()).body.allow).toBe(true);
    const revoked = await request(app).delete(`/v1/admin/tokens/${id}`).set("Authorization", admin());
    expect(revoked.body.revoked_at).toEqual(expect.any(String));
    expect((await use()).body).toMatchObject({ status: 401, reasons: ["revoked_token"] });
    expect((await request(app).delete("/v1/admin/tokens/tok_unknown").set("Authorization", admin())).status).toBe(404);
    expect((await request(app).get("/v1/admin/tokens/tok_unknown").set("Authorization", admin())).status).toBe(404);
  });

  it.each([
    ["an unknown type", { type: "root" }, "type"],
    ["a global token without user", { type: "global" }, "user_id"],
    ["a project token for an unknown project", { type: "project", project_id: "nope" }, "project_id"],
    ["a project token with a user", { type: "project", project_id: "priv", user_id: "bob" }, "user_id"],
    ["an unknown scope", { type: "global", user_id: "bob", scopes: ["admin"] }, "scopes.0"],
    ["empty scopes", { type: "global", user_id: "bob", scopes: [] }, "scopes"],
    ["scopes on an mcp token", { type: "mcp", user_id: "bob", scopes: ["read"] }, "scopes"],
    ["a grant for an unknown project", { type: "mcp", user_id: "bob", grants: [{ project_id: "nope" }] }, "grants.0.project_id"],
    ["an expiry without a timezone", { type: "global", user_id: "bob", expires_at: "2027-02-01T00:00:00" }, "expires_at"],
    ["an expiry in the past", { type: "global", user_id: "bob", expires_at: "2020-01-01T00:00:00Z" }, "expires_at"],
    ["an unknown field", { type: "global", user_id: "bob", owner: "x" }, undefined],
  ])("refuses %s with 400 naming the field", async (_name, body, field) => {
    const res = await request(world.tollgate.app).post("/v1/admin/tokens").set("Authorization", admin()).send(body);
    expect(res.status).toBe(400);
    if (field) expect(res.body.error.field).toBe(field);
  });
});
