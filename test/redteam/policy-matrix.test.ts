import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { PolicyEngine } from "../../src/policy/engine.js";
import type { CollaboratorRole, GrantFact, PolicyInput, ProjectFact, SubjectFact } from "../../src/policy/types.js";

// Every route of the table, as spelled, for every kind of caller and every role and visibility
// of the project, through the shipped WASM. The oracle restates docs/policy.md ("The rules, per
// caller" and the reason-code table), not the Rego: a rewrite of the policy's route lookup must
// keep every one of these decisions.
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const OPA = process.env.OPA_BIN || `${REPO_ROOT}.tools/bin/opa`;
const NOW = 1_800_000_000;
const engine = PolicyEngine.load(`${REPO_ROOT}wasm`);

type Spec = { access: "read" | "write"; class: string; sensitive: boolean; owner_only?: boolean; anonymous?: boolean };
const routeTable = JSON.parse(
  execFileSync(OPA, ["eval", "--format", "raw", "--data", `${REPO_ROOT}policies`, "json.marshal(data.tollgate.authz.route_table)"], { encoding: "utf8" }),
) as Record<string, Record<string, Spec>>;

const RANK: Record<CollaboratorRole, number> = { Developer: 1, Administrator: 2, Owner: 3 };
const AREAS: Record<SubjectFact["type"], string[]> = {
  user: ["projects", "user", "admin", "mcp_tokens"],
  global_token: ["projects"],
  project_token: ["projects"],
  mcp_token: ["mcp"],
};

function area(pattern: string): string {
  const roots: Array<[string, string]> = [["/api/v1/mcp/tokens", "mcp_tokens"], ["/api/v1/mcp", "mcp"], ["/api/v1/admin", "admin"], ["/api/v1/projects", "projects"]];
  return roots.find(([root]) => pattern === root || pattern.startsWith(`${root}/`))?.[1] ?? "user";
}

const live = (g: GrantFact): boolean => g.expires_at === null || g.expires_at === undefined || g.expires_at > NOW;

/** [status, reasons] as docs/policy.md states them, for a route spelled exactly. */
function expected(pattern: string, spec: Spec, subject: SubjectFact | null, project: ProjectFact | null, grantRoles: Record<string, CollaboratorRole | null>): [number, string[]] {
  const namespace = area(pattern);
  const onProject = pattern.includes("{project}");
  const role = project?.collaborator_role ?? null;
  const member = role !== null && role in RANK;
  const publicRead = namespace === "projects" && spec.access === "read" && !spec.sensitive && project?.public === true;
  if (!subject) return spec.anonymous || publicRead ? [200, []] : [401, ["missing_token"]];
  if ("expires_at" in subject && typeof subject.expires_at === "number" && subject.expires_at <= NOW) return [401, ["expired_token"]];
  const token = subject.type === "global_token" || subject.type === "project_token";
  if (token && spec.sensitive) return [403, ["sensitive_endpoint"]];
  if (!AREAS[subject.type].includes(namespace)) return [403, ["token_not_allowed_on_path"]];
  const denials = new Set<string>();
  const write = spec.access === "write";
  const systemRole = "system_role" in subject ? subject.system_role : null;
  if (write && systemRole === "viewer") denials.add("insufficient_role");
  if (token && !(subject.scopes as string[]).includes(spec.access)) denials.add("insufficient_scope");
  if (subject.type === "user" && namespace === "admin" && systemRole !== "admin") denials.add("insufficient_role");
  if ((subject.type === "user" || subject.type === "global_token") && onProject && !member && !(subject.type === "user" && publicRead)) denials.add("not_collaborator");
  const needed = [write ? 1 : 0, spec.sensitive ? 2 : 0, spec.owner_only ? 3 : 0];
  if (subject.type !== "project_token" && member && needed.some((n) => RANK[role] < n)) denials.add("insufficient_role");
  if (subject.type === "global_token" && !onProject && !(pattern === "/api/v1/projects" && spec.access === "read")) denials.add("token_not_allowed_on_path");
  if (subject.type === "project_token") {
    if (!onProject) denials.add("token_not_allowed_on_path");
    else if (subject.project_id !== "p1") denials.add("project_mismatch");
  }
  if (subject.type === "mcp_token") {
    if (onProject) {
      const forProject = subject.grants.filter((g) => g.project_id === "p1");
      const liveGrants = forProject.filter(live);
      if (forProject.length === 0) denials.add("grant_missing");
      else if (liveGrants.length === 0) denials.add("grant_expired");
      else if (!member) denials.add("not_collaborator");
      if (spec.class === "trigger" && liveGrants.length > 0 && !liveGrants.some((g) => g.allow_trigger)) denials.add("trigger_not_allowed");
    } else if (!subject.grants.some((g) => live(g) && (grantRoles[g.project_id] ?? null) !== null)) {
      denials.add(subject.grants.length > 0 && !subject.grants.some(live) ? "grant_expired" : "grant_missing");
    }
  }
  return denials.size > 0 ? [403, [...denials].sort()] : [200, []];
}

const user = (system_role: "viewer" | "user" | "admin"): SubjectFact => ({ type: "user", user_id: "u1", system_role });
const grant = (project_id: string, expires_at: number | null, allow_trigger: boolean): GrantFact => ({ project_id, expires_at, allow_trigger });
const mcp = (system_role: "viewer" | "user", grants: GrantFact[]): SubjectFact => ({ type: "mcp_token", token_id: "m1", user_id: "u1", system_role, grants, expires_at: null });
const subjects: Array<[string, SubjectFact | null]> = [
  ["anonymous", null],
  ...(["viewer", "user", "admin"] as const).map((r): [string, SubjectFact] => [`${r} session`, user(r)]),
  ...(["viewer", "user"] as const).flatMap((r) =>
    [["read"], ["write"], ["read", "write"]].map((scopes): [string, SubjectFact] => [
      `${r} global token ${scopes.join("+")}`,
      { type: "global_token", token_id: "g1", user_id: "u1", system_role: r, scopes: scopes as Array<"read" | "write">, expires_at: null },
    ]),
  ),
  ...[["read"], ["read", "write"]].flatMap((scopes) =>
    ["p1", "p2"].map((project_id): [string, SubjectFact] => [
      `project token ${scopes.join("+")} for ${project_id}`,
      { type: "project_token", token_id: "t1", project_id, scopes: scopes as Array<"read" | "write">, expires_at: NOW + 60 },
    ]),
  ),
  ["expired global token", { type: "global_token", token_id: "g1", user_id: "u1", system_role: "user", scopes: ["read", "write"], expires_at: NOW }],
  ["MCP live grant", mcp("user", [grant("p1", null, false)])],
  ["MCP trigger grant", mcp("user", [grant("p1", null, true)])],
  ["MCP viewer, trigger grant", mcp("viewer", [grant("p1", null, true)])],
  ["MCP grant expiring now", mcp("user", [grant("p1", NOW, false)])],
  ["MCP grant for p2 only", mcp("user", [grant("p2", null, false)])],
  ["MCP expired trigger grant and a live grant", mcp("user", [grant("p1", NOW - 1, true), grant("p1", NOW + 1, false)])],
];
const sample = (segment: string): string => (segment === "{restart_counter}" ? "2" : segment === "{project}" ? "p1" : segment.startsWith("{") ? "x1" : segment);
const roles: Array<CollaboratorRole | null> = [null, "Developer", "Administrator", "Owner"];

const cases: Array<{ name: string; input: PolicyInput; expect: [number, string[]]; pattern: string }> = [];
for (const [pattern, methods] of Object.entries(routeTable)) {
  const path = pattern.split("/").map(sample).join("/");
  const onProject = pattern.includes("{project}");
  for (const [method, spec] of Object.entries(methods)) {
    for (const [name, subject] of subjects) {
      const hasUser = subject !== null && subject.type !== "project_token";
      for (const publicProject of onProject ? [true, false] : [false]) {
        for (const role of onProject && hasUser ? roles : [null]) {
          const project = onProject ? { id: "p1", public: publicProject, collaborator_role: role } : null;
          const grantRoles = subject?.type === "mcp_token" ? Object.fromEntries(subject.grants.map((g) => [g.project_id, onProject && g.project_id === "p1" ? role : "Developer"])) : {};
          const input: PolicyInput = { method, path, now: NOW, credential: { status: subject ? "valid" : "none" } };
          if (subject) input.subject = subject;
          if (project) input.project = project;
          if (subject?.type === "mcp_token") input.grant_roles = grantRoles;
          // The MCP endpoint's POST is judged per message (test/mcp/ covers the tool table): tools/list, a default read like the route.
          if ((spec as { mcp?: boolean }).mcp) input.mcp = { method: "tools/list" };
          const where = project ? `, ${publicProject ? "public" : "private"} project, role ${role}` : "";
          cases.push({ name: `${name}: ${method} ${pattern}${where}`, input, expect: expected(pattern, spec, subject, project, grantRoles), pattern });
        }
      }
    }
  }
}

describe("red team: every route, every caller, every role", () => {
  it("covers the table and every outcome", () => {
    expect(cases.length).toBeGreaterThan(5000);
    const outcomes = new Set(cases.map((c) => c.expect[1].join(",")));
    for (const reason of ["", "missing_token", "expired_token", "sensitive_endpoint", "token_not_allowed_on_path", "not_collaborator", "insufficient_role", "insufficient_scope", "project_mismatch", "grant_missing", "grant_expired", "trigger_not_allowed"]) {
      expect([...outcomes].some((o) => o.split(",").includes(reason) || (reason === "" && o === "")), reason).toBe(true);
    }
  });

  it("decides each as the documented rules say", () => {
    const wrong: string[] = [];
    for (const c of cases) {
      const d = engine.decide(c.input);
      const [status, reasons] = c.expect;
      if (d.status !== status || JSON.stringify(d.reasons) !== JSON.stringify(reasons) || d.route !== c.pattern) {
        wrong.push(`${c.name}: expected ${status} ${reasons.join(",")}, got ${d.status} ${d.reasons.join(",")} (${d.route})`);
      }
    }
    expect(wrong.slice(0, 20)).toEqual([]);
    expect(wrong.length).toBe(0);
  });
});
