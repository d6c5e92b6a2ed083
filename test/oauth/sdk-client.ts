// The official MCP SDK 1.x client's OAuth side for the end-to-end tests: its client-side state in
// memory, and "the browser" of a test user who consents as told.
import { UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { OAuthClientInformationMixed, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { expect } from "vitest";
import { Browser, consentForm, REDIRECT_URI, type OAuthServer } from "./support.js";

export interface SdkClientState {
  client?: OAuthClientInformationMixed;
  tokens?: OAuthTokens;
  verifier: string;
  code?: string;
  authorizeUrl?: URL;
}

/**
 * The SDK's OAuthClientProvider. `clientMetadataUrl`: the client's Client ID Metadata Document,
 * used as its client_id when the authorization server supports them (else the SDK registers).
 */
export function sdkClientProvider(as: OAuthServer, user: string, options: { allow_trigger?: boolean; clientMetadataUrl?: string } = {}): { provider: OAuthClientProvider; state: SdkClientState } {
  const state: SdkClientState = { verifier: "" };
  const provider: OAuthClientProvider = {
    redirectUrl: REDIRECT_URI,
    ...(options.clientMetadataUrl ? { clientMetadataUrl: options.clientMetadataUrl } : {}),
    clientMetadata: { redirect_uris: [REDIRECT_URI], client_name: "SDK Agent", token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"], response_types: ["code"] },
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
      if (options.allow_trigger) url.searchParams.set("scope", "mcp:read mcp:trigger");
      const browser = new Browser(as.url, user);
      const start = await browser.request(url);
      if (!start.location?.pathname.startsWith("/ui/consent")) throw new Error(`authorize answered ${start.status} ${start.location?.href ?? start.body}`);
      const page = await browser.request(start.location!);
      expect(page.status, page.body).toBe(200);
      const decided = await browser.post("/ui/consent", { ...consentForm(page.body), decision: "allow", expires_in: String(7 * 86_400), ...(options.allow_trigger ? { allow_trigger: "true" } : {}) });
      const back = await browser.request(decided.location!);
      expect(back.location?.searchParams.get("iss")).toBe(as.url);
      state.code = back.location!.searchParams.get("code")!;
    },
  };
  return { provider, state };
}

/** Connects as the SDK does: a 401 starts auth(); once the code is back, finishAuth() and connect again. */
export async function sdkConnectWithOAuth(as: OAuthServer, project: string, provider: OAuthClientProvider, state: { code?: string }): Promise<Client> {
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
