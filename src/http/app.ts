import { readFileSync } from "node:fs";
import express, { type Express, type Router } from "express";
import type { AuditSink, AuditStore } from "../audit/types.js";
import { traceRequests, tracingEnabled } from "../tracing.js";
import { auditRoutes } from "./audit-routes.js";
import type { DecisionService } from "../decision/service.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { packageFile } from "../package-root.js";
import { adminRoutes, type AdminDeps } from "./admin-routes.js";
import type { Gateway } from "../gateway/gateway.js";
import type { OAuthEndpoints } from "../oauth/http.js";
import { decisionEndpoints, type DecisionEndpoints } from "./decision-endpoints.js";
import { dispatcher, type Dispatcher, type HotPaths } from "./dispatcher.js";
import type { McpDiscovery } from "../mcp/discovery.js";
import { protectedResourceEndpoint } from "./protected-resource.js";
import { writeError } from "../api/error-writer.js";
import { errorHandler, notFound } from "./errors.js";
import { readinessHttpStatus, type Readiness } from "./readiness.js";
import { requestLimits } from "./request-limits.js";

export interface AppDeps extends AdminDeps {
  decisions: DecisionService;
  audit: AuditSink & AuditStore;
  /** The /api/ gateway, with its local MCP token routes. */
  gateway: Gateway;
  /** RFC 9728 discovery for the MCP endpoints (served beside the gateway); null: not configured. */
  discovery: McpDiscovery | null;
  /** Tollgate as its MCP endpoints' OAuth authorization server, with its consent page (public port). */
  oauth?: OAuthEndpoints;
  metrics: Metrics;
  logger: Logger;
  readiness: Readiness;
  rateLimitWindowMs: number;
  /** TOLLGATE_MAX_HEADER_FIELDS. */
  maxHeaderFields: number;
  /** The browser pages: /ui/… and /oauth/callback (src/ui/). */
  ui: Router;
}

const OPENAPI = packageFile("docs/openapi.json");

/**
 * What only the operator's proxy, services and monitoring may reach: the decision endpoints
 * (they judge a credential without authenticating their caller), the admin API and operations.
 */
function internalRoutes(deps: AppDeps): Router {
  const router = express.Router();
  router.get("/healthz", (_req, res) => {
    const report = deps.readiness.liveness();
    res.status(report.status === "ok" ? 200 : 503).json(report);
  });
  router.get("/readyz", async (_req, res) => {
    const report = await deps.readiness.report();
    res.status(readinessHttpStatus(report.status)).json({ status: report.status, policy_revision: deps.engine.revision, checks: report.checks });
  });
  router.get("/metrics", async (_req, res) => {
    let text: string;
    try {
      text = await deps.metrics.exposition();
    } catch (err) {
      // With workers: one did not send its metrics in time; a partial sum would look like a counter reset.
      deps.logger.warn({ err: String(err) }, "metrics scrape failed");
      return writeError(res, { code: "metrics_unavailable" });
    }
    res.set("Content-Type", deps.metrics.registry.contentType);
    res.send(text);
  });
  let openapi: string | undefined;
  router.get("/openapi.json", (_req, res) => {
    openapi ??= readFileSync(OPENAPI, "utf8");
    res.type("application/json").send(openapi);
  });
  router.use(adminRoutes(deps));
  router.use(auditRoutes(deps.audit));
  return router;
}

function endpointsOf(deps: AppDeps): DecisionEndpoints {
  return decisionEndpoints({
    decisions: deps.decisions,
    maxBodyBytes: deps.maxBodyBytes,
    rateLimitWindowMs: deps.rateLimitWindowMs,
    trustedProxies: deps.trustedProxies,
    logger: deps.logger,
    discovery: deps.discovery,
  });
}

/**
 * One port for everything (TOLLGATE_INTERNAL_PORT unset, as `make run` does): the hot paths on
 * node:http (the gateway and the decision endpoints), the rest on Express.
 */
export function createApp(deps: AppDeps): Dispatcher {
  return dispatcher({ decisions: endpointsOf(deps), ...gatewayOf(deps) }, assemble(deps, deps.ui, internalRoutes(deps)), deps);
}

/**
 * The client-facing port when TOLLGATE_INTERNAL_PORT is set: the /api/ gateway and the browser
 * pages (/ui/, /oauth/callback); everything else is 404 here, but for the MCP endpoints'
 * /.well-known/oauth-protected-resource/… metadata and, when Tollgate is the authorization
 * server, /.well-known/oauth-authorization-server, the rest of /oauth/ and /ui/consent.
 */
export function createPublicApp(deps: AppDeps): Dispatcher {
  return dispatcher(gatewayOf(deps), assemble(deps, deps.ui), deps);
}

/** The gateway and, beside it, the metadata of the MCP endpoints it guards. */
function gatewayOf(deps: AppDeps): Pick<HotPaths, "gateway" | "protectedResource" | "oauth"> {
  return {
    gateway: deps.gateway,
    ...(deps.discovery ? { protectedResource: protectedResourceEndpoint(deps.discovery) } : {}),
    ...(deps.oauth ? { oauth: deps.oauth } : {}),
  };
}

/** The internal port (TOLLGATE_INTERNAL_PORT): decision endpoints, admin API, operations. */
export function createInternalApp(deps: AppDeps): Dispatcher {
  return dispatcher({ decisions: endpointsOf(deps) }, assemble(deps, internalRoutes(deps)), deps);
}

/** The gateway's local routes (MCP token self-service under /api/), reached once the gateway allowed the request. */
export function createGatewayLocalApp(routes: Router, logger: Logger): Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("query parser", "simple");
  app.use("/api", routes);
  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}

/** The Express adapter around the framework-free core: settings, the given routes, 404 and error mapping. */
function assemble(deps: AppDeps, ...routers: Router[]): Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("query parser", "simple");
  // With an SDK registered (OTEL_EXPORTER_OTLP_ENDPOINT): a server span per request.
  if (tracingEnabled()) app.use(traceRequests());
  app.use(requestLimits(deps.maxHeaderFields));
  for (const router of routers) app.use(router);
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
