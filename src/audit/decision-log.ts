// One structured log line per decision, for a log shipper to take to a SIEM. A decorator of the
// audit sink: every decision's audit record passes here wherever it was built, so no caller can
// forget the line. Holds what the record holds (ids, the kind of credential), never a credential.
import type { AuditFilter, AuditPage, AuditRecord, AuditSink, AuditSource, AuditStore } from "./types.js";
import { auditUserAgent, stripQuery, AUDIT_PATH_MAX } from "./validate.js";

/** The `msg` of every decision line: what a shipper filters on. */
export const DECISION_LOG_MSG = "decision";

/** The records that are decisions; admin and CLI changes are not (they are in the audit trail). */
const DECISION_SOURCES: ReadonlySet<AuditSource> = new Set(["gateway", "authorize", "data_api", "forward_auth", "ext_authz"]);

/** Anything with a pino-style info (a pino Logger fits). */
export interface DecisionLogger {
  info(obj: object, msg: string): void;
  /** pino's: when info is off, the line's fields are not even built. */
  isLevelEnabled?(level: string): boolean;
}

/** The fields of a decision line, in a stable order (docs/operations.md lists them). */
export function decisionLogFields(r: AuditRecord): Record<string, unknown> {
  return {
    decision_id: r.decision_id,
    source: r.source,
    subject_type: r.subject_type,
    user_id: r.user_id,
    token_id: r.token_id,
    method: r.method,
    path: stripQuery(r.path).slice(0, AUDIT_PATH_MAX),
    route: r.route,
    allow: r.allow,
    status: r.status,
    reasons: r.reasons,
    upstream_status: r.upstream_status,
    rate_limit_remaining: r.rate_limit?.remaining ?? null,
    policy_revision: r.policy_revision,
    client_address: r.client_address,
    user_agent: auditUserAgent(r.user_agent),
    // What an MCP message called, never its arguments.
    mcp_method: r.mcp?.method ?? null,
    mcp_tool: r.mcp?.tool ?? null,
    latency_ms: r.latency_ms,
  };
}

/** The audit trail, with a log line (at info, msg "decision") for every decision recorded. */
export class DecisionLogAudit implements AuditSink, AuditStore {
  constructor(
    private readonly inner: AuditSink & AuditStore,
    private readonly logger: DecisionLogger,
  ) {}

  record(r: AuditRecord): void {
    try {
      if (DECISION_SOURCES.has(r.source) && (this.logger.isLevelEnabled?.("info") ?? true)) this.logger.info(decisionLogFields(r), DECISION_LOG_MSG);
    } catch {
      // a malformed record or a broken logger: the sink counts the first, nothing helps the second
    }
    this.inner.record(r);
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  query(filter: AuditFilter): Promise<AuditPage> {
    return this.inner.query(filter);
  }
}
