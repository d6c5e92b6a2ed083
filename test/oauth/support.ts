// Shared pieces of the OAuth tests: a Tollgate with TOLLGATE_PUBLIC_URL on a loopback port (the
// wall clock: the authorization server's tokens expire by it), a demo MCP upstream, a stand-in
// for the browser session (a test cookie naming the user), and a client that walks the flow.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { pino } from "pino";
import { loadConfig } from "../../src/config/config.js";
import { createDemoUpstream } from "../../src/demo/upstream.js";
import type { Logger } from "../../src/log.js";
import type { Backends } from "../../src/server/backends.js";
import { seedDemo } from "../../src/server/demo.js";
import { buildTollgate, type Tollgate } from "../../src/server/tollgate.js";
import type { BrowserSessions } from "../../src/ui/browser-sessions.js";
import { listen, stopServer } from "../gateway/helpers.js";
import { untilReady } from "../support/ready.js";
import { ADMIN_TOKEN, JWT_SECRET } from "../http/fixture.js";

export const REDIRECT_URI = "http://127.0.0.1:53682/callback";
const TEST_USER_COOKIE = "tg_test_user";

/** The browser session stand-in: `tg_test_user=<user id>`. */
export const testBrowserSessions: BrowserSessions = {
  async current(req: IncomingMessage) {
    const match = new RegExp(`(?:^|;\\s*)${TEST_USER_COOKIE}=([^;]+)`).exec(req.headers.cookie ?? "");
    return match ? { userId: decodeURIComponent(match[1]!), sessionId: `session-of-${match[1]}` } : null;
  },
};

export interface OAuthServer {
  url: string;
  tollgate: Tollgate;
  mcpResource(project: string): string;
  close(): Promise<void>;
}

let upstream: { server: Server; url: string } | undefined;

/** One demo MCP upstream for the test file. */
export async function demoUpstream(): Promise<string> {
  if (!upstream) {
    const demo = createDemoUpstream();
    const server = createServer((req, res) => demo.emit("request", req, res));
    upstream = { server, url: await listen(server) };
  }
  return upstream.url;
}

export async function stopDemoUpstream(): Promise<void> {
  await stopServer(upstream?.server);
  upstream = undefined;
}

/**
 * alice (admin, Owner of pub and priv), bob (Developer on priv), carol (system viewer,
 * Developer on priv), dave (no collaborations). `seed: false`: the directory is already there
 * (a second replica on shared backends).
 */
export async function startOAuthServer(options: { env?: Record<string, string>; backends?: Backends; seed?: boolean; publicUrl?: string; clientDocumentsCa?: string; logger?: Logger } = {}): Promise<OAuthServer> {
  let listener: ((req: IncomingMessage, res: import("node:http").ServerResponse) => void) | undefined;
  const server = createServer((req, res) => listener!(req, res));
  const url = await listen(server);
  const config = loadConfig({
    TOLLGATE_JWT_SECRET: JWT_SECRET,
    TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    TOLLGATE_DEMO: "false",
    TOLLGATE_PUBLIC_URL: options.publicUrl ?? url,
    // Tollgate is its own MCP endpoints' authorization server.
    TOLLGATE_MCP_AUTHORIZATION_SERVERS: options.publicUrl ?? url,
    // Every test registers its own clients from 127.0.0.1; the limit has its own test.
    TOLLGATE_OAUTH_REGISTRATIONS_PER_HOUR: "100000",
    TOLLGATE_OAUTH_DOCUMENT_FETCHES_PER_HOUR: "100000",
    TOLLGATE_UI_SIGN_INS_PER_MINUTE: "100000",
    TOLLGATE_UPSTREAM_URL: await demoUpstream(),
    ...options.env,
  });
  const tollgate = buildTollgate(config, {
    logger: options.logger ?? pino({ level: process.env.TEST_OAUTH_LOG ?? "silent" }),
    watchPolicy: false,
    defaultMetrics: false,
    prune: false,
    browserSessions: testBrowserSessions,
    ...(options.backends ? { backends: options.backends } : {}),
    ...(options.clientDocumentsCa ? { clientDocumentsCa: options.clientDocumentsCa } : {}),
  });
  listener = tollgate.app;
  await untilReady(tollgate);
  if (options.seed ?? true) {
    const dir = tollgate.facts.directoryStore;
    await dir.putUser({ id: "alice", system_role: "admin" });
    await dir.putUser({ id: "bob", system_role: "user" });
    await dir.putUser({ id: "carol", system_role: "viewer" });
    await dir.putProject({ id: "pub", name: "Public", public: true });
    await dir.putProject({ id: "priv", name: "Private", public: false });
    await dir.setCollaborator("pub", "alice", "Owner");
    await dir.setCollaborator("priv", "alice", "Owner");
    await dir.setCollaborator("priv", "bob", "Developer");
    await dir.setCollaborator("priv", "carol", "Developer");
  }
  return {
    url,
    tollgate,
    mcpResource: (project) => `${options.publicUrl ?? url}/api/v1/mcp/projects/${project}/mcp`,
    async close() {
      await stopServer(server);
      await tollgate.close();
    },
  };
}

/**
 * Tollgate as `make run` starts it: the embedded default (memory stores, the development
 * sign-in page with real browser sessions, the development secrets) seeded with the demo world
 * (alice, bob, carol; demo-public, demo-private), the demo MCP upstream, and its own
 * authorization server at its loopback URL. Only the DCR limit is raised: every test registers
 * its own clients from 127.0.0.1. `env` and `clientDocumentsCa`: for clients with Client ID
 * Metadata Documents on a loopback https server (TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS, the test CA).
 */
export async function startDemoTollgate(options: { env?: Record<string, string>; clientDocumentsCa?: string } = {}): Promise<OAuthServer> {
  let listener: ((req: IncomingMessage, res: import("node:http").ServerResponse) => void) | undefined;
  const server = createServer((req, res) => listener!(req, res));
  const url = await listen(server);
  const config = loadConfig({
    TOLLGATE_PUBLIC_URL: url,
    TOLLGATE_MCP_AUTHORIZATION_SERVERS: url,
    TOLLGATE_UPSTREAM_URL: await demoUpstream(),
    TOLLGATE_OAUTH_REGISTRATIONS_PER_HOUR: "1000",
    ...options.env,
  });
  const tollgate = buildTollgate(config, {
    logger: pino({ level: process.env.TEST_OAUTH_LOG ?? "silent" }),
    watchPolicy: false,
    defaultMetrics: false,
    prune: false,
    ...(options.clientDocumentsCa ? { clientDocumentsCa: options.clientDocumentsCa } : {}),
  });
  listener = tollgate.app;
  await seedDemo(tollgate, config);
  return {
    url,
    tollgate,
    mcpResource: (project) => `${url}/api/v1/mcp/projects/${project}/mcp`,
    async close() {
      await stopServer(server);
      await tollgate.close();
    },
  };
}

export interface Pkce {
  verifier: string;
  challenge: string;
}

export function pkce(): Pkce {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: string;
  location: URL | null;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A browser-ish client: a cookie jar (paths ignored), no redirects followed. */
export class Browser {
  readonly cookies = new Map<string, string>();

  constructor(
    readonly base: string,
    user?: string,
  ) {
    if (user) this.cookies.set(TEST_USER_COOKIE, user);
  }

  async request(target: string | URL, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
    const url = new URL(target, this.base);
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(url, { method: init.method ?? "GET", redirect: "manual", headers: { ...(cookie ? { cookie } : {}), ...init.headers }, ...(init.body !== undefined ? { body: init.body } : {}) });
    for (const set of res.headers.getSetCookie()) {
      const [pair] = set.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(set) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const body = await res.text();
    const location = res.headers.get("location");
    return { status: res.status, headers: res.headers, body, location: location ? new URL(location, url) : null, json: () => JSON.parse(body) };
  }

  /** Posts a form (the consent page's). */
  post(target: string | URL, form: Record<string, string>): Promise<Answer> {
    return this.request(target, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() });
  }
}

export interface RegisteredClient {
  client_id: string;
  [key: string]: unknown;
}

export async function register(base: string, metadata: Record<string, unknown> = {}): Promise<RegisteredClient> {
  const res = await fetch(`${base}/oauth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ redirect_uris: [REDIRECT_URI], client_name: "Test Agent", grant_types: ["authorization_code", "refresh_token"], token_endpoint_auth_method: "none", application_type: "native", ...metadata }),
  });
  const body = await res.text();
  if (res.status !== 201) throw new Error(`registration refused: ${res.status} ${body}`);
  return JSON.parse(body) as RegisteredClient;
}

export interface AuthorizeParams {
  client_id: string;
  resource?: string | null;
  scope?: string;
  redirect_uri?: string;
  code_challenge?: string | null;
  code_challenge_method?: string | null;
  state?: string;
}

export function authorizePath(p: AuthorizeParams): string {
  const q = new URLSearchParams({ response_type: "code", client_id: p.client_id, redirect_uri: p.redirect_uri ?? REDIRECT_URI, scope: p.scope ?? "mcp:read", state: p.state ?? "st-123" });
  if (p.resource !== null && p.resource !== undefined) q.set("resource", p.resource);
  if (p.code_challenge !== null && p.code_challenge !== undefined) q.set("code_challenge", p.code_challenge);
  if (p.code_challenge_method !== null) q.set("code_challenge_method", p.code_challenge_method ?? "S256");
  return `/oauth/authorize?${q}`;
}

/** The consent page's hidden fields. */
export function consentForm(html: string): { uid: string; csrf: string } {
  const field = (name: string): string => {
    const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
    if (!m) throw new Error(`no ${name} on the consent page: ${html.slice(0, 500)}`);
    return m[1]!.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)));
  };
  return { uid: field("uid"), csrf: field("csrf") };
}

/**
 * Authorize → consent page → the decision → back through the provider to the client's
 * redirect URI. Returns that final redirect (code or error, state, iss).
 */
export async function authorizeWithConsent(
  browser: Browser,
  params: AuthorizeParams,
  decision: { decision?: "allow" | "deny"; allow_trigger?: boolean; expires_in?: number } = {},
): Promise<URL> {
  const start = await browser.request(authorizePath(params));
  if (start.status !== 303 || !start.location) throw new Error(`authorize answered ${start.status}: ${start.body}`);
  if (!start.location.pathname.startsWith("/ui/consent")) return start.location; // an error straight to the client
  const page = await browser.request(start.location);
  if (page.status !== 200) throw new Error(`consent page answered ${page.status}: ${page.body}`);
  const form = consentForm(page.body);
  const decided = await browser.post("/ui/consent", {
    ...form,
    decision: decision.decision ?? "allow",
    expires_in: String(decision.expires_in ?? 30 * 86_400),
    ...(decision.allow_trigger ? { allow_trigger: "true" } : {}),
  });
  if (decided.status !== 303 || !decided.location) throw new Error(`consent answered ${decided.status}: ${decided.body}`);
  const resumed = await browser.request(decided.location);
  if (resumed.status !== 303 || !resumed.location) throw new Error(`resume answered ${resumed.status}: ${resumed.body}`);
  return resumed.location;
}

export interface TokensForOptions {
  project?: string;
  scope?: string;
  allow_trigger?: boolean;
}

/** Registers a client, authorizes as `user` with consent, redeems the code: the client, the code and the token response. */
export async function issueTokens(as: OAuthServer, user: string, options: TokensForOptions = {}) {
  const client = await register(as.url);
  const { verifier, challenge } = pkce();
  const resource = as.mcpResource(options.project ?? "priv");
  const back = await authorizeWithConsent(new Browser(as.url, user), { client_id: client.client_id, resource, code_challenge: challenge, ...(options.scope ? { scope: options.scope } : {}) }, { ...(options.allow_trigger ? { allow_trigger: true } : {}) });
  const code = back.searchParams.get("code");
  if (!code) throw new Error(`no code: ${back.href}`);
  const res = await tokenRequest(as.url, { grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, client_id: client.client_id, code_verifier: verifier, resource });
  if (res.status !== 200) throw new Error(`token request answered ${res.status}: ${JSON.stringify(res.body)}`);
  return { client, code, verifier, resource, ...(res.body as { access_token: string; refresh_token: string; expires_in: number; token_type: string; scope: string }) };
}

export async function tokenRequest(base: string, form: Record<string, string>): Promise<{ status: number; body: any }> {
  // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${base}/oauth/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A POST of one JSON-RPC message to a project's MCP endpoint with the token. */
export async function mcpCall(base: string, project: string, token: string, message: Record<string, unknown> = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } }): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(`${base}/api/v1/mcp/projects/${project}/mcp`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify(message),
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}
