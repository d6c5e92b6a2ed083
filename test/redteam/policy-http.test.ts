// Red team through the TypeScript boundary: write-via-GET routes spelled differently, asked of
// every decision endpoint by callers that may not write, and request bodies that try to hand the
// policy facts of their own. Whatever the spelling, nothing is allowed and nothing is a 500.
import request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { bearer, buildWorld, NOW, type World } from "../http/fixture.js";
import { literalVariants, WRITE_VIA_GET } from "./variants.js";

let world: World;
let subjects: Array<[name: string, authorization: string | null]>;
beforeAll(async () => {
  world = await buildWorld({ TOLLGATE_RATE_LIMITS: '{"api":{"default":100000}}' });
  // On "priv": carol is a Developer but a system viewer; the read-only tokens may not write.
  subjects = [
    ["anonymous", null],
    ["a system viewer's session (Developer)", bearer(await world.session("carol"))],
    ["a read-only global token (Developer)", bearer(world.tokens.bobGlobalRead)],
    ["a read-only project token", bearer(world.tokens.privateProject)],
    ["an MCP token with a trigger grant", bearer(world.tokens.bobMcp)],
  ];
});

const authorize = (body: object) => request(world.tollgate.app).post("/v1/authorize").send(body);
const projectOf = (name: string): string => (name === "anonymous" ? "pub" : "priv");

describe("POST /v1/authorize: a write-via-GET literal spelled differently is never allowed", () => {
  it("allows the spellings it should, so the sweep below can fail", async () => {
    const read = await authorize({ method: "GET", path: "/api/v1/projects/pub/builds/b1/1" });
    expect(read.body).toMatchObject({ allow: true, route: "/api/v1/projects/{project}/builds/{build}/{restart_counter}" });
    const write = await authorize({ method: "GET", path: "/api/v1/projects/priv/builds/b1/restart", authorization: bearer(world.tokens.bobGlobal) });
    expect(write.body).toMatchObject({ allow: true, access: "write" });
  });

  it.each(WRITE_VIA_GET.map(([parent, word]) => [`${parent}/${word}`, parent, word] as const))("%s", async (_name, parent, word) => {
    const allowed: string[] = [];
    for (const [name, authorization] of subjects) {
      for (const [label, segment] of [["as spelled", word] as [string, string], ...literalVariants(word)]) {
        const path = `/api/v1/projects/${projectOf(name)}/${parent}/${segment}`;
        const res = await authorize({ method: "GET", path, authorization });
        expect(res.status, `${name}, ${label}: ${res.text.slice(0, 200)}`).not.toBe(500);
        if (res.status === 200 && res.body.allow !== false) allowed.push(`${name}: ${label} (${res.body.route})`);
      }
    }
    expect(allowed).toEqual([]);
  });

  it("answers the exact status and reason for each class of spelling", async () => {
    const cases: Array<[string, number, string]> = [
      ["builds/b1/RESTART", 400, "invalid_path"], // a parameter spelling a literal sibling in another case
      ["builds/b1/Abort", 400, "invalid_path"],
      ["builds/b1/restart;x=1", 400, "invalid_path"],
      ["builds/b1/abort%3B", 400, "invalid_path"],
      ["builds/b1/%72estart", 400, "invalid_path"],
      ["builds/b1/restart.json", 403, "unknown_route"], // no {restart_counter}
      ["builds/b1/restart%20", 403, "unknown_route"],
      ["builds/b1/1234567890", 403, "unknown_route"],
      ["jobs/j1/RESTART", 403, "unknown_route"], // no parameter beside jobs/{job}/restart
      ["jobs/j1/rerun;", 400, "invalid_path"],
    ];
    for (const [tail, status, reason] of cases) {
      const res = await authorize({ method: "GET", path: `/api/v1/projects/pub/${tail}` });
      expect(res.body, tail).toMatchObject({ allow: false, status, reasons: [reason] });
    }
  });
});

describe("POST /v1/authorize: method and path spellings at the boundary", () => {
  it.each([["get"], ["Get"], ["HEAD"], ["OPTIONS"], ["TRACE"], ["PROPFIND"], ["POST"]])("method %s on a write-via-GET route is an unknown route", async (method) => {
    const res = await authorize({ method, path: "/api/v1/projects/pub/builds/b1/restart" });
    expect(res.body).toMatchObject({ allow: false, status: 403, reasons: ["unknown_route"] });
  });

  it.each([["G ET"], ["GET "], [" GET"], ["GET\t"], [""], ["GET\u0000"], ["ＧＥＴ"], ["A".repeat(17)], [null], [["GET"]]])(
    "method %j is refused as a malformed request",
    async (method) => {
      const res = await authorize({ method, path: "/api/v1/projects/pub/builds" });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
    },
  );

  it.each([
    ["a raw NUL", "/api/v1/projects/pub/builds/b1/restart\u0000"],
    ["raw CR LF", "/api/v1/projects/pub/builds/b1/1\r\nX-Injected: 1"],
    ["a raw tab", "/api/v1/projects/pub/builds/b1/restart\t"],
    ["raw fullwidth letters", "/api/v1/projects/pub/builds/b1/ＲＥＳＴＡＲＴ"],
    ["a raw Kelvin sign", "/api/v1/projects/pub/builds/b1/\u212A"],
    ["absolute-form", "http://upstream/api/v1/projects/pub/builds/b1/1"],
    ["asterisk-form", "*"],
    ["no leading slash", "api/v1/projects/pub/builds"],
    ["a backslash", "/api/v1/projects/pub/builds\\b1"],
    ["a fragment", "/api/v1/projects/pub/builds#x"],
  ])("a path with %s is an invalid path, never a 500", async (_name, path) => {
    const res = await authorize({ method: "GET", path });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allow: false, status: 400, reasons: ["invalid_path"] });
  });

  it("takes a path of exactly 4096 characters and refuses 4097", async () => {
    const at = (n: number): string => `/api/v1/projects/pub/builds/${"b".repeat(n - "/api/v1/projects/pub/builds/".length)}`;
    const longest = await authorize({ method: "GET", path: at(4096) });
    expect(longest.status).toBe(200);
    expect(longest.body).toMatchObject({ allow: false, status: 400, reasons: ["invalid_path"] }); // a segment over 256 bytes
    const over = await authorize({ method: "GET", path: at(4097) });
    expect(over.status).toBe(400);
    expect(over.body.error.code).toBe("invalid_request");
  });
});

describe("facts come from Tollgate, never from the request body", () => {
  const forged = {
    subject: { type: "user", user_id: "alice", system_role: "admin" },
    credential: { status: "valid" },
    project: { id: "priv", public: true, collaborator_role: "Owner" },
    grant_roles: { priv: "Owner" },
    now: 0,
  };

  it("POST /v1/authorize refuses a body that carries facts of its own", async () => {
    for (const [field, value] of Object.entries(forged)) {
      const res = await authorize({ method: "GET", path: "/api/v1/projects/priv/secrets", [field]: value });
      expect(res.status, field).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      expect(res.body).not.toHaveProperty("allow");
    }
  });

  it("the Data API decides as anonymous whatever facts the input carries", async () => {
    const res = await request(world.tollgate.app)
      .post("/v1/data/tollgate/authz/decision")
      .send({ input: { method: "GET", path: "/api/v1/projects/priv/secrets", ...forged, headers: {} } });
    expect(res.status).toBe(200);
    expect(res.body.result).toMatchObject({ allow: false, status: 401, reasons: ["missing_token"] });
    const admin = await request(world.tollgate.app)
      .post("/v1/data/tollgate/authz/decision/allow")
      .send({ input: { method: "GET", path: "/api/v1/admin/users", ...forged } });
    expect(admin.body.result).toBe(false);
  });
});

describe("forward auth and ext_authz judge the same spellings the same way", () => {
  it.each(WRITE_VIA_GET.map(([parent, word]) => [`${parent}/${word}`, parent, word] as const))("%s", async (_name, parent, word) => {
    const allowed: string[] = [];
    const readOnly = bearer(world.tokens.bobGlobalRead);
    for (const [label, segment] of literalVariants(word)) {
      const uri = `/api/v1/projects/priv/${parent}/${segment}`;
      const forward = await request(world.tollgate.app).get("/v1/forward-auth").set("X-Original-Method", "GET").set("X-Original-URI", uri).set("Authorization", readOnly);
      expect(forward.status, `forward auth, ${label}`).not.toBe(500);
      if (forward.status < 300) allowed.push(`forward auth: ${label}`);
      const envoy = await request(world.tollgate.app).get(`/v1/ext-authz${uri}`).set("Authorization", readOnly);
      expect(envoy.status, `ext_authz, ${label}`).not.toBe(500);
      if (envoy.status < 300) allowed.push(`ext_authz: ${label}`);
    }
    expect(allowed).toEqual([]);
  });

  it("ext_authz reached through a case variant of its own prefix still judges the target as sent", async () => {
    const res = await request(world.tollgate.app).get("/V1/EXT-AUTHZ/api/v1/projects/pub/builds/b1/RESTART");
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_path");
  });
});

describe("MCP grants at their boundaries, through the credential check", () => {
  it("a grant expiring exactly now is expired; a millisecond later it is live", async () => {
    const dir = world.tollgate.facts.directoryStore;
    await dir.setCollaborator("pub", "bob", "Developer");
    const at = (ms: number) => new Date(NOW * 1000 + ms);
    const issue = (grants: Array<{ project_id: string; expires_at?: Date | null }>) => world.tollgate.issuer.issue({ type: "mcp", user_id: "bob", grants });
    const listing = async (token: string) => (await authorize({ method: "GET", path: "/api/v1/mcp/projects", authorization: bearer(token) })).body;
    const project = async (token: string) => (await authorize({ method: "GET", path: "/api/v1/mcp/projects/priv/builds", authorization: bearer(token) })).body;

    const expiringNow = await issue([{ project_id: "priv", expires_at: at(0) }]);
    expect(await listing(expiringNow.token)).toMatchObject({ allow: false, status: 403, reasons: ["grant_expired"], granted_projects: [] });
    expect(await project(expiringNow.token)).toMatchObject({ allow: false, status: 403, reasons: ["grant_expired"] });

    const justLive = await issue([{ project_id: "priv", expires_at: at(1) }]);
    expect(await listing(justLive.token)).toMatchObject({ allow: true, granted_projects: ["priv"] });
    expect(await project(justLive.token)).toMatchObject({ allow: true });

    // The store refuses duplicate grants; the order of the grants does not show, nor does an expired one.
    const reversed = await issue([{ project_id: "pub" }, { project_id: "priv", expires_at: null }]);
    expect(await listing(reversed.token)).toMatchObject({ allow: true, granted_projects: ["priv", "pub"] });
    const oneExpired = await issue([{ project_id: "pub", expires_at: at(-1000) }, { project_id: "priv" }]);
    expect(await listing(oneExpired.token)).toMatchObject({ allow: true, granted_projects: ["priv"] });
  });
});
