// The admin API's guard: failed authentications are limited per client address (10 a minute, then
// 429 even for the right credential), logged without the credential, counted in
// tollgate_admin_auth_failures_total and audited; every admin change leaves an audit record with
// source "admin", its action and target; every record carries the client's address.
import { Writable } from "node:stream";
import { SignJWT } from "jose";
import { pino } from "pino";
import request from "supertest";
import { describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { connectBackends } from "../../src/server/backends.js";
import { buildTollgate, type Tollgate } from "../../src/server/tollgate.js";
import { MemoryRateLimiter } from "../../src/stores/memory/rate-limiter.js";
import { BackendUnavailableError, type RateLimiter } from "../../src/stores/types.js";
import { ADMIN_TOKEN, JWT_SECRET, NOW, bearer, buildWorld } from "./fixture.js";

const ADMIN = `Bearer ${ADMIN_TOKEN}`;
const WRONG = "Bearer not-the-admin-token-but-a-guess-0123";

/** A Tollgate behind a trusted loopback proxy (so X-Forwarded-For names the client), its log and its limiter's clock. */
async function guarded(rateLimiter?: RateLimiter): Promise<{ tollgate: Tollgate; log: string[]; clock: { now: number } }> {
  const log: string[] = [];
  const logger = pino(new Writable({ write: (chunk, _enc, done) => (log.push(String(chunk)), done()) }));
  const config = loadConfig({ TOLLGATE_JWT_SECRET: JWT_SECRET, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_DEMO: "false", TOLLGATE_TRUSTED_PROXIES: "loopback" });
  const clock = { now: 1_000_000 };
  const backends = { ...connectBackends(config, logger), rateLimiter: rateLimiter ?? new MemoryRateLimiter({ now: () => clock.now }) };
  const tollgate = buildTollgate(config, { logger, backends, watchPolicy: false, defaultMetrics: false, clock: () => NOW });
  await tollgate.facts.directoryStore.putUser({ id: "alice", system_role: "admin" });
  return { tollgate, log, clock };
}

const session = async (sub: string): Promise<string> =>
  bearer(await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt(NOW - 60).setExpirationTime(NOW + 600).sign(new TextEncoder().encode(JWT_SECRET)));

const put = (t: Tollgate, from: string, authorization: string) =>
  request(t.app).put("/v1/admin/users/zed").set("X-Forwarded-For", from).set("Authorization", authorization).send({ role: "user" });

const metric = async (t: Tollgate, reason: string): Promise<number> => {
  const text = (await request(t.app).get("/metrics")).text;
  const line = text.split("\n").find((l) => l.startsWith(`tollgate_admin_auth_failures_total{reason="${reason}"}`));
  return line ? Number(line.split(" ").pop()) : 0;
};

describe("failed admin authentications per client address", () => {
  it("the 11th failure in a minute is 429 rate_limited with Retry-After, and so is the right credential; other addresses are unaffected", async () => {
    const { tollgate } = await guarded();
    for (let i = 0; i < 10; i++) expect((await put(tollgate, "203.0.113.5", WRONG)).status).toBe(401);
    const eleventh = await put(tollgate, "203.0.113.5", WRONG);
    expect(eleventh.status).toBe(429);
    expect(eleventh.body.error.code).toBe("rate_limited");
    expect(Number(eleventh.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(Number(eleventh.headers["retry-after"])).toBeLessThanOrEqual(61); // the window plus one sub-window
    // Guessing right now gains nothing: the address is shut out for the rest of the window.
    const right = await put(tollgate, "203.0.113.5", ADMIN);
    expect(right.status).toBe(429);
    expect(right.body.error.code).toBe("rate_limited");
    expect((await put(tollgate, "203.0.113.6", ADMIN)).status).toBe(200);
    expect((await put(tollgate, "203.0.113.6", WRONG)).status).toBe(401);
  });

  it("of 40 concurrent bad guesses from one address exactly 10 are judged (401), the rest 429", async () => {
    const { tollgate } = await guarded();
    const statuses = (await Promise.all(Array.from({ length: 40 }, () => put(tollgate, "203.0.113.9", WRONG)))).map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30);
  });

  it("counts every kind of refusal (none, bad, non-admin) and only refusals", async () => {
    const { tollgate } = await guarded();
    for (let i = 0; i < 30; i++) expect((await put(tollgate, "198.51.100.1", ADMIN)).status).toBe(200);
    const bob = await session("bob");
    for (let i = 0; i < 4; i++) expect((await request(tollgate.app).get("/v1/admin/audit").set("X-Forwarded-For", "198.51.100.1")).status).toBe(401);
    for (let i = 0; i < 3; i++) expect((await put(tollgate, "198.51.100.1", WRONG)).status).toBe(401);
    for (let i = 0; i < 3; i++) expect((await put(tollgate, "198.51.100.1", bob)).status).toBe(403);
    expect((await put(tollgate, "198.51.100.1", ADMIN)).status).toBe(429);
  });

  it("admits the address again once its failures leave the window", async () => {
    const { tollgate, clock } = await guarded();
    for (let i = 0; i < 10; i++) await put(tollgate, "203.0.113.7", WRONG);
    expect((await put(tollgate, "203.0.113.7", ADMIN)).status).toBe(429);
    clock.now += 59_000;
    expect((await put(tollgate, "203.0.113.7", ADMIN)).status).toBe(429);
    // A failure counts for the window plus one sub-window (1 s of a minute): see docs/api.md.
    clock.now += 2_001;
    expect((await put(tollgate, "203.0.113.7", ADMIN)).status).toBe(200);
  });

  it("fails closed when the limiter cannot answer: 503 backend_unavailable, the right credential too", async () => {
    const down: RateLimiter = { hit: () => Promise.reject(new BackendUnavailableError("redis", new Error("connect ECONNREFUSED"))) };
    const { tollgate } = await guarded(down);
    for (const credential of [ADMIN, WRONG]) {
      const res = await put(tollgate, "203.0.113.10", credential);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe("backend_unavailable");
    }
  });

  it("enforces the policy's decision: one it cannot make is 500 policy_error for every credential, audited, never charged", async () => {
    const { tollgate } = await guarded();
    const decide = vi.spyOn(tollgate.engine, "adminDecision").mockReturnValue({ allow: false, status: 500, reason: "policy_error", count_failure: false });
    for (let i = 0; i < 12; i++) {
      const res = await put(tollgate, "203.0.113.11", i % 2 ? ADMIN : WRONG);
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: { code: "policy_error", message: "the policy failed; denied" } });
      expect(res.headers["www-authenticate"]).toBeUndefined();
    }
    expect(await metric(tollgate, "policy_error")).toBe(12);
    decide.mockRestore();
    // Nothing was charged: the address is not shut out once the policy answers again.
    expect((await put(tollgate, "203.0.113.11", ADMIN)).status).toBe(200);
    await tollgate.backends.audit.flush();
    const audit = await request(tollgate.app).get("/v1/admin/audit?source=admin&allow=false").set("X-Forwarded-For", "192.0.2.1").set("Authorization", ADMIN);
    expect(audit.body.records).toHaveLength(12);
    expect(audit.body.records[0]).toMatchObject({ status: 500, reasons: ["policy_error"], action: "admin.authenticate" });
  });

  it("logs and counts each failure without the credential, and audits it", async () => {
    const { tollgate, log } = await guarded();
    for (let i = 0; i < 11; i++) await put(tollgate, "203.0.113.8", WRONG);
    const failures = log.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "admin authentication failed");
    expect(failures).toHaveLength(11);
    expect(failures[0]).toMatchObject({ client_address: "203.0.113.8", reason: "invalid_token", method: "PUT", path: "/v1/admin/users/zed" });
    expect(failures[10]).toMatchObject({ reason: "rate_limited" });
    expect(log.join("")).not.toContain("not-the-admin-token");
    expect(await metric(tollgate, "invalid_token")).toBe(10);
    expect(await metric(tollgate, "rate_limited")).toBe(1);

    await tollgate.backends.audit.flush();
    const audit = await request(tollgate.app).get("/v1/admin/audit?source=admin&allow=false").set("X-Forwarded-For", "192.0.2.1").set("Authorization", ADMIN);
    expect(audit.status).toBe(200);
    expect(audit.body.records).toHaveLength(11);
    expect(audit.body.records[0]).toMatchObject({
      source: "admin",
      action: "admin.authenticate",
      target: null,
      allow: false,
      status: 429,
      reasons: ["rate_limited"],
      method: "PUT",
      path: "/v1/admin/users/zed",
      client_address: "203.0.113.8",
      subject_type: null,
      user_id: null,
    });
    expect(audit.body.records[10]).toMatchObject({ status: 401, reasons: ["invalid_token"] });
    expect(JSON.stringify(audit.body)).not.toContain("not-the-admin-token");
  });
});

describe("audit records of admin changes", () => {
  it("records each change with source admin, action, target, who and from where", async () => {
    const { tollgate } = await guarded();
    const app = tollgate.app;
    const as = (r: request.Test, authorization = ADMIN) => r.set("X-Forwarded-For", "192.0.2.44").set("Authorization", authorization);
    const alice = await session("alice");
    expect((await as(request(app).put("/v1/admin/users/bob").send({ role: "user" }), alice)).status).toBe(200);
    expect((await as(request(app).put("/v1/admin/projects/p").send({ public: false }))).status).toBe(201);
    expect((await as(request(app).put("/v1/admin/projects/p").send({ public: true }))).status).toBe(200);
    expect((await as(request(app).put("/v1/admin/projects/p/collaborators/bob").send({ role: "Developer" }))).status).toBe(200);
    const issued = await as(request(app).post("/v1/admin/tokens").send({ type: "global", user_id: "bob" }));
    expect(issued.status).toBe(201);
    expect((await as(request(app).delete(`/v1/admin/tokens/${issued.body.id}`))).status).toBe(200);
    expect((await as(request(app).delete("/v1/admin/projects/p/collaborators/bob"))).status).toBe(204);
    // Refused or changing nothing: not a change, no record.
    expect((await as(request(app).delete("/v1/admin/projects/p/collaborators/bob"))).status).toBe(404);
    expect((await as(request(app).put("/v1/admin/users/bob").send({ role: "god" }))).status).toBe(400);
    expect((await as(request(app).get(`/v1/admin/tokens/${issued.body.id}`))).status).toBe(200);

    await tollgate.backends.audit.flush();
    const page = await as(request(app).get("/v1/admin/audit?source=admin"));
    const records = (page.body.records as Array<Record<string, unknown>>).reverse();
    expect(records.map((r) => [r.action, r.target, r.method, r.path, r.status])).toEqual([
      ["user.role_set", "user:bob", "PUT", "/v1/admin/users/bob", 200],
      ["project.put", "project:p", "PUT", "/v1/admin/projects/p", 201],
      ["project.put", "project:p", "PUT", "/v1/admin/projects/p", 200],
      ["collaborator.set", "project:p/collaborator:bob", "PUT", "/v1/admin/projects/p/collaborators/bob", 200],
      ["token.issue", `token:${issued.body.id}`, "POST", "/v1/admin/tokens", 201],
      ["token.revoke", `token:${issued.body.id}`, "DELETE", `/v1/admin/tokens/${issued.body.id}`, 200],
      ["collaborator.remove", "project:p/collaborator:bob", "DELETE", "/v1/admin/projects/p/collaborators/bob", 204],
    ]);
    expect(records[0]).toMatchObject({ source: "admin", subject_type: "user", user_id: "alice", token_id: null, allow: true, reasons: [], client_address: "192.0.2.44" });
    expect(records[1]).toMatchObject({ subject_type: "admin_token", user_id: null, token_id: null, route: "/v1/admin/projects/{id}" });
  });
});

describe("the client address on decision and gateway records, and the source filter", () => {
  it("records who asked, and filters by source", async () => {
    const { tollgate } = await guarded();
    const app = tollgate.app;
    await request(app).post("/v1/authorize").set("X-Forwarded-For", "198.51.100.20").send({ method: "GET", path: "/api/v1/projects/p/builds" });
    await request(app).get("/v1/forward-auth").set("X-Forwarded-For", "198.51.100.21").set("X-Original-Method", "GET").set("X-Original-URI", "/api/v1/projects/p/builds");
    await request(app).get("/api/v1/projects/p/builds").set("X-Forwarded-For", "198.51.100.22");
    await tollgate.backends.audit.flush();
    const bySource = async (source: string) =>
      (await request(app).get(`/v1/admin/audit?source=${source}`).set("Authorization", ADMIN)).body.records as Array<Record<string, unknown>>;
    expect((await bySource("authorize")).map((r) => [r.source, r.client_address])).toEqual([["authorize", "198.51.100.20"]]);
    expect((await bySource("forward_auth")).map((r) => [r.source, r.client_address])).toEqual([["forward_auth", "198.51.100.21"]]);
    expect((await bySource("gateway")).map((r) => [r.source, r.client_address, r.action])).toEqual([["gateway", "198.51.100.22", null]]);
    expect(await bySource("cli")).toEqual([]);
    const bad = await request(app).get("/v1/admin/audit?source=console").set("Authorization", ADMIN);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: "invalid_request", field: "source" });
  });

  it("without a trusted proxy the socket's peer is the client, whatever X-Forwarded-For says", async () => {
    const world = await buildWorld();
    await request(world.tollgate.app).post("/v1/authorize").set("X-Forwarded-For", "203.0.113.99").send({ method: "GET", path: "/api/v1/projects/pub/builds" });
    await world.tollgate.backends.audit.flush();
    const records = (await request(world.tollgate.app).get("/v1/admin/audit?source=authorize").set("Authorization", ADMIN)).body.records;
    expect(records[0].client_address).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
  });
});
