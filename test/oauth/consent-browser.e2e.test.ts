// Issue 11 end to end, with a real browser: the official MCP clients' OAuth support (the 1.x
// SDK and the 2.x client) against Tollgate as `make run` starts it (embedded default, demo
// world, demo MCP upstream, its own authorization server). The client discovers, registers
// (DCR) and starts PKCE; Debian's chromium, driven by playwright-core, plays the user: signs in
// on /ui/login as a demo user, chooses the grant on the consent page (allow_trigger, expiry) and
// lands on the client's loopback callback with code, state and iss; the client redeems, lists
// and calls tools through the gateway. Then the user revokes the grant on /ui/tokens and the
// client's next call is refused (401). Denying answers access_denied. No page raises a CSP
// violation or a console error.
//
// Each client kind is one row of CLIENT_KINDS: each SDK registering by DCR, and by a Client ID
// Metadata Document (its URL is the client_id; the document on a loopback https server with the
// test CA, TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS=true).
import { createServer, type Server } from "node:http";
import * as sdk2 from "@modelcontextprotocol/client";
import { auth as auth1, UnauthorizedError as Unauthorized1, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client as Client1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as Transport1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { OAuthClientInformationMixed, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listen, stopServer } from "../gateway/helpers.js";
import { testCa } from "../support/test-ca.js";
import { startDocumentServer, type DocumentServer } from "./document-server.js";
import { mcpCall, startDemoTollgate, stopDemoUpstream, tokenRequest, type OAuthServer } from "./support.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PROJECT = "demo-private";
const USER = "bob"; // Developer on demo-private: may allow trigger tools

/** The few calls the test makes of an MCP client, whichever SDK it is. */
interface McpSession {
  toolNames(): Promise<string[]>;
  callTool(name: string, args: Record<string, unknown>): Promise<{ isError: boolean; text: string }>;
  close(): Promise<void>;
}

/** One official MCP client's OAuth support, behind the same few calls. */
interface Sdk {
  /** Connects with the provider; rejects with the SDK's UnauthorizedError when it must authorize first. */
  connect(url: URL, provider: OAuthClientProvider): Promise<McpSession>;
  isUnauthorized(err: unknown): boolean;
  /** The SDK's auth(): discovery, registration, the authorization request (or a refresh). */
  auth(provider: OAuthClientProvider, options: { serverUrl: URL; scope?: string }): Promise<"AUTHORIZED" | "REDIRECT">;
  /** The client's callback handler: redeems the code (the 2.x client checks iss itself and raises the error of an error response). */
  finishAuth(url: URL, provider: OAuthClientProvider, callback: URLSearchParams): Promise<void>;
}

const sdk1: Sdk = {
  async connect(url, provider) {
    const client = new Client1({ name: "tollgate-e2e-sdk1", version: "1.0.0" });
    await client.connect(new Transport1(url, { authProvider: provider }));
    return {
      toolNames: async () => (await client.listTools()).tools.map((t) => t.name),
      callTool: async (name, args) => {
        const result = (await client.callTool({ name, arguments: args })) as { isError?: boolean; content: Array<{ text: string }> };
        return { isError: result.isError ?? false, text: result.content[0]?.text ?? "" };
      },
      close: () => client.close(),
    };
  },
  isUnauthorized: (err) => err instanceof Unauthorized1,
  auth: (provider, options) => auth1(provider, options),
  async finishAuth(url, provider, callback) {
    // The 1.x SDK takes the code alone: the client application checks iss (RFC 9207) and state itself.
    await new Transport1(url, { authProvider: provider }).finishAuth(callback.get("code") ?? "");
  },
};

const sdk2Client: Sdk = {
  async connect(url, provider) {
    const client = new sdk2.Client({ name: "tollgate-e2e-sdk2", version: "2.0.0" });
    await client.connect(new sdk2.StreamableHTTPClientTransport(url, { authProvider: provider }));
    return {
      toolNames: async () => (await client.listTools()).tools.map((t) => t.name),
      callTool: async (name, args) => {
        const result = (await client.callTool({ name, arguments: args })) as { isError?: boolean; content: Array<{ text: string }> };
        return { isError: result.isError ?? false, text: result.content[0]?.text ?? "" };
      },
      close: () => client.close(),
    };
  },
  isUnauthorized: (err) => err instanceof sdk2.UnauthorizedError,
  auth: (provider, options) => sdk2.auth(provider as sdk2.OAuthClientProvider, options),
  async finishAuth(url, provider, callback) {
    await new sdk2.StreamableHTTPClientTransport(url, { authProvider: provider as sdk2.OAuthClientProvider }).finishAuth(callback);
  },
};

interface ClientKind {
  name: string;
  sdk: Sdk;
  /** The client is known by a Client ID Metadata Document (its URL the client_id) instead of registering (DCR). */
  cimd?: boolean;
}

const CLIENT_KINDS: ClientKind[] = [
  { name: "MCP SDK 1.x (DCR)", sdk: sdk1 },
  { name: "MCP client 2.x (DCR)", sdk: sdk2Client },
  { name: "MCP SDK 1.x (CIMD)", sdk: sdk1, cimd: true },
  { name: "MCP client 2.x (CIMD)", sdk: sdk2Client, cimd: true },
];

let tg: OAuthServer;
let docs: DocumentServer;
let callbackServer: Server;
let redirectUri: string;
const callbacks: URL[] = [];
let browser: Browser;
/** Every CSP violation and console error of a Tollgate page, and each Tollgate document's CSP header. */
const violations: string[] = [];
const cspHeaders = new Map<string, string | undefined>();

beforeAll(async () => {
  docs = await startDocumentServer();
  tg = await startDemoTollgate({
    // Every run of the file is bob's: his MCP budget (30 a minute by default) is raised, not tested, here.
    env: { TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS: "true", TOLLGATE_RATE_LIMITS: '{"mcp":{"default":1000,"trigger":100}}' },
    clientDocumentsCa: testCa().ca,
  });
  // The client's loopback redirect URI (RFC 8252 §7.3): it only records what the browser brings.
  callbackServer = createServer((req, res) => {
    const url = new URL(req.url ?? "/", redirectUri);
    if (url.pathname !== "/callback") return void res.writeHead(404).end(); // the browser's favicon request
    callbacks.push(url);
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>Signed in</title><p>You can close this window.</p>");
  });
  redirectUri = `${await listen(callbackServer)}/callback`;
  // --no-sandbox: tests run as root in a container, where chromium's sandbox cannot start.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
});

afterAll(async () => {
  await browser?.close();
  await stopServer(callbackServer);
  await tg?.close();
  await docs?.close();
  await stopDemoUpstream();
});

/** A fresh browser profile (no Tollgate session yet) that reports violations and errors of Tollgate's pages. */
async function newUserAgent(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation ${e.violatedDirective} ${e.blockedURI}`));
  });
  const page = await context.newPage();
  const ours = (url: string): boolean => url.startsWith(tg.url);
  page.on("console", (message) => {
    // The browser's own favicon request is no error of the page's.
    if (message.type() === "error" && ours(page.url()) && !message.location().url.endsWith("/favicon.ico")) violations.push(`${page.url()}: ${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (err) => void violations.push(`${page.url()}: ${err.message}`));
  page.on("response", (response) => {
    const redirect = response.status() >= 300 && response.status() < 400;
    if (ours(response.url()) && response.request().resourceType() === "document" && !redirect) {
      cspHeaders.set(new URL(response.url()).pathname, response.headers()["content-security-policy"]);
    }
  });
  return { context, page };
}

interface Consent {
  decision: "allow" | "deny";
  /** Tick (true) or untick (false) "allow trigger"; undefined: leave it as offered. */
  allowTrigger?: boolean;
  /** Whether the page must offer "allow trigger" (checked when given). */
  triggerOffered?: boolean;
  /** The label of the expiry choice. */
  expiry?: string;
}

/**
 * The user's side: from the client's authorization URL through sign-in (first time in this
 * browser) and the consent page to the client's callback. Returns the callback URL the client received.
 */
async function userAuthorizes(page: Page, authorizationUrl: URL, consent: Consent): Promise<URL> {
  const before = callbacks.length;
  await page.goto(authorizationUrl.href);
  if (new URL(page.url()).pathname === "/ui/login") {
    await page.getByRole("button", { name: `Sign in as ${USER}` }).click();
  }
  await page.waitForURL((url) => url.pathname === "/ui/consent");
  const trigger = page.getByLabel(/trigger builds/);
  if (consent.triggerOffered !== undefined) expect(await trigger.count()).toBe(consent.triggerOffered ? 1 : 0);
  if (consent.allowTrigger !== undefined) await trigger.setChecked(consent.allowTrigger);
  if (consent.expiry) await page.getByLabel("Access lasts").selectOption({ label: consent.expiry });
  await page.getByRole("button", { name: consent.decision === "allow" ? "Allow" : "Deny" }).click();
  await page.waitForURL((url) => url.href.startsWith(redirectUri));
  expect(callbacks.length).toBe(before + 1);
  return callbacks.at(-1)!;
}

/**
 * The client's OAuth state in memory; its redirectToAuthorization hands the URL to the user (the
 * browser). A CIMD client publishes its document (one per client name) before it starts.
 */
function clientState(kind: ClientKind, clientName: string, onRedirect: (url: URL) => Promise<void>) {
  const metadata = { redirect_uris: [redirectUri], client_name: clientName, client_uri: "https://agent.example/", token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"], response_types: ["code"] };
  let clientMetadataUrl: string | undefined;
  if (kind.cimd) {
    const path = `/${clientName.replace(/[^A-Za-z0-9]+/g, "-")}/client.json`;
    clientMetadataUrl = docs.url(path);
    docs.set(path, { headers: { "cache-control": "max-age=300" }, body: { client_id: clientMetadataUrl, ...metadata } });
  }
  const state: { client?: OAuthClientInformationMixed; tokens?: OAuthTokens; verifier: string; state?: string; authorizationUrl?: URL; discovery?: sdk2.OAuthDiscoveryState } = { verifier: "" };
  // discoveryState: the 2.x client binds the callback to the authorization server it discovered (SEP-2352).
  const provider: OAuthClientProvider & Pick<sdk2.OAuthClientProvider, "saveDiscoveryState" | "discoveryState"> = {
    get redirectUrl() {
      return redirectUri;
    },
    ...(clientMetadataUrl ? { clientMetadataUrl } : {}),
    clientMetadata: metadata,
    state: () => (state.state = `st-${Math.random().toString(36).slice(2)}`),
    clientInformation: () => state.client,
    saveClientInformation: (info) => void (state.client = info),
    tokens: () => state.tokens,
    saveTokens: (tokens) => void (state.tokens = tokens),
    saveCodeVerifier: (v) => void (state.verifier = v),
    codeVerifier: () => state.verifier,
    saveDiscoveryState: (s) => void (state.discovery = s),
    discoveryState: () => state.discovery,
    // What the SDK drops when the server refuses them (a revoked grant's refresh token: invalid_grant).
    invalidateCredentials: (scope) => {
      if (scope === "all" || scope === "tokens") delete state.tokens;
      if (scope === "all" || scope === "client") delete state.client;
      if (scope === "all" || scope === "verifier") state.verifier = "";
    },
    redirectToAuthorization: async (url) => {
      state.authorizationUrl = url;
      await onRedirect(url);
    },
  };
  return { provider, state, clientMetadataUrl };
}

/** What a client application does with its callback: check state and iss, then let the SDK redeem. */
async function redeem(kind: ClientKind, url: URL, provider: OAuthClientProvider, expectedState: string | undefined, callback: URL): Promise<void> {
  expect(callback.searchParams.get("state")).toBe(expectedState);
  expect(callback.searchParams.get("iss")).toBe(tg.url);
  expect(callback.searchParams.get("code")).toBeTruthy();
  await kind.sdk.finishAuth(url, provider, callback.searchParams);
}

describe.each(CLIENT_KINDS)("$name: OAuth through the browser against a `make run` Tollgate", (kind) => {
  const mcpUrl = (): URL => new URL(tg.mcpResource(PROJECT));

  it("authorizes on the 401 (sign-in, consent with trigger unticked and 1 day), lists and calls tools; revoked on /ui/tokens, the next call is refused", async () => {
    const { context, page } = await newUserAgent();
    const clientName = `${kind.name} read-only`;
    let callback: URL | undefined;
    // The user's side of each authorization the client starts (replaced below).
    let user = async (url: URL): Promise<void> => {
      // The SDK asks for the challenge's scope (mcp:read): no trigger offered.
      callback = await userAuthorizes(page, url, { decision: "allow", triggerOffered: false, expiry: "1 day" });
    };
    const { provider, state, clientMetadataUrl } = clientState(kind, clientName, (url) => user(url));
    const first = await kind.sdk.connect(mcpUrl(), provider).then(
      () => null,
      (err: unknown) => err,
    );
    expect(kind.sdk.isUnauthorized(first), String(first)).toBe(true);
    expect(state.authorizationUrl?.origin).toBe(tg.url);
    expect(state.authorizationUrl?.searchParams.get("resource")).toBe(tg.mcpResource(PROJECT));
    expect(state.authorizationUrl?.searchParams.get("code_challenge_method")).toBe("S256");
    await redeem(kind, mcpUrl(), provider, state.state, callback!);
    // A CIMD client registers nothing: its document's URL is its client_id.
    if (kind.cimd) expect(state.client?.client_id).toBe(clientMetadataUrl);
    else expect(state.client?.client_id).not.toMatch(/^https:/);

    const session = await kind.sdk.connect(mcpUrl(), provider);
    // The gateway lists only the tools this grant may call: no trigger_build.
    expect((await session.toolNames()).sort()).toEqual(["get_build", "list_builds"]);
    const build = await session.callTool("get_build", { build_id: "b2" });
    expect(JSON.parse(build.text)).toMatchObject({ id: "b2", project: PROJECT });
    // The grant the user chose: no trigger (the policy refuses it before the upstream), one day.
    await expect(session.callTool("trigger_build", {})).rejects.toThrow(/trigger_not_allowed|403/);
    const [record] = (await tg.tollgate.facts.tokenStore.listByUser(USER)).filter((r) => r.oauth?.client_name === clientName);
    expect(record).toMatchObject({ grants: [{ project_id: PROJECT, allow_trigger: false }] });
    const days = (record!.grants[0]!.expires_at!.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(0.9);
    expect(days).toBeLessThanOrEqual(1);

    // The user revokes it in the browser (already signed in in this profile).
    await page.goto(`${tg.url}/ui/tokens`);
    const row = page.getByRole("row").filter({ hasText: clientName });
    await expect.poll(() => row.count()).toBe(1);
    // The client's URL: its client_uri; a document client's is its client_id's origin, whatever the document says.
    const clientUrl = kind.cimd ? new URL(clientMetadataUrl!).origin : "https://agent.example/";
    expect(await row.getByRole("link", { name: clientUrl, exact: true }).count()).toBe(1);
    await row.getByRole("button", { name: `Revoke ${clientName}` }).click();
    await page.waitForURL(`${tg.url}/ui/tokens`);
    expect(await page.getByRole("row").filter({ hasText: clientName }).textContent()).toContain("revoked");

    // The token is refused at once, and its refresh token with it.
    const revokedToken = state.tokens!;
    expect((await mcpCall(tg.url, PROJECT, revokedToken.access_token)).status).toBe(401);
    // The client's next call: 401; the SDK's refresh gets invalid_grant; it must ask the user again.
    let askedAgain: URL | undefined;
    user = async (url) => void (askedAgain = url);
    const next = await session.callTool("list_builds", {}).then(
      () => null,
      (err: unknown) => err,
    );
    expect(kind.sdk.isUnauthorized(next), String(next)).toBe(true);
    expect(askedAgain?.pathname).toBe("/oauth/authorize");
    const refreshed = await tokenRequest(tg.url, { grant_type: "refresh_token", refresh_token: revokedToken.refresh_token!, client_id: state.client!.client_id });
    expect(refreshed.body.error).toBe("invalid_grant");
    await session.close().catch(() => undefined);

    // The user approves again in the same browser (the authorization server's session still open): a new grant works.
    callback = await userAuthorizes(page, askedAgain!, { decision: "allow", triggerOffered: false });
    await redeem(kind, mcpUrl(), provider, state.state, callback);
    const renewed = await kind.sdk.connect(mcpUrl(), provider);
    expect(await renewed.toolNames()).toContain("list_builds");
    await renewed.close();
    await context.close();
  });

  it("asks for mcp:trigger up front; the user ticks it and picks 7 days; trigger_build goes through", async () => {
    const { context, page } = await newUserAgent();
    const clientName = `${kind.name} builder`;
    let callback: URL | undefined;
    const { provider, state } = clientState(kind, clientName, async (url) => {
      callback = await userAuthorizes(page, url, { decision: "allow", triggerOffered: true, allowTrigger: true, expiry: "7 days" });
    });
    expect(await kind.sdk.auth(provider, { serverUrl: mcpUrl(), scope: "mcp:read mcp:trigger" })).toBe("REDIRECT");
    await redeem(kind, mcpUrl(), provider, state.state, callback!);
    expect(state.tokens?.scope?.split(" ")).toEqual(expect.arrayContaining(["mcp:read", "mcp:trigger"]));
    const session = await kind.sdk.connect(mcpUrl(), provider);
    expect(await session.toolNames()).toContain("trigger_build");
    const triggered = await session.callTool("trigger_build", {});
    expect(triggered.isError, triggered.text).toBe(false);
    expect(JSON.parse(triggered.text)).toMatchObject({ project: PROJECT, state: "queued" });
    const [record] = (await tg.tollgate.facts.tokenStore.listByUser(USER)).filter((r) => r.oauth?.client_name === clientName);
    expect(record).toMatchObject({ grants: [{ project_id: PROJECT, allow_trigger: true }] });
    const days = (record!.grants[0]!.expires_at!.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThanOrEqual(7);
    await session.close();
    await context.close();
  });

  it("deny on the consent page: the client gets access_denied (with state and iss), and no token", async () => {
    const { context, page } = await newUserAgent();
    const clientName = `${kind.name} denied`;
    let callback: URL | undefined;
    const { provider, state } = clientState(kind, clientName, async (url) => {
      callback = await userAuthorizes(page, url, { decision: "deny" });
    });
    expect(await kind.sdk.auth(provider, { serverUrl: mcpUrl() })).toBe("REDIRECT");
    expect(callback!.searchParams.get("error")).toBe("access_denied");
    expect(callback!.searchParams.get("state")).toBe(state.state);
    expect(callback!.searchParams.get("iss")).toBe(tg.url);
    expect(callback!.searchParams.has("code")).toBe(false);
    if (kind.sdk === sdk2Client) await expect(kind.sdk.finishAuth(mcpUrl(), provider, callback!.searchParams)).rejects.toThrow(/access_denied|denied/);
    expect(state.tokens).toBeUndefined();
    expect((await tg.tollgate.facts.tokenStore.listByUser(USER)).filter((r) => r.oauth?.client_name === clientName)).toEqual([]);
    await context.close();
  });
});

describe("the pages in the browser", () => {
  it("served sign-in, consent and tokens with the CSP, and raised no CSP violation or console error", () => {
    expect([...cspHeaders.keys()]).toEqual(expect.arrayContaining(["/ui/login", "/ui/consent", "/ui/tokens"]));
    for (const [path, csp] of cspHeaders) {
      expect(csp, path).toContain("default-src 'none'");
      expect(csp, path).toContain("frame-ancestors 'none'");
    }
    expect(violations).toEqual([]);
  });
});
