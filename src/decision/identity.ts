import type { Decision } from "./service.js";

/** Tollgate's identity headers, name → value, in the order the upstream receives them. */
export type IdentityHeaders = Readonly<Record<string, string>>;

/**
 * Every identity header Tollgate owns, each with its value for this request ("" when it does not
 * apply); all empty on a denial. The gateway sends them to the upstream and the decision
 * endpoints answer a proxy with them: a proxy overwrites only the headers it is given, so every
 * one is always given, and a client's copy of any of them never gets through.
 * `triggerAllowed`: the policy's trigger permission for an allowed MCP request on a project.
 */
export function identityHeaders(decision: Decision, triggerAllowed: boolean): IdentityHeaders {
  const subject = decision.allow ? decision.subject : null;
  const mcp = subject?.type === "mcp_token";
  return {
    "X-Tollgate-Decision-Id": decision.decision_id,
    "X-Tollgate-User": subject?.user_id ?? "",
    "X-Tollgate-Token-Type": subject?.type ?? "",
    "X-Tollgate-Token-Id": subject?.token_id ?? "",
    // The policy's live grants: unexpired, and the user still a collaborator there.
    "X-Tollgate-Projects": decision.allow ? (decision.granted_projects?.join(",") ?? "") : "",
    // What this token may do in the project the path names; MCP servers gate trigger tools on it.
    "X-Tollgate-Permissions": mcp ? (triggerAllowed ? "read,trigger" : "read") : "",
  };
}
