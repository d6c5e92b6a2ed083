// The consent page's form against forgery and open redirects: a decision without the page's CSRF
// token, with another session's, or posted from another site changes nothing (no grant, no code,
// the interaction still open); whatever a request adds (next, return_to, redirect_uri, a uid that
// is a URL), the browser goes only to Tollgate's pages or to the client's registered redirect URI.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizePath, Browser, consentForm, pkce, register, startOAuthServer, stopDemoUpstream, REDIRECT_URI, type Answer, type OAuthServer } from "./support.js";

let as: OAuthServer;

beforeAll(async () => {
  as = await startOAuthServer();
});

afterAll(async () => {
  await as?.close();
  await stopDemoUpstream();
});

/** bob's browser on a fresh consent page. */
async function consentPage(user = "bob"): Promise<{ browser: Browser; page: Answer; form: { uid: string; csrf: string } }> {
  const client = await register(as.url);
  const browser = new Browser(as.url, user);
  const start = await browser.request(authorizePath({ client_id: client.client_id, resource: as.mcpResource("priv"), code_challenge: pkce().challenge }));
  expect(start.location?.pathname).toBe("/ui/consent");
  const page = await browser.request(start.location!);
  expect(page.status).toBe(200);
  return { browser, page, form: consentForm(page.body) };
}

/** Where a Location sends the browser: Tollgate, or the client's registered redirect URI. */
function allowedTarget(a: Answer): void {
  if (!a.location) return;
  const href = a.location.href;
  const onTollgate = a.location.origin === as.url;
  const toClient = `${a.location.origin}${a.location.pathname}` === REDIRECT_URI;
  expect(onTollgate || toClient, href).toBe(true);
}

describe("the consent form", () => {
  it("is refused without the page's CSRF token, with another session's, or from another site; nothing is granted", async () => {
    const { browser, form } = await consentPage();
    const other = await consentPage("alice");
    const decision = { decision: "allow", expires_in: "86400" };
    const attempts: Array<[string, Promise<Answer>]> = [
      ["no token", browser.post("/ui/consent", { uid: form.uid, ...decision })],
      ["empty token", browser.post("/ui/consent", { uid: form.uid, csrf: "", ...decision })],
      ["another session's token", browser.post("/ui/consent", { uid: form.uid, csrf: other.form.csrf, ...decision })],
      ["the other field name", browser.post("/ui/consent", { uid: form.uid, csrf_token: form.csrf, ...decision })],
      [
        "from another site",
        browser.request("/ui/consent", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "cross-site" }, body: new URLSearchParams({ ...form, ...decision }).toString() }),
      ],
      [
        "from another origin",
        browser.request("/ui/consent", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" }, body: new URLSearchParams({ ...form, ...decision }).toString() }),
      ],
      ["deny without the token", browser.post("/ui/consent", { uid: form.uid, decision: "deny" })],
    ];
    for (const [name, attempt] of attempts) {
      const a = await attempt;
      expect(a.status, `${name}: ${a.body.slice(0, 200)}`).toBe(403);
      expect(a.location, name).toBeNull();
    }
    // The interaction is still open, and the real form still works: nothing was decided.
    const decided = await browser.post("/ui/consent", { ...form, ...decision });
    expect(decided.status).toBe(303);
    const back = await browser.request(decided.location!);
    expect(`${back.location!.origin}${back.location!.pathname}`).toBe(REDIRECT_URI);
    expect(back.location!.searchParams.get("code")).toBeTruthy();
  });

  it("a signed-out decision is refused, never redirected", async () => {
    const { form } = await consentPage();
    const stranger = new Browser(as.url);
    const a = await stranger.post("/ui/consent", { ...form, decision: "allow", expires_in: "86400" });
    expect(a.status).toBe(403);
    expect(a.location).toBeNull();
  });
});

describe("open redirects through consent", () => {
  const EVIL = ["https://evil.example/", "//evil.example", "/\\evil.example", "%2F%2Fevil.example", "/%2F%2Fevil.example", "javascript:alert(1)"];

  it("a signed-out browser is sent to sign in on Tollgate and back to the consent page only", async () => {
    for (const evil of EVIL) {
      const a = await new Browser(as.url).request(`/ui/consent?uid=${encodeURIComponent(evil)}&next=${encodeURIComponent(evil)}&return_to=${encodeURIComponent(evil)}`);
      expect(a.status).toBe(303);
      expect(a.location!.origin).toBe(as.url);
      expect(a.location!.pathname).toBe("/ui/login");
      const returnTo = a.location!.searchParams.get("return_to")!;
      expect(returnTo.startsWith("/ui/consent?uid=")).toBe(true);
      expect(new URL(returnTo, as.url).origin).toBe(as.url);
    }
  });

  it("what a decision adds (next, return_to, redirect_uri) does not move the answer off the registered redirect URI", async () => {
    for (const evil of EVIL) {
      const { browser, form } = await consentPage();
      const decided = await browser.post(`/ui/consent?next=${encodeURIComponent(evil)}`, { ...form, decision: "allow", expires_in: "86400", next: evil, return_to: evil, redirect_uri: evil });
      expect(decided.status, decided.body).toBe(303);
      allowedTarget(decided);
      const back = await browser.request(decided.location!);
      expect(`${back.location!.origin}${back.location!.pathname}`).toBe(REDIRECT_URI);
    }
  });

  it("a uid that is not the interaction's is refused with a page, not a redirect", async () => {
    const { browser } = await consentPage();
    for (const evil of EVIL) {
      const a = await browser.request(`/ui/consent?uid=${encodeURIComponent(evil)}`);
      expect(a.status).toBe(400);
      expect(a.location).toBeNull();
      expect(a.body).not.toContain("evil.example");
    }
  });
});
