import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryDirectoryStore } from "../../src/stores/memory/directory-store.js";
import { MemoryMcpSessionStore } from "../../src/stores/memory/mcp-session-store.js";
import { MemoryRateLimiter } from "../../src/stores/memory/rate-limiter.js";
import { MemoryTempTokenStore } from "../../src/stores/memory/temp-token-store.js";
import { MemoryTokenStore } from "../../src/stores/memory/token-store.js";
import { msUntilLeaves, SUB_WINDOWS, subWindowUs } from "../../src/stores/rate-window.js";
import { describeDirectoryStoreContract } from "./directory-store.contract.js";
import { describeMcpSessionStoreContract } from "./mcp-session-store.contract.js";
import { describeRateLimiterContract } from "./rate-limiter.contract.js";
import { describeTempTokenStoreContract } from "./temp-token-store.contract.js";
import { describeTokenStoreContract } from "./token-store.contract.js";
import { CachedFacts } from "../../src/facts/cached-facts.js";

describeTokenStoreContract("memory", async () => ({ store: new MemoryTokenStore() }));
describeDirectoryStoreContract("memory", async () => ({ store: new MemoryDirectoryStore() }));
// The write-through cache decorators keep every store promise (a long TTL: only writes refresh it).
const cached = () => new CachedFacts(new MemoryTokenStore(), new MemoryDirectoryStore(), { ttlMs: 600_000 });
describeTokenStoreContract("memory, cached", async () => ({ store: cached().tokenStore }));
describeDirectoryStoreContract("memory, cached", async () => ({ store: cached().directoryStore }));
describeTempTokenStoreContract("memory", async () => ({ store: new MemoryTempTokenStore() }));
describeRateLimiterContract("memory", async () => {
  let now = 1_700_000_000_000;
  return {
    store: new MemoryRateLimiter({ now: () => now }),
    advance: async (ms) => {
      now += ms;
    },
  };
});

describe("MemoryRateLimiter specifics", () => {
  it("forgets idle keys", async () => {
    let now = 0;
    const limiter = new MemoryRateLimiter({ now: () => now, sweepEvery: 10 });
    for (let i = 0; i < 50; i++) await limiter.hit(`k${i}`, 5, 100);
    expect(limiter.size).toBeGreaterThan(0);
    now += ((SUB_WINDOWS + 1) * subWindowUs(100)) / 1000; // S+1 sub-windows: the window and one more
    for (let i = 0; i < 10; i++) await limiter.hit("live", 100, 100, { consume: false });
    expect(limiter.size).toBe(0);
  });

  it("stays correct when the clock steps back", async () => {
    let now = 1_000;
    const limiter = new MemoryRateLimiter({ now: () => now });
    await limiter.hit("k", 3, 100);
    now = 950;
    await limiter.hit("k", 3, 100);
    now = 1_040; // both the t=950 and the t=1000 hit are still in
    expect((await limiter.hit("k", 3, 100, { consume: false })).remaining).toBe(1);
    now = 1_101; // both out
    expect((await limiter.hit("k", 3, 100, { consume: false })).remaining).toBe(3);
  });
});

/**
 * The rolling window's rules written the slow, obvious way: every admitted hit kept with its time,
 * counted while its sub-window is the current one or one of the S before it.
 */
class ReferenceWindow {
  private readonly admitted: number[] = [];
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  hit(now: number, consume: boolean) {
    const subUs = subWindowUs(this.windowMs);
    const sub = (t: number) => Math.floor((t * 1000) / subUs);
    const counted = this.admitted.filter((t) => sub(t) >= sub(now) - SUB_WINDOWS);
    const allowed = counted.length < this.limit;
    if (allowed && consume) {
      this.admitted.push(now);
      counted.push(now);
    }
    const oldest = counted.length === 0 ? null : Math.min(...counted.map(sub));
    return {
      allowed,
      limit: this.limit,
      remaining: Math.max(0, this.limit - counted.length),
      reset_ms: oldest === null ? 0 : msUntilLeaves(oldest, subUs, now * 1000),
    };
  }
}

describe("MemoryRateLimiter: the rolling window over time (driven clock)", () => {
  const step = fc.record({ advance: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 700 })), hits: fc.integer({ min: 1, max: 6 }), consume: fc.boolean() });

  it("matches the reference, never admits more than L in any rolling window, and under-admits by at most one sub-window", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(100, 400, 1_000, 7_001),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1_700_000_000_000, max: 1_700_000_100_000 }),
        fc.array(step, { minLength: 1, maxLength: 120 }),
        async (W, L, start, steps) => {
          let now = start;
          const limiter = new MemoryRateLimiter({ now: () => now, sweepEvery: 7 });
          const reference = new ReferenceWindow(L, W);
          const admitted: number[] = [];
          const slackMs = ((SUB_WINDOWS + 1) * subWindowUs(W)) / 1000; // the counted span: W plus one sub-window
          for (const { advance, hits, consume } of steps) {
            now += advance;
            for (let i = 0; i < hits; i++) {
              const got = await limiter.hit("k", L, W, { consume });
              expect(got).toEqual(reference.hit(now, consume));
              if (got.allowed && consume) {
                admitted.push(now);
                // Ending at an admission is enough: a rolling window holds the most right after one.
                expect(admitted.filter((t) => t > now - W).length).toBeLessThanOrEqual(L);
              }
              if (!got.allowed) expect(admitted.filter((t) => t > now - slackMs).length).toBeGreaterThanOrEqual(L);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a burst at the end of one window is not followed by another right after the boundary", async () => {
    // The two-window weighted counter admitted 187 in 1.86 s against 100 here.
    let now = 1_700_000_000_000;
    const limiter = new MemoryRateLimiter({ now: () => now });
    now += 990;
    let admitted = 0;
    for (let i = 0; i < 150; i++) if ((await limiter.hit("k", 100, 1_000)).allowed) admitted++;
    expect(admitted).toBe(100);
    for (const t of [1_010, 1_500, 1_900, 1_980]) {
      now = 1_700_000_000_000 + t;
      expect((await limiter.hit("k", 100, 1_000)).allowed).toBe(false);
    }
    now = 1_700_000_000_000 + 990 + 1_000 + 1_000 / SUB_WINDOWS + 1; // one sub-window after the burst left the window
    const after = await limiter.hit("k", 100, 1_000);
    expect(after).toMatchObject({ allowed: true, remaining: 99 });
  });

  it("keeps at most S+1 counters per key, whatever the limit", async () => {
    let now = 1_700_000_000_000;
    const limiter = new MemoryRateLimiter({ now: () => now });
    for (let i = 0; i < 120_000; i++) {
      now += 1;
      await limiter.hit("k", 1_000_000, 60_000);
    }
    const counter = (limiter as unknown as { counters: Map<string, { counts: Uint32Array; total: number }> }).counters.get("60000:k")!;
    expect(counter.counts.length).toBe(SUB_WINDOWS + 1);
    expect(counter.total).toBe(counter.counts.reduce((a, b) => a + b, 0));
    expect(counter.total).toBeGreaterThanOrEqual(60_000);
    expect(counter.total).toBeLessThanOrEqual(61_000);
  });
});

describeMcpSessionStoreContract("memory", async () => {
  let now = 1_700_000_000_000;
  const clock = () => now;
  const store = new MemoryMcpSessionStore({ now: clock });
  return {
    store,
    limiter: new MemoryRateLimiter({ now: clock, sessions: store }),
    ttlMs: 1_000,
    advance: async (ms) => {
      now += ms;
    },
  };
});

describe("MemoryMcpSessionStore specifics", () => {
  it("forgets expired sessions", async () => {
    let now = 0;
    const store = new MemoryMcpSessionStore({ now: () => now, sweepEvery: 10 });
    for (let i = 0; i < 20; i++) await store.bind({ session_id: `s${i}`, partition: "user:a", binding_id: "t", ttl_ms: 100 });
    now += 100;
    for (let i = 0; i < 10; i++) await store.check({ session_id: "live", partition: "user:a", binding_id: "t", ttl_ms: 100 });
    expect(store.size).toBe(0);
  });

  it("a limiter without a session store refuses to check one", async () => {
    await expect(new MemoryRateLimiter().hit("k:{p}", 1, 1000, { session: { session_id: "s", partition: "p", binding_id: "t", ttl_ms: 1 } })).rejects.toThrow(TypeError);
  });
});
