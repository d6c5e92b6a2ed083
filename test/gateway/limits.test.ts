// Per-class rate limits under /api/v1/mcp with the default configuration (log and artifact 10,
// trigger 5, default 30 per minute), through the gateway: per user and per class, reported in
// headers, 429 with Retry-After, and a limited request never reaches the upstream.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { bearer } from "../http/fixture.js";
import { send, startGateway, startUpstream, type Gateway, type Sent, type Upstream } from "./helpers.js";

let upstream: Upstream;
const gateways: Gateway[] = [];

beforeAll(async () => {
  upstream = await startUpstream();
});

afterAll(async () => {
  await Promise.allSettled(gateways.map((g) => g.close()));
  await upstream?.close();
});

beforeEach(() => upstream.reset());

/** A fresh world for each test: the limits live in its in-memory limiter. */
async function fresh(): Promise<Gateway> {
  const gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url });
  gateways.push(gw);
  return gw;
}

/** An MCP token for `user` with a trigger grant on `project`. */
async function mcpToken(gw: Gateway, user: string, project = "priv"): Promise<string> {
  return (await gw.world.tollgate.issuer.issue({ type: "mcp", user_id: user, grants: [{ project_id: project, allow_trigger: true }] })).token;
}

const CLASSES = {
  trigger: { method: "POST", path: "/api/v1/mcp/projects/priv/trigger", limit: 5 },
  log: { method: "GET", path: "/api/v1/mcp/projects/priv/jobs/j1/logs", limit: 10 },
  artifact: { method: "GET", path: "/api/v1/mcp/projects/priv/jobs/j1/artifacts", limit: 10 },
  default: { method: "GET", path: "/api/v1/mcp/projects/priv/builds", limit: 30 },
} as const;
type ClassName = keyof typeof CLASSES;

function call(gw: Gateway, token: string, cls: ClassName): Promise<Sent> {
  const { method, path } = CLASSES[cls];
  return send(gw.url, path, { method, headers: { authorization: bearer(token) } });
}

const remainingOf = (res: Sent): number => Number(/;r=(\d+);/.exec(String(res.headers.ratelimit))?.[1]);

describe("per-class limits under /api/v1/mcp", () => {
  it.each(Object.keys(CLASSES) as ClassName[])("%s: admits the class limit, reports it in headers, then 429 with Retry-After", async (cls) => {
    const gw = await fresh();
    const { limit, path } = CLASSES[cls];
    const token = gw.world.tokens.bobMcp;
    for (let i = 1; i <= limit; i++) {
      const res = await call(gw, token, cls);
      expect(res.status, `${cls} #${i}`).toBeLessThan(300);
      expect(res.headers["ratelimit-policy"]).toBe(`"${cls}";q=${limit};w=60`);
      expect(res.headers.ratelimit).toMatch(new RegExp(`^"${cls}";r=${limit - i};t=\\d+$`));
    }
    expect(upstream.hits.filter((h) => h.url === path)).toHaveLength(limit);

    const limited = await call(gw, token, cls);
    expect(limited.status).toBe(429);
    expect(limited.headers["ratelimit-policy"]).toBe(`"${cls}";q=${limit};w=60`);
    expect(limited.headers.ratelimit).toMatch(new RegExp(`^"${cls}";r=0;t=\\d+$`));
    const retryAfter = Number(limited.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(61); // the 60 s window and one 1 s sub-window (docs/api.md#rate-limits)
    expect(limited.json()).toMatchObject({ error: { code: "rate_limited", reasons: ["rate_limited"] } });
    // The limited request did not reach the upstream.
    expect(upstream.hits.filter((h) => h.url === path)).toHaveLength(limit);
  });

  it("counts per user: two tokens of one user share the limit, another user is unaffected", async () => {
    const gw = await fresh();
    const bobFirst = gw.world.tokens.bobMcp;
    const bobSecond = await mcpToken(gw, "bob");
    const alice = await mcpToken(gw, "alice");
    for (let i = 0; i < 3; i++) expect((await call(gw, bobFirst, "trigger")).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await call(gw, bobSecond, "trigger")).status).toBe(200);
    expect((await call(gw, bobSecond, "trigger")).status).toBe(429);
    expect((await call(gw, bobFirst, "trigger")).status).toBe(429);

    const other = await call(gw, alice, "trigger");
    expect(other.status).toBe(200);
    expect(other.headers.ratelimit).toMatch(/^"trigger";r=4;t=\d+$/);
  });

  it("counts per class: another class of the same user is unaffected", async () => {
    const gw = await fresh();
    const token = gw.world.tokens.bobMcp;
    for (let i = 0; i < 5; i++) await call(gw, token, "trigger");
    expect((await call(gw, token, "trigger")).status).toBe(429);
    for (const cls of ["log", "artifact", "default"] as const) {
      const res = await call(gw, token, cls);
      expect(res.status, cls).toBe(200);
      expect(res.headers["ratelimit-policy"], cls).toBe(`"${cls}";q=${CLASSES[cls].limit};w=60`);
      expect(remainingOf(res), cls).toBe(CLASSES[cls].limit - 1);
    }
  });

  it("admits exactly the limit of 40 parallel triggers", async () => {
    const gw = await fresh();
    const results = await Promise.all(Array.from({ length: 40 }, () => call(gw, gw.world.tokens.bobMcp, "trigger")));
    expect(results.filter((r) => r.status === 200)).toHaveLength(5);
    expect(results.filter((r) => r.status === 429)).toHaveLength(35);
    expect(upstream.hits.filter((h) => h.url === CLASSES.trigger.path)).toHaveLength(5);
    expect(new Set(results.filter((r) => r.status === 200).map(remainingOf))).toEqual(new Set([0, 1, 2, 3, 4]));
  });

  it("the MCP limits do not apply to the rest of the API, and the API limits not to /api/v1/mcp", async () => {
    const gw = await fresh();
    for (let i = 0; i < 5; i++) await call(gw, gw.world.tokens.bobMcp, "trigger");
    expect((await call(gw, gw.world.tokens.bobMcp, "trigger")).status).toBe(429);
    // bob's session on the project API: the api area's default class (600).
    const api = await send(gw.url, "/api/v1/projects/priv/builds", { headers: { authorization: bearer(gw.world.tokens.bobGlobal) } });
    expect(api.status).toBe(200);
    expect(api.headers["ratelimit-policy"]).toBe('"default";q=600;w=60');
  });

  it("a request denied after the rate limit stage still counts, and is reported", async () => {
    // Order: authenticate, rate limit, project access. A grant-less call spends the budget too.
    const gw = await fresh();
    const token = gw.world.tokens.bobMcp;
    const denied = await send(gw.url, "/api/v1/mcp/projects/pub/builds", { headers: { authorization: bearer(token) } });
    expect(denied.status).toBe(403);
    expect(denied.headers.ratelimit).toMatch(/^"default";r=29;t=\d+$/);
    expect(remainingOf(await call(gw, token, "default"))).toBe(28);
  });
});
