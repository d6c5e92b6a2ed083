import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PolicyEngine } from "../../src/policy/engine.js";
import type { PolicyInput } from "../../src/policy/types.js";

// Red team on the shape of the input, through the shipped WASM: a fact of the wrong type (a
// string for a list, an object for a number, null, nesting) never turns a denial into an allow
// and never makes the policy fail. The TypeScript layer builds well-formed inputs; this is the
// policy's own defence when it does not.
const engine = PolicyEngine.load("wasm");
const NOW = 1_800_000_000;
const casesFile = new URL("../policy/decision_cases/cases.json", import.meta.url);
const { cases } = JSON.parse(readFileSync(casesFile, "utf8")) as { cases: Array<{ name: string; input: PolicyInput; expect: { allow: boolean; status: number } }> };
// Denials after the path and route stages: the facts decided them.
const denied = cases.filter((c) => !c.expect.allow && (c.expect.status === 401 || c.expect.status === 403) && c.input.subject !== undefined);

// Values that name nothing the policy knows: no role, scope, status, project id or subject type;
// no string, null, true or bare number (each of those can be a legitimate fact: an expiry, null
// for "never expires", an id).
const KNOWN = /read|write|user|admin|viewer|Developer|Administrator|Owner|p1|p2|valid|none|token|true/;
const junk = fc.anything({ maxDepth: 2 }).filter((v) => v !== null && v !== undefined && typeof v !== "number" && typeof v !== "string" && v !== true && !KNOWN.test(JSON.stringify(v) ?? ""));

// Not subject.system_role: the policy reads any role but "viewer" as a full user (reported).
const FIELDS = [
  "subject", "project", "grant_roles", "now", "subject.type", "subject.user_id", "subject.scopes", "subject.grants",
  "subject.expires_at", "subject.project_id", "subject.token_id", "project.id", "project.public", "project.collaborator_role", "subject.grants.0",
  "subject.grants.0.project_id", "subject.grants.0.expires_at", "subject.grants.0.allow_trigger",
] as const;

function replaced(input: PolicyInput, field: string, value: unknown): PolicyInput {
  const copy = structuredClone(input) as unknown as Record<string, unknown>;
  const keys = field.split(".");
  let at: Record<string, unknown> | undefined = copy;
  for (const key of keys.slice(0, -1)) at = at?.[key] as Record<string, unknown> | undefined;
  if (at !== null && typeof at === "object") at[keys.at(-1)!] = value;
  return copy as unknown as PolicyInput;
}

describe("red team: facts of the wrong shape", () => {
  it("has denied cases to start from", () => {
    expect(denied.length).toBeGreaterThan(200);
  });

  it("never turn a denial into an allow, and never make the policy fail", () => {
    fc.assert(
      fc.property(fc.constantFrom(...denied), fc.constantFrom(...FIELDS), junk, (c, field, value) => {
        const input = replaced(c.input, field, value);
        const decision = engine.decide(input);
        expect(decision.status, `${c.name} with ${field} = ${JSON.stringify(value)}`).not.toBe(500);
        expect(decision.allow, `${c.name} with ${field} = ${JSON.stringify(value)}`).toBe(false);
      }),
      { numRuns: 4000 },
    );
  });

  it.each([
    ["a string", "GET /api/v1/user"],
    ["an array", [{ method: "GET", path: "/api/v1/user" }]],
    ["null", null],
    ["an empty object", {}],
    ["a number", 7],
  ])("a whole input that is %s is an invalid path", (_name, input) => {
    expect(engine.decide(input as unknown as PolicyInput)).toMatchObject({ allow: false, status: 400, reasons: ["invalid_path"] });
  });

  it.each([
    ["a string", String(NOW)],
    ["null", null],
    ["an array", [NOW]],
  ])("now as %s makes an authenticated subject malformed, and leaves anonymous reads alone", (_name, now) => {
    const base = { method: "GET", path: "/api/v1/projects/p1/builds", project: { id: "p1", public: true, collaborator_role: "Owner" as const } };
    const session = engine.decide({ ...base, now, credential: { status: "valid" }, subject: { type: "user", user_id: "u1", system_role: "user" } } as unknown as PolicyInput);
    expect(session).toMatchObject({ allow: false, status: 401, reasons: ["invalid_token"] });
    const anonymous = engine.decide({ ...base, now, credential: { status: "none" } } as unknown as PolicyInput);
    expect(anonymous).toMatchObject({ allow: true, status: 200 });
  });
});
