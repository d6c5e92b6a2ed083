// The browser routes of the connect flow over HTTP (cookies kept as a browser keeps them), with
// Tollgate in-process, oidc-provider as the upstream's authorization server and the SDK-built
// upstream: sign-in first, the link's user checked, the answer bound to the session, disconnect.
import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpServer } from "../../src/http/server.js";
import { stopServer } from "../gateway/helpers.js";
import { buildWorld, type World } from "../http/fixture.js";
import { formBrowser, csrfOf, type FormBrowser } from "../ui/browser.js";
import { freePort } from "../support/servers.js";
import { startUpstreamAs, startUpstreamMcp, walkToCallback, type UpstreamAs, type UpstreamMcp } from "../support/upstream-oauth.js";

let as: UpstreamAs;
let mcp: UpstreamMcp;
let world: World;
let server: ReturnType<typeof createServer>;
let base: string;

beforeAll(async () => {
  as = await startUpstreamAs();
  mcp = await startUpstreamMcp(as);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  world = await buildWorld({
    TOLLGATE_PUBLIC_URL: base,
    TOLLGATE_UPSTREAMS: JSON.stringify([{ name: "docs", prefix: "/api/", url: mcp.url, auth: "oauth" }]),
  });
  server = createHttpServer(world.tollgate.app, world.tollgate.config);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
});

afterAll(async () => {
  await stopServer(server);
  await world?.tollgate.close();
  await mcp?.close();
  await as?.close();
});

const connectPath = (user: string) => `/oauth/upstream/docs/connect?user=${user}`;

async function signedIn(user: string): Promise<FormBrowser> {
  const b = formBrowser(base);
  const res = await b.post("/ui/login", { user_id: user, return_to: "/ui/tokens" });
  expect(res.status).toBe(303);
  return b;
}

/** connect → the authorization server (as `upstreamUser`) → the callback URL it sends the browser to. */
async function toCallback(b: FormBrowser, user: string, upstreamUser: string): Promise<string> {
  const res = await b.get(connectPath(user));
  expect(res.status).toBe(303);
  expect(res.headers["cache-control"]).toBe("no-store");
  as.signInAs(upstreamUser);
  const callback = await walkToCallback(res.headers.location as string, `${base}/oauth/upstream/docs/callback`);
  return callback.pathname + callback.search;
}

describe("GET /oauth/upstream/{name}/connect and /callback", () => {
  it("without a session: to the sign-in page, returning to the link", async () => {
    const res = await formBrowser(base).get(connectPath("bob"));
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/ui/login?return_to=${encodeURIComponent(connectPath("bob"))}`);
  });

  it("refuses a session whose user is not the one the link was made for, and a link for nobody", async () => {
    const b = await signedIn("bob");
    for (const path of [connectPath("alice"), "/oauth/upstream/docs/connect"]) {
      const res = await b.get(path);
      expect(res.status).toBe(400);
      expect(res.body).toContain("made for another user");
    }
  });

  it("an unknown upstream is 404", async () => {
    const b = await signedIn("bob");
    expect((await b.get("/oauth/upstream/nope/connect?user=bob")).status).toBe(404);
  });

  it("connects: the callback in the same session stores the user's tokens; replayed, it is refused", async () => {
    const b = await signedIn("bob");
    const callback = await toCallback(b, "bob", "upstream-bob");
    const res = await b.get(callback);
    expect(res.status).toBe(200);
    expect(res.body).toContain("is connected");
    expect(b.cookies.has("tollgate_upstream_connect")).toBe(false);
    const access = await world.tollgate.upstreamOAuth!.connector.access({ name: "docs", url: new URL(mcp.url), scopes: [] }, "bob");
    expect(access.kind).toBe("token");
    expect((await b.get(callback)).status).toBe(400);
  });

  it("the authorization server's answer is refused in another user's browser (no login CSRF)", async () => {
    const attacker = await signedIn("carol");
    const callback = await toCallback(attacker, "carol", "upstream-carol");
    // The victim, signed in as alice, is made to open carol's callback URL (and even carries carol's pending cookie).
    const victim = await signedIn("alice");
    victim.cookies.set("tollgate_upstream_connect", attacker.cookies.get("tollgate_upstream_connect")!);
    const res = await victim.get(callback);
    expect(res.status).toBe(400);
    expect(await world.tollgate.upstreamOAuth!.connector.access({ name: "docs", url: new URL(mcp.url), scopes: [] }, "alice")).toEqual({ kind: "not_connected" });
  });

  it("POST /oauth/upstream/{name}/disconnect (a form of the session, CSRF-checked) revokes and deletes", async () => {
    const b = await signedIn("bob");
    await b.get(await toCallback(b, "bob", "upstream-bob"));
    const csrf = csrfOf((await b.get("/ui/tokens")).body);
    expect((await b.post("/oauth/upstream/docs/disconnect", { csrf_token: "forged" })).status).toBe(400);
    const revocations = as.revocations();
    const res = await b.post("/oauth/upstream/docs/disconnect", { csrf_token: csrf });
    expect(res.status).toBe(200);
    expect(res.body).toContain("revoked and deleted");
    expect(as.revocations() - revocations).toBe(1);
    expect(await world.tollgate.upstreamOAuth!.connector.access({ name: "docs", url: new URL(mcp.url), scopes: [] }, "bob")).toEqual({ kind: "not_connected" });
  });
});
