import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AUTHORIZE_BODY, isMethod, isPath, METHOD, parseAuthorizeBody, PATH } from "../../src/http/decision-request.js";

// The hand-written checks on the hot path must accept exactly what the zod schemas accept.
const method = fc.oneof(fc.constantFrom("GET", "post", "PROPFIND", "", "G E T", "GET1", "A".repeat(16), "A".repeat(17)), fc.string({ maxLength: 20 }), fc.integer());
const path = fc.oneof(
  fc.constantFrom("/", "", "/api/v1/projects/p/builds?x=1", "/\uD800", "/a\uDC00b", "/\uD83D\uDE00", "x".repeat(4096), "x".repeat(4097)),
  fc.string({ maxLength: 40, unit: "binary" }),
  fc.constant(null),
);
const authorization = fc.oneof(fc.constantFrom("Bearer t", "", "x".repeat(8192), "x".repeat(8193)), fc.constant(null), fc.integer(), fc.constant(undefined));
const dryRun = fc.oneof(fc.boolean(), fc.constant(undefined), fc.constantFrom("true", 0, null));
const body = fc.oneof(
  fc.record({ method, path, authorization, dry_run: dryRun }, { requiredKeys: [] }),
  fc.record({ method, path, extra: fc.string() }, { requiredKeys: ["method", "path"] }),
  fc.constantFrom(null, [], ["GET", "/"], "GET", 1, {}),
  fc.constant(JSON.parse('{"method":"GET","path":"/","__proto__":{"x":1}}') as unknown),
);

describe("the /v1/authorize body check", () => {
  it("accepts exactly what the schema accepts, with the same data", () => {
    fc.assert(
      fc.property(body, (value) => {
        // A key present with the value undefined cannot come out of JSON.parse.
        const json = JSON.parse(JSON.stringify(value) ?? "null") as unknown;
        expect(parseAuthorizeBody(json)).toEqual(AUTHORIZE_BODY.safeParse(json));
      }),
      { numRuns: 3000 },
    );
  });

  it("answers a refused body with the schema's own error", () => {
    const refused = parseAuthorizeBody({ method: "GET", path: "/\uD800" });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.message).toBe("must be well-formed Unicode (no lone surrogates)");
  });

  it("isMethod and isPath are METHOD and PATH", () => {
    fc.assert(
      fc.property(method, path, (m, p) => {
        expect(isMethod(m)).toBe(METHOD.safeParse(m).success);
        expect(isPath(p)).toBe(PATH.safeParse(p).success);
      }),
      { numRuns: 3000 },
    );
  });
});
