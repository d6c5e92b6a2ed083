import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PolicyEngine } from "../../src/policy/engine.js";
import type { AdminInput } from "../../src/policy/types.js";

// The admin cases `opa test` runs against the Rego source (policies/tollgate/admin/admin_test.rego)
// run here through the shipped wasm/policy.wasm, so the two evaluators agree on the admin guard.
interface AdminCase {
  name: string;
  input: AdminInput;
  expect: unknown;
}

const { cases } = JSON.parse(readFileSync(new URL("../policy/admin_cases/cases.json", import.meta.url), "utf8")) as { cases: AdminCase[] };
const engine = PolicyEngine.load("wasm");

describe("shipped WASM decides every admin case like the Rego source", () => {
  it("has cases to run", () => {
    expect(cases.length).toBeGreaterThan(10);
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(engine.adminDecision(c.input)).toEqual(c.expect);
  });
});
