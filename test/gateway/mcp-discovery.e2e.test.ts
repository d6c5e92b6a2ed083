// RFC 9728 discovery end to end with the official MCP SDK 1.x client: a 401 from a project's MCP
// endpoint names the endpoint's protected-resource metadata, the SDK's auth helpers read that
// challenge and the metadata, and its whole auth() flow goes on to the configured authorization
// server (a stand-in here) asking for the endpoint as the RFC 8707 resource with scope mcp:read.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { discoverOAuthProtectedResourceMetadata, extractWWWAuthenticateParams, UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { OAuthClientInformationMixed } from "@modelcontextprotocol/sdk/shared/auth.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, buildWorld, type World } from "../http/fixture.js";
import { listen, send, stopServer } from "./helpers.js";

const MCP = "/api/v1/mcp/projects/priv/mcp";
let world: World;
let tollgate: Server;
let base: string;
let as: Server;
let asUrl: string;
/** What reached the stand-in authorization server. */
const asHits: string[] = [];

/** An authorization server as far as discovery and dynamic registration go (RFC 8414, RFC 7591). */
function authorizationServer(req: IncomingMessage, res: ServerResponse): void {
  asHits.push(`${req.method} ${req.url}`);
  const json = (status: number, body: object): void => void res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  if (req.method === "GET" && req.url === "/.well-known/oauth-authorization-server") {
    return json(200, {
      issuer: asUrl,
      authorization_endpoint: `${asUrl}/authorize`,
      token_endpoint: `${asUrl}/token`,
      registration_endpoint: `${asUrl}/register`,
      response_types_supported: ["code"],
      grant_types_supported: ["authorization_code", "refresh_token"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["none"],
    });
  }
  if (req.method === "POST" && req.url === "/register") {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => json(201, { ...(JSON.parse(body) as object), client_id: "client-1" }));
    return;
  }
  json(404, { error: "not_found" });
}

beforeAll(async () => {
  as = createServer(authorizationServer);
  asUrl = await listen(as);
  // Tollgate's public URL must be known before it is built: listen first, then hand the port its app.
  let app: RequestListener = (_req, res) => res.writeHead(503).end();
  tollgate = createServer((req, res) => app(req, res));
  base = await listen(tollgate);
  world = await buildWorld({ TOLLGATE_PUBLIC_URL: base, TOLLGATE_MCP_AUTHORIZATION_SERVERS: asUrl });
  app = world.tollgate.app;
});

afterAll(async () => {
  await Promise.allSettled([tollgate && stopServer(tollgate), as && stopServer(as)]);
  await world?.tollgate.close();
});

const metadataUrl = () => `${base}/.well-known/oauth-protected-resource${MCP}`;
const initialize = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "probe", version: "1" } } });

function post(path: string, credential: string | null) {
  return send(base, path, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...(credential ? { authorization: bearer(credential) } : {}) },
    body: initialize,
  });
}

/** The SDK's reading of a challenge, from the header Tollgate sent. */
const sdkReads = (challenge: string | undefined) => extractWWWAuthenticateParams(new Response(null, { status: 401, headers: challenge ? { "www-authenticate": challenge } : {} }));

describe("a 401 from a project's MCP endpoint points MCP clients to its metadata", () => {
  it("without a token: resource_metadata and scope after the realm; the SDK reads both", async () => {
    const res = await post(MCP, null);
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toBe(`Bearer realm="tollgate", resource_metadata="${metadataUrl()}", scope="mcp:read"`);
    expect(res.json()).toMatchObject({ jsonrpc: "2.0", id: 1, error: { code: -32000, data: { reasons: ["missing_token"] } } });
    const read = sdkReads(res.headers["www-authenticate"] as string);
    expect(read.resourceMetadataUrl?.href).toBe(metadataUrl());
    expect(read.scope).toBe("mcp:read");
    expect(read.error).toBeUndefined();
  });

  it("with a bad token: the RFC 6750 error first, then the same; on GET and DELETE too", async () => {
    const bad = await post(MCP, "tg_mcp_notarealtoken");
    expect(bad.status).toBe(401);
    const challenge = bad.headers["www-authenticate"] as string;
    expect(challenge).toMatch(/^Bearer realm="tollgate", error="invalid_token", error_description="[^"]+", resource_metadata="[^"]+", scope="mcp:read"$/);
    expect(sdkReads(challenge)).toEqual({ resourceMetadataUrl: new URL(metadataUrl()), scope: "mcp:read", error: "invalid_token" });
    for (const method of ["GET", "DELETE"]) {
      const res = await send(base, MCP, { method, headers: { accept: "text/event-stream" } });
      expect(res.status, method).toBe(401);
      expect(res.headers["www-authenticate"], method).toBe(`Bearer realm="tollgate", resource_metadata="${metadataUrl()}", scope="mcp:read"`);
    }
  });

  it("only there: other routes' 401 and the endpoint's 403 carry no resource_metadata", async () => {
    const other = await send(base, "/api/v1/projects/priv/builds");
    expect(other.status).toBe(401);
    expect(other.headers["www-authenticate"]).toBe('Bearer realm="tollgate"');
    // A token without a grant for the project: 403, no challenge to re-authorise.
    const token = (await world.tollgate.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "pub", allow_trigger: false }] })).token;
    const denied = await post(MCP, token);
    expect(denied.status).toBe(403);
    expect(denied.headers["www-authenticate"] ?? "").not.toContain("resource_metadata");
  });
});

describe("through forward auth and ext-authz", () => {
  it("a 401 for a project's MCP endpoint names its metadata too (the proxy relays the challenge); other 401s do not", async () => {
    const asked = { "x-original-method": "POST", "x-original-uri": MCP, "mcp-method": "initialize" };
    const forward = await send(base, "/v1/forward-auth", { headers: asked });
    expect(forward.status).toBe(401);
    expect(forward.headers["www-authenticate"]).toBe(`Bearer realm="tollgate", resource_metadata="${metadataUrl()}", scope="mcp:read"`);
    const ext = await send(base, `/v1/ext-authz${MCP}`, { method: "POST", headers: { "mcp-method": "initialize", authorization: bearer("tg_mcp_notarealtoken") } });
    expect(ext.status).toBe(401);
    expect(sdkReads(ext.headers["www-authenticate"] as string)).toEqual({ resourceMetadataUrl: new URL(metadataUrl()), scope: "mcp:read", error: "invalid_token" });
    const other = await send(base, "/v1/forward-auth", { headers: { "x-original-method": "GET", "x-original-uri": "/api/v1/projects/priv/builds" } });
    expect(other.headers["www-authenticate"]).toBe('Bearer realm="tollgate"');
  });
});

describe("the SDK 1.x client's discovery", () => {
  it("fetches the metadata from the challenge's URL, and finds it by itself from the endpoint's URL (path-inserted well-known)", async () => {
    const expected = {
      resource: `${base}${MCP}`,
      authorization_servers: [asUrl],
      bearer_methods_supported: ["header"],
      scopes_supported: ["mcp:read", "mcp:trigger"],
    };
    expect(await discoverOAuthProtectedResourceMetadata(`${base}${MCP}`, { resourceMetadataUrl: metadataUrl() })).toEqual(expected);
    expect(await discoverOAuthProtectedResourceMetadata(`${base}${MCP}`)).toEqual(expected);
  });

  it("auth() goes from the 401 to the authorization server, asking for this endpoint as the resource with scope mcp:read", async () => {
    let redirected: URL | undefined;
    let client: OAuthClientInformationMixed | undefined;
    let verifier = "";
    const provider: OAuthClientProvider = {
      redirectUrl: "http://127.0.0.1/callback",
      clientMetadata: { redirect_uris: ["http://127.0.0.1/callback"], client_name: "tollgate-e2e", token_endpoint_auth_method: "none", grant_types: ["authorization_code"], response_types: ["code"] },
      clientInformation: () => client,
      saveClientInformation: (info) => void (client = info),
      tokens: () => undefined,
      saveTokens: () => undefined,
      redirectToAuthorization: (url) => void (redirected = url),
      saveCodeVerifier: (v) => void (verifier = v),
      codeVerifier: () => verifier,
    };
    const mcp = new Client({ name: "tollgate-e2e", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(new URL(`${base}${MCP}`), { authProvider: provider });
    const err = await mcp.connect(transport).then(
      () => null,
      (e: unknown) => e,
    );
    await mcp.close().catch(() => undefined);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(asHits).toContain("GET /.well-known/oauth-authorization-server");
    expect(asHits).toContain("POST /register");
    expect(redirected?.origin).toBe(asUrl);
    expect(redirected?.pathname).toBe("/authorize");
    expect(redirected?.searchParams.get("resource")).toBe(`${base}${MCP}`);
    expect(redirected?.searchParams.get("scope")).toBe("mcp:read");
    expect(redirected?.searchParams.get("client_id")).toBe("client-1");
    expect(redirected?.searchParams.get("code_challenge_method")).toBe("S256");
  });
});
