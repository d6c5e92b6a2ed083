// The audit records of what a signed-in person does in the browser (source "ui"): signing in and
// out, creating and revoking MCP tokens on the tokens page, allowing or denying an OAuth client
// on the consent page. Ids only: never a cookie, a token's value, a code or a CSRF token.
import { randomUUID } from "node:crypto";
import type { AuditRecord } from "./types.js";

export type UiAction = "session.sign_in" | "session.sign_out" | "token.issue" | "token.revoke" | "consent.allow" | "consent.deny";

export interface UiActionContext {
  /** Who acted: the signed-in user (for sign-in, the user now signed in). */
  user_id: string;
  /** What was acted on, e.g. "token:tok_…" or "project:p/oauth_client:c"; null for the session itself. */
  target: string | null;
  /** The page request that did it, and what it answered. */
  method: string;
  path: string;
  route: string;
  status: number;
  client_address: string | null;
  user_agent: string | null;
  time: Date;
  latency_ms: number;
}

export function uiActionRecord(action: UiAction, ctx: UiActionContext): AuditRecord {
  return {
    decision_id: randomUUID(),
    time: ctx.time,
    source: "ui",
    subject_type: "user",
    user_id: ctx.user_id,
    token_id: null,
    method: ctx.method,
    path: ctx.path,
    route: ctx.route,
    allow: true,
    status: ctx.status,
    reasons: [],
    rate_limit: null,
    upstream_status: null,
    latency_ms: ctx.latency_ms,
    action,
    target: ctx.target,
    client_address: ctx.client_address,
    policy_revision: null,
    user_agent: ctx.user_agent,
    mcp: null,
  };
}
