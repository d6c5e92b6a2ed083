// Session JWTs whose claims Tollgate refuses, through the gateway and forward auth: every one is a
// clean 401 invalid_token (never a 5xx, never internal text), and every one leaves an audit record.
import { SignJWT } from "jose";
import { pino } from "pino";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { send, startGateway, startUpstream, type Gateway, type Upstream } from "../gateway/helpers.js";
import { loadConfig } from "../../src/config/config.js";
import { seedDemo } from "../../src/server/demo.js";
import { buildTollgate } from "../../src/server/tollgate.js";
import { bearer, JWT_SECRET, NOW } from "./fixture.js";

let upstream: Upstream;
let gw: Gateway;

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_RATE_LIMITS: '{"api":{"default":10000}}' });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

/** Signs exactly these claims with the test secret. */
const sign = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(JWT_SECRET));
const session = (sub: unknown) => sign({ sub, iat: NOW - 10, exp: NOW + 600 });

const PUBLIC_READ = "/api/v1/projects/pub/builds";
const viaGateway = (jwt: string) => send(gw.url, PUBLIC_READ, { headers: { authorization: bearer(jwt) } });
const viaForwardAuth = (jwt: string) =>
  request(gw.world.tollgate.app).get("/v1/forward-auth").set("X-Original-Method", "GET").set("X-Original-URI", PUBLIC_READ).set("Authorization", bearer(jwt));

async function auditOf(decisionId: string) {
  await gw.world.tollgate.backends.audit.flush();
  const { records } = await gw.world.tollgate.backends.audit.query({ limit: 1000 });
  return records.find((r) => r.decision_id === decisionId);
}

async function expectRefused(jwt: string, label: string): Promise<void> {
  const hitsBefore = upstream.hits.length;
  const g = await viaGateway(jwt);
  expect(g.status, label).toBe(401);
  expect(g.json().error.code, label).toBe("invalid_token");
  expect(g.headers["www-authenticate"], label).toContain('error="invalid_token"');
  expect(upstream.hits.length, label).toBe(hitsBefore);
  const f = await viaForwardAuth(jwt);
  expect(f.status, label).toBe(401);
  expect(f.body.error.code, label).toBe("invalid_token");
  for (const [name, res] of [["gateway", { id: g.headers["x-tollgate-decision-id"], body: g.body }], ["forward auth", { id: f.headers["x-tollgate-decision-id"], body: f.text }]] as const) {
    expect(res.body, `${label} (${name})`).not.toMatch(/internal|stack|invalid user_id|validation/i);
    expect(await auditOf(String(res.id)), `${label} (${name}): audit record`).toMatchObject({ allow: false, status: 401, reasons: ["invalid_token"], user_id: null });
  }
}

describe("session subjects", () => {
  it.each([
    ["non-Latin-1", "用户"],
    ["an emoji", "bob😀"],
    ["Latin-1 beyond ASCII", "jürgen"],
    ["a control character", "bob\u0001"],
    ["a tab", "bob\tx"],
    ["DEL", "bob\u007f"],
    ["256 characters", "x".repeat(256)],
    ["490 characters", "x".repeat(490)],
    ["491 characters", "x".repeat(491)],
    ["4000 characters", "x".repeat(4000)],
    ["an empty string", ""],
    ["a space", "bob smith"],
    ["a slash", "a/b"],
    ["a backslash", "a\\b"],
    ["a comma", "a,b"],
    ["a semicolon", "a;b"],
    ["a double quote", 'a"b'],
    ["a number", 42],
  ])("refuses %s with 401 invalid_token", async (label, sub) => {
    await expectRefused(await session(sub), label);
  });

  it.each([["auth0|abc123"], ["google-oauth2|1234"], ["jane.doe+ci@example.com"], ["x".repeat(255)], ["!#$%&'()*+-.:<=>?@[]^_`{|}~"]])(
    "admits %s and audits it under that user id",
    async (sub) => {
      const jwt = await session(sub);
      const g = await viaGateway(jwt);
      expect(g.status).toBe(200);
      expect(upstream.hits.at(-1)!.headers["x-tollgate-user"]).toBe(sub);
      const f = await viaForwardAuth(jwt);
      expect(f.status).toBe(200);
      expect(f.headers["x-tollgate-user"]).toBe(sub);
      for (const id of [g.headers["x-tollgate-decision-id"], f.headers["x-tollgate-decision-id"]]) {
        expect(await auditOf(String(id))).toMatchObject({ allow: true, user_id: sub, subject_type: "user" });
      }
    },
  );
});

describe("session lifetime claims", () => {
  it.each([
    ["no exp", { sub: "bob", iat: NOW - 10 }],
    ["iat 61 s ahead", { sub: "bob", iat: NOW + 61, exp: NOW + 600 }],
    ["nbf 61 s ahead", { sub: "bob", nbf: NOW + 61, exp: NOW + 600 }],
    ["a lifetime one second over the maximum (exp - iat)", { sub: "bob", iat: NOW - 10, exp: NOW - 10 + 86_401 }],
    ["a lifetime one second over the maximum (exp - now, no iat)", { sub: "bob", exp: NOW + 86_401 }],
  ])("refuses %s with 401 invalid_token", async (label, claims) => {
    await expectRefused(await sign(claims), label);
  });

  it.each([
    ["iat 59 s ahead", { sub: "bob", iat: NOW + 59, exp: NOW + 600 }],
    ["nbf 59 s ahead", { sub: "bob", nbf: NOW + 59, exp: NOW + 600 }],
    ["exactly the maximum lifetime (exp - iat)", { sub: "bob", iat: NOW - 10, exp: NOW - 10 + 86_400 }],
    ["exactly the maximum lifetime (exp - now, no iat)", { sub: "bob", exp: NOW + 86_400 }],
  ])("admits %s", async (_label, claims) => {
    const jwt = await sign(claims);
    expect((await viaGateway(jwt)).status).toBe(200);
    expect((await viaForwardAuth(jwt)).status).toBe(200);
  });

  it("follows TOLLGATE_JWT_MAX_TTL_S", async () => {
    const short = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_JWT_MAX_TTL_S: "600" });
    try {
      const at = async (claims: Record<string, unknown>) => (await send(short.url, PUBLIC_READ, { headers: { authorization: bearer(await sign(claims)) } })).status;
      expect(await at({ sub: "bob", iat: NOW, exp: NOW + 600 })).toBe(200);
      expect(await at({ sub: "bob", iat: NOW, exp: NOW + 601 })).toBe(401);
    } finally {
      await short.close();
    }
  });
});

describe("make run's demo sessions", () => {
  it("pass under the default maximum lifetime, on the real clock", async () => {
    const config = loadConfig({ TOLLGATE_DEMO: "false" });
    expect(config.jwtMaxTtlS).toBe(86_400);
    const tollgate = buildTollgate(config, { logger: pino({ level: "silent" }), watchPolicy: false, defaultMetrics: false });
    try {
      const { sessions } = await seedDemo(tollgate, config);
      expect(Object.keys(sessions).sort()).toEqual(["alice", "bob", "carol"]);
      for (const [user, jwt] of Object.entries(sessions)) {
        const res = await request(tollgate.app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/demo-private/builds", authorization: bearer(jwt) });
        expect(res.body, user).toMatchObject({ allow: true, subject: { user_id: user } });
      }
    } finally {
      await tollgate.close();
    }
  });
});
