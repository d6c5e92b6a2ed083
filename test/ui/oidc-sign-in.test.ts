// Production sign-in: Tollgate as an OpenID Connect relying party, against oidc-provider playing
// the organisation's identity provider in-process (discovery, code flow with PKCE, state, nonce,
// the ID token verified), over HTTP with a cookie jar per origin, as a browser follows redirects.
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpServer } from "../../src/http/server.js";
import { send, stopServer, type Sent } from "../gateway/helpers.js";
import { buildWorld, type World } from "../http/fixture.js";
import { startIdp, type TestIdp } from "../support/oidc-idp.js";
import { freePort } from "../support/servers.js";

let idp: TestIdp;
let world: World;
let server: Server;
let base: string;

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  idp = await startIdp(`${base}/oauth/callback`);
  world = await buildWorld({
    TOLLGATE_PUBLIC_URL: base,
    TOLLGATE_OIDC_ISSUER: idp.issuer,
    TOLLGATE_OIDC_CLIENT_ID: idp.clientId,
    TOLLGATE_OIDC_CLIENT_SECRET: idp.clientSecret,
  });
  server = createHttpServer(world.tollgate.app, world.tollgate.config);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
});

afterAll(async () => {
  await stopServer(server);
  await world?.tollgate.close();
  await idp?.close();
});

/** Cookies per origin, as a browser keeps them (paths and expiry beyond deletion ignored). */
class Jar {
  readonly byOrigin = new Map<string, Map<string, string>>();

  async get(url: string, headers: Record<string, string> = {}): Promise<Sent> {
    const { origin, pathname, search } = new URL(url);
    const cookies = this.byOrigin.get(origin) ?? new Map<string, string>();
    this.byOrigin.set(origin, cookies);
    const cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await send(origin, pathname + search, { headers: { ...(cookie ? { cookie } : {}), ...headers } });
    for (const line of res.headers["set-cookie"] ?? []) {
      const [pair, ...attributes] = line.split(";").map((s) => s.trim());
      const [name, value] = [pair!.slice(0, pair!.indexOf("=")), pair!.slice(pair!.indexOf("=") + 1)];
      const gone = attributes.some((a) => /^max-age=0$/i.test(a) || /^expires=.*1970/i.test(a));
      if (gone) cookies.delete(name);
      else cookies.set(name, value);
    }
    return res;
  }

  /** Follows redirects from `url` until one leads to `stopAt` (a URL prefix), which is not fetched. */
  async follow(url: string, stopAt: string): Promise<string> {
    let current = url;
    for (let hops = 0; hops < 20; hops++) {
      if (current.startsWith(stopAt)) return current;
      const res = await this.get(current);
      if (res.status < 300 || res.status >= 400) throw new Error(`${current} answered ${res.status} ${res.body}`);
      current = new URL(res.headers.location!, current).href;
    }
    throw new Error("too many redirects");
  }
}

/** Signs a fresh browser in as `user` and returns its jar and the callback's answer. */
async function signIn(user: string, returnTo = "/ui/tokens"): Promise<{ jar: Jar; callbackUrl: string; res: Sent }> {
  idp.signInAs(user);
  const jar = new Jar();
  const start = await jar.get(`${base}/ui/login?return_to=${encodeURIComponent(returnTo)}`);
  expect(start.status).toBe(303);
  const url = await jar.follow(start.headers.location!, `${base}/oauth/callback`);
  return { jar, callbackUrl: url, res: await jar.get(url) };
}

describe("signing in with the organisation's identity provider", () => {
  it("sends the browser to the provider with PKCE S256, state and nonce", async () => {
    const res = await send(base, "/ui/login?return_to=%2Fui%2Ftokens");
    expect(res.status).toBe(303);
    const location = new URL(res.headers.location!);
    expect(location.origin).toBe(idp.issuer);
    const q = location.searchParams;
    expect(Object.fromEntries(q)).toMatchObject({ response_type: "code", client_id: idp.clientId, redirect_uri: `${base}/oauth/callback`, scope: "openid", code_challenge_method: "S256" });
    for (const name of ["state", "nonce", "code_challenge"]) expect(q.get(name)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.headers["set-cookie"]![0]).toMatch(/^tollgate_sign_in=[A-Za-z0-9_-]+; Path=\/; Max-Age=600; HttpOnly; SameSite=Lax$/);
  });

  it("signs the browser in as the ID token's sub and returns it where it was going", async () => {
    const { jar, callbackUrl, res } = await signIn("carol", "/ui/tokens?from=idp");
    expect(new URL(callbackUrl).searchParams.get("iss")).toBe(idp.issuer);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/ui/tokens?from=idp");
    expect(jar.byOrigin.get(base)!.has("tollgate_sign_in")).toBe(false);
    const page = await jar.get(`${base}/ui/tokens`);
    expect(page.status).toBe(200);
    expect(page.body).toContain("Signed in as <strong>carol</strong>");
  });

  it("returns only to a path of this origin, whatever return_to (or next) the sign-in began with", async () => {
    for (const evil of ["https://evil.example/", "//evil.example", "/\\evil.example", "/%2F%2Fevil.example", "/\t/evil.example", "javascript:alert(1)"]) {
      idp.signInAs("bob");
      const jar = new Jar();
      const start = await jar.get(`${base}/ui/login?return_to=${encodeURIComponent(evil)}&next=${encodeURIComponent(evil)}`);
      const url = await jar.follow(start.headers.location!, `${base}/oauth/callback`);
      const res = await jar.get(url);
      expect(res.status, evil).toBe(303);
      const back = new URL(res.headers.location!, base);
      expect(back.origin, evil).toBe(base);
      if (!evil.startsWith("/%2F")) expect(res.headers.location, evil).toBe("/ui/tokens");
    }
  });

  it("refuses an answer whose state is not this browser's, or without a sign-in under way", async () => {
    idp.signInAs("bob");
    const jar = new Jar();
    const start = await jar.get(`${base}/ui/login`);
    const url = await jar.follow(start.headers.location!, `${base}/oauth/callback`);
    const forged = new URL(url);
    forged.searchParams.set("state", "x".repeat(43));
    const refused = await jar.get(forged.href);
    expect(refused.status).toBe(400);
    expect(refused.headers["set-cookie"]?.some((c) => c.startsWith("tollgate_session="))).toBeFalsy();
    expect((await new Jar().get(url)).status).toBe(400); // another browser: no sign-in under way
  });

  it("refuses a code used twice (the provider refuses it) and a provider's error answer", async () => {
    idp.signInAs("bob");
    const jar = new Jar();
    const start = await jar.get(`${base}/ui/login`);
    const pending = jar.byOrigin.get(base)!.get("tollgate_sign_in")!;
    const url = await jar.follow(start.headers.location!, `${base}/oauth/callback`);
    const first = await jar.get(url);
    expect(first.status, first.body).toBe(303);
    const replay = await send(base, new URL(url).pathname + new URL(url).search, { headers: { cookie: `tollgate_sign_in=${pending}` } });
    expect(replay.status).toBe(400);
    expect(replay.body).toContain("sign-in failed");
    const state = new URL(url).searchParams.get("state")!;
    const denied = await send(base, `/oauth/callback?error=access_denied&state=${state}&iss=${encodeURIComponent(idp.issuer)}`, { headers: { cookie: `tollgate_sign_in=${pending}` } });
    expect(denied.status).toBe(400);
    expect(denied.body).toContain("access_denied");
  });

  it("refuses an answer naming another issuer (RFC 9207)", async () => {
    idp.signInAs("bob");
    const jar = new Jar();
    const start = await jar.get(`${base}/ui/login`);
    const url = await jar.follow(start.headers.location!, `${base}/oauth/callback`);
    const other = new URL(url);
    other.searchParams.set("iss", "https://evil.example");
    expect((await jar.get(other.href)).status).toBe(400);
  });

  it("serves no development sign-in while an identity provider is configured", async () => {
    const res = await send(base, "/ui/login", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "user_id=alice" });
    expect(res.status).toBe(404);
  });
});
