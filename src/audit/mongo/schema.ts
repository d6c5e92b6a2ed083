// The persisted shape of audit records, its conversion to and from AuditRecord, the per-day
// collections and their indexes. Documents never leave src/audit/mongo.
import type { Db, IndexDescription } from "mongodb";
import { guard } from "../../stores/mongo/errors.js";
import type { AuditRecord, AuditSource, AuditSubjectType } from "../types.js";
import { checkRetentionDays } from "../validate.js";

/**
 * Records live in one collection per UTC day of their `time`, `audit_YYYYMMDD`: retention drops
 * whole collections (FerretDB 1.x pushes no index down, so a deleteMany over one big collection
 * took longer than the socket timeout), and a query reads only the days its range covers.
 */
export const AUDIT_DAY_PREFIX = "audit_";
/** The single collection of releases before per-day collections; migrated by MongoAuditStore.prune(). */
export const LEGACY_AUDIT_COLLECTION = "audit";
export const DAY_MS = 86_400_000;
const DAY_NAME_RE = /^audit_(\d{4})(\d{2})(\d{2})$/;

/** The start (ms since the epoch) of the UTC day holding `time`. */
export function utcDay(time: Date): number {
  return Math.floor(time.getTime() / DAY_MS) * DAY_MS;
}

/** The collection of the UTC day starting at `day` (see utcDay). */
export function auditDayCollection(day: number): string {
  const d = new Date(day);
  return `${AUDIT_DAY_PREFIX}${d.getUTCFullYear().toString().padStart(4, "0")}${String(d.getUTCMonth() + 1).padStart(2, "0")}${String(d.getUTCDate()).padStart(2, "0")}`;
}

/** The day (start ms) a collection name stands for, or null for any other collection. */
export function parseAuditDay(name: string): number | null {
  const m = DAY_NAME_RE.exec(name);
  if (!m) return null;
  const day = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return auditDayCollection(day) === name ? day : null;
}

/** The days that have a collection, newest first. */
export async function listAuditDays(db: Db): Promise<number[]> {
  const names = await guard("audit record", () => db.listCollections({}, { nameOnly: true }).toArray());
  const days: number[] = [];
  for (const { name } of names) {
    const day = parseAuditDay(name);
    if (day !== null) days.push(day);
  }
  return days.sort((a, b) => b - a);
}

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

/**
 * Creates the query indexes of one day's collection (creating the collection). Idempotent; safe
 * from many replicas at once. FerretDB 1.x pushes none of them down, but keeps them; MongoDB uses them.
 */
export async function ensureDayIndexes(db: Db, day: number): Promise<void> {
  const collection = db.collection<AuditDoc>(auditDayCollection(day));
  await guard("audit index", async () => {
    // One index per command: FerretDB 1.24 drops the connection when one createIndexes names
    // several existing indexes (see src/stores/mongo/schema.ts).
    for (const index of AUDIT_INDEXES) await collection.createIndexes([index]);
  });
}

/**
 * Startup: checks the retention and indexes today's collection, so the first writes of the day
 * find it ready. Idempotent. Later days are indexed by the sink when it first writes to them.
 */
export async function ensureAuditIndexes(db: Db, retentionDays: number, now: Date = new Date()): Promise<void> {
  checkRetentionDays(retentionDays);
  await ensureDayIndexes(db, utcDay(now));
}
