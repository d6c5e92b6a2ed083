// StoredBrowserSessions on its own: the cookie's attributes by environment and host, expiry by
// the injected clock, a new sign-in replacing the old session; and production's /ui/login.
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import express from "express";
import { pino } from "pino";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { MemoryAudit } from "../../src/audit/memory.js";
import { MemoryBrowserSessionStore } from "../../src/stores/memory/browser-session-store.js";
import { MemoryRateLimiter } from "../../src/stores/memory/rate-limiter.js";
import { StoredBrowserSessions } from "../../src/ui/browser-sessions.js";
import { browserUi } from "../../src/ui/routes.js";
import { UiAudit, type PageAuditedMcpTokenService } from "../../src/ui/ui-audit.js";

function exchange(host: string, cookie?: string): { req: IncomingMessage; res: ServerResponse } {
  const req = new IncomingMessage(new Socket());
  req.headers = { host, ...(cookie ? { cookie } : {}) };
  return { req, res: new ServerResponse(req) };
}

const setCookies = (res: ServerResponse): string[] => (res.getHeader("set-cookie") as string[] | undefined) ?? [];
const pairOf = (cookie: string): string => cookie.split(";")[0]!;

describe("StoredBrowserSessions", () => {
  it("sets a Secure __Host- cookie in production, on loopback too", async () => {
    const sessions = new StoredBrowserSessions({ store: new MemoryBrowserSessionStore(), ttlS: 600, production: true });
    const { req, res } = exchange("127.0.0.1:8181");
    await sessions.start(req, res, "bob");
    expect(setCookies(res)[0]).toMatch(/^__Host-tollgate_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=600; HttpOnly; SameSite=Lax; Secure$/);
    for (const host of ["localhost:1", "[::1]:1", "tollgate.example"]) {
      expect(sessions.secure(exchange(host).req)).toBe(true);
    }
  });

  it("leaves Secure off only on a loopback host in development", () => {
    const sessions = new StoredBrowserSessions({ store: new MemoryBrowserSessionStore(), ttlS: 600, production: false });
    for (const host of ["127.0.0.1:8181", "localhost", "[::1]:8181"]) expect(sessions.secure(exchange(host).req), host).toBe(false);
    for (const host of ["tollgate.example", "10.0.0.1:8181", "127.0.0.1.evil.example"]) expect(sessions.secure(exchange(host).req), host).toBe(true);
  });

  it("ends a session at its expiry, by the clock", async () => {
    let now = new Date("2030-01-01T00:00:00Z");
    const sessions = new StoredBrowserSessions({ store: new MemoryBrowserSessionStore(), ttlS: 600, production: false, clock: () => now });
    const { req, res } = exchange("127.0.0.1");
    const started = await sessions.start(req, res, "bob");
    const cookie = pairOf(setCookies(res)[0]!);
    now = new Date(now.getTime() + 599_999);
    expect(await sessions.current(exchange("127.0.0.1", cookie).req)).toEqual(started);
    now = new Date(now.getTime() + 1);
    expect(await sessions.current(exchange("127.0.0.1", cookie).req)).toBeNull();
  });

  it("replaces the browser's session when it signs in again, and ignores malformed cookies", async () => {
    const sessions = new StoredBrowserSessions({ store: new MemoryBrowserSessionStore(), ttlS: 600, production: false });
    const first = exchange("127.0.0.1");
    await sessions.start(first.req, first.res, "bob");
    const old = pairOf(setCookies(first.res)[0]!);
    const second = exchange("127.0.0.1", old);
    const alice = await sessions.start(second.req, second.res, "alice");
    expect(setCookies(second.res)[0]).toMatch(/^tollgate_session=; .*Max-Age=0/);
    expect(await sessions.current(exchange("127.0.0.1", old).req)).toBeNull();
    expect(await sessions.current(exchange("127.0.0.1", pairOf(setCookies(second.res)[1]!)).req)).toEqual(alice);
    expect(alice.sessionId).not.toBe(pairOf(setCookies(second.res)[1]!).split("=")[1]);
    for (const bad of ["tollgate_session=short", "tollgate_session=", `tollgate_session=${"a".repeat(42)}*`, "other=x"]) {
      expect(await sessions.current(exchange("127.0.0.1", bad).req)).toBeNull();
    }
  });
});

describe("production without an identity provider", () => {
  it("serves no sign-in page (404) and no development sign-in", async () => {
    const audit = new MemoryAudit({ retentionDays: 1 });
    const { routes } = browserUi({
      config: { env: "production", oidc: null, publicUrl: null, uiSessionTtlS: 600, uiSignInsPerMinute: 20, maxBodyBytes: 16384, trustedProxies: { trust: () => false, entries: [] } },
      store: new MemoryBrowserSessionStore(),
      service: {} as PageAuditedMcpTokenService,
      directory: { listProjectsOf: async () => [] },
      audit,
      uiAudit: new UiAudit({ sink: audit, trustedProxies: () => false }),
      rateLimiter: new MemoryRateLimiter(),
      upstreamOAuth: null,
      logger: pino({ level: "silent" }),
    });
    const app = express().use(routes);
    const page = await request(app).get("/ui/login");
    expect(page.status).toBe(404);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.text).toContain("TOLLGATE_OIDC_ISSUER");
    const post = await request(app).post("/ui/login").type("form").send({ user_id: "alice" });
    expect(post.status).toBe(404);
    expect(post.headers["set-cookie"]).toBeUndefined();
  });
});
