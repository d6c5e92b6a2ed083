// The one writer of error bodies and WWW-Authenticate challenges. It takes a plain node
// ServerResponse, so Express handlers (whose res is one) and a raw node:http dispatcher write
// errors alike. Codes, statuses and default messages come from the catalogue in src/errors.ts.
import type { ServerResponse } from "node:http";
import { ZodError } from "zod";
import { BACKEND_RETRY_AFTER_S, ERRORS, type ErrorCode, isUnavailable, RequestError } from "../errors.js";
import type { Logger } from "../log.js";
import { BATCH_REFUSAL_BODY, type JsonRpcId, type McpRefusal } from "../mcp/jsonrpc.js";
import { DuplicateError, NotFoundError, StoreValidationError } from "../stores/types.js";

/**
 * What a challenge says (RFC 6750 §3): nothing (no credential), a bad token, or too little scope:
 * an API token's read or write, or on a project's MCP endpoint the OAuth scopes to ask the user
 * for again (step-up).
 */
export type Challenge =
  | { error: null }
  | { error: "invalid_token"; reason: BadTokenReason }
  | { error: "insufficient_scope"; scope: "read" | "write" | typeof MCP_STEP_UP_SCOPE };

/** The scopes an OAuth client asks for again when its token lacks mcp:trigger. */
export const MCP_STEP_UP_SCOPE = "mcp:read mcp:trigger";

export type BadTokenReason = "invalid_token" | "expired_token" | "revoked_token";

/** The realm of every challenge for a decision; the admin API has its own. */
export const DECISION_REALM = "tollgate";
export const ADMIN_REALM = "tollgate-admin";

// Fixed texts: a challenge never carries anything the caller sent.
const BAD_TOKEN_DESCRIPTIONS: Record<BadTokenReason, string> = {
  invalid_token: "the access token is malformed, unknown or not valid here",
  expired_token: "the access token has expired",
  revoked_token: "the access token was revoked",
};

export function isBadTokenReason(reason: string): reason is BadTokenReason {
  return Object.hasOwn(BAD_TOKEN_DESCRIPTIONS, reason);
}

/**
 * RFC 9728 §5.1, on a 401 from a protected resource with discovery configured: where its
 * metadata is, and the scope to ask for. Built by Tollgate from its configuration (src/mcp/discovery.ts).
 */
export interface ResourceHint {
  metadataUrl: string;
  scope: string;
}

/** The one formatter of every WWW-Authenticate value Tollgate sends. */
export function bearerChallenge(realm: string, challenge: Challenge, resource: ResourceHint | null = null): string {
  const params = [`realm="${realm}"`];
  if (challenge.error === "invalid_token") params.push('error="invalid_token"', `error_description="${BAD_TOKEN_DESCRIPTIONS[challenge.reason]}"`);
  if (challenge.error === "insufficient_scope") {
    params.push('error="insufficient_scope"', `scope="${challenge.scope}"`);
    // MCP authorization, step-up: where the resource's metadata is, so the client can ask again.
    if (resource && challenge.scope === MCP_STEP_UP_SCOPE) params.push(`resource_metadata="${resource.metadataUrl}"`);
  } else if (resource) params.push(`resource_metadata="${resource.metadataUrl}"`, `scope="${resource.scope}"`);
  return `Bearer ${params.join(", ")}`;
}

/** An error answer: the code fixes the status; the rest is optional. */
export interface ErrorReply {
  code: ErrorCode;
  /** For people; the catalogue's when absent. Only Tollgate's own fixed or client-derived text. */
  message?: string;
  /** The field at fault, as a dotted path. */
  field?: string;
  /** Sets WWW-Authenticate. */
  challenge?: { realm: string; says: Challenge };
  /** Sets Retry-After, in whole seconds (at least 1). */
  retryAfterS?: number;
  /** The gateway's own errors name the decision that let the request through. */
  decisionId?: string;
  /** upstream_not_connected: where the user connects their account (top-level `connect_url`). */
  connectUrl?: string;
}

/** The error code each answer written here carried (not a decision's denial). */
const answeredCodes = new WeakMap<ServerResponse, string>();

/** The error code this response was answered with by writeError or writeOpaError; null otherwise. */
export function errorCodeOf(res: ServerResponse): string | null {
  return answeredCodes.get(res) ?? null;
}

/** `{"error":{"code","message","field"?},"decision_id"?}` with the code's status. */
export function writeError(res: ServerResponse, reply: ErrorReply): void {
  const { code, field, decisionId, connectUrl } = reply;
  answeredCodes.set(res, code);
  if (reply.challenge) res.setHeader("WWW-Authenticate", bearerChallenge(reply.challenge.realm, reply.challenge.says));
  if (reply.retryAfterS !== undefined) res.setHeader("Retry-After", String(Math.max(1, Math.ceil(reply.retryAfterS))));
  const error = { code, message: reply.message ?? ERRORS[code].message, ...(field ? { field } : {}) };
  writeJson(res, ERRORS[code].status, { error, ...(connectUrl === undefined ? {} : { connect_url: connectUrl }), ...(decisionId === undefined ? {} : { decision_id: decisionId }) });
}

/**
 * The authorization server's refusal when a backend it needs is unavailable, in OAuth's error
 * shape (RFC 6749 §5.2, RFC 7591 §3.2.2): 503 `{"error":"temporarily_unavailable","error_description"}`
 * with Retry-After. oidc-provider's own endpoints answer the same body (src/oauth/store-outage.ts).
 */
export function writeOAuthUnavailable(res: ServerResponse): void {
  answeredCodes.set(res, "backend_unavailable");
  res.setHeader("Retry-After", String(BACKEND_RETRY_AFTER_S));
  res.setHeader("Cache-Control", "no-store");
  writeJson(res, ERRORS.backend_unavailable.status, { error: "temporarily_unavailable", error_description: ERRORS.backend_unavailable.message });
}

/** OPA's error shape `{"code","message"}`, on the Data API only, so OPA clients read it as OPA's. */
export function writeOpaError(res: ServerResponse, code: "invalid_parameter" | "internal_error", message: string = ERRORS[code].message): void {
  answeredCodes.set(res, code);
  writeJson(res, ERRORS[code].status, { code, message });
}

/** What a decision's denial needs: its status and reasons, and the access its route needs. */
export interface Denial {
  status: number;
  reasons: string[];
  access: "read" | "write" | null;
  decision_id: string;
}

/**
 * The challenge a decision calls for: every 401, and a 403 for too little token scope. Role and
 * grant denials get none: clients answer insufficient_scope by re-authorising (step-up), so it is
 * sent on the MCP endpoint only when the policy says asking the user again can help: an OAuth
 * token refused nothing but the mcp:trigger scope (trigger_scope_missing).
 */
export function decisionChallenge(denial: Denial): Challenge | null {
  if (denial.status === 401) {
    if (denial.reasons.includes("missing_token")) return { error: null };
    return { error: "invalid_token", reason: denial.reasons.find(isBadTokenReason) ?? "invalid_token" };
  }
  if (denial.status === 403 && denial.reasons.length === 1 && denial.reasons[0] === "trigger_scope_missing") {
    return { error: "insufficient_scope", scope: MCP_STEP_UP_SCOPE };
  }
  if (denial.status === 403 && denial.reasons.includes("insufficient_scope") && denial.access !== null) {
    return { error: "insufficient_scope", scope: denial.access };
  }
  return null;
}

/**
 * A denial, the same for the gateway and forward auth: its challenge and
 * `{"error":{"code","message","reasons"},"decision_id"}` with the decision's status, `code` its
 * first reason (the policy's reason codes, docs/policy.md). `resource`: a project's MCP endpoint
 * with discovery configured (a 401's challenge names its metadata).
 */
export function writeDenial(res: ServerResponse, denial: Denial, resource: ResourceHint | null = null): void {
  const challenge = decisionChallenge(denial);
  if (challenge) res.setHeader("WWW-Authenticate", bearerChallenge(DECISION_REALM, challenge, resource));
  writeJson(res, denial.status, {
    error: { code: denial.reasons[0] ?? "denied", message: denialMessage(denial), reasons: denial.reasons },
    decision_id: denial.decision_id,
  });
}

function denialMessage(denial: Denial): string {
  switch (denial.status) {
    case 400:
      return "the request path is not valid";
    case 401:
      return ERRORS.missing_token.message;
    case 404:
      return "no such MCP session: open a new one";
    case 429:
      return ERRORS.rate_limited.message;
    case 503:
      return ERRORS.backend_unavailable.message;
    default:
      return `denied: ${denial.reasons.join(", ")}`;
  }
}

// ---------------------------------------------------------------------------- JSON-RPC
// A project's MCP endpoint answers a POST's refusal or denial as a JSON-RPC error with the same
// HTTP status, so MCP clients read it as the answer to their request.

/** JSON-RPC error codes of a denial, by the decision's HTTP status (404: the MCP SDKs' "session not found"). */
const JSON_RPC_DENIAL_CODES: Record<number, number> = { 403: -32003, 404: -32001, 429: -32029 };
/** Any other denial (401, 500, 503): JSON-RPC's range for implementation-defined server errors. */
const JSON_RPC_OTHER_DENIAL = -32000;

function jsonRpcError(id: JsonRpcId, code: number, message: string, data?: Record<string, unknown>): Record<string, unknown> {
  return { jsonrpc: "2.0", id, error: { code, message, ...(data ? { data } : {}) } };
}

/**
 * A denied MCP message: the decision's status and challenge (and Retry-After, set with the
 * decision's headers), and a JSON-RPC error whose `data` carries the reasons and decision id.
 */
export function writeJsonRpcDenial(res: ServerResponse, denial: Denial, id: JsonRpcId, resource: ResourceHint | null = null): void {
  const challenge = decisionChallenge(denial);
  if (challenge) res.setHeader("WWW-Authenticate", bearerChallenge(DECISION_REALM, challenge, resource));
  const code = JSON_RPC_DENIAL_CODES[denial.status] ?? JSON_RPC_OTHER_DENIAL;
  writeJson(res, denial.status, jsonRpcError(id, code, denialMessage(denial), { reasons: denial.reasons, decision_id: denial.decision_id }));
}

/**
 * One of Tollgate's own errors on a project's MCP endpoint: the catalogue's status and message, a
 * JSON-RPC error (-32003 for a 403, else -32000) whose `data` carries the code and decision id.
 */
export function writeJsonRpcError(res: ServerResponse, reply: { code: ErrorCode; message?: string; decisionId: string }, id: JsonRpcId): void {
  answeredCodes.set(res, reply.code);
  const status = ERRORS[reply.code].status;
  writeJson(res, status, jsonRpcError(id, JSON_RPC_DENIAL_CODES[status] ?? JSON_RPC_OTHER_DENIAL, reply.message ?? ERRORS[reply.code].message, { reasons: [reply.code], decision_id: reply.decisionId }));
}

/** MCP 2025-11-25: the error asking the client to open a URL for the user (URL mode elicitation). */
export const JSON_RPC_URL_ELICITATION_REQUIRED = -32042;

export interface UrlElicitation {
  elicitationId: string;
  url: string;
  message: string;
}

/**
 * upstream_not_connected on a project's MCP endpoint: HTTP 200 with JSON-RPC error -32042, so the
 * client shows the user the connect URL and retries (never a 401, which an MCP client reads as
 * "your Tollgate token is bad" and re-authorises in a loop). `data.elicitations[0]` is
 * `{mode:"url", elicitationId, url, message}`; the request's id is echoed.
 */
export function writeUrlElicitationRequired(res: ServerResponse, id: JsonRpcId, elicitation: UrlElicitation, decisionId: string): void {
  answeredCodes.set(res, "upstream_not_connected");
  writeJson(
    res,
    200,
    jsonRpcError(id, JSON_RPC_URL_ELICITATION_REQUIRED, elicitation.message, {
      elicitations: [{ mode: "url", elicitationId: elicitation.elicitationId, url: elicitation.url, message: elicitation.message }],
      reasons: ["upstream_not_connected"],
      decision_id: decisionId,
    }),
  );
}

/** A message refused before the policy: the catalogue's status; a batch gets exactly BATCH_REFUSAL_BODY. */
export function writeJsonRpcRefusal(res: ServerResponse, refusal: McpRefusal): void {
  const status = ERRORS[refusal.reason].status;
  if (refusal.reason === "batch_not_supported") {
    res.statusCode = status;
    res.setHeader("Content-Type", "application/json; charset=utf-8");
    res.setHeader("Content-Length", Buffer.byteLength(BATCH_REFUSAL_BODY));
    res.end(BATCH_REFUSAL_BODY);
    return;
  }
  writeJson(res, status, jsonRpcError(refusal.id, refusal.code, refusal.message, { reasons: [refusal.reason] }));
}

/**
 * The answer to a thrown error Tollgate knows: its own, a zod validation error at a boundary,
 * the stores' errors, an unavailable backend, an undecodable path segment. Null for anything
 * else, which is answered as a bare internal_error.
 */
export function replyFor(err: unknown): ErrorReply | null {
  if (err instanceof RequestError) {
    return { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}), ...(err.retryAfterS !== undefined ? { retryAfterS: err.retryAfterS } : {}) };
  }
  if (err instanceof ZodError) {
    const issue = err.issues[0]!;
    const field = issue.path.join(".") || undefined;
    return { code: "invalid_request", message: field ? `${field}: ${issue.message}` : issue.message, ...(field ? { field } : {}) };
  }
  if (err instanceof StoreValidationError) return { code: "invalid_request", message: err.message, field: err.field };
  if (err instanceof NotFoundError) return { code: "not_found", message: err.message };
  if (err instanceof DuplicateError) return { code: "conflict", message: err.message, ...(err.field ? { field: err.field } : {}) };
  if (isUnavailable(err)) return { code: "backend_unavailable", retryAfterS: BACKEND_RETRY_AFTER_S };
  // The router could not percent-decode a path parameter (e.g. /v1/admin/users/a%zz).
  if (err instanceof URIError) return { code: "invalid_request", message: "a path segment is not valid percent-encoding" };
  return null;
}

/**
 * Answers any thrown error: a known one as replyFor says, anything else a generic 500 whose
 * details go only to the log. After the head has gone out, the connection is cut instead.
 */
export function writeCaught(res: ServerResponse, err: unknown, logger: Logger, where: { method?: string; path: string }): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const reply = replyFor(err);
  if (reply?.code === "backend_unavailable") logger.error({ err: String(err), path: where.path }, "backend unavailable");
  if (!reply) logger.error({ err, ...where }, "unhandled error");
  writeError(res, reply ?? { code: "internal_error" });
}

function writeJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(body);
}
