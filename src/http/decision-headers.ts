import type { ServerResponse } from "node:http";
import type { Decision, Verdict } from "../decision/service.js";

/** The realm of every challenge for a decision. */
export const DECISION_REALM = "tollgate";

/** What a challenge says (RFC 6750 §3): nothing (no credential), a bad token, or too little scope. */
export type Challenge =
  | { error: null }
  | { error: "invalid_token"; reason: BadTokenReason }
  | { error: "insufficient_scope"; scope: "read" | "write" };

export type BadTokenReason = "invalid_token" | "expired_token" | "revoked_token";

// Fixed texts: a challenge never carries anything the caller sent.
const BAD_TOKEN_DESCRIPTIONS: Record<BadTokenReason, string> = {
  invalid_token: "the access token is malformed, unknown or not valid here",
  expired_token: "the access token has expired",
  revoked_token: "the access token was revoked",
};

/** The one formatter of every WWW-Authenticate value Tollgate sends. */
export function bearerChallenge(realm: string, challenge: Challenge): string {
  const params = [`realm="${realm}"`];
  if (challenge.error === "invalid_token") params.push('error="invalid_token"', `error_description="${BAD_TOKEN_DESCRIPTIONS[challenge.reason]}"`);
  if (challenge.error === "insufficient_scope") params.push('error="insufficient_scope"', `scope="${challenge.scope}"`);
  return `Bearer ${params.join(", ")}`;
}

/**
 * The challenge a decision calls for: every 401, and a 403 for too little token scope. Role and
 * grant denials get none: clients answer insufficient_scope by re-authorising (step-up).
 */
export function decisionChallenge(decision: Decision): Challenge | null {
  if (decision.status === 401) {
    if (decision.reasons.includes("missing_token")) return { error: null };
    const reason = decision.reasons.find((r): r is BadTokenReason => r in BAD_TOKEN_DESCRIPTIONS) ?? "invalid_token";
    return { error: "invalid_token", reason };
  }
  if (decision.status === 403 && decision.reasons.includes("insufficient_scope") && decision.access !== null) {
    return { error: "insufficient_scope", scope: decision.access };
  }
  return null;
}

/**
 * Identity on allow (every header, empty when it does not apply, so a proxy that copies them
 * onto the request overwrites any the client sent), the challenge, the wait on 429, and the
 * limit state always.
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
  const challenge = decisionChallenge(decision);
  if (challenge) res.setHeader("WWW-Authenticate", bearerChallenge(DECISION_REALM, challenge));
  if (decision.status === 429) res.setHeader("Retry-After", String(Math.max(1, decision.rate_limit?.reset_s ?? 1)));
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
