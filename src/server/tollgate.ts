import type { Express } from "express";
import { CredentialResolver } from "../auth/credentials.js";
import { JwtVerifier } from "../auth/jwt.js";
import type { Config } from "../config/config.js";
import { Authorizer } from "../decision/authorizer.js";
import { CachedFacts } from "../facts/cached-facts.js";
import { gateway } from "../gateway/gateway.js";
import { mcpTokenRoutes } from "../gateway/mcp-tokens.js";
import { createApp } from "../http/app.js";
import { TokenIssuer } from "../issuing/token-issuer.js";
import type { Logger } from "../log.js";
import { Metrics } from "../metrics.js";
import { PolicyEngine } from "../policy/engine.js";
import { connectBackends, type Backends } from "./backends.js";

export interface Tollgate {
  /** The configuration it was built from (createHttpServer takes its limits from it). */
  config: Config;
  app: Express;
  engine: PolicyEngine;
  facts: CachedFacts;
  issuer: TokenIssuer;
  backends: Backends;
  metrics: Metrics;
  close(): Promise<void>;
}

export interface BuildOptions {
  logger: Logger;
  /** Use these backends instead of connecting the configured ones (tests). */
  backends?: Backends;
  /** Unix-seconds clock for the policy's `now` (tests). */
  clock?: () => number;
  /** Watch wasm/ and hot-reload the policy. Default true. */
  watchPolicy?: boolean;
  defaultMetrics?: boolean;
}

/** The composition root: every part of Tollgate is wired here and nowhere else. */
export function buildTollgate(config: Config, options: BuildOptions): Tollgate {
  const { logger } = options;
  const engine = PolicyEngine.load(config.policyDir, { logger });
  if (options.watchPolicy ?? true) engine.watch();
  const metrics = new Metrics({ defaultMetrics: options.defaultMetrics ?? true });
  const backends = options.backends ?? connectBackends(config, logger, metrics.audit);
  const facts = new CachedFacts(backends.tokens, backends.directory, { ttlMs: config.cacheTtlMs, counters: metrics });
  const jwt = new JwtVerifier({ ...config.jwt, maxTtlS: config.jwtMaxTtlS, ...(options.clock ? { now: options.clock } : {}) });
  const credentials = new CredentialResolver(facts, jwt, options.clock);
  const issuer = new TokenIssuer(facts, options.clock ? () => new Date(options.clock!() * 1000) : undefined);
  const authorizer = new Authorizer({
    engine,
    credentials,
    facts,
    rateLimiter: backends.rateLimiter,
    rateLimits: config.rateLimits,
    rateLimitWindowMs: config.rateLimitWindowMs,
    rateLimitFail: config.rateLimitFail,
    logger,
    observer: metrics,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const clockDate = options.clock ? () => new Date(options.clock!() * 1000) : undefined;
  const gatewayRouter = gateway({
    authorizer,
    upstream: config.upstream,
    rateLimitWindowMs: config.rateLimitWindowMs,
    audit: backends.audit,
    trustedProxies: config.trustedProxies.trust,
    local: mcpTokenRoutes({
      engine,
      facts,
      issuer,
      tempTokens: backends.tempTokens,
      audit: backends.audit,
      maxBodyBytes: config.maxBodyBytes,
      ...(clockDate ? { clock: clockDate } : {}),
    }),
  });
  const app = createApp({
    authorizer,
    audit: backends.audit,
    gateway: gatewayRouter,
    engine,
    credentials,
    facts,
    issuer,
    metrics,
    logger,
    adminToken: config.adminToken,
    maxBodyBytes: config.maxBodyBytes,
    rateLimitWindowMs: config.rateLimitWindowMs,
    maxHeaderFields: config.maxHeaderFields,
    readiness: backends.readiness,
  });
  return {
    config,
    app,
    engine,
    facts,
    issuer,
    backends,
    metrics,
    async close() {
      engine.close();
      await backends.close();
    },
  };
}
