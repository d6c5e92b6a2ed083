// The authorization server end to end over HTTP, in process on the in-memory stores: metadata,
// registration, authorization with consent, the code and refresh grants, revocation, and the
// issued tokens at the gateway.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizeWithConsent, Browser, issueTokens, mcpCall, pkce, register, startOAuthServer, stopDemoUpstream, tokenRequest, REDIRECT_URI, type OAuthServer, type TokensForOptions } from "./support.js";

let as: OAuthServer;

beforeAll(async () => {
  as = await startOAuthServer();
});

afterAll(async () => {
  await as?.close();
  await stopDemoUpstream();
});

const tokensFor = (user: string, options: TokensForOptions = {}) => issueTokens(as, user, options);

describe("authorization server metadata (RFC 8414)", () => {
  it("is served at /.well-known/oauth-authorization-server with the issuer TOLLGATE_PUBLIC_URL and the fields of issue 11 §1", async () => {
    const res = await fetch(`${as.url}/.well-known/oauth-authorization-server`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({
      issuer: as.url,
      authorization_endpoint: `${as.url}/oauth/authorize`,
      token_endpoint: `${as.url}/oauth/token`,
      registration_endpoint: `${as.url}/oauth/register`,
      revocation_endpoint: `${as.url}/oauth/revoke`,
      response_types_supported: ["code"],
      response_modes_supported: ["query"],
      grant_types_supported: ["authorization_code", "refresh_token"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["none"],
      revocation_endpoint_auth_methods_supported: ["none"],
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
      scopes_supported: ["mcp:read", "mcp:trigger"],
    });
  });
});

describe("the code flow", () => {
  it("registers a client, asks the signed-in user, returns code, state and iss, and issues opaque tokens that work on the approved MCP endpoint", async () => {
    const client = await register(as.url);
    expect(client).toMatchObject({ token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"] });
    expect(client).not.toHaveProperty("client_secret");
    const { verifier, challenge } = pkce();
    const resource = as.mcpResource("priv");
    const back = await authorizeWithConsent(new Browser(as.url, "bob"), { client_id: client.client_id, resource, code_challenge: challenge, state: "xyz" });
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI);
    expect(back.searchParams.get("state")).toBe("xyz");
    expect(back.searchParams.get("iss")).toBe(as.url);
    const res = await tokenRequest(as.url, { grant_type: "authorization_code", code: back.searchParams.get("code")!, redirect_uri: REDIRECT_URI, client_id: client.client_id, code_verifier: verifier, resource });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: "Bearer", scope: "mcp:read", expires_in: 3600 });
    expect(res.body.access_token).toMatch(/^tg_oat_[0-9A-Za-z]{49}$/);
    expect(res.body.refresh_token).toMatch(/^tg_ort_[0-9A-Za-z]{49}$/);

    const call = await mcpCall(as.url, "priv", res.body.access_token);
    expect(call.status, call.body).toBe(200);
    expect(call.body).toContain("demo-priv");
  });

  it("records the token as bob's MCP token for the client, with the approved grant, hashed: never the value", async () => {
    const t = await tokensFor("bob");
    const records = (await as.tollgate.facts.tokenStore.listByUser("bob")).filter((r) => r.oauth?.client_id === t.client.client_id);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ kind: "mcp", name: "Test Agent", grants: [{ project_id: "priv", allow_trigger: false }], oauth: { client_id: t.client.client_id, client_name: "Test Agent" } });
    expect(JSON.stringify(records[0])).not.toContain(t.access_token);
  });

  it("a token is invalid_token on another project's MCP endpoint and on the project's other routes", async () => {
    const t = await tokensFor("alice");
    expect((await mcpCall(as.url, "priv", t.access_token)).status).toBe(200);
    const other = await mcpCall(as.url, "pub", t.access_token);
    expect(other.status).toBe(401);
    expect(other.body).toContain("invalid_token");
    const rest = await fetch(`${as.url}/api/v1/mcp/projects/priv/builds`, { headers: { authorization: `Bearer ${t.access_token}` } });
    expect(rest.status).toBe(401);
  });

  it("mcp:trigger is granted only when asked for and ticked by a Developer or above", async () => {
    const withTrigger = await tokensFor("bob", { scope: "mcp:read mcp:trigger", allow_trigger: true });
    expect(withTrigger.scope).toBe("mcp:read mcp:trigger");
    const record = await as.tollgate.facts.tokenByHash((await import("../../src/tokens/format.js")).hashToken(withTrigger.access_token));
    expect(record?.grants).toMatchObject([{ project_id: "priv", allow_trigger: true }]);
    const notTicked = await tokensFor("bob", { scope: "mcp:read mcp:trigger" });
    expect(notTicked.scope).toBe("mcp:read");
  });
});
