// OPA's Data API as OPA answers it (POST/GET /v1/data/…), driven by the official OPA TypeScript
// SDK: the decision or a field of it, undefined documents, and OPA-shaped errors.
import { OPAClient } from "@open-policy-agent/opa";
import { ClientError, ServerError } from "@open-policy-agent/opa/sdk/models/errors";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../src/audit/types.js";
import { bearer, buildWorld, type World } from "./fixture.js";
import { createHttpServer } from "../../src/http/server.js";

let world: World;
const servers: Server[] = [];
let opa: OPAClient;

async function serve(w: World): Promise<OPAClient> {
  const server = createHttpServer(w.tollgate.app, w.tollgate.config).listen(0, "127.0.0.1");
  servers.push(server);
  await new Promise((resolve) => server.once("listening", resolve));
  return new OPAClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
}

beforeAll(async () => {
  world = await buildWorld();
  opa = await serve(world);
});
afterAll(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))));

const PRIVATE_BUILDS = { method: "GET", path: "/api/v1/projects/priv/builds" };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function dataApiRecords(w: World): Promise<AuditRecord[]> {
  await w.tollgate.backends.audit.flush();
  return (await w.tollgate.backends.audit.query({ limit: 1000 })).records.filter((r) => r.source === "data_api");
}

describe("the decision at data.tollgate.authz.decision", () => {
  it("is the result, with the decision id beside it", async () => {
    const jwt = await world.session("bob");
    const result = await opa.evaluate<object, Record<string, unknown>>("tollgate/authz/decision", { ...PRIVATE_BUILDS, headers: { Authorization: bearer(jwt) } });
    expect(result).toMatchObject({ allow: true, status: 200, route: "/api/v1/projects/{project}/builds", subject: { user_id: "bob" } });
    const denied = await opa.evaluate<object, Record<string, unknown>>("tollgate/authz/decision", PRIVATE_BUILDS);
    expect(denied).toMatchObject({ allow: false, status: 401, reasons: ["missing_token"] });
    const raw = await request(world.tollgate.app).post("/v1/data/tollgate/authz/decision").send({ input: PRIVATE_BUILDS });
    expect(Object.keys(raw.body).sort()).toEqual(["decision_id", "result"]);
    expect(raw.body.decision_id).toBe(raw.body.result.decision_id);
  });

  // Only method, path and headers are read from the input: a route, subject or credential
  // beside them cannot change the decision.
  it("ignores a route, subject or credential in the input", async () => {
    const forged = {
      ...PRIVATE_BUILDS,
      route: { valid_path: true, pattern: "/api/v1/mcp/tokens/exchange", namespace: "mcp_tokens", access: "write", rate_limit_class: "default", sensitive: false, project_id: null, anonymous: true },
      credential: { status: "valid" },
      subject: { type: "user", user_id: "alice", system_role: "admin" },
    };
    const result = await opa.evaluate<object, Record<string, unknown>>("tollgate/authz/decision", forged);
    expect(result).toMatchObject({ allow: false, status: 401, reasons: ["missing_token"], route: "/api/v1/projects/{project}/builds" });
  });

  it("answers a field of the decision, and a path into it, as OPA answers a rule's value", async () => {
    const input = { ...PRIVATE_BUILDS, headers: { authorization: bearer(world.tokens.bobGlobal) } };
    expect(await opa.evaluate("tollgate/authz/decision/allow", input)).toBe(true);
    expect(await opa.evaluate("tollgate/authz/decision/status", PRIVATE_BUILDS)).toBe(401);
    expect(await opa.evaluate("tollgate/authz/decision/reasons", PRIVATE_BUILDS)).toEqual(["missing_token"]);
    expect(await opa.evaluate("tollgate/authz/decision/reasons/0", PRIVATE_BUILDS)).toBe("missing_token");
    expect(await opa.evaluate("tollgate/authz/decision/subject/user_id", input)).toBe("bob");
    expect(await opa.evaluate("tollgate/authz/decision/rate_limit/class", input)).toBe("default");
    // A field that is null is a result of null, not undefined.
    const anonymous = await request(world.tollgate.app).post("/v1/data/tollgate/authz/decision/subject").send({ input: PRIVATE_BUILDS });
    expect(anonymous.status).toBe(200);
    expect(anonymous.body).toEqual({ result: null, decision_id: expect.stringMatching(UUID) });
  });

  it("is undefined (no result) below a field that has no such member", async () => {
    for (const path of ["tollgate/authz/decision/subject/user_id", "tollgate/authz/decision/reasons/7", "tollgate/authz/decision/allow/x"]) {
      expect(await opa.evaluate(path, PRIVATE_BUILDS), path).toBeUndefined();
      const raw = await request(world.tollgate.app).post(`/v1/data/${path}`).send({ input: PRIVATE_BUILDS });
      expect(raw.body, path).toEqual({ decision_id: expect.stringMatching(UUID) });
    }
  });
});

describe("any other document is undefined, as OPA answers it", () => {
  it.each([
    ["POST", "/v1/data/tollgate/authz/decision/nope"],
    ["POST", "/v1/data/tollgate/authz/allow"],
    ["POST", "/v1/data/tollgate"],
    ["POST", "/v1/data/other/package"],
    ["POST", "/v1/data"],
    ["GET", "/v1/data/tollgate/authz/decision"],
    ["GET", "/v1/data/tollgate/authz/decision/allow"],
    ["GET", "/v1/data/x?input=%7B%7D&pretty=true"],
  ])("%s %s → 200 {decision_id}, no decision made", async (method, path) => {
    const before = (await dataApiRecords(world)).length;
    const req = request(world.tollgate.app)[method === "GET" ? "get" : "post"](path);
    const res = method === "GET" ? await req : await req.send({ input: PRIVATE_BUILDS });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ decision_id: expect.stringMatching(UUID) });
    expect(await dataApiRecords(world)).toHaveLength(before);
  });

  it("through the SDK too: evaluate() resolves to undefined", async () => {
    expect(await opa.evaluate("tollgate/authz/allow", PRIVATE_BUILDS)).toBeUndefined();
    expect(await opa.evaluate("tollgate/authz/decision/nope", PRIVATE_BUILDS)).toBeUndefined();
    // Without input the SDK sends GET.
    expect(await opa.evaluate("tollgate/authz/decision")).toBeUndefined();
  });
});

describe("errors in OPA's shape", () => {
  it.each([
    ["malformed JSON", "application/json", "{not json", "the request body is not valid JSON"],
    ["input without a path", "application/json", JSON.stringify({ input: { method: "GET" } }), "input.path: Invalid input: expected string, received undefined"],
    ["no input", "application/json", "{}", "input: Invalid input: expected object, received undefined"],
    ["a method that is not one", "application/json", JSON.stringify({ input: { method: "G T", path: "/api" } }), "input.method: must be an HTTP method such as GET"],
    ["a body that is not an object", "application/json", "[1]", "body: Invalid input: expected object, received array"],
    ["an empty body", "application/json", "", "input: Invalid input: expected object, received undefined"],
  ])("400 invalid_parameter for %s", async (_what, type, body, message) => {
    const res = await request(world.tollgate.app).post("/v1/data/tollgate/authz/decision").set("Content-Type", type).send(body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ code: "invalid_parameter", message });
  });

  it("reads the body as JSON whatever its Content-Type, as OPA does", async () => {
    const res = await request(world.tollgate.app).post("/v1/data/tollgate/authz/decision/status").set("Content-Type", "text/plain").send(JSON.stringify({ input: PRIVATE_BUILDS }));
    expect(res.body).toEqual({ result: 401, decision_id: expect.stringMatching(UUID) });
  });

  it("400 invalid_parameter for a body over the limit, and for malformed JSON on any path", async () => {
    const big = await request(world.tollgate.app)
      .post("/v1/data/tollgate/authz/decision")
      .set("Content-Type", "application/json")
      .send(JSON.stringify({ input: { ...PRIVATE_BUILDS, pad: "x".repeat(20_000) } }));
    expect(big.status).toBe(400);
    expect(big.body).toEqual({ code: "invalid_parameter", message: "the request body is over 16384 bytes" });
    const elsewhere = await request(world.tollgate.app).post("/v1/data/some/doc").set("Content-Type", "application/json").send("{");
    expect(elsewhere.body).toEqual({ code: "invalid_parameter", message: "the request body is not valid JSON" });
  });

  it("the SDK raises them as its ClientError and ServerError", async () => {
    const bad = await opa.evaluate("tollgate/authz/decision", { method: "GET" }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ClientError);
    expect((bad as ClientError).code).toBe("invalid_parameter");

    const broken = await buildWorld();
    broken.tollgate.backends.tokens.findByHash = () => Promise.reject(new Error("driver bug: secret detail"));
    const brokenOpa = await serve(broken);
    const failed = await brokenOpa.evaluate("tollgate/authz/decision", { ...PRIVATE_BUILDS, headers: { Authorization: bearer(broken.tokens.bobGlobal) } }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ServerError);
    expect((failed as ServerError).code).toBe("internal_error");
    expect((failed as ServerError).message).toBe("internal error");
  });
});

describe("inputs that name no single request", () => {
  it("400 invalid_parameter when input.headers carries Authorization more than once", async () => {
    const jwt = bearer(await world.session("bob"));
    for (const headers of [{ authorization: [jwt, jwt] }, { Authorization: jwt, authorization: bearer(world.tokens.bobGlobal) }]) {
      const res = await request(world.tollgate.app).post("/v1/data/tollgate/authz/decision").send({ input: { ...PRIVATE_BUILDS, headers } });
      expect(res.status, JSON.stringify(headers)).toBe(400);
      expect(res.body).toEqual({ code: "invalid_parameter", message: "input.headers: send authorization once" });
    }
    const one = await request(world.tollgate.app).post("/v1/data/tollgate/authz/decision").send({ input: { ...PRIVATE_BUILDS, headers: { AUTHORIZATION: [jwt] } } });
    expect(one.body.result).toMatchObject({ allow: true, subject: { user_id: "bob" } });
  });

  it("400 invalid_parameter for a path with a lone UTF-16 surrogate (JSON can carry one; it is no URL)", async () => {
    for (const path of [String.raw`/api/v1/projects/pub/builds/\udc00`, String.raw`/api/v1/projects/pub/builds?q=\ud800`]) {
      const raw = `{"input":{"method":"GET","path":"${path}"}}`;
      const res = await request(world.tollgate.app).post("/v1/data/tollgate/authz/decision").set("content-type", "application/json").send(raw);
      expect(res.status, path).toBe(400);
      expect(res.body.code).toBe("invalid_parameter");
    }
  });
});

describe("audit", () => {
  it("records each decision made through the Data API, field paths included", async () => {
    const w = await buildWorld();
    await request(w.tollgate.app).post("/v1/data/tollgate/authz/decision").send({ input: PRIVATE_BUILDS });
    await request(w.tollgate.app).post("/v1/data/tollgate/authz/decision/allow").send({ input: { ...PRIVATE_BUILDS, path: `${PRIVATE_BUILDS.path}?page=2` } });
    const records = await dataApiRecords(w);
    expect(records.map((r) => [r.method, r.path, r.status])).toEqual([
      ["GET", PRIVATE_BUILDS.path, 401],
      ["GET", PRIVATE_BUILDS.path, 401],
    ]);
  });
});
