// A realistic mix of decision inputs for bench/eval.ts: what DecisionService hands to engine.decide()
// for the common allowed requests and the usual denials. Each carries the status it must get, so
// the benchmark also checks that the WASM engine and OPA's Go evaluator agree on every answer.
import type { PolicyInput, SubjectFact } from "../src/policy/types.js";

export interface BenchInput {
  name: string;
  expectStatus: 200 | 400 | 401 | 403 | 429;
  /** Also run through `opa bench` by default (each costs about 3 s; BENCH_OPA=all runs every input). */
  representative?: true;
  input: PolicyInput;
}

const NOW = 1_800_000_000;
const LATER = NOW + 86_400;

const alice: SubjectFact = { type: "user", user_id: "alice", system_role: "admin" };
const bob: SubjectFact = { type: "user", user_id: "bob", system_role: "user" };
const valid = { status: "valid" } as const;
const privateProject = (role: "Owner" | "Administrator" | "Developer" | null) => ({ id: "acme-api", public: false, collaborator_role: role });
const bobGlobal: SubjectFact = {
  type: "global_token",
  token_id: "tok_G1obalT0kenBench01",
  user_id: "bob",
  system_role: "user",
  scopes: ["read", "write"],
  expires_at: LATER,
};
const projectTokenSubject: SubjectFact = {
  type: "project_token",
  token_id: "tok_Pr0jectT0kenBench1",
  project_id: "acme-api",
  scopes: ["read"],
  expires_at: null,
};
/** What DecisionService reads for bob's MCP grants: his role in each granted project. */
const bobMcpRoles = { "acme-api": "Developer", "acme-web": "Developer" } as const;
const bobMcp: SubjectFact = {
  type: "mcp_token",
  token_id: "tok_McpT0kenBench0001",
  user_id: "bob",
  system_role: "user",
  grants: [
    { project_id: "acme-api", expires_at: LATER, allow_trigger: true },
    { project_id: "acme-web", expires_at: null, allow_trigger: false },
  ],
  expires_at: null,
};

export const BENCH_INPUTS: BenchInput[] = [
  {
    name: "session: collaborator reads builds",
    representative: true,
    expectStatus: 200,
    input: { method: "GET", path: "/api/v1/projects/acme-api/builds", now: NOW, credential: valid, subject: bob, project: privateProject("Developer") },
  },
  {
    name: "session: collaborator reads job console (?query)",
    expectStatus: 200,
    input: {
      method: "GET",
      path: "/api/v1/projects/acme-api/jobs/4711/console?offset=2048",
      now: NOW,
      credential: valid,
      subject: bob,
      project: privateProject("Developer"),
    },
  },
  {
    name: "session: Developer deletes project",
    expectStatus: 403,
    input: { method: "DELETE", path: "/api/v1/projects/acme-api", now: NOW, credential: valid, subject: bob, project: privateProject("Developer") },
  },
  {
    name: "session: admin lists users",
    expectStatus: 200,
    input: { method: "GET", path: "/api/v1/admin/users", now: NOW, credential: valid, subject: alice },
  },
  {
    name: "global token: reads build",
    representative: true,
    expectStatus: 200,
    input: { method: "GET", path: "/api/v1/projects/acme-api/builds/981", now: NOW, credential: valid, subject: bobGlobal, project: privateProject("Developer") },
  },
  {
    name: "global token: sensitive secrets",
    expectStatus: 403,
    input: { method: "GET", path: "/api/v1/projects/acme-api/secrets", now: NOW, credential: valid, subject: bobGlobal, project: privateProject("Developer") },
  },
  {
    name: "project token: reads jobs",
    representative: true,
    expectStatus: 200,
    input: { method: "GET", path: "/api/v1/projects/acme-api/jobs", now: NOW, credential: valid, subject: projectTokenSubject, project: privateProject(null) },
  },
  {
    name: "project token: other project",
    expectStatus: 403,
    input: {
      method: "GET",
      path: "/api/v1/projects/acme-web/jobs",
      now: NOW,
      credential: valid,
      subject: projectTokenSubject,
      project: { id: "acme-web", public: false, collaborator_role: null },
    },
  },
  {
    name: "mcp token: trigger with grant",
    representative: true,
    expectStatus: 200,
    input: { method: "POST", path: "/api/v1/mcp/projects/acme-api/trigger", now: NOW, credential: valid, subject: bobMcp, project: privateProject("Developer"), grant_roles: bobMcpRoles },
  },
  {
    name: "mcp token: trigger, grant w/o trigger",
    expectStatus: 403,
    input: {
      method: "POST",
      path: "/api/v1/mcp/projects/acme-web/trigger",
      now: NOW,
      credential: valid,
      subject: bobMcp,
      project: { id: "acme-web", public: false, collaborator_role: "Developer" },
      grant_roles: bobMcpRoles,
    },
  },
  {
    name: "anonymous: public project builds",
    representative: true,
    expectStatus: 200,
    input: {
      method: "GET",
      path: "/api/v1/projects/oss-lib/builds",
      now: NOW,
      credential: { status: "none" },
      project: { id: "oss-lib", public: true, collaborator_role: null },
    },
  },
  {
    name: "anonymous: private project",
    representative: true,
    expectStatus: 401,
    input: { method: "GET", path: "/api/v1/projects/acme-api/builds", now: NOW, credential: { status: "none" }, project: privateProject(null) },
  },
  {
    name: "expired token",
    expectStatus: 401,
    input: { method: "GET", path: "/api/v1/projects/acme-api/builds", now: NOW, credential: { status: "expired" } },
  },
  {
    name: "rate limited (second evaluation)",
    expectStatus: 429,
    input: {
      method: "GET",
      path: "/api/v1/projects/acme-api/builds",
      now: NOW,
      credential: valid,
      subject: bob,
      project: privateProject("Developer"),
      rate_limit: { exceeded: true },
    },
  },
  {
    name: "invalid path (dot segment)",
    representative: true,
    expectStatus: 400,
    input: { method: "GET", path: "/api/v1/projects/acme-api/../admin/users", now: NOW, credential: { status: "none" } },
  },
  {
    name: "unknown route",
    representative: true,
    expectStatus: 403,
    input: { method: "GET", path: "/api/v2/everything", now: NOW, credential: { status: "none" } },
  },
];
