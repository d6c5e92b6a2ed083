// The browser sign-in's limit (TOLLGATE_UI_SIGN_INS_PER_MINUTE per client address, on the shared
// rate limiter, for the development form and the identity provider's answer) and the audit
// records of what a signed-in person does on the pages (source "ui"), holding no secret.
import { afterAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../src/audit/types.js";
import { startGateway, type Gateway } from "../gateway/helpers.js";
import { csrfOf, formBrowser } from "./browser.js";

const started: Gateway[] = [];
afterAll(async () => {
  await Promise.all(started.map((g) => g.close()));
});

async function gateway(env: Record<string, string>, backends?: Gateway["world"]["tollgate"]["backends"]): Promise<Gateway> {
  const gw = await startGateway(env, backends);
  started.push(gw);
  return gw;
}

async function uiRecords(gw: Gateway): Promise<AuditRecord[]> {
  const audit = gw.world.tollgate.backends.audit;
  await audit.flush();
  return (await audit.query({ source: "ui", limit: 100 })).records;
}

describe("TOLLGATE_UI_SIGN_INS_PER_MINUTE", () => {
  it("admits that many development sign-ins per client address, then answers a 429 page with Retry-After", async () => {
    const gw = await gateway({ TOLLGATE_UI_SIGN_INS_PER_MINUTE: "3", TOLLGATE_TRUSTED_PROXIES: "127.0.0.1" });
    const from = (address: string) => ({ "x-forwarded-for": address });
    for (let i = 0; i < 3; i++) expect((await formBrowser(gw.url).post("/ui/login", { user_id: "bob" }, from("198.51.100.7"))).status).toBe(303);
    const refused = await formBrowser(gw.url).post("/ui/login", { user_id: "bob" }, from("198.51.100.7"));
    expect(refused.status).toBe(429);
    expect(refused.headers["content-type"]).toMatch(/^text\/html/);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers["retry-after"])).toBeLessThanOrEqual(61);
    expect(refused.body).toContain("at most 3 sign-ins a minute");
    expect(refused.headers["set-cookie"]).toBeUndefined();
    // Per client address: another one is not held back; an IPv6 client counts by its /64.
    expect((await formBrowser(gw.url).post("/ui/login", { user_id: "bob" }, from("203.0.113.9"))).status).toBe(303);
    for (let i = 0; i < 3; i++) expect((await formBrowser(gw.url).post("/ui/login", { user_id: "bob" }, from(`2001:db8:1:2::${i + 1}`))).status).toBe(303);
    expect((await formBrowser(gw.url).post("/ui/login", { user_id: "bob" }, from("2001:db8:1:2:ffff::9"))).status).toBe(429);
  });

  it("counts on the shared limiter: sign-ins on two replicas add up", async () => {
    const a = await gateway({ TOLLGATE_UI_SIGN_INS_PER_MINUTE: "2" });
    const b = await gateway({ TOLLGATE_UI_SIGN_INS_PER_MINUTE: "2" }, a.world.tollgate.backends);
    expect((await formBrowser(a.url).post("/ui/login", { user_id: "bob" })).status).toBe(303);
    expect((await formBrowser(b.url).post("/ui/login", { user_id: "bob" })).status).toBe(303);
    expect((await formBrowser(b.url).post("/ui/login", { user_id: "bob" })).status).toBe(429);
    expect((await formBrowser(a.url).post("/ui/login", { user_id: "bob" })).status).toBe(429);
  });

  it("limits the identity provider's answer (/oauth/callback) the same way", async () => {
    const gw = await gateway({
      TOLLGATE_UI_SIGN_INS_PER_MINUTE: "2",
      TOLLGATE_PUBLIC_URL: "http://127.0.0.1:9",
      // Never reached: without this browser's pending sign-in the answer is refused before.
      TOLLGATE_OIDC_ISSUER: "http://127.0.0.1:9/idp",
      TOLLGATE_OIDC_CLIENT_ID: "tollgate",
      TOLLGATE_OIDC_CLIENT_SECRET: "s".repeat(32),
    });
    for (let i = 0; i < 2; i++) expect((await formBrowser(gw.url).get("/oauth/callback?code=c&state=s")).status).toBe(400);
    const refused = await formBrowser(gw.url).get("/oauth/callback?code=c&state=s");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
  });
});

describe("audit records of the pages (source ui)", () => {
  it("records sign-in, token creation and revocation on the tokens page, and sign-out: who, what, the answer; no secret", async () => {
    const gw = await gateway({});
    const browser = formBrowser(gw.url);
    const ua = { "user-agent": "Mozilla/5.0 (test)" };
    expect((await browser.post("/ui/login", { user_id: "bob" }, ua)).status).toBe(303);
    const session = [...browser.cookies.values()][0]!;
    const page = await browser.get("/ui/tokens");
    const csrf = csrfOf(page.body);
    const created = await browser.post("/ui/tokens", { csrf_token: csrf, name: "laptop", project_id: "priv", expires_in_days: "30" }, ua);
    expect(created.status).toBe(201);
    const secret = /id="new-token">([^<]+)</.exec(created.body)![1]!;
    const [token] = (await gw.world.tollgate.facts.tokenStore.listByUser("bob")).filter((r) => r.name === "laptop");
    const revoked = await browser.post(`/ui/tokens/${token!.id}/revoke`, { csrf_token: csrf }, ua);
    expect(revoked.status).toBe(303);
    expect((await browser.post("/ui/logout", { csrf_token: csrf }, ua)).status).toBe(200);

    // The test's clock is fixed: all four have one time, so they are compared as a set.
    const records = await uiRecords(gw);
    expect(records).toHaveLength(4);
    expect(records.map((r) => [r.action, r.target, r.method, r.route, r.status])).toEqual(expect.arrayContaining([
      ["session.sign_in", "user:bob", "POST", "/ui/login", 303],
      ["token.issue", `token:${token!.id}`, "POST", "/ui/tokens", 201],
      ["token.revoke", `token:${token!.id}`, "POST", "/ui/tokens/:id/revoke", 303],
      ["session.sign_out", "user:bob", "POST", "/ui/logout", 200],
    ]));
    for (const r of records) {
      expect(r).toMatchObject({ source: "ui", subject_type: "user", user_id: "bob", allow: true, reasons: [], client_address: "127.0.0.1", user_agent: "Mozilla/5.0 (test)", mcp: null, policy_revision: null });
      expect(r.latency_ms).toBeGreaterThanOrEqual(0);
    }
    const stored = JSON.stringify(records);
    for (const s of [session, secret, csrf]) expect(stored).not.toContain(s);
  });

  it("records nothing for what was refused: a stale form, a sign-in over the limit", async () => {
    const gw = await gateway({ TOLLGATE_UI_SIGN_INS_PER_MINUTE: "1" });
    const browser = formBrowser(gw.url);
    await browser.post("/ui/login", { user_id: "bob" });
    expect((await browser.post("/ui/tokens", { csrf_token: "forged", name: "x", project_id: "priv", expires_in_days: "30" })).status).toBe(400);
    expect((await browser.post("/ui/logout", {})).status).toBe(400);
    expect((await formBrowser(gw.url).post("/ui/login", { user_id: "alice" })).status).toBe(429);
    expect((await uiRecords(gw)).map((r) => r.action)).toEqual(["session.sign_in"]);
  });
});
