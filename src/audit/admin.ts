// The audit records of admin actions: the changes made through the admin API (source "admin") and
// by the CLI (source "cli"), and the admin API's refusals. A change is described once, here, as
// the admin API request that makes it; the CLI's records name the request the CLI stands in for.
import { randomUUID } from "node:crypto";
import type { AuditRecord, AuditSubjectType } from "./types.js";

export interface AdminChange {
  /** e.g. "token.revoke". */
  action: string;
  /** e.g. "token:tok_…", "project:p/collaborator:bob". */
  target: string;
  method: string;
  path: string;
  route: string;
  /** What the admin API answers when it makes the change. */
  status: number;
}

export const adminChange = {
  userRoleSet: (id: string): AdminChange => ({ action: "user.role_set", target: `user:${id}`, method: "PUT", path: `/v1/admin/users/${id}`, route: "/v1/admin/users/{id}", status: 200 }),
  projectPut: (id: string, created: boolean): AdminChange => ({
    action: "project.put",
    target: `project:${id}`,
    method: "PUT",
    path: `/v1/admin/projects/${id}`,
    route: "/v1/admin/projects/{id}",
    status: created ? 201 : 200,
  }),
  collaboratorSet: (projectId: string, userId: string): AdminChange => ({ ...collaborator(projectId, userId), action: "collaborator.set", method: "PUT", status: 200 }),
  collaboratorRemove: (projectId: string, userId: string): AdminChange => ({ ...collaborator(projectId, userId), action: "collaborator.remove", method: "DELETE", status: 204 }),
  tokenIssue: (id: string): AdminChange => ({ action: "token.issue", target: `token:${id}`, method: "POST", path: "/v1/admin/tokens", route: "/v1/admin/tokens", status: 201 }),
  tokenRevoke: (id: string): AdminChange => ({ action: "token.revoke", target: `token:${id}`, method: "DELETE", path: `/v1/admin/tokens/${id}`, route: "/v1/admin/tokens/{id}", status: 200 }),
};

function collaborator(projectId: string, userId: string): Pick<AdminChange, "target" | "path" | "route"> {
  return {
    target: `project:${projectId}/collaborator:${userId}`,
    path: `/v1/admin/projects/${projectId}/collaborators/${userId}`,
    route: "/v1/admin/projects/{id}/collaborators/{user}",
  };
}

/**
 * Who acted: the operator's admin token, an admin user's session, whoever presented a valid
 * credential the admin API refused, or nobody Tollgate knows (the CLI, a bad credential).
 */
export interface AdminActor {
  subject_type: AuditSubjectType | null;
  user_id: string | null;
  token_id: string | null;
}

export const NO_ACTOR: AdminActor = { subject_type: null, user_id: null, token_id: null };

export interface AdminAuditContext {
  actor: AdminActor;
  client_address: string | null;
  /** The admin request's User-Agent; null for the CLI. */
  user_agent?: string | null;
  time: Date;
  latency_ms: number;
}

/** The record of a change made through the admin API or the CLI. */
export function adminChangeRecord(source: "admin" | "cli", change: AdminChange, ctx: AdminAuditContext): AuditRecord {
  return {
    ...base(ctx),
    source,
    method: change.method,
    path: change.path,
    route: change.route,
    allow: true,
    status: change.status,
    reasons: [],
    action: change.action,
    target: change.target,
  };
}

/** The record of an admin API request refused before it reached its route (bad credential, over the limit). */
export function adminRefusalRecord(request: { method: string; path: string }, status: number, reason: string, ctx: AdminAuditContext): AuditRecord {
  return {
    ...base(ctx),
    source: "admin",
    method: request.method,
    path: request.path,
    route: null,
    allow: false,
    status,
    reasons: [reason],
    action: "admin.authenticate",
    target: null,
  };
}

function base(ctx: AdminAuditContext) {
  return {
    decision_id: randomUUID(),
    time: ctx.time,
    subject_type: ctx.actor.subject_type,
    user_id: ctx.actor.user_id,
    token_id: ctx.actor.token_id,
    rate_limit: null,
    upstream_status: null,
    latency_ms: ctx.latency_ms,
    client_address: ctx.client_address,
    policy_revision: null,
    user_agent: ctx.user_agent ?? null,
    mcp: null,
  };
}
