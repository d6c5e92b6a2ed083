import type { AuthorizedRequest } from "./authorizer.js";

/**
 * Every identity header Tollgate owns, in the order the upstream receives them, each with its
 * value for this request ("" when it does not apply). The gateway sends them to the upstream and
 * the decision endpoints answer a proxy with them: a proxy overwrites only the headers it is
 * given, so every one is always given, and a client's copy of any of them never gets through.
 */
export function identityHeaders(authorized: AuthorizedRequest): Record<string, string> {
  const { decision } = authorized;
  const mcp = decision.subject?.type === "mcp_token";
  return {
    "X-Tollgate-Decision-Id": decision.decision_id,
    "X-Tollgate-User": decision.subject?.user_id ?? "",
    "X-Tollgate-Token-Type": decision.subject?.type ?? "",
    "X-Tollgate-Token-Id": decision.subject?.token_id ?? "",
    // The policy's live grants: unexpired, and the user still a collaborator there.
    "X-Tollgate-Projects": decision.granted_projects?.join(",") ?? "",
    // What this token may do in the project the path names; MCP servers gate trigger tools on it.
    "X-Tollgate-Permissions": mcp ? (authorized.triggerAllowed ? "read,trigger" : "read") : "",
  };
}
