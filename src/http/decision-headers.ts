import type { Response } from "express";
import type { Decision } from "../decision/authorizer.js";

/** Identity on allow, the challenge on 401, the wait on 429, and the limit state always. */
export function setDecisionHeaders(res: Response, decision: Decision, windowS: number): void {
  res.set("X-Tollgate-Decision-Id", decision.decision_id);
  if (decision.rate_limit) {
    const rl = decision.rate_limit;
    res.set("RateLimit-Policy", `${rl.limit};w=${windowS}`);
    res.set("RateLimit", `limit=${rl.limit}, remaining=${rl.remaining}, reset=${rl.reset_s}`);
  }
  if (decision.allow && decision.subject) {
    res.set("X-Tollgate-User", decision.subject.user_id ?? "");
    res.set("X-Tollgate-Token-Type", decision.subject.type);
    res.set("X-Tollgate-Token-Id", decision.subject.token_id ?? "");
    if (decision.granted_projects) res.set("X-Tollgate-Projects", decision.granted_projects.join(","));
  }
  if (decision.status === 401) {
    const missing = decision.reasons.includes("missing_token");
    res.set("WWW-Authenticate", missing ? 'Bearer realm="tollgate"' : 'Bearer realm="tollgate", error="invalid_token"');
  }
  if (decision.status === 429) res.set("Retry-After", String(Math.max(1, decision.rate_limit?.reset_s ?? 1)));
}

/** The JSON body of a denial, the same for the gateway and forward auth. */
export function denialBody(decision: Decision): { error: { code: string; message: string; reasons: string[] }; decision_id: string } {
  return {
    error: { code: decision.reasons[0] ?? "denied", message: denialMessage(decision), reasons: decision.reasons },
    decision_id: decision.decision_id,
  };
}

function denialMessage(decision: Decision): string {
  switch (decision.status) {
    case 400:
      return "the request path is not valid";
    case 401:
      return "authentication required: send a valid bearer token";
    case 429:
      return "rate limit exceeded; retry after the time in Retry-After";
    case 503:
      return "a backend Tollgate needs is unavailable; try again";
    default:
      return `denied: ${decision.reasons.join(", ")}`;
  }
}
