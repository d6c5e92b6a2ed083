import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PolicyEngine } from "../../src/policy/engine.js";
import type { PolicyInput } from "../../src/policy/types.js";

const collaboratorRead: PolicyInput = {
  method: "GET",
  path: "/api/v1/projects/p1/builds",
  now: 1_800_000_000,
  credential: { status: "valid" },
  subject: { type: "user", user_id: "u1", system_role: "user" },
  project: { id: "p1", public: false, collaborator_role: "Developer" },
};

describe("PolicyEngine", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "tollgate-engine-"));
    copyFileSync("wasm/policy.wasm", join(dir, "policy.wasm"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("reports the sha256 of the loaded policy as its revision", () => {
    const engine = PolicyEngine.load(dir);
    expect(engine.revision).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("allows a collaborator's read and explains the route", () => {
    const decision = PolicyEngine.load(dir).decide(collaboratorRead);
    expect(decision).toEqual({
      allow: true,
      status: 200,
      reasons: [],
      access: "read",
      route: "/api/v1/projects/{project}/builds",
      project_id: "p1",
      rate_limit_class: "default",
      rate_limit_applies: true,
      rate_limit_key: "user:u1",
      trigger_allowed: false,
      granted_projects: null,
      mcp_tools: null,
    });
  });

  it("denies a path with a lone UTF-16 surrogate as invalid (opa-wasm cannot take one), never a policy error", () => {
    const engine = PolicyEngine.load(dir);
    expect(engine.route("GET", "/api/v1/projects/pub/builds/\udc00")).toMatchObject({ valid_path: false, pattern: null });
    for (const path of ["/api/v1/projects/pub/builds/\udc00", "/api/v1/projects/pub/builds?q=\ud800"]) {
      expect(engine.decide({ method: "GET", path, now: 1_800_000_000, credential: { status: "none" } }), path).toMatchObject({ allow: false, status: 400, reasons: ["invalid_path"] });
    }
  });

  it("names the route from method and path alone", () => {
    const engine = PolicyEngine.load(dir);
    expect(engine.route("GET", "/api/v1/mcp/projects/p9/jobs/j1/logs")).toEqual({
      valid_path: true,
      pattern: "/api/v1/mcp/projects/{project}/jobs/{job}/logs",
      namespace: "mcp",
      access: "read",
      rate_limit_class: "log",
      sensitive: false,
      project_id: "p9",
      mcp_message: false,
      mcp_endpoint: false,
    });
    expect(engine.route("GET", "/api/v1/projects/p1/../p2").valid_path).toBe(false);
  });

  it("caches a route by method and path without the query: query strings do not grow the cache", () => {
    const engine = PolicyEngine.load(dir);
    const route = engine.route("GET", "/api/v1/projects/p1/builds");
    for (let i = 0; i < 300; i++) {
      expect(engine.route("GET", `/api/v1/projects/p1/builds?page=${i}&q=${"x".repeat(14_000)}`)).toEqual(route);
    }
    expect(engine.cachedRoutes).toBe(1);
    engine.route("POST", "/api/v1/projects/p1/builds?x=1");
    expect(engine.cachedRoutes).toBe(2);
  });

  it("evaluates a very long path but does not cache it", () => {
    const engine = PolicyEngine.load(dir);
    for (let i = 0; i < 20; i++) {
      // Valid segments, but a path over the policy's 2048-byte cap: evaluated, invalid, not kept.
      const long = `/api/v1/projects/p${i}${"/x".repeat(1_500)}`;
      expect(engine.route("GET", long)).toMatchObject({ valid_path: false, pattern: null });
    }
    expect(engine.cachedRoutes).toBe(0);
  });

  it("names the same route with or without a query, cached or not", () => {
    const paths = [
      "/api/v1/projects/p1/builds",
      "/api/v1/projects/p1/builds/b1/restart",
      "/api/v1/projects/p1/builds/b1/3",
      "/api/v1/mcp/projects/p9/jobs/j1/logs",
      "/api/v1/projects/p1/../p2",
      "/api/v1/projects/p1/builds/",
      "/api/v1/nothing/here",
      "/",
    ];
    const queries = ["?", "?a=1", "?a=1&b=%2F..%2F", "?x=/api/v1/admin", "?" + "q".repeat(5_000)];
    for (const method of ["GET", "POST", "DELETE"]) {
      for (const path of paths) {
        const expected = PolicyEngine.load(dir).route(method, path);
        const engine = PolicyEngine.load(dir);
        for (const query of queries) {
          expect(engine.route(method, path + query), `${method} ${path}${query}`).toEqual(expected);
        }
        expect(engine.route(method, path)).toEqual(expected);
      }
    }
  });

  it("denies an input over the size cap without evaluating it", () => {
    const engine = PolicyEngine.load(dir, { maxInputBytes: 512 });
    const decision = engine.decide({ ...collaboratorRead, path: `/api/v1/projects/${"x".repeat(600)}` });
    expect(decision).toMatchObject({ allow: false, status: 400, reasons: ["input_too_large"] });
  });

  it("measures the size cap in UTF-8 bytes of the input's JSON, not in characters", () => {
    const engine = PolicyEngine.load(dir, { maxInputBytes: 512 });
    // 300 characters, 600 bytes: over the cap only when counted in bytes.
    const decision = engine.decide({ ...collaboratorRead, path: `/api/v1/projects/${"é".repeat(300)}` });
    expect(decision).toMatchObject({ allow: false, status: 400, reasons: ["input_too_large"] });
    expect(engine.decide(collaboratorRead)).toMatchObject({ allow: true });
  });

  it("denies when the input makes the policy's answer malformed", () => {
    const engine = PolicyEngine.load(dir);
    // A non-string method makes no route match; the policy still answers, with a deny.
    const decision = engine.decide({ ...collaboratorRead, method: 42 as unknown as string });
    expect(decision.allow).toBe(false);
  });

  it("keeps the last good policy when policy.wasm is replaced by garbage", () => {
    const engine = PolicyEngine.load(dir);
    const before = engine.revision;
    writeFileSync(join(dir, "policy.wasm"), "not wasm");
    expect(engine.reload()).toBe(false);
    expect(engine.revision).toBe(before);
    expect(engine.decide(collaboratorRead).allow).toBe(true);
  });

  it("refuses to start on a file that is not a policy", () => {
    writeFileSync(join(dir, "policy.wasm"), "not wasm");
    expect(() => PolicyEngine.load(dir)).toThrow();
  });

  it("swaps to a new revision when the file changes, and not when it is rewritten unchanged", () => {
    const engine = PolicyEngine.load(dir);
    copyFileSync("wasm/policy.wasm", join(dir, "policy.wasm"));
    expect(engine.reload()).toBe(false);
    // Appending a custom section yields a valid module with a different hash.
    const original = readFileSync("wasm/policy.wasm");
    const name = Buffer.from("tollgate-test");
    const section = Buffer.concat([Buffer.from([0, name.length + 1 + 1, name.length]), name, Buffer.from([1])]);
    writeFileSync(join(dir, "policy.wasm"), Buffer.concat([original, section]));
    const before = engine.revision;
    expect(engine.reload()).toBe(true);
    expect(engine.revision).not.toBe(before);
    expect(engine.decide(collaboratorRead).allow).toBe(true);
  });

  it("hot-reloads when the watched folder changes", async () => {
    const engine = PolicyEngine.load(dir);
    engine.watch(10);
    const before = engine.revision;
    const original = readFileSync("wasm/policy.wasm");
    const name = Buffer.from("x");
    writeFileSync(join(dir, "policy.wasm"), Buffer.concat([original, Buffer.from([0, 3, 1]), name, Buffer.from([7])]));
    await expect.poll(() => engine.revision, { timeout: 60_000 }).not.toBe(before);
    engine.close();
  });
});
