import fc from "fast-check";
import request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { buildWorld, type World } from "./fixture.js";

// Whatever a client sends, the answer is a decision or a 4xx naming the problem: never a 500,
// never an allow for something malformed.
let world: World;
beforeAll(async () => {
  world = await buildWorld();
});

const anyJson = fc.jsonValue({ maxDepth: 3 });
const pathLike = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.webPath(),
  fc.array(fc.constantFrom("api", "v1", "projects", "pub", "priv", "builds", "..", "%2e", "%2F", "", "mcp", "tokens", "%00", "b1"), { maxLength: 8 }).map((s) => `/${s.join("/")}`),
);
const body = fc.oneof(
  anyJson,
  fc.record({ method: fc.oneof(fc.constantFrom("GET", "POST", "get", "DELETE"), fc.string({ maxLength: 20 }), anyJson), path: fc.oneof(pathLike, anyJson) }, { requiredKeys: [] }),
  fc.record({ method: fc.constantFrom("GET", "POST"), path: pathLike, authorization: fc.oneof(fc.string({ maxLength: 80 }), fc.constant(null), anyJson), dry_run: fc.oneof(fc.boolean(), anyJson) }, { requiredKeys: ["method", "path"] }),
);

describe("robustness against arbitrary input", () => {
  it("POST /v1/authorize answers 200 with a decision or a 4xx JSON error, never 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const res = await request(world.tollgate.app).post("/v1/authorize").set("Content-Type", "application/json").send(JSON.stringify(b));
        expect(res.status === 200 || (res.status >= 400 && res.status < 500)).toBe(true);
        if (res.status === 200) {
          expect(typeof res.body.allow).toBe("boolean");
          if (res.body.allow) expect(res.body.route).not.toBeNull();
        } else {
          expect(typeof res.body.error.code).toBe("string");
        }
      }),
      { numRuns: 300 },
    );
  });

  it("the gateway never answers 500 and never lets an anonymous write through", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH"), pathLike, async (method, path) => {
        const target = `/api${path.startsWith("/") ? path : `/${path}`}`;
        let res;
        try {
          res = await request(world.tollgate.app)[method.toLowerCase() as "get"](target);
        } catch {
          return; // a target the HTTP client itself refuses to send
        }
        expect(res.status).not.toBe(500);
        if (method !== "GET") expect(res.status === 200 || res.status === 201).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("forward auth answers 4xx (or 200 for a public read) for arbitrary original URIs, never 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("GET", "POST", "x y", ""), pathLike, async (method, uri) => {
        let res;
        try {
          res = await request(world.tollgate.app).get("/v1/forward-auth").set("X-Original-Method", method).set("X-Original-URI", uri);
        } catch {
          return; // a header value the HTTP client refuses to send
        }
        expect(res.status < 500).toBe(true);
        if (res.status === 200) expect(method).toBe("GET");
      }),
      { numRuns: 300 },
    );
  });
});
