// RFC 9728 protected-resource metadata of each project's MCP endpoint, on the dispatcher: its
// contents, the same answer for every well-formed project name (existing or not), 404 for
// everything else (odd names, traversal, escapes, other paths) and when discovery is off; and the
// 401 challenges that point to it.
import fc from "fast-check";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearerChallenge } from "../../src/api/error-writer.js";
import { ID_RE } from "../../src/domain.js";
import { mcpDiscovery, projectOfMetadataPath, protectedResourceMetadata, resourceMetadataUrl } from "../../src/mcp/discovery.js";
import { bearer, buildWorld, type World } from "./fixture.js";

const PUBLIC = "https://tollgate.example.com";
const AS = "https://login.example.com/realms/mcp";
const DISCOVERY = { TOLLGATE_PUBLIC_URL: `${PUBLIC}/`, TOLLGATE_MCP_AUTHORIZATION_SERVERS: `${AS},https://as2.example.org` };
const WELL_KNOWN = "/.well-known/oauth-protected-resource";
const metadataPath = (project: string) => `${WELL_KNOWN}/api/v1/mcp/projects/${project}/mcp`;

let world: World;
let off: World;
let publicOnly: World;
beforeAll(async () => {
  world = await buildWorld(DISCOVERY);
  off = await buildWorld();
  publicOnly = await buildWorld({ TOLLGATE_PUBLIC_URL: PUBLIC });
});
afterAll(async () => {
  await Promise.all([world, off, publicOnly].map((w) => w?.tollgate.close()));
});

describe("GET /.well-known/oauth-protected-resource/api/v1/mcp/projects/{project}/mcp", () => {
  it("names the project's MCP endpoint as the resource, with the authorization servers, header bearer tokens and the MCP scopes", async () => {
    const res = await request(world.tollgate.app).get(metadataPath("priv"));
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.body).toEqual({
      resource: `${PUBLIC}/api/v1/mcp/projects/priv/mcp`,
      authorization_servers: [AS, "https://as2.example.org"],
      bearer_methods_supported: ["header"],
      scopes_supported: ["mcp:read", "mcp:trigger"],
    });
    // Public, the same for everyone, changing only with the configuration.
    expect(res.headers["cache-control"]).toBe("public, max-age=300");
    expect(res.headers["access-control-allow-origin"]).toBe("*");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["set-cookie"]).toBeUndefined();
  });

  it("answers every well-formed project name alike, existing or not, without asking any store; HEAD too", async () => {
    for (const project of ["pub", "no-such-project", "a", "A.b_c-9", "x".repeat(128), "a..b"]) {
      const res = await request(world.tollgate.app).get(metadataPath(project));
      expect(res.status, project).toBe(200);
      expect(res.body.resource, project).toBe(`${PUBLIC}/api/v1/mcp/projects/${project}/mcp`);
    }
    const head = await request(world.tollgate.app).head(metadataPath("priv"));
    expect(head.status).toBe(200);
    expect(head.text ?? "").toBe("");
    // No credential is read: a bad one changes nothing.
    expect((await request(world.tollgate.app).get(metadataPath("priv")).set("Authorization", bearer("tg_glob_bogus"))).status).toBe(200);
  });

  it("answers 404 not_found for odd names, traversal, escapes, other paths and other methods", async () => {
    const odd = [
      metadataPath(".."),
      metadataPath("."),
      metadataPath("-p"),
      metadataPath("x".repeat(129)),
      metadataPath("p%2F..%2Fq"),
      metadataPath("%70riv"),
      metadataPath("p%00"),
      metadataPath("p/q"),
      `${WELL_KNOWN}/api/v1/mcp/projects/../projects/priv/mcp`,
      `${WELL_KNOWN}/api/v1/mcp/projects/priv/mcp/`,
      `${WELL_KNOWN}/api/v1/mcp/projects/priv/trigger`,
      `${WELL_KNOWN}/API/v1/mcp/projects/priv/mcp`,
      `/.WELL-KNOWN/oauth-protected-resource/api/v1/mcp/projects/priv/mcp`,
      `${WELL_KNOWN}/api/v1/mcp/projects//mcp`,
      `${WELL_KNOWN}/api/v1/projects/priv`,
      WELL_KNOWN,
      `${WELL_KNOWN}/`,
      `${WELL_KNOWN}x/api/v1/mcp/projects/priv/mcp`,
    ];
    for (const path of odd) {
      const res = await request(world.tollgate.app).get(path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).toMatchObject({ error: { code: "not_found" } });
    }
    for (const method of ["post", "put", "delete", "patch"] as const) {
      expect((await request(world.tollgate.app)[method](metadataPath("priv"))).status, method).toBe(404);
    }
    // A query string does not change the resource.
    expect((await request(world.tollgate.app).get(`${metadataPath("priv")}?resource=https://evil.example`)).body.resource).toBe(`${PUBLIC}/api/v1/mcp/projects/priv/mcp`);
  });

  it("takes the resource from TOLLGATE_PUBLIC_URL, never from Host or X-Forwarded-*", async () => {
    const res = await request(world.tollgate.app).get(metadataPath("priv")).set("Host", "evil.example").set("X-Forwarded-Host", "evil.example").set("X-Forwarded-Proto", "http");
    expect(res.body.resource).toBe(`${PUBLIC}/api/v1/mcp/projects/priv/mcp`);
  });

  it("is not served without authorization servers (TOLLGATE_PUBLIC_URL alone, or nothing)", async () => {
    for (const w of [off, publicOnly]) {
      const res = await request(w.tollgate.app).get(metadataPath("priv"));
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ error: { code: "not_found" } });
    }
  });

  it("is served beside the gateway: on the public port, not the internal one", () => {
    const route = ["get", "/.well-known/oauth-protected-resource/api/v1/mcp/projects/{project}/mcp"];
    expect(world.tollgate.publicApp.hotRoutes).toContainEqual(route);
    expect(world.tollgate.app.hotRoutes).toContainEqual(route);
    expect(world.tollgate.internalApp.hotRoutes).not.toContainEqual(route);
    expect(off.tollgate.app.hotRoutes).not.toContainEqual(route);
  });
});

describe("discovery's parts", () => {
  it("parses exactly the metadata path of a well-formed project", () => {
    expect(projectOfMetadataPath(metadataPath("p1"))).toBe("p1");
    for (const path of [metadataPath(""), metadataPath("a/b"), metadataPath("%41"), `${metadataPath("p1")}/`, "/api/v1/mcp/projects/p1/mcp"]) expect(projectOfMetadataPath(path), path).toBeNull();
  });

  it("names a project exactly when the segment is a well-formed project id, and then that one (property)", () => {
    const segment = fc.oneof(
      fc.string({ maxLength: 140 }),
      fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,130}$/),
      fc.constantFrom("..", ".", "%2e%2e", "p%2Fq", "p/../q", "p/", "/p", "p?x", "p#x", "P1", "p\u0000"),
    );
    fc.assert(
      fc.property(segment, (project) => {
        const got = projectOfMetadataPath(metadataPath(project));
        expect(got).toBe(ID_RE.test(project) ? project : null);
      }),
      { numRuns: 2000 },
    );
  });

  it("builds the resource and its metadata URL by inserting the well-known prefix", () => {
    const d = mcpDiscovery({ publicUrl: "https://t.example:8443", mcpAuthorizationServers: [AS] })!;
    expect(protectedResourceMetadata(d, "p1").resource).toBe("https://t.example:8443/api/v1/mcp/projects/p1/mcp");
    expect(resourceMetadataUrl(d, "p1")).toBe("https://t.example:8443/.well-known/oauth-protected-resource/api/v1/mcp/projects/p1/mcp");
    expect(mcpDiscovery({ publicUrl: "https://t.example", mcpAuthorizationServers: [] })).toBeNull();
    expect(mcpDiscovery({ publicUrl: null, mcpAuthorizationServers: [AS] })).toBeNull();
  });

  it("adds resource_metadata and scope to a 401's challenge, and resource_metadata to a step-up 403's, after the RFC 6750 parameters", () => {
    const hint = { metadataUrl: "https://t.example/.well-known/oauth-protected-resource/api/v1/mcp/projects/p1/mcp", scope: "mcp:read" };
    expect(bearerChallenge("tollgate", { error: null }, hint)).toBe(`Bearer realm="tollgate", resource_metadata="${hint.metadataUrl}", scope="mcp:read"`);
    expect(bearerChallenge("tollgate", { error: "invalid_token", reason: "expired_token" }, hint)).toBe(
      `Bearer realm="tollgate", error="invalid_token", error_description="the access token has expired", resource_metadata="${hint.metadataUrl}", scope="mcp:read"`,
    );
    expect(bearerChallenge("tollgate", { error: "insufficient_scope", scope: "write" }, hint)).toBe('Bearer realm="tollgate", error="insufficient_scope", scope="write"');
    expect(bearerChallenge("tollgate", { error: null })).toBe('Bearer realm="tollgate"');
    expect(bearerChallenge("tollgate", { error: "insufficient_scope", scope: "mcp:read mcp:trigger" }, hint)).toBe(
      `Bearer realm="tollgate", error="insufficient_scope", scope="mcp:read mcp:trigger", resource_metadata="${hint.metadataUrl}"`,
    );
  });
});
