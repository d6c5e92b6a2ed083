import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { Decision, DecisionService, Verdict } from "../decision/service.js";
import type { AuditSource } from "../audit/types.js";
import type { Logger } from "../log.js";
import { clientAddress, type TrustedProxies } from "./client-address.js";
import { ERRORS } from "../errors.js";
import { errorCodeOf, writeDenial, writeError, writeOpaError } from "../api/error-writer.js";
import { mcpResourceHint, type McpDiscovery } from "../mcp/discovery.js";
import { setDecisionHeaders } from "./decision-headers.js";
import { forwardedRequest, isMethod, isPath, type JudgedRequest, mcpCallFromHeaders, METHOD, parseAuthorizeBody, PATH } from "./decision-request.js";
import { writeRequestError } from "./errors.js";
import { bodyError, readJsonBody, type BodyFailure } from "./json-body.js";
import { methodOverride } from "./method-override.js";
import { writeJson } from "./write-json.js";

const dataApiBody = z.object({
  input: z.object({
    method: METHOD,
    path: PATH,
    headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
  }),
});

/** Envoy's ext_authz path_prefix: what follows it is the request target being judged. */
export const EXT_AUTHZ_PREFIX = "/v1/ext-authz";
/** OPA's Data API. */
export const DATA_API_PREFIX = "/v1/data";
/** The decision document; its path under DATA_API_PREFIX is case-sensitive, as in OPA. */
const DECISION_DOCUMENT = "/tollgate/authz/decision";

// The decision document's fields: a path into any other is undefined without deciding.
const DECISION_FIELDS: Record<keyof Decision, true> = {
  allow: true,
  status: true,
  reasons: true,
  access: true,
  route: true,
  subject: true,
  rate_limit: true,
  granted_projects: true,
  decision_id: true,
  policy_revision: true,
};

export interface DecisionEndpointOptions {
  decisions: DecisionService;
  maxBodyBytes: number;
  rateLimitWindowMs: number;
  trustedProxies: TrustedProxies;
  logger: Logger;
  /** RFC 9728 discovery: a 401 for a project's MCP endpoint names its metadata, as the gateway's does; null: not configured. */
  discovery: McpDiscovery | null;
}

type Endpoint = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** A hot path's handler, and how a request refused before it (the dispatcher's header limits) is audited. */
export type Handler = Endpoint & { refused(req: IncomingMessage, status: number, reason: string): void };

export interface DecisionEndpoints {
  /** POST /v1/authorize. */
  authorize: Handler;
  /** GET /v1/forward-auth: nginx auth_request and Traefik forwardAuth. */
  forwardAuth: Handler;
  /** Any method on /v1/ext-authz/<target>: Envoy's HTTP ext_authz. */
  extAuthz: Handler;
  /** GET and POST under /v1/data: OPA's Data API. */
  dataApi: Handler;
}

/**
 * The decision endpoints on plain node:http: bodies read by hand (bounded, parsed once),
 * answers serialised directly. The DecisionService decides and writes the audit record.
 */
export function decisionEndpoints(o: DecisionEndpointOptions): DecisionEndpoints {
  const windowS = Math.round(o.rateLimitWindowMs / 1000);
  // Requests whose decision (and with it the audit record) was made.
  const decided = new WeakSet<IncomingMessage>();
  const decide = async (source: AuditSource, request: JudgedRequest, req: IncomingMessage): Promise<Verdict> => {
    const verdict = await o.decisions.decide({ ...request, source, clientAddress: clientAddress(req, o.trustedProxies), userAgent: req.headers["user-agent"] ?? null });
    decided.add(req);
    return verdict;
  };
  // For proxies: the decision's status, headers and, on denial, its JSON body (which the proxy
  // relays with the challenge, naming the MCP endpoint's metadata on a 401 there).
  const answer = (res: ServerResponse, verdict: Verdict, request: { method: string; path: string }): void => {
    const { decision } = verdict;
    setDecisionHeaders(res, verdict, windowS);
    if (decision.allow) res.writeHead(200, { "content-length": 0 }).end();
    else writeDenial(res, decision, o.discovery && (decision.status === 401 || decision.status === 403) ? mcpResourceHint(o.discovery, o.decisions.route(request.method, request.path).info) : null);
  };
  const failed = (req: IncomingMessage, res: ServerResponse, err: unknown): void => writeRequestError(res, err, o.logger, { method: req.method ?? "", path: pathOf(req) });

  const authorize: Endpoint = async (req, res) => {
    if (!isJson(req)) return writeError(res, { code: "unsupported_media_type" });
    const body = await readJsonBody(req, res, o.maxBodyBytes);
    if (!body.ok) return failed(req, res, bodyError(body.failure));
    const parsed = parseAuthorizeBody(body.value);
    if (!parsed.success) return failed(req, res, parsed.error);
    const { data } = parsed;
    const { decision } = await decide(
      "authorize",
      { method: data.method, path: data.path, authorization: data.authorization ?? null, dryRun: data.dry_run ?? false, ...(data.mcp ? { mcp: data.mcp } : {}) },
      req,
    );
    writeJson(res, 200, decision);
  };

  const forwardAuth: Endpoint = async (req, res) => {
    // nginx's auth_request turns a 400 into a 500 unless X-Tollgate-Status says it was a 400.
    const invalid = (message: string): void => {
      res.setHeader("X-Tollgate-Status", String(ERRORS.invalid_request.status));
      writeError(res, { code: "invalid_request", message });
    };
    const described = forwardedRequest(req.rawHeaders);
    if ("error" in described) return invalid(described.error);
    // The proxy passes the client's request on as it is: an override in it is the API's to obey.
    const override = methodOverride(described.uri, req.headers);
    if (override) return invalid(override);
    if (!isMethod(described.method) || !isPath(described.uri)) return invalid(`${described.names} are malformed`);
    const mcp = mcpCallFromHeaders(req);
    if ("error" in mcp) return invalid(mcp.error);
    const verdict = await decide("forward_auth", { method: described.method, path: described.uri, authorization: req.headers.authorization ?? null, ...mcp }, req);
    // nginx's auth_request sees only 2xx/401/403: the real status travels in this header.
    res.setHeader("X-Tollgate-Status", String(verdict.decision.status));
    answer(res, verdict, { method: described.method, path: described.uri });
  };

  // Envoy's HTTP ext_authz sends the original method to path_prefix + the original target, with
  // the client's Authorization and without the body; any method may arrive. The target is judged
  // as received (never percent-decoded here).
  const extAuthz: Endpoint = async (req, res) => {
    const url = req.url ?? "";
    const target = url.slice(EXT_AUTHZ_PREFIX.length);
    const override = methodOverride(target, req.headers);
    if (override) return writeError(res, { code: "invalid_request", message: override });
    // An absolute-form request target (GET http://host/v1/ext-authz/…) names no target here.
    if (!url.toLowerCase().startsWith(EXT_AUTHZ_PREFIX) || !target.startsWith("/") || !isPath(target)) {
      return writeError(res, { code: "invalid_request", message: `send the request target after ${EXT_AUTHZ_PREFIX}, e.g. ${EXT_AUTHZ_PREFIX}/api/v1/projects` });
    }
    const method = req.method ?? "";
    if (!isMethod(method)) return writeError(res, { code: "invalid_request", message: "the method must be letters only" });
    const mcp = mcpCallFromHeaders(req);
    if ("error" in mcp) return writeError(res, { code: "invalid_request", message: mcp.error });
    answer(res, await decide("ext_authz", { method, path: target, authorization: req.headers.authorization ?? null, ...mcp }, req), { method, path: target });
  };

  /**
   * OPA's Data API as OPA answers it: the decision (or a field of it) at
   * data.tollgate.authz.decision, undefined (no `result`) for any other document, and OPA's
   * error body `{"code","message"}`.
   */
  const dataApi: Endpoint = async (req, res) => {
    const path = pathOf(req).slice(DATA_API_PREFIX.length);
    const segments = decodedSegments(path);
    if (segments instanceof URIError) return invalidParameter(res, "the document path is not valid percent-encoding");
    if (req.method === "GET" || req.method === "HEAD") return answerUndefined(res);
    // OPA reads the body as JSON whatever its Content-Type says; a client that waits for
    // 100 Continue is told to send it (by the reader).
    const body = await readJsonBody(req, res, o.maxBodyBytes);
    if (!body.ok) return opaBodyError(res, body.failure, o.maxBodyBytes);
    const field = decisionField(path, segments);
    if (field === null) return answerUndefined(res);
    if (field.length > 0 && !Object.hasOwn(DECISION_FIELDS, field[0]!)) return answerUndefined(res);
    const parsed = dataApiBody.safeParse(body.value ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return invalidParameter(res, `${issue.path.join(".") || "body"}: ${issue.message}`);
    }
    const { input } = parsed.data;
    const authorization = headerValue(input.headers, "authorization");
    if (typeof authorization !== "string" && authorization !== null) return invalidParameter(res, authorization.error);
    const override = methodOverride(input.path, input.headers);
    if (override) return invalidParameter(res, `input: ${override}`);
    const { decision: made } = await decide("data_api", { method: input.method, path: input.path, authorization }, req);
    const result = select(made, field);
    writeJson(res, 200, result === undefined ? { decision_id: made.decision_id } : { result, decision_id: made.decision_id });
  };

  const guard =
    (handler: Endpoint, opa = false): Endpoint =>
    async (req, res) => {
      try {
        await handler(req, res);
      } catch (err) {
        if (opa && !res.headersSent) {
          o.logger.error({ err, method: req.method, path: req.url }, "Data API request failed");
          writeOpaError(res, "internal_error");
          return;
        }
        failed(req, res, err);
      }
    };
  // A call answered with an error before (or instead of) its decision leaves a record too.
  const audited = (source: AuditSource, endpoint: Endpoint): Handler => {
    const refused = (req: IncomingMessage, status: number, reason: string): void =>
      o.decisions.refused({ source, method: req.method ?? "", path: req.url ?? "", clientAddress: clientAddress(req, o.trustedProxies), userAgent: req.headers["user-agent"] ?? null }, status, reason);
    const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      await endpoint(req, res);
      const code = errorCodeOf(res);
      if (code !== null && !decided.has(req)) refused(req, res.statusCode, code);
    };
    return Object.assign(handler, { refused });
  };
  return {
    authorize: audited("authorize", guard(authorize)),
    forwardAuth: audited("forward_auth", guard(forwardAuth)),
    extAuthz: audited("ext_authz", guard(extAuthz)),
    dataApi: audited("data_api", guard(dataApi, true)),
  };
}

/**
 * The request's path, without the query, as Express routed it: for an absolute-form target
 * (`GET http://host/api/…`) the path after the authority. The handlers judge req.url as received.
 */
export function pathOf(req: IncomingMessage): string {
  let url = req.url ?? "";
  if (url.charCodeAt(0) !== 47 /* "/" */) {
    const authority = url.indexOf("://");
    const slash = authority === -1 ? -1 : url.indexOf("/", authority + 3);
    url = slash === -1 ? "" : url.slice(slash);
  }
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}

/** `Content-Type: application/json` (any parameters) on a request that has a body, as Express's req.is() reads it. */
function isJson(req: IncomingMessage): boolean {
  const { headers } = req;
  if (headers["transfer-encoding"] === undefined && headers["content-length"] === undefined) return false;
  const type = headers["content-type"];
  if (type === undefined) return false;
  const semi = type.indexOf(";");
  return (semi === -1 ? type : type.slice(0, semi)).trim().toLowerCase() === "application/json";
}

const DECISION_SEGMENTS = DECISION_DOCUMENT.split("/").slice(1);

/** A Data API path's (after /v1/data) percent-decoded segments, without a trailing empty one; a URIError for a segment that is not valid percent-encoding. */
function decodedSegments(path: string): string[] | URIError {
  const trimmed = path.endsWith("/") ? path.slice(0, -1) : path;
  if (trimmed === "") return [];
  try {
    return trimmed.slice(1).split("/").map(decodeURIComponent);
  } catch (err) {
    if (err instanceof URIError) return err;
    throw err;
  }
}

/**
 * The decision document's field path: [] for the document itself, the following segments for a
 * field, null for any other document. The document's own segments are compared as written
 * (an encoded spelling of them is another document, as before).
 */
function decisionField(path: string, segments: string[]): string[] | null {
  const trimmed = path.endsWith("/") ? path.slice(0, -1) : path;
  if (trimmed === DECISION_DOCUMENT) return [];
  if (!trimmed.startsWith(`${DECISION_DOCUMENT}/`)) return null;
  return segments.slice(DECISION_SEGMENTS.length);
}

/** OPA's answer for a document that does not exist: 200 without `result`. */
function answerUndefined(res: ServerResponse): void {
  writeJson(res, 200, { decision_id: randomUUID() });
}

function invalidParameter(res: ServerResponse, message: string): void {
  writeOpaError(res, "invalid_parameter", message);
}

/** A body that could not be read, in OPA's shape: always the client's mistake (400 invalid_parameter). */
function opaBodyError(res: ServerResponse, failure: BodyFailure, maxBodyBytes: number): void {
  if (failure === "aborted") return;
  if (failure === "malformed") return invalidParameter(res, "the request body is not valid JSON");
  if (failure === "too_large") return invalidParameter(res, `the request body is over ${maxBodyBytes} bytes`);
  invalidParameter(res, "the request body cannot be read as UTF-8 JSON");
}

/** The value at `path` inside `value` (object keys, array indexes), or undefined. */
function select(value: unknown, path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (Array.isArray(current) && /^(0|[1-9]\d*)$/.test(key)) current = current[Number(key)];
    else if (current !== null && typeof current === "object" && !Array.isArray(current) && Object.hasOwn(current, key)) current = (current as Record<string, unknown>)[key];
    else return undefined;
  }
  return current;
}

/**
 * The one value of a header in `input.headers`, or null. Several values (an array of more than
 * one, or keys that differ only in case) are refused, as two Authorization fields are on the wire.
 */
function headerValue(headers: Record<string, string | string[]> | undefined, name: string): string | null | { error: string } {
  const values = Object.entries(headers ?? {})
    .filter(([key]) => key.toLowerCase() === name)
    .flatMap(([, value]) => value);
  if (values.length > 1) return { error: `input.headers: send ${name} once` };
  return values[0] ?? null;
}
