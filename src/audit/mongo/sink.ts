import type { Collection, Db } from "mongodb";
import { StoreValidationError } from "../../stores/types.js";
import type { AuditCounters, AuditDropReason, AuditLogger, AuditRecord, AuditSink } from "../types.js";
import { normalizeAuditRecord } from "../validate.js";
import { safely, ThrottledWarn } from "../warn.js";
import { auditPartitionCollection, ensurePartitionIndexes, toAuditDoc, partitionOf, type AuditDoc } from "./schema.js";

export interface MongoAuditSinkOptions {
  /** Records waiting to be written; when full, new records are dropped and counted. Default 10,000. */
  maxQueue?: number;
  /** Records per insertMany; a full batch is written at once. Default 500. */
  batchSize?: number;
  /** How often a partial batch is written. Default 500 ms. */
  flushIntervalMs?: number;
  /** While writes fail the interval doubles up to this. Default 10 s. */
  maxBackoffMs?: number;
  /** close() gives up writing after this. Default 5 s. */
  closeTimeoutMs?: number;
  counters?: AuditCounters;
  /** Warned at most once per minute (failing writes, drops, rejected records). */
  logger?: AuditLogger;
  /** Milliseconds clock for the log throttle (tests). */
  clock?: () => number;
}

/**
 * What the sink writes to: a Db (a collection per hour, see schema.ts) or, in tests, anything that
 * hands out collections with insertMany and, optionally, creates indexes.
 */
export interface AuditInsertTarget {
  collection(name: string): Pick<Collection<AuditDoc>, "insertMany">;
}

export interface AuditSinkStats {
  /** Waiting in the queue. */
  queued: number;
  /** In the insertMany under way (0 or one batch). */
  in_flight: number;
  written: number;
  dropped: Record<AuditDropReason, number>;
  /** Consecutive failed writes (0 when MongoDB answers). */
  failures: number;
  /** The current write interval: flushIntervalMs, or longer while backing off. */
  interval_ms: number;
}

type Outcome = { kind: "empty" } | { kind: "ok" | "failed"; taken: number };

const DUPLICATE_KEY = 11000;

/**
 * Fire-and-forget writer of the audit trail. record() only validates and enqueues; a timer writes
 * batches with insertMany (unordered), one insert in flight at a time. A slow or dead MongoDB
 * never slows a request and never grows memory past maxQueue + batchSize records: a failed batch
 * goes back to the front of the queue if there is room (a short outage loses nothing), otherwise
 * it is dropped and counted; while writes fail the interval backs off. Each record goes to the
 * collection of its UTC hour (schema.ts). Records use decision_id as
 * _id, so a batch retried after a partial write stores nothing twice.
 */
export class MongoAuditSink implements AuditSink {
  readonly maxQueue: number;
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  readonly maxBackoffMs: number;
  readonly closeTimeoutMs: number;
  readonly #target: AuditInsertTarget;
  /** Partitions whose collection this process has indexed (once each, not per batch). */
  readonly #indexedPartitions = new Set<number>();
  readonly #counters: AuditCounters | undefined;
  readonly #warn: ThrottledWarn;

  /** Normalized records; converted to documents when written, off the hot path. */
  #queue: AuditRecord[] = [];
  #inFlight: Promise<Outcome> | null = null;
  #inFlightCount = 0;
  #timer: NodeJS.Timeout | null = null;
  #immediate: NodeJS.Immediate | null = null;
  #interval: number;
  #failures = 0;
  #closed = false;
  #closing: Promise<void> | null = null;
  #written = 0;
  readonly #dropped: Record<AuditDropReason, number> = { queue_full: 0, write_failed: 0, invalid: 0 };

  constructor(target: AuditInsertTarget, options: MongoAuditSinkOptions = {}) {
    this.maxQueue = positiveInt(options.maxQueue ?? 10_000, "maxQueue");
    this.batchSize = positiveInt(options.batchSize ?? 500, "batchSize");
    this.flushIntervalMs = positiveInt(options.flushIntervalMs ?? 500, "flushIntervalMs");
    this.maxBackoffMs = Math.max(this.flushIntervalMs, positiveInt(options.maxBackoffMs ?? 10_000, "maxBackoffMs"));
    this.closeTimeoutMs = positiveInt(options.closeTimeoutMs ?? 5_000, "closeTimeoutMs");
    this.#target = target;
    this.#counters = options.counters;
    this.#warn = new ThrottledWarn(options.logger, options.clock);
    this.#interval = this.flushIntervalMs;
  }

  record(r: AuditRecord): void {
    try {
      if (this.#closed) {
        this.#drop(1, "write_failed");
        return;
      }
      // Full first: under overload the drop costs no validation.
      if (this.#queue.length >= this.maxQueue) {
        this.#drop(1, "queue_full");
        this.#warn.warn(() => ({ queued: this.#queue.length, dropped: { ...this.#dropped } }), "audit queue full; dropping records");
        return;
      }
      let rec: AuditRecord;
      try {
        rec = normalizeAuditRecord(r);
      } catch (err) {
        this.#drop(1, "invalid");
        this.#warn.warn({ err: String(err) }, "audit record rejected (a bug in its producer)");
        return;
      }
      this.#queue.push(rec);
      this.#schedule();
    } catch {
      // never into the request
    }
  }

  async flush(): Promise<void> {
    let budget = this.#queue.length + this.#inFlightCount;
    while (budget > 0) {
      const outcome = await this.#writeNext();
      if (outcome.kind === "empty") break;
      budget -= outcome.taken;
      if (outcome.kind === "failed") break;
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  stats(): AuditSinkStats {
    return {
      queued: this.#queue.length,
      in_flight: this.#inFlightCount,
      written: this.#written,
      dropped: { ...this.#dropped },
      failures: this.#failures,
      interval_ms: this.#interval,
    };
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#clearTimers();
    let deadline: NodeJS.Timeout | undefined;
    const drain = (async () => {
      for (;;) {
        const outcome = await this.#writeNext();
        if (outcome.kind !== "ok") return;
      }
    })();
    await Promise.race([drain, new Promise<void>((resolve) => (deadline = setTimeout(resolve, this.closeTimeoutMs).unref()))]);
    clearTimeout(deadline);
    const left = this.#queue.length;
    this.#queue = [];
    if (left > 0) {
      this.#drop(left, "write_failed");
      this.#warn.warn({ dropped: left }, "audit records not written before shutdown");
    }
  }

  // ------------------------------------------------------------------------------- scheduling

  /** A full batch is written at the next turn (unless backing off); otherwise within the interval. */
  #schedule(): void {
    if (this.#closed || this.#queue.length === 0 || this.#inFlight !== null || this.#immediate !== null) return;
    if (this.#queue.length >= this.batchSize && this.#failures === 0) {
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
      // Not synchronously: record() stays cheap, and a burst in one turn is bounded by the queue.
      this.#immediate = setImmediate(() => this.#tick()).unref();
    } else if (this.#timer === null) {
      this.#timer = setTimeout(() => this.#tick(), this.#interval).unref();
    }
  }

  #tick(): void {
    this.#timer = null;
    this.#immediate = null;
    if (this.#closed) return;
    void this.#writeNext();
  }

  #clearTimers(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#immediate !== null) clearImmediate(this.#immediate);
    this.#timer = null;
    this.#immediate = null;
  }

  // ------------------------------------------------------------------------------- writing

  /** Writes the batch at the front of the queue; one at a time. Never rejects. */
  async #writeNext(): Promise<Outcome> {
    while (this.#inFlight !== null) await this.#inFlight;
    const batch = this.#queue.splice(0, this.batchSize);
    if (batch.length === 0) return { kind: "empty" };
    this.#inFlightCount = batch.length;
    // finally() runs before anyone awaiting #inFlight resumes: they see it cleared, and the
    // queue already holds what a failed batch put back.
    const write = this.#insert(batch).finally(() => {
      this.#inFlight = null;
      this.#inFlightCount = 0;
      this.#schedule();
    });
    this.#inFlight = write;
    return write;
  }

  /**
   * One insertMany per partition the batch spans (rarely more than one). A failure puts back
   * only the partitions not yet written, so nothing is counted twice.
   */
  async #insert(batch: AuditRecord[]): Promise<Outcome> {
    const taken = batch.length;
    const byPartition = new Map<number, AuditRecord[]>();
    for (const r of batch) {
      const start = partitionOf(r.time);
      const group = byPartition.get(start);
      if (group) group.push(r);
      else byPartition.set(start, [r]);
    }
    const starts = [...byPartition.keys()];
    for (let i = 0; i < starts.length; i++) {
      const start = starts[i]!;
      const records = byPartition.get(start)!;
      try {
        await this.#indexOnce(start);
        await this.#target.collection(auditPartitionCollection(start)).insertMany(records.map(toAuditDoc), { ordered: false });
        this.#succeeded(records.length);
      } catch (err) {
        const writeErrors = perDocumentErrors(err);
        if (writeErrors !== null) {
          // The server answered: duplicates are records an earlier, seemingly failed attempt
          // stored; anything else it refused for good, and retrying would not help.
          const refused = writeErrors.filter((w) => w.code !== DUPLICATE_KEY).length;
          this.#succeeded(records.length - refused);
          if (refused > 0) {
            this.#drop(refused, "write_failed");
            this.#warn.warn({ err: String(err), refused }, "MongoDB refused audit records");
          }
          continue;
        }
        this.#failed(
          starts.slice(i).flatMap((s) => byPartition.get(s)!),
          err,
        );
        return { kind: "failed", taken };
      }
    }
    return { kind: "ok", taken };
  }

  /**
   * Indexes a partition's collection before its first write from this process (see schema.ts). Best
   * effort: records are written without the indexes rather than held back; tried again next batch.
   */
  async #indexOnce(start: number): Promise<void> {
    if (this.#indexedPartitions.has(start) || !isDb(this.#target)) return;
    try {
      await ensurePartitionIndexes(this.#target, start);
      this.#indexedPartitions.add(start);
    } catch {
      // the insert that follows reports a backend that is down
    }
  }

  #succeeded(n: number): void {
    this.#failures = 0;
    this.#interval = this.flushIntervalMs;
    if (n > 0) {
      this.#written += n;
      safely(() => this.#counters?.written(n));
    }
  }

  #failed(batch: AuditRecord[], err: unknown): void {
    this.#failures++;
    this.#interval = Math.min(this.#interval * 2, this.maxBackoffMs);
    // Back to the front (it is older than anything queued) as far as there is room.
    const room = this.#closed ? 0 : Math.max(0, this.maxQueue - this.#queue.length);
    const kept = batch.length <= room ? batch : batch.slice(0, room);
    if (kept.length > 0) this.#queue = kept.concat(this.#queue);
    const lost = batch.length - kept.length;
    if (lost > 0) this.#drop(lost, "write_failed");
    this.#warn.warn(
      { err: err instanceof Error ? err.message : String(err), queued: this.#queue.length, retry_in_ms: this.#interval, dropped: { ...this.#dropped } },
      "audit writes to MongoDB failing; queueing (bounded) and retrying",
    );
  }

  #drop(n: number, why: AuditDropReason): void {
    this.#dropped[why] += n;
    safely(() => this.#counters?.dropped(n, why));
  }
}

function isDb(target: AuditInsertTarget): target is Db {
  return typeof (target as Db).listCollections === "function";
}

function positiveInt(v: number, field: string): number {
  if (!Number.isInteger(v) || v < 1) throw new StoreValidationError(field, "must be a positive integer");
  return v;
}

/** The per-document errors of an unordered insertMany the server answered, or null (no answer). */
function perDocumentErrors(err: unknown): Array<{ code?: unknown }> | null {
  if (!(err instanceof Error) || err.name !== "MongoBulkWriteError") return null;
  const raw = (err as { writeErrors?: unknown }).writeErrors;
  const list = Array.isArray(raw) ? raw : raw ? [raw] : [];
  return list.length > 0 ? (list as Array<{ code?: unknown }>) : null;
}
