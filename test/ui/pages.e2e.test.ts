// The pages in a real browser: Debian's chromium driven by playwright-core (never a downloaded
// browser). Sign in on the development page, create a token and see its secret once, revoke it;
// every page carries the CSP, and the browser reports no CSP violation.
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type Gateway } from "../gateway/helpers.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let gw: Gateway;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const violations: string[] = [];
const cspHeaders = new Map<string, string | undefined>();

beforeAll(async () => {
  gw = await startGateway({});
  // --no-sandbox: tests run as root in a container, where chromium's sandbox cannot start.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  context = await browser.newContext();
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: gw.url });
  page = await context.newPage();
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  page.on("response", (response) => {
    const redirect = response.status() >= 300 && response.status() < 400;
    if (response.request().resourceType() === "document" && !redirect) cspHeaders.set(new URL(response.url()).pathname, response.headers()["content-security-policy"]);
  });
  // What the page itself reports (also violations the console does not show).
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => console.error(`Refused to load: CSP violation ${e.violatedDirective} ${e.blockedURI}`));
  });
});

afterAll(async () => {
  await browser?.close();
  await gw?.close();
});

describe("the pages in chromium", () => {
  it("signs in on /ui/login, creates a token shown once with a working copy button, and revokes it", async () => {
    await page.goto(`${gw.url}/ui/tokens`);
    expect(new URL(page.url()).pathname).toBe("/ui/login");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Sign in");
    await page.getByRole("button", { name: "Sign in as bob" }).click();
    await page.waitForURL(`${gw.url}/ui/tokens`);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("MCP tokens");

    await page.getByLabel("Name").fill("browser agent");
    await page.getByLabel("Project it may be used on").selectOption("priv");
    await page.getByLabel("Allow trigger tools (Developer or above)").check();
    await page.getByLabel("Expires").selectOption("7");
    await page.getByRole("button", { name: "Create token" }).click();
    await page.getByRole("heading", { name: "Token created" }).waitFor();
    const secret = (await page.locator("#new-token").textContent())!;
    expect(secret).toMatch(/^tg_mcp_[A-Za-z0-9]{49}$/);

    // The copy script (from /ui/assets/, allowed by the CSP) shows the button and copies.
    const copy = page.getByRole("button", { name: "Copy token" });
    await copy.click();
    await expect.poll(() => page.locator("#copy-status").textContent()).toMatch(/Copied|Selected/);
    if ((await page.locator("#copy-status").textContent())!.startsWith("Copied")) expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);

    await page.getByRole("link", { name: "Back to your tokens" }).click();
    await page.waitForURL(`${gw.url}/ui/tokens`);
    expect(await page.content()).not.toContain(secret);
    const row = page.getByRole("row").filter({ hasText: "browser agent" });
    expect(await row.getByRole("cell").nth(1).textContent()).toContain("priv (trigger)");
    await row.getByRole("button", { name: "Revoke browser agent" }).click();
    await page.waitForURL(`${gw.url}/ui/tokens`);
    expect(await page.getByRole("row").filter({ hasText: "browser agent" }).textContent()).toContain("revoked");

    const [record] = (await gw.world.tollgate.facts.tokenStore.listByUser("bob")).filter((t) => t.name === "browser agent");
    expect(record!.revoked_at).not.toBeNull();

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Signed out" }).waitFor();
    await page.goto(`${gw.url}/ui/tokens`);
    expect(new URL(page.url()).pathname).toBe("/ui/login");
  });

  it("served every page with the CSP, and the browser reported no violation", () => {
    expect([...cspHeaders.keys()]).toEqual(expect.arrayContaining(["/ui/login", "/ui/tokens", "/ui/logout"]));
    for (const [path, csp] of cspHeaders) {
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).toContain("script-src 'self'");
    }
    expect(violations).toEqual([]);
  });

  it("would have seen a violation: an inline script is refused and reported", async () => {
    const probe = await context.newPage();
    const seen: string[] = [];
    probe.on("console", (message) => void seen.push(message.text()));
    await probe.goto(`${gw.url}/ui/login`);
    await probe.evaluate(() => {
      const script = document.createElement("script");
      script.textContent = "document.title = 'ran'";
      document.body.append(script);
    });
    await expect.poll(() => seen.some((t) => /CSP violation script-src/.test(t))).toBe(true);
    expect(await probe.title()).not.toBe("ran");
    await probe.close();
  });
});
