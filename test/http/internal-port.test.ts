// TOLLGATE_INTERNAL_PORT: clients reach only /api/ on the public port; the decision endpoints,
// the admin API and operations answer on the internal port alone. Unset, one port serves all.
import request from "supertest";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { drainAndClose, listen, type Listener } from "../../src/server/serve.js";
import { ADMIN_TOKEN, JWT_SECRET, bearer, buildWorld, type World } from "./fixture.js";
import { buildTollgate } from "../../src/server/tollgate.js";

let world: World;
beforeAll(async () => {
  world = await buildWorld();
});

/** Everything that is not for clients, as one request each. */
const INTERNAL: Array<[string, string]> = [
  ["post", "/v1/authorize"],
  ["post", "/v1/data/tollgate/authz/decision"],
  ["get", "/v1/forward-auth"],
  ["get", "/v1/admin/audit"],
  ["put", "/v1/admin/users/bob"],
  ["get", "/metrics"],
  ["get", "/readyz"],
  ["get", "/healthz"],
  ["get", "/openapi.json"],
];

const send = (app: Parameters<typeof request>[0], method: string, path: string) =>
  (request(app) as unknown as Record<string, (p: string) => request.Test>)[method]!(path).set("Authorization", `Bearer ${ADMIN_TOKEN}`);

describe("the public app (TOLLGATE_INTERNAL_PORT set)", () => {
  it.each(INTERNAL)("answers %s %s with 404 not_found", async (method, path) => {
    const res = await send(world.tollgate.publicApp, method, path);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: "not_found", message: "no such endpoint" } });
  });

  it("serves the gateway", async () => {
    const denied = await request(world.tollgate.publicApp).get("/api/v1/projects/priv/builds");
    expect(denied.status).toBe(401);
    expect(denied.body.error.reasons).toEqual(["missing_token"]);
    const allowed = await request(world.tollgate.publicApp).get("/api/v1/mcp/tokens").set("Authorization", bearer(await world.session("bob")));
    expect(allowed.status).toBe(200);
    expect(allowed.body).toHaveProperty("tokens");
  });
});

describe("the internal app", () => {
  it("serves the decision endpoints, the admin API and operations", async () => {
    const app = world.tollgate.internalApp;
    expect((await request(app).get("/healthz")).status).toBe(200);
    expect((await request(app).get("/readyz")).status).toBe(200);
    expect((await request(app).get("/metrics")).text).toContain("tollgate_decisions_total");
    expect((await request(app).get("/openapi.json")).body.paths).toHaveProperty("/v1/authorize");
    const decision = await request(app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/pub/builds" });
    expect(decision.body).toMatchObject({ allow: true });
    const audit = await request(app).get("/v1/admin/audit").set("Authorization", `Bearer ${ADMIN_TOKEN}`);
    expect(audit.status).toBe(200);
  });

  it("does not serve the gateway: clients have no business there", async () => {
    const res = await request(world.tollgate.internalApp).get("/api/v1/projects/pub/builds");
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
  });
});

describe("one port (TOLLGATE_INTERNAL_PORT unset) serves everything", () => {
  it.each(INTERNAL)("%s %s is routed", async (method, path) => {
    const res = await send(world.tollgate.app, method, path);
    expect(res.body?.error?.message).not.toBe("no such endpoint");
  });
});

describe("listen(): the real servers", () => {
  const started: Listener[] = [];
  afterAll(async () => {
    await Promise.all(started.map(({ server }) => new Promise((resolve) => server.close(resolve))));
  });

  const start = async (env: Record<string, string>) => {
    const config = loadConfig({ TOLLGATE_JWT_SECRET: JWT_SECRET, TOLLGATE_DEMO: "false", PORT: "0", ...env });
    const tollgate = buildTollgate(config, { logger: pino({ level: "silent" }), watchPolicy: false, defaultMetrics: false });
    const listeners = await listen(tollgate, config);
    started.push(...listeners);
    const urls: Record<string, string> = Object.fromEntries(listeners.map((l) => [l.name, l.url]));
    return { urls, tollgate, listeners };
  };
  const authorize = (base: string) =>
    fetch(`${base}/v1/authorize`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ method: "GET", path: "/api/v1/projects/p/builds" }) });

  it("listens twice when TOLLGATE_INTERNAL_PORT is set, and keeps the two apart", async () => {
    const { urls } = await start({ TOLLGATE_INTERNAL_PORT: "0", TOLLGATE_INTERNAL_HOST: "127.0.0.1" });
    expect(Object.keys(urls).sort()).toEqual(["internal", "public"]);
    expect(urls.public).not.toBe(urls.internal);
    expect((await authorize(urls.public!)).status).toBe(404);
    expect((await authorize(urls.internal!)).status).toBe(200);
    expect((await fetch(`${urls.public}/metrics`)).status).toBe(404);
    expect((await fetch(`${urls.internal}/metrics`)).status).toBe(200);
    expect((await fetch(`${urls.public}/api/v1/projects/p/builds`)).status).toBe(401);
  });

  it("listens once, serving everything, without it", async () => {
    const { urls } = await start({});
    expect(Object.keys(urls)).toEqual(["public"]);
    expect((await authorize(urls.public!)).status).toBe(200);
    expect((await fetch(`${urls.public}/api/v1/projects/p/builds`)).status).toBe(401);
  });

  it("at shutdown: /readyz answers 503 draining, and both ports stop listening", async () => {
    const { tollgate, listeners, urls } = await start({ TOLLGATE_INTERNAL_PORT: "0" });
    expect((await fetch(`${urls.internal}/readyz`)).status).toBe(200);
    const closed = drainAndClose(tollgate, listeners, 0);
    const draining = await request(tollgate.internalApp).get("/readyz");
    expect(draining.status).toBe(503);
    expect(draining.body.status).toBe("draining");
    await closed;
    expect(listeners.map((l) => l.server.listening)).toEqual([false, false]);
    await expect(fetch(`${urls.internal}/healthz`)).rejects.toThrow();
  });

  it("rejects with the listen error when a port is taken, closing what it opened", async () => {
    const taken = new URL((await start({})).urls.public!).port;
    await expect(start({ TOLLGATE_INTERNAL_PORT: taken })).rejects.toMatchObject({ code: "EADDRINUSE" });
  });
});
