// `make screenshots`: pictures of the browser pages for the docs, taken with Debian's chromium
// (playwright-core, never a downloaded browser) from an in-process embedded default seeded with
// the demo world. Writes docs/screenshots/{sign-in,tokens,token-created}.png.
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { chromium } from "playwright-core";
import { loadConfig } from "../src/config/config.js";
import { packageFile } from "../src/package-root.js";
import { createHttpServer } from "../src/http/server.js";
import { seedDemo } from "../src/server/demo.js";
import { buildTollgate } from "../src/server/tollgate.js";

const out = packageFile("docs/screenshots");
mkdirSync(out, { recursive: true });
const config = loadConfig({ TOLLGATE_LOG_LEVEL: "silent" });
const tollgate = buildTollgate(config, { logger: pino({ level: "silent" }), watchPolicy: false, defaultMetrics: false, prune: false });
await seedDemo(tollgate, config);
const server = createHttpServer(tollgate.app, config);
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

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
  await page.getByRole("link", { name: "Back to your tokens" }).click();
  await page.waitForURL(`${base}/ui/tokens`);
  await shoot("tokens");
} finally {
  await browser.close();
  server.close();
  await tollgate.close();
}
