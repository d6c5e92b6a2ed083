import { DecisionLogAudit } from "../audit/decision-log.js";
import { CredentialResolver } from "../auth/credentials.js";
import { JwtVerifier } from "../auth/jwt.js";
import type { Config } from "../config/config.js";
import { DecisionService } from "../decision/service.js";
import { CachedFacts } from "../facts/cached-facts.js";
import { LocalInvalidationBus } from "../facts/invalidation.js";
import { gateway } from "../gateway/gateway.js";
import { mcpTokenRoutes } from "../gateway/mcp-tokens.js";
import type { UpstreamCredentials } from "../gateway/upstream-credentials.js";
import { mcpDiscovery } from "../mcp/discovery.js";
import { requireMcpRateLimits } from "../mcp/rate-limit-classes.js";
import type { Dispatcher } from "../http/dispatcher.js";
import { createApp, createGatewayLocalApp, createInternalApp, createPublicApp, type AppDeps } from "../http/app.js";
import { EventLoopWatch, Readiness } from "../http/readiness.js";
import { McpTokenService } from "../issuing/mcp-tokens.js";
import { TokenIssuer } from "../issuing/token-issuer.js";
import { withoutRedaction, type Logger } from "../log.js";
import { Metrics } from "../metrics.js";
import { PolicyEngine } from "../policy/engine.js";
import { oauthAdapter } from "../oauth/adapter.js";
import { ClientMetadataDocuments } from "../oauth/client-metadata-documents.js";
import { oauthEndpoints, type OAuthEndpoints } from "../oauth/http.js";
import { OAuthAccessTokenRecords } from "../oauth/issued-tokens.js";
import { createOAuthProvider } from "../oauth/provider.js";
import Provider from "oidc-provider";
import { clientAddress, limitedClient } from "../http/client-address.js";
import type { BrowserSessions } from "../ui/browser-sessions.js";
import { consentHandler } from "../ui/consent.js";
import { writeRequestError } from "../http/errors.js";
import { browserUi } from "../ui/routes.js";
import { PageAuditedMcpTokenService, UiAudit } from "../ui/ui-audit.js";
import { connectBackends, type Backends } from "./backends.js";
import { buildUpstreamOAuth, type UpstreamOAuth } from "./upstream-oauth.js";

export interface Tollgate {
  /** The configuration it was built from (createHttpServer takes its limits from it). */
  config: Config;
  /** Everything on one port (TOLLGATE_INTERNAL_PORT unset). */
  app: Dispatcher;
  /** With TOLLGATE_INTERNAL_PORT: the client-facing port (/api/) … */
  publicApp: Dispatcher;
  /** … and the internal one (decision endpoints, admin API, operations). */
  internalApp: Dispatcher;
  /** /readyz; drain() at shutdown. */
  readiness: Readiness;
  engine: PolicyEngine;
  /** The decision core the adapters call (benchmarks mount it on other adapters). */
  decisions: DecisionService;
  facts: CachedFacts;
  issuer: TokenIssuer;
  backends: Backends;
  metrics: Metrics;
  /** With an `oauth` upstream: Tollgate as an OAuth client of upstreams (docs/upstreams.md). */
  upstreamOAuth: UpstreamOAuth | null;
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
  /** Run the audit and temp-token pruners (with workers, only one worker does). Default true. */
  prune?: boolean;
  /** Who is signed in in the browser, for the consent page (tests); default: the browser sessions of /ui/login. */
  browserSessions?: BrowserSessions;
  /** A certificate trusted besides the system's when fetching Client ID Metadata Documents (tests: their throwaway CA). */
  clientDocumentsCa?: string;
  /** Users' tokens at `oauth` upstreams (tests); default: the connect flow's (docs/upstreams.md). */
  upstreamCredentials?: UpstreamCredentials;
}


/** The composition root: every part of Tollgate is wired here and nowhere else. */
export function buildTollgate(config: Config, options: BuildOptions): Tollgate {
  const { logger } = options;
  const engine = PolicyEngine.load(config.policyDir, { logger });
  requireMcpRateLimits(engine.mcpRateLimitClasses(), config.rateLimits);
  if (options.watchPolicy ?? true) engine.watch();
  const metrics = new Metrics({ policyRevision: () => engine.revision, defaultMetrics: options.defaultMetrics ?? true });
  const backends = options.backends ?? connectBackends(config, logger, metrics.audit, metrics, { prune: options.prune ?? true });
  // Every decision recorded is also one log line (docs/operations.md, "Decision log").
  // Its fields are fixed and hold no credential: written without the redaction pass (src/log.ts).
  const audit = new DecisionLogAudit(backends.audit, withoutRedaction(logger));
  const facts = new CachedFacts(backends.tokens, backends.directory, {
    ttlMs: config.cacheTtlMs,
    degradedTtlMs: config.cacheTtlDegradedMs,
    revocationsMax: config.revocationsMax,
    counters: metrics,
    bus: backends.invalidation ?? new LocalInvalidationBus(metrics),
  });
  const jwt = new JwtVerifier({ ...config.jwt, maxTtlS: config.jwtMaxTtlS, ...(options.clock ? { now: options.clock } : {}) });
  const credentials = new CredentialResolver(facts, jwt, options.clock);
  const issuer = new TokenIssuer(facts, backends.oauth, options.clock ? () => new Date(options.clock!() * 1000) : undefined);
  const decisions = new DecisionService({
    engine,
    credentials,
    facts,
    rateLimiter: backends.rateLimiter,
    mcpSessions: backends.mcpSessions,
    mcpSessionTtlMs: config.mcpSessionTtlMs,
    rateLimits: config.rateLimits,
    rateLimitWindowMs: config.rateLimitWindowMs,
    rateLimitFail: config.rateLimitFail,
    audit,
    auditCounters: metrics.audit,
    auditMcpArguments: config.audit.mcpArguments ? { redactKeys: config.audit.redactKeys } : null,
    logger,
    observer: metrics,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const discovery = mcpDiscovery(config);
  const clockDate = options.clock ? () => new Date(options.clock!() * 1000) : undefined;
  // One issuing service for the API's self-service routes and the tokens page (which records what it does).
  const mcpTokenDeps = { engine, facts, issuer, tempTokens: backends.tempTokens, ...(clockDate ? { clock: clockDate } : {}) };
  const mcpTokens = new McpTokenService(mcpTokenDeps);
  const upstreamOAuth = buildUpstreamOAuth(config, backends, logger);
  const uiAudit = new UiAudit({ sink: audit, trustedProxies: config.trustedProxies.trust, ...(clockDate ? { clock: clockDate } : {}) });
  const ui = browserUi({
    config,
    store: backends.browserSessions,
    service: new PageAuditedMcpTokenService(mcpTokenDeps, uiAudit),
    directory: facts.directoryStore,
    audit,
    uiAudit,
    rateLimiter: backends.rateLimiter,
    upstreamOAuth,
    logger,
    ...(clockDate ? { clock: clockDate } : {}),
  });
  const gatewayHandler = gateway({
    decisions,
    upstreams: config.upstreams,
    upstream: config.upstream,
    rateLimitWindowMs: config.rateLimitWindowMs,
    trustedProxies: config.trustedProxies.trust,
    mcpMaxBodyBytes: config.mcpMaxBodyBytes,
    discovery,
    toolsListRequests: backends.toolsListRequests,
    upstreamCredentials: options.upstreamCredentials ?? upstreamOAuth?.credentials ?? null,
    local: createGatewayLocalApp(
      mcpTokenRoutes({
        service: mcpTokens,
        audit,
        maxBodyBytes: config.maxBodyBytes,
      }),
      logger,
    ),
  });
  const oauth = config.oauth.enabled && config.publicUrl ? buildOAuth(config, config.publicUrl, { engine, facts, issuer, backends, logger, sessions: options.browserSessions ?? ui.sessions, clientDocumentsCa: options.clientDocumentsCa, uiAudit }) : undefined;
  const eventLoop = new EventLoopWatch().start();
  const readiness = new Readiness(backends.readiness, logger, { ...backends.liveness, event_loop: eventLoop });
  const appDeps: AppDeps = {
    decisions,
    audit,
    gateway: gatewayHandler,
    ui: ui.routes,
    discovery,
    ...(oauth ? { oauth } : {}),
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
    readiness,
    rateLimiter: backends.rateLimiter,
    trustedProxies: config.trustedProxies.trust,
  };
  return {
    config,
    app: createApp(appDeps),
    publicApp: createPublicApp(appDeps),
    internalApp: createInternalApp(appDeps),
    readiness,
    engine,
    decisions,
    facts,
    issuer,
    backends,
    metrics,
    upstreamOAuth,
    async close() {
      eventLoop.stop();
      engine.close();
      await backends.close();
    },
  };
}

/** The OAuth authorization server (docs/oauth.md): oidc-provider on the shared OAuth store, and the consent page. */
function buildOAuth(
  config: Config,
  publicUrl: string,
  deps: { engine: PolicyEngine; facts: CachedFacts; issuer: TokenIssuer; backends: Backends; logger: Logger; sessions: BrowserSessions; clientDocumentsCa: string | undefined; uiAudit: UiAudit },
): OAuthEndpoints {
  const { engine, facts, issuer, backends, logger } = deps;
  // Document fetches are counted against the address of the provider request that needs them.
  const requester = (): string | undefined => {
    const req = Provider.ctx?.req;
    return req ? limitedClient(clientAddress(req, config.trustedProxies.trust)) : undefined;
  };
  const clientDocuments = new ClientMetadataDocuments({
    allowLoopback: config.oauth.allowLoopbackClientIds,
    extraCa: deps.clientDocumentsCa,
    logger,
    fetchLimit: { limiter: backends.rateLimiter, perHour: config.oauth.documentFetchesPerHour, requester },
  });
  const accessTokens = new OAuthAccessTokenRecords({ issuer, store: backends.oauth, clientDocuments, publicUrl });
  const { factory } = oauthAdapter({ store: backends.oauth, accessTokens, clientDocuments });
  const provider = createOAuthProvider({ issuer: publicUrl, ...config.oauth, adapter: factory, facts, logger });
  const consent = consentHandler({ provider, sessions: deps.sessions, facts, engine, publicUrl, logger, audit: deps.uiAudit });
  return oauthEndpoints({
    issuer: publicUrl,
    provider,
    consent,
    registrations: { limiter: backends.rateLimiter, perHour: config.oauth.registrationsPerHour, trustedProxies: config.trustedProxies.trust },
    onError: (err, req, res) => writeRequestError(res, err, logger, { method: req.method ?? "", path: req.url ?? "" }),
    logger,
  });
}
