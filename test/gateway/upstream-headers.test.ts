// What the upstream receives, checked on its raw header list: the identity Tollgate vouches for
// (first, once each, whatever the client sent under any spelling), the upstream's own Host, no
// header that renames the method or the path, and X-Forwarded-* as TOLLGATE_TRUSTED_PROXIES says.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { rawRequest, startGateway, startUpstream, type Gateway, type Upstream, type UpstreamHit } from "./helpers.js";

const IDENTITY = ["x-tollgate-decision-id", "x-tollgate-user", "x-tollgate-token-type", "x-tollgate-token-id", "x-tollgate-projects", "x-tollgate-permissions"];

let upstream: Upstream;
let untrusting: Gateway;
let trusting: Gateway;

beforeAll(async () => {
  upstream = await startUpstream();
  untrusting = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url });
  trusting = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_TRUSTED_PROXIES: "10.0.0.0/8, 127.0.0.0/8" });
});

afterAll(async () => {
  await Promise.allSettled([untrusting?.close(), trusting?.close()]);
  await upstream?.close();
});

beforeEach(() => upstream.reset());

/** Header lines a client might use to pass itself off as someone, under every spelling. */
const SPOOFED = [
  "X_Tollgate_User: mallory",
  "x_tollgate_permissions: read,trigger",
  "X-Tollgate_User: mallory",
  "X_TOLLGATE_PROJECTS: mallory-projects",
  "x-tollgate-user: mallory",
  "X-TOLLGATE-TOKEN-TYPE: mallory-type",
  "X-Tollgate-Token-Id: mallory-token",
  "X-Tollgate-Decision-Id: mallory-decision",
  "X-Tollgate-Projects: mallory-projects",
  "X-Tollgate-Permissions: read,trigger,mallory",
  "x-tollgate-admin: mallory",
  "X_Tollgate_Admin: mallory",
  "X_Remote_User: mallory",
  "Remote_User: mallory",
];

interface Passed {
  hit: UpstreamHit;
  /** Response headers, lower-cased names. */
  response: Record<string, string>;
}

/** Sends raw header lines through `gw` and returns what the upstream received. */
async function through(gw: Gateway, target: string, lines: string[]): Promise<Passed> {
  upstream.reset();
  const result = await rawRequest(gw.port, `GET ${target} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`, { expectResponses: 1, waitMs: 5_000 });
  expect(result.statuses, result.text).toEqual([200]);
  expect(upstream.hits).toHaveLength(1);
  const head = result.text.slice(0, result.text.indexOf("\r\n\r\n")).split("\r\n").slice(1);
  const response = Object.fromEntries(head.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
  return { hit: upstream.hits[0]!, response };
}

const names = (hit: UpstreamHit): string[] => hit.rawHeaders.filter((_, i) => i % 2 === 0);

/** Every field the upstream got with this name (any case), in order. */
function fields(hit: UpstreamHit, name: string): string[] {
  return hit.rawHeaders.flatMap((v, i) => (i % 2 === 1 && hit.rawHeaders[i - 1]!.toLowerCase() === name ? [v] : []));
}

function expectIdentityFirst(hit: UpstreamHit, expected: Record<string, string>): void {
  expect(names(hit).slice(0, IDENTITY.length).map((n) => n.toLowerCase())).toEqual(IDENTITY);
  for (const name of IDENTITY) expect(fields(hit, name), name).toEqual([expected[name]]);
  expect(names(hit).filter((n) => n.includes("_")), "no name with an underscore").toEqual([]);
  expect(hit.rawHeaders.join("\n")).not.toMatch(/mallory/i);
}

describe("identity headers", () => {
  it("a token's identity: sent first, once each, in Tollgate's spelling; every spoofed spelling is gone", async () => {
    const { world } = untrusting;
    const { hit, response } = await through(untrusting, "/api/v1/projects/priv/builds", ["Host: tollgate.test", `Authorization: Bearer ${world.tokens.bobGlobal}`, ...SPOOFED]);
    expectIdentityFirst(hit, {
      "x-tollgate-decision-id": response["x-tollgate-decision-id"]!,
      "x-tollgate-user": "bob",
      "x-tollgate-token-type": "global_token",
      "x-tollgate-token-id": world.tokenIds.bobGlobal,
      "x-tollgate-projects": "",
      "x-tollgate-permissions": "",
    });
    expect(names(hit).slice(0, IDENTITY.length)).toEqual(["X-Tollgate-Decision-Id", "X-Tollgate-User", "X-Tollgate-Token-Type", "X-Tollgate-Token-Id", "X-Tollgate-Projects", "X-Tollgate-Permissions"]);
  });

  it("an anonymous read: every identity header is sent, empty but for the decision id", async () => {
    const { hit, response } = await through(untrusting, "/api/v1/projects/pub/builds", ["Host: tollgate.test", ...SPOOFED]);
    expectIdentityFirst(hit, {
      "x-tollgate-decision-id": response["x-tollgate-decision-id"]!,
      "x-tollgate-user": "",
      "x-tollgate-token-type": "",
      "x-tollgate-token-id": "",
      "x-tollgate-projects": "",
      "x-tollgate-permissions": "",
    });
  });

  it("an MCP token: its projects and permissions, not the client's", async () => {
    const { world } = untrusting;
    const { hit, response } = await through(untrusting, "/api/v1/mcp/projects/priv/builds", ["Host: tollgate.test", `Authorization: Bearer ${world.tokens.bobMcp}`, ...SPOOFED]);
    expectIdentityFirst(hit, {
      "x-tollgate-decision-id": response["x-tollgate-decision-id"]!,
      "x-tollgate-user": "bob",
      "x-tollgate-token-type": "mcp_token",
      "x-tollgate-token-id": world.tokenIds.bobMcp,
      "x-tollgate-projects": "priv",
      "x-tollgate-permissions": "read,trigger",
    });
  });

  it("a session, from a trusted proxy too: the same rules", async () => {
    const session = await trusting.world.session("alice");
    const { hit, response } = await through(trusting, "/api/v1/projects/priv/builds", ["Host: tollgate.test", `Authorization: Bearer ${session}`, ...SPOOFED]);
    expectIdentityFirst(hit, {
      "x-tollgate-decision-id": response["x-tollgate-decision-id"]!,
      "x-tollgate-user": "alice",
      "x-tollgate-token-type": "user",
      "x-tollgate-token-id": "",
      "x-tollgate-projects": "",
      "x-tollgate-permissions": "",
    });
  });

  it("ordinary headers still pass, in any case", async () => {
    const { hit } = await through(untrusting, "/api/v1/projects/pub/builds", ["Host: tollgate.test", "X-Request-Id: r-1", "accept: application/json", "Cookie: a=b"]);
    expect(fields(hit, "x-request-id")).toEqual(["r-1"]);
    expect(fields(hit, "accept")).toEqual(["application/json"]);
    expect(fields(hit, "cookie")).toEqual(["a=b"]);
  });

  it("Tollgate's own cookies (browser session, pending sign-in and connect, oidc-provider's) never reach the upstream; others do", async () => {
    const own = [
      "tollgate_session=s1",
      "__Host-tollgate_session=s2",
      "tollgate_upstream_connect=p1",
      "__Host-tollgate_upstream_connect=p2",
      "__Host-tollgate_sign_in=p3",
      "_session=o1",
      "_session.sig=o2",
      "_session.legacy=o3",
      "_interaction=o4",
      "_interaction.sig=o5",
      "_interaction_resume=o6",
      "_interaction_resume.sig=o7",
      "TOLLGATE_SESSION=s3",
    ];
    const { hit } = await through(untrusting, "/api/v1/projects/pub/builds", ["Host: tollgate.test", `Cookie: theme=dark; ${own.slice(0, 6).join("; ")}`, `Cookie: ${own.slice(6).join("; ")}; app_session=a1; my_session=m1`]);
    expect(fields(hit, "cookie")).toEqual(["theme=dark; app_session=a1; my_session=m1"]);
    // Only Tollgate's: nothing is left, no Cookie at all.
    const { hit: bare } = await through(untrusting, "/api/v1/projects/pub/builds", ["Host: tollgate.test", `Cookie: ${own.join("; ")}`]);
    expect(fields(bare, "cookie")).toEqual([]);
  });
});

describe("the request the upstream acts on", () => {
  it("gets the upstream's own Host, not the client's", async () => {
    const { hit } = await through(untrusting, "/api/v1/projects/pub/builds", ["Host: evil.example"]);
    expect(fields(hit, "host")).toEqual([new URL(upstream.url).host]);
  });

  // (Method-override headers are refused outright: test/redteam/method-override.test.ts.)
  it("never gets a header that renames the method or the path, or names another client", async () => {
    const overrides = [
      "X-Original-Method: DELETE",
      "X-Original-URL: /api/v1/projects/priv",
      "X-Original-URI: /api/v1/projects/priv",
      "X-Rewrite-URL: /api/v1/projects/priv",
      "X-Forwarded-Uri: /api/v1/projects/priv",
      "X-Forwarded-Method: DELETE",
      "Forwarded: for=198.51.100.7;host=evil.example;proto=https",
      "X-Real-IP: 198.51.100.7",
    ];
    for (const gw of [untrusting, trusting]) {
      const { hit } = await through(gw, "/api/v1/projects/pub/builds", ["Host: tollgate.test", ...overrides]);
      const lower = names(hit).map((n) => n.toLowerCase());
      for (const line of overrides) {
        const name = line.slice(0, line.indexOf(":")).toLowerCase();
        expect(lower, name).not.toContain(name);
      }
      expect(hit.rawHeaders.join("\n")).not.toMatch(/DELETE|198\.51\.100\.7|\/api\/v1\/projects\/priv/);
      expect(hit.method).toBe("GET");
      expect(hit.url).toBe("/api/v1/projects/pub/builds");
    }
  });
});

describe("X-Forwarded-* (TOLLGATE_TRUSTED_PROXIES)", () => {
  const claimed = ["X-Forwarded-For: 203.0.113.9, 198.51.100.1", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https", "X-Forwarded-Port: 8443", "X-Forwarded-Prefix: /admin"];

  it("from a peer that is not trusted, X-Forwarded-* say what Tollgate saw and nothing else", async () => {
    const { hit } = await through(untrusting, "/api/v1/projects/pub/builds", ["Host: tollgate.test", ...claimed]);
    expect(fields(hit, "x-forwarded-for")).toEqual(["127.0.0.1"]);
    expect(fields(hit, "x-forwarded-host")).toEqual(["tollgate.test"]);
    expect(fields(hit, "x-forwarded-proto")).toEqual(["http"]);
    expect(fields(hit, "x-forwarded-port")).toEqual([]);
    expect(fields(hit, "x-forwarded-prefix")).toEqual([]);
    expect(hit.rawHeaders.join("\n")).not.toMatch(/203\.0\.113\.9|evil\.example|https|8443|admin/);
  });

  it("from a trusted peer, X-Forwarded-For is appended to and the proxy's other X-Forwarded-* are kept", async () => {
    const { hit } = await through(trusting, "/api/v1/projects/pub/builds", ["Host: tollgate.test", ...claimed]);
    expect(fields(hit, "x-forwarded-for")).toEqual(["203.0.113.9, 198.51.100.1, 127.0.0.1"]);
    expect(fields(hit, "x-forwarded-host")).toEqual(["evil.example"]);
    expect(fields(hit, "x-forwarded-proto")).toEqual(["https"]);
    expect(fields(hit, "x-forwarded-port")).toEqual(["8443"]);
  });

  it("from a trusted peer that sent none, they say what Tollgate saw", async () => {
    const { hit } = await through(trusting, "/api/v1/projects/pub/builds", ["Host: tollgate.test"]);
    expect(fields(hit, "x-forwarded-for")).toEqual(["127.0.0.1"]);
    expect(fields(hit, "x-forwarded-host")).toEqual(["tollgate.test"]);
    expect(fields(hit, "x-forwarded-proto")).toEqual(["http"]);
  });

  it("several X-Forwarded-For fields from a trusted peer are kept in order", async () => {
    const { hit } = await through(trusting, "/api/v1/projects/pub/builds", ["Host: tollgate.test", "X-Forwarded-For: 203.0.113.9", "X-Forwarded-For: 10.1.2.3"]);
    expect(fields(hit, "x-forwarded-for")).toEqual(["203.0.113.9, 10.1.2.3, 127.0.0.1"]);
  });
});
