// The audit trail: one record per gateway request, per decision-endpoint call and per change made
// (or refused) through the admin API or the CLI.
// Writing (AuditSink) is fire-and-forget on the hot path; reading (AuditStore) serves the admin
// API and the MCP token owner's view. Backends: memory.ts, mongo/. Both validate with validate.ts.
import type { Pruner } from "../stores/types.js";

/** ui: what a signed-in person did in the browser pages (ui.ts). */
export const AUDIT_SOURCES = ["gateway", "authorize", "data_api", "forward_auth", "ext_authz", "admin", "cli", "ui"] as const;
export type AuditSource = (typeof AUDIT_SOURCES)[number];

/** admin_token: the operator's TOLLGATE_ADMIN_TOKEN, on admin API records. */
export const AUDIT_SUBJECT_TYPES = ["user", "global_token", "project_token", "mcp_token", "admin_token"] as const;
export type AuditSubjectType = (typeof AUDIT_SUBJECT_TYPES)[number];

export interface AuditRateLimit {
  class: string;
  limit: number;
  remaining: number;
  reset_s: number;
}

/**
 * What an audit record holds of one JSON-RPC message to a project's MCP endpoint. Never the
 * message's arguments unless TOLLGATE_AUDIT_MCP_ARGUMENTS=true, and then redacted.
 */
export interface AuditMcp {
  /** The JSON-RPC method ("rpc.response" for a response to a request of the server). */
  method: string;
  /** tools/call's params.name; null otherwise. */
  tool: string | null;
  /** resources/read's params.uri; null otherwise. */
  uri: string | null;
  /** The JSON-RPC id; null for a notification, and where the body is not seen (forward auth, ext-authz, /v1/authorize). */
  id: string | number | null;
  /** The Mcp-Session-Id header as presented (control characters percent-encoded, cut at 256 characters); null when absent. */
  session_id: string | null;
  /** TOLLGATE_AUDIT_MCP_ARGUMENTS=true only: params.arguments as JSON text, values of secret-named keys redacted; else null. */
  arguments: string | null;
  /** The arguments' JSON text was longer than AUDIT_MCP_ARGUMENTS_MAX and is cut (no longer JSON). */
  arguments_truncated: boolean;
}

export interface AuditRecord {
  /** Also the record's id: a UUID (stored lowercase). */
  decision_id: string;
  time: Date;
  source: AuditSource;
  /** Never a secret: the kind of credential, not the credential. */
  subject_type: AuditSubjectType | null;
  user_id: string | null;
  token_id: string | null;
  method: string;
  /** Without the query string or fragment (queries may carry secrets): the sink strips them. */
  path: string;
  route: string | null;
  allow: boolean;
  /** The decision's status. */
  status: number;
  reasons: string[];
  rate_limit: AuditRateLimit | null;
  /** Gateway only (null elsewhere, and when the upstream was not reached). */
  upstream_status: number | null;
  /** Total time Tollgate spent, including the upstream for the gateway. */
  latency_ms: number;
  /** Admin, CLI and ui records only (null elsewhere): what was done, e.g. "token.revoke". */
  action: string | null;
  /** What the action was done to, e.g. "token:tok_…" or "project:p/collaborator:bob"; null when nothing was. */
  target: string | null;
  /** The client's address (the last untrusted hop, see TOLLGATE_TRUSTED_PROXIES); null for the CLI. */
  client_address: string | null;
  /** The revision (`sha256:…`) of the policy that decided; null for admin and CLI records. */
  policy_revision: string | null;
  /** The request's User-Agent (control characters percent-encoded, cut at 512 characters); null when absent and for the CLI. */
  user_agent: string | null;
  /** A message to a project's MCP endpoint (gateway, forward auth, ext-authz, /v1/authorize with `mcp`); null otherwise. */
  mcp: AuditMcp | null;
}

/** The write side, used on the hot path. */
export interface AuditSink {
  /**
   * Synchronous, never throws, never awaits I/O. The record is copied (the caller may reuse it);
   * an invalid record is dropped and counted ("invalid"), never thrown.
   */
  record(r: AuditRecord): void;
  /** Writes what is queued now (tests, shutdown). Never rejects. */
  flush(): Promise<void>;
  /** Flushes (bounded in time) and stops the timers. Never rejects. */
  close(): Promise<void>;
}

export interface AuditFilter {
  user_id?: string;
  token_id?: string;
  /** Inclusive: time >= since. */
  since?: Date;
  /** Exclusive: time < until. */
  until?: Date;
  allow?: boolean;
  source?: AuditSource;
  /** Records of MCP messages calling this tool (mcp.tool). */
  tool?: string;
  /** Records of MCP messages of this JSON-RPC method (mcp.method). */
  mcp_method?: string;
  /** 1..AUDIT_QUERY_MAX_LIMIT. */
  limit: number;
  /** next_cursor of the previous page (same filter). */
  cursor?: string;
}

export interface AuditPage {
  records: AuditRecord[];
  /** null on the last page. */
  next_cursor: string | null;
}

/** The read side. */
export interface AuditStore {
  /**
   * Newest first (time desc, then decision_id desc), never older than the retention. Invalid
   * filter → StoreValidationError naming the field (e.g. "cursor"); backend down →
   * BackendUnavailableError.
   */
  query(filter: AuditFilter): Promise<AuditPage>;
}

/** Why records were lost: the queue (or ring) was full, the backend refused or was unreachable, or the record was malformed. */
export type AuditDropReason = "queue_full" | "write_failed" | "invalid";

export interface AuditCounters {
  written(n: number): void;
  dropped(n: number, why: AuditDropReason): void;
}

/** Anything with a pino-style warn (a pino Logger fits). */
export interface AuditLogger {
  warn(obj: object, msg: string): void;
}

/** Deletes records older than the retention; idempotent. Returns how many were deleted. */
export type AuditPruner = Pruner;

export const DEFAULT_RETENTION_DAYS = 30;
export const AUDIT_QUERY_DEFAULT_LIMIT = 100;
export const AUDIT_QUERY_MAX_LIMIT = 1000;
const DAY_MS = 86_400_000;

/** The oldest time a query may return, given the retention. */
export function retentionCutoff(now: Date, retentionDays: number): Date {
  return new Date(now.getTime() - retentionDays * DAY_MS);
}
