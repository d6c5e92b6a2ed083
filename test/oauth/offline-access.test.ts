// offline_access (docs/oauth.md "Refresh tokens and offline_access"): a client need not ask for
// it. Every client registered for the refresh_token grant gets a refresh token with or without
// it; asking for it (as OpenID Connect clients and the MCP SDK do, with prompt=consent) is
// accepted and changes nothing; a client not registered for refresh_token never gets one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizePath, Browser, consentForm, mcpCall, pkce, register, startOAuthServer, stopDemoUpstream, tokenRequest, REDIRECT_URI, type OAuthServer } from "./support.js";

let as: OAuthServer;

beforeAll(async () => {
  as = await startOAuthServer();
});

afterAll(async () => {
  await as?.close();
  await stopDemoUpstream();
});

/** The token response for a code approved by bob with `scope` (and any extra authorization parameters). */
async function tokensFor(clientId: string, scope: string, extra: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const { verifier, challenge } = pkce();
  const resource = as.mcpResource("priv");
  const browser = new Browser(as.url, "bob");
  const path = `${authorizePath({ client_id: clientId, resource, code_challenge: challenge, scope })}&${new URLSearchParams(extra)}`;
  const start = await browser.request(path);
  expect(start.status, start.body).toBe(303);
  expect(start.location!.pathname, start.location!.href).toBe("/ui/consent");
  const page = await browser.request(start.location!);
  expect(page.status, page.body).toBe(200);
  const decided = await browser.post("/ui/consent", { ...consentForm(page.body), decision: "allow", expires_in: String(86_400) });
  expect(decided.status, decided.body).toBe(303);
  const back = (await browser.request(decided.location!)).location!;
  const code = back.searchParams.get("code");
  expect(code, back.href).toBeTruthy();
  return tokenRequest(as.url, { grant_type: "authorization_code", code: code!, redirect_uri: REDIRECT_URI, client_id: clientId, code_verifier: verifier, resource });
}

describe("offline_access", () => {
  it("is not needed: a client registered for refresh_token gets a refresh token without asking for it", async () => {
    const client = await register(as.url);
    const t = await tokensFor(client.client_id, "mcp:read");
    expect(t.status).toBe(200);
    expect(t.body.refresh_token).toEqual(expect.any(String));
    expect(t.body.scope).toBe("mcp:read");
    const refreshed = await tokenRequest(as.url, { grant_type: "refresh_token", refresh_token: t.body.refresh_token, client_id: client.client_id });
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    expect((await mcpCall(as.url, "priv", refreshed.body.access_token)).status).toBe(200);
  });

  it("asked for (with prompt=consent, as the MCP SDK sends it) is accepted and changes nothing", async () => {
    const client = await register(as.url);
    const t = await tokensFor(client.client_id, "mcp:read offline_access", { prompt: "consent" });
    expect(t.status, JSON.stringify(t.body)).toBe(200);
    expect(t.body.refresh_token).toEqual(expect.any(String));
    expect(t.body.scope).toBe("mcp:read");
    expect((await mcpCall(as.url, "priv", t.body.access_token)).status).toBe(200);
  });

  it("a client not registered for the refresh_token grant gets none, asked for or not", async () => {
    const client = await register(as.url, { grant_types: ["authorization_code"] });
    for (const scope of ["mcp:read", "mcp:read offline_access"]) {
      const t = await tokensFor(client.client_id, scope);
      expect(t.status, JSON.stringify(t.body)).toBe(200);
      expect(t.body.refresh_token, scope).toBeUndefined();
      expect((await mcpCall(as.url, "priv", t.body.access_token)).status).toBe(200);
    }
  });
});
