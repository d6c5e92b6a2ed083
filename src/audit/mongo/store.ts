import type { Db, Filter } from "mongodb";
import { guard } from "../../stores/mongo/errors.js";
import { checkDate } from "../../stores/validate.js";
import { DEFAULT_RETENTION_DAYS, retentionCutoff, type AuditFilter, type AuditPage, type AuditPruner, type AuditStore } from "../types.js";
import { checkAuditFilter, checkRetentionDays, encodeCursor, type CheckedAuditFilter } from "../validate.js";
import { auditDayCollection, DAY_MS, fromAuditDoc, LEGACY_AUDIT_COLLECTION, listAuditDays, toAuditDoc, utcDay, type AuditDoc } from "./schema.js";

export interface MongoAuditStoreOptions {
  retentionDays?: number;
  /** Clock for the retention cut-off of queries (tests). */
  now?: () => Date;
}

/** Legacy records copied per insertMany while migrating. */
const MIGRATE_BATCH = 500;

/**
 * The read side of the per-day collections `audit_YYYYMMDD` (schema.ts), and their retention.
 * A query reads only the days its range covers, newest day first, and stops as soon as it has a
 * page; so its cost is bounded by the days it reads, not by the size of the whole trail.
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
    // The newest day a record may come from: the day of `until` (exclusive) or of the cursor.
    let newest = Number.POSITIVE_INFINITY;
    if (f.until !== undefined) newest = utcDay(new Date(f.until.getTime() - 1));
    if (f.after !== undefined) newest = Math.min(newest, utcDay(new Date(f.after.time)));
    const days = (await listAuditDays(this.#db)).filter((day) => day >= utcDay(since) && day <= newest);

    const q = dayFilter(f, since);
    const docs: AuditDoc[] = [];
    for (const day of days) {
      const need = f.limit + 1 - docs.length;
      const found = await guard("audit record", () =>
        this.#db
          .collection<AuditDoc>(auditDayCollection(day))
          .find(q)
          .sort({ time: -1, _id: -1 })
          .limit(need)
          .toArray(),
      );
      // A record whose time lies outside its collection's day cannot be there (the sink files by
      // day); the days are disjoint, so concatenating newest day first keeps the order.
      docs.push(...found);
      if (docs.length > f.limit) break;
    }
    const records = docs.slice(0, f.limit).map(fromAuditDoc);
    const last = records[records.length - 1];
    return { records, next_cursor: docs.length > f.limit && last ? encodeCursor(last) : null };
  }

  /**
   * Drops the collections of days wholly older than the retention at `now` and deletes the older
   * records of the one day it cuts through; first migrates the legacy single collection, if any.
   * Idempotent and safe from many replicas at once. Returns how many records were deleted.
   */
  async prune(now: Date): Promise<number> {
    checkDate(now, "now");
    const cutoff = retentionCutoff(now, this.retentionDays);
    let deleted = await this.#migrateLegacy(cutoff);
    for (const day of await listAuditDays(this.#db)) {
      if (day + DAY_MS <= cutoff.getTime()) deleted += await this.#dropDay(day);
      else if (day <= cutoff.getTime()) {
        const res = await guard("audit record", () => this.#db.collection<AuditDoc>(auditDayCollection(day)).deleteMany({ time: { $lt: cutoff } }));
        deleted += res.deletedCount;
      }
    }
    return deleted;
  }

  async #dropDay(day: number): Promise<number> {
    const collection = this.#db.collection<AuditDoc>(auditDayCollection(day));
    return guard("audit record", async () => {
      const count = await collection.estimatedDocumentCount();
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
   * into their day's collection (duplicates of an interrupted run are ignored), then the legacy
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
        const byDay = new Map<string, AuditDoc[]>();
        for (const d of batch) {
          const name = auditDayCollection(utcDay(d.time));
          byDay.set(name, [...(byDay.get(name) ?? []), d]);
        }
        for (const [name, docs] of byDay) {
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

/** The filter of one day's collection: the range, the exact-match fields, and the cursor's position. */
function dayFilter(f: CheckedAuditFilter, since: Date): Filter<AuditDoc> {
  const q: Filter<AuditDoc> = { time: f.until !== undefined ? { $gte: since, $lt: f.until } : { $gte: since } };
  if (f.user_id !== undefined) q.user_id = f.user_id;
  if (f.token_id !== undefined) q.token_id = f.token_id;
  if (f.allow !== undefined) q.allow = f.allow;
  if (f.source !== undefined) q.source = f.source;
  if (f.after !== undefined) {
    const t = new Date(f.after.time);
    q.$or = [{ time: { $lt: t } }, { time: t, _id: { $lt: f.after.id } }];
  }
  return q;
}
