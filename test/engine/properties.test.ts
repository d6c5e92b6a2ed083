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
// Project resources, each with the method it is normally called with.
const resource = fc.constantFrom(
  ["GET", ""], ["DELETE", ""], ["GET", "/builds"], ["GET", "/builds/b1"], ["GET", "/builds/b1/2"],
  ["GET", "/builds/b1/restart"], ["GET", "/builds/b1/abort"], ["GET", "/builds/b1/cache/clear"], ["GET", "/builds/b1/jobs"],
  ["GET", "/jobs"], ["GET", "/jobs/j1"], ["GET", "/jobs/j1/console"], ["GET", "/jobs/j1/output"], ["GET", "/jobs/j1/restart"],
  ["GET", "/jobs/j1/rerun"], ["GET", "/jobs/j1/abort"], ["GET", "/jobs/j1/cache/clear"], ["GET", "/jobs/j1/logs"],
  ["GET", "/jobs/j1/artifacts"], ["GET", "/jobs/j1/tests/history"], ["GET", "/secrets"], ["POST", "/secrets"],
  ["DELETE", "/secrets/s1"], ["GET", "/sshkeys"], ["GET", "/tokens"], ["DELETE", "/tokens/t1"], ["POST", "/vault"],
  ["GET", "/collaborators"], ["PUT", "/collaborators/u2"], ["POST", "/cronjobs"], ["DELETE", "/cronjobs/c1"],
  ["POST", "/visibility"], ["POST", "/trigger"], ["POST", "/upload"], ["GET", "/commits/abc"],
);
const fixedRoute = fc.constantFrom(
  ["GET", "/api/v1/projects"], ["POST", "/api/v1/projects"], ["GET", "/api/v1/mcp/projects"], ["GET", "/api/v1/user"],
  ["GET", "/api/v1/admin/users"], ["PUT", "/api/v1/admin/users/u2"], ["GET", "/api/v1/admin/projects"],
  ["GET", "/api/v1/mcp/tokens"], ["POST", "/api/v1/mcp/tokens"], ["DELETE", "/api/v1/mcp/tokens/t1"],
  ["POST", "/api/v1/mcp/tokens/temp"], ["POST", "/api/v1/mcp/tokens/exchange"], ["GET", "/api/v1/mcp/tokens/t1/audit"],
);
const request = fc.oneof(
  fc.tuple(projectId, resource).map(([p, [m, r]]) => [m, `/api/v1/projects/${p}${r}`] as const),
  fc.tuple(projectId, resource).map(([p, [m, r]]) => [m, `/api/v1/mcp/projects/${p}${r}`] as const),
  fixedRoute.map(([m, p]) => [m, p] as const),
);
const junk = fc.constantFrom("..", ".", "%2e%2e", "%2F", "%2f", "%5C", "%00", "a\\b", "", "%zz", "build%73", "x?y=1", "#frag");
// A path with one segment replaced or inserted, to probe path confusion.
const confuse = (p: string, bad: string, n: number): string => {
  const segments = p.split("/");
  segments.splice(1 + (n % segments.length), n % 2, bad);
  return segments.join("/");
};
const rarely = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
const anyMethod = fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "get", "OPTIONS");
const methodAndPath = fc
  .tuple(request, rarely(anyMethod), rarely(fc.tuple(junk, fc.nat())))
  .map(([[m, p], otherMethod, confusion]) => ({
    method: otherMethod ?? m,
    path: confusion ? confuse(p, ...confusion) : p,
  }));

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
  target: methodAndPath,
  now: fc.constant(NOW),
  credential: fc.record({ status: fc.constantFrom("valid", "valid", "valid", "valid", "valid", "none", "invalid", "expired", "revoked" as const) }),
  subject,
  project: fc.record({
    id: projectId,
    public: fc.boolean(),
    collaborator_role: fc.constantFrom<CollaboratorRole | null>(null, "Developer", "Administrator", "Owner"),
  }),
  rate_limit: fc.record({ exceeded: fc.constantFrom(false, false, false, true) }),
  // Mostly facts about the project the path names; sometimes about another one (must not count).
  factsFollowPath: fc.constantFrom(true, true, true, false),
}).map(({ target, factsFollowPath, project, ...rest }) => ({
  ...target,
  ...rest,
  project: { ...project, id: factsFollowPath ? projectOf(target.path) ?? project.id : project.id },
}));

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
    for (const sampled of fc.sample(input, { numRuns: 5000, seed: 42 })) {
      // An MCP trigger needs a rare conjunction of facts, so each sampled subject also tries one.
      const trigger = { ...sampled, method: "POST", path: "/api/v1/mcp/projects/p1/trigger", project: { ...sampled.project!, id: "p1" } };
      for (const i of [sampled, trigger]) {
        const d = engine.decide(i);
        if (d.allow && i.credential.status === "valid") seen.add(`${i.subject!.type}:${d.access}`);
      }
    }
    expect([...seen].sort()).toEqual([
      "global_token:read", "global_token:write", "mcp_token:read", "mcp_token:write",
      "project_token:read", "project_token:write", "user:read", "user:write",
    ]);
  });
});
