import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { z } from "zod";
import { compileTrustedProxies, type TrustedProxies } from "../http/client-address.js";
import { packageFile } from "../package-root.js";
import { DEFAULT_NAMESPACE } from "../stores/redis/keys.js";
import { parseEncryptionKeys, type EncryptionKey } from "../upstreams/encryption.js";
import { parseUpstreams, type UpstreamConfig } from "./upstreams.js";
import { absoluteUrl } from "./urls.js";
import { RATE_LIMIT_CLASS, type RateLimitClass } from "../policy/types.js";
import type { TracesSampler } from "../tracing.js";

/** The well-known secret `make run` uses so its printed dev JWT verifies. Never accepted in production. */
export const DEV_JWT_SECRET = "tollgate-dev-secret-do-not-use-in-production";

/** The cookie key of development; refused in production. */
export const DEV_OAUTH_COOKIE_KEY = "tollgate-dev-oauth-cookie-key-do-not-use-in-production";

/**
 * TOLLGATE_AUDIT_REDACT_KEYS's default: argument keys (matched case-insensitively, anywhere in the
 * key) whose values an audit record never holds.
 */
export const DEFAULT_AUDIT_REDACT_KEYS = "pass|secret|token|key|auth|cookie|credential|session|signature|private|bearer";

export type RateLimitArea = "mcp" | "api";
export type RateLimits = Record<RateLimitArea, Record<RateLimitClass, number>>;

export const DEFAULT_RATE_LIMITS: RateLimits = {
  mcp: { default: 30, log: 10, artifact: 10, trigger: 5 },
  api: { default: 600, log: 300, artifact: 300, trigger: 60 },
};

export type JwtKeyConfig =
  | { kind: "secret"; secret: string }
  | { kind: "jwks"; url: string }
  | { kind: "public_key"; pem: string; algorithm: string };

export interface Config {
  env: "development" | "production";
  host: string;
  port: number;
  adminToken: string | null;
  jwt: { key: JwtKeyConfig; issuer: string | null; audience: string | null };
  mongodbUri: string | null;
  mongodbDb: string;
  redisUrl: string | null;
  /** TOLLGATE_REDIS_CLUSTER_NODES: a Redis Cluster's seed nodes, instead of REDIS_URL. */
  redisClusterNodes: RedisClusterNode[] | null;
  rateLimits: RateLimits;
  rateLimitWindowMs: number;
  rateLimitFail: "open" | "closed";
  policyDir: string;
  cacheTtlMs: number;
  maxBodyBytes: number;
  demo: boolean;
  logLevel: string;
  /** Processes serving the port (node:cluster); more than one needs MongoDB and Redis. */
  workers: number;
  /** TOLLGATE_UPSTREAMS (or TOLLGATE_UPSTREAM_URL): the gateway's upstreams; none: allowed requests answer 503 upstream_not_configured. */
  upstreams: UpstreamConfig[];
  /** How the gateway talks to every upstream. */
  upstream: { timeoutMs: number; idleTimeoutMs: number; maxBodyBytes: number };
  /** TOLLGATE_ENCRYPTION_KEYS: the keys sealing secrets at rest (upstream credentials), the sealing one first; may be empty outside production. */
  encryptionKeys: EncryptionKey[];
  /**
   * mcpArguments: TOLLGATE_AUDIT_MCP_ARGUMENTS, whether MCP messages' arguments are recorded;
   * redactKeys: TOLLGATE_AUDIT_REDACT_KEYS compiled (case-insensitive), the keys whose values are not.
   */
  audit: { retentionDays: number; queueMax: number; mcpArguments: boolean; redactKeys: RegExp };
  /** TOLLGATE_TRUSTED_PROXIES: peers whose X-Forwarded-For is believed (compiled) and as written. */
  trustedProxies: { trust: TrustedProxies; entries: string[] };
  /** More header fields than this → 431 too_many_headers. */
  maxHeaderFields: number;
  /** TOLLGATE_INTERNAL_PORT: decision endpoints, admin API and operations apart; null = one port. */
  internal: { host: string; port: number } | null;
  /** Longest session-JWT lifetime accepted (exp − iat, or exp − now without iat), seconds. */
  jwtMaxTtlS: number;
  // rate limiter
  /** TOLLGATE_REDIS_TIMEOUT_MS: the longest a rate-limit call waits for Redis. */
  redisTimeoutMs: number;
  // invalidation bus
  /** TOLLGATE_REDIS_NAMESPACE: prefix of every Redis key and channel Tollgate uses. */
  redisNamespace: string;
  /** TOLLGATE_INVALIDATION_HEARTBEAT_MS: how often each process publishes its heartbeat on the bus. */
  invalidationHeartbeatMs: number;
  /** TOLLGATE_CACHE_TTL_DEGRADED_MS: the longest a fact is served from the cache while the bus is down. */
  cacheTtlDegradedMs: number;
  // drain
  /** TOLLGATE_DRAIN_MS: how long a stopping process keeps serving after /readyz turns draining. */
  drainMs: number;
  // fact stores
  /** TOLLGATE_REVOCATIONS_MAX: changes (revocations among them) each process remembers; see FactCache. */
  revocationsMax: number;
  /** TOLLGATE_MONGODB_TIMEOUT_MS: the longest a decision waits for MongoDB. */
  mongodbTimeoutMs: number;
  // MCP gateway
  /** TOLLGATE_MCP_MAX_BODY_BYTES: the largest JSON-RPC message read on a project's MCP endpoint. */
  mcpMaxBodyBytes: number;
  /** TOLLGATE_MCP_SESSION_TTL_MS: how long an MCP session stays bound to its token after its last use. */
  mcpSessionTtlMs: number;
  /** TOLLGATE_PUBLIC_URL: the origin clients reach Tollgate at (never derived from Host); null when unset. */
  publicUrl: string | null;
  /** TOLLGATE_MCP_AUTHORIZATION_SERVERS: issuer URLs as written; empty: no RFC 9728 metadata, no resource_metadata in challenges. */
  mcpAuthorizationServers: string[];
  // OAuth authorization server (docs/oauth.md)
  oauth: {
    /** Tollgate is the authorization server of its MCP endpoints: TOLLGATE_MCP_AUTHORIZATION_SERVERS names TOLLGATE_PUBLIC_URL. */
    enabled: boolean;
    /** TOLLGATE_OAUTH_ACCESS_TTL_S. */
    accessTtlS: number;
    /** TOLLGATE_OAUTH_REFRESH_TTL_S (capped by the expiry the user chose at consent). */
    refreshTtlS: number;
    /** TOLLGATE_OAUTH_COOKIE_KEYS: the keys signing the authorization server's cookies, newest first; the same on every replica. */
    cookieKeys: string[];
    /** TOLLGATE_OAUTH_REGISTRATIONS_PER_HOUR: dynamic client registrations admitted per client address in any hour. */
    registrationsPerHour: number;
    /** TOLLGATE_OAUTH_DOCUMENT_FETCHES_PER_HOUR: Client ID Metadata Document fetches (cache misses) admitted per client address in any hour. */
    documentFetchesPerHour: number;
    /** TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS: Client ID Metadata Documents may be fetched from loopback addresses (development and tests; refused in production). */
    allowLoopbackClientIds: boolean;
  };
  // browser sign-in
  /** TOLLGATE_OIDC_*: the organisation's OpenID Connect provider browsers sign in with; null: the development sign-in page. */
  oidc: OidcConfig | null;
  /** TOLLGATE_UI_SESSION_TTL_S: how long a browser stays signed in. */
  uiSessionTtlS: number;
  /** TOLLGATE_UI_SIGN_INS_PER_MINUTE: browser sign-ins admitted per client address in any minute. */
  uiSignInsPerMinute: number;
  /** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG: which requests are traced (when tracing is on). */
  tracesSampler: TracesSampler;
}

export interface OidcConfig {
  /** TOLLGATE_OIDC_ISSUER as written (discovery must name exactly it): https, or http on a loopback host outside production. */
  issuer: string;
  clientId: string;
  clientSecret: string;
}

export interface RedisClusterNode {
  host: string;
  port: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const perMinute = z.number().int().positive();
/** The route table's classes: all the api area has. */
export const ROUTE_RATE_LIMIT_CLASSES = ["default", "log", "artifact", "trigger"] as const;
const routeClassesSchema = z.object(Object.fromEntries(ROUTE_RATE_LIMIT_CLASSES.map((c) => [c, perMinute]))).partial().strict();
// The mcp area also has the classes the policy's tool table names (checked against it at start-up).
const mcpClassesSchema = z.record(z.string().regex(RATE_LIMIT_CLASS, "a class is 1-32 of a-z 0-9 _, starting with a letter"), perMinute);
const rateLimitsSchema = z.object({ mcp: mcpClassesSchema, api: routeClassesSchema }).partial().strict();

type Env = Record<string, string | undefined>;

/** Reads the configuration from the environment, reporting every problem at once. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };

  const envName = get("TOLLGATE_ENV") ?? "development";
  if (envName !== "development" && envName !== "production") problems.push(`TOLLGATE_ENV must be "development" or "production", got "${envName}"`);
  const production = envName === "production";

  const port = integer("PORT", get("PORT") ?? "8181", 0, 65535, problems);
  const cacheTtlMs = integer("TOLLGATE_CACHE_TTL_MS", get("TOLLGATE_CACHE_TTL_MS") ?? "5000", 0, 600_000, problems);
  const maxBodyBytes = integer("TOLLGATE_MAX_BODY_BYTES", get("TOLLGATE_MAX_BODY_BYTES") ?? "16384", 256, 10_485_760, problems);
  const rateLimitWindowMs = integer("TOLLGATE_RATE_LIMIT_WINDOW_MS", get("TOLLGATE_RATE_LIMIT_WINDOW_MS") ?? "60000", 100, 86_400_000, problems);

  const rateLimitFail = get("TOLLGATE_RATE_LIMIT_FAIL") ?? "open";
  if (rateLimitFail !== "open" && rateLimitFail !== "closed") problems.push(`TOLLGATE_RATE_LIMIT_FAIL must be "open" or "closed", got "${rateLimitFail}"`);

  const rateLimits = parseRateLimits(get("TOLLGATE_RATE_LIMITS"), problems);
  const jwtKey = parseJwtKey(get, production, problems);

  const adminToken = get("TOLLGATE_ADMIN_TOKEN") ?? null;
  if (adminToken !== null && adminToken.length < 24) problems.push("TOLLGATE_ADMIN_TOKEN must be at least 24 characters");

  const mongodbUri = get("MONGODB_URI") ?? null;
  if (mongodbUri !== null && !/^mongodb(\+srv)?:\/\//.test(mongodbUri)) problems.push("MONGODB_URI must start with mongodb:// or mongodb+srv://");
  const redisUrl = get("REDIS_URL") ?? null;
  if (redisUrl !== null && !/^rediss?:\/\//.test(redisUrl)) problems.push("REDIS_URL must start with redis:// or rediss://");

  const redisClusterNodes = parseClusterNodes(get("TOLLGATE_REDIS_CLUSTER_NODES"), problems);
  if (redisUrl !== null && redisClusterNodes !== null) problems.push("set REDIS_URL (one Redis) or TOLLGATE_REDIS_CLUSTER_NODES (a Redis Cluster), not both");
  const redisConfigured = redisUrl !== null || redisClusterNodes !== null;

  if (production) {
    if (!mongodbUri) problems.push("production requires MONGODB_URI (no in-memory fallback in production)");
    if (!redisConfigured) problems.push("production requires REDIS_URL or TOLLGATE_REDIS_CLUSTER_NODES (no in-memory fallback in production)");
    if (!adminToken) problems.push("production requires TOLLGATE_ADMIN_TOKEN");
  }

  const demo = get("TOLLGATE_DEMO") ?? (production || mongodbUri ? "false" : "true");
  if (demo !== "true" && demo !== "false") problems.push(`TOLLGATE_DEMO must be "true" or "false", got "${demo}"`);
  if (production && demo === "true") problems.push("TOLLGATE_DEMO=true is not allowed in production");

  const upstreams = parseUpstreams(get("TOLLGATE_UPSTREAMS"), get("TOLLGATE_UPSTREAM_URL"), problems);
  const upstreamTimeoutMs = integer("TOLLGATE_UPSTREAM_TIMEOUT_MS", get("TOLLGATE_UPSTREAM_TIMEOUT_MS") ?? "30000", 100, 3_600_000, problems);
  const upstreamIdleTimeoutMs = integer("TOLLGATE_UPSTREAM_IDLE_TIMEOUT_MS", get("TOLLGATE_UPSTREAM_IDLE_TIMEOUT_MS") ?? "300000", 100, 86_400_000, problems);
  const gatewayMaxBodyBytes = integer("TOLLGATE_GATEWAY_MAX_BODY_BYTES", get("TOLLGATE_GATEWAY_MAX_BODY_BYTES") ?? "10485760", 0, 1_073_741_824, problems);
  const auditRetentionDays = integer("TOLLGATE_AUDIT_RETENTION_DAYS", get("TOLLGATE_AUDIT_RETENTION_DAYS") ?? "30", 1, 3650, problems);
  const auditQueueMax = integer("TOLLGATE_AUDIT_QUEUE_MAX", get("TOLLGATE_AUDIT_QUEUE_MAX") ?? "10000", 1, 1_000_000, problems);
  const auditMcpArguments = get("TOLLGATE_AUDIT_MCP_ARGUMENTS") ?? "false";
  if (auditMcpArguments !== "true" && auditMcpArguments !== "false") problems.push(`TOLLGATE_AUDIT_MCP_ARGUMENTS must be "true" or "false", got "${auditMcpArguments}"`);
  const auditRedactKeys = parseRedactKeys(get("TOLLGATE_AUDIT_REDACT_KEYS") ?? DEFAULT_AUDIT_REDACT_KEYS, problems);

  const trustedProxyEntries = (get("TOLLGATE_TRUSTED_PROXIES") ?? "").split(",").map((e) => e.trim()).filter(Boolean);
  let trustedProxies: TrustedProxies = () => false;
  try {
    trustedProxies = compileTrustedProxies(trustedProxyEntries);
  } catch (err) {
    problems.push(`TOLLGATE_TRUSTED_PROXIES must be comma-separated IP addresses or CIDRs: ${err instanceof Error ? err.message : String(err)}`);
  }
  const maxHeaderFields = integer("TOLLGATE_MAX_HEADER_FIELDS", get("TOLLGATE_MAX_HEADER_FIELDS") ?? "100", 10, 1000, problems);
  const internalPortRaw = get("TOLLGATE_INTERNAL_PORT");
  const internalPort = internalPortRaw === undefined ? null : integer("TOLLGATE_INTERNAL_PORT", internalPortRaw, 0, 65535, problems);
  const jwtMaxTtlS = integer("TOLLGATE_JWT_MAX_TTL_S", get("TOLLGATE_JWT_MAX_TTL_S") ?? "86400", 60, 2_592_000, problems);
  // rate limiter
  const redisTimeoutMs = integer("TOLLGATE_REDIS_TIMEOUT_MS", get("TOLLGATE_REDIS_TIMEOUT_MS") ?? "50", 1, 10_000, problems);
  // invalidation bus
  const redisNamespace = get("TOLLGATE_REDIS_NAMESPACE") ?? DEFAULT_NAMESPACE;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(redisNamespace)) problems.push(`TOLLGATE_REDIS_NAMESPACE must be 1 to 64 of A-Z a-z 0-9 . _ -, got "${redisNamespace}"`);
  const invalidationHeartbeatMs = integer("TOLLGATE_INVALIDATION_HEARTBEAT_MS", get("TOLLGATE_INVALIDATION_HEARTBEAT_MS") ?? "1000", 10, 60_000, problems);
  const cacheTtlDegradedMs = integer("TOLLGATE_CACHE_TTL_DEGRADED_MS", get("TOLLGATE_CACHE_TTL_DEGRADED_MS") ?? "0", 0, 600_000, problems);
  // drain: in development Ctrl-C stops at once unless asked to wait.
  const drainMs = integer("TOLLGATE_DRAIN_MS", get("TOLLGATE_DRAIN_MS") ?? (production ? "5000" : "0"), 0, 600_000, problems);
  // fact stores
  const revocationsMax = integer("TOLLGATE_REVOCATIONS_MAX", get("TOLLGATE_REVOCATIONS_MAX") ?? "100000", 1, 10_000_000, problems);
  const mongodbTimeoutMs = integer("TOLLGATE_MONGODB_TIMEOUT_MS", get("TOLLGATE_MONGODB_TIMEOUT_MS") ?? "1000", 10, 60_000, problems);

  // MCP gateway
  const mcpMaxBodyBytes = integer("TOLLGATE_MCP_MAX_BODY_BYTES", get("TOLLGATE_MCP_MAX_BODY_BYTES") ?? "1048576", 1024, 67_108_864, problems);
  const mcpSessionTtlMs = integer("TOLLGATE_MCP_SESSION_TTL_MS", get("TOLLGATE_MCP_SESSION_TTL_MS") ?? "86400000", 1000, 604_800_000, problems);
  const publicUrlRaw = get("TOLLGATE_PUBLIC_URL");
  const publicUrl = publicUrlRaw === undefined ? null : parsePublicUrl(publicUrlRaw, production, problems);
  const mcpAuthorizationServers = parseAuthorizationServers(get("TOLLGATE_MCP_AUTHORIZATION_SERVERS"), production, problems);
  if (mcpAuthorizationServers.length > 0 && publicUrlRaw === undefined) {
    problems.push("TOLLGATE_MCP_AUTHORIZATION_SERVERS needs TOLLGATE_PUBLIC_URL: each project's MCP endpoint is named by it in the protected-resource metadata");
  }

  // OAuth authorization server
  const oauthAccessTtlS = integer("TOLLGATE_OAUTH_ACCESS_TTL_S", get("TOLLGATE_OAUTH_ACCESS_TTL_S") ?? "3600", 60, 86_400, problems);
  const oauthRefreshTtlS = integer("TOLLGATE_OAUTH_REFRESH_TTL_S", get("TOLLGATE_OAUTH_REFRESH_TTL_S") ?? "2592000", 60, 31_536_000, problems);
  const oauthRegistrationsPerHour = integer("TOLLGATE_OAUTH_REGISTRATIONS_PER_HOUR", get("TOLLGATE_OAUTH_REGISTRATIONS_PER_HOUR") ?? "10", 1, 100_000, problems);
  const oauthDocumentFetchesPerHour = integer("TOLLGATE_OAUTH_DOCUMENT_FETCHES_PER_HOUR", get("TOLLGATE_OAUTH_DOCUMENT_FETCHES_PER_HOUR") ?? "60", 1, 100_000, problems);
  const cookieKeysRaw = get("TOLLGATE_OAUTH_COOKIE_KEYS");
  const oauthCookieKeys = (cookieKeysRaw ?? DEV_OAUTH_COOKIE_KEY).split(",").map((k) => k.trim()).filter(Boolean);
  if (oauthCookieKeys.some((k) => k.length < 32)) problems.push("TOLLGATE_OAUTH_COOKIE_KEYS: each comma-separated key must be at least 32 characters");
  const oauthEnabled = publicUrl !== null && mcpAuthorizationServers.some((s) => s === publicUrl || s === `${publicUrl}/`);
  if (production && oauthEnabled && (cookieKeysRaw === undefined || oauthCookieKeys.includes(DEV_OAUTH_COOKIE_KEY))) {
    problems.push("production with Tollgate as the authorization server requires TOLLGATE_OAUTH_COOKIE_KEYS (its cookie keys, the same on every replica)");
  }
  const allowLoopbackClientIds = get("TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS") ?? "false";
  if (allowLoopbackClientIds !== "true" && allowLoopbackClientIds !== "false") problems.push(`TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS must be "true" or "false", got "${allowLoopbackClientIds}"`);
  if (production && allowLoopbackClientIds === "true") problems.push("TOLLGATE_DEV_ALLOW_LOOPBACK_CLIENT_IDS=true is not allowed in production");
  // upstreams that are OAuth protected resources (docs/upstreams.md)
  const encryptionKeys = parseEncryptionKeys(get("TOLLGATE_ENCRYPTION_KEYS") ?? "", problems);
  const oauthUpstreams = upstreams.filter((u) => u.auth === "oauth").map((u) => u.name);
  if (oauthUpstreams.length > 0) {
    if (production && encryptionKeys.length === 0) problems.push(`production requires TOLLGATE_ENCRYPTION_KEYS when an upstream uses oauth (${oauthUpstreams.join(", ")}): the upstream credentials are sealed with it`);
    if (publicUrlRaw === undefined) problems.push(`an oauth upstream (${oauthUpstreams.join(", ")}) needs TOLLGATE_PUBLIC_URL: its connect URL is TOLLGATE_PUBLIC_URL/oauth/upstream/{name}/connect`);
  }
  // browser sign-in
  const oidc = parseOidc(get, production, publicUrl, problems);
  const uiSessionTtlS = integer("TOLLGATE_UI_SESSION_TTL_S", get("TOLLGATE_UI_SESSION_TTL_S") ?? "28800", 300, 2_592_000, problems);
  const uiSignInsPerMinute = integer("TOLLGATE_UI_SIGN_INS_PER_MINUTE", get("TOLLGATE_UI_SIGN_INS_PER_MINUTE") ?? "20", 1, 100_000, problems);

  const logLevel = get("TOLLGATE_LOG_LEVEL") ?? "info";
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel)) {
    problems.push(`TOLLGATE_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "${logLevel}"`);
  }
  const tracesSampler = parseTracesSampler(get, problems);
  const workersRaw = get("TOLLGATE_WORKERS") ?? "1";
  const workers = workersRaw === "auto" ? availableParallelism() : integer("TOLLGATE_WORKERS", workersRaw, 1, 64, problems);
  if (workers > 1 && (!mongodbUri || !redisConfigured)) {
    problems.push("TOLLGATE_WORKERS > 1 needs MONGODB_URI and REDIS_URL (or TOLLGATE_REDIS_CLUSTER_NODES): in-memory state is not shared between processes");
  }

  if (problems.length > 0 || !jwtKey) throw new ConfigError(problems);
  return {
    env: production ? "production" : "development",
    host: get("HOST") ?? (production ? "0.0.0.0" : "127.0.0.1"),
    port,
    adminToken,
    jwt: { key: jwtKey, issuer: get("TOLLGATE_JWT_ISSUER") ?? null, audience: get("TOLLGATE_JWT_AUDIENCE") ?? null },
    mongodbUri,
    mongodbDb: get("MONGODB_DB") ?? "tollgate",
    redisUrl,
    redisClusterNodes,
    rateLimits,
    rateLimitWindowMs,
    rateLimitFail: rateLimitFail as "open" | "closed",
    // Unset: the package's own wasm/. Set: as given, so a relative path is from the working directory.
    policyDir: get("TOLLGATE_POLICY_DIR") ?? packageFile("wasm"),
    cacheTtlMs,
    maxBodyBytes,
    demo: demo === "true",
    logLevel,
    workers,
    upstreams,
    encryptionKeys,
    upstream: { timeoutMs: upstreamTimeoutMs, idleTimeoutMs: upstreamIdleTimeoutMs, maxBodyBytes: gatewayMaxBodyBytes },
    audit: { retentionDays: auditRetentionDays, queueMax: auditQueueMax, mcpArguments: auditMcpArguments === "true", redactKeys: auditRedactKeys },
    trustedProxies: { trust: trustedProxies, entries: trustedProxyEntries },
    maxHeaderFields,
    internal: internalPort === null ? null : { host: get("TOLLGATE_INTERNAL_HOST") ?? "127.0.0.1", port: internalPort },
    jwtMaxTtlS,
    // rate limiter
    redisTimeoutMs,
    // invalidation bus
    redisNamespace,
    invalidationHeartbeatMs,
    cacheTtlDegradedMs,
    // drain
    drainMs,
    // fact stores
    revocationsMax,
    mongodbTimeoutMs,
    // MCP gateway
    mcpMaxBodyBytes,
    mcpSessionTtlMs,
    publicUrl,
    mcpAuthorizationServers,
    oauth: { enabled: oauthEnabled, accessTtlS: oauthAccessTtlS, refreshTtlS: oauthRefreshTtlS, cookieKeys: oauthCookieKeys, registrationsPerHour: oauthRegistrationsPerHour, documentFetchesPerHour: oauthDocumentFetchesPerHour, allowLoopbackClientIds: allowLoopbackClientIds === "true" },
    // browser sign-in
    oidc,
    uiSessionTtlS,
    uiSignInsPerMinute,
    tracesSampler,
  };
}

/** A loopback host name or address (the brackets of an IPv6 URL host included). */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "[::1]" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * TOLLGATE_PUBLIC_URL: the origin (scheme, host, port) MCP clients reach Tollgate at. No path:
 * RFC 9728 puts the metadata at the host's root (/.well-known/…), which Tollgate serves itself.
 */
function parsePublicUrl(raw: string, production: boolean, problems: string[]): string | null {
  const url = absoluteUrl(raw);
  if (typeof url === "string") {
    problems.push(`TOLLGATE_PUBLIC_URL ${url}, got "${raw}"`);
    return null;
  }
  if (url.pathname !== "/") problems.push(`TOLLGATE_PUBLIC_URL must be an origin without a path (e.g. https://tollgate.example.com), got "${raw}"`);
  if (production && url.protocol !== "https:") problems.push(`TOLLGATE_PUBLIC_URL must be https in production, got "${raw}"`);
  return url.origin;
}

/**
 * TOLLGATE_MCP_AUTHORIZATION_SERVERS: comma-separated issuer identifiers (RFC 8414), kept as
 * written since clients compare them exactly, so each must be written as the URL parser
 * writes it (lower-case host, escapes) with or without a trailing slash; https in production.
 */
function parseAuthorizationServers(raw: string | undefined, production: boolean, problems: string[]): string[] {
  const servers: string[] = [];
  for (const entry of (raw ?? "").split(",").map((e) => e.trim()).filter(Boolean)) {
    const url = absoluteUrl(entry);
    if (typeof url === "string") problems.push(`TOLLGATE_MCP_AUTHORIZATION_SERVERS: "${entry}" ${url}`);
    else if (entry !== url.href && `${entry}/` !== url.href) problems.push(`TOLLGATE_MCP_AUTHORIZATION_SERVERS: write "${entry}" as ${url.href}`);
    else if (production && url.protocol !== "https:") problems.push(`TOLLGATE_MCP_AUTHORIZATION_SERVERS: "${entry}" must be https in production`);
    else if (servers.includes(entry)) problems.push(`TOLLGATE_MCP_AUTHORIZATION_SERVERS names "${entry}" twice`);
    else servers.push(entry);
  }
  return servers;
}

/**
 * TOLLGATE_AUDIT_REDACT_KEYS: a JavaScript regular expression, matched case-insensitively against
 * each argument key. One that matches every key (the empty pattern) is allowed; one that does not
 * compile is a start-up error.
 */
function parseRedactKeys(source: string, problems: string[]): RegExp {
  try {
    return new RegExp(source, "i");
  } catch (err) {
    problems.push(`TOLLGATE_AUDIT_REDACT_KEYS must be a regular expression: ${err instanceof Error ? err.message : String(err)}`);
    return new RegExp(DEFAULT_AUDIT_REDACT_KEYS, "i");
  }
}

const OIDC_VARIABLES = ["TOLLGATE_OIDC_ISSUER", "TOLLGATE_OIDC_CLIENT_ID", "TOLLGATE_OIDC_CLIENT_SECRET"] as const;

/** All three or none; the issuer https, or http on a loopback host outside production; the callback needs TOLLGATE_PUBLIC_URL. */
function parseOidc(get: (name: string) => string | undefined, production: boolean, publicUrl: string | null, problems: string[]): OidcConfig | null {
  const [issuerRaw, clientId, clientSecret] = OIDC_VARIABLES.map(get);
  const given = OIDC_VARIABLES.filter((name) => get(name) !== undefined);
  if (given.length === 0) return null;
  if (given.length < OIDC_VARIABLES.length) {
    problems.push(`set all of ${OIDC_VARIABLES.join(", ")} or none; missing ${OIDC_VARIABLES.filter((n) => !given.includes(n)).join(", ")}`);
    return null;
  }
  if (!publicUrl) problems.push("TOLLGATE_OIDC_ISSUER needs TOLLGATE_PUBLIC_URL (the sign-in callback is TOLLGATE_PUBLIC_URL/oauth/callback)");
  const issuer = absoluteUrl(issuerRaw!);
  if (typeof issuer === "string") {
    problems.push(`TOLLGATE_OIDC_ISSUER ${issuer}, got "${issuerRaw}"`);
    return null;
  }
  if (issuer.protocol !== "https:" && (production || !isLoopbackHost(issuer.hostname))) {
    problems.push(`TOLLGATE_OIDC_ISSUER must be an https URL (http only on a loopback host outside production), got "${issuerRaw}"`);
    return null;
  }
  return { issuer: issuerRaw!, clientId: clientId!, clientSecret: clientSecret! };
}

/**
 * OTEL_TRACES_SAMPLER (default always_on) and, for traceidratio, OTEL_TRACES_SAMPLER_ARG (0 to 1,
 * default 1). The parentbased_* samplers are refused: under them a client's traceparent decides
 * whether its own requests are traced. Names are exact (the spec's, lower case).
 */
function parseTracesSampler(get: (name: string) => string | undefined, problems: string[]): TracesSampler {
  const name = get("OTEL_TRACES_SAMPLER") ?? "always_on";
  if (name === "always_on" || name === "always_off") return { kind: name };
  if (name === "traceidratio") {
    const raw = get("OTEL_TRACES_SAMPLER_ARG") ?? "1";
    const ratio = Number(raw);
    if (!/^(?:0|1|0?\.\d+|1\.0*)$/.test(raw) || !(ratio >= 0 && ratio <= 1)) {
      problems.push(`OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1 (the share of requests traced), got "${raw}"`);
      return { kind: "always_on" };
    }
    return { kind: "traceidratio", ratio };
  }
  if (name.startsWith("parentbased_")) {
    problems.push(`OTEL_TRACES_SAMPLER=${name} is refused: a client's traceparent would decide whether its requests are traced; use always_on, always_off or traceidratio`);
  } else problems.push(`OTEL_TRACES_SAMPLER must be always_on, always_off or traceidratio, got "${name}"`);
  return { kind: "always_on" };
}

function integer(name: string, raw: string, min: number, max: number, problems: string[]): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    return min;
  }
  return value;
}

/** "host:port,host:port,…" ("[v6]:port" for an IPv6 address); every malformed entry named in one problem. */
function parseClusterNodes(raw: string | undefined, problems: string[]): RedisClusterNode[] | null {
  if (raw === undefined) return null;
  const nodes: RedisClusterNode[] = [];
  const bad: string[] = [];
  for (const entry of raw.split(",").map((e) => e.trim()).filter(Boolean)) {
    const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[3]);
    if (!match || port < 1 || port > 65535) bad.push(`"${entry}"`);
    else nodes.push({ host: match[1] ?? match[2]!, port });
  }
  if (bad.length > 0 || nodes.length === 0) {
    problems.push(`TOLLGATE_REDIS_CLUSTER_NODES must be comma-separated host:port seed nodes${bad.length > 0 ? `, got ${bad.join(", ")}` : ""}`);
    return null;
  }
  return nodes;
}

function parseRateLimits(raw: string | undefined, problems: string[]): RateLimits {
  if (raw === undefined) return DEFAULT_RATE_LIMITS;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    problems.push('TOLLGATE_RATE_LIMITS is not valid JSON (example: {"mcp":{"trigger":5},"api":{"default":600}})');
    return DEFAULT_RATE_LIMITS;
  }
  const result = rateLimitsSchema.safeParse(parsed);
  if (!result.success) {
    for (const issue of result.error.issues) {
      problems.push(`TOLLGATE_RATE_LIMITS.${issue.path.join(".")}: ${issue.message} (requests per minute, positive integers, areas mcp|api, classes default|log|artifact|trigger, in mcp also those the tool table names)`);
    }
    return DEFAULT_RATE_LIMITS;
  }
  return {
    mcp: { ...DEFAULT_RATE_LIMITS.mcp, ...result.data.mcp },
    api: { ...DEFAULT_RATE_LIMITS.api, ...(result.data.api as Record<string, number> | undefined) },
  };
}

function parseJwtKey(get: (name: string) => string | undefined, production: boolean, problems: string[]): JwtKeyConfig | null {
  const secret = get("TOLLGATE_JWT_SECRET");
  const jwksUrl = get("TOLLGATE_JWT_JWKS_URL");
  let pem = get("TOLLGATE_JWT_PUBLIC_KEY");
  const pemFile = get("TOLLGATE_JWT_PUBLIC_KEY_FILE");
  if (pem && pemFile) problems.push("set TOLLGATE_JWT_PUBLIC_KEY or TOLLGATE_JWT_PUBLIC_KEY_FILE, not both");
  if (pemFile) {
    try {
      pem = readFileSync(pemFile, "utf8");
    } catch {
      problems.push(`TOLLGATE_JWT_PUBLIC_KEY_FILE cannot be read: ${pemFile}`);
    }
  }
  const given = [secret && "TOLLGATE_JWT_SECRET", jwksUrl && "TOLLGATE_JWT_JWKS_URL", pem && "TOLLGATE_JWT_PUBLIC_KEY(_FILE)"].filter(Boolean);
  if (given.length > 1) {
    problems.push(`set only one JWT key source, got ${given.join(" and ")}`);
    return null;
  }
  if (jwksUrl) {
    if (!/^https?:\/\//.test(jwksUrl)) problems.push("TOLLGATE_JWT_JWKS_URL must be an http(s) URL");
    return { kind: "jwks", url: jwksUrl };
  }
  if (pem) {
    if (!pem.includes("-----BEGIN PUBLIC KEY-----")) problems.push("TOLLGATE_JWT_PUBLIC_KEY must be a PEM (SPKI) public key");
    const algorithm = get("TOLLGATE_JWT_ALGORITHM") ?? "RS256";
    if (!/^(RS|PS|ES)(256|384|512)$|^EdDSA$/.test(algorithm)) problems.push(`TOLLGATE_JWT_ALGORITHM must be RS256..512, PS256..512, ES256..512 or EdDSA, got "${algorithm}"`);
    return { kind: "public_key", pem, algorithm };
  }
  if (secret) {
    if (production && secret === DEV_JWT_SECRET) problems.push("TOLLGATE_JWT_SECRET is the development secret; set a real one in production");
    if (Buffer.byteLength(secret) < 32) problems.push("TOLLGATE_JWT_SECRET must be at least 32 bytes (HS256)");
    return { kind: "secret", secret };
  }
  if (production) {
    problems.push("production requires a JWT key: TOLLGATE_JWT_SECRET, TOLLGATE_JWT_JWKS_URL or TOLLGATE_JWT_PUBLIC_KEY");
    return null;
  }
  return { kind: "secret", secret: DEV_JWT_SECRET };
}
