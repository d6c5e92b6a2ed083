import { msUntilLeaves, SUB_WINDOWS, subWindowUs } from "../rate-window.js";
import { validateRateLimitArgs } from "../validate.js";
import type { RateLimiter, RateLimitOptions, RateLimitResult } from "../types.js";
import type { MemoryMcpSessionStore } from "./mcp-session-store.js";

export interface MemoryRateLimiterOptions {
  /** Milliseconds clock; injectable for tests. Default Date.now. */
  now?: () => number;
  /** Drop idle keys every this many hits. Default 1000. */
  sweepEvery?: number;
  /** Where hits asked to check an MCP session (RateLimitOptions.session) look. */
  sessions?: MemoryMcpSessionStore;
}

const SLOTS = SUB_WINDOWS + 1;

interface Counter {
  /** Hits per sub-window in a ring: sub-window n lives in slot n mod (S+1). */
  counts: Uint32Array;
  /** Sum of `counts`. */
  total: number;
  /** The oldest sub-window holding hits; every counted one lies in [oldest, oldest + S]. */
  oldest: number;
  /** When (ms) the newest counted sub-window leaves the window: the key can be forgotten. */
  expiresAt: number;
}

/**
 * The Redis limiter's rolling window (see rate-window.ts) with the same steps, per key and
 * window: O(1) amortised per hit (a hit expires at most S+1 sub-windows, each once) and S+1
 * counters per key whatever the limit. hit() does all its work synchronously, so concurrent
 * calls are atomic.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly counters = new Map<string, Counter>();
  private readonly now: () => number;
  private readonly sweepEvery: number;
  private readonly sessions: MemoryMcpSessionStore | undefined;
  private sinceSweep = 0;

  constructor(options: MemoryRateLimiterOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sweepEvery = options.sweepEvery ?? 1000;
    this.sessions = options.sessions;
  }

  async hit(key: string, limit: number, windowMs: number, options?: RateLimitOptions): Promise<RateLimitResult> {
    const args = validateRateLimitArgs(key, limit, windowMs, options);
    if (args.session && !this.sessions) throw new TypeError("this rate limiter was given no session store");
    const session = args.session ? this.sessions!.checkNow(args.session) : undefined;
    const now = this.now();
    if (++this.sinceSweep >= this.sweepEvery) this.sweep(now);

    // Counters are per window too, as in Redis: a caller with another window never shares one.
    const id = `${args.windowMs}:${args.key}`;
    const subUs = subWindowUs(args.windowMs);
    const nowUs = now * 1000;
    const current = Math.floor(nowUs / subUs);
    let counter = this.counters.get(id);
    if (counter && expire(counter, current - SUB_WINDOWS) === 0) {
      this.counters.delete(id);
      counter = undefined;
    }

    const allowed = (counter?.total ?? 0) < args.limit;
    if (allowed && args.consume) {
      if (!counter) this.counters.set(id, (counter = { counts: new Uint32Array(SLOTS), total: 0, oldest: current, expiresAt: 0 }));
      // A clock that stepped back counts the hit in the oldest sub-window still held.
      const n = Math.max(current, counter.oldest);
      counter.counts[n % SLOTS]! += 1;
      counter.total += 1;
      counter.expiresAt = Math.max(counter.expiresAt, ((n + SLOTS) * subUs) / 1000);
    }

    const counted = counter?.total ?? 0;
    return {
      allowed,
      limit: args.limit,
      remaining: Math.max(0, args.limit - counted),
      reset_ms: counter ? msUntilLeaves(counter.oldest, subUs, nowUs) : 0,
      ...(session && { session }),
    };
  }

  /** Number of keys currently held (for tests and metrics). */
  get size(): number {
    return this.counters.size;
  }

  private sweep(now: number): void {
    this.sinceSweep = 0;
    for (const [id, counter] of this.counters) {
      if (counter.expiresAt <= now) this.counters.delete(id);
    }
  }
}

/**
 * Drops the sub-windows before `first` and moves `oldest` to the oldest one still holding hits;
 * returns the hits left. At most S+1 steps per loop, and `oldest` only moves forward.
 */
function expire(counter: Counter, first: number): number {
  if (counter.oldest + SUB_WINDOWS < first) return (counter.total = 0); // every sub-window has left
  for (; counter.oldest < first; counter.oldest++) {
    const slot = counter.oldest % SLOTS;
    counter.total -= counter.counts[slot]!;
    counter.counts[slot] = 0;
  }
  if (counter.total > 0) while (counter.counts[counter.oldest % SLOTS] === 0) counter.oldest++;
  return counter.total;
}
