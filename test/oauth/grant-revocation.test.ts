// The tokens an MCP client got by OAuth, as their user and the operator see them: one row per
// grant on the tokens page and in GET /api/v1/mcp/tokens, with the client's name and URL; and
// revoking one (the page, DELETE on the token API, the admin API, the CLI: all TokenIssuer.revoke)
// revokes the whole grant: every access token record, the refresh tokens, the grant.
import { SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { revokeToken } from "../../src/cli/token.js";
import { startMongo, type MongoServer } from "../support/servers.js";
import { ADMIN_TOKEN, JWT_SECRET } from "../http/fixture.js";
import { csrfOf, formBrowser } from "../ui/browser.js";
import { authorizeWithConsent, Browser, mcpCall, pkce, register, startOAuthServer, stopDemoUpstream, tokenRequest, REDIRECT_URI, type OAuthServer } from "./support.js";

const CLIENT_URI = "https://agent.example/about";

/** bob's session JWT for the self-service API. */
async function session(user: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(user).setIssuedAt(now - 60).setExpirationTime(now + 3600).sign(new TextEncoder().encode(JWT_SECRET));
}

/**
 * bob approves a client for priv; the client redeems the code and refreshes once: one grant,
 * two access tokens (two records). What a client holds afterwards.
 */
async function refreshedGrant(as: OAuthServer) {
  const client = await register(as.url, { client_name: "Agent X", client_uri: CLIENT_URI });
  const { verifier, challenge } = pkce();
  const resource = as.mcpResource("priv");
  const back = await authorizeWithConsent(new Browser(as.url, "bob"), { client_id: client.client_id, resource, code_challenge: challenge }, { expires_in: 7 * 86_400 });
  const first = await tokenRequest(as.url, { grant_type: "authorization_code", code: back.searchParams.get("code")!, redirect_uri: REDIRECT_URI, client_id: client.client_id, code_verifier: verifier, resource });
  expect(first.status, JSON.stringify(first.body)).toBe(200);
  const second = await tokenRequest(as.url, { grant_type: "refresh_token", refresh_token: first.body.refresh_token, client_id: client.client_id });
  expect(second.status, JSON.stringify(second.body)).toBe(200);
  const records = (await as.tollgate.facts.tokenStore.listByUser("bob")).filter((r) => r.oauth?.client_id === client.client_id);
  expect(records).toHaveLength(2);
  const grantId = records[0]!.oauth!.grant_id;
  expect(records.every((r) => r.oauth?.grant_id === grantId)).toBe(true);
  return { client, grantId, records, oldAccess: first.body.access_token as string, access: second.body.access_token as string, refresh: second.body.refresh_token as string };
}

/** Everything of the grant is gone: both records revoked, the refresh token refused, the access tokens refused at the gateway, the grant deleted. */
async function expectGrantRevoked(as: OAuthServer, grant: Awaited<ReturnType<typeof refreshedGrant>>): Promise<void> {
  for (const r of grant.records) expect((await as.tollgate.facts.tokenStore.get(r.id))?.revoked_at, r.id).not.toBeNull();
  const refreshed = await tokenRequest(as.url, { grant_type: "refresh_token", refresh_token: grant.refresh, client_id: grant.client.client_id });
  expect(refreshed.status).toBe(400);
  expect(refreshed.body.error).toBe("invalid_grant");
  for (const token of [grant.access, grant.oldAccess]) expect((await mcpCall(as.url, "priv", token)).status).toBe(401);
  expect(await as.tollgate.backends.oauth.find("Grant", grant.grantId, new Date())).toBeNull();
}

describe("OAuth-issued tokens on the in-memory stores", () => {
  let as: OAuthServer;

  beforeAll(async () => {
    as = await startOAuthServer();
  });

  afterAll(async () => {
    await as?.close();
    await stopDemoUpstream();
  });

  it("a refreshed grant is one entry of GET /api/v1/mcp/tokens (its newest token), with the client", async () => {
    const grant = await refreshedGrant(as);
    const res = await fetch(`${as.url}/api/v1/mcp/tokens`, { headers: { authorization: `Bearer ${await session("bob")}` } });
    expect(res.status).toBe(200);
    const { tokens } = (await res.json()) as { tokens: Array<{ id: string; client: unknown }> };
    const ofGrant = tokens.filter((t) => grant.records.some((r) => r.id === t.id));
    expect(ofGrant.map((t) => t.id)).toEqual([grant.records[0]!.id]); // listByUser: newest first
    expect(ofGrant[0]!.client).toEqual({ client_id: grant.client.client_id, client_name: "Agent X", client_uri: CLIENT_URI });
    // A token made by hand has no client.
    const made = await fetch(`${as.url}/api/v1/mcp/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${await session("bob")}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "by hand", grants: [{ project_id: "priv" }] }),
    });
    expect(made.status).toBe(201);
    expect(((await made.json()) as { client: unknown }).client).toBeNull();
  });

  it("the tokens page shows the grant once, with the client's name and URL and the expiry chosen on the consent page", async () => {
    const grant = await refreshedGrant(as);
    const browser = formBrowser(as.url);
    expect((await browser.post("/ui/login", { user_id: "bob", return_to: "/ui/tokens" })).status).toBe(303);
    const page = (await browser.get("/ui/tokens")).body;
    const rows = page.split("<tr>").filter((row) => grant.records.some((r) => row.includes(`/ui/tokens/${r.id}"`)));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain(`/ui/tokens/${grant.records[0]!.id}"`);
    expect(rows[0]).toContain("<div>Agent X</div>");
    expect(rows[0]).toContain(`<a href="${CLIENT_URI}" rel="noreferrer">${CLIENT_URI}</a>`);
    // Expires: the grant's (7 days from consent), not the hour-long access token's.
    const grantExpiry = grant.records[0]!.grants[0]!.expires_at!;
    expect(grantExpiry.getTime() - Date.now()).toBeGreaterThan(6 * 86_400_000);
    expect(rows[0]).toContain(grantExpiry.toISOString().replace("T", " ").slice(0, 16));
    expect(rows[0]).toContain("<td>active</td>");
  });

  it("revoking it on the tokens page revokes the whole grant", async () => {
    const grant = await refreshedGrant(as);
    const browser = formBrowser(as.url);
    await browser.post("/ui/login", { user_id: "bob", return_to: "/ui/tokens" });
    const page = (await browser.get("/ui/tokens")).body;
    const res = await browser.post(`/ui/tokens/${grant.records[0]!.id}/revoke`, { csrf_token: csrfOf(page) });
    expect(res.status).toBe(303);
    await expectGrantRevoked(as, grant);
    const after = (await browser.get("/ui/tokens")).body.split("<tr>").find((row) => row.includes(`/ui/tokens/${grant.records[0]!.id}"`));
    expect(after).toContain("revoked");
    expect(after).not.toContain("Revoke Agent X");
  });

  it("DELETE /api/v1/mcp/tokens/{id}, even of a superseded access token, revokes the whole grant", async () => {
    const grant = await refreshedGrant(as);
    const older = grant.records[1]!.id;
    const res = await fetch(`${as.url}/api/v1/mcp/tokens/${older}`, { method: "DELETE", headers: { authorization: `Bearer ${await session("bob")}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { revoked_at: string | null }).revoked_at).not.toBeNull();
    await expectGrantRevoked(as, grant);
  });

  it("DELETE /v1/admin/tokens/{id} revokes the whole grant", async () => {
    const grant = await refreshedGrant(as);
    const res = await fetch(`${as.url}/v1/admin/tokens/${grant.records[0]!.id}`, { method: "DELETE", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { client: { client_name: string } }).client.client_name).toBe("Agent X");
    await expectGrantRevoked(as, grant);
  });
});

describe("tollgate token revoke (the CLI) on FerretDB", () => {
  let mongo: MongoServer;
  let as: OAuthServer;
  const saved = { uri: process.env.MONGODB_URI, name: process.env.MONGODB_DB };

  beforeAll(async () => {
    mongo = await startMongo();
    const env = { MONGODB_URI: mongo.uri, MONGODB_DB: `${mongo.dbName}_grants`, TOLLGATE_MONGODB_TIMEOUT_MS: "20000", TOLLGATE_CACHE_TTL_MS: "0" };
    as = await startOAuthServer({ env });
    process.env.MONGODB_URI = env.MONGODB_URI;
    process.env.MONGODB_DB = env.MONGODB_DB;
  }, 60_000);

  afterEach(() => {
    vi.restoreAllMocks();
  });

  afterAll(async () => {
    process.env.MONGODB_URI = saved.uri;
    process.env.MONGODB_DB = saved.name;
    if (saved.uri === undefined) delete process.env.MONGODB_URI;
    if (saved.name === undefined) delete process.env.MONGODB_DB;
    await as?.close();
    await stopDemoUpstream();
    await mongo?.stop();
  });

  it("revokes the whole grant of an OAuth-issued token, and says so", async () => {
    const grant = await refreshedGrant(as);
    const out: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => (out.push(String(chunk)), true));
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    await revokeToken(grant.records[0]!.id, {});
    expect(out.join("")).toContain("with its OAuth grant");
    await expectGrantRevoked(as, grant);
  }, 60_000);
});
