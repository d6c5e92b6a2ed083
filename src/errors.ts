import { BackendUnavailableError } from "./stores/types.js";

/**
 * Every error code Tollgate answers with itself, one row each: the HTTP status and the message
 * sent when the thrower gives no more precise one. Callers switch on `code`, never on a message;
 * docs/api.md (Errors) lists every code, and a test keeps the two in step. Denials decided by the
 * policy carry its reason codes instead (docs/policy.md).
 */
export const ERRORS = {
  invalid_request: { status: 400, message: "the request is not valid" },
  malformed_json: { status: 400, message: "the request body is not valid JSON" },
  // A project's MCP endpoint: the one JSON-RPC message of a POST, refused before the policy.
  invalid_encoding: { status: 400, message: "the body is not UTF-8" },
  duplicate_member: { status: 400, message: "a member name appears twice in one object" },
  invalid_jsonrpc: { status: 400, message: "not a JSON-RPC 2.0 message" },
  batch_not_supported: { status: 400, message: "batches are not supported" },
  mcp_header_mismatch: { status: 400, message: "Mcp-Method and Mcp-Name must equal the body's method and params.name or params.uri" },
  /** OPA's code, in OPA's body shape, on the Data API only. */
  invalid_parameter: { status: 400, message: "the request is not a valid query" },
  unknown_project: { status: 400, message: "no such project" },
  unknown_user: { status: 400, message: "no such user" },
  missing_token: { status: 401, message: "authentication required: send a valid bearer token" },
  invalid_token: { status: 401, message: "the credential is not valid" },
  expired_token: { status: 401, message: "the credential has expired" },
  revoked_token: { status: 401, message: "the credential was revoked" },
  token_not_allowed_on_path: { status: 403, message: "this credential may not be used here" },
  insufficient_role: { status: 403, message: "the caller's role does not allow this" },
  not_collaborator: { status: 403, message: "you do not collaborate on this project" },
  /** The gateway: an `oauth` upstream the user has not connected (the body has connect_url). */
  upstream_not_connected: { status: 403, message: "connect your account at this upstream first: open connect_url in your browser" },
  not_found: { status: 404, message: "no such endpoint" },
  conflict: { status: 409, message: "the record already exists; retry" },
  body_too_large: { status: 413, message: "the request body is too large" },
  unsupported_media_type: { status: 415, message: "send the body as application/json" },
  rate_limited: { status: 429, message: "rate limit exceeded; retry after the time in Retry-After" },
  too_many_headers: { status: 431, message: "too many header fields" },
  policy_error: { status: 500, message: "the policy failed; denied" },
  internal_error: { status: 500, message: "internal error" },
  upstream_unavailable: { status: 502, message: "the upstream could not be reached" },
  /** A project's MCP endpoint: an answer read to filter tools/list that cannot be read as a client reads it (a content coding, a look-alike type, another charset, a batch, ambiguous ids). */
  upstream_answer_unreadable: { status: 502, message: "the upstream's MCP answer cannot be read as a client reads it, so it cannot be filtered" },
  /** A project's MCP endpoint: a JSON answer (or SSE event) read to filter tools/list is larger than Tollgate holds. */
  upstream_answer_too_large: { status: 502, message: "the upstream's MCP answer is too large to be filtered" },
  /** A project's MCP endpoint: the memory every answer held to be filtered shares is taken. */
  answer_memory_exhausted: { status: 503, message: "too many upstream MCP answers are held to be filtered; try again" },
  backend_unavailable: { status: 503, message: "a backend Tollgate needs is unavailable; try again" },
  /** GET /metrics with workers: one did not send its metrics in time. */
  metrics_unavailable: { status: 503, message: "the metrics of every worker could not be collected; try again" },
  upstream_not_configured: { status: 503, message: "no upstream serves this path: see TOLLGATE_UPSTREAMS" },
  /** The gateway: the authorization server of an `oauth` upstream could not be reached. */
  upstream_auth_unavailable: { status: 503, message: "the upstream's authorization server is unavailable; try again" },
  upstream_timeout: { status: 504, message: "the upstream did not answer in time" },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}

/**
 * An error Tollgate answers as it is: a catalogue code (which fixes the status), a message for
 * people (the catalogue's unless the thrower knows better; never internal text), the field at
 * fault as a dotted path, and for a limit the seconds until a retry can succeed.
 */
export class RequestError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string = ERRORS[code].message,
    readonly field?: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = "RequestError";
    this.status = ERRORS[code].status;
  }
}

/**
 * A dependency the decision needs (MongoDB, Redis, the JWKS endpoint) did not answer.
 * Decisions that need it fail closed with 503 `backend_unavailable`.
 */
export function isUnavailable(err: unknown): err is BackendUnavailableError {
  return err instanceof BackendUnavailableError;
}

/** The Retry-After of an answer refused because a backend is unavailable: about one reconnect or circuit-breaker probe. */
export const BACKEND_RETRY_AFTER_S = 5;
