import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Decision, DecisionRequest, DecisionService } from "../decision/service.js";
import { clientAddress, peerIsTrusted, type TrustedProxies } from "../http/client-address.js";
import { writeDenial, writeError, writeJsonRpcDenial, writeJsonRpcError, writeJsonRpcRefusal, writeUrlElicitationRequired } from "../api/error-writer.js";
import { ERRORS } from "../errors.js";
import { setDecisionHeaders } from "../http/decision-headers.js";
import { methodOverride } from "../http/method-override.js";
import { mcpResourceHint, type McpDiscovery } from "../mcp/discovery.js";
import { mcpSessionId, readMcpMessage, type ReadMessage } from "../mcp/endpoint.js";
import type { SessionOwner } from "../mcp/sessions.js";
import { toolsListFilter } from "../mcp/tools-list-filter.js";
import type { JsonRpcId } from "../mcp/jsonrpc.js";
import type { SubjectFact } from "../policy/types.js";
import type { ToolsListRequestStore } from "../stores/types.js";
import type { UpstreamConfig } from "../config/upstreams.js";
import { connectionDropsJudgedField } from "./forwarded-headers.js";
import type { BeforeAnswer, UpstreamOptions } from "./proxy.js";
import type { UpstreamCredential, UpstreamCredentials } from "./upstream-credentials.js";
import { upstreamRouter } from "./upstreams.js";
import { hasBody, skipBody } from "./request-body.js";

export interface GatewayOptions {
  decisions: DecisionService;
  /** TOLLGATE_UPSTREAMS; an allowed request under no upstream's prefix answers 503 upstream_not_configured. */
  upstreams: readonly UpstreamConfig[];
  upstream: UpstreamOptions;
  rateLimitWindowMs: number;
  /** TOLLGATE_TRUSTED_PROXIES: whose X-Forwarded-* the upstream is passed, and who the client is for the audit record. */
  trustedProxies: TrustedProxies;
  /** Routes Tollgate answers itself (MCP token self-service); reached only when allowed. */
  local: RequestListener;
  /** TOLLGATE_MCP_MAX_BODY_BYTES: the largest JSON-RPC message read on an MCP endpoint. */
  mcpMaxBodyBytes: number;
  /** RFC 9728 discovery: a 401 on a project's MCP endpoint names its metadata; null: not configured. */
  discovery: McpDiscovery | null;
  /** The ids of callers' tools/list requests (so a resumed stream on any replica is filtered). */
  toolsListRequests: ToolsListRequestStore;
  /** The user's own bearer token at an `oauth` upstream; null when none is configured (config requires TOLLGATE_PUBLIC_URL for one). */
  upstreamCredentials: UpstreamCredentials | null;
}

/** What a locally answered route learns from the gateway's decision. */
export interface GatewayLocals {
  decision: Decision;
  subject: SubjectFact | null;
}

/** The gateway's decision for each request handed to a local route. */
const handedOver = new WeakMap<ServerResponse, GatewayLocals>();

/** The decision that let this request through to a local route; null when the gateway did not. */
export function gatewayLocals(res: ServerResponse): GatewayLocals | null {
  return handedOver.get(res) ?? null;
}

/** Handles one request under /api/; `local` serves what it hands over. */
export type Gateway = ((req: IncomingMessage, res: ServerResponse) => Promise<void>) & {
  local: RequestListener;
  /** Audits a request refused before it reached the gateway (the dispatcher's header limits). */
  refused(req: IncomingMessage, status: number, reason: string): void;
};

/**
 * Every request under /api/ passes the same pipeline as a decision: authenticate, rate limit,
 * project and trigger access (all in the policy), then the upstream or a local route, then audit.
 * A denied request never reaches the upstream. On a project's MCP endpoint the body is one
 * JSON-RPC message: read once here, judged (input.mcp), and those same bytes forwarded.
 */
export function gateway(options: GatewayOptions): Gateway {
  const windowS = Math.round(options.rateLimitWindowMs / 1000);
  const upstreamFor = upstreamRouter(options.upstreams, options.upstream);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const target = req.url ?? "";
    const request: DecisionRequest = {
      source: "gateway",
      method: req.method ?? "",
      path: target,
      authorization: req.headers.authorization ?? null,
      // Read now: once the client has gone (before the audit record is written) its address is too.
      clientAddress: clientAddress(req, options.trustedProxies),
      userAgent: req.headers["user-agent"] ?? null,
    };
    // A request naming another method than its own is refused, not judged two ways.
    const override = methodOverride(target, req.headers);
    if (override) {
      skipBody(req, res);
      writeError(res, { code: "invalid_request", message: override });
      options.decisions.refused(request, ERRORS.invalid_request.status, "invalid_request");
      return;
    }
    // A field judged here but named in Connection would be dropped on the way: the upstream would act on another request.
    const hopByHop = connectionDropsJudgedField(req.headers);
    if (hopByHop !== null) {
      skipBody(req, res);
      writeError(res, { code: "invalid_request", message: `Connection may not name ${hopByHop}: Tollgate judges the request by it, so it must reach the upstream` });
      options.decisions.refused(request, ERRORS.invalid_request.status, "invalid_request");
      return;
    }
    // A project's MCP endpoint: the JSON-RPC message in the body is what the policy judges.
    let mcp: ReadMessage | undefined;
    // Found once: the service takes it from the request rather than looking it up again.
    const found = options.decisions.route(request.method, target);
    request.route = found;
    const route = found.info;
    // Any of its answers (a POST's, the server's stream a GET opens, a DELETE's) may carry a
    // tools/list answer: a client takes a response by its id wherever it comes. The route table
    // marks every method of a project's MCP endpoint with mcp_endpoint (GET, POST, DELETE): no
    // second lookup under another method (a cache entry and a lookup per GET).
    const mcpEndpoint = route.mcp_message || route.mcp_endpoint;
    // The MCP endpoint is one URL: a query string the policy does not judge could reach the MCP
    // server (which may read it: a session, a tool, a project), so none is sent on.
    if (mcpEndpoint && target.includes("?")) {
      skipBody(req, res);
      writeError(res, { code: "invalid_request", message: "a project's MCP endpoint takes no query string" });
      options.decisions.refused(request, ERRORS.invalid_request.status, "invalid_request", route.pattern);
      return;
    }
    if (route.mcp_message) {
      const read = await readMcpMessage(req, res, options.mcpMaxBodyBytes);
      if (read === null) return;
      if ("reason" in read) {
        // Refused before the policy: answered as JSON-RPC, audited as a denial without a subject.
        writeJsonRpcRefusal(res, read);
        if (read.refused) {
          request.mcp = read.refused.call;
          request.mcpMessage = { id: read.refused.id, sessionId: mcpSessionId(req), arguments: read.refused.arguments };
        }
        options.decisions.refused(request, ERRORS[read.reason].status, read.reason, route.pattern);
        return;
      }
      mcp = read;
      request.mcp = read.message.call;
      request.mcpMessage = { id: read.message.id, sessionId: mcpSessionId(req), arguments: read.message.arguments };
    } else if (route.mcp_endpoint && hasBody(req)) {
      // GET and DELETE on an MCP endpoint are judged by the route: a body on them would reach
      // the MCP server unjudged.
      skipBody(req, res);
      writeError(res, { code: "invalid_request", message: `a ${request.method} to an MCP endpoint carries no body; send JSON-RPC messages with POST` });
      options.decisions.refused(request, ERRORS.invalid_request.status, "invalid_request", route.pattern);
      return;
    }
    // A session presented on the MCP endpoint is checked against the caller (the decision), and
    // one the upstream opens is bound to the caller before the client learns its id.
    const presented = route.mcp_endpoint ? (mcpSessionId(req) ?? undefined) : undefined;
    if (presented !== undefined) request.mcpSession = presented;
    // `status` in the audit record is the decision's; what answered the allowed request is in
    // upstream_status (the upstream's status, or a local route's; null when the upstream was
    // not reached). The service writes the record once settle() is called.
    const { verdict, settle } = await options.decisions.begin(request);
    const { decision, subject } = verdict;
    setDecisionHeaders(res, verdict, windowS);

    if (!decision.allow) {
      // A 401's challenge, and a step-up 403's, name the MCP endpoint's metadata.
      const resource = mcpResourceHint(options.discovery, route);
      if (mcp) writeJsonRpcDenial(res, decision, mcp.message.id, resource);
      else {
        skipBody(req, res);
        // The MCP endpoint's GET (stream) and DELETE (end of session) carry no message: id null.
        if (route.mcp_endpoint) writeJsonRpcDenial(res, decision, null, resource);
        else writeDenial(res, decision, resource);
      }
      settle(null);
      return;
    }
    if (verdict.namespace === "mcp_tokens") {
      handedOver.set(res, { decision, subject });
      // "close" comes whether or not the answer went out ("finish" never does for a client that
      // went away first, yet the route acts all the same): the record is written either way.
      res.once("close", () => settle(res.writableFinished ? res.statusCode : null));
      options.local(req, res);
      return;
    }
    const upstream = upstreamFor(target);
    if (!upstream) {
      if (!mcp) skipBody(req, res);
      writeError(res, { code: "upstream_not_configured", decisionId: decision.decision_id });
      settle(null);
      return;
    }
    // An oauth upstream gets the user's own token there, or the request goes no further.
    let upstreamToken: string | undefined;
    if (upstream.config.auth === "oauth") {
      const credential = await oauthCredential(options.upstreamCredentials, subject, upstream.config);
      if (credential.kind !== "token") {
        if (!mcp) skipBody(req, res);
        refuseWithoutToken(res, credential, route.mcp_endpoint ? (mcp?.message.id ?? null) : undefined, decision.decision_id);
        settle(null);
        return;
      }
      upstreamToken = credential.token;
    }
    const peer = { address: req.socket.remoteAddress, trusted: peerIsTrusted(req, options.trustedProxies) };
    const filter = mcpEndpoint ? await toolsListFilter(req, verdict, route.project_id, mcp?.message ?? null, options.toolsListRequests) : undefined;
    if (filter === "unavailable") {
      // The tools/list could not be recorded: its answer, resumed on another replica, would not be filtered.
      writeJsonRpcDenial(res, { status: 503, reasons: ["backend_unavailable"], access: decision.access, decision_id: decision.decision_id }, mcp?.message.id ?? null);
      settle(null);
      return;
    }
    const owner = verdict.sessionOwner;
    const outcome = await upstream.forward(req, res, target, verdict, peer, mcp?.body, owner ? recordSession(options.decisions, owner, request.method, presented) : undefined, filter, upstreamToken);
    if (outcome.tokenRejected && upstreamToken !== undefined && subject !== null && "user_id" in subject) {
      // The upstream refused the user's token: forgotten, and the user is sent to connect again.
      const credential = await rejectedCredential(options.upstreamCredentials, subject.user_id, upstream.config, upstreamToken);
      if (!mcp) skipBody(req, res);
      refuseWithoutToken(res, credential.kind === "token" ? { kind: "unavailable" } : credential, route.mcp_endpoint ? (mcp?.message.id ?? null) : undefined, decision.decision_id);
    }
    settle(outcome.upstreamStatus);
  };
  const refused = (req: IncomingMessage, status: number, reason: string): void =>
    options.decisions.refused(
      { source: "gateway", method: req.method ?? "", path: req.url ?? "", clientAddress: clientAddress(req, options.trustedProxies), userAgent: req.headers["user-agent"] ?? null },
      status,
      reason,
    );
  return Object.assign(handle, { local: options.local, refused });
}

/** A caller without a user (a project token) has no account to connect: it is refused, with nowhere to go. */
type NoToken = Exclude<UpstreamCredential, { kind: "token" }> | { kind: "no_user" };

/** The credential for this caller at an oauth upstream; a seam that throws is "unavailable" (fail closed). */
async function oauthCredential(credentials: UpstreamCredentials | null, subject: SubjectFact | null, upstream: UpstreamConfig): Promise<UpstreamCredential | NoToken> {
  if (subject === null || !("user_id" in subject)) return { kind: "no_user" };
  if (credentials === null) return { kind: "unavailable" };
  try {
    return await credentials.credentialFor(subject.user_id, upstream);
  } catch {
    return { kind: "unavailable" };
  }
}

/** After the upstream's 401: where the user connects again; a seam that throws is "unavailable" (fail closed). */
async function rejectedCredential(credentials: UpstreamCredentials | null, userId: string, upstream: UpstreamConfig, token: string): Promise<UpstreamCredential> {
  if (credentials === null) return { kind: "unavailable" };
  try {
    return await credentials.rejected(userId, upstream, token);
  } catch {
    return { kind: "unavailable" };
  }
}

/**
 * Answers an allowed request an oauth upstream cannot be sent without a token. `mcpId`: on a
 * project's MCP endpoint, the JSON-RPC id to echo (null for GET/DELETE); undefined elsewhere.
 */
function refuseWithoutToken(res: ServerResponse, credential: NoToken, mcpId: JsonRpcId | undefined, decisionId: string): void {
  if (credential.kind === "not_connected") {
    const message = "Connect your account at this upstream in your browser, then retry.";
    if (mcpId !== undefined) writeUrlElicitationRequired(res, mcpId, { elicitationId: credential.elicitationId, url: credential.connectUrl, message }, decisionId);
    else writeError(res, { code: "upstream_not_connected", connectUrl: credential.connectUrl, decisionId });
    return;
  }
  const reply =
    credential.kind === "no_user"
      ? { code: "upstream_not_connected" as const, message: "this upstream acts for a user: use a credential of a user who connected their account there", decisionId }
      : { code: "upstream_auth_unavailable" as const, decisionId };
  if (mcpId !== undefined) writeJsonRpcError(res, reply, mcpId);
  else writeError(res, reply);
}

/**
 * What the upstream's answer on the MCP endpoint does to the caller's sessions: a session it
 * opens (Mcp-Session-Id in its answer) becomes the caller's; a DELETE it accepts (2xx) ends the
 * session presented.
 */
function recordSession(decisions: DecisionService, owner: SessionOwner, method: string, presented: string | undefined): BeforeAnswer {
  return async (upstreamRes) => {
    const status = upstreamRes.statusCode ?? 0;
    if (method === "DELETE" && presented !== undefined && status >= 200 && status < 300) await decisions.endSession(owner, presented);
    const issued = mcpSessionId(upstreamRes);
    if (issued !== null && issued !== presented) await decisions.bindSession(owner, issued);
  };
}
