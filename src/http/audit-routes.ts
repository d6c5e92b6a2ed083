import { Router } from "express";
import { z } from "zod";
import { AUDIT_QUERY_DEFAULT_LIMIT, AUDIT_QUERY_MAX_LIMIT, AUDIT_SOURCES, type AuditFilter, type AuditPage, type AuditRecord, type AuditStore } from "../audit/types.js";
import { MCP_NAME_MAX } from "../audit/validate.js";
import { RequestError } from "../errors.js";
import { USER_ID } from "./admin-schemas.js";

// eslint-disable-next-line no-control-regex
const ID = z.string().min(1).max(256).regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters");
const TIMESTAMP = z.iso
  .datetime({ offset: true, message: "must be an ISO 8601 timestamp with a timezone, e.g. 2026-12-31T23:59:59Z" })
  .transform((s) => new Date(s));
const LIMIT = z
  .string()
  .regex(/^[0-9]{1,4}$/, `must be an integer in 1..${AUDIT_QUERY_MAX_LIMIT}`)
  .transform(Number)
  .pipe(z.number().int().min(1, `must be an integer in 1..${AUDIT_QUERY_MAX_LIMIT}`).max(AUDIT_QUERY_MAX_LIMIT, `must be an integer in 1..${AUDIT_QUERY_MAX_LIMIT}`));
const ALLOW = z.enum(["true", "false"], { message: 'must be "true" or "false"' }).transform((v) => v === "true");
const CURSOR = z.string().min(1).max(512);
const SOURCE = z.enum(AUDIT_SOURCES, { message: `must be one of ${AUDIT_SOURCES.join(", ")}` });
// eslint-disable-next-line no-control-regex
const MCP_NAME = z.string().min(1).max(MCP_NAME_MAX).regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters");

/** What every audit view accepts; unknown parameters are refused (a mistyped filter must not widen the result). */
const pageQuery = {
  since: TIMESTAMP.optional(),
  until: TIMESTAMP.optional(),
  allow: ALLOW.optional(),
  limit: LIMIT.optional(),
  cursor: CURSOR.optional(),
  tool: MCP_NAME.optional(),
  mcp_method: MCP_NAME.optional(),
};
export const adminQuery = z.object({ user_id: USER_ID.optional(), token_id: ID.optional(), source: SOURCE.optional(), ...pageQuery });
const ownerQuery = z.object(pageQuery);

/** Parses a query string object, refusing unknown parameters by name. */
function parseQuery<S extends z.ZodObject>(schema: S, query: unknown): z.infer<S> {
  const q = query ?? {};
  if (typeof q === "object") {
    for (const key of Object.keys(q)) {
      if (!Object.hasOwn(schema.shape, key)) throw new RequestError("invalid_request", `${key}: unknown parameter`, key);
    }
  }
  return schema.parse(q);
}

/** An audit record as the API shows it: the record with its time as an ISO string. */
export type AuditRecordView = Omit<AuditRecord, "time"> & { time: string };
export interface AuditPageView {
  records: AuditRecordView[];
  next_cursor: string | null;
}

export function viewAuditPage(page: AuditPage): AuditPageView {
  return { records: page.records.map((r) => ({ ...r, time: r.time.toISOString() })), next_cursor: page.next_cursor };
}

export function toFilter(q: z.infer<typeof adminQuery>): AuditFilter {
  if (q.since && q.until && q.until <= q.since) throw new RequestError("invalid_request", "until: must be later than since", "until");
  const filter: AuditFilter = { limit: q.limit ?? AUDIT_QUERY_DEFAULT_LIMIT };
  if (q.user_id !== undefined) filter.user_id = q.user_id;
  if (q.token_id !== undefined) filter.token_id = q.token_id;
  if (q.since !== undefined) filter.since = q.since;
  if (q.until !== undefined) filter.until = q.until;
  if (q.allow !== undefined) filter.allow = q.allow;
  if (q.source !== undefined) filter.source = q.source;
  if (q.tool !== undefined) filter.tool = q.tool;
  if (q.mcp_method !== undefined) filter.mcp_method = q.mcp_method;
  if (q.cursor !== undefined) filter.cursor = q.cursor;
  return filter;
}

/**
 * The admin view of the audit trail: GET /v1/admin/audit?user_id=&token_id=&source=&tool=&mcp_method=&since=&until=&allow=&limit=&cursor=
 * Newest first; `since` inclusive, `until` exclusive (ISO 8601 with a timezone); limit default 100,
 * max 1000; next_cursor null on the last page. Bad input throws a ZodError or RequestError (400
 * naming the field); a bad cursor a StoreValidationError (400, field "cursor"). Authentication of
 * /v1/admin/* is the job of the middleware mounted before this router.
 */
export function auditRoutes(store: AuditStore): Router {
  const router = Router();
  router.get("/v1/admin/audit", async (req, res) => {
    const filter = toFilter(parseQuery(adminQuery, req.query));
    res.json(viewAuditPage(await store.query(filter)));
  });
  return router;
}

/**
 * The MCP token owner's view (GET /api/v1/mcp/tokens/{id}/audit): the same query, always
 * restricted to `tokenId`; accepts since, until, allow, tool, mcp_method, limit and cursor from `query` (e.g.
 * req.query) and refuses anything else, user_id and token_id included. The caller checks that the
 * token belongs to the user first. Returns the response body.
 */
export async function tokenAuditView(store: AuditStore, tokenId: string, query: unknown): Promise<AuditPageView> {
  const q = parseQuery(ownerQuery, query);
  return viewAuditPage(await store.query({ ...toFilter(q), token_id: tokenId }));
}
