import { MemoryAudit } from "../audit/memory.js";
import { ensureAuditIndexes } from "../audit/mongo/schema.js";
import { MongoAuditSink } from "../audit/mongo/sink.js";
import { MongoAuditStore } from "../audit/mongo/store.js";
import type { AuditCounters, AuditSink, AuditStore } from "../audit/types.js";
import type { Config } from "../config/config.js";
import type { ReadinessCheck, WedgeCheck } from "../http/readiness.js";
import type { Logger } from "../log.js";
import { MemoryBrowserSessionStore } from "../stores/memory/browser-session-store.js";
import { MemoryDirectoryStore } from "../stores/memory/directory-store.js";
import { MemoryMcpSessionStore } from "../stores/memory/mcp-session-store.js";
import { MemoryRateLimiter } from "../stores/memory/rate-limiter.js";
import { MemoryOAuthStore } from "../stores/memory/oauth-store.js";
import { MemoryTempTokenStore } from "../stores/memory/temp-token-store.js";
import { MemoryTokenStore } from "../stores/memory/token-store.js";
import { connectMongo } from "../stores/mongo/client.js";
import { MongoBrowserSessionStore } from "../stores/mongo/browser-session-store.js";
import { MongoDirectoryStore } from "../stores/mongo/directory-store.js";
import { ensureIndexes } from "../stores/mongo/schema.js";
import { MongoOAuthStore } from "../stores/mongo/oauth-store.js";
import { backfillTokenHashes } from "../stores/mongo/token-hashes.js";
import { MongoTempTokenStore } from "../stores/mongo/temp-token-store.js";
import { MongoTokenStore } from "../stores/mongo/token-store.js";
import { startPruning } from "../stores/prune.js";
import type { BreakerState } from "../stores/circuit-breaker.js";
import { BackendGuard, GuardedDirectoryStore, GuardedTokenStore } from "../stores/guarded-stores.js";
import { createRedisClient, duplicateRedisClient, probeRedis, redisConfigured } from "../stores/redis/client.js";
import { RedisBrowserSessionStore } from "../stores/redis/browser-session-store.js";
import { RedisInvalidationBus } from "../stores/redis/invalidation-bus.js";
import { RedisMcpSessionStore } from "../stores/redis/mcp-session-store.js";
import { RedisOAuthStore } from "../stores/redis/oauth-store.js";
import { RedisRateLimiter } from "../stores/redis/rate-limiter.js";
import { RedisToolsListRequestStore } from "../stores/redis/tools-list-requests.js";
import { RedisDcrCredentialStore } from "../stores/redis/dcr-credential-store.js";
import type { DcrCredentialStore } from "../upstreams/dcr-credentials.js";
import { AesGcmSecretCipher } from "../upstreams/encryption.js";
import { RedisLocks, type Locks } from "../upstreams/locks.js";
import type { UpstreamTokenStore } from "../upstreams/user-tokens.js";
import { MongoUpstreamTokenStore } from "../stores/mongo/upstream-token-store.js";
import { MemoryToolsListRequestStore } from "../stores/memory/tools-list-requests.js";
import type { InvalidationBus, InvalidationObserver } from "../facts/invalidation.js";
import type { BrowserSessionStore, DirectoryStore, McpSessionStore, OAuthStore, RateLimiter, TempTokenStore, TokenStore, ToolsListRequestStore } from "../stores/types.js";

export interface Backends {
  audit: AuditSink & AuditStore;
  tokens: TokenStore;
  directory: DirectoryStore;
  tempTokens: TempTokenStore;
  /** The OAuth authorization server's objects (docs/oauth.md): Redis when configured, else MongoDB, else memory. */
  oauth: OAuthStore;
  /** Signed-in browsers: Redis when configured, else MongoDB, else memory. */
  browserSessions: BrowserSessionStore;
  /** Checks MCP sessions in `mcpSessions` within a hit (RateLimitOptions.session): the two share a backend. */
  rateLimiter: RateLimiter;
  mcpSessions: McpSessionStore;
  /** The ids of callers' tools/list requests, so any replica filters a resumed answer (Redis when configured). */
  toolsListRequests: ToolsListRequestStore;
  readiness: Record<string, ReadinessCheck>;
  /** What /healthz asks: parts of this process that can wedge (see WedgeCheck). */
  liveness: Record<string, WedgeCheck>;
  /** With Redis: the cross-process invalidation bus (without it, the fact cache's own in-process one). */
  invalidation?: InvalidationBus;
  /**
   * The upstream OAuth client's shared state with Redis (and TOLLGATE_ENCRYPTION_KEYS to seal the
   * registrations): the registrations and the cross-replica locks. Absent: in this process.
   */
  upstreamOAuth?: { dcr: DcrCredentialStore; locks: Locks };
  /** Users' tokens at `oauth` upstreams, sealed, with MongoDB and TOLLGATE_ENCRYPTION_KEYS. Absent: in this process. */
  upstreamTokens?: UpstreamTokenStore;
  /** Which backend each store uses, for the startup banner. */
  describe: { facts: "mongodb" | "memory"; rateLimits: "redis" | "memory" };
  close(): Promise<void>;
}

const INDEX_RETRY_MS = 5_000;
/** Temp tokens live 10 minutes; an expired one is refused at read time whether or not it is gone. */
const TEMP_TOKEN_PRUNE_INTERVAL_MS = 5 * 60_000;

/** One object for the audit trail's write and read sides. */
function combineAudit(sink: AuditSink, store: AuditStore): AuditSink & AuditStore {
  return {
    record: (r) => sink.record(r),
    flush: () => sink.flush(),
    close: () => sink.close(),
    query: (filter) => store.query(filter),
  };
}

/**
 * MongoDB and Redis when configured, the in-memory backends otherwise (development only;
 * config validation refuses production without both). A backend that is down at startup does
 * not stop the process: /readyz reports it and decisions that need it answer 503.
 */
export function connectBackends(
  config: Config,
  logger: Logger,
  auditCounters?: AuditCounters,
  invalidationObserver?: InvalidationObserver,
  options: { prune?: boolean } = {},
): Backends {
  const prune = options.prune ?? true;
  const closers: Array<() => Promise<void>> = [];
  const readiness: Backends["readiness"] = {};
  const liveness: Backends["liveness"] = {};
  let facts: Pick<Backends, "tokens" | "directory" | "tempTokens" | "audit">;
  let mongoSessions: BrowserSessionStore | undefined;
  let mongoOAuth: OAuthStore | undefined;
  let upstreamTokens: UpstreamTokenStore | undefined;
  const retentionDays = config.audit.retentionDays;
  let rateLimiter: RateLimiter;
  let mcpSessions: McpSessionStore;
  let toolsListRequests: ToolsListRequestStore;
  let invalidation: InvalidationBus | undefined;

  if (config.mongodbUri) {
    const mongo = connectMongo(config.mongodbUri, config.mongodbDb, logger, { appName: "tollgate" });
    const { db } = mongo;
    const auditSink = new MongoAuditSink(db, { maxQueue: config.audit.queueMax, logger, ...(auditCounters ? { counters: auditCounters } : {}) });
    const auditStore = new MongoAuditStore(db, { retentionDays });
    // Decisions wait at most TOLLGATE_MONGODB_TIMEOUT_MS for a fact, and not at all while MongoDB is known down.
    const guard = new BackendGuard({
      backend: "mongodb",
      timeoutMs: config.mongodbTimeoutMs,
      breaker: {
        onChange: logTransitions(
          logger,
          `fact stores: MongoDB failed or took over ${config.mongodbTimeoutMs} ms; failing at once until a probe answers`,
          "fact stores: MongoDB answers again",
        ),
      },
    });
    facts = {
      tokens: new GuardedTokenStore(new MongoTokenStore(db), guard),
      directory: new GuardedDirectoryStore(new MongoDirectoryStore(db), guard),
      tempTokens: new MongoTempTokenStore(db),
      audit: combineAudit(auditSink, auditStore),
    };
    mongoSessions = new MongoBrowserSessionStore(db);
    mongoOAuth = new MongoOAuthStore(db);
    if (config.encryptionKeys.length > 0) upstreamTokens = new MongoUpstreamTokenStore(db, new AesGcmSecretCipher(config.encryptionKeys));
    // Without TTL indexes (FerretDB) old audit records are pruned here; idempotent across replicas.
    const pruning = prune ? startPruning("audit", auditStore, { logger }) : undefined;
    let indexed = false;
    let closed = false;
    let retry: NodeJS.Timeout | undefined;
    // Off the readiness path: it reads every token (seconds per 10,000 on FerretDB, at every start),
    // and a token without an entry is found all the same, by a slower read (MongoTokenStore).
    const indexTokenHashes = (): Promise<void> =>
      backfillTokenHashes(db, logger).then(
        () => {},
        (err: unknown) => {
          if (!closed) logger.warn({ err: String(err) }, "token_hashes: indexing tokens by hash failed; until the next start, tokens without an entry are found by a slower read");
        },
      );
    const index = async (): Promise<void> => {
      try {
        const { ttl } = await ensureIndexes(db);
        await ensureAuditIndexes(db, retentionDays);
        indexed = true;
        if (!ttl) logger.info("MongoDB server has no TTL indexes; expiry is enforced at read time, and the pruners delete what expired");
        if (prune) void indexTokenHashes();
      } catch (err) {
        logger.error({ err: String(err) }, `MongoDB indexes not ensured yet; retrying in ${INDEX_RETRY_MS / 1000} s`);
        retry = setTimeout(() => void index(), INDEX_RETRY_MS).unref();
      }
    };
    void index();
    liveness.mongodb_client = mongo;
    readiness.mongodb = {
      required: true,
      async probe() {
        await db.command({ ping: 1 });
        if (!indexed) throw new Error("indexes not ensured yet");
      },
    };
    closers.push(async () => {
      closed = true;
      clearTimeout(retry);
      pruning?.stop();
      await auditSink.close();
      await mongo.close();
    });
  } else {
    facts = {
      tokens: new MemoryTokenStore(),
      directory: new MemoryDirectoryStore(),
      tempTokens: new MemoryTempTokenStore(),
      audit: new MemoryAudit({ retentionDays, ...(auditCounters ? { counters: auditCounters } : {}) }),
    };
  }

  // Temp tokens never exchanged: swept from memory; deleted by the TTL index where MongoDB has
  // one, and by this pruner where it does not (FerretDB 1.x).
  if (prune) {
    const tempTokenPruning = startPruning("temp token", facts.tempTokens, { logger, intervalMs: TEMP_TOKEN_PRUNE_INTERVAL_MS });
    closers.push(async () => tempTokenPruning.stop());
  }

  let browserSessions: BrowserSessionStore | undefined;
  let oauth: OAuthStore | undefined;
  let upstreamOAuth: Backends["upstreamOAuth"];
  if (redisConfigured(config)) {
    // REDIS_URL or TOLLGATE_REDIS_CLUSTER_NODES: the same scripts and channel either way.
    const redis = createRedisClient(config, { lazyConnect: false });
    // ioredis reports connection trouble as events; the limiter turns failed calls into errors.
    let lastLog = 0;
    const logConnectionError = (err: Error) => {
      if (Date.now() - lastLog > 60_000) {
        lastLog = Date.now();
        logger.warn({ err: String(err) }, "redis connection error");
      }
    };
    redis.on("error", logConnectionError);
    browserSessions = new RedisBrowserSessionStore(redis, { namespace: config.redisNamespace });
    oauth = new RedisOAuthStore(redis, { namespace: config.redisNamespace });
    mcpSessions = new RedisMcpSessionStore(redis, { namespace: config.redisNamespace });
    rateLimiter = new RedisRateLimiter(redis, {
      namespace: config.redisNamespace,
      timeoutMs: config.redisTimeoutMs,
      breaker: {
        onChange: logTransitions(
          logger,
          `rate limiter: Redis failed or took over ${config.redisTimeoutMs} ms; failing at once until a probe succeeds`,
          "rate limiter: Redis answers again",
        ),
      },
    });
    toolsListRequests = new RedisToolsListRequestStore(redis, { namespace: config.redisNamespace });
    if (config.encryptionKeys.length > 0) {
      upstreamOAuth = { dcr: new RedisDcrCredentialStore(redis, new AesGcmSecretCipher(config.encryptionKeys), { namespace: config.redisNamespace }), locks: new RedisLocks(redis, { namespace: config.redisNamespace }) };
    }
    // Fail-open admits requests uncounted while Redis is down: serving on, degraded.
    readiness.redis = {
      required: config.rateLimitFail === "closed",
      probe: () => probeRedis(redis),
    };
    // A subscribed connection serves nothing else: the bus has its own.
    const subscriber = duplicateRedisClient(redis);
    subscriber.on("error", logConnectionError);
    const bus = new RedisInvalidationBus(redis, subscriber, {
      namespace: config.redisNamespace,
      heartbeatMs: config.invalidationHeartbeatMs,
      logger,
      ...(invalidationObserver ? { observer: invalidationObserver } : {}),
    });
    bus.start();
    invalidation = bus;
    closers.push(async () => {
      await bus.close();
      redis.disconnect();
    });
  } else {
    const sessions = new MemoryMcpSessionStore();
    mcpSessions = sessions;
    rateLimiter = new MemoryRateLimiter({ sessions });
    toolsListRequests = new MemoryToolsListRequestStore();
  }

  // Sessions live where the deployment's shared state is fastest: Redis (its keys expire by
  // themselves), else MongoDB, else this process.
  if (!browserSessions) {
    browserSessions = mongoSessions ?? new MemoryBrowserSessionStore();
    if (prune) {
      const sessionPruning = startPruning("browser session", browserSessions, { logger });
      closers.push(async () => sessionPruning.stop());
    }
  }

  // The OAuth authorization server's objects: Redis too (one round trip for a consume, keys
  // that expire by themselves, no scan-based prune), else MongoDB, else this process
  // (docs/oauth.md "What is stored, and where").
  if (!oauth) {
    oauth = mongoOAuth ?? new MemoryOAuthStore();
    if (prune) {
      // Codes, tokens, interactions and sessions, once lapsed.
      const oauthPruning = startPruning("oauth entry", oauth, { logger, intervalMs: TEMP_TOKEN_PRUNE_INTERVAL_MS });
      closers.push(async () => oauthPruning.stop());
    }
  }

  return {
    ...facts,
    oauth,
    browserSessions,
    rateLimiter,
    mcpSessions,
    toolsListRequests,
    readiness,
    liveness,
    ...(invalidation ? { invalidation } : {}),
    ...(upstreamOAuth ? { upstreamOAuth } : {}),
    ...(upstreamTokens ? { upstreamTokens } : {}),
    describe: { facts: config.mongodbUri ? "mongodb" : "memory", rateLimits: redisConfigured(config) ? "redis" : "memory" },
    async close() {
      await Promise.allSettled(closers.map((close) => close()));
    },
  };
}

/** One line when a breaker first opens and one when it closes again, not one per failed probe. */
function logTransitions(logger: Logger, opened: string, closed: string): (state: BreakerState) => void {
  let open = false;
  return (state) => {
    if (state === "open" && !open) {
      open = true;
      logger.warn(opened);
    } else if (state === "closed" && open) {
      open = false;
      logger.info(closed);
    }
  };
}
