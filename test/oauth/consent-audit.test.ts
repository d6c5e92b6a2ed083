// The consent page's answers are audited (source "ui"): consent.allow and consent.deny, naming the
// user, the project and the client; never a code, a cookie or the page's CSRF token.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizeWithConsent, Browser, pkce, register, startOAuthServer, stopDemoUpstream, type OAuthServer } from "./support.js";

let as: OAuthServer;

beforeAll(async () => {
  as = await startOAuthServer();
});

afterAll(async () => {
  await as?.close();
  await stopDemoUpstream();
});

describe("consent audit", () => {
  it("records Allow and Deny with the user, the project and the client, and nothing secret", async () => {
    const client = await register(as.url);
    const resource = as.mcpResource("priv");
    const browser = new Browser(as.url, "bob");
    const allowed = await authorizeWithConsent(browser, { client_id: client.client_id, resource, code_challenge: pkce().challenge }, { decision: "allow" });
    const code = allowed.searchParams.get("code")!;
    expect(code).toBeTruthy();
    const denied = await authorizeWithConsent(new Browser(as.url, "bob"), { client_id: client.client_id, resource, code_challenge: pkce().challenge }, { decision: "deny" });
    expect(denied.searchParams.get("error")).toBe("access_denied");

    const audit = as.tollgate.backends.audit;
    await audit.flush();
    const records = (await audit.query({ source: "ui", limit: 100 })).records.filter((r) => r.target?.endsWith(`/oauth_client:${client.client_id}`));
    expect(records.map((r) => r.action).sort()).toEqual(["consent.allow", "consent.deny"]);
    for (const r of records) {
      expect(r).toMatchObject({ source: "ui", subject_type: "user", user_id: "bob", target: `project:priv/oauth_client:${client.client_id}`, method: "POST", path: "/ui/consent", status: 303, allow: true });
    }
    const stored = JSON.stringify(records);
    expect(stored).not.toContain(code);
    // The provider's interaction and session cookies (the test's stand-in for the browser session only names the user).
    for (const [name, value] of browser.cookies) if (name !== "tg_test_user") expect(stored).not.toContain(value);
  });
});
