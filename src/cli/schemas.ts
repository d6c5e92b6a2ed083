// The CLI accepts exactly what the admin API accepts: each command builds the API's request body
// (or query) from its options and parses it with the API's own zod schemas, then hands the result
// to the same modules the routes call.
//
// The schemas are module-private in src/http/admin-routes.ts and src/http/audit-routes.ts today.
// They are looked up on the module namespace, so exporting them there is all it takes for the CLI
// to use them. Until then the CLI converts the timestamps and numbers itself and leaves the rest of
// the validation to the layers underneath (TokenIssuer, the stores' validate.ts, checkAuditFilter),
// which report the same fields.
import { AUDIT_QUERY_DEFAULT_LIMIT, type AuditFilter } from "../audit/types.js";
import * as adminRoutes from "../http/admin-routes.js";
import * as auditRoutes from "../http/audit-routes.js";
import type { IssueTokenRequest } from "../issuing/token-issuer.js";
import { StoreValidationError, type CollaboratorRole } from "../stores/types.js";

interface Parser<T> {
  parse(input: unknown): T;
}

const admin = adminRoutes as unknown as Partial<{
  ID: Parser<string>;
  tokenBody: Parser<IssueTokenRequest>;
  collaboratorBody: Parser<{ role: CollaboratorRole }>;
}>;
const audit = auditRoutes as unknown as Partial<{
  adminQuery: Parser<unknown>;
  toFilter(query: unknown): AuditFilter;
}>;

/** POST /v1/admin/tokens as JSON: timestamps are ISO strings. */
export interface TokenBody {
  type: string;
  name?: string;
  user_id?: string;
  project_id?: string;
  scopes?: string[];
  grants?: Array<{ project_id: string; expires_at?: string; allow_trigger?: boolean }>;
  expires_at?: string;
}

/** GET /v1/admin/audit's query string. */
export interface AuditQuery {
  user_id?: string;
  token_id?: string;
  since?: string;
  limit?: string;
}

export function tokenRequest(body: TokenBody): IssueTokenRequest {
  if (admin.tokenBody) return admin.tokenBody.parse(body);
  const { expires_at, grants, ...rest } = body;
  const request = { ...rest } as IssueTokenRequest;
  if (expires_at !== undefined) request.expires_at = timestamp(expires_at, "expires_at");
  if (grants !== undefined) {
    request.grants = grants.map(({ expires_at: until, ...g }, i) => ({
      ...g,
      ...(until !== undefined ? { expires_at: timestamp(until, `grants.${i}.expires_at`) } : {}),
    }));
  }
  return request;
}

/** A path segment of the admin API (project or user id); the stores check it otherwise. */
export function id(value: string, field: string): string {
  if (!admin.ID) return value;
  try {
    return admin.ID.parse(value);
  } catch (err) {
    // A bare schema's issue has no path: name the field it was checked for.
    const message = (err as { issues?: Array<{ message?: unknown }> }).issues?.[0]?.message;
    throw typeof message === "string" ? new StoreValidationError(field, message) : err;
  }
}

export function collaboratorRole(role: string): CollaboratorRole {
  if (admin.collaboratorBody) return admin.collaboratorBody.parse({ role }).role;
  return role as CollaboratorRole;
}

export function auditFilter(query: AuditQuery): AuditFilter {
  if (audit.adminQuery && audit.toFilter) return audit.toFilter(audit.adminQuery.parse(query));
  const limit = query.limit === undefined ? AUDIT_QUERY_DEFAULT_LIMIT : /^\d+$/.test(query.limit) ? Number(query.limit) : NaN;
  const filter: AuditFilter = { limit };
  if (query.user_id !== undefined) filter.user_id = query.user_id;
  if (query.token_id !== undefined) filter.token_id = query.token_id;
  if (query.since !== undefined) filter.since = timestamp(query.since, "since");
  return filter;
}

/** Interim only (see the top of this file). */
function timestamp(value: string, field: string): Date {
  const date = /^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:\d{2})$/.test(value) ? new Date(value) : new Date(NaN);
  if (Number.isNaN(date.getTime())) throw new StoreValidationError(field, "must be an ISO 8601 timestamp with a timezone, e.g. 2026-12-31T23:59:59Z");
  return date;
}
