// The CLI accepts exactly what the admin API accepts: each command builds the API's request body
// (or query) from its options and parses it with the API's own zod schemas, then hands the result
// to the same modules the routes call.
import type { AuditFilter } from "../audit/types.js";
import type { z } from "zod";
import { collaboratorBody, ID, tokenBody, USER_ID } from "../http/admin-schemas.js";
import { adminQuery, toFilter } from "../http/audit-routes.js";
import type { IssueTokenRequest } from "../issuing/token-issuer.js";
import { StoreValidationError, type CollaboratorRole } from "../stores/types.js";

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
  source?: string;
  tool?: string;
  mcp_method?: string;
  since?: string;
  limit?: string;
}

export function tokenRequest(body: TokenBody): IssueTokenRequest {
  return tokenBody.parse(body);
}

/** A project id, as a path segment of the admin API takes it. */
export function id(value: string, field: string): string {
  return checked(ID, value, field);
}

/** A user id, as a path segment of the admin API takes it. */
export function userId(value: string, field: string): string {
  return checked(USER_ID, value, field);
}

function checked(schema: z.ZodType<string>, value: string, field: string): string {
  try {
    return schema.parse(value);
  } catch (err) {
    // A bare schema's issue has no path: name the field it was checked for.
    const message = (err as { issues?: Array<{ message?: unknown }> }).issues?.[0]?.message;
    throw typeof message === "string" ? new StoreValidationError(field, message) : err;
  }
}

export function collaboratorRole(role: string): CollaboratorRole {
  return collaboratorBody.parse({ role }).role;
}

export function auditFilter(query: AuditQuery): AuditFilter {
  return toFilter(adminQuery.parse(query));
}
