// POST /oauth/authorize (OAuth 2.1 §4.1.1): the form-encoded authorization request gets exactly
// the answers the same request as a GET gets, and a body that cannot be one is refused clearly.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTHORIZATION_FORM_MAX_BYTES } from "../../src/oauth/authorization-form.js";
import { authorizePath, Browser, consentForm, mcpCall, pkce, register, startOAuthServer, stopDemoUpstream, tokenRequest, REDIRECT_URI, type Answer, type AuthorizeParams, type OAuthServer } from "./support.js";

let as: OAuthServer;

beforeAll(async () => {
  as = await startOAuthServer();
});

afterAll(async () => {
  await as?.close();
  await stopDemoUpstream();
});

const FORM = "application/x-www-form-urlencoded";

/** The authorization request's parameters as a form body. */
const formOf = (params: AuthorizeParams): string => authorizePath(params).split("?")[1]!;

function post(browser: Browser, body: string | Buffer, headers: Record<string, string> = { "content-type": FORM }, target = "/oauth/authorize"): Promise<Answer> {
  return browser.request(target, { method: "POST", headers, body: body as string });
}

/** What a client learns from an answer: its status, where it sends the browser (without the interaction's uid), the error. */
function outcome(a: Answer): { status: number; to: string | null; error: string | null; state: string | null; iss: string | null } {
  const to = a.location ? `${a.location.origin}${a.location.pathname}` : null;
  const json = a.headers.get("content-type")?.includes("json") ? (a.json() as { error?: string }) : null;
  return { status: a.status, to, error: a.location?.searchParams.get("error") ?? json?.error ?? null, state: a.location?.searchParams.get("state") ?? null, iss: a.location?.searchParams.get("iss") ?? null };
}

describe("POST /oauth/authorize", () => {
  it("runs the whole code flow from a POSTed request: consent, code, token, MCP call", async () => {
    const client = await register(as.url);
    const { verifier, challenge } = pkce();
    const resource = as.mcpResource("priv");
    const browser = new Browser(as.url, "bob");
    const start = await post(browser, formOf({ client_id: client.client_id, resource, code_challenge: challenge, state: "posted" }));
    expect(start.status, start.body).toBe(303);
    expect(start.location!.pathname).toBe("/ui/consent");
    const page = await browser.request(start.location!);
    expect(page.status).toBe(200);
    const decided = await browser.post("/ui/consent", { ...consentForm(page.body), decision: "allow", expires_in: String(86_400) });
    const back = await browser.request(decided.location!);
    expect(`${back.location!.origin}${back.location!.pathname}`).toBe(REDIRECT_URI);
    expect(back.location!.searchParams.get("state")).toBe("posted");
    expect(back.location!.searchParams.get("iss")).toBe(as.url);
    const t = await tokenRequest(as.url, { grant_type: "authorization_code", code: back.location!.searchParams.get("code")!, redirect_uri: REDIRECT_URI, client_id: client.client_id, code_verifier: verifier, resource });
    expect(t.status, JSON.stringify(t.body)).toBe(200);
    expect((await mcpCall(as.url, "priv", t.body.access_token)).status).toBe(200);
  });

  it("answers every request as the same request made with GET does", async () => {
    const client = await register(as.url);
    const { challenge } = pkce();
    const resource = as.mcpResource("priv");
    const cases: Array<[string, string]> = [
      ["valid", formOf({ client_id: client.client_id, resource, code_challenge: challenge })],
      ["no PKCE", formOf({ client_id: client.client_id, resource, code_challenge: null, code_challenge_method: null, state: "s1" })],
      ["plain PKCE", formOf({ client_id: client.client_id, resource, code_challenge: "a".repeat(43), code_challenge_method: "plain" })],
      ["no resource", formOf({ client_id: client.client_id, resource: null, code_challenge: challenge })],
      ["foreign resource", formOf({ client_id: client.client_id, resource: "https://elsewhere.example.com/api/v1/mcp/projects/priv/mcp", code_challenge: challenge })],
      ["unregistered redirect URI", formOf({ client_id: client.client_id, resource, code_challenge: challenge, redirect_uri: "https://evil.example.com/callback" })],
      ["unknown client", formOf({ client_id: "nobody", resource, code_challenge: challenge })],
      ["unknown scope", formOf({ client_id: client.client_id, resource, code_challenge: challenge, scope: "mcp:read admin" })],
      ["a parameter twice", `${formOf({ client_id: client.client_id, resource, code_challenge: challenge })}&state=again`],
      ["nothing", ""],
    ];
    for (const [name, form] of cases) {
      const viaGet = outcome(await new Browser(as.url, "bob").request(form ? `/oauth/authorize?${form}` : "/oauth/authorize"));
      const viaPost = outcome(await post(new Browser(as.url, "bob"), form));
      expect(viaPost, name).toEqual(viaGet);
    }
    // The cases do reach the provider's checks (not all answered alike).
    expect(outcome(await post(new Browser(as.url, "bob"), cases[0]![1])).to).toBe(`${as.url}/ui/consent`);
    expect(outcome(await post(new Browser(as.url, "bob"), cases[1]![1]))).toMatchObject({ to: REDIRECT_URI, error: "invalid_request", state: "s1", iss: as.url });
    expect(outcome(await post(new Browser(as.url, "bob"), cases[5]![1]))).toMatchObject({ status: 400, to: null, error: "invalid_redirect_uri" });
  });

  it("refuses a body that is not a UTF-8 form, a query beside the body and an oversized body, with Tollgate's error body", async () => {
    const client = await register(as.url);
    const form = formOf({ client_id: client.client_id, resource: as.mcpResource("priv"), code_challenge: pkce().challenge });
    const browser = new Browser(as.url, "bob");
    const refusals: Array<[string, Promise<Answer>, number, string]> = [
      ["JSON", post(browser, JSON.stringify(Object.fromEntries(new URLSearchParams(form))), { "content-type": "application/json" }), 415, "unsupported_media_type"],
      ["no content type", post(browser, form, {}), 415, "unsupported_media_type"],
      ["multipart", post(browser, form, { "content-type": "multipart/form-data; boundary=x" }), 415, "unsupported_media_type"],
      ["latin-1", post(browser, form, { "content-type": `${FORM}; charset=iso-8859-1` }), 415, "unsupported_media_type"],
      ["gzip", post(browser, form, { "content-type": FORM, "content-encoding": "gzip" }), 415, "unsupported_media_type"],
      ["query and body", post(browser, form, { "content-type": FORM }, `/oauth/authorize?client_id=${client.client_id}`), 400, "invalid_request"],
      ["not UTF-8", post(browser, Buffer.concat([Buffer.from(`${form}&state=`), Buffer.from([0xff, 0xfe])])), 400, "invalid_encoding"],
      ["too large", post(browser, `${form}&state=${"x".repeat(AUTHORIZATION_FORM_MAX_BYTES)}`), 413, "body_too_large"],
    ];
    for (const [name, answer, status, code] of refusals) {
      const a = await answer;
      expect(a.status, `${name}: ${a.body}`).toBe(status);
      expect(a.json().error.code, name).toBe(code);
      expect(a.json().error.message, name).toMatch(/\w{3}/);
      expect(a.location, name).toBeNull();
    }
    // UTF-8 named explicitly is a form like any other.
    const ok = await post(browser, form, { "content-type": `${FORM}; charset=UTF-8` });
    expect(ok.status, ok.body).toBe(303);
  });

  it("is listed in the authorization server's routes; the resume step stays GET only", async () => {
    const res = await fetch(`${as.url}/oauth/authorize/abc`, { method: "POST", headers: { "content-type": FORM }, body: "" });
    expect(res.status).toBe(404);
  });
});
