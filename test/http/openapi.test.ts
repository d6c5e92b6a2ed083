// docs/openapi.json against the OpenAPI 3.1 specification and against the Express app: every
// documented operation is routed, every route is documented, and real responses have the
// documented shapes. Also keeps the reason-code table in docs/policy.md and the variable list
// in docs/configuration.md in step with the code they describe.
import { readFileSync, readdirSync } from "node:fs";
import { validate, compileErrors } from "@readme/openapi-parser";
import request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, bearer, buildWorld, type World } from "./fixture.js";
import type { Dispatcher } from "../../src/http/dispatcher.js";

const read = (relative: string): string => readFileSync(new URL(`../../${relative}`, import.meta.url), "utf8");

type Json = Record<string, unknown>;
interface Operation {
  operationId?: string;
  tags?: string[];
  summary?: string;
  parameters?: Array<{ name: string; in: string; required?: boolean }>;
  requestBody?: { content: Record<string, { schema: Json }> };
  responses?: Record<string, unknown>;
}
interface SchemaObject {
  type?: string | string[];
  required?: string[];
  properties?: Record<string, unknown>;
  additionalProperties?: unknown;
  enum?: unknown[];
  allOf?: Json[];
}

const RAW = read("docs/openapi.json");
const doc = JSON.parse(RAW) as { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, SchemaObject> } };
const METHODS = ["get", "put", "post", "delete", "patch"] as const;
const schemas = doc.components.schemas;
const schema = (name: string): SchemaObject => {
  const found = schemas[name];
  if (!found) throw new Error(`docs/openapi.json has no schema ${name}`);
  return found;
};

/** Every operation in the document as [path, method, operation]. */
const operations: Array<[string, (typeof METHODS)[number], Operation]> = Object.entries(doc.paths).flatMap(([path, item]) =>
  METHODS.filter((m) => item[m]).map((m) => [path, m, item[m]!] as [string, (typeof METHODS)[number], Operation]),
);

let world: World;
beforeAll(async () => {
  // With discovery configured, so that the MCP endpoints' RFC 9728 metadata is served.
  // Tollgate is one of them: its own authorization server (docs/oauth.md) is served too.
  // An oauth upstream named as the probes name path parameters: its connect routes are served.
  world = await buildWorld({
    TOLLGATE_PUBLIC_URL: "https://tollgate.example.com",
    TOLLGATE_MCP_AUTHORIZATION_SERVERS: "https://as.example.com,https://tollgate.example.com",
    TOLLGATE_UPSTREAMS: JSON.stringify([{ name: "doc-probe", prefix: "/api/v1/doc-probe/", url: "http://127.0.0.1:9/", auth: "oauth" }]),
  });
});

const admin = `Bearer ${ADMIN_TOKEN}`;
const isAdmin = (path: string): boolean => path.startsWith("/v1/admin");
/** Under /api/ the gateway decides first; Tollgate's own routes there are for sessions. */
const isGateway = (path: string): boolean => path.startsWith("/api/");

/**
 * A request to the app with a credential that gets past the guard in front of the route: the
 * admin token on admin paths, bob's session under /api/.
 */
async function call(method: (typeof METHODS)[number], path: string, body?: object) {
  let req = request(world.tollgate.app)[method](path);
  if (isAdmin(path)) req = req.set("Authorization", admin);
  if (isGateway(path)) req = req.set("Authorization", bearer(await world.session("bob")));
  return body === undefined ? req : req.send(body);
}

const isUnrouted = (res: request.Response): boolean => res.status === 404 && res.body?.error?.code === "not_found" && res.body?.error?.message === "no such endpoint";

describe("docs/openapi.json is a valid OpenAPI 3.1 document", () => {
  it("passes the OpenAPI 3.1 schema and the parser's reference and parameter checks", async () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    // validate() dereferences in place; give it a copy.
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid, result.valid ? "" : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
  });

  it("gives every operation a unique operationId, a tag, a summary and its responses", () => {
    const ids = operations.map(([, , op]) => op.operationId);
    expect(ids.every((id) => typeof id === "string" && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [path, method, op] of operations) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(op.tags?.length, where).toBeGreaterThan(0);
      expect(op.summary, where).toBeTruthy();
      const statuses = Object.keys(op.responses ?? {});
      expect(statuses.length, where).toBeGreaterThan(0);
      for (const status of statuses) expect(status, where).toMatch(/^[1-5]\d\d$/);
    }
  });

  it("marks every strict request body with additionalProperties: false", () => {
    // The bodies the service parses with .strict(): an unknown field is a 400.
    for (const name of ["AuthorizeRequest", "UserUpdate", "ProjectUpdate", "CollaboratorUpdate", "TokenCreate", "GrantCreate"]) {
      expect(schema(name).additionalProperties, name).toBe(false);
    }
    // The Data API body is deliberately lenient: OPA clients may send more than `input`.
    expect(schema("DataApiRequest").additionalProperties).toBeUndefined();
  });

  it("is served at /openapi.json exactly as in docs/", async () => {
    const res = await request(world.tollgate.app).get("/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.text).toBe(RAW);
  });
});

describe("docs/openapi.json and the Express app agree", () => {
  it.each(operations.map(([path, method, op]) => [`${method.toUpperCase()} ${path}`, path, method, op] as const))(
    "%s is routed, and answers a probe with a documented status",
    async (_name, path, method, op) => {
      const concrete = path.replace(/\{[^}]+\}/g, "doc-probe");
      const res = await call(method, concrete, op.requestBody ? {} : undefined);
      expect(isUnrouted(res), `${method.toUpperCase()} ${concrete}: ${res.status} ${res.text}`).toBe(false);
      expect(Object.keys(op.responses ?? {}), `${method.toUpperCase()} ${concrete} answered ${res.status} ${res.text}`).toContain(String(res.status));
    },
  );

  it("documents every route the app serves", () => {
    const served = new Set(routesOf(world.tollgate.app).map(([method, path]) => `${method} ${path}`));
    const documented = new Set(operations.map(([path, method]) => `${method} ${path}`));
    expect([...served].filter((r) => !documented.has(r)), "served but not in docs/openapi.json").toEqual([]);
    expect([...documented].filter((r) => !served.has(r)), "in docs/openapi.json but not served").toEqual([]);
  });

  it("answers the methods a documented path does not list with the JSON 404", async () => {
    // Under /api/ the gateway answers every method: the policy's route table decides there.
    // Under /v1/data/ GET and POST answer every path (/v1/data/{path}), as OPA does.
    const dataApi = (path: string, method: string): boolean => path.startsWith("/v1/data/") && (method === "get" || method === "post");
    for (const [path, item] of Object.entries(doc.paths).filter(([p]) => !isGateway(p))) {
      const concrete = path.replace(/\{[^}]+\}/g, "doc-probe");
      for (const method of METHODS.filter((m) => !item[m] && !dataApi(path, m))) {
        const res = await call(method, concrete, method === "get" || method === "delete" ? undefined : {});
        expect(isUnrouted(res), `${method.toUpperCase()} ${concrete}: ${res.status} ${res.text}`).toBe(true);
      }
    }
  });
});

describe("real responses have the documented shapes", () => {
  const keysOf = (value: unknown): string[] => Object.keys(value as object).sort();
  const requiredOf = (name: string): string[] => [...(schema(name).required ?? [])].sort();
  const reasonCodes = (): unknown[] => schema("ReasonCode").enum ?? [];

  it("decisions, from both decision endpoints", async () => {
    const jwt = await world.session("bob");
    const allowed = await request(world.tollgate.app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(jwt) });
    const denied = await request(world.tollgate.app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/secrets", authorization: bearer(world.tokens.bobGlobal) });
    const data = await request(world.tollgate.app).post("/v1/data/tollgate/authz/decision").send({ input: { method: "GET", path: "/api/v1/projects/pub/builds" } });
    expect(keysOf(data.body)).toEqual(requiredOf("DataApiResponse"));
    for (const decision of [allowed.body, denied.body, data.body.result]) {
      expect(keysOf(decision)).toEqual(requiredOf("Decision"));
      expect(keysOf(decision)).toEqual(keysOf(schema("Decision").properties));
      for (const reason of decision.reasons) expect(reasonCodes()).toContain(reason);
    }
    expect(keysOf(allowed.body.subject)).toEqual(requiredOf("Subject"));
    expect(keysOf(allowed.body.rate_limit)).toEqual(requiredOf("RateLimitState"));
    expect(denied.body.reasons).toEqual(["sensitive_endpoint"]);
  });

  it("forward-auth denials and service errors", async () => {
    const denial = await request(world.tollgate.app).get("/v1/forward-auth").set("X-Original-Method", "GET").set("X-Original-URI", "/api/v1/projects/priv/builds");
    expect(denial.status).toBe(401);
    expect(keysOf(denial.body)).toEqual(requiredOf("Denial"));
    expect(keysOf(denial.body.error)).toEqual(["code", "message", "reasons"]);
    const errors = [
      await request(world.tollgate.app).post("/v1/authorize").send({ method: "GET" }),
      await request(world.tollgate.app).post("/v1/authorize").send({ method: "GET", path: "/x", extra: 1 }),
      await request(world.tollgate.app).get("/v1/forward-auth"),
      await request(world.tollgate.app).put("/v1/admin/users/zed").send({ role: "user" }),
    ];
    for (const res of errors) {
      expect(keysOf(res.body)).toEqual(["error"]);
      expect(["code", "field", "message"]).toEqual(expect.arrayContaining(keysOf(res.body.error)));
      expect(keysOf(res.body.error)).toEqual(expect.arrayContaining(["code", "message"]));
    }
  });

  it("token views, with the secret only when issued", async () => {
    const issued = await call("post", "/v1/admin/tokens", { type: "mcp", user_id: "bob", grants: [{ project_id: "priv", allow_trigger: true }] });
    expect(issued.status).toBe(201);
    const view = requiredOf("TokenView");
    expect(keysOf(issued.body)).toEqual([...view, "token"].sort());
    expect(issued.body.token).toMatch(/^tg_(glb|prj|mcp)_[0-9A-Za-z]{49}$/);
    expect(keysOf(issued.body.grants[0])).toEqual(requiredOf("Grant"));
    const shown = await call("get", `/v1/admin/tokens/${issued.body.id}`);
    expect(keysOf(shown.body)).toEqual(view);
    const revoked = await call("delete", `/v1/admin/tokens/${issued.body.id}`);
    expect(keysOf(revoked.body)).toEqual(view);
  });

  it("admin directory answers and operations endpoints", async () => {
    expect(keysOf((await call("put", "/v1/admin/users/zed", { role: "viewer" })).body)).toEqual(requiredOf("User"));
    expect(keysOf((await call("put", "/v1/admin/projects/docs-p", { public: true })).body)).toEqual(requiredOf("Project"));
    expect(keysOf((await call("put", "/v1/admin/projects/docs-p/collaborators/zed", { role: "Owner" })).body)).toEqual(requiredOf("Collaborator"));
    expect(keysOf((await call("get", "/healthz")).body)).toEqual(requiredOf("Health"));
    expect(keysOf((await call("get", "/readyz")).body)).toEqual(requiredOf("Readiness"));
  });
});

describe("gateway and audit answers have the documented shapes", () => {
  const keysOf = (value: unknown): string[] => Object.keys(value as object).sort();
  const requiredOf = (name: string): string[] => [...(schema(name).required ?? [])].sort();

  it("a gateway denial, the MCP token self-service and the audit trail", async () => {
    const denied = await request(world.tollgate.app).get("/api/v1/mcp/tokens");
    expect(denied.status).toBe(401);
    expect(keysOf(denied.body)).toEqual(requiredOf("Denial"));
    expect(keysOf(denied.body.error)).toEqual(["code", "message", "reasons"]);
    const list = await call("get", "/api/v1/mcp/tokens");
    expect(keysOf(list.body)).toEqual(requiredOf("TokenList"));
    for (const token of list.body.tokens) expect(keysOf(token)).toEqual(requiredOf("TokenView"));
    const temp = await call("post", "/api/v1/mcp/tokens/temp");
    expect(temp.status).toBe(201);
    expect(keysOf(temp.body)).toEqual(requiredOf("TempToken"));
    const audit = await call("get", "/v1/admin/audit?limit=5");
    expect(keysOf(audit.body)).toEqual(requiredOf("AuditPage"));
    expect(audit.body.records.length).toBeGreaterThan(0);
    for (const record of audit.body.records) expect(keysOf(record)).toEqual(requiredOf("AuditRecord"));
  });
});

describe("the docs list every reason code and every setting", () => {
  const documented = new Set(schema("ReasonCode").enum as string[]);

  it("ReasonCode lists every reason the policy, the engine and the service emit", () => {
    const emitted = new Set<string>();
    // Reasons pinned down by the shared decision cases.
    const { cases } = JSON.parse(read("test/policy/decision_cases/cases.json")) as { cases: Array<{ expect: { reasons?: string[] } }> };
    for (const c of cases) for (const reason of c.expect.reasons ?? []) emitted.add(reason);
    // Reasons written in the authz policy: `... contains "code"`, `"reasons": {"code"}` and the status map.
    for (const file of readdirSync(new URL("../../policies/tollgate/authz/", import.meta.url))) {
      const rego = read(`policies/tollgate/authz/${file}`);
      for (const m of rego.matchAll(/denials contains "([a-z_]+)"/g)) emitted.add(m[1]!);
      for (const m of rego.matchAll(/"reasons": \{"([a-z_]+)"\}/g)) emitted.add(m[1]!);
      const statusMap = /_status_denials := \{([^}]*)\}/.exec(rego)?.[1];
      for (const m of statusMap?.matchAll(/: "([a-z_]+)"/g) ?? []) emitted.add(m[1]!);
    }
    // The engine's own denials and the service's.
    for (const m of read("src/policy/engine.ts").matchAll(/engineDeny\(\d+, "([a-z_]+)"\)/g)) emitted.add(m[1]!);
    for (const m of read("src/decision/service.ts").matchAll(/reasons: \["([a-z_]+)"\]/g)) emitted.add(m[1]!);
    expect(emitted.size).toBeGreaterThan(15);
    expect([...emitted].filter((r) => !documented.has(r)).sort(), "emitted but not in ReasonCode").toEqual([]);
  });

  it("docs/policy.md has a row with a status for every reason code, matching the engine's statuses", () => {
    const policyMd = read("docs/policy.md");
    const rows = new Map([...policyMd.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]));
    expect([...documented].filter((code) => !rows.has(code)), "codes without a row in docs/policy.md").toEqual([]);
    for (const m of read("src/policy/engine.ts").matchAll(/engineDeny\((\d+), "([a-z_]+)"\)/g)) expect(rows.get(m[2]!), m[2]).toBe(Number(m[1]));
    expect(rows.get("backend_unavailable")).toBe(503);
  });

  it("docs/configuration.md describes every environment variable the service reads", () => {
    const source = read("src/config/config.ts") + read("src/log.ts");
    const names = new Set([...source.matchAll(/(?:get\(|env\.)"?([A-Z][A-Z0-9_]+)"?/g)].map((m) => m[1]!));
    for (const m of source.matchAll(/integer\("([A-Z][A-Z0-9_]+)"/g)) names.add(m[1]!);
    expect(names.size).toBeGreaterThan(15);
    const configurationMd = read("docs/configuration.md");
    expect([...names].filter((name) => !configurationMd.includes(`\`${name}\``)).sort(), "not in docs/configuration.md").toEqual([]);
  });
});

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  slash?: boolean;
  rawPath?: unknown;
}

/**
 * [method, OpenAPI path] of every route a listener serves: the dispatcher's own hot routes, and
 * every route of the Express 5 apps behind it, nested routers included.
 */
function routesOf(listener: Dispatcher): Array<[string, string]> {
  const out: Array<[string, string]> = listener.hotRoutes.map(([method, path]) => [method, path]);
  const walk = (stack: Layer[], prefix: string): void => {
    for (const layer of stack) {
      if (layer.route) {
        // ":id" and "*rest" are {id} and {rest}; an optional "{/*rest}" is documented as "/{rest}".
        const path = `${prefix}${layer.route.path}`.replace(/\{\/\*([A-Za-z0-9_]+)\}/g, "/{$1}").replace(/[:*]([A-Za-z0-9_]+)/g, "{$1}");
        for (const [method, on] of Object.entries(layer.route.methods)) {
          // router.all serves every method: each must be documented.
          if (on) out.push(...(method === "_all" ? METHODS.map((m) => [m, path] as [string, string]) : [[method, path] as [string, string]]));
        }
      } else if (layer.handle.stack) {
        // A router mounted with app.use(router) or app.use("/prefix", router).
        if (layer.slash) walk(layer.handle.stack, prefix);
        else if (typeof layer.rawPath === "string" && !/[:*(]/.test(layer.rawPath)) walk(layer.handle.stack, `${prefix}${layer.rawPath.replace(/\/$/, "")}`);
        else throw new Error(`a router is mounted at ${String(layer.rawPath)}; teach routesOf() about that mount path`);
      }
    }
  };
  for (const app of listener.apps) walk((app as unknown as { router: { stack: Layer[] } }).router.stack, "");
  return out;
}
