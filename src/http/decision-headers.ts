import type { ServerResponse } from "node:http";
import type { Verdict } from "../decision/service.js";

/**
 * Identity on allow (every header, empty when it does not apply, so a proxy that copies them
 * onto the request overwrites any the client sent), the wait on 429, and the limit state always.
 * A denial's challenge and body are the error writer's (writeDenial).
 */
export function setDecisionHeaders(res: ServerResponse, verdict: Verdict, windowS: number): void {
  const { decision } = verdict;
  res.setHeader("X-Tollgate-Decision-Id", decision.decision_id);
  if (decision.rate_limit) {
    // draft-ietf-httpapi-ratelimit-headers (structured fields): the policy is the route's class.
    const rl = decision.rate_limit;
    res.setHeader("RateLimit-Policy", `"${rl.class}";q=${rl.limit};w=${Math.max(1, windowS)}`);
    res.setHeader("RateLimit", `"${rl.class}";r=${rl.remaining};t=${rl.reset_s}`);
  }
  if (decision.allow) for (const name in verdict.identity) res.setHeader(name, verdict.identity[name]!);
  if (decision.status === 429) res.setHeader("Retry-After", String(Math.max(1, decision.rate_limit?.reset_s ?? 1)));
}
