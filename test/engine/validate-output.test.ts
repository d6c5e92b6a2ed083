import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isPolicyDecision, policyDecisionSchema } from "../../src/policy/validate-output.js";

// isPolicyDecision recognises plain answers by hand before asking the schema: it must accept
// exactly what the schema accepts.
const nullableString = fc.oneof(fc.constant(null), fc.string({ maxLength: 8 }), fc.constantFrom(0, true, undefined, ["x"]));
const field = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: fc.constantFrom(undefined, null, 0, 200, "", "x", true, [], {}, ["a", 1]) });
const decision = fc.record(
  {
    allow: field(fc.boolean()),
    status: field(fc.constantFrom(200, 400, 401, 403, 429, 500, "200", 200.5)),
    reasons: field(fc.array(fc.oneof({ weight: 9, arbitrary: fc.string({ maxLength: 8 }) }, { weight: 1, arbitrary: fc.constantFrom(1, null) }), { maxLength: 3 })),
    access: field(fc.constantFrom(null, "read", "write", "admin", "READ")),
    route: nullableString,
    project_id: nullableString,
    rate_limit_class: field(fc.constantFrom(null, "default", "log", "artifact", "trigger", "deploy_2", "Other")),
    rate_limit_applies: field(fc.boolean()),
    rate_limit_key: nullableString,
    trigger_allowed: field(fc.boolean()),
    granted_projects: field(fc.oneof(fc.constant(null), fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }))),
    mcp_tools: field(fc.oneof(fc.constant(null), fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }))),
    extra: fc.string({ maxLength: 4 }),
  },
  { requiredKeys: ["allow", "status", "reasons", "access", "route", "project_id", "rate_limit_class", "rate_limit_applies", "rate_limit_key", "trigger_allowed", "granted_projects", "mcp_tools"] },
);

describe("isPolicyDecision", () => {
  it("accepts exactly what the decision schema accepts", () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof({ weight: 9, arbitrary: decision }, { weight: 1, arbitrary: fc.constantFrom(null, [], "x", 1, [{}]) }), (value) => {
        // The policy's answers come out of JSON.parse.
        const json = JSON.parse(JSON.stringify(value) ?? "null") as unknown;
        const expected = policyDecisionSchema.safeParse(json).success;
        if (expected) accepted++;
        expect(isPolicyDecision(json)).toBe(expected);
      }),
      { numRuns: 5000 },
    );
    expect(accepted).toBeGreaterThan(50);
  });
});
