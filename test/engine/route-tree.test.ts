import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

// Issue 8, item 2: the route tree generated from route_table (route_tree.rego) answers every
// path as the reference matcher that walks the whole table (policies/tollgate/authz/route_oracle_test.rego):
// the same pattern, namespace, parameters and method entry, and the same verdict on a segment
// that spells a literal sibling in another case. Random paths are built from the table's own
// patterns with segments swapped, re-cased, cut or extended, and compared in one `opa eval`.
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const OPA = process.env.OPA_BIN || `${REPO_ROOT}.tools/bin/opa`;
const PATHS = 2000;

const routeTable = JSON.parse(
  execFileSync(OPA, ["eval", "--format", "raw", "--data", `${REPO_ROOT}policies`, "json.marshal(data.tollgate.authz.route_table)"], { encoding: "utf8" }),
) as Record<string, Record<string, unknown>>;
const patterns = Object.keys(routeTable);
const literals = [...new Set(patterns.flatMap((p) => p.split("/")).filter((s) => s !== "" && !s.startsWith("{")))];

const recase = (segment: string) =>
  fc.constantFrom(segment.toUpperCase(), segment.charAt(0).toUpperCase() + segment.slice(1), segment.toLowerCase());
const junk = fc.string({ unit: fc.constantFrom(..."aZ09-._~%3B:@".split("")), minLength: 0, maxLength: 10 });
const digits = fc.string({ unit: fc.constantFrom(..."0123456789".split("")), minLength: 1, maxLength: 11 });

/** A pattern's segment as a request might spell it. */
const segmentFor = (segment: string) =>
  fc.oneof(
    { weight: 40, arbitrary: fc.constant(segment.startsWith("{") ? (segment === "{restart_counter}" ? "3" : "p1") : segment) },
    { weight: 2, arbitrary: fc.constantFrom(...literals) },
    { weight: 3, arbitrary: fc.constantFrom(...literals).chain(recase) },
    { weight: 3, arbitrary: recase(segment) },
    { weight: 1, arbitrary: digits },
    { weight: 1, arbitrary: junk },
  );

const request = fc
  .tuple(fc.constantFrom(...patterns), fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"), fc.integer({ min: -2, max: 2 }))
  .chain(([pattern, method, lengthChange]) => {
    const segments = pattern.split("/").slice(1);
    const kept = lengthChange < 0 ? segments.slice(0, Math.max(1, segments.length + lengthChange)) : segments;
    return fc
      .tuple(fc.tuple(...kept.map(segmentFor)), fc.array(fc.constantFrom(...literals, "p1", "7"), { minLength: Math.max(0, lengthChange), maxLength: Math.max(0, lengthChange) }))
      .map(([spelled, extra]) => ({ method, path: `/${[...spelled, ...extra].join("/")}` }));
  });

interface Answer {
  route: { pattern: string; spec: unknown } | null;
  shadowed: boolean;
}

describe("the route tree against the table-walking reference", () => {
  it(`answers ${PATHS} random paths exactly as the reference does`, { timeout: 180_000 }, () => {
    const inputs = fc.sample(request, { numRuns: PATHS, seed: 8 });
    const dir = mkdtempSync(join(tmpdir(), "tollgate-route-tree-"));
    try {
      writeFileSync(join(dir, "inputs.json"), JSON.stringify({ route_tree_inputs: inputs }));
      const query =
        "json.marshal([[x, t, r] | some x in data.route_tree_inputs; " +
        "t := data.tollgate.route_oracle.tree_answer(x.method, x.path); r := data.tollgate.route_oracle.answer(x.method, x.path)])";
      const out = execFileSync(
        OPA,
        ["eval", "--format", "raw", "-d", `${REPO_ROOT}policies`, "-d", join(dir, "inputs.json"), query],
        { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
      );
      const rows = JSON.parse(out) as Array<[{ method: string; path: string }, Answer, Answer]>;
      expect(rows).toHaveLength(inputs.length);
      const differing = rows.filter(([, tree, reference]) => JSON.stringify(tree) !== JSON.stringify(reference));
      expect(differing).toEqual([]);
      // The sample reaches every kind of answer, so agreement means something.
      const references = rows.map(([, , reference]) => reference);
      expect(references.filter((r) => r.route !== null && r.route.spec !== null).length).toBeGreaterThan(PATHS / 20);
      expect(references.filter((r) => r.route !== null && r.route.spec === null).length).toBeGreaterThan(0);
      expect(references.filter((r) => r.route === null).length).toBeGreaterThan(PATHS / 10);
      expect(references.filter((r) => r.shadowed).length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
