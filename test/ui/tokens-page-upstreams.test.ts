// The "Connected services" section of /ui/tokens over HTTP (cookies kept as a browser keeps them),
// with Tollgate in-process, oidc-provider as the upstreams' authorization server and the SDK-built
// upstream: each oauth upstream listed with the user's state, Connect and Disconnect from the
// page, and revoking a Tollgate token leaving the upstream connection alone.
import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpServer } from "../../src/http/server.js";
import { startGateway, stopServer } from "../gateway/helpers.js";
import { buildWorld, type World } from "../http/fixture.js";
import { freePort } from "../support/servers.js";
import { startUpstreamAs, startUpstreamMcp, walkToCallback, type UpstreamAs, type UpstreamMcp } from "../support/upstream-oauth.js";
import { contentSecurityPolicy } from "../../src/ui/page.js";
import { csrfOf, formBrowser, type FormBrowser } from "./browser.js";

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
    TOLLGATE_UPSTREAMS: JSON.stringify([
      { name: "wiki", prefix: "/api/v1/wiki/", url: mcp.url, auth: "oauth" },
      { name: "docs", prefix: "/api/", url: mcp.url, auth: "oauth" },
      { name: "plain", prefix: "/api/v1/plain/", url: "http://127.0.0.1:9/", auth: "identity-headers" },
    ]),
  });
  server = createHttpServer(world.tollgate.app, world.tollgate.config);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
}, 60_000);

afterAll(async () => {
  await stopServer(server);
  await world?.tollgate.close();
  await mcp?.close();
  await as?.close();
});

async function signedIn(user: string): Promise<FormBrowser> {
  const b = formBrowser(base);
  expect((await b.post("/ui/login", { user_id: user, return_to: "/ui/tokens" })).status).toBe(303);
  return b;
}

/** The section's row of one upstream, or null when there is none. */
function serviceRow(page: string, name: string): string | null {
  const section = /<section aria-labelledby="services-heading">[\s\S]*?<\/section>/.exec(page)?.[0] ?? "";
  return new RegExp(`<tr><th scope="row">${name}</th>[\\s\\S]*?</tr>`).exec(section)?.[0] ?? null;
}

const hrefOf = (markup: string): string => /<a href="([^"]+)"/.exec(markup)![1]!.replaceAll("&amp;", "&");

/** Follows the page's Connect link for `name` through the authorization server back to the callback. */
async function connectFromPage(b: FormBrowser, name: string, upstreamUser: string): Promise<void> {
  const link = hrefOf(serviceRow((await b.get("/ui/tokens")).body, name)!);
  const res = await b.get(link);
  expect(res.status).toBe(303);
  as.signInAs(upstreamUser);
  const callback = await walkToCallback(res.headers.location as string, `${base}/oauth/upstream/${name}/callback`);
  const done = await b.get(callback.pathname + callback.search);
  expect(done.status).toBe(200);
  expect(done.body).toContain("is connected");
}

const connectionsOf = async (user: string) => (await world.tollgate.upstreamOAuth!.tokens.listByUser(user)).map((c) => c.upstream);

describe("the Connected services section of /ui/tokens", () => {
  it("lists each oauth upstream (and only those) with the user's state and a Connect link made for the user", async () => {
    const b = await signedIn("carol");
    const res = await b.get("/ui/tokens");
    expect(res.status).toBe(200);
    expect(res.headers["content-security-policy"]).toBe(contentSecurityPolicy());
    expect(res.body).toContain('<h2 id="services-heading">Connected services</h2>');
    expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(serviceRow(res.body, "plain")).toBeNull();
    for (const name of ["docs", "wiki"]) {
      const row = serviceRow(res.body, name)!;
      expect(row).toContain("<td>not connected</td>");
      expect(row).toContain(`<a href="/oauth/upstream/${name}/connect?user=carol" aria-label="Connect ${name}">Connect</a>`);
      expect(row).not.toContain("Disconnect");
    }
    // Configured order is not display order: by name, as the store lists connections.
    expect(res.body.indexOf('<th scope="row">docs</th>')).toBeLessThan(res.body.indexOf('<th scope="row">wiki</th>'));

    await connectFromPage(b, "docs", "upstream-carol");
    const after = (await b.get("/ui/tokens")).body;
    const docs = serviceRow(after, "docs")!;
    expect(docs).toMatch(new RegExp(`<td>connected since ${new Date().getUTCFullYear()}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC</td>`));
    expect(docs).toContain(`<form class="inline" method="post" action="/oauth/upstream/docs/disconnect"><input type="hidden" name="csrf_token" value="${csrfOf(after)}">`);
    expect(docs).toContain('aria-label="Disconnect docs"');
    expect(docs).not.toContain("/connect");
    expect(serviceRow(after, "wiki")).toContain("<td>not connected</td>");
    // Another user's page knows nothing of carol's connection.
    expect(serviceRow((await (await signedIn("alice")).get("/ui/tokens")).body, "docs")).toContain("<td>not connected</td>");
  });

  it("Disconnect from the page revokes the upstream tokens there and deletes them; the page then shows not connected", async () => {
    const b = await signedIn("bob");
    await connectFromPage(b, "wiki", "upstream-bob");
    expect(await connectionsOf("bob")).toEqual(["wiki"]);
    const page = (await b.get("/ui/tokens")).body;
    const form = /<form class="inline" method="post" action="([^"]+)"><input type="hidden" name="csrf_token" value="([^"]+)">/.exec(serviceRow(page, "wiki")!)!;
    const revocations = as.revocations();
    const res = await b.post(form[1]!, { csrf_token: form[2]! });
    expect(res.status).toBe(200);
    expect(res.body).toContain("revoked and deleted");
    expect(as.revocations() - revocations).toBe(1);
    expect(await connectionsOf("bob")).toEqual([]);
    expect(serviceRow((await b.get("/ui/tokens")).body, "wiki")).toContain("<td>not connected</td>");
  });

  it("revoking one of the user's Tollgate tokens on the page leaves the upstream connection", async () => {
    const b = await signedIn("bob");
    await connectFromPage(b, "docs", "upstream-bob");
    const before = await world.tollgate.upstreamOAuth!.tokens.listByUser("bob");
    const csrf = csrfOf((await b.get("/ui/tokens")).body);
    const revocations = as.revocations();
    const res = await b.post(`/ui/tokens/${world.tokenIds.bobMcp}/revoke`, { csrf_token: csrf });
    expect(res.status).toBe(303);
    const page = (await b.get("/ui/tokens")).body;
    expect(page).toMatch(/<td>revoked \d{4}-/);
    expect(serviceRow(page, "docs")).toMatch(/<td>connected since /);
    expect(as.revocations()).toBe(revocations);
    expect(await world.tollgate.upstreamOAuth!.tokens.listByUser("bob")).toEqual(before);
    const access = await world.tollgate.upstreamOAuth!.connector.access({ name: "docs", url: new URL(mcp.url), scopes: [] }, "bob");
    expect(access.kind).toBe("token");
  });
});

describe("without an oauth upstream", () => {
  it("the tokens page has no Connected services section", async () => {
    const gw = await startGateway({ TOLLGATE_UPSTREAMS: JSON.stringify([{ name: "plain", prefix: "/api/", url: "http://127.0.0.1:9/", auth: "identity-headers" }]) });
    try {
      const b = formBrowser(gw.url);
      expect((await b.post("/ui/login", { user_id: "bob", return_to: "/ui/tokens" })).status).toBe(303);
      const page = await b.get("/ui/tokens");
      expect(page.status).toBe(200);
      expect(page.body).toContain("Your tokens");
      expect(page.body).not.toContain("Connected services");
      expect(page.body).not.toContain("/oauth/upstream/");
    } finally {
      await gw.close();
    }
  });
});
