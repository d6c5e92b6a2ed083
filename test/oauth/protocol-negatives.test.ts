// What the authorization server refuses: PKCE, redirect URIs, resources, reused codes and
// refresh tokens (with the family revoke), revocation, and the consent page's refusals.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialResolver } from "../../src/auth/credentials.js";
import type { JwtVerifier } from "../../src/auth/jwt.js";
import { authorizePath, authorizeWithConsent, Browser, consentForm, mcpCall, pkce, register, startOAuthServer, stopDemoUpstream, tokenRequest, REDIRECT_URI, type OAuthServer } from "./support.js";

let as: OAuthServer;

beforeAll(async () => {
  as = await startOAuthServer();
});

afterAll(async () => {
  await as?.close();
  await stopDemoUpstream();
});

/** A registered client, a PKCE pair and a code approved by `user` for priv's MCP endpoint. */
async function approvedCode(user = "bob") {
  const client = await register(as.url);
  const { verifier, challenge } = pkce();
  const resource = as.mcpResource("priv");
  const back = await authorizeWithConsent(new Browser(as.url, user), { client_id: client.client_id, resource, code_challenge: challenge });
  const code = back.searchParams.get("code");
  expect(code, back.href).toBeTruthy();
  return { client, verifier, resource, code: code! };
}

function redeem(c: { client: { client_id: string }; verifier: string; resource: string; code: string }, overrides: Record<string, string> = {}) {
  return tokenRequest(as.url, { grant_type: "authorization_code", code: c.code, redirect_uri: REDIRECT_URI, client_id: c.client.client_id, code_verifier: c.verifier, resource: c.resource, ...overrides });
}

function refresh(clientId: string, refreshToken: string) {
  return tokenRequest(as.url, { grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId });
}

/** The error the authorization endpoint sends back to the client's redirect URI. */
async function authorizeError(params: Parameters<typeof authorizePath>[0]): Promise<URLSearchParams> {
  const res = await new Browser(as.url, "bob").request(authorizePath(params));
  expect(res.status, res.body).toBe(303);
  expect(`${res.location!.origin}${res.location!.pathname}`).toBe(REDIRECT_URI);
  return res.location!.searchParams;
}

describe("authorization request", () => {
  it("refuses a request without PKCE, or with plain: invalid_request back to the client, with state and iss", async () => {
    const client = await register(as.url);
    const resource = as.mcpResource("priv");
    const missing = await authorizeError({ client_id: client.client_id, resource, code_challenge: null, code_challenge_method: null, state: "s1" });
    expect(Object.fromEntries(missing)).toMatchObject({ error: "invalid_request", state: "s1", iss: as.url });
    const plain = await authorizeError({ client_id: client.client_id, resource, code_challenge: "a".repeat(43), code_challenge_method: "plain" });
    expect(plain.get("error")).toBe("invalid_request");
  });

  it("refuses a request without a resource, or naming anything but an existing project's MCP endpoint: invalid_target", async () => {
    const client = await register(as.url);
    const { challenge } = pkce();
    for (const resource of [null, `${as.url}/api/v1/mcp/projects/nope/mcp`, `${as.url}/api/v1/mcp/projects/priv/trigger`, "https://elsewhere.example.com/api/v1/mcp/projects/priv/mcp"]) {
      const params = await authorizeError({ client_id: client.client_id, resource, code_challenge: challenge });
      expect(params.get("error"), String(resource)).toBe("invalid_target");
    }
  });

  it("takes a loopback IP redirect URI on any port (RFC 8252 §7.3), nothing else looser", async () => {
    const client = await register(as.url);
    const { verifier, challenge } = pkce();
    const resource = as.mcpResource("priv");
    const redirect_uri = "http://127.0.0.1:41234/callback";
    const back = await authorizeWithConsent(new Browser(as.url, "bob"), { client_id: client.client_id, resource, code_challenge: challenge, redirect_uri });
    expect(`${back.origin}${back.pathname}`).toBe(redirect_uri);
    const t = await tokenRequest(as.url, { grant_type: "authorization_code", code: back.searchParams.get("code")!, redirect_uri, client_id: client.client_id, code_verifier: verifier, resource });
    expect(t.status).toBe(200);
  });

  it("never redirects to a redirect URI the client did not register", async () => {
    const client = await register(as.url);
    const { challenge } = pkce();
    for (const redirect_uri of ["http://127.0.0.1:53682/other", "https://evil.example.com/callback", `${REDIRECT_URI}?x=1`]) {
      const res = await new Browser(as.url, "bob").request(authorizePath({ client_id: client.client_id, resource: as.mcpResource("priv"), code_challenge: challenge, redirect_uri }));
      expect(res.status, redirect_uri).toBe(400);
      expect(res.headers.get("location")).toBeNull();
      expect(res.json()).toMatchObject({ error: "invalid_redirect_uri" });
    }
  });
});

describe("token request", () => {
  it("refuses a wrong verifier, another redirect URI, another resource or another client: invalid_grant / invalid_target", async () => {
    const c = await approvedCode();
    expect((await redeem(c, { code_verifier: pkce().verifier })).body).toMatchObject({ error: "invalid_grant" });
    const c2 = await approvedCode();
    expect((await redeem(c2, { redirect_uri: "http://127.0.0.1:53682/other" })).body.error).toMatch(/invalid_grant|invalid_request/);
    const c3 = await approvedCode();
    expect((await redeem(c3, { resource: as.mcpResource("pub") })).body).toMatchObject({ error: "invalid_target" });
    const c4 = await approvedCode();
    const other = await register(as.url);
    expect((await redeem(c4, { client_id: other.client_id })).body).toMatchObject({ error: "invalid_grant" });
  });

  it("a code is single-use: the second redemption is invalid_grant and revokes every token issued from it", async () => {
    const c = await approvedCode();
    const first = await redeem(c);
    expect(first.status).toBe(200);
    expect((await mcpCall(as.url, "priv", first.body.access_token)).status).toBe(200);
    const second = await redeem(c);
    expect(second.status).toBe(400);
    expect(second.body).toMatchObject({ error: "invalid_grant" });
    const after = await mcpCall(as.url, "priv", first.body.access_token);
    expect(after.status).toBe(401);
    expect(after.body).toContain("revoked_token");
    expect((await refresh(c.client.client_id, first.body.refresh_token)).body).toMatchObject({ error: "invalid_grant" });
  });

  it("rotates refresh tokens; a rotated one used again revokes the whole family", async () => {
    const c = await approvedCode();
    const first = (await redeem(c)).body;
    const second = await refresh(c.client.client_id, first.refresh_token);
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    expect(second.body.access_token).not.toBe(first.access_token);
    expect((await mcpCall(as.url, "priv", second.body.access_token)).status).toBe(200);
    // The same token record family: the binding id is the grant, unchanged by refreshing.
    const records = (await as.tollgate.facts.tokenStore.listByUser("bob")).filter((r) => r.oauth?.client_id === c.client.client_id);
    expect(records).toHaveLength(2);
    expect(new Set(records.map((r) => r.oauth!.grant_id)).size).toBe(1);
    // Both tokens' subjects carry the grant as their binding id: MCP sessions survive a refresh.
    const resolver = new CredentialResolver(as.tollgate.facts, {} as JwtVerifier);
    for (const token of [first.access_token, second.body.access_token]) {
      const credential = await resolver.resolve(`Bearer ${token}`);
      expect(credential).toMatchObject({ status: "valid", subject: { type: "mcp_token", binding_id: records[0]!.oauth!.grant_id, oauth: { client_id: c.client.client_id, project_id: "priv" } } });
    }

    const reuse = await refresh(c.client.client_id, first.refresh_token);
    expect(reuse.body).toMatchObject({ error: "invalid_grant" });
    expect((await refresh(c.client.client_id, second.body.refresh_token)).body).toMatchObject({ error: "invalid_grant" });
    for (const token of [first.access_token, second.body.access_token]) expect((await mcpCall(as.url, "priv", token)).status).toBe(401);
  });

  it("revokes an access token (RFC 7009): the gateway refuses it at once", async () => {
    const c = await approvedCode();
    const t = (await redeem(c)).body;
    const res = await fetch(`${as.url}/oauth/revoke`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: t.access_token, client_id: c.client.client_id }) });
    expect(res.status).toBe(200);
    const after = await mcpCall(as.url, "priv", t.access_token);
    expect(after.status).toBe(401);
    expect(after.body).toContain("revoked_token");
  });

  it("revoking a refresh token revokes its family", async () => {
    const c = await approvedCode();
    const t = (await redeem(c)).body;
    await fetch(`${as.url}/oauth/revoke`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: t.refresh_token, client_id: c.client.client_id }) });
    expect((await mcpCall(as.url, "priv", t.access_token)).status).toBe(401);
    expect((await refresh(c.client.client_id, t.refresh_token)).body).toMatchObject({ error: "invalid_grant" });
  });
});

describe("the consent page", () => {
  async function consentPage(user: string | undefined, scope = "mcp:read") {
    const client = await register(as.url);
    const browser = new Browser(as.url, user);
    const start = await browser.request(authorizePath({ client_id: client.client_id, resource: as.mcpResource("priv"), code_challenge: pkce().challenge, scope }));
    const page = await browser.request(start.location!);
    return { browser, page, client };
  }

  it("sends a browser without a session to sign in, and back here afterwards", async () => {
    const { page } = await consentPage(undefined);
    expect(page.status).toBe(303);
    expect(page.location!.pathname).toBe("/ui/login");
    expect(page.location!.searchParams.get("return_to")).toMatch(/^\/ui\/consent\?uid=/);
  });

  it("names the client, the redirect host and the project; is not framable and runs no script", async () => {
    const { page } = await consentPage("bob");
    expect(page.status).toBe(200);
    expect(page.body).toContain("Test Agent");
    expect(page.body).toContain("127.0.0.1:53682");
    expect(page.body).toContain("Private");
    expect(page.body).toContain(as.mcpResource("priv"));
    expect(page.body).not.toContain("<script");
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(page.body).not.toContain("allow_trigger"); // mcp:trigger not asked for
  });

  it("offers allow_trigger only to a Developer or above who may write, and only when mcp:trigger is asked for", async () => {
    expect((await consentPage("bob", "mcp:read mcp:trigger")).page.body).toContain('name="allow_trigger"');
    expect((await consentPage("carol", "mcp:read mcp:trigger")).page.body).not.toContain('name="allow_trigger"'); // a system viewer
    const dave = (await consentPage("dave")).page.body;
    expect(dave).toContain("You do not collaborate on this project");
    expect(dave).not.toContain('value="allow"');
  });

  it("refuses a decision without the page's CSRF token, or an allow_trigger not asked for or not allowed", async () => {
    const { browser, page } = await consentPage("bob");
    const form = consentForm(page.body);
    expect((await browser.post("/ui/consent", { uid: form.uid, csrf: "forged", decision: "allow", expires_in: "86400" })).status).toBe(403);
    expect((await browser.post("/ui/consent", { ...form, decision: "allow", expires_in: "86400", allow_trigger: "true" })).status).toBe(400);
    expect((await browser.post("/ui/consent", { ...form, decision: "allow", expires_in: "12345" })).status).toBe(400);
    const carol = await consentPage("carol", "mcp:read mcp:trigger");
    expect((await carol.browser.post("/ui/consent", { ...consentForm(carol.page.body), decision: "allow", expires_in: "86400", allow_trigger: "true" })).status).toBe(403);
  });

  it("Deny answers access_denied to the client, with state and iss", async () => {
    const client = await register(as.url);
    const back = await authorizeWithConsent(new Browser(as.url, "bob"), { client_id: client.client_id, resource: as.mcpResource("priv"), code_challenge: pkce().challenge, state: "d1" }, { decision: "deny" });
    expect(Object.fromEntries(back.searchParams)).toMatchObject({ error: "access_denied", state: "d1", iss: as.url });
  });

  it("the expiry chosen caps the grant: the token record's grant expires then", async () => {
    const client = await register(as.url);
    const { verifier, challenge } = pkce();
    const resource = as.mcpResource("priv");
    const before = Date.now();
    const back = await authorizeWithConsent(new Browser(as.url, "bob"), { client_id: client.client_id, resource, code_challenge: challenge }, { expires_in: 86_400 });
    const t = await tokenRequest(as.url, { grant_type: "authorization_code", code: back.searchParams.get("code")!, redirect_uri: REDIRECT_URI, client_id: client.client_id, code_verifier: verifier, resource });
    expect(t.status).toBe(200);
    const record = (await as.tollgate.facts.tokenStore.listByUser("bob")).find((r) => r.oauth?.client_id === client.client_id)!;
    const grantExpiry = record.grants[0]!.expires_at!.getTime();
    expect(grantExpiry).toBeGreaterThanOrEqual(before + 86_400_000 - 2_000);
    expect(grantExpiry).toBeLessThanOrEqual(Date.now() + 86_400_000 + 2_000);
  });
});

describe("dynamic client registration", () => {
  it("admits TOLLGATE_OAUTH_REGISTRATIONS_PER_HOUR registrations per client address in an hour, then 429 with Retry-After", async () => {
    const own = await startOAuthServer({ env: { TOLLGATE_OAUTH_REGISTRATIONS_PER_HOUR: "10" } });
    try {
      for (let i = 0; i < 10; i++) await register(own.url);
      const res = await fetch(`${own.url}/oauth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none" }) });
      expect(res.status).toBe(429);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await res.json()).toMatchObject({ error: { code: "rate_limited" } });
    } finally {
      await own.close();
    }
  });

  it("registers public clients only: a client secret is never issued", async () => {
    const res = await fetch(`${as.url}/oauth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "client_secret_basic" }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "invalid_client_metadata" });
  });
});
