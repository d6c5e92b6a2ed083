// The error catalogue (src/errors.ts) and the docs say the same: every code Tollgate answers with
// itself has a row in docs/api.md's Errors table with its status and is listed in
// docs/openapi.json, and every code those list is either in the catalogue or a policy reason.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERRORS, type ErrorCode } from "../../src/errors.js";

const read = (relative: string): string => readFileSync(new URL(`../../${relative}`, import.meta.url), "utf8");

const apiMd = read("docs/api.md");
const errorsSection = apiMd.slice(apiMd.indexOf("\n## Errors"), apiMd.indexOf("\n## ", apiMd.indexOf("\n## Errors") + 1));
/** The Errors table as [status, codes, where]. */
const rows = [...errorsSection.matchAll(/^\| (\d{3}) \| ([^|]*) \| ([^|]*) \|/gm)].map((m) => ({
  status: Number(m[1]),
  codes: [...m[2]!.matchAll(/`([a-z_]+)`/g)].map((c) => c[1]!),
  where: m[3]!.trim(),
}));
interface Schema {
  enum?: string[];
  description?: string;
  properties?: Record<string, Schema>;
}
const schemas = (JSON.parse(read("docs/openapi.json")) as { components: { schemas: Record<string, Schema> } }).components.schemas;
const reasonCodes = new Set(schemas.ReasonCode!.enum!);
const catalogue = Object.keys(ERRORS) as ErrorCode[];

describe("the error catalogue and docs/api.md", () => {
  it("reads the Errors table", () => {
    expect(rows.length).toBeGreaterThan(20);
  });

  it("documents every catalogue code with its status", () => {
    for (const code of catalogue) {
      const statuses = rows.filter((r) => r.codes.includes(code)).map((r) => r.status);
      expect(statuses, `${code} has no row in docs/api.md#errors`).toContain(ERRORS[code].status);
    }
  });

  it("documents no code that is neither in the catalogue nor a policy reason", () => {
    for (const row of rows) {
      for (const code of row.codes) {
        // Rows only about decisions carry the policy's reason codes; every other row is an error Tollgate writes.
        const known = row.where === "decision" ? reasonCodes.has(code) || Object.hasOwn(ERRORS, code) : Object.hasOwn(ERRORS, code);
        expect(known, `${row.status} ${code} (${row.where})`).toBe(true);
        if (row.where !== "decision" && Object.hasOwn(ERRORS, code)) expect(row.status, code).toBe(ERRORS[code as ErrorCode].status);
      }
    }
  });

  it("docs/openapi.json's Error and OpaError schemas list exactly the catalogue", () => {
    const description = schemas.Error!.properties!.error!.properties!.code!.description!;
    const listed = new Set([...description.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!));
    for (const code of schemas.OpaError!.properties!.code!.enum!) listed.add(code);
    expect([...listed].sort()).toEqual([...catalogue].sort());
  });
});
