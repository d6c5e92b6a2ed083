import cluster from "node:cluster";
import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ConfigError, loadConfig, type Config } from "../config/config.js";
import { closeGracefully, createHttpServer, startDraining } from "../http/server.js";
import { createLogger, type Logger } from "../log.js";
import { startTracing, type Tracing } from "../tracing.js";
import type { DemoCredentials } from "./demo.js";
import type { Tollgate } from "./tollgate.js";
import { duties, supervise, SHUTDOWN_LIMIT_MS } from "./workers.js";

/**
 * Runs Tollgate: validates the configuration (exit 2 listing every problem), then serves. With
 * TOLLGATE_WORKERS > 1 the primary forks that many workers (server/workers.ts), each with its own
 * loaded policy, sharing the port; all shared state is in MongoDB and Redis.
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
  // Each serving process exports its own spans (the primary serves none).
  const tracing = await startTracing(env, { sampler: config.tracesSampler });
  if (tracing) logger.info({ endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT }, "tracing: exporting spans over OTLP/HTTP");
  return serveOne(config, logger, tracing);
}

async function serveOne(initial: Config, logger: Logger, tracing: Tracing | null): Promise<void> {
  // Loaded here, not at the top: a primary with workers never serves, so it loads none of it.
  const [{ buildTollgate }, { seedDemo }, { createDemoUpstream }, { shareMetricsWithPrimary }] = await Promise.all([
    import("./tollgate.js"),
    import("./demo.js"),
    import("../demo/upstream.js"),
    import("./cluster-metrics.js"),
  ]);
  let config = initial;
  // The demo answers the protected API itself when no upstream is named.
  if (config.demo && config.upstreams.length === 0) {
    const upstream = createDemoUpstream();
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    upstream.unref();
    const url = new URL(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
    config = { ...config, upstreams: [{ name: "default", prefix: "/api/", url, auth: "identity-headers", scopes: [] }] };
  }
  const mine = duties();
  let tollgate;
  try {
    tollgate = buildTollgate(config, { logger, prune: mine.has("prune") });
  } catch (err) {
    // TOLLGATE_RATE_LIMITS checked against the loaded policy's tool table (mcp/rate-limit-classes.ts).
    if (err instanceof ConfigError) {
      process.stderr.write(`tollgate: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(
      `tollgate: cannot load the policy from ${config.policyDir}/policy.wasm: ${err instanceof Error ? err.message : String(err)}\n` +
        "  run `make wasm` to compile policies/ into wasm/\n",
    );
    process.exit(2);
  }
  if (cluster.isWorker) shareMetricsWithPrimary(tollgate.metrics);
  const demo = config.demo && mine.has("seed-demo") ? await seedDemo(tollgate, config) : null;
  const listeners = await listen(tollgate, config).catch((err: Error & { address?: string; port?: number }) => {
    process.stderr.write(`tollgate: cannot listen on ${err.address ?? config.host}:${err.port ?? config.port}: ${err.message}\n`);
    process.exit(1);
  });
  const urls = Object.fromEntries(listeners.map((l) => [l.name, l.url])) as Partial<Record<Listener["name"], string>>;
  logger.info({ url: urls.public, ...(urls.internal ? { internal_url: urls.internal } : {}), policy: tollgate.engine.revision, upstreams: Object.fromEntries(config.upstreams.map((u) => [u.prefix, u.url.origin])), ...tollgate.backends.describe }, "tollgate listening");
  if (demo) printDemo(listeners.find((l) => l.name === "internal")?.url ?? listeners[0]!.url, listeners[0]!.url, demo);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, drain_ms: config.drainMs }, "shutting down");
    // Past this something hangs; the audit records still queued are then lost uncounted.
    setTimeout(() => {
      logger.error("shutdown did not finish in time");
      process.exit(1);
    }, config.drainMs + SHUTDOWN_LIMIT_MS).unref();
    void drainAndClose(tollgate, listeners, config.drainMs).then(async (audit) => {
      await tracing?.shutdown();
      logger.info({ audit_written: audit.written, audit_dropped: audit.dropped, audit_unflushed: audit.unflushed }, "stopped");
      process.exit(audit.unflushed > 0 ? 1 : 0);
    });
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

export interface Listener {
  /** "public" serves clients (/api/); "internal" the decision endpoints, admin API and operations. */
  name: "public" | "internal";
  server: Server;
  url: string;
}

/**
 * Listens on PORT, with everything on it, or — when TOLLGATE_INTERNAL_PORT is set — on PORT for
 * clients and on the internal port for the rest. Rejects with the listen error (e.g. EADDRINUSE).
 */
export async function listen(tollgate: Tollgate, config: Config): Promise<Listener[]> {
  const wanted: Array<{ name: Listener["name"]; app: Tollgate["app"]; host: string; port: number }> = config.internal
    ? [
        { name: "public", app: tollgate.publicApp, host: config.host, port: config.port },
        { name: "internal", app: tollgate.internalApp, host: config.internal.host, port: config.internal.port },
      ]
    : [{ name: "public", app: tollgate.app, host: config.host, port: config.port }];
  const listeners: Listener[] = [];
  const started: Server[] = [];
  try {
    for (const { name, app, host, port } of wanted) {
      const server = createHttpServer(app, config).listen(port, host);
      started.push(server);
      await once(server, "listening"); // rejects on "error"
      const url = `http://${host.includes(":") ? `[${host}]` : host}:${(server.address() as AddressInfo).port}`;
      listeners.push({ name, server, url });
    }
  } catch (err) {
    for (const server of started) server.close();
    throw err;
  }
  return listeners;
}

/** Audit records written and dropped over the process's life; unflushed: dropped while closing. */
export interface ShutdownAudit {
  written: number;
  dropped: number;
  unflushed: number;
}

/**
 * Shutdown: /readyz answers 503 draining from now on and every response says `Connection:
 * close`; both ports keep serving for drainMs, so load balancers notice before connections are
 * refused; then they stop accepting, requests in flight finish, idle connections close; then the
 * backends are closed, which flushes the audit queue.
 */
export async function drainAndClose(tollgate: Tollgate, listeners: Listener[], drainMs: number): Promise<ShutdownAudit> {
  tollgate.readiness.drain();
  for (const { server } of listeners) startDraining(server);
  if (drainMs > 0) await new Promise((resolve) => setTimeout(resolve, drainMs));
  await Promise.all(listeners.map(({ server }) => closeGracefully(server)));
  const before = tollgate.metrics.auditTotals();
  await tollgate.close();
  const after = tollgate.metrics.auditTotals();
  return { ...after, unflushed: after.dropped - before.dropped };
}

/** `internal` takes the decision endpoints; `base` the gateway (the same URL on one port). */
function printDemo(internal: string, base: string, demo: DemoCredentials): void {
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
    `  curl -s ${internal}/v1/authorize -H 'content-type: application/json' \\`,
    `    -d '{"method":"GET","path":"/api/v1/projects/demo-private/builds","authorization":"Bearer ${demo.sessions.bob ?? "<jwt>"}"}'`,
    "  # the gateway, through to the built-in demo upstream:",
    `  curl -s ${base}/api/v1/mcp/projects/demo-private/builds -H 'Authorization: Bearer ${demo.tokens["bob mcp (demo-private, trigger)"] ?? "<mcp token>"}'`,
    "  # MCP tokens in the browser (sign in as a demo user):",
    `  ${base}/ui/tokens`,
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

