import { readFileSync } from "node:fs";
import express, { type Express, type Router } from "express";
import type { AuditSink, AuditStore } from "../audit/types.js";
import { auditRoutes } from "./audit-routes.js";
import type { Authorizer } from "../decision/authorizer.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { packageFile } from "../package-root.js";
import { adminRoutes, type AdminDeps } from "./admin-routes.js";
import { decisionRoutes } from "./decision-routes.js";
import { errorHandler, notFound } from "./errors.js";
import { requestLimits } from "./request-limits.js";

export type ReadinessCheck = () => Promise<void>;

export interface AppDeps extends AdminDeps {
  authorizer: Authorizer;
  audit: AuditSink & AuditStore;
  /** The /api/ gateway, with its local MCP token routes. */
  gateway: Router;
  metrics: Metrics;
  logger: Logger;
  /** Named checks for /readyz: each resolves when its dependency answers. */
  readiness: Record<string, ReadinessCheck>;
  rateLimitWindowMs: number;
  /** TOLLGATE_MAX_HEADER_FIELDS. */
  maxHeaderFields: number;
}

const OPENAPI = packageFile("docs/openapi.json");

/** The Express adapter: routing, body limits and error mapping around the framework-free core. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("query parser", "simple");
  app.use(requestLimits(deps.maxHeaderFields));

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    const checks: Record<string, string> = { policy: deps.engine.revision };
    let ready = true;
    await Promise.all(
      Object.entries(deps.readiness).map(async ([name, check]) => {
        try {
          await withTimeout(check(), 2000);
          checks[name] = "ok";
        } catch (err) {
          ready = false;
          checks[name] = `unavailable: ${err instanceof Error ? err.message : String(err)}`;
        }
      }),
    );
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "not_ready", checks });
  });
  app.get("/metrics", async (_req, res) => {
    res.set("Content-Type", deps.metrics.registry.contentType);
    res.send(await deps.metrics.registry.metrics());
  });
  let openapi: string | undefined;
  app.get("/openapi.json", (_req, res) => {
    openapi ??= readFileSync(OPENAPI, "utf8");
    res.type("application/json").send(openapi);
  });

  app.use("/api", deps.gateway);
  app.use(decisionRoutes(deps.authorizer, deps.audit, deps.maxBodyBytes, deps.rateLimitWindowMs, deps.logger));
  app.use(adminRoutes(deps));
  app.use(auditRoutes(deps.audit));
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}
