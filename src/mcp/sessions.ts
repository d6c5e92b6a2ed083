// MCP sessions (Mcp-Session-Id, MCP 2025 revisions) bound to the token that opened them: whose a
// session is, and where it is kept. The store is src/stores/*/mcp-session-store.ts; the check
// rides on the rate-limit call (src/decision/service.ts).
import type { SubjectFact } from "../policy/types.js";
import { SESSION_ID_RE } from "../stores/validate.js";

/**
 * Whose sessions a caller holds: an MCP token's binding id (the OAuth grant a refreshed token
 * keeps; the token id for tokens made by hand), another token's id, a user's `user:` id.
 */
export function sessionBinding(subject: SubjectFact): string {
  switch (subject.type) {
    case "mcp_token":
      return subject.binding_id ?? subject.token_id;
    case "global_token":
    case "project_token":
      return subject.token_id;
    case "user":
      return `user:${subject.user_id}`;
  }
}

/** Who a session opened by an allowed request is bound to: the binding, kept under the caller's rate-limit key. */
export interface SessionOwner {
  partition: string;
  binding_id: string;
}

/** A session id as MCP allows it (visible ASCII), within what Tollgate keeps (256 characters). */
export function isSessionId(value: string): boolean {
  return SESSION_ID_RE.test(value);
}
