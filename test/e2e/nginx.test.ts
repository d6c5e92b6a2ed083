// End to end through a real nginx running the shipped docs/nginx/tollgate.conf: nginx
// auth_request → Tollgate's GET /v1/forward-auth (in-process) → an echo upstream.
import type { IncomingHttpHeaders, Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { createHttpServer } from "../../src/http/server.js";
import { connectBackends, type Backends } from "../../src/server/backends.js";
import { seedDemo, type DemoCredentials } from "../../src/server/demo.js";
import { buildTollgate, type Tollgate } from "../../src/server/tollgate.js";
import { BackendUnavailableError } from "../../src/stores/types.js";
import { findNginx, send, startEchoUpstream, startNginx, type EchoedRequest, type EchoUpstream, type NginxServer, type RawResponse } from "../support/nginx.js";

const POLICY_DIR = fileURLToPath(new URL("../../wasm", import.meta.url));
const PRIVATE = "/api/v1/projects/demo-private";

let tollgate: Tollgate;
let tollgateServer: Server;
let upstream: EchoUpstream;
let nginx: NginxServer;
let creds: DemoCredentials;
/** Used only by the rate-limit test, so no other test spends its quota. */
let daveToken: string;
/** While true the rate limiter throws as a Redis that is down would. */
let limiterDown = false;
/** Every request Tollgate received (nginx's auth subrequests). */
const authCalls: Array<{ url: string; headers: IncomingHttpHeaders }> = [];

const bearer = (token: string | undefined): string => {
  if (!token) throw new Error("demo credential missing");
  return `Bearer ${token}`;
};

/**
 * A request through nginx, with what it caused: `auth` the subrequests Tollgate received,
 * `upstreamHits` the requests that reached the API and `echoed` the first of them.
 */
async function through(method: string, path: string, headers: Record<string, string | string[]> = {}, body?: string) {
  const upstreamBefore = upstream.requests.length;
  const authBefore = authCalls.length;
  const res = await send(nginx.port, method, path, headers, body);
  const reached = upstream.requests.slice(upstreamBefore);
  return { ...res, auth: authCalls.slice(authBefore), upstreamHits: reached.length, echoed: reached[0] as EchoedRequest | undefined };
}

const describeResponse = (res: RawResponse) => `${res.status} ${JSON.stringify(res.headers)} ${res.body.slice(0, 300)}`;

beforeAll(async () => {
  findNginx(); // first: without nginx, fail at once with how to install it
  const logger = pino({ level: "silent" });
  const config = loadConfig({
    TOLLGATE_RATE_LIMITS: '{"api":{"default":3}}',
    TOLLGATE_RATE_LIMIT_FAIL: "closed",
    TOLLGATE_POLICY_DIR: POLICY_DIR,
  });
  const real = connectBackends(config, logger);
  const backends: Backends = {
    ...real,
    rateLimiter: {
      hit: (...args) => (limiterDown ? Promise.reject(new BackendUnavailableError("redis", new Error("down"))) : real.rateLimiter.hit(...args)),
    },
  };
  tollgate = buildTollgate(config, { logger, backends, watchPolicy: false, defaultMetrics: false });
  creds = await seedDemo(tollgate, config);
  await tollgate.facts.directoryStore.putUser({ id: "dave", system_role: "user" });
  await tollgate.facts.directoryStore.setCollaborator("demo-private", "dave", "Developer");
  daveToken = (await tollgate.issuer.issue({ type: "global", name: "rate limit test", user_id: "dave", scopes: ["read"] })).token;

  // Tollgate's server with a note of every request on the way in.
  tollgateServer = createHttpServer((req, res) => {
    authCalls.push({ url: req.url ?? "", headers: req.headers });
    tollgate.app(req, res);
  }, config);
  await new Promise<void>((resolve, reject) => {
    tollgateServer.once("error", reject);
    tollgateServer.listen(0, "127.0.0.1", resolve);
  });
  upstream = await startEchoUpstream();
  nginx = await startNginx({ tollgatePort: (tollgateServer.address() as AddressInfo).port, upstreamPort: upstream.port });
});

afterAll(async () => {
  await nginx?.stop();
  await upstream?.stop();
  if (tollgateServer?.listening) {
    tollgateServer.closeAllConnections();
    await new Promise<void>((resolve) => tollgateServer.close(() => resolve()));
  }
  await tollgate?.close();
});

describe("nginx auth_request with docs/nginx/tollgate.conf", () => {
  it("passes an allowed request to the API with Tollgate's identity, not the client's credentials or spoofed identity", async () => {
    const res = await through("GET", `${PRIVATE}/builds?branch=main&page=2`, {
      Authorization: bearer(creds.sessions.alice),
      Cookie: "session=secret",
      "X-Tollgate-User": ["mallory", "eve"],
      "X-Tollgate-Token-Type": "global_token",
      "X-Tollgate-Token-Id": "tok_spoofed",
      "X-Tollgate-Decision-Id": "spoofed",
      "X-Tollgate-Status": "200",
      X_Tollgate_User: "mallory",
    });
    expect(res.status, describeResponse(res)).toBe(200);

    // One subrequest, carrying only what Tollgate needs: method, raw target, credentials.
    expect(res.auth).toHaveLength(1);
    const asked = res.auth[0]!;
    expect(asked.url).toBe("/v1/forward-auth");
    expect(asked.headers["x-original-method"]).toBe("GET");
    expect(asked.headers["x-original-uri"]).toBe(`${PRIVATE}/builds?branch=main&page=2`);
    expect(asked.headers["authorization"]).toBe(bearer(creds.sessions.alice));
    expect(asked.headers).not.toHaveProperty("cookie");
    expect(asked.headers).not.toHaveProperty("x-tollgate-user");
    expect(asked.headers).not.toHaveProperty("content-length");

    expect(res.upstreamHits).toBe(1);
    const seen = res.echoed!;
    expect(seen.method).toBe("GET");
    expect(seen.url).toBe(`${PRIVATE}/builds?branch=main&page=2`);
    expect(seen.headers["x-tollgate-user"]).toBe("alice");
    expect(seen.headers["x-tollgate-token-type"]).toBe("user");
    expect(seen.headers["x-tollgate-decision-id"]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(seen.headers["cookie"]).toBe("session=secret");
    // A session has no token id: the header is absent, and so is the client's.
    expect(seen.headers).not.toHaveProperty("x-tollgate-token-id");
    expect(seen.headers).not.toHaveProperty("x-tollgate-status");
    expect(seen.headers).not.toHaveProperty("x_tollgate_user");
    expect(seen.headers).not.toHaveProperty("authorization");
    expect(JSON.stringify(seen.headers)).not.toMatch(/mallory|eve|spoofed/);
  });

  it("names the token for token credentials and passes the request body to the API (not to Tollgate)", async () => {
    const res = await through(
      "POST",
      `${PRIVATE}/upload`,
      { Authorization: bearer(creds.tokens["bob global (read, write)"]), "Content-Type": "application/json" },
      '{"file":"a.txt"}',
    );
    expect(res.status, describeResponse(res)).toBe(200);
    expect(res.auth).toHaveLength(1);
    expect(res.auth[0]!.headers["x-original-method"]).toBe("POST");
    expect(res.auth[0]!.headers).not.toHaveProperty("content-type");
    const seen = res.echoed!;
    expect(seen.method).toBe("POST");
    expect(seen.body).toBe('{"file":"a.txt"}');
    expect(seen.headers["x-tollgate-user"]).toBe("bob");
    expect(seen.headers["x-tollgate-token-type"]).toBe("global_token");
    expect(seen.headers["x-tollgate-token-id"]).toMatch(/^tok_/);
    expect(seen.headers).not.toHaveProperty("authorization");
  });

  it("never passes on a client's X-Tollgate-Projects or X-Tollgate-Permissions (MCP servers gate trigger tools on them)", async () => {
    const spoofed = { "X-Tollgate-Permissions": "read,trigger", "X-Tollgate-Projects": "demo-public,demo-private" };
    const session = await through("GET", `${PRIVATE}/builds`, { Authorization: bearer(creds.sessions.carol), ...spoofed });
    expect(session.status, describeResponse(session)).toBe(200);
    expect(session.echoed!.headers).not.toHaveProperty("x-tollgate-permissions");
    expect(session.echoed!.headers).not.toHaveProperty("x-tollgate-projects");
    const mcp = await through(
      "POST",
      "/api/v1/mcp/projects/demo-private/mcp",
      { Authorization: bearer(creds.tokens["bob mcp (demo-private, trigger)"]), "Content-Type": "application/json", "Mcp-Method": "tools/list", ...spoofed },
      '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    );
    expect(mcp.status, describeResponse(mcp)).toBe(200);
    expect(mcp.echoed!.headers["x-tollgate-permissions"]).toBe("read,trigger");
    expect(mcp.echoed!.headers["x-tollgate-projects"]).toBe("demo-private");
  });

  it("sends no X-Tollgate-User for a project token, not even the client's", async () => {
    const res = await through("GET", `${PRIVATE}/builds`, {
      Authorization: bearer(creds.tokens["demo-private project (read)"]),
      "X-Tollgate-User": "alice",
    });
    expect(res.status, describeResponse(res)).toBe(200);
    const seen = res.echoed!;
    expect(seen.headers["x-tollgate-token-type"]).toBe("project_token");
    expect(seen.headers["x-tollgate-token-id"]).toMatch(/^tok_/);
    expect(seen.headers).not.toHaveProperty("x-tollgate-user");
  });

  it("passes an MCP token's usable projects as X-Tollgate-Projects, never the client's", async () => {
    const res = await through("GET", "/api/v1/mcp/projects", {
      Authorization: bearer(creds.tokens["bob mcp (demo-private, trigger)"]),
      "X-Tollgate-Projects": "demo-public,secret",
    });
    expect(res.status, describeResponse(res)).toBe(200);
    expect(res.echoed!.headers["x-tollgate-projects"]).toBe("demo-private");
    expect(res.echoed!.headers["x-tollgate-token-type"]).toBe("mcp_token");

    const session = await through("GET", `${PRIVATE}/builds`, { Authorization: bearer(creds.sessions.bob), "X-Tollgate-Projects": "secret" });
    expect(session.status, describeResponse(session)).toBe(200);
    expect(session.echoed!.headers).not.toHaveProperty("x-tollgate-projects");
  });

  it("passes a project's MCP message's Mcp-Method and Mcp-Name to Tollgate, which judges the tool", async () => {
    const MCP = "/api/v1/mcp/projects/demo-private/mcp";
    const message = (tool: string) => JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: tool } });
    const ask = (tool: string, headers: Record<string, string>) =>
      through("POST", MCP, { Authorization: bearer(creds.tokens["bob mcp (demo-private, trigger)"]), "Content-Type": "application/json", ...headers }, message(tool));
    const allowed = await ask("list_builds", { "Mcp-Method": "tools/call", "Mcp-Name": "list_builds" });
    expect(allowed.status, describeResponse(allowed)).toBe(200);
    expect(allowed.auth[0]!.headers).toMatchObject({ "mcp-method": "tools/call", "mcp-name": "list_builds" });
    expect(allowed.echoed!.body).toBe(message("list_builds"));
    const unknown = await ask("drop_tables", { "Mcp-Method": "tools/call", "Mcp-Name": "drop_tables" });
    expect(unknown.status, describeResponse(unknown)).toBe(403);
    expect(unknown.upstreamHits).toBe(0);
    // Without the headers nginx sends none, and Tollgate cannot judge the message.
    const bare = await ask("list_builds", {});
    expect(bare.status, describeResponse(bare)).toBe(403);
    expect(bare.auth[0]!.headers).not.toHaveProperty("mcp-method");
    expect(bare.upstreamHits).toBe(0);
  });

  // The API behind nginx gets the client's headers and target as sent: an API that honours a
  // method override would run this anonymous read of a public project as a DELETE.
  it("refuses (400) a request with a method-override header or a _method query parameter; the API is not hit", async () => {
    for (const [path, headers] of [
      ["/api/v1/projects/demo-public", { "X-HTTP-Method-Override": "DELETE" }],
      ["/api/v1/projects/demo-public", { "X-HTTP-Method": "DELETE" }],
      ["/api/v1/projects/demo-public", { "X-Method-Override": "DELETE" }],
      ["/api/v1/projects/demo-public?_method=DELETE", {}],
    ] as const) {
      const res = await through("GET", path, headers);
      expect(res.status, describeResponse(res)).toBe(400);
      expect(res.upstreamHits).toBe(0);
    }
    const plain = await through("GET", "/api/v1/projects/demo-public");
    expect(plain.status, describeResponse(plain)).toBe(200);
  });

  it("answers 401 with WWW-Authenticate without a token, and for a bad one; the API is not hit", async () => {
    const missing = await through("GET", `${PRIVATE}/builds`);
    expect(missing.status, describeResponse(missing)).toBe(401);
    expect(missing.headers["www-authenticate"]).toBe('Bearer realm="tollgate"');
    expect(missing.upstreamHits).toBe(0);

    const bad = await through("GET", `${PRIVATE}/builds`, { Authorization: "Bearer tg_glb_not-a-real-token" });
    expect(bad.status, describeResponse(bad)).toBe(401);
    expect(bad.headers["www-authenticate"]).toBe('Bearer realm="tollgate", error="invalid_token", error_description="the access token is malformed, unknown or not valid here"');
    expect(bad.upstreamHits).toBe(0);
  });

  it("answers 403 for a viewer's write and for a project token on another project", async () => {
    const viewerWrite = await through("POST", `${PRIVATE}/upload`, { Authorization: bearer(creds.sessions.carol) }, "x");
    expect(viewerWrite.status, describeResponse(viewerWrite)).toBe(403);
    expect(viewerWrite.upstreamHits).toBe(0);

    const otherProject = await through("GET", "/api/v1/projects/demo-public/builds", { Authorization: bearer(creds.tokens["demo-private project (read)"]) });
    expect(otherProject.status, describeResponse(otherProject)).toBe(403);
    expect(otherProject.upstreamHits).toBe(0);
  });

  it("ignores a client's own X-Original-* and X-Forwarded-* headers", async () => {
    const res = await through(
      "POST",
      `${PRIVATE}/upload`,
      {
        Authorization: bearer(creds.sessions.carol),
        "X-Original-Method": "GET",
        "X-Original-URI": `${PRIVATE}/builds`,
        "X-Forwarded-Method": "GET",
        "X-Forwarded-Uri": `${PRIVATE}/builds`,
      },
      "x",
    );
    expect(res.status, describeResponse(res)).toBe(403);
    expect(res.auth[0]!.headers["x-original-method"]).toBe("POST");
    expect(res.auth[0]!.headers["x-original-uri"]).toBe(`${PRIVATE}/upload`);
    // Not even half a pair reaches Tollgate (one would be refused as a partial pair).
    expect(res.auth[0]!.headers).not.toHaveProperty("x-forwarded-uri");
    expect(res.auth[0]!.headers).not.toHaveProperty("x-forwarded-method");
    expect(res.upstreamHits).toBe(0);
  });

  it("answers 429 with Retry-After (not 500) once the limit of 3 is spent", async () => {
    const auth = { Authorization: bearer(daveToken) };
    for (let i = 1; i <= 3; i++) {
      const ok = await through("GET", `${PRIVATE}/jobs`, auth);
      expect(ok.status, `request ${i}: ${describeResponse(ok)}`).toBe(200);
    }
    const limited = await through("GET", `${PRIVATE}/jobs`, auth);
    expect(limited.status, describeResponse(limited)).toBe(429);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers["retry-after"])).toBeLessThanOrEqual(61); // window + one sub-window
    expect(limited.headers["ratelimit"]).toMatch(/^"default";r=0;t=\d+$/);
    expect(limited.headers["ratelimit-policy"]).toBe('"default";q=3;w=60');
    expect(limited.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(limited.body)).toEqual({ error: { code: "rate_limited" }, decision_id: limited.headers["x-tollgate-decision-id"] });
    // Mapped by @tollgate_error, not asked twice (which would spend the limit twice).
    expect(limited.auth).toHaveLength(1);
    expect(limited.upstreamHits).toBe(0);
  });

  // nginx decodes and normalizes these in $uri (the path it routes on), but Tollgate is sent
  // the raw $request_uri, the same target the API would receive, and rejects them.
  it.each([
    [`${PRIVATE}/%2e%2e/x`, "/api/v1/projects/x"],
    [`${PRIVATE}/%2E%2e/x`, "/api/v1/projects/x"],
    [`${PRIVATE}/../demo-public/builds`, "/api/v1/projects/demo-public/builds"],
    [`${PRIVATE}/builds%2f..%2f..%2fdemo-public`, "/api/v1/projects/demo-public"],
    ["/api/v1/projects//demo-private/./builds", "/api/v1/projects/demo-private/builds"],
  ])("answers 400 (not 500) for %s, which nginx's $uri makes %s", async (path, normalized) => {
    expect((await send(nginx.uriProbePort, "GET", path)).body).toBe(normalized);
    const res = await through("GET", path, { Authorization: bearer(creds.sessions.alice) });
    expect(res.status, describeResponse(res)).toBe(400);
    expect(res.auth.map((a) => a.headers["x-original-uri"])).toEqual([path]);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: "invalid_request" } });
    expect(res.upstreamHits).toBe(0);
  });

  // These nginx rejects itself with its own 400 page before any location, so before auth.
  it.each(["/../etc/passwd", "/%2e%2e/etc/passwd", `${PRIVATE}/%00/builds`])("lets nginx reject %s itself (400, Tollgate not asked)", async (path) => {
    const res = await through("GET", path, { Authorization: bearer(creds.sessions.alice) });
    expect(res.status, describeResponse(res)).toBe(400);
    expect(res.body).toContain("400 Bad Request");
    expect(res.auth).toHaveLength(0);
    expect(res.upstreamHits).toBe(0);
  });

  it("answers 503 (not 500) when a backend Tollgate needs is down", async () => {
    limiterDown = true;
    try {
      const res = await through("GET", `${PRIVATE}/builds`, { Authorization: bearer(creds.sessions.alice) });
      expect(res.status, describeResponse(res)).toBe(503);
      expect(JSON.parse(res.body)).toMatchObject({ error: { code: "backend_unavailable" } });
      expect(res.upstreamHits).toBe(0);
    } finally {
      limiterDown = false;
    }
  });

  it("logs every mapped status as nginx's 'auth request unexpected status' error", async () => {
    const log = await nginx.errorLog();
    expect(log).toMatch(/\[error\].*auth request unexpected status: 429/);
    expect(log).toMatch(/\[error\].*auth request unexpected status: 400/);
    expect(log).toMatch(/\[error\].*auth request unexpected status: 503/);
  });

  // Last: stops Tollgate.
  it("fails closed with 500 when Tollgate is unreachable", async () => {
    tollgateServer.closeAllConnections();
    await new Promise<void>((resolve) => tollgateServer.close(() => resolve()));
    const res = await through("GET", `${PRIVATE}/builds`, { Authorization: bearer(creds.sessions.alice) });
    expect(res.status, describeResponse(res)).toBe(500);
    expect(JSON.parse(res.body)).toEqual({ error: { code: "internal_error" } });
    expect(res.upstreamHits).toBe(0);
  });
});
