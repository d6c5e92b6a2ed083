// `make screenshots`: pictures of the browser pages for the docs, taken with Debian's chromium
// (playwright-core, never a downloaded browser) from an in-process embedded default seeded with
// the demo world, Tollgate being its own authorization server (TOLLGATE_PUBLIC_URL its loopback
// URL). Writes docs/screenshots/{sign-in,token-created,consent,tokens}.png: the consent page is
// reached as an MCP client sends the user there (registered, PKCE, resource); once allowed, the
// client redeems its code, so the tokens page shows its grant beside a token made by hand.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { chromium } from "playwright-core";
import { loadConfig } from "../src/config/config.js";
import { packageFile } from "../src/package-root.js";
import { seedDemo } from "../src/server/demo.js";
import { buildTollgate } from "../src/server/tollgate.js";

const out = packageFile("docs/screenshots");
mkdirSync(out, { recursive: true });
// The issuer is the URL the browser uses: listen first, then build with it.
let app: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
const server = createServer((req, res) => app!(req, res));
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const config = loadConfig({ TOLLGATE_LOG_LEVEL: "silent", TOLLGATE_PUBLIC_URL: base, TOLLGATE_MCP_AUTHORIZATION_SERVERS: base });
const tollgate = buildTollgate(config, { logger: pino({ level: "silent" }), watchPolicy: false, defaultMetrics: false, prune: false });
await seedDemo(tollgate, config);
app = tollgate.app;

/** An MCP client as the SDKs are: registered by DCR, a loopback redirect URI, PKCE, the MCP endpoint as resource. */
async function mcpClientAuthorization(): Promise<{ url: string; redeem(code: string): Promise<void>; redirectUri: string }> {
  const redirectUri = "http://127.0.0.1:53682/callback";
  const registered = await fetch(`${base}/oauth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: "Claude Desktop", client_uri: "https://claude.ai/download", redirect_uris: [redirectUri], token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"], scope: "mcp:read mcp:trigger", application_type: "native" }),
  });
  if (registered.status !== 201) throw new Error(`registration: ${registered.status} ${await registered.text()}`);
  const { client_id } = (await registered.json()) as { client_id: string };
  const verifier = randomBytes(32).toString("base64url");
  const resource = `${base}/api/v1/mcp/projects/demo-private/mcp`;
  const query = new URLSearchParams({
    response_type: "code",
    client_id,
    redirect_uri: redirectUri,
    scope: "mcp:read mcp:trigger",
    state: randomBytes(8).toString("hex"),
    resource,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
  });
  return {
    url: `${base}/oauth/authorize?${query}`,
    redirectUri,
    async redeem(code) {
      const res = await fetch(`${base}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirectUri, client_id, code_verifier: verifier, resource }).toString(),
      });
      if (res.status !== 200) throw new Error(`token: ${res.status} ${await res.text()}`);
    },
  };
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 }, colorScheme: "light" });
  const shoot = async (name: string): Promise<void> => {
    await page.screenshot({ path: `${out}/${name}.png`, fullPage: true });
    console.log(`docs/screenshots/${name}.png`);
  };
  await page.goto(`${base}/ui/tokens`);
  await shoot("sign-in");
  await page.getByRole("button", { name: "Sign in as bob" }).click();
  await page.waitForURL(`${base}/ui/tokens`);
  await page.getByLabel("Name").fill("laptop agent");
  await page.getByLabel("Allow trigger tools (Developer or above)").check();
  await page.getByRole("button", { name: "Create token" }).click();
  await page.getByRole("heading", { name: "Token created" }).waitFor();
  await shoot("token-created");

  const client = await mcpClientAuthorization();
  await page.goto(client.url);
  await page.waitForURL((url) => url.pathname === "/ui/consent");
  await page.getByLabel(/trigger builds/).check();
  await page.getByLabel("Access lasts").selectOption({ label: "7 days" });
  await shoot("consent");
  // The client's loopback callback: nothing listens there, the browser's arrival is enough.
  let code: string | null = null;
  await page.route(`${client.redirectUri}**`, async (route) => {
    code = new URL(route.request().url()).searchParams.get("code");
    await route.fulfill({ contentType: "text/html", body: "<!doctype html><title>Signed in</title>" });
  });
  await page.getByRole("button", { name: "Allow" }).click();
  await page.waitForURL((url) => url.href.startsWith(client.redirectUri));
  if (!code) throw new Error("the consent did not come back with a code");
  await client.redeem(code);

  await page.goto(`${base}/ui/tokens`);
  await shoot("tokens");
} finally {
  await browser.close();
  server.close();
  await tollgate.close();
}
