import { Router, type NextFunction, type Request, type Response } from "express";
import { writeDenial, writeError } from "../api/error-writer.js";
import { auditRecordFromDecision } from "../audit/record.js";
import type { AuditSink } from "../audit/types.js";
import type { Authorizer, Decision } from "../decision/authorizer.js";
import { clientAddress, peerIsTrusted, type TrustedProxies } from "../http/client-address.js";
import { setDecisionHeaders } from "../http/decision-headers.js";
import type { SubjectFact } from "../policy/types.js";
import { upstreamProxy, type UpstreamOptions } from "./proxy.js";
import { skipBody } from "./request-body.js";

export interface GatewayOptions {
  authorizer: Authorizer;
  /** url null: allowed requests for the upstream answer 503 upstream_not_configured. */
  upstream: UpstreamOptions;
  rateLimitWindowMs: number;
  audit: AuditSink;
  /** TOLLGATE_TRUSTED_PROXIES: whose X-Forwarded-* the upstream is passed, and who the client is for the audit record. */
  trustedProxies: TrustedProxies;
  /** Routes Tollgate answers itself (MCP token self-service); reached only when allowed. */
  local: Router;
}

/** What a locally answered route learns from the gateway's decision. */
export interface GatewayLocals {
  decision: Decision;
  subject: SubjectFact | null;
}

/**
 * Every request under /api/ passes the same pipeline as a decision: authenticate, rate limit,
 * project and trigger access (all in the policy), then the upstream or a local route, then audit.
 * A denied request never reaches the upstream.
 */
export function gateway(options: GatewayOptions): Router {
  const router = Router();
  const windowS = Math.round(options.rateLimitWindowMs / 1000);
  const { url } = options.upstream;
  const forward = url ? upstreamProxy({ ...options.upstream, url }) : null;

  router.use(async (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    // Read now: once the client has gone (before the audit record is written) its address is too.
    const client_address = clientAddress(req, options.trustedProxies);
    const authorized = await options.authorizer.authorizeWithFacts({
      method: req.method,
      path: req.originalUrl,
      authorization: req.headers.authorization ?? null,
    });
    const { decision, subject } = authorized;
    setDecisionHeaders(res, authorized, windowS);
    const time = new Date();
    // `status` is the decision's; what answered the allowed request is in upstream_status
    // (the upstream's status, or a local route's; null when the upstream was not reached).
    const audit = (upstreamStatus: number | null): void =>
      options.audit.record(
        auditRecordFromDecision(decision, {
          source: "gateway",
          method: req.method,
          path: req.originalUrl,
          time,
          latency_ms: Number(process.hrtime.bigint() - started) / 1e6,
          upstream_status: upstreamStatus,
          client_address,
          user_agent: req.headers["user-agent"] ?? null,
        }),
      );

    if (!decision.allow) {
      skipBody(req, res);
      writeDenial(res, decision);
      audit(null);
      return;
    }
    if (authorized.namespace === "mcp_tokens") {
      res.locals.gateway = { decision, subject } satisfies GatewayLocals;
      res.on("finish", () => audit(res.statusCode));
      return next();
    }
    if (!forward) {
      skipBody(req, res);
      writeError(res, { code: "upstream_not_configured", decisionId: decision.decision_id });
      audit(null);
      return;
    }
    const peer = { address: req.socket.remoteAddress, trusted: peerIsTrusted(req, options.trustedProxies) };
    const outcome = await forward(req, res, req.originalUrl, authorized, peer);
    audit(outcome.upstreamStatus);
  });
  router.use(options.local);
  return router;
}
