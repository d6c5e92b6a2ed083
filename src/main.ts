import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createDemoUpstream } from "./demo/upstream.js";
import { ConfigError, loadConfig } from "./config/config.js";
import { createLogger } from "./log.js";
import { seedDemo } from "./server/demo.js";
import { buildTollgate } from "./server/tollgate.js";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tollgate: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  // The demo answers the protected API itself when no upstream is named.
  if (config.demo && !config.upstream.url) {
    const upstream = createDemoUpstream();
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    upstream.unref();
    config = { ...config, upstream: { ...config.upstream, url: new URL(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`) } };
  }
  let tollgate;
  try {
    tollgate = buildTollgate(config, { logger });
  } catch (err) {
    process.stderr.write(`tollgate: cannot load the policy from ${config.policyDir}/policy.wasm: ${err instanceof Error ? err.message : String(err)}\n` +
      "  run `make wasm` to compile policies/ into wasm/\n");
    process.exit(2);
  }
  const demo = config.demo ? await seedDemo(tollgate, config) : null;
  const server: Server = tollgate.app.listen(config.port, config.host);
  server.keepAliveTimeout = 65_000;
  server.on("error", (err) => {
    process.stderr.write(`tollgate: cannot listen on ${config.host}:${config.port}: ${err.message}\n`);
    process.exit(1);
  });
  server.on("listening", () => {
    const base = `http://${config.host}:${config.port}`;
    logger.info({ url: base, policy: tollgate.engine.revision, ...tollgate.backends.describe }, "tollgate listening");
    if (demo) printDemo(base, demo);
  });

  const shutdown = (signal: string): void => {
    logger.info({ signal }, "shutting down");
    server.close(() => void tollgate.close().then(() => process.exit(0)));
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

function printDemo(base: string, demo: Awaited<ReturnType<typeof seedDemo>>): void {
  const lines = [
    "",
    "Demo data (in-memory; gone when the process stops):",
    "  users: alice (admin), bob (user), carol (viewer)",
    "  projects: demo-public (public; alice Owner), demo-private (alice Owner, bob Developer, carol Developer)",
    "",
    "Session JWTs (12 h, signed with the development secret):",
    ...Object.entries(demo.sessions).map(([user, jwt]) => `  ${user}: ${jwt}`),
    "",
    "Tokens (shown once):",
    ...Object.entries(demo.tokens).map(([name, token]) => `  ${name}: ${token}`),
    "",
    "Try:",
    `  curl -s ${base}/v1/authorize -H 'content-type: application/json' \\`,
    `    -d '{"method":"GET","path":"/api/v1/projects/demo-private/builds","authorization":"Bearer ${demo.sessions.bob ?? "<jwt>"}"}'`,
    "  # the gateway, through to the built-in demo upstream:",
    `  curl -s ${base}/api/v1/mcp/projects/demo-private/builds -H 'Authorization: Bearer ${demo.tokens["bob mcp (demo-private, trigger)"] ?? "<mcp token>"}'`,
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

void main();
