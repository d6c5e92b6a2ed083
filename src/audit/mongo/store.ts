import type { Db, Filter } from "mongodb";
import { guard } from "../../stores/mongo/errors.js";
import { checkDate } from "../../stores/validate.js";
import { DEFAULT_RETENTION_DAYS, retentionCutoff, type AuditFilter, type AuditPage, type AuditPruner, type AuditStore } from "../types.js";
import { checkAuditFilter, checkRetentionDays, encodeCursor, type CheckedAuditFilter } from "../validate.js";
import { auditPartitionCollection, PARTITION_MS, fromAuditDoc, LEGACY_AUDIT_COLLECTION, listAuditPartitions, toAuditDoc, partitionOf, type AuditDoc } from "./schema.js";

export interface MongoAuditStoreOptions {
  retentionDays?: number;
  /** Clock for the retention cut-off of queries (tests). */
  now?: () => Date;
}

/** Legacy records copied per insertMany while migrating. */
const MIGRATE_BATCH = 500;

/**
 * The read side of the hourly collections `audit_YYYYMMDDHH` (schema.ts), and their retention.
 * A query reads only the partitions its range covers, newest first, and stops as soon as it has a
 * page: its cost is bounded by the partitions it reads, not by the size of the whole trail.
 */
export class MongoAuditStore implements AuditStore, AuditPruner {
  readonly retentionDays: number;
  readonly #db: Db;
  readonly #now: () => Date;

  constructor(db: Db, options: MongoAuditStoreOptions = {}) {
    this.retentionDays = checkRetentionDays(options.retentionDays ?? DEFAULT_RETENTION_DAYS);
    this.#db = db;
    this.#now = options.now ?? (() => new Date());
  }

  async query(filter: AuditFilter): Promise<AuditPage> {
    const f = checkAuditFilter(filter);
    // Never older than the retention, whether or not prune() has dropped them yet.
    const cutoff = retentionCutoff(this.#now(), this.retentionDays);
    const since = f.since !== undefined && f.since > cutoff ? f.since : cutoff;
    // The newest partition a record may come from: that of `until` (exclusive) or of the cursor.
    let newest = Number.POSITIVE_INFINITY;
    if (f.until !== undefined) newest = partitionOf(new Date(f.until.getTime() - 1));
    if (f.after !== undefined) newest = Math.min(newest, partitionOf(new Date(f.after.time)));
    const partitions = (await listAuditPartitions(this.#db)).filter((start) => start >= partitionOf(since) && start <= newest);

    const q = partitionFilter(f, since);
    const docs: AuditDoc[] = [];
    for (const start of partitions) {
      const need = f.limit + 1 - docs.length;
      const found = await guard("audit record", () =>
        this.#db
          .collection<AuditDoc>(auditPartitionCollection(start))
          .find(q)
          .sort({ time: -1, _id: -1 })
          .limit(need)
          .toArray(),
      );
      // The sink files each record in the partition of its time: partitions are disjoint ranges,
      // so concatenating them newest first keeps the order.
      docs.push(...found);
      if (docs.length > f.limit) break;
    }
    const records = docs.slice(0, f.limit).map(fromAuditDoc);
    const last = records[records.length - 1];
    return { records, next_cursor: docs.length > f.limit && last ? encodeCursor(last) : null };
  }

  /**
   * Drops the collections of partitions wholly older than the retention at `now` and deletes the
   * older records of the one partition it cuts through; first migrates the legacy single
   * collection, if any.
   * Idempotent and safe from many replicas at once. Returns how many records were deleted.
   */
  async prune(now: Date): Promise<number> {
    checkDate(now, "now");
    const cutoff = retentionCutoff(now, this.retentionDays);
    let deleted = await this.#migrateLegacy(cutoff);
    for (const start of await listAuditPartitions(this.#db)) {
      if (start + PARTITION_MS <= cutoff.getTime()) deleted += await this.#dropPartition(start);
      else if (start <= cutoff.getTime()) {
        const res = await guard("audit record", () => this.#db.collection<AuditDoc>(auditPartitionCollection(start)).deleteMany({ time: { $lt: cutoff } }));
        deleted += res.deletedCount;
      }
    }
    return deleted;
  }

  async #dropPartition(start: number): Promise<number> {
    const collection = this.#db.collection<AuditDoc>(auditPartitionCollection(start));
    return guard("audit record", async () => {
      // Only reported: FerretDB counts by reading the collection, so a count that fails or times
      // out must not keep an expired partition from being dropped.
      const count = await collection.estimatedDocumentCount().catch(() => 0);
      try {
        await collection.drop();
      } catch (e) {
        // Another replica dropped it first.
        if ((e as { codeName?: unknown }).codeName === "NamespaceNotFound" || (e as { code?: unknown }).code === 26) return 0;
        throw e;
      }
      return count;
    });
  }

  /**
   * Records of releases with a single `audit` collection: those within the retention are copied
   * into their partition's collection (duplicates of an interrupted run are ignored), then the legacy
   * collection is dropped. Counts the legacy records past the retention as deleted.
   */
  async #migrateLegacy(cutoff: Date): Promise<number> {
    const names = await guard("audit record", () => this.#db.listCollections({}, { nameOnly: true }).toArray());
    if (!names.some((c) => c.name === LEGACY_AUDIT_COLLECTION)) return 0;
    const legacy = this.#db.collection<AuditDoc>(LEGACY_AUDIT_COLLECTION);
    let expired = 0;
    await guard("audit record", async () => {
      const cursor = legacy.find({}, { batchSize: MIGRATE_BATCH });
      let batch: AuditDoc[] = [];
      const write = async (): Promise<void> => {
        const byPartition = new Map<string, AuditDoc[]>();
        for (const d of batch) {
          const name = auditPartitionCollection(partitionOf(d.time));
          byPartition.set(name, [...(byPartition.get(name) ?? []), d]);
        }
        for (const [name, docs] of byPartition) {
          await this.#db
            .collection<AuditDoc>(name)
            .insertMany(docs.map((d) => toAuditDoc(fromAuditDoc(d))), { ordered: false })
            .catch((e: unknown) => {
              // Copied by an earlier, interrupted run (or another replica): fine.
              if ((e as { name?: unknown }).name !== "MongoBulkWriteError") throw e;
            });
        }
        batch = [];
      };
      for await (const doc of cursor) {
        if (doc.time < cutoff) expired++;
        else batch.push(doc);
        if (batch.length >= MIGRATE_BATCH) await write();
      }
      if (batch.length > 0) await write();
      await legacy.drop().catch((e: unknown) => {
        if ((e as { code?: unknown }).code !== 26) throw e;
      });
    });
    return expired;
  }
}

/** The filter of one partition's collection: the range, the exact-match fields, and the cursor's position. */
function partitionFilter(f: CheckedAuditFilter, since: Date): Filter<AuditDoc> {
  const q: Filter<AuditDoc> = { time: f.until !== undefined ? { $gte: since, $lt: f.until } : { $gte: since } };
  if (f.user_id !== undefined) q.user_id = f.user_id;
  if (f.token_id !== undefined) q.token_id = f.token_id;
  if (f.allow !== undefined) q.allow = f.allow;
  if (f.source !== undefined) q.source = f.source;
  if (f.tool !== undefined) q["mcp.tool"] = f.tool;
  if (f.mcp_method !== undefined) q["mcp.method"] = f.mcp_method;
  if (f.after !== undefined) {
    const t = new Date(f.after.time);
    q.$or = [{ time: { $lt: t } }, { time: t, _id: { $lt: f.after.id } }];
  }
  return q;
}
