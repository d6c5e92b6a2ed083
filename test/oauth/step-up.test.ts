// Step-up (MCP authorization, "Step-Up Authorization Flow"): an OAuth token whose grant lacks
// mcp:trigger, calling a trigger tool, gets 403 with `WWW-Authenticate: Bearer
// error="insufficient_scope", scope="mcp:read mcp:trigger", resource_metadata="…"` from the
// gateway and from forward auth, so the client asks the user again; nowhere else does asking
// again help, and there no challenge is sent (clients would loop re-authorising).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizeWithConsent, Browser, mcpCall, pkce, register, startOAuthServer, stopDemoUpstream, tokenRequest, REDIRECT_URI, type OAuthServer } from "./support.js";

let as: OAuthServer;

beforeAll(async () => {
  as = await startOAuthServer();
});

afterAll(async () => {
  await as?.close();
  await stopDemoUpstream();
});

const TRIGGER = { jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "trigger_build", arguments: {} } };
const metadataUrl = (project: string): string => `${as.url}/.well-known/oauth-protected-resource/api/v1/mcp/projects/${project}/mcp`;

/** `user`'s OAuth access token for priv's MCP endpoint, with the scope asked for and allow_trigger as chosen. */
async function oauthToken(user: string, scope: string, allowTrigger: boolean, clientId?: string): Promise<{ access_token: string; scope: string; client_id: string }> {
  const client_id = clientId ?? (await register(as.url)).client_id;
  const { verifier, challenge } = pkce();
  const resource = as.mcpResource("priv");
  const back = await authorizeWithConsent(new Browser(as.url, user), { client_id, resource, code_challenge: challenge, scope }, { allow_trigger: allowTrigger });
  const code = back.searchParams.get("code");
  expect(code, back.href).toBeTruthy();
  const t = await tokenRequest(as.url, { grant_type: "authorization_code", code: code!, redirect_uri: REDIRECT_URI, client_id, code_verifier: verifier, resource });
  expect(t.status, JSON.stringify(t.body)).toBe(200);
  return { access_token: t.body.access_token, scope: t.body.scope, client_id };
}

/** The parameters of a Bearer challenge. */
function challengeParams(header: string | null): Record<string, string> {
  expect(header).toMatch(/^Bearer /);
  return Object.fromEntries([...header!.matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

describe("step-up to mcp:trigger", () => {
  it("the gateway answers a read-only OAuth token's trigger call 403 insufficient_scope naming the scopes and the metadata; asking again works", async () => {
    const readOnly = await oauthToken("bob", "mcp:read", false);
    expect(readOnly.scope).toBe("mcp:read");
    // Reading is fine.
    expect((await mcpCall(as.url, "priv", readOnly.access_token, { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "list_builds", arguments: {} } })).status).toBe(200);

    const refused = await mcpCall(as.url, "priv", readOnly.access_token, TRIGGER);
    expect(refused.status).toBe(403);
    const header = refused.headers.get("www-authenticate");
    expect(header).toBe(`Bearer realm="tollgate", error="insufficient_scope", scope="mcp:read mcp:trigger", resource_metadata="${metadataUrl("priv")}"`);
    const body = JSON.parse(refused.body) as { id: number; error: { code: number; data: { reasons: string[] } } };
    expect(body).toMatchObject({ id: 7, error: { code: -32003, data: { reasons: ["trigger_scope_missing"] } } });

    // The client does what the challenge says: the metadata names the authorization server,
    // and it asks the user again for the challenge's scope.
    const params = challengeParams(header);
    const metadata = (await (await fetch(params.resource_metadata!)).json()) as { resource: string; authorization_servers: string[] };
    expect(metadata).toMatchObject({ resource: as.mcpResource("priv"), authorization_servers: [as.url] });
    const stepped = await oauthToken("bob", params.scope!, true, readOnly.client_id);
    expect(stepped.scope).toBe("mcp:read mcp:trigger");
    const allowed = await mcpCall(as.url, "priv", stepped.access_token, TRIGGER);
    expect(allowed.status, allowed.body).toBe(200);
    expect(allowed.headers.get("www-authenticate")).toBeNull();
  });

  it("a client registered for mcp:read only (as the MCP SDKs register, from the 401's scope) can still step up", async () => {
    const client = await register(as.url, { scope: "mcp:read" });
    // alice: bob's trigger calls are counted by the trigger class's rate limit in the other tests.
    const readOnly = await oauthToken("alice", "mcp:read", false, client.client_id);
    expect((await mcpCall(as.url, "priv", readOnly.access_token, TRIGGER)).status).toBe(403);
    const stepped = await oauthToken("alice", "mcp:read mcp:trigger", true, client.client_id);
    expect(stepped.scope).toBe("mcp:read mcp:trigger");
    expect((await mcpCall(as.url, "priv", stepped.access_token, TRIGGER)).status).toBe(200);
    // A scope Tollgate does not have is still refused at registration.
    const res = await fetch(`${as.url}/oauth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none", scope: "mcp:read admin" }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_client_metadata");
  });

  it("forward auth sends the same challenge for the same call (Mcp-Method and Mcp-Name)", async () => {
    const readOnly = await oauthToken("bob", "mcp:read", false);
    const res = await fetch(`${as.url}/v1/forward-auth`, {
      headers: {
        authorization: `Bearer ${readOnly.access_token}`,
        "x-original-method": "POST",
        "x-original-uri": "/api/v1/mcp/projects/priv/mcp",
        "mcp-method": "tools/call",
        "mcp-name": "trigger_build",
      },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer realm="tollgate", error="insufficient_scope", scope="mcp:read mcp:trigger", resource_metadata="${metadataUrl("priv")}"`);
    expect(((await res.json()) as { error: { reasons: string[] } }).error.reasons).toEqual(["trigger_scope_missing"]);
  });

  it("sends no challenge where asking the user again cannot help: a hand-made token, a user who may not trigger", async () => {
    // A hand-made MCP token: no authorization server can widen it.
    const handMade = await as.tollgate.issuer.issue({ type: "mcp", user_id: "bob", name: "by hand", grants: [{ project_id: "priv", allow_trigger: false }], expires_at: null });
    const byHand = await mcpCall(as.url, "priv", handMade.token, TRIGGER);
    expect(byHand.status).toBe(403);
    expect(byHand.headers.get("www-authenticate")).toBeNull();
    expect(JSON.parse(byHand.body).error.data.reasons).toEqual(["trigger_not_allowed"]);

    // carol is a system viewer: the consent page would never offer her mcp:trigger.
    const viewer = await oauthToken("carol", "mcp:read mcp:trigger", false);
    const refused = await mcpCall(as.url, "priv", viewer.access_token, TRIGGER);
    expect(refused.status).toBe(403);
    expect(refused.headers.get("www-authenticate")).toBeNull();
    expect(JSON.parse(refused.body).error.data.reasons).not.toContain("trigger_scope_missing");
  });
});
