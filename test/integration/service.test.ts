import { pino } from "pino";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { buildTollgate, type Tollgate } from "../../src/server/tollgate.js";
import { startFerretDb, startRedis, type MongoServer, type RedisServer } from "../support/servers.js";

// The decision service on real servers: FerretDB (MongoDB wire protocol) for facts and
// redis-server for rate limits, both started here on free loopback ports. The in-memory
// backends are covered by test/http; this file proves the wiring to real backends.
const ADMIN = "integration-admin-token-0123456789";
const SECRET = "integration-secret-0123456789-0123456789";

let mongo: MongoServer;
let redis: RedisServer;
const apps: Tollgate[] = [];

function tollgate(env: Record<string, string> = {}): Tollgate {
  const config = loadConfig({
    MONGODB_URI: mongo.uri,
    MONGODB_DB: mongo.dbName,
    REDIS_URL: redis.url,
    TOLLGATE_ADMIN_TOKEN: ADMIN,
    TOLLGATE_JWT_SECRET: SECRET,
    TOLLGATE_RATE_LIMITS: '{"api":{"default":20}}',
    TOLLGATE_CACHE_TTL_MS: "0",
    // These tests count across replicas; they are not about Redis or MongoDB timeouts. On a busy
    // machine a call can outlast the 50 ms default (a timed-out admin-failure count fails closed,
    // 503), and 100 cold token reads at once on FerretDB the 1 s one (503). The bounds have their
    // own tests (test/http/rate-limit-redis.test.ts, test/http/mongo-hang.test.ts).
    TOLLGATE_REDIS_TIMEOUT_MS: "2000",
    TOLLGATE_MONGODB_TIMEOUT_MS: "30000",
    ...env,
  });
  const instance = buildTollgate(config, { logger: pino({ level: "silent" }), watchPolicy: false, defaultMetrics: false });
  apps.push(instance);
  return instance;
}

const admin = (t: Tollgate) => ({
  put: (path: string, body: object) => request(t.app).put(path).set("Authorization", `Bearer ${ADMIN}`).send(body),
  post: (path: string, body: object) => request(t.app).post(path).set("Authorization", `Bearer ${ADMIN}`).send(body),
  del: (path: string) => request(t.app).delete(path).set("Authorization", `Bearer ${ADMIN}`),
});

const authorize = (t: Tollgate, token: string, path = "/api/v1/projects/p1/builds") =>
  request(t.app).post("/v1/authorize").send({ method: "GET", path, authorization: `Bearer ${token}` });

let token: string;
let tokenId: string;

beforeAll(async () => {
  [mongo, redis] = await Promise.all([startFerretDb(), startRedis()]);
  const t = tollgate();
  // Indexes are ensured in the background at startup; wait for readiness (bounded).
  for (const deadline = Date.now() + 90_000; (await request(t.app).get("/readyz")).status !== 200; ) {
    if (Date.now() > deadline) throw new Error("Tollgate did not become ready on FerretDB and redis-server within 90 s");
    await new Promise((r) => setTimeout(r, 250));
  }
  expect((await admin(t).put("/v1/admin/users/bob", { role: "user" })).status).toBe(200);
  expect((await admin(t).put("/v1/admin/projects/p1", { public: false })).status).toBe(201);
  expect((await admin(t).put("/v1/admin/projects/p1/collaborators/bob", { role: "Developer" })).status).toBe(200);
  const created = await admin(t).post("/v1/admin/tokens", { type: "global", user_id: "bob", scopes: ["read"] });
  expect(created.status).toBe(201);
  ({ token, id: tokenId } = created.body as { token: string; id: string });
});

afterAll(async () => {
  await Promise.allSettled(apps.map((a) => a.close()));
  await Promise.allSettled([mongo?.stop(), redis?.stop()]);
});

describe("decision service on FerretDB and redis-server", () => {
  it("decides from facts stored in MongoDB, seen by every replica", async () => {
    const replica = tollgate();
    expect((await authorize(replica, token)).body).toMatchObject({ allow: true, subject: { type: "global_token", user_id: "bob", token_id: tokenId } });
    expect((await authorize(replica, token, "/api/v1/projects/p2/builds")).body).toMatchObject({ allow: false, reasons: ["not_collaborator"] });
  });

  it("admits exactly 20 of 200 parallel requests across two replicas sharing Redis", async () => {
    const fresh = await admin(apps[0]!).post("/v1/admin/tokens", { type: "project", project_id: "p1", scopes: ["read"] });
    const [a, b] = [tollgate(), tollgate()];
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => authorize(i % 2 ? a : b, fresh.body.token)));
    const statuses = results.map((r) => r.body.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(180);
  });

  it("denies a token revoked through another replica on the next request", async () => {
    const created = await admin(apps[0]!).post("/v1/admin/tokens", { type: "global", user_id: "bob", scopes: ["read"] });
    const other = tollgate();
    expect((await authorize(other, created.body.token)).body.allow).toBe(true);
    expect((await admin(apps[0]!).del(`/v1/admin/tokens/${created.body.id}`)).status).toBe(200);
    expect((await authorize(other, created.body.token)).body).toMatchObject({ status: 401, reasons: ["revoked_token"] });
  });

  it("counts failed admin authentications per client address in Redis, across replicas", async () => {
    const [a, b] = [tollgate({ TOLLGATE_TRUSTED_PROXIES: "loopback" }), tollgate({ TOLLGATE_TRUSTED_PROXIES: "loopback" })];
    const put = (t: Tollgate, from: string, credential: string) =>
      request(t.app).put("/v1/admin/users/bob").set("X-Forwarded-For", from).set("Authorization", `Bearer ${credential}`).send({ role: "user" });
    for (let i = 0; i < 10; i++) expect((await put(i % 2 ? a : b, "203.0.113.50", "a-wrong-guess-0123456789")).status).toBe(401);
    for (const replica of [a, b]) {
      const refused = await put(replica, "203.0.113.50", ADMIN);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    }
    expect((await put(a, "203.0.113.51", ADMIN)).status).toBe(200);
  });

  it("fails open or closed as configured when Redis stops, and 503s when MongoDB stops", async () => {
    const open = tollgate({ TOLLGATE_CACHE_TTL_MS: "60000", TOLLGATE_RATE_LIMIT_FAIL: "open" });
    const closed = tollgate({ TOLLGATE_CACHE_TTL_MS: "60000", TOLLGATE_RATE_LIMIT_FAIL: "closed" });
    const warmToken = (await admin(apps[0]!).post("/v1/admin/tokens", { type: "global", user_id: "bob", scopes: ["read"] })).body.token as string;
    expect((await authorize(open, warmToken)).body.allow).toBe(true);
    expect((await authorize(closed, warmToken)).body.allow).toBe(true);

    await redis.stop();
    expect((await authorize(open, warmToken)).body).toMatchObject({ allow: true, rate_limit: null });
    expect((await authorize(closed, warmToken)).body).toMatchObject({ allow: false, status: 503, reasons: ["backend_unavailable"] });
    // Fail-open serves on without counting: degraded but still taking traffic; fail-closed cannot.
    const openReady = await request(open.app).get("/readyz");
    expect(openReady.status).toBe(200);
    expect(openReady.body).toMatchObject({ status: "degraded", checks: { mongodb: "ok", redis: "degraded" } });
    const closedReady = await request(closed.app).get("/readyz");
    expect(closedReady.status).toBe(503);
    expect(closedReady.body).toMatchObject({ status: "not_ready", checks: { mongodb: "ok", redis: "unavailable" } });

    await mongo.stop();
    const cold = tollgate({ TOLLGATE_RATE_LIMIT_FAIL: "open" });
    const res = await authorize(cold, token);
    expect(res.body).toMatchObject({ allow: false, status: 503, reasons: ["backend_unavailable"] });
    expect((await request(cold.app).get("/healthz")).status).toBe(200);
  });
});
