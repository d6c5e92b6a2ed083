import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SUB_WINDOWS } from "../../src/stores/rate-window.js";
import type { RateLimiter } from "../../src/stores/types.js";
import { expectValidationError, type Fixture } from "../support/fixtures.js";

export interface RateLimiterFixture extends Fixture<RateLimiter> {
  /** Lets `ms` milliseconds pass: a fake clock for memory, a real sleep for Redis. */
  advance(ms: number): Promise<void>;
}

/** A counted hit leaves the count at most one sub-window after it left the window (rate-window.ts). */
const slack = (windowMs: number): number => Math.ceil(windowMs / SUB_WINDOWS);

export function describeRateLimiterContract(name: string, factory: () => Promise<RateLimiterFixture>): void {
  describe(`RateLimiter contract: ${name}`, () => {
    let fx: RateLimiterFixture;
    let limiter: RateLimiter;
    beforeEach(async () => {
      fx = await factory();
      limiter = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup?.();
    });

    it("admits exactly L of L+k sequential hits", async () => {
      const results = [];
      for (let i = 0; i < 8; i++) results.push(await limiter.hit("user:alice", 5, 60_000));
      expect(results.map((r) => r.allowed)).toEqual([true, true, true, true, true, false, false, false]);
      expect(results.map((r) => r.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0, 0]);
      for (const r of results) {
        expect(r.limit).toBe(5);
        expect(r.reset_ms).toBeGreaterThan(0);
        expect(r.reset_ms).toBeLessThanOrEqual(60_000 + slack(60_000));
      }
    });

    it("200 parallel hits against limit 20 admit exactly 20", async () => {
      const results = await Promise.all(Array.from({ length: 200 }, () => limiter.hit("burst", 20, 60_000)));
      expect(results.filter((r) => r.allowed)).toHaveLength(20);
      expect(results.filter((r) => !r.allowed).every((r) => r.remaining === 0)).toBe(true);
      expect((await limiter.hit("burst", 20, 60_000, { consume: false })).remaining).toBe(0);
    });

    it("consume=false peeks without counting", async () => {
      const fresh = await limiter.hit("peek", 3, 60_000, { consume: false });
      expect(fresh).toEqual({ allowed: true, limit: 3, remaining: 3, reset_ms: 0 });
      for (let i = 0; i < 10; i++) expect((await limiter.hit("peek", 3, 60_000, { consume: false })).remaining).toBe(3);
      expect((await limiter.hit("peek", 3, 60_000)).remaining).toBe(2);
      expect((await limiter.hit("peek", 3, 60_000, { consume: false })).remaining).toBe(2);
      expect((await limiter.hit("peek", 3, 60_000, { consume: true })).remaining).toBe(1);
      expect((await limiter.hit("peek", 3, 60_000)).remaining).toBe(0);
      const full = await limiter.hit("peek", 3, 60_000, { consume: false });
      expect(full.allowed).toBe(false);
      expect(full.remaining).toBe(0);
      expect(full.reset_ms).toBeGreaterThan(0);
    });

    it("keeps keys independent", async () => {
      for (let i = 0; i < 2; i++) await limiter.hit("a", 2, 60_000);
      expect((await limiter.hit("a", 2, 60_000)).allowed).toBe(false);
      expect(await limiter.hit("b", 2, 60_000)).toMatchObject({ allowed: true, remaining: 1 });
      expect(await limiter.hit("a:b", 2, 60_000)).toMatchObject({ allowed: true, remaining: 1 });
      expect(await limiter.hit("A", 2, 60_000)).toMatchObject({ allowed: true, remaining: 1 });
    });

    // Redis keeps real time: each step leaves W/4 or more for a slow machine between hits.
    it("slides: hits leave the window one by one, not all at once", async () => {
      const W = 2_000;
      expect((await limiter.hit("slide", 3, W)).allowed).toBe(true); // t=0
      expect((await limiter.hit("slide", 3, W)).allowed).toBe(true); // t=0
      await fx.advance(W / 2);
      expect(await limiter.hit("slide", 3, W)).toMatchObject({ allowed: true, remaining: 0 }); // t=W/2
      const denied = await limiter.hit("slide", 3, W);
      expect(denied.allowed).toBe(false);
      expect(denied.reset_ms).toBeGreaterThan(0);
      expect(denied.reset_ms).toBeLessThanOrEqual(W / 2 + slack(W)); // the t=0 sub-window leaves at W + W/S
      await fx.advance((3 * W) / 4); // t=5W/4: the two t=0 hits are out (by W + W/S), the t=W/2 hit is still in
      expect(await limiter.hit("slide", 3, W, { consume: false })).toMatchObject({ allowed: true, remaining: 2 });
      expect(await limiter.hit("slide", 3, W)).toMatchObject({ allowed: true, remaining: 1 });
      expect(await limiter.hit("slide", 3, W)).toMatchObject({ allowed: true, remaining: 0 });
      expect((await limiter.hit("slide", 3, W)).allowed).toBe(false);
    });

    it("does not count denied hits", async () => {
      const W = 2_000; // the denied hits all fall inside it, even on a slow machine
      for (let i = 0; i < 2; i++) await limiter.hit("deny", 2, W);
      for (let i = 0; i < 20; i++) expect((await limiter.hit("deny", 2, W)).allowed).toBe(false);
      await fx.advance(W + 60);
      expect(await limiter.hit("deny", 2, W)).toMatchObject({ allowed: true, remaining: 1 });
      expect(await limiter.hit("deny", 2, W)).toMatchObject({ allowed: true, remaining: 0 });
    });

    it("counts each window separately for the same key", async () => {
      for (let i = 0; i < 2; i++) await limiter.hit("w", 2, 60_000);
      expect((await limiter.hit("w", 2, 60_000)).allowed).toBe(false);
      expect(await limiter.hit("w", 2, 30_000)).toMatchObject({ allowed: true, remaining: 1 });
    });

    it("limit 0 admits nothing", async () => {
      expect(await limiter.hit("zero", 0, 1_000)).toEqual({ allowed: false, limit: 0, remaining: 0, reset_ms: 0 });
    });

    it("validates its arguments", async () => {
      await expectValidationError(limiter.hit("", 1, 1_000), "key");
      await expectValidationError(limiter.hit(5 as never, 1, 1_000), "key");
      await expectValidationError(limiter.hit("k", -1, 1_000), "limit");
      await expectValidationError(limiter.hit("k", 1.5, 1_000), "limit");
      await expectValidationError(limiter.hit("k", Number.NaN, 1_000), "limit");
      await expectValidationError(limiter.hit("k", 1, 0), "windowMs");
      await expectValidationError(limiter.hit("k", 1, Number.POSITIVE_INFINITY), "windowMs");
      await expectValidationError(limiter.hit("k", 1, 1_000, { consume: "no" as never }), "options.consume");
      await expectValidationError(limiter.hit("k", 1, 1_000, { burst: 2 } as never), "options.burst");
    });
  });
}
