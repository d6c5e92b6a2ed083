// End to end with the official MCP SDK 1.x client's OAuth support against an in-process
// Tollgate that is its own authorization server: the 401 and RFC 9728 metadata lead the SDK to
// Tollgate's RFC 8414 metadata; it registers (DCR), sends the "browser" (a test user's session
// cookie) to authorize with PKCE and the endpoint as resource; the user consents; the SDK
// redeems the code, lists and calls tools with the issued token, and refreshes it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sdkClientProvider, sdkConnectWithOAuth } from "./sdk-client.js";
import { register, startOAuthServer, stopDemoUpstream, type OAuthServer } from "./support.js";

let as: OAuthServer;

beforeAll(async () => {
  as = await startOAuthServer();
});

afterAll(async () => {
  await as?.close();
  await stopDemoUpstream();
});

describe("MCP SDK 1.x OAuth against Tollgate as the authorization server", () => {
  it("discovers, registers, authorizes with PKCE for the endpoint, and lists and calls tools with the issued token", async () => {
    const { provider, state } = sdkClientProvider(as, "bob");
    const client = await sdkConnectWithOAuth(as, "priv", provider, state);
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
    const readOnly = sdkClientProvider(as, "bob");
    const ro = await sdkConnectWithOAuth(as, "priv", readOnly.provider, readOnly.state);
    const refused = await ro.callTool({ name: "trigger_build", arguments: {} }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(refused?.message).toMatch(/trigger_not_allowed|-32003|403/);
    await ro.close();
    // Registered beforehand for both scopes (the SDK registers for the challenge's mcp:read only).
    const trigger = sdkClientProvider(as, "bob", { allow_trigger: true });
    trigger.state.client = await register(as.url, { client_name: "SDK Agent", scope: "mcp:read mcp:trigger" });
    const rw = await sdkConnectWithOAuth(as, "priv", trigger.provider, trigger.state);
    const ok = await rw.callTool({ name: "trigger_build", arguments: {} });
    expect(ok.isError ?? false).toBe(false);
    await rw.close();
  });
});
