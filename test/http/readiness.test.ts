// /readyz: each check is ok, degraded or unavailable (a state, never the driver's message, which
// goes to the log); the status is ready or degraded (200), not_ready or draining (503).
import { Writable } from "node:stream";
import { pino } from "pino";
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CHECK_TIMEOUT_MS, Readiness } from "../../src/http/readiness.js";
import { buildWorld } from "./fixture.js";

const ok = { required: true, probe: () => Promise.resolve() };
const refused = (required: boolean) => ({ required, probe: () => Promise.reject(new Error("connect ECONNREFUSED 10.0.0.7:6379")) });

async function readyz(checks: Record<string, { required: boolean; probe(): Promise<void> }>, drain = false) {
  const world = await buildWorld();
  Object.assign(world.tollgate.backends.readiness, checks);
  if (drain) world.tollgate.readiness.drain();
  return request(world.tollgate.app).get("/readyz");
}

describe("GET /readyz", () => {
  it("ready (200) when every check answers", async () => {
    const res = await readyz({ mongodb: ok, redis: ok });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ready", checks: { mongodb: "ok", redis: "ok" } });
  });

  it("not_ready (503) when a required check fails; the state only, never the driver's message", async () => {
    const res = await readyz({ mongodb: ok, redis: refused(true) });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ status: "not_ready", checks: { mongodb: "ok", redis: "unavailable" } });
    expect(res.text).not.toContain("ECONNREFUSED");
    expect(res.text).not.toContain("10.0.0.7");
  });

  it("degraded (200) when only a check Tollgate can serve without fails", async () => {
    const res = await readyz({ mongodb: ok, redis: refused(false) });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "degraded", checks: { mongodb: "ok", redis: "degraded" } });
  });

  it("not_ready wins over degraded", async () => {
    const res = await readyz({ mongodb: refused(true), redis: refused(false) });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ status: "not_ready", checks: { mongodb: "unavailable", redis: "degraded" } });
  });

  it("draining (503) once shutdown has begun, whatever the checks say", async () => {
    const res = await readyz({ mongodb: ok }, true);
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ status: "draining", checks: { mongodb: "ok" } });
  });
});

describe("Readiness", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("logs why a check failed", async () => {
    const lines: string[] = [];
    const logger = pino(new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const report = await new Readiness({ redis: refused(true) }, logger).report();
    expect(report.checks.redis).toBe("unavailable");
    expect(lines.join("")).toContain("ECONNREFUSED 10.0.0.7:6379");
  });

  it("counts a check that does not answer in time as failed", async () => {
    vi.useFakeTimers();
    const hanging = { required: true, probe: () => new Promise<void>(() => {}) };
    const pending = new Readiness({ mongodb: hanging }, pino({ level: "silent" })).report();
    await vi.advanceTimersByTimeAsync(CHECK_TIMEOUT_MS);
    expect(await pending).toEqual({ status: "not_ready", checks: { mongodb: "unavailable" } });
  });
});
