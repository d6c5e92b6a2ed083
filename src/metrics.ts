import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Decision, DecisionObserver } from "./decision/service.js";
import type { AuditCounters } from "./audit/types.js";
import type { CacheCounters } from "./facts/fact-cache.js";
import type { ChangeKind, IgnoredReason, InvalidationObserver, SubscriptionState } from "./facts/invalidation.js";
import { packageVersion } from "./package-root.js";

/** The latency histogram's two label sets, made once. */
const ALLOWED = { allow: "true" } as const;
const DENIED = { allow: "false" } as const;

export interface MetricsOptions {
  /** The active policy revision, read at each scrape so that a hot reload shows at once. */
  policyRevision: () => string;
  defaultMetrics?: boolean;
}

/**
 * Counts of one labelled counter kept in plain numbers on the hot path and added to the prom-client
 * counter when it is collected (each scrape, and the primary's collection from workers): prom-client
 * 15 hashes and validates the label set on every inc(), ~0.2 µs, several times per decision.
 * The exposition is the same: series appear in the order they were first counted.
 */
class PendingCounts<L extends string> {
  readonly #pending = new Map<string, { labels: Record<L, string>; n: number }>();

  /** One more for the series `key` names; `labels` (called only the first time) are its labels. */
  add(key: string, labels: () => Record<L, string>): void {
    const entry = this.#pending.get(key);
    if (entry) entry.n++;
    else this.#pending.set(key, { labels: labels(), n: 1 });
  }

  /** Hands what was counted since the last call to `counter`. */
  flushTo(counter: Counter<L>): void {
    for (const entry of this.#pending.values()) {
      if (entry.n === 0) continue;
      counter.inc(entry.labels, entry.n);
      entry.n = 0;
    }
  }
}

/**
 * Prometheus metrics for one process; each test or app gets its own registry. With
 * TOLLGATE_WORKERS > 1 the primary aggregates every worker's registry (server/cluster-metrics.ts):
 * counters and histograms are summed, each gauge says how it combines (`aggregator`).
 */
export class Metrics implements DecisionObserver, CacheCounters, InvalidationObserver {
  readonly registry = new Registry();
  #exposition: () => Promise<string> = () => this.registry.metrics();
  readonly #decisionCounts = new PendingCounts<"allow" | "status" | "reason">();
  readonly #cacheCounts = new PendingCounts<"cache" | "result">();
  readonly #decisions: Counter<"allow" | "status" | "reason"> = new Counter({
    name: "tollgate_decisions_total",
    help: "Decisions by result, status and reason",
    labelNames: ["allow", "status", "reason"] as const,
    registers: [this.registry],
    collect: (): void => this.#decisionCounts.flushTo(this.#decisions),
  });
  readonly #latency = new Histogram({
    name: "tollgate_decision_duration_seconds",
    help: "Time to reach a decision, facts and rate limit included",
    labelNames: ["allow"] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly #failOpen = new Counter({
    name: "tollgate_rate_limit_fail_open_total",
    help: "Requests admitted without a rate-limit check because the limiter was unavailable",
    registers: [this.registry],
  });
  readonly #cache: Counter<"cache" | "result"> = new Counter({
    name: "tollgate_cache_lookups_total",
    help: "Fact cache lookups by cache and result",
    labelNames: ["cache", "result"] as const,
    registers: [this.registry],
    collect: (): void => this.#cacheCounts.flushTo(this.#cache),
  });
  readonly #cacheOverflowCleared = new Counter({
    name: "tollgate_fact_cache_overflow_clears_total",
    help: "Times the fact cache was cleared because TOLLGATE_REVOCATIONS_MAX changes younger than the cache TTL were remembered",
    registers: [this.registry],
  });

  readonly #invalidationsPublished = new Counter({
    name: "tollgate_invalidations_published_total",
    help: "Cache invalidations this process published, by kind and result (ok, retried: after a failed attempt, failed: given up)",
    labelNames: ["kind", "result"] as const,
    registers: [this.registry],
  });
  readonly #invalidationsApplied = new Counter({
    name: "tollgate_invalidations_applied_total",
    help: "Cache invalidations this process applied (its own included), by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly #invalidationsIgnored = new Counter({
    name: "tollgate_invalidations_ignored_total",
    help: "Invalidation-bus messages dropped, by reason (wrong_channel, malformed, unknown_version, unknown_kind)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly #invalidationLag = new Histogram({
    name: "tollgate_invalidation_lag_seconds",
    help: "From publish (the publisher's clock) to apply (this process's clock)",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly #subscription = new Gauge({
    name: "tollgate_invalidation_subscription_up",
    help: "1 while this process hears its own heartbeat on the invalidation bus, 0 while it does not (facts then come from the stores); over workers, 0 if any is down",
    aggregator: "min",
    registers: [this.registry],
  });

  readonly #adminAuthFailures = new Counter({
    name: "tollgate_admin_auth_failures_total",
    help: "Admin API requests refused before their route, by reason (missing_token, invalid_token, insufficient_role, rate_limited, …)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  readonly #auditWritten = new Counter({
    name: "tollgate_audit_records_written_total",
    help: "Audit records written to the audit store",
    registers: [this.registry],
  });
  readonly #auditDropped = new Counter({
    name: "tollgate_audit_records_dropped_total",
    help: "Audit records dropped, by why (queue_full, write_failed, invalid)",
    labelNames: ["why"] as const,
    registers: [this.registry],
  });

  #auditTotals = { written: 0, dropped: 0 };

  /** Counters for the audit sink. */
  readonly audit: AuditCounters = {
    written: (n) => {
      this.#auditWritten.inc(n);
      this.#auditTotals.written += n;
    },
    dropped: (n, why) => {
      this.#auditDropped.inc({ why }, n);
      this.#auditTotals.dropped += n;
    },
  };

  /** The text /metrics serves: this registry, or what exposeFrom() named. */
  exposition(): Promise<string> {
    return this.#exposition();
  }

  /** In a cluster worker: /metrics serves every worker's metrics, aggregated by the primary. */
  exposeFrom(source: () => Promise<string>): void {
    this.#exposition = source;
  }

  /** Audit records written and dropped (all reasons) by this process so far, for the shutdown line. */
  auditTotals(): { written: number; dropped: number } {
    return { ...this.#auditTotals };
  }

  constructor(options: MetricsOptions) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    const { policyRevision } = options;
    const version = packageVersion();
    new Gauge({
      name: "tollgate_build_info",
      help: "Always 1; the labels say which Tollgate, policy and Node.js are running",
      labelNames: ["version", "policy_revision", "node_version"] as const,
      // Aggregated over workers: one series per revision, still 1.
      aggregator: "max",
      registers: [this.registry],
      collect() {
        this.reset();
        this.set({ version, policy_revision: policyRevision(), node_version: process.version }, 1);
      },
    });
  }

  decided(decision: Decision, seconds: number): void {
    const { allow, status, reasons } = decision;
    if (reasons.length === 0) this.#countDecision(allow, status, "");
    for (const reason of reasons) this.#countDecision(allow, status, reason);
    this.#latency.observe(allow ? ALLOWED : DENIED, seconds);
  }

  #countDecision(allow: boolean, status: number, reason: string): void {
    this.#decisionCounts.add(`${allow}|${status}|${reason}`, () => ({ allow: String(allow), status: String(status), reason }));
  }

  rateLimitFailOpen(): void {
    this.#failOpen.inc();
  }

  adminAuthFailed(reason: string): void {
    this.#adminAuthFailures.inc({ reason });
  }

  published(kind: ChangeKind, result: "ok" | "retried" | "failed"): void {
    this.#invalidationsPublished.inc({ kind, result });
  }

  applied(kind: ChangeKind, lagSeconds: number | null): void {
    this.#invalidationsApplied.inc({ kind });
    if (lagSeconds !== null) this.#invalidationLag.observe(lagSeconds);
  }

  ignored(reason: IgnoredReason): void {
    this.#invalidationsIgnored.inc({ reason });
  }

  subscription(state: SubscriptionState): void {
    this.#subscription.set(state === "up" ? 1 : 0);
  }

  hit(cache: string): void {
    this.#cacheCounts.add(`${cache}|hit`, () => ({ cache, result: "hit" }));
  }

  miss(cache: string): void {
    this.#cacheCounts.add(`${cache}|miss`, () => ({ cache, result: "miss" }));
  }

  overflowCleared(): void {
    this.#cacheOverflowCleared.inc();
  }
}
