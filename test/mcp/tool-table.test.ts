// The tool table against the shipped WASM and a fixture table (each compiled once): a property
// test over random grants and messages (no call is allowed that the table denies, and the class
// charged is the table's), the start-up check of rate-limit classes, and a reloaded policy that
// names a class without a limit.
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config/config.js";
import { PolicyEngine } from "../../src/policy/engine.js";
import type { CollaboratorRole, PolicyInput, SystemRole } from "../../src/policy/types.js";
import { buildTollgateAt, NOW, bearer } from "../http/fixture.js";
import { send, startGateway, startUpstream, type Upstream } from "../gateway/helpers.js";
import { createHttpServer } from "../../src/http/server.js";
import { listen, stopServer } from "../gateway/helpers.js";
import { compileWithToolTables, shippedToolTables, type Entry, type ToolTables } from "../support/tool-table-policy.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const shipped = shippedToolTables();
/** An operator's table: a deploy tool in its own class, a write resource, one method fewer. */
const fixture: ToolTables = {
  methods: Object.fromEntries(Object.entries(shipped.methods).filter(([m]) => m !== "prompts/get")),
  tools: { ...shipped.tools, deploy: { access: "write", class: "deploy", trigger: true }, read_secret: { access: "read", class: "log", trigger: false } },
  resources: { ...shipped.resources, "ops://projects/{project}/deployments/{deployment}": { access: "write", class: "deploy", trigger: false } },
};
let compiled: { dir: string; remove(): void };

beforeAll(() => {
  compiled = compileWithToolTables(fixture);
}, 120_000);
afterAll(() => compiled?.remove());

// ------------------------------------------------------------------------------ oracle

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The table's entry for a message, read from the tables themselves (undefined: unknown_tool). */
function tableEntry(tables: ToolTables, mcp: { method: string; tool?: string; uri?: string }): Entry | undefined {
  const entry = Object.hasOwn(tables.methods, mcp.method) ? tables.methods[mcp.method] : undefined;
  if (!entry) return undefined;
  if ("by" in entry) {
    if (entry.by === "tool") return mcp.tool !== undefined && Object.hasOwn(tables.tools, mcp.tool) ? tables.tools[mcp.tool] : undefined;
    if (mcp.uri === undefined) return undefined;
    const segments = mcp.uri.split("/");
    for (const [template, e] of Object.entries(tables.resources)) {
      const expected = template.split("/");
      const fits = expected.length === segments.length && expected.every((t, i) => (t === "{project}" ? segments[i] === "p1" : t.startsWith("{") ? ID.test(segments[i]!) : t === segments[i]));
      if (fits) return e;
    }
    return undefined;
  }
  return entry;
}

const RANK: Record<string, number> = { Developer: 1, Administrator: 2, Owner: 3 };

/** Whether the table and grant could allow the message at all: the most any policy may allow. */
function mayAllow(tables: ToolTables, input: PolicyInput): boolean {
  const entry = tableEntry(tables, input.mcp!);
  const subject = input.subject as Extract<PolicyInput["subject"], { type: "mcp_token" }>;
  const role = input.project?.collaborator_role ?? null;
  const live = subject.grants.filter((g) => g.project_id === "p1" && (g.expires_at == null || g.expires_at > NOW));
  if (!entry || live.length === 0 || role === null) return false;
  if (entry.trigger && !live.some((g) => g.allow_trigger)) return false;
  if (entry.access === "write" && (RANK[role]! < 1 || subject.system_role === "viewer")) return false;
  return true;
}

// ------------------------------------------------------------------------------ generators

function messages(tables: ToolTables) {
  const methods = [...Object.keys(tables.methods), "tools/delete", "prompts/get", "Tools/call", "rpc.discover"];
  const tools = [...Object.keys(tables.tools), ...Object.keys(fixture.tools), "drop_tables", "LIST_BUILDS"];
  const segment = fc.constantFrom("p1", "p2", "b1", "j1", "..", ".", "%2e", "b%31", "", "B1", "x?y", "x#y", "logs", "builds", "deployments", "d1");
  const uri = fc.oneof(
    fc.constantFrom(...Object.keys(tables.resources), ...Object.keys(fixture.resources)).chain((template) =>
      fc.tuple(...template.split("/").map((t) => (t.startsWith("{") ? segment : fc.oneof(fc.constant(t), segment)))).map((parts) => parts.join("/")),
    ),
    fc.string(),
  );
  return fc.record(
    {
      method: fc.oneof(fc.constantFrom(...methods), fc.constantFrom("tools/call", "resources/read")),
      tool: fc.constantFrom(...tools),
      uri,
    },
    { requiredKeys: ["method"] },
  );
}

const grant = fc.record({
  project_id: fc.constantFrom("p1", "p2"),
  allow_trigger: fc.boolean(),
  expires_at: fc.constantFrom(null, NOW - 10, NOW + 3600),
});

const inputs = (tables: ToolTables) =>
  fc
    .record({
      mcp: messages(tables),
      grants: fc.array(grant, { maxLength: 3 }),
      role: fc.constantFrom<CollaboratorRole | null>(null, "Developer", "Administrator", "Owner"),
      systemRole: fc.constantFrom<SystemRole>("viewer", "user", "admin"),
    })
    .map(
      ({ mcp, grants, role, systemRole }): PolicyInput => ({
        method: "POST",
        path: "/api/v1/mcp/projects/p1/mcp",
        now: NOW,
        credential: { status: "valid" },
        subject: { type: "mcp_token", token_id: "m1", user_id: "u1", system_role: systemRole, grants },
        project: { id: "p1", public: false, collaborator_role: role },
        grant_roles: { p1: role, p2: role },
        mcp,
      }),
    );

describe.each([
  ["the shipped table", () => `${REPO_ROOT}wasm`, shipped],
  ["a fixture table", () => compiled.dir, fixture],
] as const)("%s", (_, dir, tables) => {
  it("allows no call the table denies, and charges the table's class", () => {
    const engine = PolicyEngine.load(dir());
    const seen = { allowed: 0, unknown: 0, trigger_not_allowed: 0 };
    fc.assert(
      fc.property(inputs(tables), (input) => {
        const decision = engine.decide(input);
        if (decision.allow) seen.allowed++;
        if (decision.reasons.includes("unknown_tool")) seen.unknown++;
        if (decision.reasons.includes("trigger_not_allowed")) seen.trigger_not_allowed++;
        if (decision.allow) expect(mayAllow(tables, input), JSON.stringify(input)).toBe(true);
        const entry = tableEntry(tables, input.mcp!);
        if (!entry) expect(decision.reasons).toEqual(["unknown_tool"]);
        else expect(decision.rate_limit_class).toBe(entry.class);
      }),
      { numRuns: 3000 },
    );
    // The runs were not vacuous: each kind of outcome came up.
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(10);
  });

  it("allows every call the table and a full grant allow", () => {
    const engine = PolicyEngine.load(dir());
    const full: PolicyInput = {
      method: "POST",
      path: "/api/v1/mcp/projects/p1/mcp",
      now: NOW,
      credential: { status: "valid" },
      subject: { type: "mcp_token", token_id: "m1", user_id: "u1", system_role: "user", grants: [{ project_id: "p1", allow_trigger: true }] },
      project: { id: "p1", public: false, collaborator_role: "Developer" },
      grant_roles: { p1: "Developer" },
    };
    for (const tool of Object.keys(tables.tools)) expect(engine.decide({ ...full, mcp: { method: "tools/call", tool } }).allow, tool).toBe(true);
    for (const method of Object.keys(tables.methods).filter((m) => !["tools/call", "resources/read"].includes(m))) {
      expect(engine.decide({ ...full, mcp: { method } }).allow, method).toBe(true);
    }
  });
});

// ------------------------------------------------------------------------------ classes and limits

describe("rate-limit classes", () => {
  it("names the classes of its table", () => {
    expect(PolicyEngine.load(compiled.dir).mcpRateLimitClasses()).toEqual(["default", "deploy", "log", "trigger"]);
  });

  it("refuses to start when a class of the tool table has no limit, or a limit names no class", () => {
    expect(() => buildTollgateAt(NOW, { TOLLGATE_POLICY_DIR: compiled.dir })).toThrow(ConfigError);
    expect(() => buildTollgateAt(NOW, { TOLLGATE_POLICY_DIR: compiled.dir })).toThrow(/"deploy".*TOLLGATE_RATE_LIMITS\.mcp/);
    expect(() => buildTollgateAt(NOW, { TOLLGATE_RATE_LIMITS: '{"mcp":{"triggr":2}}' })).toThrow(/TOLLGATE_RATE_LIMITS\.mcp\.triggr/);
    const started = buildTollgateAt(NOW, { TOLLGATE_POLICY_DIR: compiled.dir, TOLLGATE_RATE_LIMITS: '{"mcp":{"deploy":2}}' });
    void started.close();
  });

  describe("through the gateway", () => {
    let upstream: Upstream;
    beforeAll(async () => {
      upstream = await startUpstream();
    });
    afterAll(() => upstream?.close());

    it("charges an operator's class, and denies with policy_error once a reloaded policy names a class without a limit", async () => {
      const call = (tool: string) => JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: tool } });
      const headers = (token: string) => ({ authorization: bearer(token), "content-type": "application/json" });

      const withDeploy = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_POLICY_DIR: compiled.dir, TOLLGATE_RATE_LIMITS: '{"mcp":{"deploy":1}}' });
      try {
        const token = withDeploy.world.tokens.bobMcp;
        const first = await send(withDeploy.url, "/api/v1/mcp/projects/priv/mcp", { method: "POST", headers: headers(token), body: call("deploy") });
        expect(first.status).toBe(200);
        expect(first.headers["ratelimit-policy"]).toBe('"deploy";q=1;w=60');
        expect((await send(withDeploy.url, "/api/v1/mcp/projects/priv/mcp", { method: "POST", headers: headers(token), body: call("deploy") })).status).toBe(429);
      } finally {
        await withDeploy.close();
      }

      // Started on the shipped policy; the fixture arrives by hot reload.
      const dir = mkdtempSync(join(tmpdir(), "tollgate-reload-"));
      copyFileSync(`${REPO_ROOT}wasm/policy.wasm`, join(dir, "policy.wasm"));
      const tollgate = buildTollgateAt(NOW, { TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_POLICY_DIR: dir });
      const server = createHttpServer(tollgate.app, tollgate.config);
      try {
        const url = await listen(server);
        const dirStore = tollgate.facts.directoryStore;
        await dirStore.putUser({ id: "bob", system_role: "user" });
        await dirStore.putProject({ id: "priv", name: "Private", public: false });
        await dirStore.setCollaborator("priv", "bob", "Developer");
        const { token } = await tollgate.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv", allow_trigger: true }] });
        copyFileSync(join(compiled.dir, "policy.wasm"), join(dir, "policy.wasm"));
        expect(tollgate.engine.reload()).toBe(true);
        const refused = await send(url, "/api/v1/mcp/projects/priv/mcp", { method: "POST", headers: headers(token), body: call("deploy") });
        expect(refused.status).toBe(500);
        expect(JSON.parse(refused.body)).toMatchObject({ error: { code: -32000, data: { reasons: ["policy_error"] } } });
        // Classes with a limit still work.
        expect((await send(url, "/api/v1/mcp/projects/priv/mcp", { method: "POST", headers: headers(token), body: call("list_builds") })).status).toBe(200);
      } finally {
        await stopServer(server);
        await tollgate.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
