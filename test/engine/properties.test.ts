import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PolicyEngine } from "../../src/policy/engine.js";
import type { CollaboratorRole, GrantFact, PolicyInput, SubjectFact } from "../../src/policy/types.js";

// Invariants that must hold for every input, checked through the shipped WASM. The oracles
// below restate the rules from the issue independently of the Rego that implements them.
const engine = PolicyEngine.load("wasm");
const NOW = 1_800_000_000;
const ROLE_RANK: Record<CollaboratorRole, number> = { Developer: 1, Administrator: 2, Owner: 3 };

const projectId = fc.constantFrom("p1", "p2");
const resource = fc.constantFrom(
  "", "/builds", "/builds/b1", "/builds/b1/2", "/builds/b1/restart", "/builds/b1/abort", "/builds/b1/cache/clear",
  "/builds/b1/jobs", "/jobs", "/jobs/j1", "/jobs/j1/console", "/jobs/j1/output", "/jobs/j1/restart", "/jobs/j1/rerun",
  "/jobs/j1/abort", "/jobs/j1/cache/clear", "/jobs/j1/logs", "/jobs/j1/artifacts", "/jobs/j1/tests/history",
  "/secrets", "/secrets/s1", "/sshkeys", "/tokens", "/tokens/t1", "/vault", "/collaborators", "/collaborators/u2",
  "/cronjobs", "/cronjobs/c1", "/visibility", "/trigger", "/upload", "/commits/abc",
);
const junk = fc.constantFrom("..", ".", "%2e%2e", "%2F", "%2f", "%5C", "%00", "a\\b", "", "%zz", "build%73", "x?y=1", "#frag");
const structuredPath = fc.oneof(
  fc.tuple(projectId, resource).map(([p, r]) => `/api/v1/projects/${p}${r}`),
  fc.tuple(projectId, resource).map(([p, r]) => `/api/v1/mcp/projects/${p}${r}`),
  fc.constantFrom(
    "/api/v1/projects", "/api/v1/mcp/projects", "/api/v1/user", "/api/v1/admin/users", "/api/v1/admin/users/u2",
    "/api/v1/admin/projects", "/api/v1/mcp/tokens", "/api/v1/mcp/tokens/t1", "/api/v1/mcp/tokens/temp",
    "/api/v1/mcp/tokens/exchange", "/api/v1/mcp/tokens/t1/audit",
  ),
);
// Structured paths with one segment replaced or inserted, to probe path confusion.
const confusedPath = fc.tuple(structuredPath, junk, fc.nat()).map(([path, bad, n]) => {
  const segments = path.split("/");
  const at = 1 + (n % segments.length);
  segments.splice(at, n % 2, bad);
  return segments.join("/");
});
const path = fc.oneof({ weight: 4, arbitrary: structuredPath }, { weight: 1, arbitrary: confusedPath });
const method = fc.oneof(
  { weight: 6, arbitrary: fc.constant("GET") },
  { weight: 3, arbitrary: fc.constantFrom("POST", "PUT", "PATCH", "DELETE") },
  { weight: 1, arbitrary: fc.constantFrom("HEAD", "get", "OPTIONS") },
);

const expiry = fc.oneof(fc.constant(null), fc.integer({ min: NOW - 1000, max: NOW + 1000 }));
const scopes = fc.subarray(["read", "write"] as const);
const systemRole = fc.constantFrom("viewer", "user", "admin" as const);
const grant: fc.Arbitrary<GrantFact> = fc.record({ project_id: projectId, expires_at: expiry, allow_trigger: fc.boolean() });
const subject: fc.Arbitrary<SubjectFact> = fc.oneof(
  fc.record({ type: fc.constant("user" as const), user_id: fc.constant("u1"), system_role: systemRole }),
  fc.record({
    type: fc.constant("global_token" as const), token_id: fc.constant("t1"), user_id: fc.constant("u1"),
    system_role: systemRole, scopes, expires_at: expiry,
  }),
  fc.record({
    type: fc.constant("project_token" as const), token_id: fc.constant("t2"), project_id: projectId, scopes, expires_at: expiry,
  }),
  fc.record({
    type: fc.constant("mcp_token" as const), token_id: fc.constant("t3"), user_id: fc.constant("u1"),
    system_role: systemRole, grants: fc.array(grant, { maxLength: 3 }), expires_at: expiry,
  }),
);
const input: fc.Arbitrary<PolicyInput> = fc.record({
  method,
  path,
  now: fc.constant(NOW),
  credential: fc.record({ status: fc.constantFrom("valid", "valid", "valid", "valid", "valid", "none", "invalid", "expired", "revoked" as const) }),
  subject,
  project: fc.record({
    id: projectId,
    public: fc.boolean(),
    collaborator_role: fc.constantFrom<CollaboratorRole | null>(null, "Developer", "Administrator", "Owner"),
  }),
  rate_limit: fc.record({ exceeded: fc.constantFrom(false, false, false, true) }),
});

const RUNS = { numRuns: 4000 };

function projectOf(p: string): string | undefined {
  return /^\/api\/v1\/(?:mcp\/)?projects\/([^/?]+)/.exec(p)?.[1];
}

/** Independent statement of which routes are sensitive (from the issue, not from the Rego). */
function isSensitive(m: string, p: string): boolean {
  const rest = p.split("?")[0]!.replace(/^\/api\/v1\/projects\/[^/]+/, "");
  if (p.startsWith("/api/v1/admin")) return true;
  if (!p.startsWith("/api/v1/projects/")) return false;
  if (/^\/(secrets|sshkeys|tokens|vault)(\/|$)/.test(rest)) return true;
  if (m !== "GET" && /^\/(collaborators|cronjobs)(\/|$)/.test(rest)) return true;
  return (rest === "" && m === "DELETE") || (rest === "/visibility" && m !== "GET");
}

function looksInvalid(p: string): boolean {
  const target = p.split("?")[0]!;
  return /(^|\/)\.{1,2}(\/|$)|\/\/|%2e|%2f|%5c|%00|\\|#|%(?![0-9a-f]{2})|\/$/i.test(target) || /%7[0-9a]|%6[1-9a-f]|%73/i.test(target);
}

describe("policy invariants over random subjects, methods and paths (WASM)", () => {
  it("never allows a write without the write scope (tokens) or Developer and up (users' credentials)", () => {
    fc.assert(fc.property(input, (i) => {
      const d = engine.decide(i);
      if (!d.allow || d.access !== "write" || i.credential.status !== "valid") return;
      const s = i.subject!;
      if (s.type === "global_token" || s.type === "project_token") expect(s.scopes).toContain("write");
      if (s.type !== "project_token") {
        expect(s.system_role).not.toBe("viewer");
        if (projectOf(i.path)) expect(ROLE_RANK[i.project!.collaborator_role!] ?? 0).toBeGreaterThanOrEqual(1);
      }
    }), RUNS);
  });

  it("never allows an MCP token outside the /api/v1/mcp data routes", () => {
    fc.assert(fc.property(input, (i) => {
      const d = engine.decide(i);
      if (d.allow && i.credential.status === "valid" && i.subject?.type === "mcp_token") {
        expect(i.path.startsWith("/api/v1/mcp/")).toBe(true);
        expect(i.path.startsWith("/api/v1/mcp/tokens")).toBe(false);
      }
    }), RUNS);
  });

  it("never allows any token on a sensitive route", () => {
    fc.assert(fc.property(input, (i) => {
      const d = engine.decide(i);
      if (d.allow && i.credential.status === "valid" && i.subject?.type !== "user") {
        expect(isSensitive(i.method, i.path)).toBe(false);
      }
    }), RUNS);
  });

  it("never allows an invalid path or an unknown route", () => {
    fc.assert(fc.property(input, (i) => {
      const d = engine.decide(i);
      if (looksInvalid(i.path)) expect(d.allow).toBe(false);
      if (d.allow) expect(d.route).not.toBeNull();
      if (d.route === null) expect(d.allow).toBe(false);
    }), RUNS);
  });

  it("never allows an MCP token through a grant that has expired", () => {
    fc.assert(fc.property(input, (i) => {
      const d = engine.decide(i);
      const s = i.subject!;
      const project = projectOf(i.path);
      if (d.allow && s.type === "mcp_token" && project && i.credential.status === "valid") {
        const live = s.grants.filter((g) => g.project_id === project && (g.expires_at == null || g.expires_at > NOW));
        expect(live.length).toBeGreaterThan(0);
      }
    }), RUNS);
  });

  it("never allows a request whose credential is bad, and never turns a bad token into anonymous access", () => {
    fc.assert(fc.property(input, (i) => {
      const d = engine.decide(i);
      if (["invalid", "expired", "revoked"].includes(i.credential.status) && d.route !== null) {
        expect(d.allow).toBe(false);
        expect(d.status).toBe(401);
      }
    }), RUNS);
  });
});

describe("the generators reach allowed requests (so the invariants above are not vacuous)", () => {
  it("produces allowed reads and writes for every subject type", () => {
    const seen = new Set<string>();
    for (const i of fc.sample(input, { numRuns: 15000, seed: 42 })) {
      const d = engine.decide(i);
      if (d.allow && i.credential.status === "valid") seen.add(`${i.subject!.type}:${d.access}`);
    }
    expect([...seen].sort()).toEqual([
      "global_token:read", "global_token:write", "mcp_token:read", "mcp_token:write",
      "project_token:read", "project_token:write", "user:read", "user:write",
    ]);
  });
});
