import type { Decision } from "../decision/service.js";
import type { AuditMcp, AuditRecord, AuditSource } from "./types.js";
import { stripQuery } from "./validate.js";

export interface AuditContext {
  source: AuditSource;
  method: string;
  /** The request target as received; the query string is stripped here (and again by every sink). */
  path: string;
  /** When the request arrived. */
  time: Date;
  latency_ms: number;
  /** Gateway only; null when the upstream was not reached. */
  upstream_status?: number | null;
  /** clientAddress(req, TOLLGATE_TRUSTED_PROXIES): the caller, or the client behind a trusted proxy. */
  client_address: string;
  /** The request's User-Agent header; absent → null. */
  user_agent?: string | null;
  /** Overrides the decision's status (e.g. the gateway's final response status). Default: decision.status. */
  status?: number;
  /** The MCP message the decision was about; absent → null. */
  mcp?: AuditMcp | null;
}

/** The audit record of one decision. Carries ids and the kind of credential, never the credential. */
export function auditRecordFromDecision(decision: Decision, ctx: AuditContext): AuditRecord {
  const subject = decision.subject;
  return {
    decision_id: decision.decision_id,
    time: ctx.time,
    source: ctx.source,
    subject_type: subject?.type ?? null,
    user_id: subject?.user_id ?? null,
    token_id: subject?.token_id ?? null,
    method: ctx.method,
    path: stripQuery(ctx.path),
    route: decision.route,
    allow: decision.allow,
    status: ctx.status ?? decision.status,
    reasons: [...decision.reasons],
    rate_limit: decision.rate_limit ? { ...decision.rate_limit } : null,
    upstream_status: ctx.upstream_status ?? null,
    latency_ms: ctx.latency_ms,
    action: null,
    target: null,
    client_address: ctx.client_address,
    policy_revision: decision.policy_revision,
    user_agent: ctx.user_agent ?? null,
    mcp: ctx.mcp ?? null,
  };
}
