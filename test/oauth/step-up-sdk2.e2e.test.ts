// Step-up with the official MCP client 2.x (@modelcontextprotocol/client): it connects with a
// read-only grant, calls trigger_build, reads the 403 insufficient_scope challenge, sends the
// user to authorize again with the union of scopes, and once the user allowed triggering, the
// call goes through with the new token.
import { Client, StreamableHTTPClientTransport, UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser, consentForm, startOAuthServer, stopDemoUpstream, REDIRECT_URI, type OAuthServer } from "./support.js";

let as: OAuthServer;

beforeAll(async () => {
  as = await startOAuthServer();
});

afterAll(async () => {
  await as?.close();
  await stopDemoUpstream();
});

describe("MCP client 2.x step-up", () => {
  it("re-authorises for mcp:trigger on the 403 challenge and then calls the trigger tool", async () => {
    const state: { client?: unknown; tokens?: unknown; verifier: string; callback?: URLSearchParams; scopesAsked: string[] } = { verifier: "", scopesAsked: [] };
    const provider = {
      redirectUrl: REDIRECT_URI,
      clientMetadata: { redirect_uris: [REDIRECT_URI], client_name: "SDK2 Agent", token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"], response_types: ["code"] },
      clientInformation: () => state.client,
      saveClientInformation: (info: unknown) => void (state.client = info),
      tokens: () => state.tokens,
      saveTokens: (tokens: unknown) => void (state.tokens = tokens),
      saveCodeVerifier: (v: string) => void (state.verifier = v),
      codeVerifier: () => state.verifier,
      // bob (Developer) consents, ticking trigger whenever the client asks for it.
      redirectToAuthorization: async (url: URL) => {
        const scope = url.searchParams.get("scope") ?? "";
        state.scopesAsked.push(scope);
        const browser = new Browser(as.url, "bob");
        const start = await browser.request(url);
        if (!start.location?.pathname.startsWith("/ui/consent")) throw new Error(`authorize answered ${start.status} ${start.location?.href ?? start.body}`);
        const page = await browser.request(start.location!);
        const trigger = scope.split(" ").includes("mcp:trigger");
        const decided = await browser.post("/ui/consent", { ...consentForm(page.body), decision: "allow", expires_in: String(86_400), ...(trigger ? { allow_trigger: "true" } : {}) });
        state.callback = (await browser.request(decided.location!)).location!.searchParams;
      },
    } as unknown as OAuthClientProvider;

    const url = new URL(as.mcpResource("priv"));
    const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
    const refused = await new Client({ name: "sdk2-agent", version: "2.0.0" }).connect(first).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused, String(refused)).toBeInstanceOf(UnauthorizedError);
    await first.finishAuth(state.callback!);
    const transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
    const client = new Client({ name: "sdk2-agent", version: "2.0.0" });
    await client.connect(transport);
    try {
      expect(((await client.listTools()).tools ?? []).map((t) => t.name)).not.toContain("trigger_build");
      // The step-up: the client meets the 403, asks the user again, and must come back with the code.
      const stepUp = await client.callTool({ name: "trigger_build", arguments: {} }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(stepUp, String(stepUp)).toBeInstanceOf(UnauthorizedError);
      expect(state.scopesAsked.at(-1)!.split(" ").sort()).toEqual(["mcp:read", "mcp:trigger"]);
      await transport.finishAuth(state.callback!);
      const result = await client.callTool({ name: "trigger_build", arguments: {} });
      expect(result.isError ?? false).toBe(false);
    } finally {
      await client.close();
    }
  });
});
