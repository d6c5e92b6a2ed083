import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { AuthorizedRequest } from "../decision/authorizer.js";

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

function connectionTokens(headers: IncomingHttpHeaders): Set<string> {
  const value = headers.connection;
  return new Set((Array.isArray(value) ? value.join(",") : (value ?? "")).split(",").map((t) => t.trim().toLowerCase()).filter(Boolean));
}

/**
 * The request headers the upstream sees: the client's, minus hop-by-hop headers, its
 * credential and anything named like Tollgate's identity headers, plus the identity Tollgate
 * vouches for.
 */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  authorized: AuthorizedRequest,
  clientAddress: string | undefined,
): OutgoingHttpHeaders {
  const { decision, subject } = authorized;
  const dropped = connectionTokens(incoming);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || dropped.has(name) || name === "authorization" || name.startsWith("x-tollgate-")) continue;
    out[name] = value;
  }
  // Framing is re-derived from how the client's body arrived, never taken from a header the
  // client could have listed in Connection: a body must never reach the upstream unframed.
  delete out["content-length"];
  if (incoming["transfer-encoding"] !== undefined) out["transfer-encoding"] = "chunked";
  else if (incoming["content-length"] !== undefined) out["content-length"] = incoming["content-length"];
  const forwardedFor = incoming["x-forwarded-for"];
  out["x-forwarded-for"] = [forwardedFor, clientAddress].flat().filter(Boolean).join(", ");
  if (incoming.host) out["x-forwarded-host"] = incoming.host;
  out["x-tollgate-decision-id"] = decision.decision_id;
  if (decision.subject) {
    out["x-tollgate-user"] = decision.subject.user_id ?? "";
    out["x-tollgate-token-type"] = decision.subject.type;
    out["x-tollgate-token-id"] = decision.subject.token_id ?? "";
  }
  if (subject?.type === "mcp_token") {
    out["x-tollgate-projects"] = decision.granted_projects?.join(",") ?? "";
    // What this token may do in the project the path names; MCP servers gate trigger tools on it.
    out["x-tollgate-permissions"] = authorized.triggerAllowed ? "read,trigger" : "read";
  }
  return out;
}

/** The response headers the client sees: the upstream's, minus hop-by-hop headers. */
export function clientResponseHeaders(incoming: IncomingHttpHeaders): OutgoingHttpHeaders {
  const dropped = connectionTokens(incoming);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || dropped.has(name)) continue;
    out[name] = value;
  }
  return out;
}
