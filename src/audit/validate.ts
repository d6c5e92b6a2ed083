// Validation shared by every audit backend, called at the boundary: records on their way into a
// sink, filters on their way into a store. Failures throw StoreValidationError naming the field,
// as src/stores/validate.ts does.
import { checkUserId, fail, isPlainObject, isValidDate, object } from "../stores/validate.js";
import {
  AUDIT_QUERY_MAX_LIMIT,
  AUDIT_SOURCES,
  AUDIT_SUBJECT_TYPES,
  type AuditFilter,
  type AuditRecord,
} from "./types.js";

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** An HTTP method token (RFC 9110). */
const METHOD_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;
/** Whether `s` holds a control character (U+0000–U+001F, U+007F): a loop, cheaper than a regular expression per field. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
export const AUDIT_PATH_MAX = 4096;
/** Token ids; user ids follow the user-id alphabet (src/domain.ts). */
const ID_MAX = 256;
const ROUTE_MAX = 512;
const REASONS_MAX = 32;
const REASON_MAX = 128;
const CLASS_MAX = 32;
const CURSOR_MAX = 512;
/** Sources whose records are actions (admin, and a person's in the browser), carrying `action`. */
const ACTION_SOURCES: readonly unknown[] = ["admin", "cli", "ui"];
const ACTION_RE = /^[a-z]+(?:_[a-z]+)*\.[a-z]+(?:_[a-z]+)*$/;
const ACTION_MAX = 64;
const TARGET_MAX = 512;
/** Longer than any IPv6 address with a zone; a longer value (a client's X-Forwarded-For) is cut. */
export const CLIENT_ADDRESS_MAX = 64;
export const RETENTION_DAYS_MAX = 36_500;
export const USER_AGENT_MAX = 512;
const REVISION_MAX = 128;
/** The MCP message: method and tool names as the JSON-RPC reader caps them; ids and sessions cut here. */
export const MCP_NAME_MAX = 256;
export const MCP_URI_MAX = 4096;
export const MCP_ID_MAX = 256;
export const MCP_SESSION_MAX = 256;
/** The longest arguments' JSON text kept; a longer one is cut and marked arguments_truncated. */
export const AUDIT_MCP_ARGUMENTS_MAX = 8192;

function text(v: unknown, field: string, max: number): string {
  if (typeof v !== "string") fail(field, "must be a string");
  if (v.length < 1 || v.length > max) fail(field, `must be 1..${max} characters`);
  if (hasControl(v)) fail(field, "must not contain control characters");
  return v;
}

function nullableText(v: unknown, field: string, max: number): void {
  if (v !== null) text(v, field, max);
}

function integer(v: unknown, field: string, min: number, max: number): void {
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) fail(field, `must be an integer in ${min}..${max}`);
}

function oneOf(v: unknown, allowed: readonly string[], field: string): void {
  if (typeof v !== "string" || !allowed.includes(v)) fail(field, `must be one of ${allowed.join(", ")}`);
}

/**
 * The path as stored: without its query and fragment, control characters percent-encoded, at
 * most AUDIT_PATH_MAX characters. Whatever target a decision was about, its record is kept.
 */
function auditPath(path: string): string {
  return encodeControls(stripQuery(path)).slice(0, AUDIT_PATH_MAX);
}

function encodeControls(s: string): string {
  if (!hasControl(s)) return s;
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
}

/** A client-supplied text as stored: control characters percent-encoded, at most `max` characters. */
function clientText(v: string, max: number): string {
  return encodeControls(v).slice(0, max);
}

/** The User-Agent as stored: control characters percent-encoded, at most USER_AGENT_MAX characters; null when empty. */
export function auditUserAgent(v: string | null | undefined): string | null {
  return v ? clientText(v, USER_AGENT_MAX) : null;
}

/** The path without its query string and fragment: queries may carry secrets, so they never reach storage. */
export function stripQuery(path: string): string {
  const q = path.indexOf("?");
  const h = path.indexOf("#");
  const end = q === -1 ? h : h === -1 ? q : Math.min(q, h);
  return end === -1 ? path : path.slice(0, end);
}

const RECORD_FIELDS = [
  "decision_id",
  "time",
  "source",
  "subject_type",
  "user_id",
  "token_id",
  "method",
  "path",
  "route",
  "allow",
  "status",
  "reasons",
  "rate_limit",
  "upstream_status",
  "latency_ms",
  "action",
  "target",
  "client_address",
  "policy_revision",
  "user_agent",
  "mcp",
] as const;
/** Sources whose records may be about an MCP message (the Data API and admin actions never are). */
const MCP_SOURCES: readonly unknown[] = ["gateway", "authorize", "forward_auth", "ext_authz"];
const MCP_FIELDS = ["method", "tool", "uri", "id", "session_id", "arguments", "arguments_truncated"] as const;
const RATE_LIMIT_FIELDS = ["class", "limit", "remaining", "reset_s"] as const;

/** A record as stored: every field present and in range, path without a query, decision_id a lowercase UUID. */
export function validateAuditRecord(v: unknown): asserts v is AuditRecord {
  checkFields(object(v, "", RECORD_FIELDS, RECORD_FIELDS, "record"));
}

/** The fields of a record whose keys are known to be exactly RECORD_FIELDS. Hot path: no allocation unless it fails. */
function checkFields(r: Record<string, unknown>): asserts r is Record<string, unknown> & AuditRecord {
  if (typeof r.decision_id !== "string" || !UUID_RE.test(r.decision_id)) fail("decision_id", "must be a lowercase UUID");
  if (!isValidDate(r.time)) fail("time", "must be a valid Date");
  oneOf(r.source, AUDIT_SOURCES, "source");
  if (r.subject_type !== null) oneOf(r.subject_type, AUDIT_SUBJECT_TYPES, "subject_type");
  if (r.user_id !== null) checkUserId(r.user_id, "user_id");
  nullableText(r.token_id, "token_id", ID_MAX);
  if (typeof r.method !== "string" || !METHOD_RE.test(r.method)) fail("method", "must be an HTTP method token of 1..32 characters");
  // Empty when the target was only a query or a fragment.
  const path = r.path === "" ? "" : text(r.path, "path", AUDIT_PATH_MAX);
  if (path.includes("?") || path.includes("#")) fail("path", "must not contain a query string or fragment");
  nullableText(r.route, "route", ROUTE_MAX);
  if (typeof r.allow !== "boolean") fail("allow", "must be a boolean");
  integer(r.status, "status", 100, 599);
  const reasons = r.reasons;
  if (!Array.isArray(reasons)) fail("reasons", "must be an array");
  if (reasons.length > REASONS_MAX) fail("reasons", `must have at most ${REASONS_MAX} entries`);
  for (let i = 0; i < reasons.length; i++) {
    const reason: unknown = reasons[i];
    if (typeof reason !== "string" || reason.length < 1 || reason.length > REASON_MAX || hasControl(reason)) text(reason, `reasons[${i}]`, REASON_MAX);
  }
  if (r.rate_limit !== null) {
    const rl = object(r.rate_limit, "rate_limit", RATE_LIMIT_FIELDS, RATE_LIMIT_FIELDS, "rate_limit");
    text(rl.class, "rate_limit.class", CLASS_MAX);
    integer(rl.limit, "rate_limit.limit", 0, Number.MAX_SAFE_INTEGER);
    integer(rl.remaining, "rate_limit.remaining", 0, Number.MAX_SAFE_INTEGER);
    integer(rl.reset_s, "rate_limit.reset_s", 0, Number.MAX_SAFE_INTEGER);
  }
  if (r.upstream_status !== null) {
    if (r.source !== "gateway") fail("upstream_status", "must be null unless source is gateway");
    integer(r.upstream_status, "upstream_status", 100, 599);
  }
  if (typeof r.latency_ms !== "number" || !Number.isFinite(r.latency_ms) || r.latency_ms < 0) fail("latency_ms", "must be a finite number >= 0");
  if (ACTION_SOURCES.includes(r.source)) {
    if (typeof r.action !== "string" || r.action.length > ACTION_MAX || !ACTION_RE.test(r.action)) fail("action", "must be a dotted name such as token.revoke");
  } else if (r.action !== null) fail("action", "must be null unless source is admin, cli or ui");
  nullableText(r.target, "target", TARGET_MAX);
  nullableText(r.client_address, "client_address", CLIENT_ADDRESS_MAX);
  nullableText(r.policy_revision, "policy_revision", REVISION_MAX);
  nullableText(r.user_agent, "user_agent", USER_AGENT_MAX);
  if (r.mcp !== null) {
    if (!MCP_SOURCES.includes(r.source)) fail("mcp", "must be null unless source is gateway, authorize, forward_auth or ext_authz");
    checkMcp(r.mcp);
  }
}

/** A string of 0..max characters without control characters (a client may send an empty name). */
function mcpText(v: unknown, field: string, max: number): void {
  if (typeof v !== "string" || v.length > max || hasControl(v)) fail(field, `must be a string of at most ${max} characters without control characters`);
}

function checkMcp(v: unknown): void {
  const m = object(v, "mcp", MCP_FIELDS, MCP_FIELDS);
  mcpText(m.method, "mcp.method", MCP_NAME_MAX);
  if (m.tool !== null) mcpText(m.tool, "mcp.tool", MCP_NAME_MAX);
  if (m.uri !== null) mcpText(m.uri, "mcp.uri", MCP_URI_MAX);
  if (typeof m.id === "number") {
    if (!Number.isSafeInteger(m.id)) fail("mcp.id", "must be a string, a safe integer or null");
  } else if (m.id !== null) mcpText(m.id, "mcp.id", MCP_ID_MAX);
  if (m.session_id !== null) mcpText(m.session_id, "mcp.session_id", MCP_SESSION_MAX);
  if (m.arguments !== null) mcpText(m.arguments, "mcp.arguments", AUDIT_MCP_ARGUMENTS_MAX);
  if (typeof m.arguments_truncated !== "boolean") fail("mcp.arguments_truncated", "must be a boolean");
  if (m.arguments_truncated && m.arguments === null) fail("mcp.arguments_truncated", "must be false without arguments");
}

/** The MCP part as stored: what the client chose (names, id, session) with control characters percent-encoded and cut to size. */
function normalizeMcp(v: unknown): unknown {
  if (!isPlainObject(v)) return v;
  const str = (x: unknown, max: number): unknown => (typeof x === "string" ? clientText(x, max) : x);
  return {
    ...v,
    method: str(v.method, MCP_NAME_MAX),
    tool: str(v.tool, MCP_NAME_MAX),
    uri: str(v.uri, MCP_URI_MAX),
    id: str(v.id, MCP_ID_MAX),
    session_id: str(v.session_id, MCP_SESSION_MAX),
  };
}

/**
 * The boundary of every sink: a fresh copy of `v` with the path as auditPath() stores it,
 * decision_id lowercased, then
 * validated. Never aliases the caller's objects.
 */
export function normalizeAuditRecord(v: unknown): AuditRecord {
  const r = object(v, "", RECORD_FIELDS, RECORD_FIELDS, "record");
  const { decision_id, time, path, reasons, rate_limit } = r;
  const copy: Record<string, unknown> = {
    decision_id: typeof decision_id === "string" ? decision_id.toLowerCase() : decision_id,
    time: time instanceof Date ? new Date(time.getTime()) : time,
    source: r.source,
    subject_type: r.subject_type,
    user_id: r.user_id,
    token_id: r.token_id,
    method: r.method,
    path: typeof path === "string" ? auditPath(path) : path,
    route: r.route,
    allow: r.allow,
    status: r.status,
    reasons: Array.isArray(reasons) ? reasons.slice() : reasons,
    rate_limit: isPlainObject(rate_limit) ? { ...rate_limit } : rate_limit,
    upstream_status: r.upstream_status,
    latency_ms: r.latency_ms,
    action: r.action,
    target: r.target,
    // "" is what clientAddress() gives for a socket already closed: unknown, not invalid.
    client_address: typeof r.client_address === "string" ? r.client_address.slice(0, CLIENT_ADDRESS_MAX) || null : r.client_address,
    policy_revision: r.policy_revision,
    user_agent: typeof r.user_agent === "string" ? auditUserAgent(r.user_agent) : r.user_agent,
    mcp: normalizeMcp(r.mcp),
  };
  checkFields(copy);
  return copy;
}

/** A deep copy of a valid record (stores hand out copies, never their own state). */
export function copyAuditRecord(r: AuditRecord): AuditRecord {
  return { ...r, time: new Date(r.time.getTime()), reasons: [...r.reasons], rate_limit: r.rate_limit ? { ...r.rate_limit } : null, mcp: r.mcp ? { ...r.mcp } : null };
}

// ------------------------------------------------------------------------------------- order, cursor

/** A position in the newest-first order. */
export interface AuditPosition {
  time: number;
  id: string;
}

/** Newest first: time descending, then decision_id descending. The order of every backend. */
export function compareNewestFirst(a: AuditRecord, b: AuditRecord): number {
  const d = b.time.getTime() - a.time.getTime();
  return d !== 0 ? d : a.decision_id < b.decision_id ? 1 : a.decision_id > b.decision_id ? -1 : 0;
}

/** Whether `r` comes strictly after `p` in the newest-first order. */
export function isAfter(r: AuditRecord, p: AuditPosition): boolean {
  const t = r.time.getTime();
  return t < p.time || (t === p.time && r.decision_id < p.id);
}

/** Opaque to clients: base64url of [time ms, decision_id] of the last record of a page. */
export function encodeCursor(r: AuditRecord): string {
  return Buffer.from(JSON.stringify([r.time.getTime(), r.decision_id]), "utf8").toString("base64url");
}

const MAX_DATE_MS = 8.64e15;

const BAD_CURSOR = "is not a cursor this API returned";

export function decodeCursor(cursor: unknown): AuditPosition {
  if (typeof cursor !== "string" || cursor.length === 0 || cursor.length > CURSOR_MAX || !/^[A-Za-z0-9_-]+$/.test(cursor)) fail("cursor", BAD_CURSOR);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    fail("cursor", BAD_CURSOR);
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) fail("cursor", BAD_CURSOR);
  const [time, id] = parsed as unknown[];
  if (typeof time !== "number" || !Number.isInteger(time) || Math.abs(time) > MAX_DATE_MS) fail("cursor", BAD_CURSOR);
  if (typeof id !== "string" || !UUID_RE.test(id)) fail("cursor", BAD_CURSOR);
  return { time, id };
}

// ------------------------------------------------------------------------------------- filter, retention

/** A validated filter, cursor decoded. */
export type CheckedAuditFilter = Omit<AuditFilter, "cursor"> & { after?: AuditPosition };

const FILTER_FIELDS = ["user_id", "token_id", "since", "until", "allow", "source", "tool", "mcp_method", "limit", "cursor"] as const;

/**
 * Rejects what cannot be a filter: a non-string id (an object such as {$ne: null} must never reach
 * a MongoDB filter), a bad date, a limit out of 1..AUDIT_QUERY_MAX_LIMIT, a cursor we did not issue.
 */
export function checkAuditFilter(v: AuditFilter): CheckedAuditFilter {
  const f = object(v, "", FILTER_FIELDS, ["limit"], "filter");
  integer(f.limit, "limit", 1, AUDIT_QUERY_MAX_LIMIT);
  const out: CheckedAuditFilter = { limit: f.limit as number };
  if (f.user_id !== undefined) out.user_id = checkUserId(f.user_id, "user_id");
  if (f.token_id !== undefined) out.token_id = text(f.token_id, "token_id", ID_MAX);
  if (f.since !== undefined) {
    if (!isValidDate(f.since)) fail("since", "must be a valid Date");
    out.since = new Date(f.since.getTime());
  }
  if (f.until !== undefined) {
    if (!isValidDate(f.until)) fail("until", "must be a valid Date");
    out.until = new Date(f.until.getTime());
  }
  if (f.allow !== undefined) {
    if (typeof f.allow !== "boolean") fail("allow", "must be a boolean");
    out.allow = f.allow;
  }
  if (f.source !== undefined) {
    oneOf(f.source, AUDIT_SOURCES, "source");
    out.source = f.source as AuditFilter["source"];
  }
  if (f.tool !== undefined) out.tool = text(f.tool, "tool", MCP_NAME_MAX);
  if (f.mcp_method !== undefined) out.mcp_method = text(f.mcp_method, "mcp_method", MCP_NAME_MAX);
  if (f.cursor !== undefined) out.after = decodeCursor(f.cursor);
  return out;
}

export function checkRetentionDays(v: unknown, field = "retentionDays"): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || v > RETENTION_DAYS_MAX) fail(field, `must be a number of days in (0, ${RETENTION_DAYS_MAX}]`);
  return v;
}
