// A client whose client_id is the https URL of its Client ID Metadata Document, end to end over
// HTTP: no registration, the code flow, the token at the gateway, and what the client is told
// when its document is refused (invalid_client with the reason). Documents are served over https
// on loopback with the test CA; Tollgate runs with TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS=true,
// and a second Tollgate without it shows the guard refusing loopback.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashToken } from "../../src/tokens/format.js";
import { testCa } from "../support/test-ca.js";
import { startDocumentServer, type DocumentServer } from "./document-server.js";
import { authorizePath, authorizeWithConsent, Browser, consentForm, mcpCall, pkce, REDIRECT_URI, startOAuthServer, stopDemoUpstream, tokenRequest, type OAuthServer } from "./support.js";

let as: OAuthServer;
let guarded: OAuthServer;
let docs: DocumentServer;
let counter = 0;

/** Publishes a good document (changed by `patch`) at a fresh path; its URL, the client_id. */
function publish(patch: Record<string, unknown> = {}, headers: Record<string, string> = { "cache-control": "max-age=300" }): string {
  const path = `/agents/${++counter}/client.json`;
  const url = docs.url(path);
  docs.set(path, { body: { client_id: url, client_name: "Doc Agent", redirect_uris: [REDIRECT_URI], ...patch }, headers });
  return url;
}

/** The start of an authorization with this client_id: the provider's answer. */
async function authorize(server: OAuthServer, clientId: string): Promise<{ status: number; body: { error?: string; error_description?: string } }> {
  const res = await new Browser(server.url, "bob").request(authorizePath({ client_id: clientId, resource: server.mcpResource("priv"), code_challenge: pkce().challenge }));
  return { status: res.status, body: res.body ? res.json() : {} };
}

beforeAll(async () => {
  docs = await startDocumentServer();
  as = await startOAuthServer({ env: { TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS: "true" }, clientDocumentsCa: testCa().ca });
  guarded = await startOAuthServer({ clientDocumentsCa: testCa().ca });
});

afterAll(async () => {
  await as?.close();
  await guarded?.close();
  await docs?.close();
  await stopDemoUpstream();
});

describe("a client identified by its metadata document", () => {
  it("completes the authorization code flow without registering, and its token works on the approved MCP endpoint", async () => {
    const clientId = publish({ client_uri: "https://someone-famous.example" });
    const { verifier, challenge } = pkce();
    const resource = as.mcpResource("priv");
    const browser = new Browser(as.url, "bob");

    // The consent page names the document's client and links the client_id's origin, not the client_uri it claims.
    const start = await browser.request(authorizePath({ client_id: clientId, resource, code_challenge: challenge }));
    expect(start.status, start.body).toBe(303);
    const page = await browser.request(start.location!);
    expect(page.status).toBe(200);
    expect(page.body).toContain("Doc Agent");
    expect(page.body).toContain(`href="${docs.origin}"`);
    expect(page.body).not.toContain("someone-famous");
    const decided = await browser.post("/ui/consent", { ...consentForm(page.body), decision: "allow", expires_in: String(7 * 86_400) });
    const back = (await browser.request(decided.location!)).location!;
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI);
    expect(back.searchParams.get("iss")).toBe(as.url);

    const res = await tokenRequest(as.url, { grant_type: "authorization_code", code: back.searchParams.get("code")!, redirect_uri: REDIRECT_URI, client_id: clientId, code_verifier: verifier, resource });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ token_type: "Bearer", scope: "mcp:read" });
    const call = await mcpCall(as.url, "priv", res.body.access_token);
    expect(call.status, call.body).toBe(200);

    const record = await as.tollgate.facts.tokenByHash(hashToken(res.body.access_token));
    expect(record).toMatchObject({ kind: "mcp", name: "Doc Agent", oauth: { client_id: clientId, client_name: "Doc Agent" } });
    // Nothing was registered: the client lives in its document.
    expect(await as.tollgate.backends.oauth.find("Client", clientId, new Date())).toBeNull();

    // Refresh works for it too.
    const refreshed = await tokenRequest(as.url, { grant_type: "refresh_token", refresh_token: res.body.refresh_token, client_id: clientId });
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
  });

  it("a redirect URI the document does not list is refused, never redirected to", async () => {
    const clientId = publish();
    const res = await new Browser(as.url, "bob").request(authorizePath({ client_id: clientId, resource: as.mcpResource("priv"), code_challenge: pkce().challenge, redirect_uri: "http://127.0.0.1:9/elsewhere" }));
    expect(res.status).toBe(400);
    expect(res.location).toBeNull();
    expect(res.json().error).toBe("invalid_redirect_uri");
  });

  it("a native application's loopback IP redirect URI comes back on any port (RFC 8252 §7.3); a web application's only as listed", async () => {
    const start = (clientId: string) => new Browser(as.url, "bob").request(authorizePath({ client_id: clientId, resource: as.mcpResource("priv"), code_challenge: pkce().challenge, redirect_uri: "http://127.0.0.1:41234/callback" }));
    const native = await start(publish({ application_type: "native", redirect_uris: ["http://127.0.0.1/callback"] }));
    expect(native.status, native.body).toBe(303);
    expect(native.location?.pathname).toBe("/ui/consent");
    const web = await start(publish({ redirect_uris: ["http://127.0.0.1/callback"] }));
    expect(web.status).toBe(400);
    expect(web.json().error).toBe("invalid_redirect_uri");
  });

  it("the code is bound to the client: another document's client_id cannot redeem it", async () => {
    const clientId = publish();
    const other = publish();
    const { verifier, challenge } = pkce();
    const resource = as.mcpResource("priv");
    const back = await authorizeWithConsent(new Browser(as.url, "bob"), { client_id: clientId, resource, code_challenge: challenge });
    const res = await tokenRequest(as.url, { grant_type: "authorization_code", code: back.searchParams.get("code")!, redirect_uri: REDIRECT_URI, client_id: other, code_verifier: verifier, resource });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_grant");
  });
});

describe("refusals the client sees: invalid_client with the reason", () => {
  it.each([
    ["its client_id is not its URL", { client_id: "https://elsewhere.example/client.json" }, /client_id is not the URL it was fetched from/],
    ["it carries a client_secret", { client_secret: "s3cret" }, /client_secret/],
    ["it asks for client_secret_basic", { token_endpoint_auth_method: "client_secret_basic" }, /client_secret_basic/],
    ["it has no redirect URIs", { redirect_uris: [] }, /redirect_uris/],
  ])("a document refused because %s", async (_what, patch, description) => {
    const res = await authorize(as, publish(patch));
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_client");
    expect(res.body.error_description).toMatch(/^client_id metadata document refused: /);
    expect(res.body.error_description).toMatch(description);
  });

  it("a document too large, behind too many redirects, or missing", async () => {
    docs.set("/big.json", { body: " ".repeat(6 * 1024) });
    for (let i = 0; i < 4; i++) docs.set(`/r${i}.json`, { status: 302, headers: { location: `/r${i + 1}.json` } });
    const cases: Array<[string, RegExp]> = [
      [docs.url("/big.json"), /larger than 5120 bytes/],
      [docs.url("/r0.json"), /more than 3 redirects/],
      [docs.url("/nothing-here.json"), /answered 404/],
    ];
    for (const [clientId, description] of cases) {
      const res = await authorize(as, clientId);
      expect(res.body, clientId).toMatchObject({ error: "invalid_client" });
      expect(res.body.error_description, clientId).toMatch(description);
    }
  });

  it("an open redirect on the client_id's site cannot lend that site's name to a document served elsewhere", async () => {
    // The attack: client_id is a redirect on a trusted site; the document it leads to carries that client_id.
    const clientId = docs.url(`/redirect?to=/evil/${++counter}.json`);
    docs.set(`/evil/${counter}.json`, { body: { client_id: clientId, client_name: "Trusted Agent", redirect_uris: [REDIRECT_URI] } });
    docs.set(new URL(clientId).pathname + new URL(clientId).search, { status: 302, headers: { location: `/evil/${counter}.json` } });
    const res = await authorize(as, clientId);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_client");
    expect(res.body.error_description).toBe("client_id metadata document refused: it was not served from its client_id URL (a redirect led elsewhere)");
    expect(docs.hits(`/evil/${counter}.json`)).toBe(1); // followed (each hop under the guard), then refused
  });

  it("without TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS a loopback document is never fetched", async () => {
    const clientId = publish();
    const before = docs.hits(new URL(clientId).pathname);
    for (const id of [clientId, clientId.replace("localhost", "127.0.0.1"), clientId.replace("localhost", "[::ffff:127.0.0.1]")]) {
      const res = await authorize(guarded, id);
      expect(res.status, id).toBe(400);
      expect(res.body.error, id).toBe("invalid_client");
      expect(res.body.error_description, id).toBe("client_id metadata document not fetched: the host " + new URL(id).hostname + " is not reachable on a public address");
    }
    expect(docs.hits(new URL(clientId).pathname)).toBe(before);
  });

  it("document fetches are counted per client address (TOLLGATE_OAUTH_DOCUMENT_FETCHES_PER_HOUR): past the limit refused without a fetch", async () => {
    const limited = await startOAuthServer({ env: { TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS: "true", TOLLGATE_OAUTH_DOCUMENT_FETCHES_PER_HOUR: "2" }, clientDocumentsCa: testCa().ca });
    try {
      const random = (): string => docs.url(`/random/${++counter}.json`);
      for (let i = 0; i < 2; i++) expect((await authorize(limited, random())).body.error_description).toMatch(/answered 404$/);
      const over = random();
      const res = await authorize(limited, over);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: "invalid_client", error_description: "client_id metadata document not fetched: more than 2 document fetches an hour from one address; try again later" });
      expect(docs.hits(new URL(over).pathname)).toBe(0);
    } finally {
      await limited.close();
    }
  });

  it("the token endpoint refuses a document client the same way", async () => {
    const res = await tokenRequest(as.url, { grant_type: "authorization_code", code: "x", redirect_uri: REDIRECT_URI, client_id: publish({ client_secret: "x" }), code_verifier: "x".repeat(43) });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: "invalid_client" });
    expect(res.body.error_description).toMatch(/client_secret/);
  });

  it("an https client_id is never taken for a registration, and an http one is an unknown client", async () => {
    const res = await authorize(as, docs.url("/agents/none.json").replace("https:", "http:"));
    expect(res.body.error).toBe("invalid_client");
  });
});
