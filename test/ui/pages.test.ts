// The browser pages over HTTP on a real port: development sign-in, the session cookie, CSRF,
// the tokens page calling the same service as the API, sign-out, and /api/ never taking cookies.
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentSecurityPolicy } from "../../src/ui/page.js";
import { bearer } from "../http/fixture.js";
import { send, startGateway, type Gateway } from "../gateway/helpers.js";
import { csrfOf, formBrowser, type FormBrowser } from "./browser.js";

let gw: Gateway;

beforeAll(async () => {
  gw = await startGateway({});
});
afterAll(() => gw?.close());

/** A browser signed in as `user` on the development page. */
async function signedIn(user: string): Promise<FormBrowser> {
  const browser = formBrowser(gw.url);
  const res = await browser.post("/ui/login", { user_id: user, return_to: "/ui/tokens" });
  expect(res.status).toBe(303);
  return browser;
}

describe("signing in (development)", () => {
  it("sends a browser without a session to the sign-in page, and back", async () => {
    const res = await send(gw.url, "/ui/tokens");
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/ui/login?return_to=%2Fui%2Ftokens");
  });

  it("lists the demo users on a page with the CSP", async () => {
    const res = await send(gw.url, "/ui/login?return_to=%2Fui%2Ftokens%3Fx%3D1");
    expect(res.status).toBe(200);
    expect(res.headers["content-security-policy"]).toBe(contentSecurityPolicy());
    for (const user of ["alice", "bob", "carol"]) expect(res.body).toContain(`name="user_id" value="${user}"`);
    expect(res.body).toContain('name="return_to" value="/ui/tokens?x=1"');
  });

  it("sets an HttpOnly, SameSite=Lax session cookie holding no user id, not Secure on loopback in development", async () => {
    const browser = formBrowser(gw.url);
    const res = await browser.post("/ui/login", { user_id: "bob", return_to: "/ui/tokens?x=1" });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/ui/tokens?x=1");
    const [cookie] = res.headers["set-cookie"]!;
    expect(cookie).toMatch(/^tollgate_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=28800; HttpOnly; SameSite=Lax$/);
    expect(cookie).not.toContain("bob");
    expect((await browser.get("/ui/tokens")).body).toContain("Signed in as <strong>bob</strong>");
  });

  it("makes the cookie Secure (and __Host-) on any other host, and reads only that one there", async () => {
    const browser = formBrowser(gw.url);
    const res = await browser.post("/ui/login", { user_id: "bob" }, { host: "tollgate.example" });
    const [cookie] = res.headers["set-cookie"]!;
    expect(cookie).toMatch(/^__Host-tollgate_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=28800; HttpOnly; SameSite=Lax; Secure$/);
    expect((await browser.get("/ui/tokens", { host: "tollgate.example" })).status).toBe(200);
    const plain = `tollgate_session=${browser.cookies.get("__Host-tollgate_session")}`;
    expect((await send(gw.url, "/ui/tokens", { headers: { host: "tollgate.example", cookie: plain } })).status).toBe(303);
  });

  it("returns only to a path of this origin", async () => {
    for (const evil of ["https://evil.example/", "//evil.example/", "/\\evil.example"]) {
      const res = await formBrowser(gw.url).post("/ui/login", { user_id: "bob", return_to: evil });
      expect(res.headers.location).toBe("/ui/tokens");
    }
  });

  it("refuses a user who is not a demo user, and a sign-in posted from another site", async () => {
    expect((await formBrowser(gw.url).post("/ui/login", { user_id: "mallory" })).status).toBe(400);
    const cross = await formBrowser(gw.url).post("/ui/login", { user_id: "bob" }, { "sec-fetch-site": "cross-site" });
    expect(cross.status).toBe(400);
    expect(cross.headers["set-cookie"]).toBeUndefined();
    const foreign = await send(gw.url, "/ui/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" },
      body: "user_id=bob",
    });
    expect(foreign.status).toBe(400);
  });
});

describe("the tokens page", () => {
  it("creates a token (secret shown once), lists it, shows its audit trail and revokes it, through the issuing service", async () => {
    const browser = await signedIn("bob");
    const list = await browser.get("/ui/tokens");
    expect(list.status).toBe(200);
    expect(list.headers["cache-control"]).toBe("no-store");
    expect(list.body).toContain('<option value="priv">priv</option>');

    const created = await browser.post("/ui/tokens", { csrf_token: csrfOf(list.body), name: "laptop agent", project_id: "priv", allow_trigger: "true", expires_in_days: "30" });
    expect(created.status).toBe(201);
    const secret = /id="new-token">(tg_mcp_[A-Za-z0-9]+)</.exec(created.body)?.[1];
    expect(secret).toBeDefined();
    expect(created.body).toContain('<script src="/ui/assets/copy.js" defer></script>');

    const [record] = (await gw.world.tollgate.facts.tokenStore.listByUser("bob")).filter((t) => t.name === "laptop agent");
    expect(record).toMatchObject({ kind: "mcp", grants: [{ project_id: "priv", allow_trigger: true, expires_at: null }] });
    expect(record!.expires_at!.getTime() - record!.created_at.getTime()).toBe(30 * 86_400_000);
    const again = await browser.get("/ui/tokens");
    expect(again.body).toContain("laptop agent");
    expect(again.body).not.toContain(secret!);

    // A request with it (refused: an MCP token may not manage tokens) shows in its audit trail.
    expect((await send(gw.url, "/api/v1/mcp/tokens", { headers: { authorization: bearer(secret!) } })).status).toBe(403);
    await gw.world.tollgate.backends.audit.flush();
    const detail = await browser.get(`/ui/tokens/${record!.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toContain("Audit trail");
    expect(detail.body).toContain("GET /api/v1/mcp/tokens");

    const revoked = await browser.post(`/ui/tokens/${record!.id}/revoke`, { csrf_token: csrfOf(again.body) });
    expect(revoked.status).toBe(303);
    expect(revoked.headers.location).toBe("/ui/tokens");
    expect((await gw.world.tollgate.facts.tokenStore.get(record!.id))!.revoked_at).not.toBeNull();
  });

  it("answers the service's refusals as pages: a grant the user may not have, another user's token", async () => {
    const browser = await signedIn("bob");
    const csrf = csrfOf((await browser.get("/ui/tokens")).body);
    const refused = await browser.post("/ui/tokens", { csrf_token: csrf, name: "x", project_id: "pub", expires_in_days: "7" });
    expect(refused.status).toBe(403);
    expect(refused.headers["content-type"]).toMatch(/^text\/html/);
    expect(refused.body).toContain("role=\"alert\"");
    const alices = (await gw.world.tollgate.issuer.issue({ type: "mcp", user_id: "alice", grants: [] })).record.id;
    expect((await browser.get(`/ui/tokens/${alices}`)).status).toBe(404);
    expect((await browser.post(`/ui/tokens/${alices}/revoke`, { csrf_token: csrf })).status).toBe(404);
    expect((await gw.world.tollgate.facts.tokenStore.get(alices))!.revoked_at).toBeNull();
  });

  it("refuses every form without the session's CSRF token, or posted from another site", async () => {
    const bob = await signedIn("bob");
    const carol = await signedIn("carol");
    const carolsCsrf = csrfOf((await carol.get("/ui/tokens")).body);
    const bobsCsrf = csrfOf((await bob.get("/ui/tokens")).body);
    const form = { name: "x", project_id: "priv", expires_in_days: "7" };
    expect((await bob.post("/ui/tokens", form)).status).toBe(400);
    expect((await bob.post("/ui/tokens", { ...form, csrf_token: carolsCsrf })).status).toBe(400);
    expect((await bob.post("/ui/tokens", { ...form, csrf_token: bobsCsrf }, { "sec-fetch-site": "cross-site" })).status).toBe(400);
    expect((await bob.post(`/ui/tokens/${gw.world.tokenIds.bobMcp}/revoke`, {})).status).toBe(400);
    expect((await bob.post("/ui/logout", {})).status).toBe(400);
    expect((await gw.world.tollgate.facts.tokenStore.get(gw.world.tokenIds.bobMcp))!.revoked_at).toBeNull();
    expect((await gw.world.tollgate.facts.tokenStore.listByUser("bob")).some((t) => t.name === "x")).toBe(false);
  });

  it("answers a form too large to read with a page", async () => {
    const browser = await signedIn("bob");
    const res = await browser.post("/ui/tokens", { name: "x".repeat(20_000) });
    expect(res.status).toBe(413);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
  });

  it("answers a form without a session with a page asking to sign in", async () => {
    const res = await formBrowser(gw.url).post("/ui/tokens", { name: "x" });
    expect(res.status).toBe(401);
    expect(res.body).toContain('href="/ui/login"');
  });
});

describe("signing out", () => {
  it("revokes the session in the store: the old cookie no longer signs anyone in", async () => {
    const browser = await signedIn("bob");
    const stolen = `tollgate_session=${browser.cookies.get("tollgate_session")}`;
    const res = await browser.post("/ui/logout", { csrf_token: csrfOf((await browser.get("/ui/tokens")).body) });
    expect(res.status).toBe(200);
    expect(res.headers["set-cookie"]).toEqual(["tollgate_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"]);
    expect((await send(gw.url, "/ui/tokens", { headers: { cookie: stolen } })).status).toBe(303);
  });
});

describe("/api/", () => {
  it("never takes the session cookie as a credential", async () => {
    const browser = await signedIn("bob");
    const res = await browser.get("/api/v1/mcp/tokens");
    expect(res.status).toBe(401);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    const post = await browser.post("/api/v1/mcp/tokens/temp", {});
    expect(post.status).toBe(401);
  });
});

describe("ports", () => {
  it("serves the pages on the public port (and the one port), never on the internal one", async () => {
    const { app, publicApp, internalApp } = gw.world.tollgate;
    for (const served of [app, publicApp]) {
      expect((await request(served).get("/ui/login")).status).toBe(200);
      expect((await request(served).get("/ui/assets/ui.css")).headers["content-type"]).toMatch(/^text\/css/);
    }
    const internal = await request(internalApp).get("/ui/login");
    expect(internal.status).toBe(404);
    expect(internal.body.error.code).toBe("not_found");
    expect((await request(internalApp).get("/oauth/callback")).status).toBe(404);
  });
});
