import { StoreValidationError } from "../stores/types.js";
import { checkDate } from "../stores/validate.js";
import {
  DEFAULT_RETENTION_DAYS,
  retentionCutoff,
  type AuditCounters,
  type AuditFilter,
  type AuditLogger,
  type AuditPage,
  type AuditPruner,
  type AuditRecord,
  type AuditSink,
  type AuditStore,
} from "./types.js";
import { checkAuditFilter, checkRetentionDays, compareNewestFirst, copyAuditRecord, encodeCursor, isAfter, normalizeAuditRecord } from "./validate.js";
import { safely, ThrottledWarn } from "./warn.js";

export interface MemoryAuditOptions {
  /** Records kept; when full the oldest is dropped and counted ("queue_full"). Default 10,000. */
  capacity?: number;
  retentionDays?: number;
  counters?: AuditCounters;
  logger?: AuditLogger;
  /** Clock for the retention (tests). */
  now?: () => Date;
}

export const DEFAULT_MEMORY_CAPACITY = 10_000;

/**
 * The embedded default and the unit-test double: sink and store in one bounded ring. Not shared
 * between replicas and lost at restart.
 */
export class MemoryAudit implements AuditSink, AuditStore, AuditPruner {
  readonly capacity: number;
  readonly retentionDays: number;
  #ring: Array<AuditRecord | undefined>;
  /** Index of the oldest record. */
  #head = 0;
  #size = 0;
  readonly #counters: AuditCounters | undefined;
  readonly #warn: ThrottledWarn;
  readonly #now: () => Date;

  constructor(options: MemoryAuditOptions = {}) {
    const capacity = options.capacity ?? DEFAULT_MEMORY_CAPACITY;
    if (!Number.isInteger(capacity) || capacity < 1) throw new StoreValidationError("capacity", "must be a positive integer");
    this.capacity = capacity;
    this.retentionDays = checkRetentionDays(options.retentionDays ?? DEFAULT_RETENTION_DAYS);
    this.#ring = new Array<AuditRecord | undefined>(capacity);
    this.#counters = options.counters;
    this.#warn = new ThrottledWarn(options.logger);
    this.#now = options.now ?? (() => new Date());
  }

  /** Records held now. */
  get size(): number {
    return this.#size;
  }

  /** Every record held, past the retention included, oldest first (copies). */
  snapshot(): AuditRecord[] {
    return this.#all().map(copyAuditRecord);
  }

  record(r: AuditRecord): void {
    let rec: AuditRecord;
    try {
      rec = normalizeAuditRecord(r);
    } catch (err) {
      safely(() => this.#counters?.dropped(1, "invalid"));
      this.#warn.warn({ err: String(err) }, "audit record rejected");
      return;
    }
    if (this.#size === this.capacity) {
      this.#ring[this.#head] = rec;
      this.#head = (this.#head + 1) % this.capacity;
      safely(() => this.#counters?.dropped(1, "queue_full"));
    } else {
      this.#ring[(this.#head + this.#size) % this.capacity] = rec;
      this.#size++;
    }
    safely(() => this.#counters?.written(1));
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}

  async query(filter: AuditFilter): Promise<AuditPage> {
    const f = checkAuditFilter(filter);
    const cutoff = retentionCutoff(this.#now(), this.retentionDays).getTime();
    const since = Math.max(cutoff, f.since?.getTime() ?? Number.NEGATIVE_INFINITY);
    const matches = this.#all().filter(
      (r) =>
        r.time.getTime() >= since &&
        (f.until === undefined || r.time < f.until) &&
        (f.user_id === undefined || r.user_id === f.user_id) &&
        (f.token_id === undefined || r.token_id === f.token_id) &&
        (f.allow === undefined || r.allow === f.allow) &&
        (f.source === undefined || r.source === f.source) &&
        (f.tool === undefined || r.mcp?.tool === f.tool) &&
        (f.mcp_method === undefined || r.mcp?.method === f.mcp_method) &&
        (f.after === undefined || isAfter(r, f.after)),
    );
    matches.sort(compareNewestFirst);
    const records = matches.slice(0, f.limit).map(copyAuditRecord);
    const last = records[records.length - 1];
    return { records, next_cursor: matches.length > f.limit && last ? encodeCursor(last) : null };
  }

  async prune(now: Date): Promise<number> {
    checkDate(now, "now");
    const cutoff = retentionCutoff(now, this.retentionDays);
    const all = this.#all();
    const kept = all.filter((r) => r.time >= cutoff);
    if (kept.length === all.length) return 0;
    this.#ring = new Array<AuditRecord | undefined>(this.capacity);
    kept.forEach((r, i) => (this.#ring[i] = r));
    this.#head = 0;
    this.#size = kept.length;
    return all.length - kept.length;
  }

  /** Oldest first. */
  #all(): AuditRecord[] {
    const out: AuditRecord[] = [];
    for (let i = 0; i < this.#size; i++) out.push(this.#ring[(this.#head + i) % this.capacity]!);
    return out;
  }
}
