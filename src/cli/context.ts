// The stores the admin commands act on: the server's own modules, configured from the same
// environment (loadConfig, connectBackends). Only MongoDB: the in-memory backends exist inside a
// running `tollgate serve` alone, so writing to them from another process would silently go nowhere.
import { pino } from "pino";
import { adminChangeRecord, NO_ACTOR, type AdminChange } from "../audit/admin.js";
import type { AuditSink, AuditStore } from "../audit/types.js";
import { ConfigError, loadConfig, type Config } from "../config/config.js";
import { isUnavailable } from "../errors.js";
import { CachedFacts } from "../facts/cached-facts.js";
import type { InvalidationBus } from "../facts/invalidation.js";
import { createRedisClient, redisConfigured } from "../stores/redis/client.js";
import { RedisInvalidationBus } from "../stores/redis/invalidation-bus.js";
import { TokenIssuer } from "../issuing/token-issuer.js";
import type { Logger } from "../log.js";
import { connectBackends } from "../server/backends.js";
import { explain, runtimeError, usageError, type CliError } from "./errors.js";
import { cliIo } from "./io.js";
import { note } from "./output.js";

export interface CliContext {
  config: Config;
  /** No caching (TTL 0): every read goes to the database. */
  facts: CachedFacts;
  issuer: TokenIssuer;
  audit: AuditStore;
  /** Writes the audit record (source "cli") of a change this command made; written by close(). */
  audited(change: AdminChange): void;
  /** A BackendUnavailableError as a plain error naming the server from MONGODB_URI; anything else as explain() does. */
  explainUnavailable(err: unknown): CliError;
  close(): Promise<void>;
}

type Env = Record<string, string | undefined>;

export const NO_DATABASE =
  "set MONGODB_URI to the database your Tollgate uses (and MONGODB_DB if not \"tollgate\"); " +
  "the in-memory store exists only inside a running `tollgate serve`";

/** How long close() waits for the index set-up connectBackends started (it may still be running). */
const SETTLE_MS = 1_000;

/** Reads the configuration; ConfigError and a missing MONGODB_URI become usage errors (exit 2). */
export function cliConfig(env: Env = cliIo().env): Config {
  if (!env.MONGODB_URI?.trim()) throw usageError(NO_DATABASE);
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) throw usageError(`invalid configuration: ${err.problems.join("; ")}`);
    throw err;
  }
}

/**
 * Quiet by default (stdout is the command's output); TOLLGATE_LOG_LEVEL turns the backends' log
 * on, to stderr.
 */
function cliLogger(env: Env): Logger {
  return pino({ level: env.TOLLGATE_LOG_LEVEL?.trim() || "silent", base: { service: "tollgate-cli" } }, pino.destination(2));
}

export function connect(env: Env = cliIo().env): CliContext {
  const config = cliConfig(env);
  // Rate limits are the server's business; Redis serves only to announce changes (changeAnnouncer).
  let backends;
  try {
    backends = connectBackends({ ...config, redisUrl: null, redisClusterNodes: null }, cliLogger(env));
  } catch (err) {
    // The driver refuses a malformed connection string up front (MongoParseError).
    throw usageError(`MONGODB_URI: ${err instanceof Error ? err.message : String(err)}`);
  }
  const announcer = changeAnnouncer(config);
  const facts = new CachedFacts(backends.tokens, backends.directory, { ttlMs: 0, bus: announcer.bus });
  const started = process.hrtime.bigint();
  const sink: AuditSink = backends.audit;
  let closing: Promise<void> | undefined;
  return {
    config,
    facts,
    issuer: new TokenIssuer(facts, backends.oauth),
    audit: backends.audit,
    audited(change) {
      const latency_ms = Number(process.hrtime.bigint() - started) / 1e6;
      sink.record(adminChangeRecord("cli", change, { actor: NO_ACTOR, client_address: null, time: new Date(), latency_ms }));
    },
    explainUnavailable: (err) => (isUnavailable(err) ? unreachable(config.mongodbUri ?? "", err.cause) : explain(err)),
    close() {
      closing ??= (async () => {
        await settle(backends.readiness.mongodb?.probe, SETTLE_MS);
        await Promise.all([backends.close(), announcer.close()]);
      })();
      return closing;
    },
  };
}

export const NO_BUS_NOTE = "neither REDIS_URL nor TOLLGATE_REDIS_CLUSTER_NODES is set: running replicas see this change only after their cache TTL (TOLLGATE_CACHE_TTL_MS)";
export const NOT_PUBLISHED_NOTE = "the change could not be announced on Redis: running replicas see it only after their cache TTL (TOLLGATE_CACHE_TTL_MS)";

/**
 * How the CLI's writes reach running replicas: published on their invalidation bus with
 * REDIS_URL or TOLLGATE_REDIS_CLUSTER_NODES (connecting only when there is something to publish); without it, or when the
 * publish fails, a note on close says when replicas see the change.
 */
function changeAnnouncer(config: Config): { bus: InvalidationBus; close(): Promise<void> } {
  let changed = false;
  let failed = false;
  if (!redisConfigured(config)) {
    return {
      bus: { state: "up", publish: () => void (changed = true), onChange() {}, onState() {}, close: async () => {} },
      async close() {
        if (changed) note(NO_BUS_NOTE);
      },
    };
  }
  // A cluster's seed nodes all unreachable: give up after a few attempts, so the CLI exits.
  const redis = createRedisClient(config, { lazyConnect: true, giveUpAfter: 3 });
  redis.on("error", () => undefined); // a failed publish is reported below
  const bus = new RedisInvalidationBus(redis, redis, {
    namespace: config.redisNamespace,
    heartbeatMs: config.invalidationHeartbeatMs,
    observer: { published: (_kind, result) => void (failed ||= result === "failed"), applied() {}, ignored() {}, subscription() {} },
  });
  return {
    bus,
    async close() {
      await bus.close();
      if (failed) note(NOT_PUBLISHED_NOTE);
    },
  };
}

/** Runs `fn` with a connected context and always closes it, so the process exits promptly. */
export async function withContext<T>(fn: (ctx: CliContext) => Promise<T>, env: Env = cliIo().env): Promise<T> {
  const ctx = connect(env);
  try {
    return await fn(ctx);
  } catch (err) {
    throw isUnavailable(err) ? ctx.explainUnavailable(err) : err;
  } finally {
    await ctx.close();
  }
}

/** The hosts of a MongoDB URI, without credentials or options. */
export function mongoHosts(uri: string): string {
  return /^mongodb(?:\+srv)?:\/\/(?:[^@/]*@)?([^/?]+)/.exec(uri)?.[1] ?? "MONGODB_URI";
}

/**
 * Operations that wait for a connection attempt that fails are told only "Topology is closed"
 * (the driver gives the reason to the one that started it): say what that means.
 */
function unreachable(uri: string, cause: unknown): CliError {
  const name = cause instanceof Error ? cause.name : "";
  const reason =
    name === "MongoTopologyClosedError" ? "no answer (check MONGODB_URI, and that the server is up)" : cause instanceof Error ? cause.message : String(cause);
  return runtimeError(`cannot reach MongoDB at ${mongoHosts(uri)}: ${reason}`);
}

/**
 * Polls the MongoDB readiness probe while it says only that the indexes are not ensured yet, until
 * the time is up; an unreachable server ends the wait at once. Never throws.
 */
async function settle(probe: (() => Promise<void>) | undefined, ms: number): Promise<void> {
  if (!probe) return;
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await probe();
      return;
    } catch (err) {
      if (!/indexes not ensured/.test(String(err)) || Date.now() >= deadline) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
