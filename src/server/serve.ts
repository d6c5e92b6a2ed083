import cluster from "node:cluster";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ConfigError, loadConfig, type Config } from "../config/config.js";
import { createDemoUpstream } from "../demo/upstream.js";
import { createHttpServer } from "../http/server.js";
import { createLogger, type Logger } from "../log.js";
import { seedDemo, type DemoCredentials } from "./demo.js";
import { buildTollgate } from "./tollgate.js";

const RESTART_DELAY_MS = 1_000;

/**
 * Runs Tollgate: validates the configuration (exit 2 listing every problem), then serves. With
 * TOLLGATE_WORKERS > 1 the primary forks that many workers, each with its own loaded policy,
 * sharing the port; all shared state is in MongoDB and Redis.
 */
export async function serve(env: Record<string, string | undefined> = process.env): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tollgate: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  if (config.workers > 1 && cluster.isPrimary) return supervise(config, logger);
  return serveOne(config, logger);
}

function supervise(config: Config, logger: Logger): void {
  logger.info({ workers: config.workers }, "starting workers");
  for (let i = 0; i < config.workers; i++) cluster.fork();
  let stopping = false;
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    logger.error({ pid: worker.process.pid, code, signal }, "worker exited; starting another");
    setTimeout(() => cluster.fork(), RESTART_DELAY_MS);
  });
  const stop = (): void => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill("SIGTERM");
    setTimeout(() => process.exit(0), 11_000).unref();
    cluster.on("exit", () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

async function serveOne(initial: Config, logger: Logger): Promise<void> {
  let config = initial;
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
    process.stderr.write(
      `tollgate: cannot load the policy from ${config.policyDir}/policy.wasm: ${err instanceof Error ? err.message : String(err)}\n` +
        "  run `make wasm` to compile policies/ into wasm/\n",
    );
    process.exit(2);
  }
  const demo = config.demo ? await seedDemo(tollgate, config) : null;
  const server: Server = createHttpServer(tollgate.app, config).listen(config.port, config.host);
  server.on("error", (err) => {
    process.stderr.write(`tollgate: cannot listen on ${config.host}:${config.port}: ${err.message}\n`);
    process.exit(1);
  });
  server.on("listening", () => {
    const base = `http://${config.host}:${config.port}`;
    logger.info({ url: base, policy: tollgate.engine.revision, upstream: config.upstream.url?.origin ?? null, ...tollgate.backends.describe }, "tollgate listening");
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

function printDemo(base: string, demo: DemoCredentials): void {
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

