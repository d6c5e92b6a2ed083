// The persisted shape of audit records, its conversion to and from AuditRecord, and the indexes.
// Documents never leave src/audit/mongo.
import type { Db, IndexDescription } from "mongodb";
import { guard } from "../../stores/mongo/errors.js";
import type { AuditRecord, AuditSource, AuditSubjectType } from "../types.js";
import { checkRetentionDays } from "../validate.js";

export const AUDIT_COLLECTION = "audit";

export interface AuditRateLimitDoc {
  class: string;
  limit: number;
  remaining: number;
  reset_s: number;
}

export interface AuditDoc {
  /** The decision_id: unique for free, and a retried batch cannot store a record twice. */
  _id: string;
  time: Date;
  source: AuditSource;
  subject_type: AuditSubjectType | null;
  user_id: string | null;
  token_id: string | null;
  method: string;
  /** Never with a query string. */
  path: string;
  route: string | null;
  allow: boolean;
  status: number;
  reasons: string[];
  rate_limit: AuditRateLimitDoc | null;
  upstream_status: number | null;
  latency_ms: number;
  action: string | null;
  target: string | null;
  client_address: string | null;
}

export function toAuditDoc(r: AuditRecord): AuditDoc {
  return {
    _id: r.decision_id,
    time: new Date(r.time.getTime()),
    source: r.source,
    subject_type: r.subject_type,
    user_id: r.user_id,
    token_id: r.token_id,
    method: r.method,
    path: r.path,
    route: r.route,
    allow: r.allow,
    status: r.status,
    reasons: [...r.reasons],
    rate_limit: r.rate_limit ? { class: r.rate_limit.class, limit: r.rate_limit.limit, remaining: r.rate_limit.remaining, reset_s: r.rate_limit.reset_s } : null,
    upstream_status: r.upstream_status,
    latency_ms: r.latency_ms,
    action: r.action,
    target: r.target,
    client_address: r.client_address,
  };
}

export function fromAuditDoc(d: AuditDoc): AuditRecord {
  const rl = d.rate_limit;
  return {
    decision_id: d._id,
    time: new Date(d.time.getTime()),
    source: d.source,
    subject_type: d.subject_type ?? null,
    user_id: d.user_id ?? null,
    token_id: d.token_id ?? null,
    method: d.method,
    path: d.path,
    route: d.route ?? null,
    allow: d.allow,
    status: d.status,
    reasons: [...(d.reasons ?? [])],
    rate_limit: rl ? { class: rl.class, limit: rl.limit, remaining: rl.remaining, reset_s: rl.reset_s } : null,
    upstream_status: d.upstream_status ?? null,
    latency_ms: d.latency_ms,
    // Records written before these fields existed have none.
    action: d.action ?? null,
    target: d.target ?? null,
    client_address: d.client_address ?? null,
  };
}

/** One per query shape: all, by user, by token, by source; each in the newest-first order of the queries. */
export const AUDIT_INDEXES: readonly IndexDescription[] = [
  { key: { time: -1, _id: -1 }, name: "time_id" },
  { key: { user_id: 1, time: -1, _id: -1 }, name: "user_time_id" },
  { key: { token_id: 1, time: -1, _id: -1 }, name: "token_time_id" },
  { key: { source: 1, time: -1, _id: -1 }, name: "source_time_id" },
];
export const AUDIT_TTL_INDEX_NAME = "time_ttl";

const NOT_IMPLEMENTED = 238;
const INDEX_OPTIONS_CONFLICT = 85;
const INDEX_KEY_SPECS_CONFLICT = 86;

export interface EnsureAuditIndexesResult {
  /** Whether the server keeps the TTL index on time (MongoDB does, FerretDB 1.x does not). */
  ttl: boolean;
}

/**
 * Creates the query indexes and, where the server has them, a TTL index expiring records after
 * `retentionDays` (a changed retention updates it in place). Idempotent; safe to call at every
 * start and from many replicas. Whatever the TTL support, queries never return records older than
 * the retention and prune() deletes them.
 */
export async function ensureAuditIndexes(db: Db, retentionDays: number): Promise<EnsureAuditIndexesResult> {
  checkRetentionDays(retentionDays);
  const expireAfterSeconds = Math.max(1, Math.round(retentionDays * 86_400));
  const collection = db.collection<AuditDoc>(AUDIT_COLLECTION);
  return guard("audit index", async () => {
    // One index per command: FerretDB 1.24 drops the connection when one createIndexes names
    // several existing indexes (see src/stores/mongo/schema.ts).
    for (const index of AUDIT_INDEXES) await collection.createIndexes([index]);
    try {
      await collection.createIndexes([{ key: { time: 1 }, name: AUDIT_TTL_INDEX_NAME, expireAfterSeconds }]);
      return { ttl: true };
    } catch (e) {
      const err = e as { code?: unknown; codeName?: unknown };
      if (err.code === NOT_IMPLEMENTED || err.codeName === "NotImplemented") return { ttl: false };
      if (err.code === INDEX_OPTIONS_CONFLICT || err.code === INDEX_KEY_SPECS_CONFLICT) {
        // The retention changed: update the existing TTL index rather than fail.
        await db.command({ collMod: AUDIT_COLLECTION, index: { name: AUDIT_TTL_INDEX_NAME, expireAfterSeconds } });
        return { ttl: true };
      }
      throw e;
    }
  });
}
