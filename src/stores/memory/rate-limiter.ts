import { validateRateLimitArgs } from "../validate.js";
import type { RateLimiter, RateLimitOptions, RateLimitResult } from "../types.js";

export interface MemoryRateLimiterOptions {
  /** Milliseconds clock; injectable for tests. Default Date.now. */
  now?: () => number;
  /** Drop idle keys every this many hits. Default 1000. */
  sweepEvery?: number;
}

interface Log {
  /** Timestamps (ms) of counted hits, ascending. */
  hits: number[];
  windowMs: number;
}

/**
 * Sliding log per key, same semantics as the Redis limiter: a hit at time t is counted while
 * t > now - windowMs. hit() does all its work synchronously, so concurrent calls are atomic.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly logs = new Map<string, Log>();
  private readonly now: () => number;
  private readonly sweepEvery: number;
  private sinceSweep = 0;

  constructor(options: MemoryRateLimiterOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sweepEvery = options.sweepEvery ?? 1000;
  }

  async hit(key: string, limit: number, windowMs: number, options?: RateLimitOptions): Promise<RateLimitResult> {
    const args = validateRateLimitArgs(key, limit, windowMs, options);
    const now = this.now();
    if (++this.sinceSweep >= this.sweepEvery) this.sweep(now);

    let log = this.logs.get(args.key);
    const hits = log ? log.hits.filter((t) => t > now - args.windowMs) : [];
    const allowed = hits.length < args.limit;
    if (allowed && args.consume) {
      let i = hits.length;
      while (i > 0 && hits[i - 1]! > now) i--; // keep ascending even if the clock stepped back
      hits.splice(i, 0, now);
    }
    if (hits.length === 0) this.logs.delete(args.key);
    else if (log) Object.assign(log, { hits, windowMs: args.windowMs });
    else this.logs.set(args.key, (log = { hits, windowMs: args.windowMs }));

    const oldest = hits[0];
    return {
      allowed,
      limit: args.limit,
      remaining: Math.max(0, args.limit - hits.length),
      reset_ms: oldest === undefined ? 0 : Math.max(0, Math.ceil(oldest + args.windowMs - now)),
    };
  }

  /** Number of keys currently held (for tests and metrics). */
  get size(): number {
    return this.logs.size;
  }

  private sweep(now: number): void {
    this.sinceSweep = 0;
    for (const [key, log] of this.logs) {
      if (log.hits[log.hits.length - 1]! <= now - log.windowMs) this.logs.delete(key);
    }
  }
}
