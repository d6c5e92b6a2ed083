import { describe, expect, it } from "vitest";
import { MemoryDirectoryStore } from "../../src/stores/memory/directory-store.js";
import { MemoryRateLimiter } from "../../src/stores/memory/rate-limiter.js";
import { MemoryTempTokenStore } from "../../src/stores/memory/temp-token-store.js";
import { MemoryTokenStore } from "../../src/stores/memory/token-store.js";
import { describeDirectoryStoreContract } from "./directory-store.contract.js";
import { describeRateLimiterContract } from "./rate-limiter.contract.js";
import { describeTempTokenStoreContract } from "./temp-token-store.contract.js";
import { describeTokenStoreContract } from "./token-store.contract.js";

describeTokenStoreContract("memory", async () => ({ store: new MemoryTokenStore() }));
describeDirectoryStoreContract("memory", async () => ({ store: new MemoryDirectoryStore() }));
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
    now += 101;
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
