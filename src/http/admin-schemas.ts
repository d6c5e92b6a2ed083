import { z } from "zod";
import { ID_RE, ID_RULE, USER_ID_RE, USER_ID_RULE } from "../domain.js";

// The admin API's request shapes, shared by the HTTP routes and the CLI so both accept exactly
// the same input.
/** Project and token ids. */
export const ID = z.string().regex(ID_RE, ID_RULE);
export const USER_ID = z.string().regex(USER_ID_RE, USER_ID_RULE);
export const TIMESTAMP = z.iso.datetime({ offset: true, message: "must be an ISO 8601 timestamp with a timezone, e.g. 2026-12-31T23:59:59Z" }).transform((s) => new Date(s));

// Path parameters are parsed as objects so a bad one is named in the error's `field`.
export const userParams = z.object({ id: USER_ID });
export const projectParams = z.object({ id: ID });
export const collaboratorParams = z.object({ id: ID, user: USER_ID });
export const userBody = z.object({ role: z.enum(["viewer", "user", "admin"]) }).strict();
export const projectBody = z.object({ public: z.boolean(), name: z.string().min(1).max(100).optional() }).strict();
export const collaboratorBody = z.object({ role: z.enum(["Owner", "Administrator", "Developer"]) }).strict();
export const tokenBody = z
  .object({
    type: z.enum(["global", "project", "mcp"]),
    name: z.string().min(1).max(100).optional(),
    user_id: USER_ID.optional(),
    project_id: ID.optional(),
    scopes: z.array(z.enum(["read", "write"])).max(2).optional(),
    grants: z
      .array(z.object({ project_id: ID, expires_at: TIMESTAMP.nullable().optional(), allow_trigger: z.boolean().optional() }).strict())
      .max(100)
      .optional(),
    expires_at: TIMESTAMP.nullable().optional(),
  })
  .strict();
