import type { Server } from "node:http";
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
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

void main();
