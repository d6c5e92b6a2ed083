import type { Collection, Db, Filter } from "mongodb";
import { guard } from "../../stores/mongo/errors.js";
import { checkDate } from "../../stores/validate.js";
import { DEFAULT_RETENTION_DAYS, retentionCutoff, type AuditFilter, type AuditPage, type AuditPruner, type AuditStore } from "../types.js";
import { checkAuditFilter, checkRetentionDays, encodeCursor } from "../validate.js";
import { AUDIT_COLLECTION, fromAuditDoc, type AuditDoc } from "./schema.js";

export interface MongoAuditStoreOptions {
  retentionDays?: number;
  /** Clock for the retention cut-off of queries (tests). */
  now?: () => Date;
}

/** The read side of collection `audit`. Needs the indexes from ensureAuditIndexes(db, retentionDays). */
export class MongoAuditStore implements AuditStore, AuditPruner {
  readonly retentionDays: number;
  readonly #audit: Collection<AuditDoc>;
  readonly #now: () => Date;

  constructor(db: Db, options: MongoAuditStoreOptions = {}) {
    this.retentionDays = checkRetentionDays(options.retentionDays ?? DEFAULT_RETENTION_DAYS);
    this.#audit = db.collection<AuditDoc>(AUDIT_COLLECTION);
    this.#now = options.now ?? (() => new Date());
  }

  async query(filter: AuditFilter): Promise<AuditPage> {
    const f = checkAuditFilter(filter);
    // Never older than the retention, whether or not a TTL index has removed them yet.
    const cutoff = retentionCutoff(this.#now(), this.retentionDays);
    const since = f.since !== undefined && f.since > cutoff ? f.since : cutoff;
    const q: Filter<AuditDoc> = { time: f.until !== undefined ? { $gte: since, $lt: f.until } : { $gte: since } };
    if (f.user_id !== undefined) q.user_id = f.user_id;
    if (f.token_id !== undefined) q.token_id = f.token_id;
    if (f.allow !== undefined) q.allow = f.allow;
    if (f.source !== undefined) q.source = f.source;
    if (f.after !== undefined) {
      const t = new Date(f.after.time);
      q.$or = [{ time: { $lt: t } }, { time: t, _id: { $lt: f.after.id } }];
    }
    const docs = await guard("audit record", () =>
      this.#audit
        .find(q)
        .sort({ time: -1, _id: -1 })
        .limit(f.limit + 1)
        .toArray(),
    );
    const records = docs.slice(0, f.limit).map(fromAuditDoc);
    const last = records[records.length - 1];
    return { records, next_cursor: docs.length > f.limit && last ? encodeCursor(last) : null };
  }

  /**
   * Deletes records older than the retention at `now`. Idempotent and safe from many replicas at
   * once (a plain deleteMany); needed where the server has no TTL index and to bound the store
   * between runs of MongoDB's TTL monitor.
   */
  async prune(now: Date): Promise<number> {
    checkDate(now, "now");
    const cutoff = retentionCutoff(now, this.retentionDays);
    const res = await guard("audit record", () => this.#audit.deleteMany({ time: { $lt: cutoff } }));
    return res.deletedCount;
  }
}
