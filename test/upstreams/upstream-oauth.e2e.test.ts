// Issue 12 end to end: a user connects an OAuth-protected upstream MCP server once and uses it
// through Tollgate. Real parts: oidc-provider as the upstream's authorization server (dynamic
// registration), an upstream MCP server built with the MCP TypeScript SDK that checks every token
// against it, the SDK's client through Tollgate, and Debian's chromium (playwright-core) for the
// browser flow. The first call is a URL elicitation (-32042), never a 401; after the browser
// flow, the next call reaches the upstream with the user's upstream token. Nothing secret shows
// in Tollgate's log, its audit records or the answers it gave.
import { createServer } from "node:http";
import { Writable } from "node:stream";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { chromium, type Browser } from "playwright-core";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpServer } from "../../src/http/server.js";
import { stopServer } from "../gateway/helpers.js";
import { bearer, buildWorld, type World } from "../http/fixture.js";
import { freePort } from "../support/servers.js";
import { startUpstreamAs, startUpstreamMcp, type UpstreamAs, type UpstreamMcp } from "../support/upstream-oauth.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const MCP = "/api/v1/mcp/projects/priv/mcp";

let as: UpstreamAs;
let mcp: UpstreamMcp;
let world: World;
let server: ReturnType<typeof createServer>;
let browser: Browser;
let base: string;
/** Every line Tollgate logged, at debug level. */
const logLines: string[] = [];
/** What Tollgate answered the MCP client: bodies of every response. */
const answers: string[] = [];

beforeAll(async () => {
  as = await startUpstreamAs();
  mcp = await startUpstreamMcp(as);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  world = await buildWorld(
    {
      TOLLGATE_PUBLIC_URL: base,
      TOLLGATE_UPSTREAMS: JSON.stringify([{ name: "docs", prefix: "/api/v1/mcp/", url: mcp.url, auth: "oauth" }]),
    },
    undefined,
    { logger: pino({ level: "debug" }, sink) },
  );
  server = createHttpServer(world.tollgate.app, world.tollgate.config);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  // --no-sandbox: tests run as root in a container, where chromium's sandbox cannot start.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
});

afterAll(async () => {
  await browser?.close();
  await stopServer(server);
  await world?.tollgate.close();
  await mcp?.close();
  await as?.close();
});

/** The SDK client through Tollgate with bob's MCP token; every answer's body is kept for the secret scan. */
async function connectClient(): Promise<Client> {
  const client = new Client({ name: "upstream-oauth-e2e", version: "1.0.0" });
  const recordingFetch: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    answers.push(await res.clone().text());
    return res;
  };
  const transport = new StreamableHTTPClientTransport(new URL(`${base}${MCP}`), { requestInit: { headers: { Authorization: bearer(world.tokens.bobMcp) } }, fetch: recordingFetch });
  await client.connect(transport);
  return client;
}

describe("an OAuth-protected upstream MCP server through Tollgate", () => {
  let elicitationUrl: string;

  it("the first call is a URL elicitation (-32042) naming the connect page made for the user", async () => {
    const err = await connectClient().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).code).toBe(ErrorCode.UrlElicitationRequired);
    const elicitations = ((err as McpError).data as { elicitations: Array<{ mode: string; url: string; elicitationId: string }> }).elicitations;
    expect(elicitations).toHaveLength(1);
    expect(elicitations[0]!.mode).toBe("url");
    elicitationUrl = elicitations[0]!.url;
    expect(elicitationUrl).toBe(`${base}/oauth/upstream/docs/connect?user=bob`);
    expect(mcp.calls).toEqual([]);
  });

  it("the browser flow: sign in to Tollgate, the upstream's authorization server, back to Tollgate: connected", async () => {
    as.signInAs("upstream-bob");
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(elicitationUrl);
      // Not signed in: Tollgate's sign-in page first, then on to the link.
      expect(new URL(page.url()).pathname).toBe("/ui/login");
      await page.getByRole("button", { name: "Sign in as bob" }).click();
      await page.waitForURL(`${base}/oauth/upstream/docs/callback?**`);
      expect(await page.getByRole("status").textContent()).toContain("is connected");
    } finally {
      await context.close();
    }
  });

  it("the next call succeeds with the user's upstream token (never Tollgate's credential)", async () => {
    const client = await connectClient();
    try {
      const result = await client.callTool({ name: "list_builds", arguments: {} });
      expect(result.content).toEqual([{ type: "text", text: "upstream-bob" }]);
    } finally {
      await client.close();
    }
    expect(mcp.calls.length).toBeGreaterThan(0);
    for (const call of mcp.calls) {
      expect(call.sub).toBe("upstream-bob");
      expect(as.issuedSecrets()).toContain(call.token);
      expect(call.token).not.toBe(world.tokens.bobMcp);
    }
  });

  it("no secret appears in Tollgate's log, audit records or answers", async () => {
    const secrets = as.issuedSecrets();
    // A client secret, a registration access token, an access and a refresh token at least.
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    const audit = JSON.stringify(await world.tollgate.backends.audit.query({ limit: 1000 }));
    expect(logLines.length).toBeGreaterThan(0);
    expect(audit.length).toBeGreaterThan(2);
    const haystacks = { log: logLines.join("\n"), audit, answers: answers.join("\n") };
    for (const [where, text] of Object.entries(haystacks)) {
      for (const secret of [...secrets, world.tokens.bobMcp]) expect(text.includes(secret), `a secret in the ${where}`).toBe(false);
    }
  });
});
