import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PolicyEngine } from "../../src/policy/engine.js";
import type { PolicyInput } from "../../src/policy/types.js";

// The same cases `opa test` runs against the Rego source (policies/tollgate/authz/decision_cases_test.rego)
// run here through the shipped wasm/policy.wasm, so the two evaluators provably agree.
interface DecisionCase {
  name: string;
  input: PolicyInput;
  expect: Record<string, unknown>;
}

const casesFile = new URL("../policy/decision_cases/cases.json", import.meta.url);
const { cases } = JSON.parse(readFileSync(casesFile, "utf8")) as { cases: DecisionCase[] };
const engine = PolicyEngine.load("wasm");

describe("shipped WASM decides every shared decision case like the Rego source", () => {
  it("has cases to run", () => {
    expect(cases.length).toBeGreaterThan(50);
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const decision = engine.decide(c.input);
    const compared = Object.fromEntries(Object.keys(c.expect).map((k) => [k, (decision as unknown as Record<string, unknown>)[k]]));
    expect(compared).toEqual(c.expect);
  });
});
