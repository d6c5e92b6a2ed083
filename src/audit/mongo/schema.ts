// The persisted shape of audit records, its conversion to and from AuditRecord, the hourly
// partitions and their indexes. Documents never leave src/audit/mongo.
import type { Db, IndexDescription } from "mongodb";
import { guard } from "../../stores/mongo/errors.js";
import type { AuditMcp, AuditRecord, AuditSource, AuditSubjectType } from "../types.js";
import { checkRetentionDays } from "../validate.js";

/**
 * Records live in one collection per UTC hour of their `time`, `audit_YYYYMMDDHH`: retention drops
 * whole collections, and a query reads only the hours its range covers, newest first, stopping
 * when it has a page. FerretDB 1.x pushes neither filter nor sort down: every query reads and
 * sorts whole collections (measured ~0.25 ms a record), and a deleteMany over one big collection
 * outlasted the 5 s socket timeout. An hour keeps each read small at tens of thousands of records
 * a day; with MongoDB's indexes the partitions cost little.
 */
export const AUDIT_PARTITION_PREFIX = "audit_";
/** The single collection of releases before partitions; migrated by MongoAuditStore.prune(). */
export const LEGACY_AUDIT_COLLECTION = "audit";
export const PARTITION_MS = 3_600_000;
const PARTITION_NAME_RE = /^audit_(\d{4})(\d{2})(\d{2})(\d{2})$/;

/** The start (ms since the epoch) of the UTC hour holding `time`. */
export function partitionOf(time: Date): number {
  return Math.floor(time.getTime() / PARTITION_MS) * PARTITION_MS;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** The collection of the partition starting at `start` (see partitionOf). */
export function auditPartitionCollection(start: number): string {
  const d = new Date(start);
  return `${AUDIT_PARTITION_PREFIX}${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}`;
}

/** The partition start a collection name stands for, or null for any other collection. */
export function parseAuditPartition(name: string): number | null {
  const m = PARTITION_NAME_RE.exec(name);
  if (!m) return null;
  const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]));
  return auditPartitionCollection(start) === name ? start : null;
}

/** The partitions that have a collection, newest first. */
export async function listAuditPartitions(db: Db): Promise<number[]> {
  const names = await guard("audit record", () => db.listCollections({}, { nameOnly: true }).toArray());
  const starts: number[] = [];
  for (const { name } of names) {
    const start = parseAuditPartition(name);
    if (start !== null) starts.push(start);
  }
  return starts.sort((a, b) => b - a);
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
  policy_revision: string | null;
  user_agent: string | null;
  /** Absent on records written before MCP messages were recorded. */
  mcp?: AuditMcp | null;
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
    policy_revision: r.policy_revision,
    user_agent: r.user_agent,
    mcp: r.mcp ? { ...r.mcp } : null,
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
    policy_revision: d.policy_revision ?? null,
    user_agent: d.user_agent ?? null,
    mcp: d.mcp ? { ...d.mcp } : null,
  };
}

/** One per query shape: all, by user, by token, by source, by MCP tool, by MCP method; each in the newest-first order of the queries. */
export const AUDIT_INDEXES: readonly IndexDescription[] = [
  { key: { time: -1, _id: -1 }, name: "time_id" },
  { key: { user_id: 1, time: -1, _id: -1 }, name: "user_time_id" },
  { key: { token_id: 1, time: -1, _id: -1 }, name: "token_time_id" },
  { key: { source: 1, time: -1, _id: -1 }, name: "source_time_id" },
  { key: { "mcp.tool": 1, time: -1, _id: -1 }, name: "mcp_tool_time_id" },
  { key: { "mcp.method": 1, time: -1, _id: -1 }, name: "mcp_method_time_id" },
];

/**
 * Creates the query indexes of one partition's collection (creating the collection). Idempotent;
 * safe from many replicas at once. FerretDB 1.x keeps them without using them; MongoDB uses them.
 */
export async function ensurePartitionIndexes(db: Db, start: number): Promise<void> {
  const collection = db.collection<AuditDoc>(auditPartitionCollection(start));
  await guard("audit index", async () => {
    // One index per command: FerretDB 1.24 drops the connection when one createIndexes names
    // several existing indexes (see src/stores/mongo/schema.ts).
    for (const index of AUDIT_INDEXES) await collection.createIndexes([index]);
  });
}

/**
 * Startup: checks the retention and indexes the current partition. Idempotent. Later partitions
 * are indexed by the sink when it first writes to them.
 */
export async function ensureAuditIndexes(db: Db, retentionDays: number, now: Date = new Date()): Promise<void> {
  checkRetentionDays(retentionDays);
  await ensurePartitionIndexes(db, partitionOf(now));
}
