// Discovery of an OAuth-protected upstream's authorization server against real parts: oidc-provider
// behind an SDK-built MCP server (RFC 9728 → RFC 8414 / OpenID discovery), plus small servers for
// what oidc-provider cannot be made to do (no PKCE S256, another issuer, no challenge, 5xx).
import { createServer, type RequestListener } from "node:http";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RequestError } from "../../src/errors.js";
import { discoverUpstreamAuth, UpstreamAuthDiscovery, type UpstreamAuthMetadata } from "../../src/upstreams/discovery.js";
import { listen, stopServer } from "../gateway/helpers.js";
import type { Backends } from "../../src/server/backends.js";
import { buildUpstreamOAuth } from "../../src/server/upstream-oauth.js";
import { startUpstreamAs, startUpstreamMcp, UPSTREAM_SCOPE, type UpstreamAs, type UpstreamMcp } from "../support/upstream-oauth.js";
import { CLOSED_PORT } from "../support/servers.js";

/** The test servers are plain http on loopback: allowed outside production only. */
const LOOPBACK = { plainLoopback: true };

let as: UpstreamAs;
let mcp: UpstreamMcp;
const stubs: Array<ReturnType<typeof createServer>> = [];

beforeAll(async () => {
  as = await startUpstreamAs();
  mcp = await startUpstreamMcp(as);
});

afterAll(async () => {
  await mcp?.close();
  await as?.close();
  for (const s of stubs) await stopServer(s);
});

async function stub(handler: (base: string) => RequestListener): Promise<string> {
  let base = "";
  const server = createServer((req, res) => handler(base)(req, res));
  stubs.push(server);
  base = await listen(server);
  return base;
}

const json = (res: Parameters<RequestListener>[1], status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

async function unavailable(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(RequestError);
  expect((err as RequestError).code).toBe("upstream_auth_unavailable");
  expect((err as RequestError).status).toBe(503);
  return (err as RequestError).message;
}

describe("discoverUpstreamAuth", () => {
  it("follows the upstream's 401 challenge to its authorization server and its endpoints", async () => {
    const meta = await discoverUpstreamAuth(mcp.url, LOOPBACK);
    expect(meta).toMatchObject({
      resource: mcp.url,
      issuer: as.issuer,
      authorizationEndpoint: `${as.issuer}/auth`,
      tokenEndpoint: `${as.issuer}/token`,
      registrationEndpoint: `${as.issuer}/reg`,
      revocationEndpoint: `${as.issuer}/token/revocation`,
      scopesSupported: [UPSTREAM_SCOPE],
      issParameterSupported: true,
      offlineAccess: true,
    });
  });

  it("without a challenge, finds the metadata at the well-known URI with the MCP path inserted (RFC 9728 §3.1)", async () => {
    const asked: string[] = [];
    const base = await stub((b) => (req, res) => {
      asked.push(req.url ?? "");
      if (req.url === "/.well-known/oauth-protected-resource/tenant/mcp") return json(res, 200, { resource: `${b}/tenant/mcp`, authorization_servers: [as.issuer] });
      res.writeHead(req.method === "POST" ? 400 : 404).end();
    });
    const meta = await discoverUpstreamAuth(`${base}/tenant/mcp`, LOOPBACK);
    expect(meta.issuer).toBe(as.issuer);
    expect(asked).toEqual(["/tenant/mcp", "/.well-known/oauth-protected-resource/tenant/mcp"]);
  });

  it("falls back to OpenID discovery when RFC 8414 metadata is absent, path inserted first", async () => {
    const asked: string[] = [];
    const asBase = await stub((b) => (req, res) => {
      asked.push(req.url ?? "");
      if (req.url === "/tenant/.well-known/openid-configuration") {
        return json(res, 200, { issuer: `${b}/tenant`, authorization_endpoint: `${b}/tenant/auth`, token_endpoint: `${b}/tenant/token`, code_challenge_methods_supported: ["S256"] });
      }
      res.writeHead(404).end();
    });
    const rs = await stub((b) => (_req, res) => json(res, 200, { resource: `${b}/`, authorization_servers: [`${asBase}/tenant`] }));
    const meta = await discoverUpstreamAuth(`${rs}/`, LOOPBACK);
    expect(meta).toMatchObject({ issuer: `${asBase}/tenant`, tokenEndpoint: `${asBase}/tenant/token`, issParameterSupported: false, offlineAccess: false });
    expect(meta.registrationEndpoint).toBeUndefined();
    expect(asked).toEqual(["/.well-known/oauth-authorization-server/tenant", "/.well-known/openid-configuration/tenant", "/tenant/.well-known/openid-configuration"]);
  });

  it("refuses an authorization server without PKCE S256", async () => {
    const asBase = await stub((b) => (_req, res) => json(res, 200, { issuer: b, authorization_endpoint: `${b}/auth`, token_endpoint: `${b}/token`, code_challenge_methods_supported: ["plain"] }));
    const rs = await stub((b) => (_req, res) => json(res, 200, { resource: `${b}/`, authorization_servers: [asBase] }));
    expect(await unavailable(discoverUpstreamAuth(`${rs}/`, LOOPBACK))).toMatch(/PKCE S256/);
  });

  it("refuses metadata naming another issuer or another resource", async () => {
    const asBase = await stub(() => (_req, res) => json(res, 200, { issuer: "https://evil.example", authorization_endpoint: "https://evil.example/a", token_endpoint: "https://evil.example/t", code_challenge_methods_supported: ["S256"] }));
    const rs = await stub((b) => (_req, res) => json(res, 200, { resource: `${b}/`, authorization_servers: [asBase] }));
    expect(await unavailable(discoverUpstreamAuth(`${rs}/`, LOOPBACK))).toMatch(/another issuer/);
    const other = await stub(() => (_req, res) => json(res, 200, { resource: "https://elsewhere.example/", authorization_servers: [as.issuer] }));
    expect(await unavailable(discoverUpstreamAuth(`${other}/mcp`, LOOPBACK))).toMatch(/another resource/);
  });

  it("an unreachable or failing authorization server is upstream_auth_unavailable", async () => {
    const down = await stub((b) => (_req, res) => json(res, 200, { resource: `${b}/`, authorization_servers: [`http://127.0.0.1:${CLOSED_PORT}`] }));
    expect(await unavailable(discoverUpstreamAuth(`${down}/`, LOOPBACK))).toMatch(/could not be reached/);
    const failing = await stub(() => (_req, res) => res.writeHead(502).end());
    expect(await unavailable(discoverUpstreamAuth(`${failing}/`, LOOPBACK))).toMatch(/502/);
  });
});

describe("plain http to loopback", () => {
  it("is refused unless allowed (production's rule, and the default), wherever discovery meets it", async () => {
    expect(await unavailable(discoverUpstreamAuth(mcp.url))).toMatch(/is not an https URL/);
    expect(await unavailable(new UpstreamAuthDiscovery().metadata(mcp.url))).toMatch(/is not an https URL/);
    expect((await new UpstreamAuthDiscovery({ plainLoopback: true }).metadata(mcp.url)).issuer).toBe(as.issuer);
  });

  it("Tollgate follows it in development and refuses it under TOLLGATE_ENV=production", async () => {
    const upstreams = [{ name: "docs", prefix: "/api/docs/", url: new URL(mcp.url), auth: "oauth" as const, scopes: [] }];
    const user = { userId: "u", sessionId: "s" };
    for (const env of ["development", "production"] as const) {
      const built = buildUpstreamOAuth({ upstreams, publicUrl: "http://127.0.0.1:9", env }, {} as Backends, pino({ level: "silent" }))!;
      const begun = built.connector.begin(upstreams[0]!, user);
      if (env === "development") expect((await begun).location).toContain(as.issuer);
      else expect(await unavailable(begun)).toMatch(/is not an https URL/);
    }
  });
});

describe("UpstreamAuthDiscovery", () => {
  it("keeps a success, shares one fetch among concurrent callers, and never keeps a failure", async () => {
    let calls = 0;
    let fail = true;
    const meta = { issuer: "https://as.example" } as UpstreamAuthMetadata;
    const discovery = new UpstreamAuthDiscovery({
      discover: async () => {
        calls++;
        if (fail) throw new RequestError("upstream_auth_unavailable");
        return meta;
      },
    });
    await expect(discovery.metadata("https://up.example/")).rejects.toThrow(RequestError);
    fail = false;
    const [a, b] = await Promise.all([discovery.metadata("https://up.example/"), discovery.metadata("https://up.example/")]);
    expect(a).toBe(meta);
    expect(b).toBe(meta);
    await discovery.metadata("https://up.example/");
    expect(calls).toBe(2);
  });

  it("while the authorization server is down, then up again: unavailable, then discovered", async () => {
    const discovery = new UpstreamAuthDiscovery({ plainLoopback: true });
    as.setUp(false);
    try {
      await unavailable(discovery.metadata(mcp.url));
    } finally {
      as.setUp(true);
    }
    expect((await discovery.metadata(mcp.url)).issuer).toBe(as.issuer);
  });
});
