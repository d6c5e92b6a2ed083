import { Writable } from "node:stream";
import { pino } from "pino";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { buildTollgate } from "../../src/server/tollgate.js";
import { MemoryRateLimiter } from "../../src/stores/memory/rate-limiter.js";
import { BackendUnavailableError, type RateLimiter } from "../../src/stores/types.js";
import { ADMIN_TOKEN, JWT_SECRET, bearer, buildTollgateAt, buildWorld, NOW } from "./fixture.js";

const brokenLimiter: RateLimiter = {
  hit: async () => {
    throw new BackendUnavailableError("redis", new Error("connection refused"));
  },
};

async function worldWithLimiter(env: Record<string, string>, rateLimiter?: RateLimiter) {
  const base = await buildWorld(env);
  if (!rateLimiter) return base;
  return buildWorld(env, { ...base.tollgate.backends, rateLimiter });
}

describe("rate limiting", () => {
  it("answers 429 rate_limited once the class limit is spent, and dry runs do not count", async () => {
    const world = await worldWithLimiter({ TOLLGATE_RATE_LIMITS: '{"mcp":{"trigger":2}}' });
    const trigger = (dry_run = false) =>
      request(world.tollgate.app).post("/v1/authorize").send({ method: "POST", path: "/api/v1/mcp/projects/priv/trigger", authorization: bearer(world.tokens.bobMcp), dry_run });
    // A dry run reports the budget without spending it.
    expect((await trigger(true)).body.rate_limit).toMatchObject({ class: "trigger", limit: 2, remaining: 2 });
    expect((await trigger(true)).body.rate_limit).toMatchObject({ remaining: 2 });
    expect((await trigger()).body).toMatchObject({ allow: true, rate_limit: { remaining: 1 } });
    expect((await trigger()).body).toMatchObject({ allow: true, rate_limit: { remaining: 0 } });
    const third = await trigger();
    expect(third.body).toMatchObject({ allow: false, status: 429, reasons: ["rate_limited"], rate_limit: { class: "trigger", limit: 2, remaining: 0 } });
    expect(third.body.rate_limit.reset_s).toBeGreaterThan(0);
    // Another class of the same user is counted separately.
    const logs = await request(world.tollgate.app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/mcp/projects/priv/jobs/j1/logs", authorization: bearer(world.tokens.bobMcp) });
    expect(logs.body).toMatchObject({ allow: true, rate_limit: { class: "log", limit: 10 } });
  });

  it("counts per user, so two tokens of one user share the limit", async () => {
    const world = await worldWithLimiter({ TOLLGATE_RATE_LIMITS: '{"api":{"default":2}}' });
    const read = (credential: string) =>
      request(world.tollgate.app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(credential) });
    expect((await read(world.tokens.bobGlobal)).body.allow).toBe(true);
    expect((await read(await world.session("bob"))).body.allow).toBe(true);
    expect((await read(world.tokens.bobGlobalRead)).body.status).toBe(429);
    expect((await read(await world.session("alice"))).body.allow).toBe(true);
  });

  it("does not count anonymous or unauthenticated requests", async () => {
    const world = await worldWithLimiter({ TOLLGATE_RATE_LIMITS: '{"api":{"default":1}}' });
    for (let i = 0; i < 3; i++) {
      const res = await request(world.tollgate.app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/pub/builds" });
      expect(res.body).toMatchObject({ allow: true, rate_limit: null });
    }
  });

  it("admits exactly 20 of 200 parallel requests against a limit of 20", async () => {
    const world = await worldWithLimiter({ TOLLGATE_RATE_LIMITS: '{"api":{"default":20}}' }, new MemoryRateLimiter());
    const body = { method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(world.tokens.bobGlobal) };
    const results = await Promise.all(Array.from({ length: 200 }, () => request(world.tollgate.app).post("/v1/authorize").send(body)));
    const statuses = results.map((r) => r.body.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(180);
  });

  it("admits requests when the limiter is down and TOLLGATE_RATE_LIMIT_FAIL=open, counting them", async () => {
    const world = await worldWithLimiter({ TOLLGATE_RATE_LIMIT_FAIL: "open" }, brokenLimiter);
    const res = await request(world.tollgate.app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(world.tokens.bobGlobal) });
    expect(res.body).toMatchObject({ allow: true, rate_limit: null });
    const metrics = await request(world.tollgate.app).get("/metrics");
    expect(metrics.text).toMatch(/^tollgate_rate_limit_fail_open_total 1$/m);
  });

  it("denies with 503 backend_unavailable when the limiter is down and TOLLGATE_RATE_LIMIT_FAIL=closed", async () => {
    const world = await worldWithLimiter({ TOLLGATE_RATE_LIMIT_FAIL: "closed" }, brokenLimiter);
    const res = await request(world.tollgate.app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(world.tokens.bobGlobal) });
    expect(res.body).toMatchObject({ allow: false, status: 503, reasons: ["backend_unavailable"] });
  });
});

describe("backends down", () => {
  it("fails closed with 503 when the token or project facts cannot be read, and keeps serving", async () => {
    const base = await buildWorld();
    const down = () => Promise.reject(new BackendUnavailableError("mongodb", new Error("server selection timed out")));
    const tokens = { ...base.tollgate.backends.tokens, findByHash: down, get: down };
    const directory = Object.assign(Object.create(Object.getPrototypeOf(base.tollgate.backends.directory)), base.tollgate.backends.directory, {
      getProject: down,
      getUser: down,
      getCollaboratorRole: down,
    });
    // The app is built on the broken stores directly: seeding a world would need them.
    const app = buildTollgateAt(NOW, {}, { ...base.tollgate.backends, tokens, directory }).app;
    const token = await request(app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(base.tokens.bobGlobal) });
    expect(token.body).toMatchObject({ allow: false, status: 503, reasons: ["backend_unavailable"] });
    const anonymous = await request(app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/pub/builds" });
    expect(anonymous.body).toMatchObject({ allow: false, status: 503, reasons: ["backend_unavailable"] });
    // Decisions that need no backend still work.
    const invalid = await request(app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/../x" });
    expect(invalid.body).toMatchObject({ allow: false, status: 400, reasons: ["invalid_path"] });
    expect((await request(app).get("/healthz")).status).toBe(200);
  });

  it("logs one line for many requests denied while a backend is down, not one per request", async () => {
    const base = await buildWorld();
    const down = () => Promise.reject(new BackendUnavailableError("mongodb", new Error("server selection timed out")));
    const tokens = { ...base.tollgate.backends.tokens, findByHash: down, get: down };
    const log: string[] = [];
    const logger = pino(new Writable({ write: (c, _e, done) => (log.push(String(c)), done()) }));
    const config = loadConfig({ TOLLGATE_JWT_SECRET: JWT_SECRET, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_DEMO: "false" });
    const { app } = buildTollgate(config, { logger, backends: { ...base.tollgate.backends, tokens }, watchPolicy: false, defaultMetrics: false, clock: () => NOW });
    for (let i = 0; i < 5; i++) {
      const res = await request(app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(base.tokens.bobGlobal) });
      expect(res.body).toMatchObject({ allow: false, status: 503, reasons: ["backend_unavailable"] });
    }
    const lines = log.filter((l) => l.includes("unavailable; denying")).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ backend: "mongodb", held_back: 0 });
  });
});
