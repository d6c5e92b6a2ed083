// End to end with the official MCP SDK 1.x client's OAuth support against an in-process
// Tollgate that is its own authorization server: the 401 and RFC 9728 metadata lead the SDK to
// Tollgate's RFC 8414 metadata; it registers (DCR), sends the "browser" (a test user's session
// cookie) to authorize with PKCE and the endpoint as resource; the user consents; the SDK
// redeems the code, lists and calls tools with the issued token, and refreshes it.
import { UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { OAuthClientInformationMixed, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser, consentForm, register, startOAuthServer, stopDemoUpstream, REDIRECT_URI, type OAuthServer } from "./support.js";

let as: OAuthServer;

beforeAll(async () => {
  as = await startOAuthServer();
});

afterAll(async () => {
  await as?.close();
  await stopDemoUpstream();
});

/** The SDK's client-side OAuth state, in memory; "the browser" is bob's, consenting as told. */
function clientProvider(user: string, decision: { allow_trigger?: boolean } = {}) {
  const state: { client?: OAuthClientInformationMixed; tokens?: OAuthTokens; verifier: string; code?: string; authorizeUrl?: URL } = { verifier: "" };
  const provider: OAuthClientProvider = {
    redirectUrl: REDIRECT_URI,
    clientMetadata: { redirect_uris: [REDIRECT_URI], client_name: "SDK Agent", token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], },
    clientInformation: () => state.client,
    saveClientInformation: (info) => void (state.client = info),
    tokens: () => state.tokens,
    saveTokens: (tokens) => void (state.tokens = tokens),
    saveCodeVerifier: (v) => void (state.verifier = v),
    codeVerifier: () => state.verifier,
    // The user's browser: authorize, the consent page, the decision, back to the client's callback.
    redirectToAuthorization: async (url) => {
      state.authorizeUrl = url;
      // The SDK asks for the challenge's scope (mcp:read); a client that wants to trigger asks for more.
      if (decision.allow_trigger) url.searchParams.set("scope", "mcp:read mcp:trigger");
      const browser = new Browser(as.url, user);
      const start = await browser.request(url);
      if (!start.location?.pathname.startsWith("/ui/consent")) throw new Error(`authorize answered ${start.status} ${start.location?.href ?? start.body}`);
      const page = await browser.request(start.location!);
      expect(page.status, page.body).toBe(200);
      const decided = await browser.post("/ui/consent", { ...consentForm(page.body), decision: "allow", expires_in: String(7 * 86_400), ...(decision.allow_trigger ? { allow_trigger: "true" } : {}) });
      const back = await browser.request(decided.location!);
      expect(back.location?.searchParams.get("iss")).toBe(as.url);
      state.code = back.location!.searchParams.get("code")!;
    },
  };
  return { provider, state };
}

/** Connects as the SDK does: a 401 starts auth(); once the code is back, finishAuth() and connect again. */
async function connectWithOAuth(project: string, provider: OAuthClientProvider, state: { code?: string }): Promise<Client> {
  const url = new URL(as.mcpResource(project));
  const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
  const err = await new Client({ name: "sdk-agent", version: "1.0.0" }).connect(first).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, String(err)).toBeInstanceOf(UnauthorizedError);
  expect(state.code).toBeTruthy();
  await first.finishAuth(state.code!);
  const client = new Client({ name: "sdk-agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
  return client;
}

describe("MCP SDK 1.x OAuth against Tollgate as the authorization server", () => {
  it("discovers, registers, authorizes with PKCE for the endpoint, and lists and calls tools with the issued token", async () => {
    const { provider, state } = clientProvider("bob");
    const client = await connectWithOAuth("priv", provider, state);
    try {
      expect(state.authorizeUrl?.origin).toBe(as.url);
      expect(state.authorizeUrl?.pathname).toBe("/oauth/authorize");
      expect(state.authorizeUrl?.searchParams.get("resource")).toBe(as.mcpResource("priv"));
      expect(state.authorizeUrl?.searchParams.get("code_challenge_method")).toBe("S256");
      expect(state.tokens?.access_token).toMatch(/^tg_oat_[0-9A-Za-z]{49}$/);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("list_builds");
      const result = await client.callTool({ name: "get_build", arguments: { build_id: "b2" } });
      expect(JSON.parse((result as { content: Array<{ text: string }> }).content[0]!.text)).toMatchObject({ id: "b2", project: "priv" });
      // The token is bob's MCP token for this client: the audit trail names it.
      const record = (await as.tollgate.facts.tokenStore.listByUser("bob")).find((r) => r.oauth?.client_id === (state.client as { client_id: string }).client_id);
      expect(record).toMatchObject({ kind: "mcp", name: "SDK Agent", grants: [{ project_id: "priv", allow_trigger: false }] });
      const audit = as.tollgate.backends.audit;
      await audit.flush();
      const { records } = await audit.query({ token_id: record!.id, limit: 100 });
      expect(records.length).toBeGreaterThan(0);
      for (const r of records) expect(r).toMatchObject({ user_id: "bob", allow: true });
    } finally {
      await client.close();
    }
  });

  it("a read-only grant is refused trigger_build by the policy (-32003); an approved allow_trigger lets it through", async () => {
    const readOnly = clientProvider("bob");
    const ro = await connectWithOAuth("priv", readOnly.provider, readOnly.state);
    const refused = await ro.callTool({ name: "trigger_build", arguments: {} }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(refused?.message).toMatch(/trigger_not_allowed|-32003|403/);
    await ro.close();
    // Registered beforehand for both scopes (the SDK registers for the challenge's mcp:read only).
    const trigger = clientProvider("bob", { allow_trigger: true });
    trigger.state.client = await register(as.url, { client_name: "SDK Agent", scope: "mcp:read mcp:trigger" });
    const rw = await connectWithOAuth("priv", trigger.provider, trigger.state);
    const ok = await rw.callTool({ name: "trigger_build", arguments: {} });
    expect(ok.isError ?? false).toBe(false);
    await rw.close();
  });
});
